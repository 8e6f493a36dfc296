//! `secret-db-connection`: the Secrets Manager secret that tells the app
//! how to reach the database, no password (`CreateSecret`,
//! `PutSecretValue`, `GetSecretValue`, `UpdateSecret`, `RestoreSecret`,
//! `DeleteSecret`).

use super::credentials_secret::external_username;
use super::discovery::{secret_tag, secrets};
use super::{DB_NAME, MASTER_USERNAME};
use crate::aws::{tags, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::network::DB_PORT;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The JSON the app reads to connect (no password: that is in the
/// credentials secret).
pub fn connection_value(host: &str, port: u16, username: &str) -> Value {
    json!({"host": host, "port": port, "dbname": DB_NAME, "username": username, "sslmode": "require"})
}

/// Keys whose values differ between two JSON objects (names only).
fn differing_keys(have: &Value, want: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let h = have.as_object().unwrap_or(&empty);
    let w = want.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = h.keys().chain(w.keys()).collect();
    keys.into_iter().filter(|k| h.get(*k) != w.get(*k)).cloned().collect()
}

/// `secret-db-connection`: `db-connection-{suffix}`.
pub struct ConnectionSecret;

impl ConnectionSecret {
    /// `db-connection-{suffix}`.
    ///
    /// Secrets Manager makes a secret's ARN from its name, a hyphen and six
    /// random characters, and advises "Do not end your secret name with a
    /// hyphen followed by six characters. If you do so, you risk confusion
    /// and unexpected results when searching for a secret by partial ARN"
    /// (Secrets Manager API Reference, CreateSecret `Name`). This name does
    /// end so when the suffix's last part has six characters (`stage1`,
    /// `pr-123456`). It is kept (existing stacks are found by it), which is
    /// safe because the tool never uses a partial ARN: the record, the task
    /// execution role's policy and the task definition carry the complete
    /// ARN that `CreateSecret`/`ListSecrets` return, and the only lookups
    /// by name (`RestoreSecret`, `DescribeSecret` after a conflict) use the
    /// exact name, which the same documentation recommends ("use the
    /// complete ARN or the name of the secret").
    pub(super) fn name(cx: &Ctx) -> String {
        cx.name("db", "connection")
    }

    async fn wanted(&self, cx: &Ctx) -> StepResult<String> {
        let c = cx.rec(ids::DB_CLUSTER)?;
        let username = match external_username(cx).await? {
            Some(u) => u.as_str().to_owned(),
            None => c.attr("master_username").unwrap_or(MASTER_USERNAME).to_owned(),
        };
        let port = c.attr("port").and_then(|p| p.parse().ok()).unwrap_or(DB_PORT as u16);
        let host = cx.attr(ids::DB_CLUSTER, "endpoint")?;
        Ok(connection_value(&host, port, &username).to_string())
    }

    async fn put_value(&self, cx: &Ctx, id: &str, value: String) -> StepResult<()> {
        cx.aws
            .secrets
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .aws("PutSecretValue")?;
        Ok(())
    }
}

#[async_trait]
impl Step for ConnectionSecret {
    fn id(&self) -> &str {
        ids::SECRET_DB_CONNECTION
    }
    fn kind(&self) -> &'static str {
        "secret"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![Dep::id(ids::DB_CLUSTER)]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = Self::name(cx);
        Ok(secrets(cx)
            .await?
            .iter()
            .find(|s| s.name() == Some(name.as_str()) && cx.owns(ids::SECRET_DB_CONNECTION, |k| secret_tag(s, k)))
            .map(|s| {
                let arn = s.arn().unwrap_or_default();
                let mut r = Record::new(arn).with("arn", arn).with("name", &name);
                if let Some(k) = s.kms_key_id() {
                    r = r.with("kms_key", k);
                }
                r
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = Self::name(cx);
        let value = self.wanted(cx).await?;
        let r = cx
            .aws
            .secrets
            .create_secret()
            .name(&name)
            .description(format!(
                "How the catalog API of {} connects to its database (no password)",
                cx.suffix()
            ))
            .set_kms_key_id(cx.settings.kms_key_arn.clone())
            .secret_string(value.clone())
            .set_tags(Some(tags::secrets(cx.tags(&name, ids::SECRET_DB_CONNECTION))))
            .send()
            .await
            .aws("CreateSecret");
        let arn = match r {
            Ok(o) => o.arn().unwrap_or_default().to_owned(),
            Err(e)
                if e.code_is("ResourceExistsException")
                    || (e.code_is("InvalidRequestException") && e.message.contains("scheduled for deletion")) =>
            {
                // Left by an earlier run (or scheduled for deletion by hand):
                // bring it back and give it the right value.
                if e.code_is("InvalidRequestException") {
                    cx.aws
                        .secrets
                        .restore_secret()
                        .secret_id(&name)
                        .send()
                        .await
                        .aws("RestoreSecret")?;
                }
                let d = cx
                    .aws
                    .secrets
                    .describe_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .aws("DescribeSecret")?;
                let arn = d.arn().unwrap_or_default().to_owned();
                self.put_value(cx, &arn, value).await?;
                arn
            }
            Err(e) => return Err(e),
        };
        Ok(Record::new(&arn).with("arn", arn).with("name", name))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want_text = self.wanted(cx).await?;
        let want: Value = serde_json::from_str(&want_text).unwrap_or(Value::Null);
        let have = cx
            .aws
            .secrets
            .get_secret_value()
            .secret_id(&rec.id)
            .send()
            .await
            .aws("GetSecretValue")
            .or_not_found()?;
        let have: Value = have
            .and_then(|o| o.secret_string().and_then(|s| serde_json::from_str(s).ok()))
            .unwrap_or(Value::Null);
        let keys = differing_keys(&have, &want);
        if !keys.is_empty() {
            drift.push(format!("connection value differs in: {}", keys.join(", ")));
            if fix {
                self.put_value(cx, &rec.id, want_text).await?;
            }
        }
        if let (Some(want), have) = (&cx.settings.kms_key_arn, rec.attr("kms_key")) {
            if have != Some(want.as_str()) {
                drift.push(format!(
                    "encrypted with {}, --kms-key-arn is {want}",
                    have.unwrap_or("the AWS-managed key")
                ));
                if fix {
                    cx.aws
                        .secrets
                        .update_secret()
                        .secret_id(&rec.id)
                        .kms_key_id(want)
                        .send()
                        .await
                        .aws("UpdateSecret")?;
                }
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let r = cx
            .aws
            .secrets
            .delete_secret()
            .secret_id(&rec.id)
            .force_delete_without_recovery(true)
            .send()
            .await;
        r.aws("DeleteSecret").or_not_found()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::types::{SecretListEntry, Tag};
    use aws_smithy_mocks::mock;

    /// A context for `suffix` whose Secrets Manager client lists `entries`.
    fn listing(suffix: &str, entries: Vec<SecretListEntry>) -> Ctx {
        let rule = mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
            ListSecretsOutput::builder()
                .set_secret_list(Some(entries.clone()))
                .build()
        });
        let mut clients = crate::testing::offline_clients();
        clients.secrets = crate::testing::mocked_client!(aws_sdk_secretsmanager, [&rule]);
        let mut settings = crate::testing::settings(&[]);
        settings.suffix = crate::naming::Suffix::parse(suffix).unwrap();
        crate::testing::ctx_with(clients, settings)
    }

    #[tokio::test]
    async fn a_name_that_ends_like_an_arn_suffix_is_recorded_by_its_complete_arn() {
        // The longest suffix whose last part has six characters.
        let suffix = "abcde-fghijk";
        let name = format!("db-connection-{suffix}");
        let tail = &name[name.len() - 7..];
        assert!(tail.starts_with('-') && !tail[1..].contains('-'), "{tail}");
        // Another stack's secret whose ARN a partial ARN of ours would match.
        let other = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:db-connection-abcde-fghijk";
        let ours = format!("arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:{name}-AbCdEf");
        let entry = |name: &str, arn: &str, suffix: &str| {
            SecretListEntry::builder()
                .name(name)
                .arn(arn)
                .tags(Tag::builder().key(crate::naming::TAG_SUFFIX).value(suffix).build())
                .tags(
                    Tag::builder()
                        .key(crate::naming::TAG_STEP)
                        .value(ids::SECRET_DB_CONNECTION)
                        .build(),
                )
                .build()
        };
        let cx = listing(
            suffix,
            vec![
                entry("db-connection-abcde", other, "abcde"),
                entry(&name, &ours, suffix),
            ],
        );
        assert_eq!(ConnectionSecret::name(&cx), name);
        let rec = ConnectionSecret
            .find(&cx)
            .await
            .unwrap()
            .expect("found by name and tags");
        assert_eq!(rec.id, ours, "the record is the complete ARN");
        assert_eq!(rec.attr("arn"), Some(ours.as_str()));
        assert_eq!(rec.attr("name"), Some(name.as_str()));
    }

    #[test]
    fn connection_value_has_no_password_and_requires_tls() {
        let v = connection_value("db.example", 5432, "app");
        assert_eq!(v["host"], "db.example");
        assert_eq!(v["port"], 5432);
        assert_eq!(v["dbname"], "catalog");
        assert_eq!(v["username"], "app");
        assert_eq!(v["sslmode"], "require");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert!(!keys.iter().any(|k| k.contains("pass")), "{keys:?}");
    }

    #[test]
    fn drift_names_keys_not_values() {
        let have = connection_value("old.host", 5432, "app");
        let want = connection_value("new.host", 5432, "app");
        assert_eq!(differing_keys(&have, &want), ["host"]);
        assert!(differing_keys(&want, &want).is_empty());
        assert_eq!(differing_keys(&Value::Null, &want).len(), 5);
    }
}
