//! Whether a KMS key policy lets a service publish to an SNS topic
//! encrypted with the key: the pure check, and `GetKeyPolicy` for the
//! operator's `--kms-key-arn` that the alarm topic is to use. The grants
//! are the ones the SNS developer guide asks of a key for AWS services that
//! publish to encrypted topics ("Key management", "Enable compatibility
//! between event sources from AWS services and encrypted topics",
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services>):
//! `kms:GenerateDataKey*` and `kms:Decrypt`.

use super::topic_key::{CLOUDWATCH, KEY_POLICY_NAME};
use crate::aws::{AwsError, AwsResultExt};
use crate::steps::{Ctx, StepResult};
use serde_json::Value;

/// What a publisher needs of the key: the API it calls, and the grant the
/// SNS guide tells to add for it.
const PUBLISH_NEEDS: [(&str, &str); 2] = [
    ("kms:Decrypt", "kms:Decrypt"),
    ("kms:GenerateDataKey", "kms:GenerateDataKey*"),
];

/// A string or a list of strings, as policy elements may be written.
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's action wildcards (`*`, `?`), case-insensitive.
fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

fn names_service(statement: &Value, service: &str) -> bool {
    match statement.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(p @ Value::Object(_)) => {
            strings(p.get("AWS")).contains(&"*") || strings(p.get("Service")).contains(&service)
        }
        _ => false,
    }
}

fn covers_action(statement: &Value, action: &str) -> bool {
    if statement.get("Action").is_some() {
        strings(statement.get("Action")).iter().any(|p| glob(p, action))
    } else if statement.get("NotAction").is_some() {
        !strings(statement.get("NotAction")).iter().any(|p| glob(p, action))
    } else {
        false
    }
}

/// The grants a key policy lacks for `service` to publish to a topic
/// encrypted with the key (`kms:Decrypt`, `kms:GenerateDataKey*`), empty
/// when it has them. An `Allow` naming the service (or everyone) counts
/// whatever its conditions; an unconditional `Deny` takes a grant away.
pub fn missing_grants(policy: &Value, service: &str) -> Vec<&'static str> {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    };
    let effect = |s: &Value, e: &str| s.get("Effect").and_then(Value::as_str) == Some(e);
    PUBLISH_NEEDS
        .iter()
        .filter(|(action, _)| {
            let applies = |s: &&&Value| names_service(s, service) && covers_action(s, action);
            let allowed = statements.iter().filter(|s| effect(s, "Allow")).any(|s| applies(&s));
            let denied = statements
                .iter()
                .filter(|s| effect(s, "Deny") && s.get("Condition").is_none())
                .any(|s| applies(&s));
            !allowed || denied
        })
        .map(|(_, grant)| *grant)
        .collect()
}

/// Fails, naming what is missing, unless the policy of the operator's key
/// `key` lets CloudWatch publish to a topic encrypted with it.
pub async fn check_operator_key(cx: &Ctx, key: &str) -> StepResult<()> {
    let out = cx
        .aws
        .kms
        .get_key_policy()
        .key_id(key)
        .policy_name(KEY_POLICY_NAME)
        .send()
        .await
        .aws("GetKeyPolicy")?;
    let policy: Value = out
        .policy()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let missing = missing_grants(&policy, CLOUDWATCH);
    if missing.is_empty() {
        return Ok(());
    }
    Err(AwsError::custom(
        "GetKeyPolicy",
        "KeyPolicyMissingGrant",
        format!(
            "the key policy of --kms-key-arn {key} does not allow {CLOUDWATCH} {}: CloudWatch could not publish \
             alarm notifications to the topic encrypted with it; hint: add a statement allowing the service \
             principal {CLOUDWATCH} kms:Decrypt and kms:GenerateDataKey* to the key policy, or run without \
             --kms-key-arn so the topic gets a key of its own",
            missing.join(" and ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_operator_key_without_the_cloudwatch_grant_is_named_as_missing_it() {
        // The default policy KMS gives a key: the root only. IAM policies
        // cannot grant a service principal, so CloudWatch is left out.
        let root_only = json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*"
        }]});
        assert_eq!(
            missing_grants(&root_only, CLOUDWATCH),
            ["kms:Decrypt", "kms:GenerateDataKey*"]
        );

        let decrypt_only = json!({"Statement": {
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH},
            "Action": "kms:Decrypt",
            "Resource": "*"
        }});
        assert_eq!(missing_grants(&decrypt_only, CLOUDWATCH), ["kms:GenerateDataKey*"]);

        let other_service = json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*"
        }]});
        assert_eq!(missing_grants(&other_service, CLOUDWATCH).len(), 2);

        let wildcard = json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": ["sns.amazonaws.com", CLOUDWATCH]},
            "Action": ["KMS:decrypt", "kms:GenerateDataKey"],
            "Resource": "*"
        }]});
        assert!(missing_grants(&wildcard, CLOUDWATCH).is_empty());

        let denied = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"Service": CLOUDWATCH}, "Action": "kms:GenerateDataKey*", "Resource": "*"}
        ]});
        assert_eq!(missing_grants(&denied, CLOUDWATCH), ["kms:GenerateDataKey*"]);

        assert_eq!(missing_grants(&Value::Null, CLOUDWATCH).len(), 2);
    }

    #[test]
    fn action_wildcards_match_like_iam() {
        assert!(glob("kms:*", "kms:Decrypt"));
        assert!(glob("kms:GenerateDataKey*", "kms:GenerateDataKey"));
        assert!(glob("*", "kms:Decrypt"));
        assert!(glob("kms:De?rypt", "KMS:DECRYPT"));
        assert!(!glob("kms:Encrypt", "kms:Decrypt"));
        assert!(!glob("kms:GenerateDataKeyPair*", "kms:GenerateDataKey"));
    }
}
