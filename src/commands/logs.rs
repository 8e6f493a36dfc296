//! `provision logs`: the stack's log events from CloudWatch Logs
//! (`FilterLogEvents`, every page), oldest first, one a line
//! (`TIME STREAM MESSAGE`, the API's JSON lines made readable) or one JSON
//! object a line; `--follow` keeps polling until Ctrl-C.

use super::log_events::{self, Tail};
use super::stack::{self, Access};
use crate::cli::{Cli, LogsArgs};
use crate::naming::Suffix;
use crate::ops::Error;
use crate::report::Quiet;
use crate::steps::{logs, network};
use std::sync::Arc;

/// The log group behind `--container`.
pub fn group_for(container: &str, suffix: &Suffix) -> Result<String, Error> {
    let s = suffix.as_str();
    Ok(match container {
        "app" => logs::group_name(s, "app"),
        "otel" | "otel-collector" => logs::group_name(s, "otel-collector"),
        "db" => logs::db_group_name(&crate::naming::name("aurora", "catalog", suffix)),
        "flow" => network::flow_log_group_name(s),
        "edge" => logs::group_name(s, "edge"),
        other => {
            return Err(Error::Usage(format!(
                "invalid --container {other:?}: no such log\n  hint: use app, otel (the collector sidecar), db (Aurora PostgreSQL), flow (VPC flow logs) or edge (CloudFront's access logs, kept in us-east-1)"
            )))
        }
    })
}

pub async fn run(cli: &Cli, a: &LogsArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    let group = group_for(&a.container, &settings.suffix)?;
    let start = log_events::parse_since(&a.since, log_events::now_ms())?;
    if a.filter.as_deref().is_some_and(|f| f.trim().is_empty()) {
        return Err(Error::Usage(
            "invalid --filter \"\": empty\n  hint: leave --filter out to see every event".into(),
        ));
    }
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let engine = opened.engine.clone();
    let cx = &engine.cx;
    let mut tail = Tail::new(&group, start);
    tail.filter = a.filter.clone();
    // CloudFront delivers its access logs to a group in us-east-1.
    let client = if a.container == "edge" {
        &cx.aws.logs_edge
    } else {
        &cx.aws.logs
    };
    let events = tail.fetch(client, false).await.map_err(|e| {
        if e.code_is("ResourceNotFoundException") {
            Error::Failed(format!(
                "the log group {group} does not exist\n  hint: `provision up --suffix {s}` creates the stack's log groups (the db group once Aurora exports its log)",
                s = cx.suffix()
            ))
        } else {
            Error::from(e)
        }
    })?;
    let mut out = std::io::stdout().lock();
    log_events::print(&mut out, &events, a.json);
    if !a.follow {
        if events.is_empty() && !cli.quiet {
            eprintln!("no events in {group} since {}", log_events::fmt_millis(start));
        }
        return Ok(());
    }
    if !cli.quiet {
        eprintln!("following {group} (Ctrl-C to stop)");
    }
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    log_events::follow(client, &mut tail, &mut out, a.json, stop).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_container_has_the_stacks_log_group() {
        let s = Suffix::parse("dev1").unwrap();
        assert_eq!(group_for("app", &s).unwrap(), "/provision/dev1/app");
        assert_eq!(group_for("otel", &s).unwrap(), "/provision/dev1/otel-collector");
        assert_eq!(
            group_for("db", &s).unwrap(),
            "/aws/rds/cluster/aurora-catalog-dev1/postgresql"
        );
        assert_eq!(group_for("flow", &s).unwrap(), "/provision/dev1/vpc-flow-logs");
        assert_eq!(group_for("edge", &s).unwrap(), "/provision/dev1/edge");
        let e = group_for("web", &s).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("hint: use app, otel"), "{e}");
    }
}
