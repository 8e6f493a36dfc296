//! IAM roles with least-privilege inline policies. Roles live under the
//! path `/provision/{suffix}/`, so one `ListRoles` call finds them all.

mod policies;
mod role;

pub use policies::{
    exec_policy, no_inline_policy, task_policy, APP_DB_USER, EXEC_ACTIONS, IDEMPOTENCY_ACTIONS, XRAY_ACTIONS,
};
pub use role::{role_path, trust_policy, PolicyFn, Role};

use super::{ids, StepRef};
use crate::config::Settings;
use std::sync::Arc;

/// The name of the inline policy every role carries.
pub const POLICY_NAME: &str = "least-privilege";

/// The roles of the app layer: the task execution role (pull the image,
/// write the container logs, read the two database secrets), the task role
/// (what the app itself may call: trace writes, and ECS Exec when enabled)
/// and the ECS infrastructure role (blue/green traffic shifting on the
/// load balancer).
///
/// Steps that hand a brand-new role to another service (task definitions,
/// services) must retry while it propagates:
/// `wait::retry_while(ErrorClass::NotYetPropagated, Backoff::IAM, ..)`.
pub fn steps(settings: &Settings) -> Vec<StepRef> {
    let mut roles = roles();
    // The task role may use the stack's own key for the idempotency table.
    if settings.kms_key_arn.is_none() {
        for r in roles.iter_mut().filter(|r| r.id == ids::ROLE_TASK) {
            r.deps.push(ids::KMS_ALARMS);
        }
    }
    roles.into_iter().map(|r| Arc::new(r) as StepRef).collect()
}

/// The app layer's roles, in declaration order.
fn roles() -> Vec<Role> {
    vec![
        Role {
            id: ids::ROLE_EXEC,
            purpose: "exec",
            service: "ecs-tasks.amazonaws.com",
            deps: vec![
                ids::ECR_REPO,
                ids::LOG_APP,
                ids::LOG_OTEL,
                ids::SECRET_DB_CONNECTION,
                ids::SECRET_DB_CREDENTIALS,
            ],
            managed: vec![],
            policy: exec_policy,
        },
        Role {
            id: ids::ROLE_TASK,
            purpose: "task",
            service: "ecs-tasks.amazonaws.com",
            // Its policy names the credentials secret, the cluster's
            // resource id (for rds-db:connect) and the idempotency table.
            deps: vec![ids::DB_CLUSTER, ids::SECRET_DB_CREDENTIALS, ids::DDB_IDEMPOTENCY],
            managed: vec![],
            policy: task_policy,
        },
        Role {
            id: ids::ROLE_ECS_INFRA,
            purpose: "ecsinfra",
            service: "ecs.amazonaws.com",
            deps: vec![],
            // At the root path (not service-role/); scoped by AWS to the
            // load balancer calls blue/green deployments make.
            managed: vec!["AmazonECSInfrastructureRolePolicyForLoadBalancers"],
            policy: no_inline_policy,
        },
    ]
}
