//! CloudWatch Logs groups: the stack's own under `/provision/{suffix}/`
//! (app, tracing sidecar, VPC flow logs) and the one RDS writes the
//! database log to. Each has the stack's retention (`DescribeLogGroups`,
//! `CreateLogGroup`, `PutRetentionPolicy`, `DeleteLogGroup`).

use super::{ids, Ctx, Dep, Step, StepRef, StepResult};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt};
use crate::config::Settings;
use crate::state::Record;
use async_trait::async_trait;
use std::sync::Arc;

/// `/provision/{suffix}/{purpose}`.
pub fn group_name(suffix: &str, purpose: &str) -> String {
    format!("/provision/{suffix}/{purpose}")
}

/// Where RDS exports the `postgresql` log of the cluster.
pub fn db_group_name(cluster: &str) -> String {
    format!("/aws/rds/cluster/{cluster}/postgresql")
}

/// The log groups of the app layers (the VPC flow log group is declared
/// with the network).
pub fn steps(settings: &Settings) -> Vec<StepRef> {
    log_groups(settings)
        .into_iter()
        .map(|g| Arc::new(g) as StepRef)
        .collect()
}

fn log_groups(settings: &Settings) -> Vec<LogGroup> {
    let s = settings.suffix.as_str();
    vec![
        LogGroup::new(ids::LOG_APP, group_name(s, "app"), vec![]).encrypted(settings),
        LogGroup::new(ids::LOG_OTEL, group_name(s, "otel-collector"), vec![]).encrypted(settings),
        LogGroup::new(
            ids::LOG_DB,
            db_group_name(&crate::naming::name("aurora", "catalog", &settings.suffix)),
            vec![],
        )
        .encrypted(settings),
    ]
}

/// A CloudWatch Logs group with the stack's retention (and KMS key, when
/// one is given).
pub struct LogGroup {
    id: String,
    name: String,
    deps: Vec<String>,
    /// In us-east-1 (CloudFront's access logs are delivered there); with
    /// CloudWatch's own encryption, since a `--kms-key-arn` key lives in
    /// the stack's region.
    edge: bool,
    /// Encrypted with the stack's own key (`kms-alarms`), made when no
    /// `--kms-key-arn` is given.
    stack_key: bool,
}

impl LogGroup {
    pub fn new(id: impl Into<String>, name: impl Into<String>, deps: Vec<String>) -> Self {
        LogGroup {
            id: id.into(),
            name: name.into(),
            deps,
            edge: false,
            stack_key: false,
        }
    }

    /// Encrypted with the operator's `--kms-key-arn`, else the stack's key
    /// (CloudWatch Logs' own keys are what an audit flags).
    pub fn encrypted(mut self, settings: &Settings) -> Self {
        self.stack_key = !self.edge && settings.kms_key_arn.is_none();
        self
    }

    /// The key the group must be encrypted with, if any.
    fn key(&self, cx: &Ctx) -> StepResult<Option<String>> {
        if self.edge {
            Ok(None)
        } else if let Some(k) = &cx.settings.kms_key_arn {
            Ok(Some(k.clone()))
        } else if self.stack_key {
            Ok(Some(cx.attr(ids::KMS_ALARMS, "arn")?))
        } else {
            Ok(None)
        }
    }

    /// A group in us-east-1, for the edge's access logs.
    pub fn edge(id: impl Into<String>, name: impl Into<String>) -> Self {
        LogGroup {
            edge: true,
            ..LogGroup::new(id, name, vec![])
        }
    }

    fn client<'a>(&self, cx: &'a Ctx) -> &'a aws_sdk_cloudwatchlogs::Client {
        if self.edge {
            &cx.aws.logs_edge
        } else {
            &cx.aws.logs
        }
    }

    /// Groups are discovered per name prefix: `/provision/{suffix}/` holds
    /// all of the stack's own groups, so one call finds them.
    fn prefix(&self) -> String {
        let parts: Vec<&str> = self.name.splitn(4, '/').collect();
        if parts.len() == 4 && parts[1] == "provision" {
            format!("/provision/{}/", parts[2])
        } else {
            self.name.clone()
        }
    }
}

async fn groups(
    cx: &Ctx,
    client: &aws_sdk_cloudwatchlogs::Client,
    prefix: String,
) -> StepResult<Arc<Vec<aws_sdk_cloudwatchlogs::types::LogGroup>>> {
    let region = client.config().region().map(|r| r.to_string()).unwrap_or_default();
    let key = format!("logs:{region}:{prefix}");
    cx.inventory
        .get(key, || async {
            client
                .describe_log_groups()
                .log_group_name_prefix(&prefix)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("DescribeLogGroups")
        })
        .await
}

