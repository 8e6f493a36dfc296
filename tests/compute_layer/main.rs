//! The compute, traffic, scaling and observability layer end to end against
//! the moto server, through the real binary, for the complete stack.
//!
//! moto 5.2.5 lacks `DescribeDBEngineVersions` (the data layer needs it);
//! the project's proxy in front of moto (`scripts/fault_proxy.py`, via
//! `common::moto`) answers it.
//!
//! What moto drops (so asserted only where it keeps it): CreateService
//! discards `capacityProviderStrategy`, `deploymentConfiguration`,
//! `healthCheckGracePeriodSeconds`, `enableECSManagedTags` and
//! `enableExecuteCommand` (a unit test in `src/steps/ecs.rs` asserts the
//! request carries them; UpdateService keeps them, so the second `up`
//! repairs the service and the third finds it converged); services run as
//! `EC2` with `runningCount` from `MOTO_ECS_SERVICE_RUNNING`; deployments
//! complete at once and keep their first task definition.
//!
//! One test walks the complete stack through its life, a module a part of
//! it: `traffic`, `service` and `observability` check what the first `up`
//! built; `convergence` the later runs and drift; `deploy`; `leftovers`
//! what `down` must leave (nothing).

#[path = "../common/mod.rs"]
mod common;
mod convergence;
mod deploy;
mod leftovers;
mod observability;
mod service;
mod traffic;

use common::*;
use leftovers::compute_leftovers;
use std::collections::BTreeMap;
use std::process::Output;

const MOTO: &str = "compute";

// ---------------------------------------------------------------- helpers

/// `(created, repaired)` from the `up: N created, M repaired, ...` line.
fn up_counts(out: &Output) -> (usize, usize) {
    let err = stderr(out);
    let line = err
        .lines()
        .find(|l| l.starts_with("up: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{err}"));
    let n = |word: &str| -> usize {
        let before = line.split(&format!(" {word}")).next().unwrap();
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (n("created"), n("repaired"))
}

/// The alarm topic's ARN.
fn alarm_topic(stack: &Stack) -> String {
    format!("arn:aws:sns:{REGION}:123456789012:sns-alarms-{}", stack.suffix)
}

/// The service as Application Auto Scaling names it.
fn service_resource_id(stack: &Stack) -> String {
    let s = &stack.suffix;
    format!("service/ecs-api-{s}/svc-api-{s}")
}

/// The service's scalable targets (one, when it is there).
async fn service_scalable_targets(
    aws: &provision::aws::Clients,
    stack: &Stack,
) -> Vec<aws_sdk_applicationautoscaling::types::ScalableTarget> {
    aws.autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(service_resource_id(stack))
        .send()
        .await
        .unwrap()
        .scalable_targets()
        .to_vec()
}

/// The capacity mix every `up` here asks for: 30 % on-demand Fargate with
/// a base of one task, 70 % Spot.
fn assert_spot_mix(strategy: &[aws_sdk_ecs::types::CapacityProviderStrategyItem]) {
    let mix: BTreeMap<&str, (i32, i32)> = strategy
        .iter()
        .map(|i| (i.capacity_provider(), (i.weight(), i.base())))
        .collect();
    assert_eq!(mix, BTreeMap::from([("FARGATE", (30, 1)), ("FARGATE_SPOT", (70, 0))]));
}

// ---------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread")]
async fn the_compute_layer_is_built_converges_repairs_drift_deploys_and_is_torn_down() {
    let stack = Stack::new(&moto(MOTO), &suffix("cmp"));
    let aws = &stack.aws().await;
    let s = &stack.suffix;

    // ------------------------------------------------ first up
    let out = stack.ok_output(
        "up",
        &["--alarm-email", "ops@example.com", "--outputs", "out/flat.json"],
    );
    let (created, _) = up_counts(&out);
    assert!(created > 40, "the whole stack is created: {}", stderr(&out));
    // A fresh repository has no image (and this machine no container
    // engine): the service runs no task, and up says how to bring it up.
    let err = stderr(&out);
    assert!(
        err.contains("the service runs no task yet") && err.contains("provision image push --suffix"),
        "{err}"
    );
    let outputs: BTreeMap<String, String> = serde_json::from_str(&stdout(&out)).expect("outputs JSON on stdout");
    for k in [
        "ALBDnsName",
        "CloudWatchDashboardUrl",
        "ECSClusterName",
        "ECSServiceName",
    ] {
        assert!(
            outputs.get(k).is_some_and(|v| !v.is_empty()),
            "output {k} missing: {outputs:?}"
        );
    }
    assert_eq!(outputs["ECSClusterName"], format!("ecs-api-{s}"));
    assert_eq!(outputs["ECSServiceName"], format!("svc-api-{s}"));
    assert_eq!(
        outputs["CloudWatchDashboardUrl"],
        format!(
            "https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name=dashboard-api-{s}"
        )
    );
    let file: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(stack.p.workdir.join("out/flat.json")).unwrap()).unwrap();
    assert_eq!(file, outputs);

    let traffic = traffic::check_built(aws, &stack, &outputs).await;
    service::check_built(aws, &stack, &traffic).await;
    observability::check_built(aws, &stack).await;
    convergence::check_later_ups_converge(aws, &stack, &outputs).await;
    convergence::check_drift_is_reported_and_repaired(aws, &stack, &traffic).await;
    deploy::check_deploy(aws, &stack).await;

    // ------------------------------------------------ down
    stack.ok("down", &["--yes"]);
    let left = compute_leftovers(aws, &stack).await;
    assert!(left.is_empty(), "left after down: {left:?}");
    let family = stack.name("task", "api");
    let all = aws
        .ecs
        .list_task_definitions()
        .family_prefix(&family)
        .send()
        .await
        .unwrap();
    assert!(
        all.task_definition_arns().is_empty(),
        "{:?}",
        all.task_definition_arns()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_before_up_says_to_run_up_first() {
    let stack = Stack::new(&moto(MOTO), &suffix("cmpd"));
    let aws = &stack.aws().await;
    let out = stack.run("deploy", &["--image-tag", "v2", "--timeout", "30"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, &["provision up"]);
    assert!(compute_leftovers(aws, &stack).await.is_empty());
}
