//! The API's own short-lived store: the DynamoDB table that keeps the
//! `Idempotency-Key`s of its writes (and the answers to replay) for 24
//! hours, found by name and confirmed by its tags.

mod idempotency_table;

pub use idempotency_table::{table_name, IdempotencyTable, PARTITION_KEY, TTL_ATTRIBUTE};

use super::{ids, Ctx, StepRef};
use crate::config::Settings;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    vec![Arc::new(IdempotencyTable {
        stack_key: settings.kms_key_arn.is_none(),
    })]
}

pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(rec) = cx.rec(ids::DDB_IDEMPOTENCY) {
        out.insert("IdempotencyTableName".into(), rec.id);
    }
}