#[async_trait]
impl Step for LogGroup {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "log-group"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = self.deps.iter().cloned().map(Dep::id).collect();
        if self.stack_key {
            d.push(Dep::id(ids::KMS_ALARMS));
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(groups(cx, self.client(cx), self.prefix())
            .await?
            .iter()
            .find(|g| g.log_group_name() == Some(self.name.as_str()))
            .map(|g| {
                let arn = g.arn().unwrap_or_default().trim_end_matches(":*").to_owned();
                let mut r = Record::new(&self.name)
                    .with("arn", arn)
                    .with("kms", g.kms_key_id().unwrap_or_default());
                if let Some(d) = g.retention_in_days() {
                    r = r.with("retention_days", d.to_string());
                }
                r
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let mut req = self
            .client(cx)
            .create_log_group()
            .log_group_name(&self.name)
            .set_tags(Some(tags::logs(cx.tags(&self.name, &self.id))));
        let key = self.key(cx)?;
        if let Some(key) = &key {
            req = req.kms_key_id(key);
        }
        match req.send().await.aws("CreateLogGroup") {
            Err(e) if e.code_is("ResourceAlreadyExistsException") => {}
            r => {
                r?;
            }
        }
        self.set_retention(cx).await?;
        let resource = format!("log-group:{}", self.name);
        let arn = if self.edge {
            let account = cx.account_id().await?;
            format!(
                "arn:{}:logs:{}:{account}:{resource}",
                crate::aws::partition(cx.region()),
                crate::aws::EDGE_REGION
            )
        } else {
            cx.arn("logs", &resource).await?
        };
        Ok(Record::new(&self.name)
            .with("arn", arn)
            .with("kms", key.unwrap_or_default())
            .with("retention_days", cx.settings.log_retention_days.to_string()))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want = cx.settings.log_retention_days.to_string();
        if rec.attr("retention_days") != Some(want.as_str()) {
            drift.push(format!(
                "retention is {} days, wants {want}",
                rec.attr("retention_days").unwrap_or("unlimited")
            ));
            if fix {
                self.set_retention(cx).await?;
            }
        }
        if let Some(key) = self.key(cx)? {
            if rec.attr("kms").unwrap_or_default() != key {
                drift.push(format!(
                    "encrypted with {} (wants {key})",
                    rec.attr("kms")
                        .filter(|k| !k.is_empty())
                        .unwrap_or("CloudWatch Logs' own key")
                ));
                if fix {
                    // Existing events stay as they are; new ones use the key.
                    self.client(cx)
                        .associate_kms_key()
                        .log_group_name(&self.name)
                        .kms_key_id(&key)
                        .send()
                        .await
                        .aws("AssociateKmsKey")?;
                }
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, _rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            self.client(cx)
                .delete_log_group()
                .log_group_name(&self.name)
                .send()
                .await
                .aws("DeleteLogGroup")
                .map(|_| ())
        })
        .await
    }
}

impl LogGroup {
    async fn set_retention(&self, cx: &Ctx) -> StepResult<()> {
        self.client(cx)
            .put_retention_policy()
            .log_group_name(&self.name)
            .retention_in_days(cx.settings.log_retention_days)
            .send()
            .await
            .aws("PutRetentionPolicy")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Suffix;

    #[tokio::test]
    async fn a_group_without_the_stack_key_is_drift() {
        let cx = crate::testing::ctx(&[]);
        let key = "arn:aws:kms:ap-southeast-2:123456789012:key/k";
        cx.set_record(ids::KMS_ALARMS, Record::new(key).with("arn", key));
        let g = log_groups(&cx.settings).remove(0);
        assert!(g.deps().contains(&Dep::id(ids::KMS_ALARMS)));
        let plain = Record::new(&g.name).with("retention_days", "30").with("kms", "");
        let drift = g.reconcile(&cx, &plain, false).await.unwrap();
        assert_eq!(
            drift,
            [format!("encrypted with CloudWatch Logs' own key (wants {key})")]
        );
        let keyed = plain.clone().with("kms", key);
        assert!(g.reconcile(&cx, &keyed, false).await.unwrap().is_empty());
        // With the operator's key, that one, and no dependency on ours.
        let own = "arn:aws:kms:ap-southeast-2:123456789012:key/theirs";
        let theirs = crate::testing::settings(&["--kms-key-arn", own]);
        let g = log_groups(&theirs).remove(0);
        assert!(!g.deps().contains(&Dep::id(ids::KMS_ALARMS)));
        // The edge's group (us-east-1) takes no key from the stack's region.
        let edge = LogGroup::edge(ids::LOG_EDGE, "/provision/dev1/edge").encrypted(&cx.settings);
        assert!(edge.deps().is_empty());
    }

    /// CreateLogGroup `logGroupName` (CloudWatch Logs API Reference): 1-512
    /// characters of `[\.\-_/#A-Za-z0-9]`, not starting with `aws/`.
    #[test]
    fn every_group_name_fits_the_cloudwatch_logs_rule_for_the_longest_suffixes() {
        for suffix in ["abcdefghijkl", "abcdefghij-1", "abcde-fghijk", "a-b-c-d-e-f1"] {
            let mut settings = crate::testing::settings(&[]);
            settings.suffix = Suffix::parse(suffix).unwrap();
            let mut names: Vec<String> = log_groups(&settings).into_iter().map(|g| g.name).collect();
            // Declared by the network family.
            names.push(crate::steps::network::flow_log_group_name(suffix));
            assert_eq!(names.len(), 4);
            for name in names {
                assert!((1..=512).contains(&name.len()), "{name}");
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c)),
                    "{name}"
                );
                assert!(!name.starts_with("aws/"), "{name}");
            }
        }
    }
}
