//! `provision outputs`: the stack's flat outputs (what `up` writes to
//! `cfn-outputs/flat-outputs.json`), found from AWS: `KEY=VALUE` lines, or
//! one JSON object with `--json`.

use super::stack::{self, Access};
use crate::cli::{Cli, OutputsArgs};
use crate::ops::Error;
use crate::report::Quiet;
use crate::steps;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// `KEY=VALUE`, one a line, sorted by key.
pub fn lines(outputs: &BTreeMap<String, String>) -> String {
    outputs.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

pub async fn run(cli: &Cli, a: &OutputsArgs, max_attempts: u32) -> Result<(), Error> {
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let engine = opened.engine.clone();
    // Finding every step records its ids; the outputs are made from those.
    let rows = engine.survey(8, false).await?;
    let outputs = steps::outputs(&engine.cx);
    let errors: Vec<_> = rows.iter().filter(|r| r.state == "error").collect();
    if outputs.is_empty() && errors.is_empty() {
        return Err(Error::Failed(format!(
            "no stack with suffix {} in {}\n  hint: `provision up --suffix {}` creates it",
            engine.cx.suffix(),
            engine.cx.region(),
            engine.cx.suffix()
        )));
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&outputs).expect("json"));
    } else {
        let _ = write!(out, "{}", lines(&outputs));
    }
    if let Some(first) = errors.first() {
        return Err(Error::Failed(format!(
            "outputs could not check {} step(s); first: {}: {}",
            errors.len(),
            first.step,
            first.error.as_deref().unwrap_or("")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn outputs_print_as_sorted_key_value_lines() {
        let o = [("VpcId", "vpc-1"), ("ALBDnsName", "a.example")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(super::lines(&o), "ALBDnsName=a.example\nVpcId=vpc-1\n");
    }
}
