//! `provision up`: create what is missing, repair drift, write the outputs.

use super::Setup;
use crate::cli::{Cli, UpArgs};
use crate::ops::Error;
use crate::steps;
use std::collections::BTreeMap;
use std::path::Path;

pub async fn run(cli: &Cli, a: &UpArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    let parallelism = a.run.validate()?;
    let rep = super::reporter(a.run.json, cli.quiet);
    let Setup { engine } = super::setup(cli, settings, max_attempts, rep).await?;
    steps::preflight(&engine.cx).await?;
    let summary = engine.up(parallelism).await?;
    let outputs = steps::outputs(&engine.cx);
    write_outputs(&a.outputs, &outputs)?;
    if a.run.json {
        println!("{}", serde_json::json!({"event": "done", "outputs": outputs}));
    } else {
        if !cli.quiet {
            eprintln!(
                "up: {} created, {} repaired, {} unchanged in {:.1}s; outputs written to {}",
                summary.count("created"),
                summary.count("repaired"),
                summary.count("found"),
                summary.elapsed.as_secs_f64(),
                a.outputs.display()
            );
        }
        println!("{}", serde_json::to_string_pretty(&outputs).expect("json"));
    }
    Ok(())
}

fn write_outputs(path: &Path, outputs: &BTreeMap<String, String>) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Failed(format!("cannot write outputs to {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(outputs).expect("json")).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
