//! `provision status` for people: the table of steps (state, id, drift),
//! then the families' details (`steps::details`) in sentences and small
//! tables: the service, target health, alarms, the database, the registry,
//! auto scaling. `--json` keeps the structured data; this is only its
//! rendering, and it never prints a raw JSON value.

use crate::ops::StepStatus;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A JSON value as plain text: strings bare, `null` as `-`, an object as
/// `k=v k=v` (nested ones in parentheses), a list as `a, b`, nothing as
/// `none`; never braces.
fn text(v: &Value) -> String {
    match v {
        Value::Object(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", nested(v)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Array(a) if !a.is_empty() => a.iter().map(nested).collect::<Vec<_>>().join(", "),
        Value::Object(_) | Value::Array(_) => "none".into(),
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        // 70.0 reads as 70.
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A value inside an object or list: lists and objects in parentheses.
fn nested(v: &Value) -> String {
    match v {
        Value::Object(m) if !m.is_empty() => format!("({})", text(v)),
        Value::Array(a) if a.len() > 1 => format!("({})", text(v)),
        _ => text(v),
    }
}

/// A line a family wrote (a drift, an error) with the JSON values in it
/// (`source is {"metric": ...}`) turned into plain text.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(['{', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let mut values = serde_json::Deserializer::from_str(tail).into_iter::<Value>();
        match values.next() {
            Some(Ok(v)) => {
                out.push_str(&text(&v));
                rest = &tail[values.byte_offset()..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn field<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get(k).unwrap_or(&Value::Null)
}

fn s(v: &Value, k: &str) -> String {
    text(field(v, k))
}

/// `task-api-dev1:3` from a task definition ARN.
fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn error_of(v: &Value) -> Option<String> {
    v.get("error").map(text)
}

fn service(out: &mut String, v: &Value) {
    if let Some(e) = error_of(v) {
        let _ = writeln!(out, "Service: could not describe it: {e}");
        return;
    }
    let state = match field(v, "rollout_state") {
        Value::Null => "no rollout state".to_owned(),
        r => text(r),
    };
    let _ = writeln!(
        out,
        "Service {}: {} of {} tasks running, {} pending; deployment {} {state} ({} deployment(s))",
        s(v, "service"),
        s(v, "running"),
        s(v, "desired"),
        s(v, "pending"),
        s(v, "deployment"),
        s(v, "deployments"),
    );
    let td = v
        .get("task_definition")
        .and_then(Value::as_str)
        .map(short_td)
        .unwrap_or("-");
    let _ = writeln!(out, "  task definition {td}, image {}", s(v, "image"));
    if let Some(sd) = v.get("service_deployment").and_then(Value::as_str) {
        let _ = writeln!(out, "  service deployment {sd}");
    }
}

fn target_health(out: &mut String, v: &Value) {
    let Some(groups) = v.as_object() else { return };
    let _ = writeln!(out, "Target health:");
    for (tg, counts) in groups {
        let line = match (error_of(counts), counts.as_object()) {
            (Some(e), _) => format!("could not describe: {e}"),
            (None, Some(c)) if c.is_empty() => "no targets registered".into(),
            (None, Some(c)) => c
                .iter()
                .map(|(state, n)| format!("{} {state}", text(n)))
                .collect::<Vec<_>>()
                .join(", "),
            (None, None) => text(counts),
        };
        let _ = writeln!(out, "  {tg:<10} {line}");
    }
}

fn alarms(out: &mut String, v: &Value) {
    if let Some(e) = error_of(v) {
        let _ = writeln!(out, "Alarms: could not describe them: {e}");
        return;
    }
    let Some(list) = v.as_object() else { return };
    let count = |state: &str| {
        list.values()
            .filter(|a| a.get("state").and_then(Value::as_str) == Some(state))
            .count()
    };
    let _ = writeln!(
        out,
        "Alarms: {} in ALARM, {} OK, {} INSUFFICIENT_DATA",
        count("ALARM"),
        count("OK"),
        count("INSUFFICIENT_DATA")
    );
    for (name, a) in list {
        let reason = match field(a, "reason") {
            Value::Null => String::new(),
            r => format!("  {}", text(r)),
        };
        let _ = writeln!(out, "  {:<17} {name}{reason}", s(a, "state"));
    }
}

fn database(out: &mut String, v: &Value) {
    let _ = writeln!(
        out,
        "Database {}: {}, Aurora PostgreSQL {}",
        s(v, "cluster"),
        s(v, "status"),
        s(v, "engine_version")
    );
    if let Some(inst) = v.get("instances").and_then(Value::as_object) {
        let mut rows: Vec<(&String, &Value)> = inst.iter().collect();
        // The writer first.
        rows.sort_by_key(|(id, i)| (i.get("role").and_then(Value::as_str) != Some("writer"), *id));
        for (id, i) in rows {
            let insights = match i.get("performance_insights") {
                Some(Value::Bool(true)) => "  Performance Insights on",
                Some(Value::Bool(false)) => "  Performance Insights OFF",
                _ => "",
            };
            let _ = writeln!(
                out,
                "  {:<7} {id}  {}  {}{insights}",
                s(i, "role"),
                s(i, "status"),
                s(i, "az")
            );
        }
    }
}

fn registry(out: &mut String, v: &Value) {
    if let Some(e) = error_of(v) {
        let _ = writeln!(out, "Registry {}: could not list images: {e}", s(v, "repository"));
        return;
    }
    let newest = match field(v, "newest_tag") {
        Value::Null => "no tagged image".to_owned(),
        t => format!("newest tag {}", text(t)),
    };
    let _ = writeln!(
        out,
        "Registry {}: {} image(s), {newest}",
        s(v, "repository"),
        s(v, "image_count")
    );
}

fn autoscaling(out: &mut String, v: &Value) {
    let _ = writeln!(
        out,
        "Auto scaling: {} to {} tasks, target {}% average CPU",
        s(v, "min"),
        s(v, "max"),
        s(v, "cpu_target")
    );
}

fn edge(out: &mut String, v: &Value) {
    if let Some(e) = error_of(v) {
        let _ = writeln!(out, "Edge {}: {e}", s(v, "id"));
        return;
    }
    let enabled = if v.get("enabled") == Some(&Value::Bool(true)) {
        "enabled"
    } else {
        "DISABLED"
    };
    let _ = writeln!(
        out,
        "Edge: CloudFront distribution {} {}, {enabled}, at {}",
        s(v, "id"),
        s(v, "status"),
        s(v, "url")
    );
    let waf = match field(v, "web_acl") {
        Value::String(w) if !w.is_empty() => w.rsplit('/').nth(1).unwrap_or(w).to_owned(),
        _ => "no web ACL".to_owned(),
    };
    let _ = writeln!(out, "  domain {}, firewall {waf}", s(v, "domain"));
}

/// The whole human status.
pub fn render(rows: &[StepStatus], details: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<24} {:<20} {:<9} ID", "STEP", "KIND", "STATE");
    for r in rows {
        let _ = writeln!(
            out,
            "{:<24} {:<20} {:<9} {}",
            r.step,
            r.kind,
            r.state,
            r.id.as_deref().unwrap_or("-")
        );
        for d in &r.drift {
            let _ = writeln!(out, "{:<24}   drift: {}", "", plain(d));
        }
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{:<24}   error: {}", "", plain(e));
        }
    }
    let count = |state: &str| rows.iter().filter(|r| r.state == state).count();
    let _ = writeln!(
        out,
        "{} present, {} missing, {} drifted, {} not checked",
        count("present"),
        count("missing"),
        count("drifted"),
        count("error")
    );
    type Section = fn(&mut String, &Value);
    let known: [(&str, Section); 7] = [
        ("edge", edge),
        ("ecs_service", service),
        ("target_health", target_health),
        ("alarms", alarms),
        ("database", database),
        ("ecr", registry),
        ("autoscaling", autoscaling),
    ];
    if !details.is_empty() {
        out.push('\n');
    }
    for (key, show) in known {
        if let Some(v) = details.get(key) {
            show(&mut out, v);
        }
    }
    // Facts a family added that this view does not know yet: plain k=v.
    for (k, v) in details.iter().filter(|(k, _)| known.iter().all(|(key, _)| key != k)) {
        let _ = writeln!(out, "{k}: {}", text(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(step: &str, state: &str, drift: &[&str]) -> StepStatus {
        StepStatus {
            step: step.into(),
            kind: "ecs-service",
            state: state.into(),
            id: (state != "missing").then(|| format!("{step}-id")),
            attrs: BTreeMap::new(),
            drift: drift.iter().map(|d| d.to_string()).collect(),
            error: None,
        }
    }

    #[test]
    fn the_details_read_as_sentences_and_tables_without_json() {
        let details: BTreeMap<String, Value> = [
            ("autoscaling", json!({"min": "2", "max": "10", "cpu_target": 70.0})),
            (
                "database",
                json!({"cluster": "aurora-catalog-dev1", "status": "available", "engine_version": "16.6", "instances": {
                    "aurora-catalog-reader-dev1": {"status": "available", "role": "reader", "az": "ap-southeast-2b"},
                    "aurora-catalog-writer-dev1": {"status": "available", "role": "writer", "az": "ap-southeast-2a", "performance_insights": true}}}),
            ),
            ("ecr", json!({"repository": "1.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1", "image_count": 2, "newest_tag": "v2"})),
            (
                "ecs_service",
                json!({"service": "svc-api-dev1", "desired": 2, "running": 1, "pending": 1,
                    "task_definition": "arn:aws:ecs:ap-southeast-2:1:task-definition/task-api-dev1:3",
                    "image": "1.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1:v2", "deployment": "ecs-svc/42",
                    "rollout_state": "IN_PROGRESS", "service_deployment": null, "deployments": 2}),
            ),
            ("target_health", json!({"tg-blue": {"healthy": 2, "draining": 1}, "tg-green": {}})),
            (
                "alarms",
                json!({"alarm-cpu-dev1": {"state": "OK", "reason": "Threshold Crossed: 1 datapoint"},
                       "alarm-5xx-dev1": {"state": "ALARM", "reason": null},
                       "alarm-tasks-dev1": {"state": "INSUFFICIENT_DATA", "reason": "no data"}}),
            ),
            ("future", json!({"a": {"b": [1, 2]}})),
            (
                "edge",
                json!({"id": "E2QWRUHEXAMPLE", "status": "Deployed", "enabled": true, "domain": "d111.cloudfront.net",
                       "web_acl": "arn:aws:wafv2:us-east-1:1:global/webacl/waf-api-dev1/abc", "url": "https://d111.cloudfront.net"}),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let rows = vec![
            row("ecs-service", "drifted", &["desired count 3 (wants 2)"]),
            row("alarm-cpu", "missing", &[]),
        ];
        let out = render(&rows, &details);
        assert!(!out.contains('{') && !out.contains('}'), "{out}");
        for want in [
            "   drift: desired count 3 (wants 2)",
            "0 present, 1 missing, 1 drifted, 0 not checked",
            "Service svc-api-dev1: 1 of 2 tasks running, 1 pending; deployment ecs-svc/42 IN_PROGRESS (2 deployment(s))",
            "  task definition task-api-dev1:3, image 1.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1:v2",
            "  tg-blue    2 healthy, 1 draining",
            "  tg-green   no targets registered",
            "Alarms: 1 in ALARM, 1 OK, 1 INSUFFICIENT_DATA",
            "  ALARM             alarm-5xx-dev1",
            "  OK                alarm-cpu-dev1  Threshold Crossed: 1 datapoint",
            "Database aurora-catalog-dev1: available, Aurora PostgreSQL 16.6",
            "Registry 1.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1: 2 image(s), newest tag v2",
            "Auto scaling: 2 to 10 tasks, target 70% average CPU",
            "future: a=(b=(1, 2))",
            "Edge: CloudFront distribution E2QWRUHEXAMPLE Deployed, enabled, at https://d111.cloudfront.net",
            "  domain d111.cloudfront.net, firewall waf-api-dev1",
        ] {
            assert!(out.contains(want), "missing {want:?} in:\n{out}");
        }
        let writer = out
            .find("writer  aurora-catalog-writer-dev1  available  ap-southeast-2a  Performance Insights on")
            .unwrap();
        let reader = out
            .find("reader  aurora-catalog-reader-dev1  available  ap-southeast-2b")
            .unwrap();
        assert!(writer < reader, "{out}");
    }

    #[test]
    fn json_in_a_drift_line_reads_as_plain_text() {
        assert_eq!(
            plain(r#"source is {"metric":{"namespace":"AWS/ECS","dims":[["ClusterName","c1"],["ServiceName","s1"]],"stat":"Average"}} (wants {"expression":"m1"})"#),
            "source is metric=(namespace=AWS/ECS dims=((ClusterName, c1), (ServiceName, s1)) stat=Average) (wants expression=m1)"
        );
        assert_eq!(
            plain(r#"alarm_actions is [] (wants ["arn:aws:sns:x:1:t"])"#),
            "alarm_actions is none (wants arn:aws:sns:x:1:t)"
        );
        assert_eq!(plain("threshold is 80.0 (wants 2.0)"), "threshold is 80.0 (wants 2.0)");
        assert_eq!(plain("broken {json"), "broken {json");
    }

    #[test]
    fn errors_in_details_are_sentences_too() {
        let details: BTreeMap<String, Value> = [
            ("ecs_service", json!({"error": "service not active"})),
            (
                "ecr",
                json!({"repository": "r", "error": "DescribeImages failed: AccessDenied"}),
            ),
            ("target_health", json!({"tg-blue": {"error": "TargetGroupNotFound"}})),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let out = render(&[], &details);
        assert!(
            out.contains("Service: could not describe it: service not active"),
            "{out}"
        );
        assert!(
            out.contains("Registry r: could not list images: DescribeImages failed: AccessDenied"),
            "{out}"
        );
        assert!(
            out.contains("tg-blue    could not describe: TargetGroupNotFound"),
            "{out}"
        );
        assert!(!out.contains('{'), "{out}");
    }
}
