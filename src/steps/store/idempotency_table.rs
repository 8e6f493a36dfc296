//! `ddb-idempotency-{suffix}`: the DynamoDB table where the API keeps the
//! `Idempotency-Key`s of writes and their answers for 24 hours. On-demand,
//! encrypted with the stack's key, point-in-time recovery, TTL on
//! `expires_at`, deletion protection with `--protect-data`. APIs:
//! `CreateTable`, `DescribeTable`, `ListTagsOfResource`, `UpdateTable`,
//! `UpdateTimeToLive` and `DescribeTimeToLive` (only once the table is
//! ACTIVE: DynamoDB API Reference, UpdateTimeToLive),
//! `UpdateContinuousBackups` and `DescribeContinuousBackups`,
//! `DeleteTable` (refused while `DeletionProtectionEnabled`).

use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, ScalarAttributeType,
    SseSpecification, SseType, TableDescription, TableStatus, TimeToLiveSpecification,
};
use std::time::Duration;

/// The table's partition key and the attribute its TTL reads (epoch
/// seconds), as the API (`container/app/idempotency.py`) uses them.
pub const PARTITION_KEY: &str = "pk";
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// `ddb-idempotency-{suffix}`: DynamoDB table names are 3-255 of
/// `[a-zA-Z0-9_.-]`, which any suffix meets.
pub fn table_name(cx: &Ctx) -> String {
    cx.name("ddb", "idempotency")
}

pub struct IdempotencyTable {
    /// Encrypted with the stack's own key (no `--kms-key-arn`).
    pub stack_key: bool,
}

impl IdempotencyTable {
    fn key(&self, cx: &Ctx) -> StepResult<String> {
        match &cx.settings.kms_key_arn {
            Some(k) => Ok(k.clone()),
            None => cx.attr(ids::KMS_ALARMS, "arn"),
        }
    }

    async fn describe(&self, cx: &Ctx) -> StepResult<Option<TableDescription>> {
        Ok(cx
            .aws
            .dynamodb
            .describe_table()
            .table_name(table_name(cx))
            .send()
            .await
            .aws("DescribeTable")
            .or_not_found()?
            .and_then(|o| o.table))
    }

    async fn active(&self, cx: &Ctx) -> StepResult<()> {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
            timeout: Duration::from_secs(10 * 60),
        };
        wait::poll("the table to become active", backoff, || async {
            Ok(self
                .describe(cx)
                .await?
                .filter(|t| t.table_status() == Some(&TableStatus::Active))
                .map(|_| ()))
        })
        .await
    }

    async fn set_ttl(&self, cx: &Ctx) -> StepResult<()> {
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .map_err(crate::aws::build_err)?;
        let r = cx
            .aws
            .dynamodb
            .update_time_to_live()
            .table_name(table_name(cx))
            .time_to_live_specification(spec)
            .send()
            .await
            .aws("UpdateTimeToLive");
        match r {
            // "TimeToLive is already enabled": a retry of our own call.
            Err(e) if e.code_is("ValidationException") && e.message.contains("already enabled") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn set_pitr(&self, cx: &Ctx) -> StepResult<()> {
        cx.aws
            .dynamodb
            .update_continuous_backups()
            .table_name(table_name(cx))
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(crate::aws::build_err)?,
            )
            .send()
            .await
            .aws("UpdateContinuousBackups")?;
        Ok(())
    }

    fn record(t: &TableDescription) -> Record {
        let sse = t.sse_description();
        Record::new(t.table_name().unwrap_or_default())
            .with("arn", t.table_arn().unwrap_or_default())
            .with("status", t.table_status().map(|s| s.as_str()).unwrap_or_default())
            .with(
                "kms",
                sse.filter(|s| s.sse_type() == Some(&SseType::Kms))
                    .and_then(|s| s.kms_master_key_arn())
                    .unwrap_or_default(),
            )
            .with(
                "billing",
                t.billing_mode_summary()
                    .and_then(|b| b.billing_mode())
                    .map(|b| b.as_str())
                    .unwrap_or("PROVISIONED"),
            )
            .with(
                "protected",
                t.deletion_protection_enabled().unwrap_or(false).to_string(),
            )
    }
}

