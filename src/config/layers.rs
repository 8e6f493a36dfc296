//! Where each setting comes from. Four layers, the first that gives a value
//! wins: the command line's flags, the stack file (`provision.toml`), the
//! settings recorded with the stack in AWS, and the documented defaults.
//! A flag changes a setting for this run and, once `up` (or `deploy`)
//! records it, from then on; `--no-…` and an empty value set it back to
//! its default explicitly.
//!
//! A layer is a JSON object in [`StackRequest`]'s serde form (kebab-case
//! keys). The `env` and `secrets` tables merge key by key, and a `null`
//! entry in one of them removes that key (`--no-env KEY`).

use super::{InputError, StackRequest};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Some settings, as a layer gives them.
pub type Values = Map<String, Value>;

/// The tables that merge key by key instead of being replaced whole.
const TABLES: &[&str] = &["env", "secrets"];

/// The layer a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Flag,
    File,
    Recorded,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "flag",
            Source::File => "stack file",
            Source::Recorded => "recorded",
            Source::Default => "default",
        })
    }
}

/// The request the layers add up to, and where each setting came from.
#[derive(Debug, Clone)]
pub struct Layered {
    pub request: StackRequest,
    pub sources: BTreeMap<String, Source>,
}

/// The settings of `request` as a layer (every key present).
pub fn values_of(request: &StackRequest) -> Values {
    match serde_json::to_value(request).expect("settings serialize") {
        Value::Object(m) => m,
        _ => unreachable!("a struct serializes to an object"),
    }
}

/// The setting names, as the stack file and `settings` spell them.
pub fn keys() -> Vec<String> {
    values_of(&StackRequest::default()).keys().cloned().collect()
}

/// The recorded settings of a stack, read as what was built: a stack
/// recorded before the edge existed has an internet-facing load balancer,
/// so it keeps it (`edge = false`) until an `up --edge` says otherwise,
/// rather than having its load balancer replaced by an upgrade of this tool.
pub fn recorded_before_edge(recorded: &Values) -> Values {
    let mut r = recorded.clone();
    if !r.is_empty() && !r.contains_key("edge") {
        r.insert("edge".into(), Value::Bool(false));
    }
    r
}

/// Stacks `layers` (highest first) over the defaults for `suffix`.
pub fn merge(suffix: &str, layers: &[(Source, &Values)]) -> Result<Layered, InputError> {
    let defaults = values_of(&StackRequest::default());
    let mut merged = defaults.clone();
    let mut sources: BTreeMap<String, Source> = merged.keys().map(|k| (k.clone(), Source::Default)).collect();
    for (source, layer) in layers.iter().rev() {
        for (k, v) in layer.iter() {
            if !merged.contains_key(k) {
                return Err(unknown_key(k, *source));
            }
            if TABLES.contains(&k.as_str()) {
                let Value::Object(entries) = v else {
                    return Err(bad_value(k, v, *source, "a table of NAME = value"));
                };
                let table = merged
                    .get_mut(k)
                    .and_then(Value::as_object_mut)
                    .expect("tables are objects");
                for (name, value) in entries {
                    if value.is_null() {
                        table.remove(name);
                    } else {
                        table.insert(name.clone(), value.clone());
                    }
                }
            } else if v.is_null() {
                merged.insert(k.clone(), defaults[k].clone());
            } else {
                merged.insert(k.clone(), v.clone());
            }
            sources.insert(k.clone(), *source);
        }
    }
    let mut request: StackRequest = serde_json::from_value(Value::Object(merged.clone())).map_err(|e| {
        // Name the key whose value has the wrong type, and its layer.
        let key = merged
            .keys()
            .find(|k| {
                let mut one = defaults.clone();
                one.insert((*k).clone(), merged[*k].clone());
                serde_json::from_value::<StackRequest>(Value::Object(one)).is_err()
            })
            .cloned()
            .unwrap_or_default();
        let source = sources.get(&key).copied().unwrap_or(Source::Default);
        bad_value(&key, merged.get(&key).unwrap_or(&Value::Null), source, &e.to_string())
    })?;
    request.suffix = suffix.to_owned();
    Ok(Layered { request, sources })
}

