//! Test support shared by the unit tests: settings from flags, and contexts
//! with no AWS (or a mocked client) behind them.

use crate::config::Settings;
use crate::steps::Ctx;
use std::sync::Arc;

/// Settings for suffix `dev1` with these extra command-line flags, parsed
/// and validated exactly as the command line does.
pub fn settings(flags: &[&str]) -> Settings {
    use clap::Parser;
    let mut argv = vec!["provision", "plan", "--suffix", "dev1"];
    argv.extend_from_slice(flags);
    let cli = crate::cli::Cli::try_parse_from(argv).expect("flags parse");
    match cli.command {
        crate::cli::Command::Plan(p) => p.stack.validate().expect("flags validate"),
        _ => unreachable!(),
    }
}

/// Clients with no endpoint behind them: any call fails.
pub fn offline_clients() -> crate::aws::Clients {
    let conf = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("ap-southeast-2"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    crate::aws::Clients::from_conf(&conf)
}

/// A context with no AWS behind it, for unit tests of documents built from
/// settings and records.
pub fn ctx(flags: &[&str]) -> Ctx {
    ctx_with(offline_clients(), settings(flags))
}

pub fn ctx_with(clients: crate::aws::Clients, settings: Settings) -> Ctx {
    Ctx::new(clients, settings, Arc::new(crate::report::Quiet))
}
