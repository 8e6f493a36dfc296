//! The SNS topic alarms notify, with its publish policy, encryption key
//! and the `--alarm-email` subscription. APIs: `CreateTopic`,
//! `GetTopicAttributes`, `SetTopicAttributes`, `ListSubscriptionsByTopic`,
//! `Subscribe`, `Unsubscribe`, `DeleteTopic`, and `GetKeyPolicy` for an
//! operator's `--kms-key-arn`.

use super::key_grants::check_operator_key;
use super::topic_name;
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt, NotFoundExt};
use crate::config::Settings;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::{json, Value};

/// The publishers allowed: this account, and CloudWatch alarms of this
/// account; never over plain HTTP.
pub fn topic_policy(topic_arn: &str, account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerManages",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                    "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"
                ],
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}}
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }
        ]
    })
}

pub struct Topic {
    /// Encrypted with the key of the `kms-alarms` step (no `--kms-key-arn`).
    pub own_key: bool,
}

impl Topic {
    pub fn new(settings: &Settings) -> Self {
        Topic {
            own_key: settings.kms_key_arn.is_none(),
        }
    }

    /// The key the topic is encrypted with: the operator's `--kms-key-arn`,
    /// else the customer managed key of `kms-alarms`. Never the AWS managed
    /// `alias/aws/sns`: CloudWatch cannot publish to a topic encrypted with
    /// it (see [`super::topic_key`]).
    fn key(cx: &Ctx) -> StepResult<String> {
        match &cx.settings.kms_key_arn {
            Some(k) => Ok(k.clone()),
            None => cx.attr(ids::KMS_ALARMS, "arn"),
        }
    }

    /// The key, after checking that an operator's key lets CloudWatch use it.
    async fn checked_key(cx: &Ctx) -> StepResult<String> {
        let key = Self::key(cx)?;
        if cx.settings.kms_key_arn.is_some() {
            check_operator_key(cx, &key).await?;
        }
        Ok(key)
    }

    async fn arn(cx: &Ctx) -> StepResult<String> {
        cx.arn("sns", &topic_name(cx)).await
    }

