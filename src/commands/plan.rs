//! `provision plan`: the ordered step graph and what `up` would create, change or keep.

use super::Setup;
use crate::cli::{Cli, PlanArgs};
use crate::ops::{self, Engine, Error, StepStatus};
use crate::report::Quiet;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli, a: &PlanArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    let Setup { engine } = super::setup(cli, settings, max_attempts, Arc::new(Quiet)).await?;
    let rows = engine.survey(8, true).await?;
    print_plan(&engine, &rows)?;
    Ok(())
}

fn print_plan(engine: &Engine, rows: &[StepStatus]) -> Result<(), Error> {
    let (graph, _) = ops::up_graph(&engine.steps)?;
    let by_id: BTreeMap<&str, &StepStatus> = rows.iter().map(|r| (r.step.as_str(), r)).collect();
    let mut out = std::io::stdout().lock();
    let (mut create, mut change, mut keep) = (0, 0, 0);
    for n in graph.order() {
        let name = graph.name(n);
        let Some(r) = by_id.get(name) else { continue };
        let deps: Vec<&str> = graph.deps(n).iter().map(|&d| graph.name(d)).collect();
        let (mark, what) = match r.state.as_str() {
            "missing" => {
                create += 1;
                ("+", "create".to_string())
            }
            "drifted" => {
                change += 1;
                ("~", format!("change: {}", r.drift.join("; ")))
            }
            "error" => ("?", format!("cannot check: {}", r.error.as_deref().unwrap_or(""))),
            _ => {
                keep += 1;
                ("=", format!("keep {}", r.id.as_deref().unwrap_or("")))
            }
        };
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!("  (after {})", deps.join(", "))
        };
        let _ = writeln!(out, "{mark} {:<24} {:<20} {what}{after}", name, r.kind);
    }
    let _ = writeln!(out, "plan: {create} to create, {change} to change, {keep} unchanged");
    Ok(())
}
