//! (filled in by its layer)

use super::StepRef;
use crate::cli::Settings;

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    Vec::new()
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(_cx: &super::Ctx, _out: &mut std::collections::BTreeMap<String, String>) {}

/// Adds this family's facts to `status` (counts, states, health).
pub async fn details(_cx: &super::Ctx, _out: &mut std::collections::BTreeMap<String, serde_json::Value>) {}
