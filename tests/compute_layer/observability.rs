//! The observability part of the complete stack: the alarm topic (with
//! its own key and the operator's subscription), the alarms, the dashboard.

use crate::alarm_topic;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Checks the topic, the five alarms and the dashboard.
pub async fn check_built(aws: &provision::aws::Clients, stack: &Stack) {
    let s = &stack.suffix;
    let topic = alarm_topic(stack);
    let ta = aws.sns.get_topic_attributes().topic_arn(&topic).send().await.unwrap();
    // The topic is encrypted with the stack's own customer managed key (its
    // policy lets CloudWatch publish), never with alias/aws/sns.
    let alias = aws
        .kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some(&format!("alias/kms-alarms-{s}")))
        .and_then(|a| a.target_key_id().map(str::to_owned))
        .expect("the alarm topic's key has its alias");
    let key_arn = key_arn(aws, &alias).await;
    assert_eq!(
        ta.attributes().unwrap().get("KmsMasterKeyId").map(String::as_str),
        Some(key_arn.as_str())
    );
    let subs = aws
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(subs
        .subscriptions()
        .iter()
        .any(|x| x.protocol() == Some("email") && x.endpoint() == Some("ops@example.com")));
    let names: Vec<String> = ["cpu", "tasks", "5xx", "unhealthy", "db-cpu"]
        .iter()
        .map(|p| format!("alarm-{p}-{s}"))
        .collect();
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.metric_alarms().len(), 5);
    for a in alarms.metric_alarms() {
        assert_eq!(a.alarm_actions(), std::slice::from_ref(&topic), "{:?}", a.alarm_name());
        assert_eq!(a.ok_actions(), std::slice::from_ref(&topic), "{:?}", a.alarm_name());
    }
    let by_name: BTreeMap<&str, &aws_sdk_cloudwatch::types::MetricAlarm> = alarms
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap(), a))
        .collect();
    let cpu = by_name[format!("alarm-cpu-{s}").as_str()];
    assert_eq!(
        (cpu.namespace(), cpu.metric_name(), cpu.threshold()),
        (Some("AWS/ECS"), Some("CPUUtilization"), Some(80.0))
    );
    assert_eq!((cpu.period(), cpu.evaluation_periods()), (Some(60), Some(2)));
    let tasks = by_name[format!("alarm-tasks-{s}").as_str()];
    assert_eq!(tasks.metric_name(), Some("RunningTaskCount"));
    assert_eq!(tasks.treat_missing_data(), Some("breaching"));
    let db = by_name[format!("alarm-db-cpu-{s}").as_str()];
    assert_eq!(db.namespace(), Some("AWS/RDS"));
    assert_eq!(db.dimensions()[0].name(), Some("DBClusterIdentifier"));
    let unhealthy = by_name[format!("alarm-unhealthy-{s}").as_str()];
    assert!(unhealthy
        .metrics()
        .iter()
        .any(|q| q.metric_stat().and_then(|m| m.metric()).and_then(|m| m.metric_name()) == Some("UnHealthyHostCount")));
    let dash = aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(stack.name("dashboard", "api"))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(dash.dashboard_body().unwrap()).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 7);
    // The stack's metrics in its region; the edge's (CloudFront, WAF) in
    // us-east-1, where those services publish them.
    for w in widgets {
        let metrics = w["properties"]["metrics"].to_string();
        let edge = metrics.contains("AWS/CloudFront") || metrics.contains("AWS/WAFV2");
        let want = if edge { "us-east-1" } else { REGION };
        assert_eq!(w["properties"]["region"], want, "{w}");
    }
    assert!(
        widgets
            .iter()
            .any(|w| w["properties"]["metrics"].to_string().contains("CacheHitRate")),
        "the edge's cache hit rate is on the dashboard"
    );
}
