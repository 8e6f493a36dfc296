//! The alarm topic, alarms and the dashboard (compute layer).

use super::{Ctx, StepRef};
use crate::cli::Settings;
use std::collections::BTreeMap;

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    Vec::new()
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(_cx: &Ctx, _out: &mut BTreeMap<String, String>) {}
