//! The ECS service: Fargate and Fargate Spot tasks in the private subnets,
//! deployed with ECS native blue/green behind the load balancer's
//! production rule. Calls CreateService, UpdateService and DeleteService,
//! and waits with the ServicesStable and ServicesInactive waiters; found
//! through DescribeServices.

use super::deployment::{deployment_configuration, deployment_drift};
use super::discovery::{describe_service, scaling_bounds, services};
use super::{cluster_name, service_name, APP_CONTAINER, DESIRED_COUNT, HEALTH_GRACE_SECONDS};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt};
use crate::state::Record;
use crate::steps::load_balancer::Color;
use crate::steps::network::{nat_step, private_route_table_step, subnet_steps, Tier, APP_PORT, AZ_COUNT};
use crate::steps::{build_err, ids, waiter_err, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_ecs::client::Waiters;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, LoadBalancer,
    NetworkConfiguration, PropagateTags, Service as EcsService,
};
use std::time::Duration;

/// FARGATE_SPOT for `spot`% of the tasks, FARGATE for the rest and for the
/// first task (base 1), so one task survives a Spot reclaim wave.
pub fn capacity_strategy(spot: u32) -> StepResult<Vec<CapacityProviderStrategyItem>> {
    let spot = spot.min(100) as i32;
    Ok(vec![
        CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE_SPOT")
            .weight(spot)
            .base(0)
            .build()
            .map_err(build_err)?,
        CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE")
            .weight(100 - spot)
            .base(1)
            .build()
            .map_err(build_err)?,
    ])
}

pub(super) fn strategy_key(items: &[CapacityProviderStrategyItem]) -> Vec<(String, i32, i32)> {
    let mut v: Vec<(String, i32, i32)> = items
        .iter()
        .map(|i| (i.capacity_provider().to_owned(), i.weight(), i.base()))
        .collect();
    v.sort();
    v
}

/// Tasks to run when auto scaling does not manage the count yet: none while
/// the image is not in the registry (see [`super::image_present`]).
fn wanted_count(cx: &Ctx) -> i32 {
    if super::image_present(cx) {
        DESIRED_COUNT
    } else {
        0
    }
}

pub struct Service;

