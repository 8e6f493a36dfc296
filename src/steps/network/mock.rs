//! Test support for the network family: a context whose EC2 client
//! answers from `aws_smithy_mocks` rules instead of AWS.

use crate::state::Record;
use crate::steps::Ctx;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_smithy_mocks::Rule;

/// A context whose EC2 client answers from `rules` (any matching rule, in
/// any order; the SDK's own retries off, so each rule call is one attempt
/// of ours), with `records` standing in for finished dependencies.
pub(super) fn ec2_ctx(rules: &[&Rule], records: &[(&str, Record)]) -> Ctx {
    let mut clients = crate::testing::offline_clients();
    clients.ec2 = crate::testing::mocked_client!(aws_sdk_ec2, rules, |conf| conf
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
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
