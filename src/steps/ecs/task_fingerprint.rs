//! The drift comparison of the task definition: the managed fields of a
//! revision reduced to a normalised fingerprint, so a definition described
//! by DescribeTaskDefinition (AWS's defaults filled in) compares equal to
//! the one RegisterTaskDefinition was sent. Pure code, no AWS calls.

use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinition};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The managed fields of a task definition, normalised so a described one
/// (with AWS's defaults filled in) compares equal to the one we register.
pub fn fingerprint(
    cpu: Option<&str>,
    memory: Option<&str>,
    exec_role: Option<&str>,
    task_role: Option<&str>,
    containers: &[ContainerDefinition],
) -> Value {
    let mut cs: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut env: Vec<(String, String)> = c
                .environment()
                .iter()
                .map(|e| {
                    (
                        e.name().unwrap_or_default().to_owned(),
                        e.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            env.sort();
            let mut secrets: Vec<(String, String)> = c
                .secrets()
                .iter()
                .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
                .collect();
            secrets.sort();
            let ports: Vec<(i32, String)> = c
                .port_mappings()
                .iter()
                .map(|p| {
                    (
                        p.container_port().unwrap_or(0),
                        p.protocol().map(|p| p.as_str()).unwrap_or("tcp").to_owned(),
                    )
                })
                .collect();
            let log = c.log_configuration().map(|l| {
                let opts: BTreeMap<&String, &String> = l.options().map(|o| o.iter().collect()).unwrap_or_default();
                json!({"driver": l.log_driver().as_str(), "options": opts})
            });
            let health = c.health_check().map(|h| {
                json!({
                    "command": h.command(),
                    "interval": h.interval().unwrap_or(30),
                    "timeout": h.timeout().unwrap_or(5),
                    "retries": h.retries().unwrap_or(3),
                    "start": h.start_period().unwrap_or(0),
                })
            });
            let deps: Vec<(String, String)> = c
                .depends_on()
                .iter()
                .map(|d| (d.container_name().to_owned(), d.condition().as_str().to_owned()))
                .collect();
            let mounts: Vec<(String, String)> = c
                .mount_points()
                .iter()
                .map(|m| {
                    (
                        m.source_volume().unwrap_or_default().to_owned(),
                        m.container_path().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            json!({
                "name": c.name(),
                "image": c.image(),
                "essential": c.essential().unwrap_or(true),
                "command": c.command(),
                "ports": ports,
                "environment": env,
                "secrets": secrets,
                "log": log,
                "health": health,
                "stop_timeout": c.stop_timeout(),
                "readonly": c.readonly_root_filesystem().unwrap_or(false),
                "depends_on": deps,
                "mounts": mounts,
                "memory_reservation": c.memory_reservation(),
            })
        })
        .collect();
    cs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "cpu": cpu,
        "memory": memory,
        "execution_role": exec_role,
        "task_role": task_role,
        "containers": cs,
    })
}

pub fn described_fingerprint(td: &TaskDefinition) -> Value {
    fingerprint(
        td.cpu(),
        td.memory(),
        td.execution_role_arn(),
        td.task_role_arn(),
        td.container_definitions(),
    )
}

/// What differs between two fingerprints, field by field (for the drift
/// message; the comparison itself is plain equality).
pub fn fingerprint_diff(have: &Value, want: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["cpu", "memory", "execution_role", "task_role"] {
        if have[k] != want[k] {
            out.push(format!("{k} {} (wants {})", have[k], want[k]));
        }
    }
    let empty = Vec::new();
    let hc = have["containers"].as_array().unwrap_or(&empty);
    for w in want["containers"].as_array().unwrap_or(&empty) {
        let name = w["name"].as_str().unwrap_or("?");
        match hc.iter().find(|h| h["name"] == w["name"]) {
            None => out.push(format!("container {name} missing")),
            Some(h) => {
                if let (Some(ho), Some(wo)) = (h.as_object(), w.as_object()) {
                    for (k, wv) in wo {
                        if ho.get(k) != Some(wv) {
                            if k == "image" {
                                out.push(format!(
                                    "container {name} image {} (wants {wv})",
                                    ho.get(k).unwrap_or(&Value::Null)
                                ));
                            } else {
                                out.push(format!("container {name} {k} differs"));
                            }
                        }
                    }
                }
            }
        }
    }
    if hc.len() != want["containers"].as_array().map(Vec::len).unwrap_or(0) {
        out.push("the set of containers differs".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::ecs::task_inputs::sample_inputs;

    #[test]
    fn a_described_definition_with_aws_defaults_has_the_same_fingerprint() {
        let i = sample_inputs();
        let want = i.desired_fingerprint().unwrap();
        // What DescribeTaskDefinition returns: same containers, plus defaults.
        let described: Vec<ContainerDefinition> = i
            .containers()
            .unwrap()
            .into_iter()
            .map(|mut c| {
                c.cpu = 0;
                c.volumes_from = Some(vec![]);
                c.mount_points = Some(c.mount_points().to_vec());
                if let Some(env) = c.environment.as_mut() {
                    env.reverse();
                }
                if let Some(ports) = c.port_mappings.as_mut() {
                    for p in ports {
                        p.host_port = p.container_port;
                    }
                }
                c
            })
            .collect();
        let have = fingerprint(
            Some("512"),
            Some("1024"),
            Some(&i.exec_role),
            Some(&i.task_role),
            &described,
        );
        assert_eq!(have, want);
        let mut v2 = i.clone();
        v2.image = v2.image.replace(":v1", ":v2");
        let diff = fingerprint_diff(&want, &v2.desired_fingerprint().unwrap());
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert!(diff[0].contains("image"), "{diff:?}");
    }
}
