//! `secret-db-credentials`: the Secrets Manager secret with the database
//! username and password, owned by RDS (the cluster's `MasterUserSecret`)
//! or by the operator (`--db-secret-arn`, checked with `DescribeSecret` and
//! `GetSecretValue`); recorded, never created or deleted here.

use super::cluster_id;
use super::discovery::cluster;
use crate::aws::{AwsError, AwsResultExt, ErrorClass};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

/// The operator's `--db-secret-arn` resolved to its full ARN (DescribeSecret
/// only: finding and deleting never read its value).
async fn external_arn(cx: &Ctx) -> StepResult<Option<Arc<String>>> {
    let Some(id) = cx.settings.db_secret_arn.clone() else {
        return Ok(None);
    };
    let arn = cx
        .inventory
        .get("secrets:external-arn", || async {
            let out = cx.aws.secrets.describe_secret().secret_id(&id).send().await.aws("DescribeSecret");
            match out {
                Ok(o) => Ok(o.arn().unwrap_or(&id).to_owned()),
                Err(e) if e.is_not_found() => Err(AwsError::custom(
                    "DescribeSecret",
                    "DbSecretNotFound",
                    format!(
                        "the secret `{id}` given by --db-secret-arn does not exist in {}\n  \
                         hint: check the ARN or name and the region; nothing was created",
                        cx.region()
                    ),
                )),
                Err(e) if e.class() == ErrorClass::AccessDenied => Err(AwsError::custom(
                    "DescribeSecret",
                    "DbSecretNotReadable",
                    format!("the secret `{id}` given by --db-secret-arn cannot be read: {}\n  hint: allow secretsmanager:DescribeSecret and GetSecretValue on it; nothing was created", e.message),
                )),
                Err(e) => Err(e),
            }
        })
        .await?;
    Ok(Some(arn))
}

/// Checks a credentials secret's text: a JSON object with non-empty string
/// `username` and `password`. Returns the username only. The reasons never
/// quote the text.
pub fn parse_credentials(text: &str) -> Result<String, &'static str> {
    let v: Value = serde_json::from_str(text).map_err(|_| "is not JSON")?;
    let obj = v.as_object().ok_or("is not a JSON object")?;
    let username = obj
        .get("username")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("has no non-empty \"username\" string")?;
    obj.get("password")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("has no non-empty \"password\" string")?;
    Ok(username.to_owned())
}

/// Reads the operator's secret once to check it and learn its username;
/// the value itself is dropped here.
pub(super) async fn external_username(cx: &Ctx) -> StepResult<Option<Arc<String>>> {
    let Some(arn) = external_arn(cx).await? else {
        return Ok(None);
    };
    let username = cx
        .inventory
        .get("secrets:external-username", || async {
            let id = cx.settings.db_secret_arn.clone().unwrap_or_default();
            let out = cx.aws.secrets.get_secret_value().secret_id(arn.as_str()).send().await.aws("GetSecretValue");
            let out = match out {
                Ok(o) => o,
                Err(e) => {
                    return Err(AwsError::custom(
                        "GetSecretValue",
                        "DbSecretNotReadable",
                        format!(
                            "the secret `{id}` given by --db-secret-arn cannot be read: {}\n  \
                             hint: allow secretsmanager:GetSecretValue (and kms:Decrypt on its key); nothing was created",
                            e.message
                        ),
                    ))
                }
            };
            let parsed = match out.secret_string() {
                Some(text) => parse_credentials(text),
                None => Err("holds binary data, not JSON text"),
            };
            drop(out);
            parsed.map_err(|why| {
                AwsError::custom(
                    "GetSecretValue",
                    "DbSecretInvalid",
                    format!(
                        "the secret `{id}` given by --db-secret-arn {why}\n  \
                         hint: store {{\"username\": ..., \"password\": ...}} as its JSON text; nothing was created"
                    ),
                )
            })
        })
        .await?;
    Ok(Some(username))
}

/// `secret-db-credentials`: the secret with username and password, owned by
/// RDS or by the operator; never created or deleted here.
pub struct CredentialsSecret;

impl CredentialsSecret {
    async fn locate(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        if let Some(arn) = external_arn(cx).await? {
            return Ok(Some(
                Record::new(arn.as_str())
                    .with("arn", arn.as_str())
                    .with("source", "operator"),
            ));
        }
        // The cluster's record when this run has one (it may have just been
        // created), else the shared cluster describe.
        let arn = match cx.rec(ids::DB_CLUSTER) {
            Ok(r) => r.attr("master_secret_arn").map(str::to_owned),
            Err(_) => cluster(cx)
                .await?
                .and_then(|c| c.master_user_secret().and_then(|s| s.secret_arn()).map(str::to_owned)),
        };
        Ok(arn.map(|a| Record::new(&a).with("arn", a).with("source", "rds")))
    }
}

#[async_trait]
impl Step for CredentialsSecret {
    fn id(&self) -> &str {
        ids::SECRET_DB_CREDENTIALS
    }
    fn kind(&self) -> &'static str {
        "secret"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![Dep::id(ids::DB_CLUSTER)]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        self.locate(cx).await
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        self.locate(cx).await?.ok_or_else(|| {
            AwsError::custom(
                "Lookup",
                "NoMasterUserSecret",
                format!(
                    "{} has no RDS-managed master secret yet; run `provision up` again",
                    cluster_id(cx)
                ),
            )
        })
    }

    /// Never deletes: RDS deletes its secret with the cluster, and the
    /// operator's secret is theirs.
    async fn destroy(&self, _cx: &Ctx, _rec: &Record) -> StepResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_must_be_json_with_username_and_password_and_errors_never_quote_them() {
        assert_eq!(
            parse_credentials(r#"{"username":"app","password":"hunter2","engine":"postgres"}"#).unwrap(),
            "app"
        );
        for bad in [
            r#"{"username":"app"}"#,
            r#"{"password":"hunter2"}"#,
            "hunter2",
            r#"["hunter2"]"#,
            r#"{"username":"app","password":""}"#,
            r#"{"username":"app","password":7}"#,
        ] {
            let why = parse_credentials(bad).unwrap_err();
            assert!(!why.contains("hunter2") && !why.contains("app"), "{why}");
        }
    }
}
