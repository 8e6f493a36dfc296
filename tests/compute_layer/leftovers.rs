//! What `down` must leave of the compute layer: nothing. Looked up by
//! name through the SDK, so a duplicate or a leftover shows.

use crate::common::*;

/// What of this layer is left for the suffix.
pub async fn compute_leftovers(aws: &provision::aws::Clients, stack: &Stack) -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(o) = aws
        .elb
        .describe_load_balancers()
        .names(stack.name("alb", "api"))
        .send()
        .await
    {
        left.extend(
            o.load_balancers()
                .iter()
                .map(|l| format!("load balancer {:?}", l.load_balancer_name())),
        );
    }
    for c in ["blue", "green"] {
        if let Ok(o) = aws.elb.describe_target_groups().names(stack.name("tg", c)).send().await {
            left.extend(
                o.target_groups()
                    .iter()
                    .map(|t| format!("target group {:?}", t.target_group_name())),
            );
        }
    }
    let clusters = aws
        .ecs
        .describe_clusters()
        .clusters(stack.name("ecs", "api"))
        .send()
        .await
        .unwrap();
    left.extend(
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .map(|c| format!("cluster {:?}", c.cluster_name())),
    );
    if let Ok(s) = aws
        .ecs
        .describe_services()
        .cluster(stack.name("ecs", "api"))
        .services(stack.name("svc", "api"))
        .send()
        .await
    {
        left.extend(
            s.services()
                .iter()
                .filter(|s| s.status() == Some("ACTIVE"))
                .map(|s| format!("service {:?}", s.service_name())),
        );
    }
    left.extend(
        active_task_definitions(aws, &stack.name("task", "api"))
            .await
            .into_iter()
            .map(|t| format!("task definition {t}")),
    );
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    left.extend(
        targets
            .scalable_targets()
            .iter()
            .filter(|t| t.resource_id().ends_with(&format!("/svc-api-{}", stack.suffix)))
            .map(|t| format!("scalable target {}", t.resource_id())),
    );
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("alarm-")
        .send()
        .await
        .unwrap();
    left.extend(
        alarms
            .metric_alarms()
            .iter()
            .filter(|a| {
                a.alarm_name()
                    .unwrap_or_default()
                    .ends_with(&format!("-{}", stack.suffix))
            })
            .map(|a| format!("alarm {:?}", a.alarm_name())),
    );
    if aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(stack.name("dashboard", "api"))
        .send()
        .await
        .is_ok()
    {
        left.push("dashboard".into());
    }
    let topics = aws.sns.list_topics().send().await.unwrap();
    left.extend(
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .filter(|a| a.ends_with(&format!(":sns-alarms-{}", stack.suffix)))
            .map(|a| format!("topic {a}")),
    );
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    left.extend(
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(&format!("s3-alblogs-{}-", stack.suffix)))
            .map(|n| format!("bucket {n}")),
    );
    left
}
