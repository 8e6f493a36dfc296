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

pub async fn sg_id(aws: &provision::aws::Clients, suffix: &str, step: &str) -> String {
    let f = aws_sdk_ec2::types::Filter::builder()
        .name("tag:provision:step")
        .values(step)
        .build();
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tag_filter(suffix))
        .filters(f)
        .send()
        .await
        .unwrap();
    out.security_groups()[0].group_id().unwrap().to_owned()
}

pub async fn subnet_ids(aws: &provision::aws::Clients, suffix: &str, tier: &str) -> Vec<String> {
    let f = aws_sdk_ec2::types::Filter::builder()
        .name("tag:Tier")
        .values(tier)
        .build();
    let out = aws
        .ec2
        .describe_subnets()
        .filters(tag_filter(suffix))
        .filters(f)
        .send()
        .await
        .unwrap();
    let mut v: Vec<String> = out
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

pub async fn active_task_definitions(aws: &provision::aws::Clients, family: &str) -> Vec<String> {
    aws.ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .to_vec()
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
    assert!(stderr(&out).contains("provision up"), "{}", stderr(&out));
    assert!(compute_leftovers(aws, &stack).await.is_empty());
}