impl Service {
    fn network(cx: &Ctx) -> StepResult<NetworkConfiguration> {
        let subnets = subnet_steps(Tier::Private)
            .iter()
            .map(|s| cx.id_of(s))
            .collect::<StepResult<Vec<_>>>()?;
        Ok(NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(subnets))
                    .security_groups(cx.id_of(ids::SG_APP)?)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .map_err(build_err)?,
            )
            .build())
    }

    /// The blue target group as the production target, green as the
    /// alternate ECS shifts to; ECS rewrites the production rule's weights
    /// with the infrastructure role.
    fn load_balancer(cx: &Ctx) -> StepResult<LoadBalancer> {
        let role = cx.attr(ids::ROLE_ECS_INFRA, "arn")?;
        Ok(LoadBalancer::builder()
            .target_group_arn(cx.id_of(Color::Blue.step())?)
            .container_name(APP_CONTAINER)
            .container_port(APP_PORT)
            .advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(cx.id_of(Color::Green.step())?)
                    .production_listener_rule(cx.id_of(ids::RULE_API)?)
                    .role_arn(role)
                    .build(),
            )
            .build())
    }

    fn record(s: &EcsService) -> Record {
        let r = Record::new(s.service_name().unwrap_or_default())
            .with("arn", s.service_arn().unwrap_or_default())
            .with("task_definition", s.task_definition().unwrap_or_default())
            .with("desired", s.desired_count().to_string());
        let stable = s.deployments().len() == 1 && s.running_count() == s.desired_count();
        if stable {
            r
        } else {
            r.pending()
        }
    }

    /// The update that brings `svc` back to the desired service.
    fn update(
        cx: &Ctx,
        svc: &EcsService,
        bounds: Option<(i32, i32)>,
    ) -> StepResult<aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder> {
        let want_strategy = capacity_strategy(cx.settings.spot_percent)?;
        let strategy_changed = strategy_key(svc.capacity_provider_strategy()) != strategy_key(&want_strategy);
        let mut req = cx
            .aws
            .ecs
            .update_service()
            .cluster(cluster_name(cx))
            .service(svc.service_name().unwrap_or_default())
            .task_definition(cx.id_of(ids::TASK_DEF)?)
            .set_capacity_provider_strategy(Some(want_strategy))
            .deployment_configuration(deployment_configuration(cx.suffix().as_str(), cx.settings.bake_minutes))
            .enable_execute_command(cx.settings.enable_exec)
            .health_check_grace_period_seconds(HEALTH_GRACE_SECONDS);
        let count = svc.desired_count();
        let want_count = match bounds {
            Some((min, max)) => count.clamp(min, max),
            None => wanted_count(cx),
        };
        if count != want_count {
            req = req.desired_count(want_count);
        }
        if strategy_changed && !svc.capacity_provider_strategy().is_empty() {
            req = req.force_new_deployment(true);
        }
        Ok(req)
    }

    /// What differs from the desired service; `bounds` are the scalable
    /// target's min/max when auto scaling manages the count.
    pub fn drift(cx: &Ctx, s: &EcsService, bounds: Option<(i32, i32)>) -> StepResult<Vec<String>> {
        let mut d = Vec::new();
        let count = s.desired_count();
        match bounds {
            Some((min, max)) if count < min || count > max => {
                d.push(format!("desired count {count} is outside auto scaling's {min}..{max}"))
            }
            None if count != wanted_count(cx) => d.push(format!("desired count {count} (wants {})", wanted_count(cx))),
            _ => {}
        }
        let td = cx.id_of(ids::TASK_DEF)?;
        if s.task_definition() != Some(td.as_str()) {
            d.push(format!(
                "runs {} (wants {td})",
                s.task_definition().unwrap_or("nothing")
            ));
        }
        let want = strategy_key(&capacity_strategy(cx.settings.spot_percent)?);
        let have = strategy_key(s.capacity_provider_strategy());
        if have != want {
            d.push(format!("capacity provider strategy {have:?} (wants {want:?})"));
        }
        d.extend(deployment_drift(
            s.deployment_configuration(),
            cx.suffix().as_str(),
            cx.settings.bake_minutes,
        ));
        if s.enable_execute_command() != cx.settings.enable_exec {
            d.push(format!(
                "ECS Exec is {} (wants {})",
                s.enable_execute_command(),
                cx.settings.enable_exec
            ));
        }
        if s.health_check_grace_period_seconds() != Some(HEALTH_GRACE_SECONDS) {
            d.push(format!(
                "health check grace period {:?} (wants {HEALTH_GRACE_SECONDS})",
                s.health_check_grace_period_seconds()
            ));
        }
        Ok(d)
    }
}

