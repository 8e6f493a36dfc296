//! The ECS cluster: Fargate and Fargate Spot capacity providers with the
//! stack's default strategy, and Container Insights. Calls CreateCluster,
//! UpdateClusterSettings, PutClusterCapacityProviders and DeleteCluster;
//! found through DescribeClusters.

use super::cluster_name;
use super::discovery::clusters;
use super::service::{capacity_strategy, strategy_key};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ecs::types::{ClusterSetting, ClusterSettingName};

pub struct Cluster;

impl Cluster {
    async fn put_capacity_providers(cx: &Ctx) -> StepResult<()> {
        cx.aws
            .ecs
            .put_cluster_capacity_providers()
            .cluster(cluster_name(cx))
            .capacity_providers("FARGATE")
            .capacity_providers("FARGATE_SPOT")
            .set_default_capacity_provider_strategy(Some(capacity_strategy(cx.settings.spot_percent)?))
            .send()
            .await
            .aws("PutClusterCapacityProviders")?;
        Ok(())
    }

    async fn set_insights(cx: &Ctx) -> StepResult<String> {
        for value in ["enhanced", "enabled"] {
            let r = cx
                .aws
                .ecs
                .update_cluster_settings()
                .cluster(cluster_name(cx))
                .settings(
                    ClusterSetting::builder()
                        .name(ClusterSettingName::ContainerInsights)
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .aws("UpdateClusterSettings");
            match r {
                Err(e) if value == "enhanced" && e.code_is("InvalidParameterException") => continue,
                r => {
                    r?;
                    return Ok(value.into());
                }
            }
        }
        unreachable!("the loop returns on the last value")
    }
}

#[async_trait]
impl Step for Cluster {
    fn id(&self) -> &str {
        ids::ECS_CLUSTER
    }
    fn kind(&self) -> &'static str {
        "ecs-cluster"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(clusters(cx).await?.first().map(|c| {
            let insights = c
                .settings()
                .iter()
                .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
                .and_then(|s| s.value())
                .unwrap_or("disabled");
            let mut providers: Vec<&str> = c.capacity_providers().iter().map(String::as_str).collect();
            providers.sort();
            let strategy = strategy_key(c.default_capacity_provider_strategy());
            Record::new(c.cluster_name().unwrap_or_default())
                .with("arn", c.cluster_arn().unwrap_or_default())
                .with("insights", insights)
                .with("providers", providers.join(","))
                .with("strategy", format!("{strategy:?}"))
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cluster_name(cx);
        let strategy = capacity_strategy(cx.settings.spot_percent)?;
        let mut insights = "enhanced";
        let out = loop {
            let r = cx
                .aws
                .ecs
                .create_cluster()
                .cluster_name(&name)
                .settings(
                    ClusterSetting::builder()
                        .name(ClusterSettingName::ContainerInsights)
                        .value(insights)
                        .build(),
                )
                .capacity_providers("FARGATE")
                .capacity_providers("FARGATE_SPOT")
                .set_default_capacity_provider_strategy(Some(strategy.clone()))
                .set_tags(Some(tags::ecs(cx.tags(&name, ids::ECS_CLUSTER))))
                .send()
                .await
                .aws("CreateCluster");
            match r {
                // Regions (or partitions) without enhanced observability.
                Err(e) if insights == "enhanced" && e.code_is("InvalidParameterException") => insights = "enabled",
                r => break r?,
            }
        };
        let arn = out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default();
        Ok(Record::new(name)
            .with("arn", arn)
            .with("insights", insights)
            .with("providers", "FARGATE,FARGATE_SPOT")
            .with("strategy", format!("{:?}", strategy_key(&strategy))))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        // `enabled` is what regions without enhanced observability accept.
        if !matches!(rec.attr("insights"), Some("enhanced" | "enabled")) {
            drift.push(format!(
                "Container Insights is {}",
                rec.attr("insights").unwrap_or("off")
            ));
            if fix {
                Self::set_insights(cx).await?;
            }
        }
        let want = format!("{:?}", strategy_key(&capacity_strategy(cx.settings.spot_percent)?));
        if rec.attr("providers") != Some("FARGATE,FARGATE_SPOT") || rec.attr("strategy") != Some(want.as_str()) {
            drift.push(format!(
                "capacity providers {} with strategy {} (wants FARGATE,FARGATE_SPOT with {want})",
                rec.attr("providers").unwrap_or("none"),
                rec.attr("strategy").unwrap_or("none")
            ));
            if fix {
                Self::put_capacity_providers(cx).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Refused while services or tasks are still draining.
        wait::delete(Backoff::DRAIN, || async {
            match cx
                .aws
                .ecs
                .delete_cluster()
                .cluster(&rec.id)
                .send()
                .await
                .aws("DeleteCluster")
            {
                Ok(_) => Ok(()),
                Err(e) if e.code_is("ClusterNotFoundException") => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }
}
