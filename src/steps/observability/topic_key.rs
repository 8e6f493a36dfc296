//! The customer managed KMS key the alarm topic is encrypted with (unless
//! `--kms-key-arn` names the operator's own, whose policy
//! [`super::key_grants`] checks instead). APIs: `CreateKey`,
//! `CreateAlias`, `UpdateAlias`, `ListAliases`, `DescribeKey`,
//! `ListResourceTags`, `GetKeyPolicy`, `PutKeyPolicy`, `EnableKey`,
//! `ScheduleKeyDeletion`, `DeleteAlias`.
//!
//! Why a key of our own: CloudWatch cannot publish alarm notifications to a
//! topic encrypted with the AWS managed key `alias/aws/sns`, whose policy
//! cannot be changed to let the `cloudwatch.amazonaws.com` service principal
//! use it. The SNS developer guide ("Key management", section "Enable
//! compatibility between event sources from AWS services and encrypted
//! topics", <https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services>)
//! asks for a customer managed key whose policy allows the publishing
//! service `kms:GenerateDataKey*` and `kms:Decrypt`.
//!
//! KMS has no tag filter on `ListKeys`, so the key is found by its alias
//! `alias/kms-alarms-{suffix}` (`ListAliases`, then `DescribeKey`), and its
//! `provision:step` tags are checked before it is adopted. `down` schedules
//! the key for deletion after the shortest window KMS allows (7 days) and
//! deletes the alias; a key pending deletion counts as gone.

use crate::aws::{tags, AwsError, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use serde_json::{json, Value};

/// The service that publishes alarm notifications to the topic.
pub const CLOUDWATCH: &str = "cloudwatch.amazonaws.com";
/// SNS itself, which encrypts and decrypts the topic's messages.
pub const SNS: &str = "sns.amazonaws.com";
/// The name of the one key policy KMS keys have.
pub const KEY_POLICY_NAME: &str = "default";
/// The shortest pending-deletion window KMS accepts (7–30 days).
pub const DELETION_WINDOW_DAYS: i32 = 7;

/// The key id of a key ARN (`arn:…:key/{id}`); every KMS call accepts it,
/// where some (and moto) take no ARN.
pub fn key_id(arn: &str) -> &str {
    arn.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(arn)
}

/// `alias/kms-alarms-{suffix}`.
pub fn alias_name(suffix: &str) -> String {
    format!("alias/{}-{suffix}", ids::KMS_ALARMS)
}

/// The key policy: the account root may do everything (the default policy
/// KMS gives a key, so IAM policies keep working and the key stays
/// manageable), CloudWatch and SNS acting for this account may use the key
/// to encrypt and decrypt the topic's messages, and CloudWatch Logs in this
/// region may use it for the stack's own log groups only (the encryption
/// context names the log group; CloudWatch Logs User Guide, "Encrypt log
/// data in CloudWatch Logs using AWS KMS", step 2).
pub fn key_policy(partition: &str, region: &str, account: &str, suffix: &str) -> Value {
    let groups: Vec<String> = log_group_patterns(suffix)
        .iter()
        .map(|g| format!("arn:{partition}:logs:{region}:{account}:log-group:{g}"))
        .collect();
    json!({
        "Version": "2012-10-17",
        "Id": ids::KMS_ALARMS,
        "Statement": [
            {
                "Sid": "AccountRootManages",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "AlarmNotificationsUseKey",
                "Effect": "Allow",
                "Principal": {"Service": [CLOUDWATCH, SNS]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}}
            },
            {
                "Sid": "StackLogGroupsUseKey",
                "Effect": "Allow",
                "Principal": {"Service": format!("logs.{region}.amazonaws.com")},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": groups}}
            }
        ]
    })
}

/// The names of the stack's log groups (in its region), as patterns.
pub fn log_group_patterns(suffix: &str) -> Vec<String> {
    vec![
        format!("/provision/{suffix}/*"),
        format!("/aws/rds/cluster/aurora-catalog-{suffix}/*"),
    ]
}

pub struct TopicKey;

