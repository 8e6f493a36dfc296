//! The target-tracking policy on the service's average CPU:
//! PutScalingPolicy (create and repair) and DeleteScalingPolicy; found
//! through DescribeScalingPolicies.

use super::discovery::policies;
use super::{dimension, gone, policy_name, resource_id, COOLDOWN, CPU_TARGET};
use crate::aws::AwsResultExt;
use crate::state::Record;
use crate::steps::{build_err, ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};

/// The target-tracking configuration the policy must have.
pub fn cpu_tracking() -> StepResult<TargetTrackingScalingPolicyConfiguration> {
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
        .build()
        .map_err(build_err)?;
    TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(CPU_TARGET)
        .predefined_metric_specification(metric)
        .scale_in_cooldown(COOLDOWN)
        .scale_out_cooldown(COOLDOWN)
        .disable_scale_in(false)
        .build()
        .map_err(build_err)
}

fn tracking_drift(have: Option<&TargetTrackingScalingPolicyConfiguration>) -> Vec<String> {
    let Some(h) = have else {
        return vec!["not a target-tracking policy".into()];
    };
    let mut d = Vec::new();
    if (h.target_value() - CPU_TARGET).abs() > f64::EPSILON {
        d.push(format!("target {} (wants {CPU_TARGET})", h.target_value()));
    }
    let metric = h
        .predefined_metric_specification()
        .map(|m| m.predefined_metric_type().as_str());
    if metric != Some(MetricType::EcsServiceAverageCpuUtilization.as_str()) {
        d.push(format!("metric {metric:?} (wants ECSServiceAverageCPUUtilization)"));
    }
    if h.scale_in_cooldown() != Some(COOLDOWN) || h.scale_out_cooldown() != Some(COOLDOWN) {
        d.push(format!(
            "cooldowns in {:?} / out {:?} (wants {COOLDOWN} / {COOLDOWN})",
            h.scale_in_cooldown(),
            h.scale_out_cooldown()
        ));
    }
    d
}

pub struct CpuPolicy;

impl CpuPolicy {
    async fn put(cx: &Ctx) -> StepResult<String> {
        let out = cx
            .aws
            .autoscaling
            .put_scaling_policy()
            .policy_name(policy_name(cx))
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cx))
            .scalable_dimension(dimension())
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(cpu_tracking()?)
            .send()
            .await
            .aws("PutScalingPolicy")?;
        Ok(out.policy_arn().to_owned())
    }
}

#[async_trait]
impl Step for CpuPolicy {
    fn id(&self) -> &str {
        "scaling-policy-cpu"
    }
    fn kind(&self) -> &'static str {
        "scaling-policy"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![ids::SCALING_TARGET.into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(policies(cx)
            .await?
            .first()
            .map(|p| Record::new(p.policy_arn()).with("name", p.policy_name())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let arn = Self::put(cx).await?;
        Ok(Record::new(arn).with("name", policy_name(cx)))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(p) = policies(cx).await?.iter().find(|p| p.policy_arn() == rec.id).cloned() else {
            return Ok(vec![]);
        };
        let drift = tracking_drift(p.target_tracking_scaling_policy_configuration());
        if fix && !drift.is_empty() {
            Self::put(cx).await?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, _rec: &Record) -> StepResult<()> {
        let r = cx
            .aws
            .autoscaling
            .delete_scaling_policy()
            .policy_name(policy_name(cx))
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cx))
            .scalable_dimension(dimension())
            .send()
            .await
            .aws("DeleteScalingPolicy");
        match r {
            Err(e) if gone(&e) => Ok(()),
            r => r.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_tracks_70_percent_cpu_with_one_minute_cooldowns() {
        let c = cpu_tracking().unwrap();
        assert!(tracking_drift(Some(&c)).is_empty());
        assert_eq!(c.target_value(), 70.0);
        assert_eq!(c.scale_in_cooldown(), Some(60));
        assert_eq!(c.scale_out_cooldown(), Some(60));
        let other = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(60.0)
            .predefined_metric_specification(c.predefined_metric_specification().unwrap().clone())
            .build()
            .unwrap();
        assert_eq!(tracking_drift(Some(&other)).len(), 2);
        assert_eq!(tracking_drift(None).len(), 1);
    }
}
