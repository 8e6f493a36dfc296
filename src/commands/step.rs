//! `provision step NAME`: run (or undo) one step, after checking its dependencies exist.

use super::Setup;
use crate::cli::{Cli, StepArgs};
use crate::ops::Error;
use crate::steps;

pub async fn run(cli: &Cli, a: &StepArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    // An unknown step is bad input: refused before any AWS call.
    let known: Vec<String> = steps::stack(&settings).iter().map(|s| s.id().to_owned()).collect();
    if !known.iter().any(|k| k == &a.name) {
        return Err(Error::UnknownStep {
            name: a.name.clone(),
            known,
        });
    }
    let rep = super::reporter(false, cli.quiet);
    let Setup { engine } = super::setup(cli, settings, max_attempts, rep).await?;
    if !a.undo {
        steps::preflight(&engine.cx).await?;
    }
    let out = engine.step(&a.name, a.undo).await?;
    println!("{}: {} {}", a.name, out.action, out.detail);
    Ok(())
}
