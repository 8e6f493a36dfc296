//! `provision plan`: where each setting comes from and what changes, then
//! the ordered step graph and what `up` would create, change or keep, how
//! long that will take ([`crate::estimate`]) and what the stack costs each
//! month ([`crate::cost`]). Exits 0 when there is nothing to do and
//! [`crate::ops::DRIFT_EXIT`] when `up` would change something.

use super::stack::{self, Access, Stack};
use crate::cli::{Cli, PlanArgs};
use crate::config::layers::{values_of, Source};
use crate::config::StackRequest;
use crate::cost::bill::{self, Bill};
use crate::cost::cache::{self, Prices};
use crate::cost::rates::RateCard;
use crate::cost::render;
use crate::cost::usage::{self, Usage};
use crate::estimate::{self, Estimate, Work};
use crate::ops::{self, Engine, Error, StepStatus};
use crate::report::Quiet;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli, a: &PlanArgs, max_attempts: u32) -> Result<(), Error> {
    if a.parallelism == 0 {
        return Err(crate::config::flag_err("parallelism", 0, "must be at least 1", "the default is 8").into());
    }
    // Like every flag, the usage assumptions are checked before any call.
    let usage = match &a.traffic {
        Some(t) => usage::parse_traffic(t)?,
        None => Usage::default(),
    };
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let rows = opened.engine.survey(8, true).await?;
    opened.learn().await;
    let estimate = up_estimate(&opened.engine, &rows, a.parallelism);
    let cx = opened.cx();
    let prices = cache::prices(&cx.aws, cx.region(), &cli.state_dir).await;
    let now = bill::bill(&cx.settings, &usage, &prices.card);
    let cost = Cost {
        deltas: deltas(&opened, &usage, &prices.card, &now),
        bill: now,
        prices,
    };
    let (create, change) = if a.json {
        print_json(&opened, &rows, &estimate, &cost)?
    } else {
        print_settings(&opened, &cost.deltas);
        let counts = print_plan(&opened.engine, &rows)?;
        println!("{}", estimate.summary());
        print_cost(&cost);
        counts
    };
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

/// The monthly cost for the settings of this run.
struct Cost {
    prices: Prices,
    bill: Bill,
    /// Per changed setting, what it alone does to the bill.
    deltas: Vec<Option<bill::Delta>>,
}

/// What each setting change does to the bill: this run's bill (`now`)
/// against the bill with only that setting back at its recorded value.
fn deltas(opened: &Stack, usage: &Usage, card: &RateCard, now: &Bill) -> Vec<Option<bill::Delta>> {
    let request = serde_json::to_value(&opened.layered.request).expect("the request serializes");
    opened
        .changes
        .iter()
        .map(|c| {
            let mut before = request.clone();
            before[c.key.as_str()] = c.from.clone();
            let settings = serde_json::from_value::<StackRequest>(before).ok()?.validate().ok()?;
            let d = bill::difference(&bill::bill(&settings, usage, card), now);
            (d.min.abs() >= 0.005 || d.max.abs() >= 0.005).then_some(d)
        })
        .collect()
}

fn print_cost(cost: &Cost) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nprices: {}", cost.prices.origin);
    if let Some(notice) = &cost.prices.notice {
        let _ = writeln!(out, "  note: {notice}");
    }
    let _ = render::render(&cost.bill, &mut out);
}

/// What `up` would take, from what the survey found.
fn up_estimate(engine: &Engine, rows: &[StepStatus], parallelism: usize) -> Estimate {
    let by_id: BTreeMap<&str, &str> = rows.iter().map(|r| (r.step.as_str(), r.state.as_str())).collect();
    let work = |id: &str| match by_id.get(id).copied() {
        Some("missing") | None => Work::Create,
        Some("drifted") => Work::Change,
        _ => Work::Keep,
    };
    let learned = engine.learned.lock().unwrap().clone();
    estimate::up(&engine.steps, work, &learned, parallelism)
}

/// The settings that are not defaults, with their layer, then the changes
/// (with what each does to the monthly bill).
fn print_settings(opened: &Stack, deltas: &[Option<bill::Delta>]) {
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
    for (c, d) in opened.changes.iter().zip(deltas) {
        match d {
            Some(d) => {
                let _ = writeln!(out, "{c}   ({})", d.describe());
            }
            None => {
                let _ = writeln!(out, "{c}");
            }
        }
    }
    let _ = writeln!(out);
}

/// One row per step in dependency order: mark, step, kind, what `up` does.
fn plan_rows(engine: &Engine, rows: &[StepStatus]) -> Result<Vec<(char, StepRow)>, Error> {
    let (graph, _) = ops::up_graph(&engine.steps)?;
    let by_id: BTreeMap<&str, &StepStatus> = rows.iter().map(|r| (r.step.as_str(), r)).collect();
    let mut out = Vec::new();
    for n in graph.order() {
        let name = graph.name(n);
        let Some(r) = by_id.get(name) else { continue };
        let (mark, action, detail) = match r.state.as_str() {
            "missing" => ('+', "create", String::new()),
            "drifted" => ('~', "change", r.drift.join("; ")),
            "error" => ('?', "unknown", r.error.clone().unwrap_or_default()),
            _ => ('=', "keep", r.id.clone().unwrap_or_default()),
        };
        out.push((
            mark,
            StepRow {
                step: name.to_owned(),
                kind: r.kind,
                action,
                detail,
                after: graph.deps(n).iter().map(|&d| graph.name(d).to_owned()).collect(),
            },
        ));
    }
    Ok(out)
}

#[derive(serde::Serialize)]
struct StepRow {
    step: String,
    kind: &'static str,
    action: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    detail: String,
    after: Vec<String>,
}

fn counts(rows: &[(char, StepRow)]) -> (usize, usize, usize) {
    let n = |a: &str| rows.iter().filter(|(_, r)| r.action == a).count();
    (n("create"), n("change"), n("keep"))
}

fn print_plan(engine: &Engine, rows: &[StepStatus]) -> Result<(usize, usize), Error> {
    let rows = plan_rows(engine, rows)?;
    let mut out = std::io::stdout().lock();
    for (mark, r) in &rows {
        let what = match r.action {
            "create" => "create".to_owned(),
            "change" => format!("change: {}", r.detail),
            "unknown" => format!("cannot check: {}", r.detail),
            _ => format!("keep {}", r.detail),
        };
        let after = if r.after.is_empty() {
            String::new()
        } else {
            format!("  (after {})", r.after.join(", "))
        };
        let _ = writeln!(out, "{mark} {:<24} {:<20} {what}{after}", r.step, r.kind);
    }
    let (create, change, keep) = counts(&rows);
    let _ = writeln!(out, "plan: {create} to create, {change} to change, {keep} unchanged");
    Ok((create, change))
}

fn print_json(opened: &Stack, rows: &[StepStatus], estimate: &Estimate, cost: &Cost) -> Result<(usize, usize), Error> {
    let rows = plan_rows(&opened.engine, rows)?;
    let (create, change, keep) = counts(&rows);
    let doc = json!({
        "suffix": opened.cx().suffix().to_string(),
        "settings": opened.changes.iter().zip(&cost.deltas).map(|(c, d)| json!({"change": c, "monthly_usd": d})).collect::<Vec<_>>(),
        "steps": rows.iter().map(|(_, r)| r).collect::<Vec<_>>(),
        "summary": {"create": create, "change": change, "keep": keep, "settings": opened.changes.len()},
        "estimate": estimate,
        "cost": {"prices": {"origin": cost.prices.origin, "notice": cost.prices.notice}, "bill": cost.bill},
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    Ok((create, change))
}
