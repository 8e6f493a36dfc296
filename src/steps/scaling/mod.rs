//! Auto scaling of the service's task count: a scalable target (2 to 10
//! tasks) and a target-tracking policy on the service's average CPU.
//!
//! This family builds on the ecs family's names (the service's resource id
//! and dimension, and the finder of its scalable target); the ecs family
//! never uses this one.

mod discovery;
mod policy;
mod target;

pub use crate::steps::ecs::scaling_bounds as bounds;
pub use policy::{cpu_tracking, CpuPolicy};
pub use target::{min_tasks, raise_floor, Target};

use crate::aws::AwsError;
use crate::config::Settings;
use crate::steps::{ids, Ctx, StepRef};
use aws_sdk_applicationautoscaling::types::ScalableDimension;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const MIN_TASKS: i32 = 2;
pub const MAX_TASKS: i32 = 10;
pub const CPU_TARGET: f64 = 70.0;
pub const COOLDOWN: i32 = 60;

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    vec![Arc::new(Target), Arc::new(CpuPolicy)]
}

/// `service/{cluster}/{service}`.
pub fn resource_id(cx: &Ctx) -> String {
    crate::steps::ecs::scaling_resource_id(cx)
}

pub fn policy_name(cx: &Ctx) -> String {
    cx.name("scaling", "cpu")
}

fn dimension() -> ScalableDimension {
    crate::steps::ecs::scaling_dimension()
}

/// Application Auto Scaling says "ValidationException" for a target or
/// policy that does not exist in some cases (and ObjectNotFound in others).
fn gone(e: &AwsError) -> bool {
    e.is_not_found() || e.code_is("ValidationException") && e.message.to_ascii_lowercase().contains("not")
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(_cx: &Ctx, _out: &mut BTreeMap<String, String>) {}

/// The scaling bounds, for `status`.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, serde_json::Value>) {
    if let Ok(r) = cx.rec(ids::SCALING_TARGET) {
        out.insert(
            "autoscaling".into(),
            serde_json::json!({"min": r.attr("min"), "max": r.attr("max"), "cpu_target": CPU_TARGET}),
        );
    }
}
