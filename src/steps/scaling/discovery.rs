//! Finding the family's resources in AWS, once per run through the shared
//! inventory: the scalable target (DescribeScalableTargets, the ecs
//! family's finder, which the service's drift check shares) and the scaling
//! policy (DescribeScalingPolicies).

use super::{dimension, policy_name, resource_id};
use crate::aws::AwsResultExt;
use crate::steps::{Ctx, StepResult};
use aws_sdk_applicationautoscaling::types::{ScalingPolicy, ServiceNamespace};
use std::sync::Arc;

pub(super) use crate::steps::ecs::scalable_targets as targets;

pub(super) async fn policies(cx: &Ctx) -> StepResult<Arc<Vec<ScalingPolicy>>> {
    cx.inventory
        .get("aas:policies", || async {
            let out = cx
                .aws
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(resource_id(cx))
                .scalable_dimension(dimension())
                .policy_names(policy_name(cx))
                .send()
                .await
                .aws("DescribeScalingPolicies")?;
            Ok(out.scaling_policies().to_vec())
        })
        .await
}
