//! `provision status`: present, missing or drifted per step, with details;
//! exit 0 when converged, [`crate::ops::DRIFT_EXIT`] when something is missing
//! or drifted, 1 when a step could not be checked.

use super::stack::{self, Access};
use crate::cli::{Cli, StatusArgs};
use crate::ops::{Error, StepStatus};
use crate::report::Quiet;
use crate::steps;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli, a: &StatusArgs, max_attempts: u32) -> Result<(), Error> {
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let engine = &opened.engine;
    let rows = engine.survey(8, true).await?;
    let missing = rows.iter().filter(|r| r.state == "missing").count();
    let drifted = rows.iter().filter(|r| r.state == "drifted").count();
    let errors = rows.iter().filter(|r| r.state == "error").count();
    let outputs = steps::outputs(&engine.cx);
    let details = steps::details(&engine.cx).await;
    if a.json {
        let doc = serde_json::json!({
            "suffix": engine.cx.suffix().as_str(),
            "region": engine.cx.region(),
            "converged": missing + drifted + errors == 0,
            "summary": {"present": rows.len() - missing - drifted - errors, "missing": missing, "drifted": drifted, "errors": errors},
            "steps": rows,
            "outputs": outputs,
            "details": details,
            "deployed": opened.record.as_ref().and_then(|r| r.deployed.as_ref()),
            "settings_changes": opened.changes,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        print_status(&rows, &details);
        if let Some(d) = opened.record.as_ref().and_then(|r| r.deployed.as_ref()) {
            println!(
                "last deployed: {} ({}) by {} at {} with `provision {}`",
                d.image,
                d.digest.as_deref().unwrap_or("digest unknown"),
                d.by,
                d.at,
                d.command
            );
        }
    }
    if errors > 0 {
        let first = rows.iter().find(|r| r.state == "error").expect("counted");
        return Err(Error::Failed(format!(
            "status could not check {errors} step(s); first: {}: {}",
            first.step,
            first.error.as_deref().unwrap_or("")
        )));
    }
    if missing + drifted > 0 {
        return Err(Error::NotConverged { missing, drifted });
    }
    Ok(())
}

fn print_status(rows: &[StepStatus], details: &BTreeMap<String, serde_json::Value>) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", super::status_human::render(rows, details));
}