#[async_trait]
impl Step for IdempotencyTable {
    fn id(&self) -> &str {
        ids::DDB_IDEMPOTENCY
    }
    fn kind(&self) -> &'static str {
        "dynamodb-table"
    }
    fn deps(&self) -> Vec<Dep> {
        if self.stack_key {
            vec![Dep::id(ids::KMS_ALARMS)]
        } else {
            Vec::new()
        }
    }
    fn timing(&self) -> Timing {
        Timing::secs(20, 0, 20).source(
            "DynamoDB Developer Guide: CreateTable returns CREATING, ACTIVE within seconds; TTL and PITR are set once ACTIVE",
        )
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let Some(t) = self.describe(cx).await? else {
            return Ok(None);
        };
        let arn = t.table_arn().unwrap_or_default();
        let out = cx
            .aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .aws("ListTagsOfResource")?;
        let tags = out.tags();
        let owned = cx.owns(ids::DDB_IDEMPOTENCY, |k| {
            tags.iter().find(|t| t.key() == k).map(|t| t.value())
        });
        if !owned {
            return Err(AwsError::custom(
                "ListTagsOfResource",
                "NotOwned",
                format!(
                    "the table {} exists but is not tagged as this stack's\n  hint: delete it, or pick another --suffix",
                    table_name(cx)
                ),
            ));
        }
        Ok(Some(Self::record(&t)))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = table_name(cx);
        let r = cx
            .aws
            .dynamodb
            .create_table()
            .table_name(&name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(PARTITION_KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(crate::aws::build_err)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(PARTITION_KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(crate::aws::build_err)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .sse_specification(
                SseSpecification::builder()
                    .enabled(true)
                    .sse_type(SseType::Kms)
                    .kms_master_key_id(self.key(cx)?)
                    .build(),
            )
            .deletion_protection_enabled(cx.settings.protect_data)
            .set_tags(Some(tags::dynamodb(cx.tags(&name, ids::DDB_IDEMPOTENCY))?))
            .send()
            .await
            .aws("CreateTable");
        match r {
            // A create whose answer was lost made it (the name is unique).
            Err(e) if e.code_is("ResourceInUseException") => {}
            r => {
                r?;
            }
        }
        // TTL and point-in-time recovery can be set only on an ACTIVE table.
        self.active(cx).await?;
        self.set_ttl(cx).await?;
        self.set_pitr(cx).await?;
        let t = self.describe(cx).await?.ok_or_else(|| {
            AwsError::custom("DescribeTable", "ResourceNotFoundException", format!("{name} vanished"))
        })?;
        Ok(Self::record(&t))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let name = table_name(cx);
        let ttl = cx
            .aws
            .dynamodb
            .describe_time_to_live()
            .table_name(&name)
            .send()
            .await
            .aws("DescribeTimeToLive")?;
        let ttl_on = ttl.time_to_live_description().is_some_and(|d| {
            d.attribute_name() == Some(TTL_ATTRIBUTE)
                && matches!(
                    d.time_to_live_status().map(|s| s.as_str()),
                    Some("ENABLED" | "ENABLING")
                )
        });
        let pitr = cx
            .aws
            .dynamodb
            .describe_continuous_backups()
            .table_name(&name)
            .send()
            .await
            .aws("DescribeContinuousBackups")?;
        let pitr_on = pitr
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .is_some_and(|s| s.as_str() == "ENABLED");
        let key = self.key(cx)?;
        let protect = cx.settings.protect_data.to_string();
        if !ttl_on {
            drift.push(format!(
                "TTL on {TTL_ATTRIBUTE} is off (wants on: keys expire after 24 hours)"
            ));
        }
        if !pitr_on {
            drift.push("point-in-time recovery is off (wants on)".into());
        }
        if rec.attr("kms") != Some(key.as_str()) {
            drift.push(format!(
                "encrypted with {} (wants {key})",
                rec.attr("kms")
                    .filter(|k| !k.is_empty())
                    .unwrap_or("DynamoDB's own key")
            ));
        }
        if rec.attr("billing") != Some("PAY_PER_REQUEST") {
            drift.push(format!(
                "billing is {} (wants on-demand)",
                rec.attr("billing").unwrap_or("unknown")
            ));
        }
        if rec.attr("protected") != Some(protect.as_str()) {
            drift.push(format!(
                "deletion protection is {} (wants {protect})",
                rec.attr("protected").unwrap_or("unknown")
            ));
        }
        if !fix || drift.is_empty() {
            return Ok(drift);
        }
        self.active(cx).await?;
        if !ttl_on {
            self.set_ttl(cx).await?;
        }
        if !pitr_on {
            self.set_pitr(cx).await?;
        }
        // One UpdateTable per change: DynamoDB takes one kind of update at
        // a time, each leaving the table UPDATING for a moment.
        if rec.attr("kms") != Some(key.as_str()) {
            let sse = SseSpecification::builder()
                .enabled(true)
                .sse_type(SseType::Kms)
                .kms_master_key_id(&key)
                .build();
            cx.aws
                .dynamodb
                .update_table()
                .table_name(&name)
                .sse_specification(sse)
                .send()
                .await
                .aws("UpdateTable")?;
            self.active(cx).await?;
        }
        let billing = rec.attr("billing") != Some("PAY_PER_REQUEST");
        let protection = rec.attr("protected") != Some(protect.as_str());
        if billing || protection {
            let mut u = cx.aws.dynamodb.update_table().table_name(&name);
            if billing {
                u = u.billing_mode(BillingMode::PayPerRequest);
            }
            if protection {
                u = u.deletion_protection_enabled(cx.settings.protect_data);
            }
            u.send().await.aws("UpdateTable")?;
        }
        Ok(drift)
    }

    async fn protection(&self, _cx: &Ctx, rec: &Record) -> StepResult<Option<String>> {
        Ok((rec.attr("protected") == Some("true"))
            .then(|| "the idempotency table has deletion protection (--protect-data)".to_string()))
    }

    async fn destroy(&self, cx: &Ctx, _rec: &Record) -> StepResult<()> {
        let name = table_name(cx);
        // Refused while it is being created or updated: retried.
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .dynamodb
                .delete_table()
                .table_name(&name)
                .send()
                .await
                .aws("DeleteTable")
                .map(|_| ())
        })
        .await?;
        wait::poll("the table to be deleted", Backoff::DRAIN, || async {
            Ok(self.describe(cx).await?.is_none().then_some(()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_name_fits_dynamodbs_rule() {
        let mut settings = crate::testing::settings(&[]);
        settings.suffix = crate::naming::Suffix::parse("abcdefghij-1").unwrap();
        let cx = crate::testing::ctx_with(crate::testing::offline_clients(), settings);
        let n = table_name(&cx);
        assert_eq!(n, "ddb-idempotency-abcdefghij-1");
        assert!((3..=255).contains(&n.len()));
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
    }

    #[tokio::test]
    async fn drift_names_every_audited_setting() {
        let cx = crate::testing::ctx(&[]);
        let key = "arn:aws:kms:ap-southeast-2:123456789012:key/k";
        cx.set_record(ids::KMS_ALARMS, Record::new(key).with("arn", key));
        let t = IdempotencyTable { stack_key: true };
        assert_eq!(t.deps(), [Dep::id(ids::KMS_ALARMS)]);
        let rec = Record::new("ddb-idempotency-dev1")
            .with("kms", "")
            .with("billing", "PROVISIONED")
            .with("protected", "true");
        assert_eq!(
            t.protection(&cx, &rec).await.unwrap().as_deref(),
            Some("the idempotency table has deletion protection (--protect-data)")
        );
        let fine = Record::new("ddb-idempotency-dev1")
            .with("kms", key)
            .with("billing", "PAY_PER_REQUEST")
            .with("protected", "false");
        assert_eq!(t.protection(&cx, &fine).await.unwrap(), None);
    }
}