#[async_trait]
impl Step for Service {
    fn id(&self) -> &str {
        ids::ECS_SERVICE
    }
    fn kind(&self) -> &'static str {
        "ecs-service"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = [
            ids::ECS_CLUSTER,
            ids::TASK_DEF,
            ids::TG_BLUE,
            ids::TG_GREEN,
            ids::RULE_API,
            ids::ROLE_ECS_INFRA,
            ids::SG_APP,
        ]
        .into_iter()
        .map(Dep::id)
        .collect();
        d.extend(subnet_steps(Tier::Private).into_iter().map(Dep::id));
        // Tasks pull images and read secrets through the NAT gateways.
        d.extend((0..AZ_COUNT).map(|az| Dep::ready(nat_step(az))));
        // ...and only once the private subnets route 0.0.0.0/0 to them: a
        // route table's step creates its routes and subnet associations.
        d.extend((0..AZ_COUNT).map(|az| Dep::id(private_route_table_step(az))));
        d
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 180, 90).changing(180).source(
            "ECS Developer Guide: steady once new tasks pass the target group's health checks (~3 min); deregistration delay drains on delete",
        )
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(services(cx).await?.first().map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = service_name(cx);
        let req = cx
            .aws
            .ecs
            .create_service()
            .cluster(cluster_name(cx))
            .service_name(&name)
            .task_definition(cx.id_of(ids::TASK_DEF)?)
            .desired_count(wanted_count(cx))
            // Never with a launch type: the strategy decides Fargate vs Spot.
            .set_capacity_provider_strategy(Some(capacity_strategy(cx.settings.spot_percent)?))
            .platform_version("LATEST")
            .network_configuration(Self::network(cx)?)
            .load_balancers(Self::load_balancer(cx)?)
            .health_check_grace_period_seconds(HEALTH_GRACE_SECONDS)
            .deployment_configuration(deployment_configuration(cx.suffix().as_str(), cx.settings.bake_minutes))
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .enable_execute_command(cx.settings.enable_exec)
            // ECS API Reference, CreateService, clientToken: "Up to 36 ASCII
            // characters in length are allowed."
            .client_token(cx.client_token(ids::ECS_SERVICE, 36))
            .set_tags(Some(tags::ecs(cx.tags(&name, ids::ECS_SERVICE))));
        // The infrastructure role may be brand new.
        let out = wait::retry_while(crate::aws::ErrorClass::NotYetPropagated, Backoff::IAM, || async {
            req.clone().send().await.aws("CreateService")
        })
        .await?;
        let svc = out
            .service()
            .cloned()
            .ok_or_else(|| AwsError::custom("CreateService", "EmptyResponse", "no service in the response"))?;
        // The service as created must be the service asked for. An endpoint
        // that silently drops fields (moto drops the capacity strategy and
        // the deployment configuration) is corrected now, from the create
        // response, instead of surfacing as drift on the next run.
        let dropped = Self::drift(cx, &svc, None)?;
        if !dropped.is_empty() {
            tracing::warn!(fields = ?dropped, "CreateService did not keep every field; updating the service");
            Self::update(cx, &svc, None)?.send().await.aws("UpdateService")?;
        }
        Ok(Self::record(&svc).pending())
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(svc) = services(cx)
            .await?
            .iter()
            .find(|s| s.service_name() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let bounds = scaling_bounds(cx).await?;
        let drift = Self::drift(cx, &svc, bounds)?;
        if fix && !drift.is_empty() {
            let td = cx.id_of(ids::TASK_DEF)?;
            Self::update(cx, &svc, bounds)?.send().await.aws("UpdateService")?;
            cx.set_record(ids::ECS_SERVICE, rec.clone().with("task_definition", td).pending());
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting(ids::ECS_SERVICE, "service to reach a steady state");
        // Not the SDK's ServicesStable waiter: it only compares counts, so a
        // deployment the circuit breaker has failed (tasks that cannot pull
        // their image) would keep it polling for its whole timeout. The
        // rollout judge stops at once on FAILED and names the reason.
        let target = cx.id_of(ids::TASK_DEF)?;
        let backoff = Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(15),
            timeout: Duration::from_secs(30 * 60),
        };
        wait::poll("the service to reach a steady state", backoff, || async {
            let Some(svc) = describe_service(cx).await? else {
                return Err(AwsError::custom(
                    "DescribeServices",
                    "ServiceNotActive",
                    "the service is not active",
                ));
            };
            match super::judge(&svc, &target) {
                super::Rollout::Failed(why) => Err(AwsError::custom("WaitServicesStable", "DeploymentFailed", why)),
                // A service asked to run nothing (no image yet) is settled.
                _ if svc.desired_count() == 0 => Ok(Some(())),
                _ if svc.deployments().len() == 1 && svc.running_count() == svc.desired_count() => Ok(Some(())),
                _ => Ok(None),
            }
        })
        .await?;
        Ok(rec.clone())
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let cluster = cluster_name(cx);
        let gone = |e: &AwsError| e.is_not_found() || e.code_is("ServiceNotActiveException");
        match cx
            .aws
            .ecs
            .update_service()
            .cluster(&cluster)
            .service(&rec.id)
            .desired_count(0)
            .send()
            .await
            .aws("UpdateService")
        {
            Err(e) if gone(&e) => return Ok(()),
            r => r.map(|_| ())?,
        }
        match cx
            .aws
            .ecs
            .delete_service()
            .cluster(&cluster)
            .service(&rec.id)
            .force(true)
            .send()
            .await
            .aws("DeleteService")
        {
            Err(e) if gone(&e) => return Ok(()),
            r => r.map(|_| ())?,
        }
        cx.waiting(ids::ECS_SERVICE, "service to drain and become inactive");
        cx.aws
            .ecs
            .wait_until_services_inactive()
            .cluster(&cluster)
            .services(&rec.id)
            .wait(Duration::from_secs(20 * 60))
            .await
            .map_err(|e| waiter_err("WaitServicesInactive", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::create_service::CreateServiceOutput;
    use aws_sdk_ecs::types::DeploymentStrategy;
    use aws_smithy_mocks::mock;

    #[test]
    fn spot_share_with_one_on_demand_base_task() {
        let s = strategy_key(&capacity_strategy(70).unwrap());
        assert_eq!(s, vec![("FARGATE".into(), 30, 1), ("FARGATE_SPOT".into(), 70, 0)]);
        let s = strategy_key(&capacity_strategy(0).unwrap());
        assert_eq!(s, vec![("FARGATE".into(), 100, 1), ("FARGATE_SPOT".into(), 0, 0)]);
    }

    /// A context whose ECS client answers from `rules` and whose records
    /// stand in for the service's dependencies.
    fn mocked_ctx(rules: &[&aws_smithy_mocks::Rule]) -> Ctx {
        let cx = crate::testing::mocked_ecs_ctx(rules);
        let subnets = subnet_steps(Tier::Private);
        for (step, id, arn) in [
            (
                ids::TASK_DEF,
                "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/task-api-dev1:1",
                None,
            ),
            (
                ids::TG_BLUE,
                "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/tg-blue-dev1/1",
                None,
            ),
            (
                ids::TG_GREEN,
                "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/tg-green-dev1/2",
                None,
            ),
            (
                ids::RULE_API,
                "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:listener-rule/app/alb-api-dev1/3/4/5",
                None,
            ),
            (
                ids::ROLE_ECS_INFRA,
                "role-ecs-infra-dev1",
                Some("arn:aws:iam::123456789012:role/role-ecs-infra-dev1"),
            ),
            (ids::SG_APP, "sg-0app", None),
            (subnets[0].as_str(), "subnet-a", None),
            (subnets[1].as_str(), "subnet-b", None),
            (subnets[2].as_str(), "subnet-c", None),
        ] {
            let mut r = Record::new(id);
            if let Some(a) = arn {
                r = r.with("arn", a);
            }
            cx.set_record(step, r);
        }
        cx
    }

    #[tokio::test]
    async fn create_service_sends_the_strategy_and_blue_green_even_though_moto_drops_them() {
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .match_requests(|req| {
                let strategy = strategy_key(req.capacity_provider_strategy());
                let d = req.deployment_configuration();
                let lb = req.load_balancers();
                let adv = lb.first().and_then(|l| l.advanced_configuration());
                let net = req.network_configuration().and_then(|n| n.awsvpc_configuration());
                req.launch_type().is_none()
                    && strategy == vec![("FARGATE".to_string(), 30, 1), ("FARGATE_SPOT".to_string(), 70, 0)]
                    && d.and_then(|d| d.strategy()) == Some(&DeploymentStrategy::BlueGreen)
                    && d.and_then(|d| d.bake_time_in_minutes()).is_some()
                    && d.and_then(|d| d.deployment_circuit_breaker())
                        .is_some_and(|c| c.enable() && c.rollback())
                    && lb.len() == 1
                    && lb[0].target_group_arn().is_some_and(|t| t.contains("tg-blue"))
                    && lb[0].container_name() == Some("app")
                    && lb[0].container_port() == Some(5000)
                    && adv
                        .and_then(|a| a.alternate_target_group_arn())
                        .is_some_and(|t| t.contains("tg-green"))
                    && adv
                        .and_then(|a| a.production_listener_rule())
                        .is_some_and(|r| r.contains("listener-rule"))
                    && adv.and_then(|a| a.role_arn()) == Some("arn:aws:iam::123456789012:role/role-ecs-infra-dev1")
                    && net.is_some_and(|n| {
                        n.assign_public_ip() == Some(&AssignPublicIp::Disabled) && n.subnets().len() == 3
                    })
                    && req.desired_count() == Some(2)
                    && req.health_check_grace_period_seconds() == Some(60)
                    && req.propagate_tags() == Some(&PropagateTags::Service)
                    && req.enable_ecs_managed_tags() == Some(true)
                    && req.enable_execute_command() == Some(false)
                    && req.cluster() == Some("ecs-api-dev1")
                    && req.service_name() == Some("svc-api-dev1")
            })
            .then_output(|| {
                CreateServiceOutput::builder()
                    .service(
                        EcsService::builder()
                            .service_name("svc-api-dev1")
                            .service_arn("arn:svc")
                            .desired_count(2)
                            .build(),
                    )
                    .build()
            });
        // The response above drops the strategy and the deployment
        // configuration (as moto does): the tool must put them back at once.
        let update = mock!(aws_sdk_ecs::Client::update_service)
            .match_requests(|req| {
                strategy_key(req.capacity_provider_strategy()) == strategy_key(&capacity_strategy(70).unwrap())
                    && deployment_drift(req.deployment_configuration(), "dev1", 5).is_empty()
                    && req.health_check_grace_period_seconds() == Some(HEALTH_GRACE_SECONDS)
                    && req.service() == Some("svc-api-dev1")
            })
            .then_output(|| aws_sdk_ecs::operation::update_service::UpdateServiceOutput::builder().build());
        let cx = mocked_ctx(&[&rule, &update]);
        let rec = Service
            .create(&cx)
            .await
            .expect("the request matched every expectation");
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(update.num_calls(), 1, "dropped fields are restored right after create");
        assert_eq!(rec.id, "svc-api-dev1");
        assert!(!rec.ready);
    }

    #[tokio::test]
    #[should_panic(expected = "no rules matched")]
    async fn an_unexpected_create_service_request_fails_the_test() {
        // The settings ask for a different Spot share than the rule expects:
        // no rule matches and the mock refuses to answer (the test fails).
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .match_requests(|req| strategy_key(req.capacity_provider_strategy())[1].1 == 70)
            .then_output(|| CreateServiceOutput::builder().build());
        let mut cx = mocked_ctx(&[&rule]);
        cx.settings.spot_percent = 50;
        let _ = Service.create(&cx).await;
    }

    #[tokio::test]
    async fn the_create_service_token_fits_ecs_36_characters_with_the_longest_suffix() {
        // ECS API Reference, CreateService, clientToken: "Up to 36 ASCII
        // characters in length are allowed."
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .match_requests(|req| req.client_token().is_some_and(|t| t.len() <= 36 && t.is_ascii()))
            .then_output(|| {
                CreateServiceOutput::builder()
                    .service(EcsService::builder().service_name("svc-api-abcdefghijkl").build())
                    .build()
            });
        let update = mock!(aws_sdk_ecs::Client::update_service)
            .then_output(|| aws_sdk_ecs::operation::update_service::UpdateServiceOutput::builder().build());
        let mut cx = mocked_ctx(&[&rule, &update]);
        cx.settings.suffix = crate::naming::Suffix::parse("abcdefghijkl").unwrap();
        Service.create(&cx).await.expect("the token is at most 36 characters");
        assert_eq!(rule.num_calls(), 1);
    }

    #[test]
    fn the_service_starts_after_the_private_route_tables() {
        // Tasks pull images and read secrets through the NAT gateways: the
        // private subnets need their 0.0.0.0/0 route and association first.
        let deps = Service.deps();
        for rt in ["rt-private-a", "rt-private-b", "rt-private-c"] {
            assert!(deps.contains(&Dep::id(rt)), "{rt} missing from {deps:?}");
        }
    }
}
