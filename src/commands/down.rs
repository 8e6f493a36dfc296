//! `provision down`: list what would be deleted, or (with `--yes`) delete it in reverse dependency order.

use super::stack::{self, Access};
use crate::cli::{Cli, DownArgs};
use crate::estimate;
use crate::ops::{Engine, Error, StepStatus};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// What is present, and why each protected resource may not be deleted:
/// everything that would stop the teardown and can be known in advance.
async fn survey(
    engine: &Arc<Engine>,
    parallelism: usize,
) -> Result<(Vec<StepStatus>, BTreeMap<String, String>), Error> {
    let rows = engine.survey(parallelism, false).await?;
    let records = engine.records();
    let mut protected = BTreeMap::new();
    for step in &engine.steps {
        let Some(rec) = records.get(step.id()) else { continue };
        if let Some(why) = step.protection(&engine.cx, rec).await? {
            protected.insert(step.id().to_owned(), why);
        }
    }
    Ok((rows, protected))
}

/// `down` refused before its first delete.
fn refused(suffix: &str, protected: &BTreeMap<String, String>) -> Error {
    let list: Vec<String> = protected.iter().map(|(step, why)| format!("  {step}: {why}")).collect();
    Error::Usage(format!(
        "down refused: the stack is protected, and nothing was deleted:\n{}\n  hint: to really delete it, run \
         `provision up --suffix {suffix} --no-protect-data --yes` (turns deletion protection off), then \
         `provision down --suffix {suffix} --protect-data --yes` to keep a final snapshot of the database",
        list.join("\n")
    ))
}

pub async fn run(cli: &Cli, a: &DownArgs, max_attempts: u32) -> Result<(), Error> {
    let parallelism = a.run.validate()?;
    let rep = super::reporter(a.run.json, cli.quiet);
    if !a.yes {
        let opened = stack::open(cli, &a.stack, Access::Down { delete: false }, max_attempts, rep).await?;
        let engine = opened.engine.clone();
        let (rows, protected) = survey(&engine, parallelism).await?;
        let present: Vec<&StepStatus> = rows.iter().filter(|r| r.state == "present").collect();
        let mut out = std::io::stdout().lock();
        for r in present.iter().rev() {
            let _ = writeln!(
                out,
                "would delete {:<22} {:<18} {}{}",
                r.step,
                r.kind,
                r.id.as_deref().unwrap_or(""),
                protected
                    .get(&r.step)
                    .map(|why| format!("  PROTECTED: {why}"))
                    .unwrap_or_default()
            );
        }
        if !protected.is_empty() {
            return Err(refused(engine.cx.suffix().as_str(), &protected));
        }
        for r in rows.iter().filter(|r| r.state == "error") {
            let _ = writeln!(out, "could not check {}: {}", r.step, r.error.as_deref().unwrap_or(""));
        }
        opened.learn().await;
        let learned = engine.learned.lock().unwrap().clone();
        let is_present = |id: &str| present.iter().any(|r| r.step == id);
        let _ = writeln!(
            out,
            "{}",
            estimate::down(&engine.steps, is_present, &learned, parallelism).summary()
        );
        return Err(Error::NotConfirmed { count: present.len() });
    }
    let opened = stack::open(cli, &a.stack, Access::Down { delete: true }, max_attempts, rep).await?;
    let engine = opened.engine.clone();
    let protected = match survey(&engine, parallelism).await {
        Ok((_, p)) => p,
        Err(e) => return opened.close(Err(e)).await,
    };
    if !protected.is_empty() {
        let e = refused(engine.cx.suffix().as_str(), &protected);
        return opened.close(Err(e)).await;
    }
    opened.learn().await;
    let result = opened.engine.down(parallelism).await;
    let summary = opened.close_deleted(result).await?;
    if !cli.quiet && !a.run.json {
        eprintln!(
            "down: {} deleted, {} already absent in {:.1}s",
            summary.count("deleted"),
            summary.count("absent"),
            summary.elapsed.as_secs_f64()
        );
    }
    Ok(())
}
