//! Finding the family's resources in AWS: the cluster (DescribeClusters),
//! the service (DescribeServices), the task definition's revisions
//! (ListTaskDefinitions) and the service's scalable target
//! (DescribeScalableTargets). The batched describes go through the shared
//! inventory, once per run.

use super::{cluster_name, scaling_dimension, scaling_resource_id, service_name};
use crate::aws::AwsResultExt;
use crate::steps::{Ctx, StepResult};
use aws_sdk_applicationautoscaling::types::{ScalableTarget, ServiceNamespace};
use aws_sdk_ecs::types::{Cluster, ClusterField, Service as EcsService, ServiceField, SortOrder, TaskDefinitionStatus};
use std::sync::Arc;

pub(super) async fn clusters(cx: &Ctx) -> StepResult<Arc<Vec<Cluster>>> {
    cx.inventory
        .get("ecs:clusters", || async {
            let out = cx
                .aws
                .ecs
                .describe_clusters()
                .clusters(cluster_name(cx))
                .include(ClusterField::Settings)
                .include(ClusterField::Tags)
                .send()
                .await
                .aws("DescribeClusters")?;
            Ok(out
                .clusters()
                .iter()
                .filter(|c| c.status() == Some("ACTIVE"))
                .cloned()
                .collect())
        })
        .await
}

/// The stack's service as AWS sees it (ACTIVE only).
pub async fn services(cx: &Ctx) -> StepResult<Arc<Vec<EcsService>>> {
    cx.inventory
        .get("ecs:services", || async {
            let r = cx
                .aws
                .ecs
                .describe_services()
                .cluster(cluster_name(cx))
                .services(service_name(cx))
                .include(ServiceField::Tags)
                .send()
                .await
                .aws("DescribeServices");
            match r {
                Ok(out) => Ok(out
                    .services()
                    .iter()
                    .filter(|s| s.status() == Some("ACTIVE"))
                    .cloned()
                    .collect()),
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .await
}

/// The service as it is now (not the inventory's snapshot): what a rollout
/// polls.
pub async fn describe_service(cx: &Ctx) -> StepResult<Option<EcsService>> {
    let out = cx
        .aws
        .ecs
        .describe_services()
        .cluster(cluster_name(cx))
        .services(service_name(cx))
        .send()
        .await
        .aws("DescribeServices")?;
    Ok(out.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned())
}

/// The newest ACTIVE revision ARN of the family. `familyPrefix` also
/// matches longer family names (`task-api-dev1` matches `task-api-dev12`),
/// so the ARNs are filtered to this family; and the newest is taken by
/// revision number rather than by position (the first page, newest first
/// with `sort=DESC`, holds it on AWS; emulators may ignore the order).
pub(super) async fn latest_revision(cx: &Ctx, family: &str) -> StepResult<Option<String>> {
    let out = cx
        .aws
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .send()
        .await
        .aws("ListTaskDefinitions")?;
    Ok(newest_of(out.task_definition_arns(), family))
}

/// The ARN with the highest revision number among those of `family`.
pub(super) fn newest_of(arns: &[String], family: &str) -> Option<String> {
    arns.iter()
        .filter_map(|a| {
            let (f, rev) = a.rsplit_once('/')?.1.rsplit_once(':')?;
            (f == family).then(|| rev.parse::<u32>().ok().map(|n| (n, a)))?
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, a)| a.clone())
}

/// Every revision ARN of the family with the given status.
pub(super) async fn revisions(cx: &Ctx, family: &str, status: TaskDefinitionStatus) -> StepResult<Vec<String>> {
    cx.aws
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(status)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .aws("ListTaskDefinitions")
}

/// The service's scalable target, when auto scaling manages its count. The
/// service's drift check reads it (a count inside auto scaling's bounds is
/// not drift); the scaling family's steps find their target through this
/// same inventory entry.
pub async fn scalable_targets(cx: &Ctx) -> StepResult<Arc<Vec<ScalableTarget>>> {
    cx.inventory
        .get("aas:targets", || async {
            let out = cx
                .aws
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_ids(scaling_resource_id(cx))
                .scalable_dimension(scaling_dimension())
                .send()
                .await
                .aws("DescribeScalableTargets")?;
            Ok(out.scalable_targets().to_vec())
        })
        .await
}

/// The min and max task count while auto scaling manages the service.
pub async fn scaling_bounds(cx: &Ctx) -> StepResult<Option<(i32, i32)>> {
    Ok(scalable_targets(cx)
        .await?
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity())))
}

#[cfg(test)]
mod tests {
    use super::newest_of;

    #[test]
    fn the_newest_revision_is_the_highest_number_of_this_family_only() {
        let arn = |f: &str, n: u32| format!("arn:aws:ecs:ap-southeast-2:123456789012:task-definition/{f}:{n}");
        let arns = vec![
            arn("task-api-dev1", 1),
            arn("task-api-dev1", 10),
            arn("task-api-dev12", 40),
            arn("task-api-dev1", 9),
        ];
        assert_eq!(newest_of(&arns, "task-api-dev1"), Some(arn("task-api-dev1", 10)));
        assert_eq!(newest_of(&arns, "task-api-dev2"), None);
    }
}
