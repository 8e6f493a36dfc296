//! What is recorded with a stack in its state bucket
//! (`stacks/{suffix}/settings.json`): the settings the last `up` or
//! `deploy` was asked for, the account and region the stack is bound to,
//! the image last rolled out and the ones before it. Never a secret value:
//! secrets are recorded by ARN.

use super::bucket::{Condition, ObjectStore, Written};
use crate::aws::AwsError;
use crate::config::layers::Values;
use serde::{Deserialize, Serialize};

/// How many past deployments are kept for `rollback`.
pub const HISTORY: usize = 20;

/// The key of the record of `suffix`.
pub fn settings_key(suffix: &str) -> String {
    format!("stacks/{suffix}/settings.json")
}

/// The key of the state (the steps' records) of `suffix`.
pub fn state_key(suffix: &str) -> String {
    format!("stacks/{suffix}/state.json")
}

/// The key of the lock of `suffix`.
pub fn lock_key(suffix: &str) -> String {
    format!("stacks/{suffix}/lock.json")
}

/// An image rolled out on the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The image URI the app container runs.
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub task_definition: String,
    /// `deploy`, `rollback` or `up`.
    pub command: String,
    /// When (RFC 3339) and by whom (`user@host`).
    pub at: String,
    pub by: String,
}

/// The record of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    pub version: u32,
    pub suffix: String,
    pub account: String,
    pub region: String,
    /// Every setting, in the stack file's form (see [`crate::config::layers`]).
    pub settings: Values,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Deployment>,
    /// Earlier deployments, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Deployment>,
    pub updated: String,
    pub updated_by: String,
}

impl StackRecord {
    /// Makes `d` the deployed image, keeping the one before in the history.
    pub fn deployed(&mut self, d: Deployment) {
        if let Some(prev) = self.deployed.take() {
            if prev.task_definition != d.task_definition {
                self.history.insert(0, prev);
                self.history.truncate(HISTORY);
            }
        }
        self.deployed = Some(d);
    }
}

/// Now, in RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Reads the record of `suffix`, with its ETag; `None` when there is none.
pub async fn load(store: &dyn ObjectStore, suffix: &str) -> Result<Option<(StackRecord, String)>, AwsError> {
    let key = settings_key(suffix);
    let Some(obj) = store.get(&key).await? else {
        return Ok(None);
    };
    let rec: StackRecord = serde_json::from_slice(&obj.body).map_err(|e| {
        AwsError::custom(
            "GetObject",
            "UnreadableRecord",
            format!("{key} is not a record this version of provision can read ({e}); restore an earlier version of it from the bucket's version history"),
        )
    })?;
    Ok(Some((rec, obj.etag)))
}

/// Writes the record, only over the version read (`etag`), or only where
/// there is none (`None`): a record changed since it was read is never
/// overwritten.
pub async fn save(store: &dyn ObjectStore, rec: &StackRecord, etag: Option<&str>) -> Result<String, AwsError> {
    let key = settings_key(&rec.suffix);
    let body = serde_json::to_vec_pretty(rec).expect("record serializes");
    let condition = match etag {
        Some(e) => Condition::Matches(e.to_owned()),
        None => Condition::Absent,
    };
    match store.put(&key, body, condition).await? {
        Written::Done(etag) => Ok(etag),
        Written::Conflict => Err(AwsError::custom(
            "PutObject",
            "PreconditionFailed",
            format!("{key} was changed by another run since this one read it; run the command again"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(td: &str) -> Deployment {
        Deployment {
            image: format!("repo:{td}"),
            tag: Some(td.into()),
            digest: None,
            task_definition: td.into(),
            command: "deploy".into(),
            at: now_rfc3339(),
            by: "ana@laptop".into(),
        }
    }

    #[test]
    fn deployments_push_the_previous_one_into_a_bounded_history() {
        let mut r = StackRecord {
            version: 1,
            suffix: "dev1".into(),
            account: "123456789012".into(),
            region: "ap-southeast-2".into(),
            settings: Values::new(),
            deployed: None,
            history: Vec::new(),
            updated: now_rfc3339(),
            updated_by: "ana@laptop".into(),
        };
        r.deployed(dep("td:1"));
        r.deployed(dep("td:1"));
        assert!(r.history.is_empty(), "the same revision again is no new history");
        for n in 2..30 {
            r.deployed(dep(&format!("td:{n}")));
        }
        assert_eq!(r.deployed.as_ref().unwrap().task_definition, "td:29");
        assert_eq!(r.history.len(), HISTORY);
        assert_eq!(r.history[0].task_definition, "td:28");
        assert!(now_rfc3339().ends_with('Z'));
    }
}
