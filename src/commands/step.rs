//! `provision step NAME`: run (or undo) one step, after checking its dependencies exist.

use super::stack::{self, Access};
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
    let opened = stack::open(cli, &a.stack, Access::Change("step"), max_attempts, rep).await?;
    let engine = opened.engine.clone();
    let result = async {
        if !a.undo {
            steps::preflight(&engine.cx).await?;
        }
        engine.step(&a.name, a.undo).await
    }
    .await;
    let out = opened.close(result).await?;
    println!("{}: {} {}", a.name, out.action, out.detail);
    Ok(())
}