fn unknown_key(key: &str, source: Source) -> InputError {
    InputError::Setting {
        key: key.to_owned(),
        source_name: source.to_string(),
        reason: "no such setting".into(),
        hint: format!("the settings are: {}", keys().join(", ")),
    }
}

fn bad_value(key: &str, v: &Value, source: Source, reason: &str) -> InputError {
    InputError::Setting {
        key: key.to_owned(),
        source_name: source.to_string(),
        reason: format!("{v} is not a valid value: {reason}"),
        hint: format!(
            "the default is {}",
            values_of(&StackRequest::default()).get(key).unwrap_or(&Value::Null)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(v: Value) -> Values {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_record_which_beats_the_defaults() {
        let flags = layer(json!({"spot-percent": 50}));
        let file = layer(json!({"spot-percent": 20, "protect-data": true}));
        let rec = layer(json!({"spot-percent": 10, "protect-data": false, "log-retention-days": 90}));
        let l = merge(
            "dev1",
            &[(Source::Flag, &flags), (Source::File, &file), (Source::Recorded, &rec)],
        )
        .unwrap();
        assert_eq!(l.request.suffix, "dev1");
        assert_eq!(l.request.spot_percent, 50);
        assert!(l.request.protect_data);
        assert_eq!(l.request.log_retention_days, 90);
        assert_eq!(l.request.task_cpu, 512);
        assert_eq!(l.sources["spot-percent"], Source::Flag);
        assert_eq!(l.sources["protect-data"], Source::File);
        assert_eq!(l.sources["log-retention-days"], Source::Recorded);
        assert_eq!(l.sources["task-cpu"], Source::Default);
    }

    #[test]
    fn null_sets_a_value_back_to_its_default_and_tables_merge_by_key() {
        let rec = layer(json!({"certificate-arn": "arn:aws:acm:x:1:certificate/a", "env": {"A": "1", "B": "2"}}));
        let flags = layer(json!({"certificate-arn": null, "env": {"B": null, "C": "3"}}));
        let l = merge("dev1", &[(Source::Flag, &flags), (Source::Recorded, &rec)]).unwrap();
        assert_eq!(l.request.certificate_arn, None);
        assert_eq!(l.sources["certificate-arn"], Source::Flag);
        let env: Vec<(&str, &str)> = l.request.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "1"), ("C", "3")]);
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_layer_and_the_key() {
        let file = layer(json!({"protect_data": true}));
        let e = merge("dev1", &[(Source::File, &file)]).unwrap_err().to_string();
        assert!(e.contains("protect_data") && e.contains("stack file"), "{e}");
        assert!(
            e.contains("hint: the settings are:") && e.contains("protect-data"),
            "{e}"
        );
        let file = layer(json!({"spot-percent": "lots"}));
        let e = merge("dev1", &[(Source::File, &file)]).unwrap_err().to_string();
        assert!(
            e.contains("spot-percent") && e.contains("\"lots\"") && e.contains("default is 70"),
            "{e}"
        );
    }

    #[test]
    fn a_stack_recorded_before_the_edge_keeps_its_public_load_balancer() {
        let old = layer(json!({"spot-percent": 50}));
        let l = merge("dev1", &[(Source::Recorded, &recorded_before_edge(&old))]).unwrap();
        assert!(!l.request.edge);
        let flags = layer(json!({"edge": true}));
        let l = merge(
            "dev1",
            &[(Source::Flag, &flags), (Source::Recorded, &recorded_before_edge(&old))],
        )
        .unwrap();
        assert!(l.request.edge);
        let new = layer(json!({"edge": true}));
        assert_eq!(recorded_before_edge(&new), new);
        assert!(
            recorded_before_edge(&Values::new()).is_empty(),
            "a new stack gets the default"
        );
    }

    #[test]
    fn a_request_round_trips_through_its_values() {
        let mut r = StackRequest {
            suffix: "dev1".into(),
            ..StackRequest::default()
        };
        r.env.insert("A".into(), "1".into());
        r.kms_key_arn = Some("arn:aws:kms:ap-southeast-2:123456789012:key/k".into());
        let v = values_of(&r);
        assert!(!v.contains_key("suffix"));
        let back = merge("dev1", &[(Source::Recorded, &v)]).unwrap().request;
        assert_eq!(back, r);
    }
}
