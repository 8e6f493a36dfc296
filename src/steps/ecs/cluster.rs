//! The ECS cluster: Fargate and Fargate Spot capacity providers with the
//! stack's default strategy, and Container Insights. Calls CreateCluster,
//! UpdateClusterSettings, PutClusterCapacityProviders and DeleteCluster;
//! found through DescribeClusters.

use super::cluster_name;
use super::discovery::clusters;
use super::service::{capacity_strategy, strategy_key};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt, ErrorClass};
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

    /// Turns Container Insights with enhanced observability on (never
    /// falling back to plain `enabled`).
    async fn set_insights(cx: &Ctx) -> StepResult<String> {
        insights_call(|| async {
            cx.aws
                .ecs
                .update_cluster_settings()
                .cluster(cluster_name(cx))
                .settings(
                    ClusterSetting::builder()
                        .name(ClusterSettingName::ContainerInsights)
                        .value(INSIGHTS)
                        .build(),
                )
                .send()
                .await
                .aws("UpdateClusterSettings")
        })
        .await?;
        Ok(INSIGHTS.into())
    }
}

/// The Container Insights level the cluster is created with.
const INSIGHTS: &str = "enhanced";

/// Runs a call that sets Container Insights to `enhanced`. An account's
/// first cluster can be refused while ECS creates its service-linked role
/// (AWSServiceRoleForECS, "Using service-linked roles for Amazon ECS", ECS
/// developer guide): InvalidParameterException "Unable to assume the service
/// linked role", classified as not yet propagated. That is retried with
/// backoff, bounded by [`Backoff::IAM`]; any refusal that remains is the AWS
/// error with a hint, never a silent downgrade to `enabled`.
async fn insights_call<T, F, Fut>(op: F) -> StepResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StepResult<T>>,
{
    wait::retry_while(ErrorClass::NotYetPropagated, Backoff::IAM, op)
        .await
        .map_err(|mut e| {
            if e.code_is("InvalidParameterException") {
                e.message = format!(
                    "{}\n  hint: ECS refused Container Insights with enhanced observability. On an account's \
                     first cluster that happens while ECS creates its service-linked role: create it (`aws iam \
                     create-service-linked-role --aws-service-name ecs.amazonaws.com`) or wait a minute, then run \
                     `provision up` again; nothing falls back to plain Container Insights",
                    e.message
                );
            }
            e
        })
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
        let out = insights_call(|| async {
            cx.aws
                .ecs
                .create_cluster()
                .cluster_name(&name)
                .settings(
                    ClusterSetting::builder()
                        .name(ClusterSettingName::ContainerInsights)
                        .value(INSIGHTS)
                        .build(),
                )
                .capacity_providers("FARGATE")
                .capacity_providers("FARGATE_SPOT")
                .set_default_capacity_provider_strategy(Some(strategy.clone()))
                .set_tags(Some(tags::ecs(cx.tags(&name, ids::ECS_CLUSTER))))
                .send()
                .await
                .aws("CreateCluster")
        })
        .await?;
        let arn = out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default();
        Ok(Record::new(name)
            .with("arn", arn)
            .with("insights", INSIGHTS)
            .with("providers", "FARGATE,FARGATE_SPOT")
            .with("strategy", format!("{:?}", strategy_key(&strategy))))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        // `enabled` is accepted as converged: clusters created before
        // enhanced observability (or by an older version of this tool) keep
        // it; a cluster with Insights off is turned to `enhanced`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::create_cluster::{CreateClusterError, CreateClusterInput, CreateClusterOutput};
    use aws_sdk_ecs::operation::update_cluster_settings::{UpdateClusterSettingsError, UpdateClusterSettingsOutput};
    use aws_sdk_ecs::types::error::InvalidParameterException;
    use aws_smithy_mocks::mock;
    use aws_smithy_types::error::ErrorMetadata;
    use std::time::Duration;

    /// What ECS answers while it creates its service-linked role for an
    /// account's first cluster.
    const ROLE_NOT_READY: &str =
        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.";

    fn invalid_parameter(message: &str) -> InvalidParameterException {
        InvalidParameterException::builder()
            .message(message)
            .meta(
                ErrorMetadata::builder()
                    .code("InvalidParameterException")
                    .message(message)
                    .build(),
            )
            .build()
    }

    fn asks_enhanced(settings: &[ClusterSetting]) -> bool {
        settings
            .iter()
            .any(|s| s.name() == Some(&ClusterSettingName::ContainerInsights) && s.value() == Some("enhanced"))
    }

    fn created() -> CreateClusterOutput {
        CreateClusterOutput::builder()
            .cluster(
                aws_sdk_ecs::types::Cluster::builder()
                    .cluster_name("ecs-api-dev1")
                    .cluster_arn("arn:aws:ecs:ap-southeast-2:123456789012:cluster/ecs-api-dev1")
                    .build(),
            )
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_cluster_waits_for_the_service_linked_role_and_keeps_enhanced() {
        let enhanced = mock!(aws_sdk_ecs::Client::create_cluster)
            .match_requests(|req: &CreateClusterInput| asks_enhanced(req.settings()))
            .sequence()
            .error(|| CreateClusterError::InvalidParameterException(invalid_parameter(ROLE_NOT_READY)))
            .times(2)
            .output(created)
            .build();
        let downgraded = mock!(aws_sdk_ecs::Client::create_cluster)
            .match_requests(|req: &CreateClusterInput| !asks_enhanced(req.settings()))
            .then_output(created);
        let cx = crate::testing::mocked_ecs_ctx(&[&enhanced, &downgraded]);
        let start = tokio::time::Instant::now();
        let rec = Cluster.create(&cx).await.expect("created once the role is usable");
        assert_eq!(enhanced.num_calls(), 3);
        assert_eq!(downgraded.num_calls(), 0, "never falls back to `enabled`");
        assert_eq!(rec.attr("insights"), Some("enhanced"));
        // Backed off between the attempts (1 s, then 2 s), not a busy loop.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_enhanced_fails_with_the_aws_error_and_a_hint() {
        let enhanced = mock!(aws_sdk_ecs::Client::create_cluster)
            .match_requests(|req: &CreateClusterInput| asks_enhanced(req.settings()))
            .sequence()
            .error(|| CreateClusterError::InvalidParameterException(invalid_parameter(ROLE_NOT_READY)))
            .repeatedly()
            .build();
        let downgraded = mock!(aws_sdk_ecs::Client::create_cluster)
            .match_requests(|req: &CreateClusterInput| !asks_enhanced(req.settings()))
            .then_output(created);
        let cx = crate::testing::mocked_ecs_ctx(&[&enhanced, &downgraded]);
        let err = Cluster.create(&cx).await.unwrap_err();
        assert!(err.code_is("InvalidParameterException"), "{err}");
        assert!(err.message.contains("service linked role"), "{err}");
        assert!(err.message.contains("hint:"), "{err}");
        assert!(enhanced.num_calls() > 2);
        assert_eq!(downgraded.num_calls(), 0, "never falls back to `enabled`");
    }

    #[tokio::test(start_paused = true)]
    async fn repairing_insights_never_downgrades_to_enabled() {
        let enhanced = mock!(aws_sdk_ecs::Client::update_cluster_settings)
            .match_requests(|req| asks_enhanced(req.settings()))
            .then_error(|| {
                UpdateClusterSettingsError::InvalidParameterException(invalid_parameter(
                    "enhanced is not a valid value",
                ))
            });
        let downgraded = mock!(aws_sdk_ecs::Client::update_cluster_settings)
            .match_requests(|req| !asks_enhanced(req.settings()))
            .then_output(|| UpdateClusterSettingsOutput::builder().build());
        let cx = crate::testing::mocked_ecs_ctx(&[&enhanced, &downgraded]);
        let rec = Record::new("ecs-api-dev1")
            .with("insights", "disabled")
            .with("providers", "FARGATE,FARGATE_SPOT")
            .with(
                "strategy",
                format!("{:?}", strategy_key(&capacity_strategy(70).unwrap())),
            );
        let err = Cluster.reconcile(&cx, &rec, true).await.unwrap_err();
        assert!(err.code_is("InvalidParameterException"), "{err}");
        assert!(err.message.contains("hint:"), "{err}");
        assert_eq!(downgraded.num_calls(), 0, "never falls back to `enabled`");
    }
}
