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

/// A client of the SDK crate `$sdk` that answers from `$rules` (a slice of
/// `&aws_smithy_mocks::Rule`; any rule that matches, in any order; a request
/// no rule matches fails the test), with test credentials in
/// ap-southeast-2. `$configure` adjusts the configuration, e.g. to turn the
/// SDK's own retries off.
macro_rules! mocked_client {
    ($sdk:ident, $rules:expr) => {
        $crate::testing::mocked_client!($sdk, $rules, |conf| conf)
    };
    ($sdk:ident, $rules:expr, $configure:expr) => {{
        let mut interceptor =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        let conf = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("ap-southeast-2"))
            .credentials_provider($sdk::config::Credentials::new("test", "test", None, None, "test"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor);
        let configure: fn($sdk::config::Builder) -> $sdk::config::Builder = $configure;
        $sdk::Client::from_conf(configure(conf).build())
    }};
}
pub(crate) use mocked_client;

/// A context whose ECS client answers from `rules` (see [`mocked_client`]).
/// The other clients are offline, and no records are set.
pub fn mocked_ecs_ctx(rules: &[&aws_smithy_mocks::Rule]) -> Ctx {
    let mut clients = offline_clients();
    clients.ecs = mocked_client!(aws_sdk_ecs, rules);
    ctx_with(clients, settings(&[]))
}