impl TopicKey {
    fn alias(cx: &Ctx) -> String {
        alias_name(cx.suffix().as_str())
    }

    /// Automatic rotation, yearly (KMS's default period): a key that never
    /// rotates is what AWS Security Hub's KMS.4 flags.
    async fn rotate(cx: &Ctx, key: &str) -> StepResult<()> {
        cx.aws
            .kms
            .enable_key_rotation()
            .key_id(key)
            .send()
            .await
            .aws("EnableKeyRotation")?;
        Ok(())
    }

    async fn policy(cx: &Ctx) -> StepResult<Value> {
        Ok(key_policy(
            crate::aws::partition(cx.region()),
            cx.region(),
            &cx.account_id().await?,
            cx.suffix().as_str(),
        ))
    }
}

#[async_trait]
impl Step for TopicKey {
    fn id(&self) -> &str {
        ids::KMS_ALARMS
    }
    fn kind(&self) -> &'static str {
        "kms-key"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let alias = Self::alias(cx);
        let aliases = cx
            .aws
            .kms
            .list_aliases()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .aws("ListAliases")?;
        let Some(key_id) = aliases
            .iter()
            .find(|a| a.alias_name() == Some(alias.as_str()))
            .and_then(|a| a.target_key_id())
        else {
            return Ok(None);
        };
        let Some(out) = cx
            .aws
            .kms
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .aws("DescribeKey")
            .or_not_found()?
        else {
            return Ok(None);
        };
        let Some(meta) = out.key_metadata() else {
            return Ok(None);
        };
        let state = meta.key_state().cloned().unwrap_or(KeyState::Enabled);
        if matches!(state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
            return Ok(None);
        }
        let tags = cx
            .aws
            .kms
            .list_resource_tags()
            .key_id(meta.key_id())
            .send()
            .await
            .aws("ListResourceTags")?;
        let tag = |k: &str| tags.tags().iter().find(|t| t.tag_key() == k).map(|t| t.tag_value());
        if !cx.owns(ids::KMS_ALARMS, tag) {
            return Err(AwsError::custom(
                "ListResourceTags",
                "NotOwned",
                format!(
                    "{alias} names key {} that is not tagged as this stack's {}; hint: delete the alias or pick \
                     another --suffix",
                    meta.key_id(),
                    ids::KMS_ALARMS
                ),
            ));
        }
        let rotation = cx
            .aws
            .kms
            .get_key_rotation_status()
            .key_id(meta.key_id())
            .send()
            .await
            .aws("GetKeyRotationStatus")?;
        let arn = meta.arn().unwrap_or_default();
        Ok(Some(
            Record::new(arn)
                .with("arn", arn)
                .with("alias", &alias)
                .with("state", state.as_str())
                .with("rotation", rotation.key_rotation_enabled().to_string()),
        ))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let alias = Self::alias(cx);
        let out = cx
            .aws
            .kms
            .create_key()
            .description(format!(
                "provision: the stack key of {} (alarm topic, log groups, Performance Insights)",
                cx.suffix()
            ))
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .policy(Self::policy(cx).await?.to_string())
            .set_tags(Some(tags::kms(cx.tags(&alias, ids::KMS_ALARMS))?))
            .send()
            .await
            .aws("CreateKey")?;
        let meta = out
            .key_metadata()
            .ok_or_else(|| AwsError::custom("CreateKey", "EmptyResponse", "no key in the response"))?;
        let created = cx
            .aws
            .kms
            .create_alias()
            .alias_name(&alias)
            .target_key_id(meta.key_id())
            .send()
            .await
            .aws("CreateAlias");
        match created {
            // Left behind pointing at a key that is pending deletion.
            Err(e) if e.code_is("AlreadyExistsException") => {
                cx.aws
                    .kms
                    .update_alias()
                    .alias_name(&alias)
                    .target_key_id(meta.key_id())
                    .send()
                    .await
                    .aws("UpdateAlias")?;
            }
            r => {
                r?;
            }
        }
        Self::rotate(cx, meta.key_id()).await?;
        let arn = meta.arn().unwrap_or_default();
        Ok(Record::new(arn)
            .with("arn", arn)
            .with("alias", alias)
            .with("state", KeyState::Enabled.as_str())
            .with("rotation", "true"))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        if rec.attr("state") == Some(KeyState::Disabled.as_str()) {
            drift.push("key is disabled (wants enabled)".to_string());
            if fix {
                cx.aws
                    .kms
                    .enable_key()
                    .key_id(key_id(&rec.id))
                    .send()
                    .await
                    .aws("EnableKey")?;
            }
        }
        if rec.attr("rotation") != Some("true") {
            drift.push("automatic key rotation is off (wants on)".to_string());
            if fix {
                Self::rotate(cx, key_id(&rec.id)).await?;
            }
        }
        let want = Self::policy(cx).await?;
        let have = cx
            .aws
            .kms
            .get_key_policy()
            .key_id(key_id(&rec.id))
            .policy_name(KEY_POLICY_NAME)
            .send()
            .await
            .aws("GetKeyPolicy")?;
        let have: Option<Value> = have.policy().and_then(|p| serde_json::from_str(p).ok());
        if have.as_ref() != Some(&want) {
            drift.push("key policy differs".into());
            if fix {
                cx.aws
                    .kms
                    .put_key_policy()
                    .key_id(key_id(&rec.id))
                    .policy_name(KEY_POLICY_NAME)
                    .policy(want.to_string())
                    .send()
                    .await
                    .aws("PutKeyPolicy")?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Scheduled first: should the alias delete fail, the next `down`
        // still finds the key by its alias and sees it pending deletion.
        let scheduled = cx
            .aws
            .kms
            .schedule_key_deletion()
            .key_id(key_id(&rec.id))
            .pending_window_in_days(DELETION_WINDOW_DAYS)
            .send()
            .await
            .aws("ScheduleKeyDeletion")
            .or_not_found();
        match scheduled {
            // Already pending deletion.
            Err(e) if e.code_is("KMSInvalidStateException") => {}
            r => {
                r?;
            }
        }
        cx.aws
            .kms
            .delete_alias()
            .alias_name(Self::alias(cx))
            .send()
            .await
            .aws("DeleteAlias")
            .or_not_found()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_policy_keeps_the_account_in_control_and_lets_cloudwatch_and_sns_use_the_key() {
        let p = key_policy("aws", "ap-southeast-2", "123456789012", "dev1");
        let st = p["Statement"].as_array().unwrap();
        assert!(st
            .iter()
            .any(|s| s["Principal"]["AWS"] == "arn:aws:iam::123456789012:root"
                && s["Action"] == "kms:*"
                && s["Effect"] == "Allow"));
        let use_key = st
            .iter()
            .find(|s| s["Principal"]["Service"].as_array().is_some())
            .unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(use_key["Principal"]["Service"], json!([CLOUDWATCH, SNS]));
        assert_eq!(use_key["Action"], json!(["kms:Decrypt", "kms:GenerateDataKey*"]));
        assert_eq!(
            use_key["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert!(crate::steps::observability::missing_grants(&p, CLOUDWATCH).is_empty());
        assert!(crate::steps::observability::missing_grants(&p, SNS).is_empty());
        assert_eq!(
            key_policy("aws-cn", "cn-north-1", "1", "d")["Statement"][0]["Principal"]["AWS"],
            "arn:aws-cn:iam::1:root"
        );
        let logs = &st[2];
        assert_eq!(logs["Principal"]["Service"], "logs.ap-southeast-2.amazonaws.com");
        assert_eq!(
            logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"],
            json!([
                "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/*",
                "arn:aws:logs:ap-southeast-2:123456789012:log-group:/aws/rds/cluster/aurora-catalog-dev1/*"
            ])
        );
        assert_eq!(alias_name("dev1"), "alias/kms-alarms-dev1");
        assert_eq!(
            key_id("arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab"),
            "1234abcd-12ab"
        );
        assert_eq!(key_id("1234abcd-12ab"), "1234abcd-12ab");
    }
}
