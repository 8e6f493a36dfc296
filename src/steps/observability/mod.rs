//! The alarm topic, alarms and the dashboard (compute layer).
//!
//! Five alarms, all named `alarm-{purpose}-{suffix}` and found with one
//! `DescribeAlarms` call by their names; each notifies the topic on ALARM
//! and on OK. One dashboard shows the service, the load balancer and the
//! database side by side.

mod alarm;
mod alarm_spec;
mod dashboard;
mod discovery;
mod key_grants;
mod topic;
mod topic_key;

pub use alarm::Alarm;
pub use alarm_spec::{alarm_doc, alarm_spec, spec_doc, AlarmSpec, Dims, Source, M};
pub use dashboard::{dashboard_body, Dashboard};
pub use key_grants::missing_grants;
pub use topic::{topic_policy, Topic};
pub use topic_key::{key_policy, TopicKey};

use super::{ids, Ctx, StepRef};
use crate::config::Settings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The alarm purposes, in the order the steps are declared.
pub const ALARMS: [&str; 5] = ["cpu", "tasks", "5xx", "unhealthy", "db-cpu"];

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    let mut s: Vec<StepRef> = Vec::new();
    // The topic's own key, unless the operator names one (`--kms-key-arn`).
    if settings.kms_key_arn.is_none() {
        s.push(Arc::new(TopicKey));
    }
    s.push(Arc::new(Topic::new(settings)));
    for purpose in ALARMS {
        s.push(Arc::new(Alarm { purpose }));
    }
    s.push(Arc::new(Dashboard {
        edge: settings.edge,
        waf: settings.waf,
    }));
    s
}

pub fn topic_name(cx: &Ctx) -> String {
    cx.name("sns", "alarms")
}

pub fn alarm_name(purpose: &str, suffix: &str) -> String {
    format!("alarm-{purpose}-{suffix}")
}

pub fn dashboard_name(cx: &Ctx) -> String {
    cx.name("dashboard", "api")
}

pub fn dashboard_url(region: &str, name: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}")
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(name) = cx.id_of(ids::DASHBOARD) {
        out.insert("CloudWatchDashboardUrl".into(), dashboard_url(cx.region(), &name));
    }
    if let Ok(topic) = cx.id_of(ids::SNS_ALARMS) {
        out.insert("AlarmTopicArn".into(), topic);
    }
}

/// Each alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) and why, for
/// `status`: the one `DescribeAlarms` answer the alarm steps found
/// themselves through.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, Value>) {
    let v = match discovery::alarms(cx).await {
        Ok(list) if list.is_empty() => return,
        Ok(list) => {
            let mut m = serde_json::Map::new();
            for a in list.iter() {
                m.insert(
                    a.alarm_name().unwrap_or_default().to_owned(),
                    json!({
                        "state": a.state_value().map(|s| s.as_str()),
                        "reason": a.state_reason(),
                    }),
                );
            }
            Value::Object(m)
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    out.insert("alarms".into(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_key_comes_first_unless_the_operator_names_one() {
        let ids_of = |flags: &[&str]| -> Vec<String> {
            steps(&crate::testing::settings(flags))
                .iter()
                .map(|s| s.id().to_owned())
                .collect()
        };
        let own = ids_of(&[]);
        assert_eq!(own[..2], [ids::KMS_ALARMS, ids::SNS_ALARMS]);
        assert_eq!(own.len(), 2 + ALARMS.len() + 1);
        let theirs = ids_of(&["--kms-key-arn", "arn:aws:kms:ap-southeast-2:123456789012:key/x"]);
        assert!(!theirs.iter().any(|i| i == ids::KMS_ALARMS));
        assert_eq!(theirs[0], ids::SNS_ALARMS);
    }
}
