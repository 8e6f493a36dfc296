//! The complete stack after its first `up`: the second `up` repairs what
//! moto dropped, the third does nothing, `status --json` reports it
//! converged; drift made behind the binary's back is reported (exit 3)
//! and repaired.

use crate::common::*;
use crate::traffic::Traffic;
use crate::{alarm_topic, assert_spot_mix, up_counts};
use serde_json::Value;
use std::collections::BTreeMap;

/// The second and third `up`, then `status --json`.
pub async fn check_later_ups_converge(
    aws: &provision::aws::Clients,
    stack: &Stack,
    outputs: &BTreeMap<String, String>,
) {
    let family = stack.name("task", "api");
    // ------------------------------------------------ second and third up
    // moto dropped the service's strategy and deployment configuration on
    // create: the second run puts them back; the third finds nothing to do.
    let out = stack.ok_output("up", &["--alarm-email", "ops@example.com"]);
    assert_eq!(up_counts(&out).0, 0, "second up creates nothing: {}", stderr(&out));
    let svc = ecs_service(aws, &stack.suffix).await;
    assert_spot_mix(svc.capacity_provider_strategy());
    assert!(svc.launch_type().is_none() || !svc.capacity_provider_strategy().is_empty());
    let dc = svc.deployment_configuration().unwrap();
    assert_eq!(dc.strategy().map(|x| x.as_str()), Some("BLUE_GREEN"));
    assert!(dc
        .deployment_circuit_breaker()
        .is_some_and(|c| c.enable() && c.rollback()));
    assert_eq!(svc.health_check_grace_period_seconds(), Some(60));
    let out = stack.ok_output("up", &["--alarm-email", "ops@example.com"]);
    assert_eq!(up_counts(&out), (0, 0), "third up is a no-op: {}", stderr(&out));
    assert_eq!(
        active_task_definitions(aws, &family).await.len(),
        1,
        "no revision registered without a change"
    );

    // ------------------------------------------------ status --json
    let doc: Value = serde_json::from_str(&stack.ok("status", &["--json", "--alarm-email", "ops@example.com"]))
        .expect("status --json is JSON");
    assert_eq!(doc["converged"], true, "{doc:#}");
    for k in [
        "ALBDnsName",
        "CloudWatchDashboardUrl",
        "ECSClusterName",
        "ECSServiceName",
    ] {
        assert_eq!(doc["outputs"][k], outputs[k].as_str(), "{k}");
    }
    assert_eq!(
        doc["details"]["ecs_service"]["desired"], 0,
        "no image yet: {:#}",
        doc["details"]
    );
    assert!(doc["details"]["target_health"].is_object(), "{:#}", doc["details"]);
}

/// A changed rule, listener and alarm: `status` says drifted, `up`
/// repairs exactly those three.
pub async fn check_drift_is_reported_and_repaired(aws: &provision::aws::Clients, stack: &Stack, traffic: &Traffic) {
    let s = &stack.suffix;
    let topic = alarm_topic(stack);
    let Traffic {
        blue,
        listener_arn,
        rule_arn,
        ..
    } = traffic;
    // ------------------------------------------------ drift is reported and repaired
    use aws_sdk_elasticloadbalancingv2::types::{PathPatternConditionConfig, RuleCondition};
    aws.elb
        .modify_rule()
        .rule_arn(rule_arn)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().values("/api/*").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.elb
        .modify_listener()
        .listener_arn(listener_arn)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(blue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(format!("alarm-cpu-{s}"))
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("ClusterName")
                .value(stack.name("ecs", "api"))
                .build(),
        )
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("ServiceName")
                .value(stack.name("svc", "api"))
                .build(),
        )
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(2)
        .threshold(99.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let out = stack.run("status", &["--json", "--alarm-email", "ops@example.com"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "drift makes status exit 3: {}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let drifted: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "drifted")
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    for step in ["rule-api", "listener-http", "alarm-cpu"] {
        assert!(drifted.contains(&step), "{step} not drifted: {drifted:?}");
    }
    let out = stack.ok_output("up", &["--alarm-email", "ops@example.com"]);
    assert_eq!(up_counts(&out), (0, 3), "{}", stderr(&out));
    let rules = aws.elb.describe_rules().rule_arns(rule_arn).send().await.unwrap();
    let paths = rules.rules()[0].conditions()[0]
        .path_pattern_config()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(paths, ["/api/*", "/health"]);
    let ls = aws
        .elb
        .describe_listeners()
        .listener_arns(listener_arn)
        .send()
        .await
        .unwrap();
    assert!(ls.listeners()[0].default_actions()[0].fixed_response_config().is_some());
    let a = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(format!("alarm-cpu-{s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.metric_alarms()[0].threshold(), Some(80.0));
    assert_eq!(a.metric_alarms()[0].alarm_actions(), std::slice::from_ref(&topic));
}
