//! The cluster's Serverless v2 instances, writer and reader
//! (`CreateDBInstance`, `ModifyDBInstance`, `DeleteDBInstance` and the
//! available/deleted waiters).

use super::cluster::refuse_if_protected;
use super::discovery::instances;
use super::{ENGINE, INSTANCE_CLASS};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt, ErrorClass, NotFoundExt};
use crate::state::Record;
use crate::steps::network;
use crate::steps::{ids, waiter_err, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::DbInstance;
use std::time::Duration;

/// Instance statuses in which the database serves queries.
const USABLE: &[&str] = &[
    "available",
    "backing-up",
    "modifying",
    "configuring-log-exports",
    "configuring-enhanced-monitoring",
    "storage-optimization",
];

/// A Serverless v2 instance of the cluster. The writer is created first
/// (the first instance of a cluster becomes its writer); the reader, in
/// another zone, has a lower failover priority.
pub struct Instance {
    id: &'static str,
    role: &'static str,
    az: usize,
    tier: i32,
    /// Performance Insights is encrypted with the stack's own key (no
    /// `--kms-key-arn`), which this instance then waits for.
    stack_key: bool,
}

/// Performance Insights' free retention (CloudWatch Database Insights,
/// standard mode): 7 days.
pub const INSIGHTS_RETENTION_DAYS: i32 = 7;

impl Instance {
    /// `id` is the step id; `role` is `writer` or `reader`; `az` the zone
    /// slot; `tier` the failover priority.
    pub(super) fn new(id: &'static str, role: &'static str, az: usize, tier: i32, stack_key: bool) -> Self {
        Instance {
            id,
            role,
            az,
            tier,
            stack_key,
        }
    }

    /// The key Performance Insights data is encrypted with.
    fn insights_key(&self, cx: &Ctx) -> StepResult<Option<String>> {
        match (&cx.settings.kms_key_arn, self.stack_key) {
            (Some(k), _) => Ok(Some(k.clone())),
            (None, true) => Ok(Some(cx.attr(ids::KMS_ALARMS, "arn")?)),
            (None, false) => Ok(None),
        }
    }

    pub(super) fn name(&self, cx: &Ctx) -> String {
        cx.name("aurora", &format!("catalog-{}", self.role))
    }

    async fn current(&self, cx: &Ctx) -> StepResult<Option<DbInstance>> {
        let name = self.name(cx);
        Ok(instances(cx)
            .await?
            .iter()
            .find(|i| i.db_instance_identifier() == Some(name.as_str()))
            .cloned())
    }
}

#[async_trait]
impl Step for Instance {
    fn id(&self) -> &str {
        self.id
    }
    fn kind(&self) -> &'static str {
        "db-instance"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d = vec![Dep::id(ids::DB_CLUSTER)];
        d.extend(self.ordering_deps().into_iter().map(Dep::id));
        if self.stack_key {
            d.push(Dep::id(ids::KMS_ALARMS));
        }
        d
    }
    /// Aurora makes the first instance of a cluster its writer, so the
    /// reader is created after the writer; deleting both at once is fine.
    fn ordering_deps(&self) -> Vec<String> {
        if self.role == "reader" {
            vec![ids::DB_WRITER.into()]
        } else {
            vec![]
        }
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 600, 600).source(
            "Aurora User Guide (creating a DB cluster): a cluster and its instances take 10-20 min; instances are most of it",
        )
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(self.current(cx).await?.map(|i| {
            let status = i.db_instance_status().unwrap_or_default();
            let r = Record::new(i.db_instance_identifier().unwrap_or_default())
                .with("az", i.availability_zone().unwrap_or_default())
                .with("status", status)
                .with(
                    "insights",
                    i.performance_insights_enabled().unwrap_or(false).to_string(),
                );
            if USABLE.contains(&status) {
                r
            } else {
                r.pending()
            }
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = self.name(cx);
        let zones = network::zones(cx).await?;
        let az = zones[self.az].clone();
        let cluster = cx.id_of(ids::DB_CLUSTER)?;
        let key = self.insights_key(cx)?;
        let token_free = || async {
            cx.aws
                .rds
                .create_db_instance()
                .db_instance_identifier(&name)
                .db_cluster_identifier(&cluster)
                .engine(ENGINE)
                .db_instance_class(INSTANCE_CLASS)
                .availability_zone(&az)
                .promotion_tier(self.tier)
                .publicly_accessible(false)
                .auto_minor_version_upgrade(true)
                .enable_performance_insights(true)
                .performance_insights_retention_period(INSIGHTS_RETENTION_DAYS)
                .set_performance_insights_kms_key_id(key.clone())
                .set_tags(Some(tags::rds(cx.tags(&name, self.id))))
                .send()
                .await
                .aws("CreateDBInstance")
        };
        // A cluster that is still being created may refuse new instances.
        match wait::retry_while(ErrorClass::InUse, Backoff::DRAIN, token_free).await {
            Ok(_) => {}
            Err(e) if e.code_is("DBInstanceAlreadyExists") || e.code_is("DBInstanceAlreadyExistsFault") => {}
            Err(e) => return Err(e),
        }
        Ok(Record::new(name)
            .with("az", az)
            .with("status", "creating")
            .with("insights", "true")
            .pending())
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(i) = self.current(cx).await? else {
            return Ok(vec![]);
        };
        let mut drift = Vec::new();
        let mut modify = cx
            .aws
            .rds
            .modify_db_instance()
            .db_instance_identifier(&rec.id)
            .apply_immediately(true);
        let mut changes = false;
        if i.db_instance_class().is_some_and(|c| c != INSTANCE_CLASS) {
            drift.push(format!(
                "class is {}, wants {INSTANCE_CLASS}",
                i.db_instance_class().unwrap_or_default()
            ));
            modify = modify.db_instance_class(INSTANCE_CLASS);
            changes = true;
        }
        if i.publicly_accessible() == Some(true) {
            drift.push("is publicly accessible".into());
            modify = modify.publicly_accessible(false);
            changes = true;
        }
        if i.performance_insights_enabled() != Some(true) {
            drift.push("Performance Insights is off (wants on, 7 days, the stack's key)".into());
            modify = modify
                .enable_performance_insights(true)
                .performance_insights_retention_period(INSIGHTS_RETENTION_DAYS)
                .set_performance_insights_kms_key_id(self.insights_key(cx)?);
            changes = true;
        }
        if fix && changes {
            modify.send().await.aws("ModifyDBInstance")?;
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting(self.id, "Aurora instance to become available");
        cx.aws
            .rds
            .wait_until_db_instance_available()
            .db_instance_identifier(&rec.id)
            .wait(Duration::from_secs(60 * 60))
            .await
            .map_err(|e| waiter_err("WaitDBInstanceAvailable", e))?;
        Ok(rec.clone().with("status", "available"))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        refuse_if_protected(cx, "DeleteDBInstance").await?;
        // Refused while the instance is still being created or modified.
        let backoff = Backoff::DRAIN.with_timeout(Duration::from_secs(60 * 60));
        let r = wait::retry_while(ErrorClass::InUse, backoff, || async {
            cx.aws
                .rds
                .delete_db_instance()
                .db_instance_identifier(&rec.id)
                .send()
                .await
                .aws("DeleteDBInstance")
                .map(|_| ())
        })
        .await;
        if r.or_not_found()?.is_none() {
            return Ok(());
        }
        cx.waiting(self.id, "Aurora instance to be deleted");
        cx.aws
            .rds
            .wait_until_db_instance_deleted()
            .db_instance_identifier(&rec.id)
            .wait(Duration::from_secs(60 * 60))
            .await
            .map_err(|e| waiter_err("WaitDBInstanceDeleted", e))?;
        Ok(())
    }
}
