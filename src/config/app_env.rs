//! The API container's own configuration: environment variables
//! (`--env KEY=VALUE`) and secrets by reference (`--secret
//! KEY=SECRET_ARN[:json-key]`). ECS injects a secret when a task starts,
//! through the task execution role; the tool only ever handles the ARN,
//! never the value.

use super::{flag_err, InputError};
use std::collections::BTreeMap;

/// Variables the task definition sets itself: the API and the collector
/// depend on them, so a setting may not replace them.
pub const RESERVED: &[&str] = &[
    "PORT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "AWS_REGION",
    "APP_ENV",
    "IDEMPOTENCY_TABLE",
    "DB_SSLMODE",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_SECRET_ARN",
    "DB_IAM_AUTH",
    "DB_APP_USER",
];

/// A secret the container gets as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's ARN (complete, or without the six random characters).
    pub arn: String,
    /// One key of a JSON secret, or the whole value.
    pub json_key: Option<String>,
}

impl SecretRef {
    /// ECS's `valueFrom` for a Secrets Manager secret:
    /// `arn:…:secret:NAME[:json-key:version-stage:version-id]` ("Pass
    /// Secrets Manager secrets through Amazon ECS environment variables",
    /// ECS developer guide).
    pub fn value_from(&self) -> String {
        match &self.json_key {
            Some(k) => format!("{}:{k}::", self.arn),
            None => self.arn.clone(),
        }
    }

    /// The IAM resources the task execution role needs `GetSecretValue`
    /// on: the ARN, and for a partial ARN (no random suffix) the ARN
    /// followed by Secrets Manager's `-` and six characters.
    pub fn policy_resources(&self) -> Vec<String> {
        vec![self.arn.clone(), format!("{}-??????", self.arn)]
    }
}

const KEY_HINT: &str = "names are 1-255 of A-Z a-z 0-9 _, not starting with a digit";

fn check_key(flag: &'static str, key: &str) -> Result<(), InputError> {
    let ok = !key.is_empty()
        && key.len() <= 255
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return Err(flag_err(flag, key, "not an environment variable name", KEY_HINT));
    }
    if RESERVED.contains(&key) || key.starts_with("AWS_") || key.starts_with("ECS_") {
        return Err(flag_err(
            flag,
            key,
            "the task definition sets this variable itself (the API and the collector depend on it)",
            "choose another name; AWS_* and ECS_* are reserved by AWS, and PORT, APP_ENV, IDEMPOTENCY_TABLE, OTEL_* and DB_* by the stack",
        ));
    }
    Ok(())
}

/// Checks the variables' names and sizes.
pub fn validate_env(env: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, InputError> {
    for (k, v) in env {
        check_key("env", k)?;
        // A task definition is at most 64 KiB in all (ECS service quotas).
        if v.len() > 8192 {
            return Err(flag_err(
                "env",
                k,
                "the value is longer than 8192 bytes",
                "keep large configuration in S3 or Secrets Manager and pass its location",
            ));
        }
    }
    Ok(env.clone())
}

/// Parses `SECRET_ARN[:json-key]` for each secret and checks it names a
/// Secrets Manager secret; a name may not be both a variable and a secret.
pub fn validate_secrets(
    secrets: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, SecretRef>, InputError> {
    const HINT: &str = "give KEY=arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME, optionally followed by :JSON-KEY";
    let mut out = BTreeMap::new();
    for (k, v) in secrets {
        check_key("secret", k)?;
        if env.contains_key(k) {
            return Err(flag_err(
                "secret",
                k,
                "is also given with --env",
                "a variable is either plain (--env) or a secret (--secret); remove one with --no-env or --no-secret",
            ));
        }
        let parts: Vec<&str> = v.split(':').collect();
        let ok = parts.len() >= 7
            && parts[0] == "arn"
            && parts[2] == "secretsmanager"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5] == "secret"
            && !parts[6].is_empty();
        if !ok || parts.len() > 8 || parts.get(7).is_some_and(|k| k.is_empty()) {
            return Err(flag_err(
                "secret",
                format!("{k}={v}"),
                "not a Secrets Manager secret ARN",
                HINT,
            ));
        }
        out.insert(
            k.clone(),
            SecretRef {
                arn: parts[..7].join(":"),
                json_key: parts.get(7).map(|s| (*s).to_owned()),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    const ARN: &str = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:payments-AbCdEf";

    #[test]
    fn secrets_are_arns_with_an_optional_json_key() {
        let s = validate_secrets(&map(&[("STRIPE_KEY", &format!("{ARN}:api_key"))]), &map(&[])).unwrap();
        let r = &s["STRIPE_KEY"];
        assert_eq!(r.arn, ARN);
        assert_eq!(r.json_key.as_deref(), Some("api_key"));
        assert_eq!(r.value_from(), format!("{ARN}:api_key::"));
        let s = validate_secrets(&map(&[("TOKEN", ARN)]), &map(&[])).unwrap();
        assert_eq!(s["TOKEN"].value_from(), ARN);
        assert_eq!(s["TOKEN"].policy_resources()[1], format!("{ARN}-??????"));
        for bad in [
            "payments",
            "arn:aws:ssm:ap-southeast-2:123456789012:parameter/x",
            "arn:aws:secretsmanager:ap-southeast-2:1234:secret:x",
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:x:",
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:x:k:stage",
        ] {
            let e = validate_secrets(&map(&[("K", bad)]), &map(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("--secret") && e.contains("hint:"), "{bad}: {e}");
        }
    }

    #[test]
    fn reserved_and_malformed_names_are_refused() {
        for bad in ["PORT", "DB_HOST", "AWS_REGION", "ECS_X", "1X", "A-B", ""] {
            let e = validate_env(&map(&[(bad, "v")])).unwrap_err().to_string();
            assert!(e.contains("--env") && e.contains("hint:"), "{bad}: {e}");
        }
        assert!(validate_env(&map(&[("FEATURE_FLAGS", "search,reviews")])).is_ok());
        let e = validate_secrets(&map(&[("X", ARN)]), &map(&[("X", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("also given with --env"), "{e}");
    }
}
