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
mod topic;

pub use alarm::Alarm;
pub use alarm_spec::{alarm_doc, alarm_spec, spec_doc, AlarmSpec, Dims, Source, M};
pub use dashboard::{dashboard_body, Dashboard};
pub use topic::{topic_policy, Topic};

use super::{ids, Ctx, StepRef};
use crate::config::Settings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The AWS-managed SNS key, used unless `--kms-key-arn` names a customer key.
pub const SNS_MANAGED_KEY: &str = "alias/aws/sns";

/// The alarm purposes, in the order the steps are declared.
pub const ALARMS: [&str; 5] = ["cpu", "tasks", "5xx", "unhealthy", "db-cpu"];

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    let mut s: Vec<StepRef> = vec![Arc::new(Topic)];
    for purpose in ALARMS {
        s.push(Arc::new(Alarm { purpose }));
    }
    s.push(Arc::new(Dashboard));
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
