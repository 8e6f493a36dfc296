//! `provision plan`: where each setting comes from and what changes, then
//! the ordered step graph and what `up` would create, change or keep.
//! Exits 0 when there is nothing to do and [`crate::ops::DRIFT_EXIT`] when
//! `up` would change something.

use super::stack::{self, Access, Stack};
use crate::cli::{Cli, PlanArgs};
use crate::config::layers::{values_of, Source};
use crate::ops::{self, Engine, Error, StepStatus};
use crate::report::Quiet;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli, a: &PlanArgs, max_attempts: u32) -> Result<(), Error> {
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let rows = opened.engine.survey(8, true).await?;
    print_settings(&opened);
    let (create, change) = print_plan(&opened.engine, &rows)?;
    let settings = opened.changes.len();
    if create + change + settings > 0 {
        let destructive = opened.destructive().len();
        return Err(Error::Pending(format!(
            "{create} to create, {change} to change, {settings} setting(s) to record{}",
            if destructive > 0 {
                format!(" ({destructive} destructive: `up` asks, or needs --yes)")
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

/// The settings that are not defaults, with their layer, then the changes.
fn print_settings(opened: &Stack) {
    let mut out = std::io::stdout().lock();
    let file = opened
        .file
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none".into());
    let recorded = if opened.record.is_some() {
        format!("s3://{}", opened.bucket.name)
    } else {
        "nothing recorded yet".into()
    };
    let _ = writeln!(
        out,
        "settings (flags > stack file [{file}] > recorded [{recorded}] > defaults):"
    );
    let values = values_of(&opened.layered.request);
    let defaults = values_of(&crate::config::StackRequest::default());
    for (k, source) in &opened.layered.sources {
        // A recorded default is no news; a flag or the file always is.
        if matches!(source, Source::Default | Source::Recorded) && values[k] == defaults[k] {
            continue;
        }
        let _ = writeln!(out, "  {k:<20} = {:<40} ({source})", stack::show(&values[k]));
    }
    for c in &opened.changes {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(out);
}

fn print_plan(engine: &Engine, rows: &[StepStatus]) -> Result<(usize, usize), Error> {
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
    Ok((create, change))
}
