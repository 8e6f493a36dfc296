//! Test support for the network family: a context whose EC2 client
//! answers from `aws_smithy_mocks` rules instead of AWS.

use crate::state::Record;
use crate::steps::Ctx;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};

/// A context whose EC2 client answers from `rules` (any matching rule, in
/// any order; the SDK's own retries off, so each rule call is one attempt
/// of ours), with `records` standing in for finished dependencies.
pub(super) fn ec2_ctx(rules: &[&Rule], records: &[(&str, Record)]) -> Ctx {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new("ap-southeast-2"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .build();
    let mut clients = crate::testing::offline_clients();
    clients.ec2 = aws_sdk_ec2::Client::from_conf(conf);
    let cx = crate::testing::ctx_with(clients, crate::testing::settings(&[]));
    for (step, rec) in records {
        cx.set_record(step, rec.clone());
    }
    cx
}

/// The metadata of an EC2 error answer with `code`.
pub(super) fn ec2_error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("mocked {code}"))
        .build()
}
