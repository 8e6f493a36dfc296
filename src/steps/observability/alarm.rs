//! One CloudWatch metric alarm (of the five in [`super::ALARMS`]) that
//! notifies the alarm topic on ALARM and on OK. APIs: `PutMetricAlarm`,
//! `DeleteAlarms` (found through [`super::discovery`]).

use super::alarm_name;
use super::alarm_spec::{alarm_doc, alarm_spec, doc_diff, metric, queries, spec_doc, AlarmSpec, Dims, Source};
use super::discovery::alarms;
use crate::aws::{tags, AwsError, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;

pub struct Alarm {
    pub purpose: &'static str,
}

impl Alarm {
    fn name(&self, cx: &Ctx) -> String {
        alarm_name(self.purpose, cx.suffix().as_str())
    }

    fn spec(&self, cx: &Ctx) -> StepResult<AlarmSpec> {
        alarm_spec(self.purpose, &Dims::from_ctx(cx)?)
            .ok_or_else(|| AwsError::custom("PutMetricAlarm", "UnknownAlarm", format!("no alarm `{}`", self.purpose)))
    }

    async fn put(&self, cx: &Ctx) -> StepResult<()> {
        let spec = self.spec(cx)?;
        let topic = cx.id_of(ids::SNS_ALARMS)?;
        let name = self.name(cx);
        let mut req = cx
            .aws
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .alarm_description(spec.description)
            .actions_enabled(true)
            .alarm_actions(&topic)
            .ok_actions(&topic)
            .evaluation_periods(spec.evaluation_periods)
            .datapoints_to_alarm(spec.datapoints)
            .threshold(spec.threshold)
            .comparison_operator(spec.comparison.clone())
            .treat_missing_data(spec.treat_missing)
            .set_tags(Some(tags::cloudwatch(
                cx.tags(&name, &format!("alarm-{}", self.purpose)),
            )));
        req = match &spec.source {
            Source::Metric(m) => req
                .namespace(m.namespace)
                .metric_name(m.name)
                .set_dimensions(metric(m).dimensions.clone())
                .statistic(aws_sdk_cloudwatch::types::Statistic::from(m.stat))
                .period(spec.period),
            Source::Math { .. } => req.set_metrics(Some(queries(&spec))),
        };
        req.send().await.aws("PutMetricAlarm")?;
        Ok(())
    }
}

#[async_trait]
impl Step for Alarm {
    fn id(&self) -> &str {
        match self.purpose {
            "cpu" => "alarm-cpu",
            "tasks" => "alarm-tasks",
            "5xx" => "alarm-5xx",
            "unhealthy" => "alarm-unhealthy",
            _ => "alarm-db-cpu",
        }
    }
    fn kind(&self) -> &'static str {
        "cloudwatch-alarm"
    }
    fn deps(&self) -> Vec<Dep> {
        // Every alarm reads the dimensions of all of them (Dims), so each
        // depends on the same named steps; none needs them usable.
        [
            ids::SNS_ALARMS,
            ids::ALB,
            ids::TG_BLUE,
            ids::TG_GREEN,
            ids::DB_CLUSTER,
            ids::ECS_SERVICE,
        ]
        .map(Dep::id)
        .to_vec()
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = self.name(cx);
        Ok(alarms(cx)
            .await?
            .iter()
            .find(|a| a.alarm_name() == Some(name.as_str()))
            .map(|a| Record::new(&name).with("arn", a.alarm_arn().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        self.put(cx).await?;
        let name = self.name(cx);
        let arn = cx.arn("cloudwatch", &format!("alarm:{name}")).await?;
        Ok(Record::new(&name).with("arn", arn))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(a) = alarms(cx)
            .await?
            .iter()
            .find(|a| a.alarm_name() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let want = spec_doc(&self.spec(cx)?, &cx.id_of(ids::SNS_ALARMS)?);
        let drift = doc_diff(&alarm_doc(&a), &want);
        if fix && !drift.is_empty() {
            self.put(cx).await?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        cx.aws
            .cloudwatch
            .delete_alarms()
            .alarm_names(&rec.id)
            .send()
            .await
            .aws("DeleteAlarms")
            .or_not_found()?;
        Ok(())
    }
}
