//! The service's scalable target in Application Auto Scaling (2 to 10
//! tasks): RegisterScalableTarget (create and repair) and
//! DeregisterScalableTarget; found through DescribeScalableTargets.

use super::discovery::targets;
use super::{dimension, gone, resource_id, MAX_TASKS, MIN_TASKS};
use crate::aws::AwsResultExt;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::ServiceNamespace;

pub struct Target;

/// Auto scaling's floor: [`MIN_TASKS`], or 0 while the image is not in the
/// registry (a floor of 2 would start tasks that cannot pull it).
pub fn min_tasks(cx: &Ctx) -> i32 {
    if crate::steps::ecs::image_present(cx) {
        MIN_TASKS
    } else {
        0
    }
}

impl Target {
    async fn register(cx: &Ctx) -> StepResult<String> {
        let mut req = cx
            .aws
            .autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id(cx))
            .scalable_dimension(dimension())
            .min_capacity(min_tasks(cx))
            .max_capacity(MAX_TASKS);
        for (k, v) in cx.tags(&resource_id(cx), ids::SCALING_TARGET) {
            req = req.tags(k, v);
        }
        let out = req.send().await.aws("RegisterScalableTarget")?;
        Ok(out.scalable_target_arn().unwrap_or_default().to_owned())
    }
}

/// After the first deploy of an image: auto scaling's floor goes back to
/// [`MIN_TASKS`] (RegisterScalableTarget updates an existing target).
pub async fn raise_floor(cx: &Ctx) -> StepResult<()> {
    cx.aws
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id(cx))
        .scalable_dimension(dimension())
        .min_capacity(MIN_TASKS)
        .max_capacity(MAX_TASKS)
        .send()
        .await
        .aws("RegisterScalableTarget")?;
    Ok(())
}

#[async_trait]
impl Step for Target {
    fn id(&self) -> &str {
        ids::SCALING_TARGET
    }
    fn kind(&self) -> &'static str {
        "scalable-target"
    }
    fn deps(&self) -> Vec<Dep> {
        // The task definition says whether the image can be pulled yet.
        vec![ids::ECS_SERVICE.into(), ids::TASK_DEF.into()]
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
            .with("min", min_tasks(cx).to_string())
            .with("max", MAX_TASKS.to_string()))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let (min, max) = (min_tasks(cx).to_string(), MAX_TASKS.to_string());
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
