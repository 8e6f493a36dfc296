//! The blue and green target groups (IP targets on the app port) with
//! their health check and deregistration delay. APIs:
//! `CreateTargetGroup`, `ModifyTargetGroup`, `ModifyTargetGroupAttributes`,
//! `DescribeTargetGroupAttributes`, `DeleteTargetGroup`.

use super::discovery::target_groups;
use super::{tg_dimension, tg_name, Color, DEREGISTRATION_DELAY, HEALTH_PATH};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt};
use crate::state::Record;
use crate::steps::network::APP_PORT;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum};

pub struct TargetGroup {
    pub color: Color,
}

/// Health check and target settings both target groups share.
#[derive(Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: &'static str,
    pub interval: i32,
    pub timeout: i32,
    pub healthy: i32,
    pub unhealthy: i32,
    pub matcher: &'static str,
}

/// Within the ELBv2 API reference's limits (`CreateTargetGroup`,
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html>):
/// interval 5–300 s, timeout 2–120 s and less than the interval, healthy
/// and unhealthy thresholds 2–10; checked by a unit test.
pub const HEALTH_CHECK: HealthCheck = HealthCheck {
    path: HEALTH_PATH,
    interval: 30,
    timeout: 5,
    healthy: 2,
    unhealthy: 3,
    matcher: "200",
};

/// [`HEALTH_CHECK`] on a `CreateTargetGroup` or `ModifyTargetGroup`
/// request: the two builders take the same parameters.
macro_rules! with_health_check {
    ($request:expr) => {
        $request
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(HEALTH_CHECK.path)
            .health_check_interval_seconds(HEALTH_CHECK.interval)
            .health_check_timeout_seconds(HEALTH_CHECK.timeout)
            .healthy_threshold_count(HEALTH_CHECK.healthy)
            .unhealthy_threshold_count(HEALTH_CHECK.unhealthy)
            .matcher(Matcher::builder().http_code(HEALTH_CHECK.matcher).build())
    };
}

fn health_drift(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> Vec<String> {
    let h = &HEALTH_CHECK;
    let num = |v: Option<i32>| v.map(|v| v.to_string());
    // What is found against what is wanted, one row per managed property.
    #[rustfmt::skip]
    let rows = [
        ("health check path", tg.health_check_path().map(str::to_owned), h.path.to_owned()),
        ("health check protocol", tg.health_check_protocol().map(|p| p.as_str().to_owned()), "HTTP".into()),
        ("health check interval", num(tg.health_check_interval_seconds()), h.interval.to_string()),
        ("health check timeout", num(tg.health_check_timeout_seconds()), h.timeout.to_string()),
        ("healthy threshold", num(tg.healthy_threshold_count()), h.healthy.to_string()),
        ("unhealthy threshold", num(tg.unhealthy_threshold_count()), h.unhealthy.to_string()),
        ("success codes", tg.matcher().and_then(|m| m.http_code()).map(str::to_owned), h.matcher.to_owned()),
    ];
    rows.into_iter()
        .filter(|(_, have, want)| have.as_ref() != Some(want))
        .map(|(what, have, want)| format!("{what} is {} (wants {want})", have.as_deref().unwrap_or("unset")))
        .collect()
}

impl TargetGroup {
    async fn set_attributes(&self, cx: &Ctx, arn: &str) -> StepResult<()> {
        cx.aws
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(DEREGISTRATION_DELAY.to_string())
                    .build(),
            )
            .send()
            .await
            .aws("ModifyTargetGroupAttributes")?;
        Ok(())
    }

    fn record(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> Record {
        let arn = tg.target_group_arn().unwrap_or_default();
        Record::new(arn)
            .with("name", tg.target_group_name().unwrap_or_default())
            .with("dimension", tg_dimension(arn))
    }
}

#[async_trait]
impl Step for TargetGroup {
    fn id(&self) -> &str {
        self.color.step()
    }
    fn kind(&self) -> &'static str {
        "target-group"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![ids::VPC.into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = tg_name(cx, self.color);
        Ok(target_groups(cx)
            .await?
            .iter()
            .find(|t| t.target_group_name() == Some(name.as_str()))
            .map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = tg_name(cx, self.color);
        let create = cx
            .aws
            .elb
            .create_target_group()
            .name(&name)
            .protocol(ProtocolEnum::Http)
            .port(APP_PORT)
            .vpc_id(cx.id_of(ids::VPC)?)
            .target_type(TargetTypeEnum::Ip);
        let out = with_health_check!(create)
            .set_tags(Some(tags::elb(cx.tags(&name, self.color.step()))))
            .send()
            .await
            .aws("CreateTargetGroup")?;
        let tg =
            out.target_groups().first().cloned().ok_or_else(|| {
                AwsError::custom("CreateTargetGroup", "EmptyResponse", "no target group in the response")
            })?;
        let rec = Self::record(&tg);
        self.set_attributes(cx, &rec.id).await?;
        Ok(rec)
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        if let Some(tg) = target_groups(cx)
            .await?
            .iter()
            .find(|t| t.target_group_arn() == Some(rec.id.as_str()))
        {
            let d = health_drift(tg);
            if fix && !d.is_empty() {
                let modify = cx.aws.elb.modify_target_group().target_group_arn(&rec.id);
                with_health_check!(modify).send().await.aws("ModifyTargetGroup")?;
            }
            drift.extend(d);
        }
        let attrs = cx
            .aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(&rec.id)
            .send()
            .await
            .aws("DescribeTargetGroupAttributes")?;
        let delay = attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .and_then(|v| v.parse::<i32>().ok());
        if delay.is_none_or(|d| d > DEREGISTRATION_DELAY) {
            drift.push(format!(
                "deregistration delay is {}s (wants at most {DEREGISTRATION_DELAY}s)",
                delay.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
            ));
            if fix {
                self.set_attributes(cx, &rec.id).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Refused while a rule or a service still uses it.
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .elb
                .delete_target_group()
                .target_group_arn(&rec.id)
                .send()
                .await
                .aws("DeleteTargetGroup")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::TargetGroup as Found;

    /// A target group with the health check `create` and `reconcile` send.
    fn as_wanted() -> aws_sdk_elasticloadbalancingv2::types::builders::TargetGroupBuilder {
        with_health_check!(Found::builder())
    }

    #[test]
    fn a_target_group_as_wanted_has_no_health_drift() {
        assert_eq!(health_drift(&as_wanted().build()), Vec::<String>::new());
    }

    #[test]
    fn each_changed_health_property_is_named_with_what_it_wants() {
        let found = as_wanted()
            .health_check_interval_seconds(10)
            .matcher(Matcher::builder().http_code("200-399").build())
            .set_health_check_path(None)
            .build();
        assert_eq!(
            health_drift(&found),
            vec![
                "health check path is unset (wants /health)".to_owned(),
                "health check interval is 10 (wants 30)".to_owned(),
                "success codes is 200-399 (wants 200)".to_owned(),
            ]
        );
    }
}
