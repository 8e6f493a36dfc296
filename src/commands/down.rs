//! `provision down`: list what would be deleted, or (with `--yes`) delete it in reverse dependency order.

use super::Setup;
use crate::cli::{Cli, DownArgs};
use crate::ops::{Error, StepStatus};
use std::io::Write;

pub async fn run(cli: &Cli, a: &DownArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    let parallelism = a.run.validate()?;
    let rep = super::reporter(a.run.json, cli.quiet);
    let Setup { engine } = super::setup(cli, settings, max_attempts, rep).await?;
    if !a.yes {
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
    let summary = engine.down(parallelism).await?;
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