    /// Subscribes `--alarm-email` if it is not subscribed yet, and removes
    /// other (confirmed) email subscriptions. Without the flag, existing
    /// subscriptions are left alone.
    async fn email_drift(cx: &Ctx, topic: &str, fix: bool) -> StepResult<Vec<String>> {
        let Some(email) = cx.settings.alarm_email.as_deref() else {
            return Ok(vec![]);
        };
        let subs = cx
            .aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .aws("ListSubscriptionsByTopic")?;
        let emails: Vec<_> = subs.iter().filter(|s| s.protocol() == Some("email")).collect();
        let mut drift = Vec::new();
        if !emails
            .iter()
            .any(|s| s.endpoint().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        {
            drift.push(format!("{email} is not subscribed"));
            if fix {
                cx.aws
                    .sns
                    .subscribe()
                    .topic_arn(topic)
                    .protocol("email")
                    .endpoint(email)
                    .return_subscription_arn(true)
                    .send()
                    .await
                    .aws("Subscribe")?;
            }
        }
        for s in emails
            .iter()
            .filter(|s| s.endpoint().is_some_and(|e| !e.eq_ignore_ascii_case(email)))
        {
            let endpoint = s.endpoint().unwrap_or_default();
            drift.push(format!("{endpoint} is subscribed but --alarm-email is {email}"));
            // A pending subscription has no ARN yet and cannot be removed.
            if let Some(arn) = s.subscription_arn().filter(|a| a.starts_with("arn:")) {
                if fix {
                    cx.aws
                        .sns
                        .unsubscribe()
                        .subscription_arn(arn)
                        .send()
                        .await
                        .aws("Unsubscribe")
                        .or_not_found()?;
                }
            }
        }
        Ok(drift)
    }
}

#[async_trait]
impl Step for Topic {
    fn id(&self) -> &str {
        ids::SNS_ALARMS
    }
    fn kind(&self) -> &'static str {
        "sns-topic"
    }
    fn deps(&self) -> Vec<Dep> {
        if self.own_key {
            vec![Dep::id(ids::KMS_ALARMS)]
        } else {
            vec![]
        }
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let arn = Self::arn(cx).await?;
        let out = cx
            .aws
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .aws("GetTopicAttributes")
            .or_not_found()?;
        Ok(out.map(|o| {
            let attrs = o.attributes().cloned().unwrap_or_default();
            let mut r = Record::new(&arn).with("arn", &arn);
            if let Some(k) = attrs.get("KmsMasterKeyId") {
                r = r.with("kms", k);
            }
            if let Some(p) = attrs.get("Policy") {
                r = r.with("policy", p);
            }
            r
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = topic_name(cx);
        let key = Self::checked_key(cx).await?;
        let arn = Self::arn(cx).await?;
        let account = cx.account_id().await?;
        let policy = topic_policy(&arn, &account).to_string();
        let tags = tags::sns(cx.tags(&name, ids::SNS_ALARMS))?;
        let out = cx
            .aws
            .sns
            .create_topic()
            .name(&name)
            .attributes("KmsMasterKeyId", &key)
            .attributes("Policy", &policy)
            .set_tags(Some(tags))
            .send()
            .await
            .aws("CreateTopic")?;
        let arn = out.topic_arn().unwrap_or(&arn).to_owned();
        Self::email_drift(cx, &arn, true).await?;
        Ok(Record::new(&arn)
            .with("arn", &arn)
            .with("kms", key)
            .with("policy", policy))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let key = Self::checked_key(cx).await?;
        if rec.attr("kms") != Some(key.as_str()) {
            drift.push(format!(
                "encryption key {} (wants {key})",
                rec.attr("kms").unwrap_or("none")
            ));
            if fix {
                cx.aws
                    .sns
                    .set_topic_attributes()
                    .topic_arn(&rec.id)
                    .attribute_name("KmsMasterKeyId")
                    .attribute_value(&key)
                    .send()
                    .await
                    .aws("SetTopicAttributes")?;
            }
        }
        let account = cx.account_id().await?;
        let want = topic_policy(&rec.id, &account);
        let have: Option<Value> = rec.attr("policy").and_then(|p| serde_json::from_str(p).ok());
        if have.as_ref() != Some(&want) {
            drift.push("topic policy differs".into());
            if fix {
                cx.aws
                    .sns
                    .set_topic_attributes()
                    .topic_arn(&rec.id)
                    .attribute_name("Policy")
                    .attribute_value(want.to_string())
                    .send()
                    .await
                    .aws("SetTopicAttributes")?;
            }
        }
        drift.extend(Self::email_drift(cx, &rec.id, fix).await?);
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .sns
                .delete_topic()
                .topic_arn(&rec.id)
                .send()
                .await
                .aws("DeleteTopic")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:ap-southeast-2:123456789012:sns-alarms-dev1";

    #[test]
    fn the_topic_policy_lets_cloudwatch_publish_over_tls_only() {
        let p = topic_policy(TOPIC, "123456789012");
        let st = p["Statement"].as_array().unwrap();
        assert!(st
            .iter()
            .any(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                && s["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"));
        assert!(st
            .iter()
            .any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));
    }

    #[test]
    fn the_topic_is_encrypted_with_the_stacks_own_key_not_the_aws_managed_one() {
        let key = "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let cx = crate::testing::ctx(&[]);
        let topic = Topic::new(&cx.settings);
        assert_eq!(topic.deps(), vec![Dep::id(ids::KMS_ALARMS)]);
        assert!(Topic::key(&cx).is_err(), "no key recorded yet");
        cx.set_record(ids::KMS_ALARMS, Record::new(key).with("arn", key));
        assert_eq!(Topic::key(&cx).unwrap(), key);
        assert_ne!(Topic::key(&cx).unwrap(), "alias/aws/sns");

        let theirs = "arn:aws:kms:ap-southeast-2:123456789012:key/operator";
        let cx = crate::testing::ctx(&["--kms-key-arn", theirs]);
        assert!(Topic::new(&cx.settings).deps().is_empty());
        assert_eq!(Topic::key(&cx).unwrap(), theirs);
    }
}
