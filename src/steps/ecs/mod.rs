//! Compute: the ECS cluster (Fargate and Fargate Spot, Container Insights),
//! the task definition (the app and an ADOT collector sidecar), and the
//! service, deployed with ECS native blue/green behind the load balancer's
//! production rule. Also what `provision deploy` uses to roll a revision
//! out ([`start`], [`progress`]), and the service's `status`.
//!
//! - `discovery`: the describes every step of the family finds through.
//! - `cluster`, `task_definition` (with `task_inputs`, what it should be,
//!   and `task_fingerprint`, its drift comparison), `service`: one
//!   resource each.
//! - `rollout`: starting and judging a deployment of the service.

mod cluster;
mod deployment;
mod discovery;
mod rollout;
mod service;
mod task_definition;
mod task_fingerprint;
mod task_inputs;

pub use cluster::Cluster;
pub use deployment::{deployment_alarms, deployment_configuration, deployment_drift, DEPLOYMENT_ALARMS};
pub use discovery::{describe_service, scalable_targets, scaling_bounds, services};
pub use rollout::{judge, judge_service_deployment, progress, start, Rollout};
pub use service::{capacity_strategy, Service};
pub use task_definition::{describe_task_definition, register, TaskDef};
pub use task_fingerprint::{described_fingerprint, fingerprint, fingerprint_diff};
pub use task_inputs::{otel_config, TaskInputs, OTEL_CONFIG_ENV, OTEL_CONFIG_YAML};

use super::{ids, Ctx, StepRef};
use crate::config::Settings;
use aws_sdk_applicationautoscaling::types::ScalableDimension;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const APP_CONTAINER: &str = "app";
pub const OTEL_CONTAINER: &str = "otel-collector";
/// Pinned ADOT collector; it runs [`OTEL_CONFIG_YAML`], given in
/// [`OTEL_CONFIG_ENV`], instead of its bundled configuration.
pub const OTEL_IMAGE: &str = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3";
pub const DESIRED_COUNT: i32 = 2;
/// The tag a new stack runs until an image is deployed: the only one the
/// task definition may name before it is in the registry (the service then
/// runs no task; see [`image_present`]).
pub const DEFAULT_TAG: &str = "latest";

/// Whether the image the task definition runs can be pulled: false only
/// for the stack's own repository without that tag (a fresh account). The
/// service then runs 0 tasks and auto scaling's floor is 0, so nothing
/// tries to pull an image that is not there (on AWS: CannotPullContainerError,
/// the circuit breaker, a failed first deployment).
pub fn image_present(cx: &Ctx) -> bool {
    cx.rec(ids::TASK_DEF)
        .map(|r| r.attr("image_present") != Some("false"))
        .unwrap_or(true)
}
/// CreateService `healthCheckGracePeriodSeconds` (ECS API Reference: up to
/// 2,147,483,647 seconds; used with a load balancer, which the service has).
pub const HEALTH_GRACE_SECONDS: i32 = 60;
/// The app container's `stopTimeout`: Fargate's maximum (ECS API Reference,
/// ContainerDefinition, stopTimeout: "For tasks using the Fargate launch
/// type, the max stop timeout value is 120 seconds"), so gunicorn can drain.
pub const STOP_TIMEOUT: i32 = 120;

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    vec![
        Arc::new(Cluster),
        Arc::new(TaskDef {
            own_image: settings.image.is_none(),
        }),
        Arc::new(Service),
    ]
}

pub fn cluster_name(cx: &Ctx) -> String {
    cx.name("ecs", "api")
}

pub fn service_name(cx: &Ctx) -> String {
    cx.name("svc", "api")
}

pub fn family(cx: &Ctx) -> String {
    cx.name("task", "api")
}

/// The service as Application Auto Scaling names it:
/// `service/{cluster}/{service}`.
pub fn scaling_resource_id(cx: &Ctx) -> String {
    format!("service/{}/{}", cluster_name(cx), service_name(cx))
}

/// The service's dimension that auto scaling scales: its desired count.
pub fn scaling_dimension() -> ScalableDimension {
    ScalableDimension::EcsServiceDesiredCount
}

// ---------------------------------------------------------------- outputs and status

pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(c) = cx.id_of(ids::ECS_CLUSTER) {
        out.insert("ECSClusterName".into(), c);
    }
    if let Ok(s) = cx.id_of(ids::ECS_SERVICE) {
        out.insert("ECSServiceName".into(), s);
    }
}

/// Desired/running/pending tasks, the active deployment and the image the
/// service runs (the app container of its task definition).
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, Value>) {
    if !cx.has(ids::ECS_SERVICE) {
        return;
    }
    // The service as discovered moments ago by this same run.
    let v = match services(cx).await.map(|v| v.first().cloned()) {
        Ok(Some(s)) => {
            let primary = s.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
            let image = match s.task_definition() {
                Some(td) => describe_task_definition(cx, td).await.ok().and_then(|t| {
                    t.container_definitions()
                        .iter()
                        .find(|c| c.name() == Some(APP_CONTAINER))
                        .and_then(|c| c.image().map(str::to_owned))
                }),
                None => None,
            };
            json!({
                "service": s.service_name(),
                "desired": s.desired_count(),
                "running": s.running_count(),
                "pending": s.pending_count(),
                "task_definition": s.task_definition(),
                "image": image,
                "deployment": primary.and_then(|d| d.id()),
                "rollout_state": primary.and_then(|d| d.rollout_state()).map(|r| r.as_str()),
                "service_deployment": s.current_service_deployment(),
                "deployments": s.deployments().len(),
            })
        }
        Ok(None) => json!({"error": "service not active"}),
        Err(e) => json!({"error": e.to_string()}),
    };
    out.insert("ecs_service".into(), v);
}
