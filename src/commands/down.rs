//! `provision down`: list what would be deleted, or (with `--yes`) delete it in reverse dependency order.

use super::stack::{self, Access};
use crate::cli::{Cli, DownArgs};
use crate::ops::{Error, StepStatus};
use std::io::Write;

pub async fn run(cli: &Cli, a: &DownArgs, max_attempts: u32) -> Result<(), Error> {
    let parallelism = a.run.validate()?;
    let rep = super::reporter(a.run.json, cli.quiet);
    if !a.yes {
        let opened = stack::open(cli, &a.stack, Access::Down { delete: false }, max_attempts, rep).await?;
        let engine = opened.engine.clone();
        let rows = engine.survey(parallelism, false).await?;
        let present: Vec<&StepStatus> = rows.iter().filter(|r| r.state == "present").collect();
        let mut out = std::io::stdout().lock();
        for r in present.iter().rev() {
            let _ = writeln!(
                out,
                "would delete {:<22} {:<18} {}",
                r.step,
                r.kind,
                r.id.as_deref().unwrap_or("")
            );
        }
        for r in rows.iter().filter(|r| r.state == "error") {
            let _ = writeln!(out, "could not check {}: {}", r.step, r.error.as_deref().unwrap_or(""));
        }
        return Err(Error::NotConfirmed { count: present.len() });
    }
    let opened = stack::open(cli, &a.stack, Access::Down { delete: true }, max_attempts, rep).await?;
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
