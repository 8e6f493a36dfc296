//! Auto scaling of the service's task count: a scalable target (2 to 10
//! tasks) and a target-tracking policy on the service's average CPU.

use super::ecs::{cluster_name, service_name};
use super::{build_err, Ctx, Dep, Step, StepRef, StepResult};
use crate::aws::{AwsError, AwsResultExt};
use crate::config::Settings;
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTarget, ScalingPolicy,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
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
    format!("service/{}/{}", cluster_name(cx), service_name(cx))
}

pub fn policy_name(cx: &Ctx) -> String {
    cx.name("scaling", "cpu")
}

fn dimension() -> ScalableDimension {
    ScalableDimension::EcsServiceDesiredCount
}

async fn targets(cx: &Ctx) -> StepResult<Arc<Vec<ScalableTarget>>> {
    cx.inventory
        .get("aas:targets", || async {
            let out = cx
                .aws
                .autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_ids(resource_id(cx))
                .scalable_dimension(dimension())
                .send()
                .await
                .aws("DescribeScalableTargets")?;
            Ok(out.scalable_targets().to_vec())
        })
        .await
}

async fn policies(cx: &Ctx) -> StepResult<Arc<Vec<ScalingPolicy>>> {
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

/// The min and max task count while auto scaling manages the service.
pub async fn bounds(cx: &Ctx) -> StepResult<Option<(i32, i32)>> {
    Ok(targets(cx).await?.first().map(|t| (t.min_capacity(), t.max_capacity())))
}

/// Application Auto Scaling says "ValidationException" for a target or
/// policy that does not exist in some cases (and ObjectNotFound in others).
fn gone(e: &AwsError) -> bool {
    e.is_not_found() || e.code_is("ValidationException") && e.message.to_ascii_lowercase().contains("not")
}

pub struct Target;

impl Target {
    async fn register(cx: &Ctx) -> StepResult<String> {
        let mut req = cx
            .aws
            .autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cx))
            .scalable_dimension(dimension())
            .min_capacity(MIN_TASKS)
            .max_capacity(MAX_TASKS);
        for (k, v) in cx.tags(&resource_id(cx), "scaling-target") {
            req = req.tags(k, v);
        }
        let out = req.send().await.aws("RegisterScalableTarget")?;
        Ok(out.scalable_target_arn().unwrap_or_default().to_owned())
    }
}

#[async_trait]
impl Step for Target {
    fn id(&self) -> &str {
        "scaling-target"
    }
    fn kind(&self) -> &'static str {
        "scalable-target"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["ecs-service".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(targets(cx).await?.first().map(|t| {
            Record::new(t.resource_id())
                .with("arn", t.scalable_target_arn().unwrap_or_default())
                .with("min", t.min_capacity().to_string())
                .with("max", t.max_capacity().to_string())
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let arn = Self::register(cx).await?;
        Ok(Record::new(resource_id(cx))
            .with("arn", arn)
            .with("min", MIN_TASKS.to_string())
            .with("max", MAX_TASKS.to_string()))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let (min, max) = (MIN_TASKS.to_string(), MAX_TASKS.to_string());
        if rec.attr("min") == Some(min.as_str()) && rec.attr("max") == Some(max.as_str()) {
            return Ok(vec![]);
        }
        if fix {
            Self::register(cx).await?;
        }
        Ok(vec![format!(
            "capacity {}..{} (wants {min}..{max})",
            rec.attr("min").unwrap_or("?"),
            rec.attr("max").unwrap_or("?")
        )])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let r = cx
            .aws
            .autoscaling
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&rec.id)
            .scalable_dimension(dimension())
            .send()
            .await
            .aws("DeregisterScalableTarget");
        match r {
            Err(e) if gone(&e) => Ok(()),
            r => r.map(|_| ()),
        }
    }
}

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
        vec!["scaling-target".into()]
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

/// Adds this family's entries to the flat outputs.
pub fn outputs(_cx: &Ctx, _out: &mut BTreeMap<String, String>) {}

/// The scaling bounds, for `status`.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, serde_json::Value>) {
    if let Ok(r) = cx.rec("scaling-target") {
        out.insert(
            "autoscaling".into(),
            serde_json::json!({"min": r.attr("min"), "max": r.attr("max"), "cpu_target": CPU_TARGET}),
        );
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
