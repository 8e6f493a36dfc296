//! CloudFront's additional metrics for the distribution (cache hit rate,
//! origin latency, error rates by status), which the dashboard shows:
//! `CreateMonitoringSubscription`, `GetMonitoringSubscription`,
//! `DeleteMonitoringSubscription`. They are billed as CloudWatch custom
//! metrics; the cache hit rate is what tells whether the edge is working.

use super::distribution::find_distribution;
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    MonitoringSubscription, RealtimeMetricsSubscriptionConfig, RealtimeMetricsSubscriptionStatus,
};

pub struct Metrics;

impl Metrics {
    async fn enabled(&self, cx: &Ctx, distribution: &str) -> StepResult<Option<bool>> {
        let out = cx
            .aws
            .cloudfront
            .get_monitoring_subscription()
            .distribution_id(distribution)
            .send()
            .await
            .aws("GetMonitoringSubscription")
            .or_not_found()?;
        Ok(out.map(|o| {
            o.monitoring_subscription()
                .and_then(|m| m.realtime_metrics_subscription_config())
                .map(|c| c.realtime_metrics_subscription_status() == &RealtimeMetricsSubscriptionStatus::Enabled)
                .unwrap_or(false)
        }))
    }

    async fn enable(&self, cx: &Ctx, distribution: &str) -> StepResult<()> {
        let config = RealtimeMetricsSubscriptionConfig::builder()
            .realtime_metrics_subscription_status(RealtimeMetricsSubscriptionStatus::Enabled)
            .build()
            .map_err(crate::aws::build_err)?;
        cx.aws
            .cloudfront
            .create_monitoring_subscription()
            .distribution_id(distribution)
            .monitoring_subscription(
                MonitoringSubscription::builder()
                    .realtime_metrics_subscription_config(config)
                    .build(),
            )
            .send()
            .await
            .aws("CreateMonitoringSubscription")?;
        Ok(())
    }
}

#[async_trait]
impl Step for Metrics {
    fn id(&self) -> &str {
        ids::EDGE_METRICS
    }
    fn kind(&self) -> &'static str {
        "edge-metrics"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![Dep::id(ids::DISTRIBUTION)]
    }

    /// The subscription belongs to the distribution (it has no tags of its
    /// own): found through the stack's distribution, found by its tags.
    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let Some(d) = find_distribution(cx).await? else {
            return Ok(None);
        };
        Ok(self
            .enabled(cx, d.id())
            .await?
            .map(|on| Record::new(d.id()).with("enabled", on.to_string())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let d = cx.id_of(ids::DISTRIBUTION)?;
        self.enable(cx, &d).await?;
        Ok(Record::new(d).with("enabled", "true"))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        if rec.attr("enabled") == Some("true") {
            return Ok(Vec::new());
        }
        if fix {
            self.enable(cx, &rec.id).await?;
        }
        Ok(vec!["the additional metrics (cache hit rate) are off".into()])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        cx.aws
            .cloudfront
            .delete_monitoring_subscription()
            .distribution_id(&rec.id)
            .send()
            .await
            .aws("DeleteMonitoringSubscription")
            .or_not_found()?;
        Ok(())
    }
}
