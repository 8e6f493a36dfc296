//! The Aurora PostgreSQL Serverless v2 cluster `aurora-catalog-{suffix}`
//! (`CreateDBCluster`, `ModifyDBCluster`, `DeleteDBCluster` and the
//! deleted waiter), with its drift checks.

use super::discovery::cluster;
use super::engine_version::{effective_major, engine_version};
use super::{cluster_id, BACKUP_RETENTION_DAYS, BACKUP_WINDOW, DB_NAME, ENGINE, MAINTENANCE_WINDOW, MASTER_USERNAME};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::config::Settings;
use crate::state::Record;
use crate::steps::network::DB_PORT;
use crate::steps::{ids, waiter_err, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::{CloudwatchLogsExportConfiguration, DbCluster, ServerlessV2ScalingConfiguration};
use std::collections::BTreeSet;
use std::time::Duration;
/// Whether the cluster refuses deletion; `down` then stops before touching
/// any part of the database.
pub(super) async fn refuse_if_protected(cx: &Ctx, op: &'static str) -> StepResult<()> {
    if let Some(c) = cluster(cx).await? {
        if c.deletion_protection() == Some(true) {
            let s = cx.suffix();
            return Err(AwsError::custom(
                op,
                "DeletionProtection",
                format!(
                    "{} has deletion protection (--protect-data), so none of the database was deleted\n  \
                     hint: to really delete it, run `provision up --suffix {s}` without --protect-data (which turns \
                     protection off), then `provision down --suffix {s} --protect-data --yes` to keep a final snapshot",
                    cluster_id(cx)
                ),
            ));
        }
    }
    Ok(())
}

fn cluster_record(c: &DbCluster) -> Record {
    let mut r = Record::new(c.db_cluster_identifier().unwrap_or_default())
        .with("endpoint", c.endpoint().unwrap_or_default())
        .with("reader_endpoint", c.reader_endpoint().unwrap_or_default())
        .with("port", c.port().unwrap_or(DB_PORT).to_string())
        .with("arn", c.db_cluster_arn().unwrap_or_default())
        .with("engine_version", c.engine_version().unwrap_or_default())
        .with("master_username", c.master_username().unwrap_or(MASTER_USERNAME))
        // `rds-db:connect` is scoped to this id (not the cluster's name).
        .with("resource_id", c.db_cluster_resource_id().unwrap_or_default());
    if let Some(arn) = c.master_user_secret().and_then(|s| s.secret_arn()) {
        r = r.with("master_secret_arn", arn);
    }
    r
}

fn scaling(settings: &Settings) -> ServerlessV2ScalingConfiguration {
    ServerlessV2ScalingConfiguration::builder()
        .min_capacity(settings.db_min_acu)
        .max_capacity(settings.db_max_acu)
        .build()
}

pub struct Cluster;

#[async_trait]
impl Step for Cluster {
    fn id(&self) -> &str {
        ids::DB_CLUSTER
    }
    fn kind(&self) -> &'static str {
        "db-cluster"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![
            Dep::id(ids::DB_SUBNETS),
            Dep::id(ids::DB_PARAMS),
            Dep::id(ids::SG_DB),
            Dep::id(ids::LOG_DB),
        ]
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 0, 120).changing(30).source(
            "Aurora User Guide, deleting a DB cluster: the cluster goes once its instances are gone (~2 min after them)",
        )
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(cluster(cx).await?.as_ref().map(cluster_record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let id = cluster_id(cx);
        let version = engine_version(cx).await?;
        let kms = cx.settings.kms_key_arn.clone();
        let r = cx
            .aws
            .rds
            .create_db_cluster()
            .db_cluster_identifier(&id)
            .engine(ENGINE)
            .engine_version(version.as_str())
            .database_name(DB_NAME)
            .master_username(MASTER_USERNAME)
            .manage_master_user_password(true)
            .set_master_user_secret_kms_key_id(kms.clone())
            .db_subnet_group_name(cx.id_of(ids::DB_SUBNETS)?)
            .db_cluster_parameter_group_name(cx.id_of(ids::DB_PARAMS)?)
            .vpc_security_group_ids(cx.id_of(ids::SG_DB)?)
            .port(DB_PORT)
            .storage_encrypted(true)
            .set_kms_key_id(kms)
            .backup_retention_period(BACKUP_RETENTION_DAYS)
            .preferred_backup_window(BACKUP_WINDOW)
            .preferred_maintenance_window(MAINTENANCE_WINDOW)
            .copy_tags_to_snapshot(true)
            .enable_cloudwatch_logs_exports("postgresql")
            .serverless_v2_scaling_configuration(scaling(&cx.settings))
            .deletion_protection(cx.settings.protect_data)
            // The app logs in as its least-privilege role with IAM auth
            // tokens, so no password of its own needs rotating.
            .enable_iam_database_authentication(true)
            .set_tags(Some(tags::rds(cx.tags(&id, ids::DB_CLUSTER))))
            .send()
            .await
            .aws("CreateDBCluster");
        let c = match r {
            Ok(o) => o.db_cluster().cloned(),
            // Created by a run that crashed before recording it.
            Err(e) if e.code_is("DBClusterAlreadyExistsFault") => cx
                .aws
                .rds
                .describe_db_clusters()
                .db_cluster_identifier(&id)
                .send()
                .await
                .aws("DescribeDBClusters")?
                .db_clusters()
                .first()
                .cloned(),
            Err(e) => return Err(e),
        };
        c.as_ref().map(cluster_record).ok_or_else(|| {
            AwsError::custom(
                "CreateDBCluster",
                "NoCluster",
                format!("{id} was not returned by CreateDBCluster"),
            )
        })
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(c) = cluster(cx)
            .await?
            .filter(|c| c.db_cluster_identifier() == Some(rec.id.as_str()))
        else {
            return Ok(vec![]);
        };
        let s = &cx.settings;
        let mut drift = Vec::new();
        let mut modify = cx
            .aws
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(&rec.id)
            .apply_immediately(true);
        let mut changes = false;
        // Fields AWS always returns; `None` (an emulator that drops them) is
        // not drift.
        if c.backup_retention_period().is_some_and(|d| d != BACKUP_RETENTION_DAYS) {
            drift.push(format!(
                "backups kept {} days, wants {BACKUP_RETENTION_DAYS}",
                c.backup_retention_period().unwrap_or(0)
            ));
            modify = modify.backup_retention_period(BACKUP_RETENTION_DAYS);
            changes = true;
        }
        if c.copy_tags_to_snapshot() == Some(false) {
            drift.push("tags are not copied to snapshots".into());
            modify = modify.copy_tags_to_snapshot(true);
            changes = true;
        }
        if !c.enabled_cloudwatch_logs_exports().iter().any(|l| l == "postgresql") {
            drift.push("the postgresql log is not exported to CloudWatch Logs".into());
            modify = modify.cloudwatch_logs_export_configuration(
                CloudwatchLogsExportConfiguration::builder()
                    .enable_log_types("postgresql")
                    .build(),
            );
            changes = true;
        }
        if let Some(sc) = c.serverless_v2_scaling_configuration() {
            if sc.min_capacity() != Some(s.db_min_acu) || sc.max_capacity() != Some(s.db_max_acu) {
                drift.push(format!(
                    "capacity is {}-{} ACU, wants {}-{}",
                    sc.min_capacity().unwrap_or(0.0),
                    sc.max_capacity().unwrap_or(0.0),
                    s.db_min_acu,
                    s.db_max_acu
                ));
                modify = modify.serverless_v2_scaling_configuration(scaling(s));
                changes = true;
            }
        }
        if c.deletion_protection().is_some_and(|p| p != s.protect_data) {
            drift.push(format!(
                "deletion protection is {}, --protect-data asks for {}",
                on_off(!s.protect_data),
                on_off(s.protect_data)
            ));
            modify = modify.deletion_protection(s.protect_data);
            changes = true;
        }
        if c.iam_database_authentication_enabled() == Some(false) {
            drift.push("IAM database authentication is off (the app logs in with IAM tokens)".into());
            modify = modify.enable_iam_database_authentication(true);
            changes = true;
        }
        if c.master_user_secret().is_none() {
            drift.push("the master password is not managed by RDS (ManageMasterUserPassword)".into());
            modify = modify
                .manage_master_user_password(true)
                .set_master_user_secret_kms_key_id(s.kms_key_arn.clone());
            changes = true;
        }
        let sg = cx.id_of(ids::SG_DB)?;
        let groups: BTreeSet<&str> = c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect();
        if !groups.is_empty() && groups != BTreeSet::from([sg.as_str()]) {
            drift.push(format!("security groups are {groups:?}, want only {sg}"));
            modify = modify.vpc_security_group_ids(&sg);
            changes = true;
        }
        let params = cx.id_of(ids::DB_PARAMS)?;
        if c.db_cluster_parameter_group().is_some_and(|p| p != params) {
            drift.push(format!(
                "uses parameter group {}, wants {params} (takes effect at the next reboot)",
                c.db_cluster_parameter_group().unwrap_or_default()
            ));
            modify = modify.db_cluster_parameter_group_name(&params);
            changes = true;
        }
        // Fixed at creation, or upgrades provision does not do: reported only.
        if c.storage_encrypted() == Some(false) {
            drift.push("storage is not encrypted (cannot change: restore a snapshot into an encrypted cluster)".into());
        }
        if let (Some(want), Some(have)) = (&s.kms_key_arn, c.kms_key_id()) {
            if want != have {
                drift.push(format!(
                    "encrypted with {have}, --kms-key-arn is {want} (cannot change in place)"
                ));
            }
        }
        if let Some(v) = c.engine_version() {
            let major = v.split('.').next().and_then(|m| m.parse::<u32>().ok());
            if let Some(p) = s.db_engine_version.as_deref().filter(|p| *p != v) {
                drift.push(format!(
                    "engine is {v}, --db-engine-version pins {p}; provision does not upgrade databases"
                ));
            } else if major.is_some_and(|m| m != effective_major(s)) {
                drift.push(format!(
                    "engine is {v}, --db-major asks for {}; provision does not upgrade databases",
                    effective_major(s)
                ));
            }
        }
        if fix && changes {
            modify.send().await.aws("ModifyDBCluster")?;
        }
        Ok(drift)
    }

    async fn protection(&self, cx: &Ctx, _rec: &Record) -> StepResult<Option<String>> {
        Ok(cluster(cx)
            .await?
            .filter(|c| c.deletion_protection() == Some(true))
            .map(|_| "the database cluster has deletion protection (--protect-data)".to_string()))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        refuse_if_protected(cx, "DeleteDBCluster").await?;
        let final_snapshot = cx.settings.protect_data.then(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            final_snapshot_id(&rec.id, secs)
        });
        // Refused (InvalidDBClusterStateFault) while instances are still
        // going away or the cluster is busy: retried.
        let r = wait::retry_while(ErrorClass::InUse, Backoff::DRAIN, || async {
            let mut req = cx.aws.rds.delete_db_cluster().db_cluster_identifier(&rec.id);
            req = match &final_snapshot {
                Some(name) => req.final_db_snapshot_identifier(name),
                None => req.skip_final_snapshot(true),
            };
            req.send().await.aws("DeleteDBCluster").map(|_| ())
        })
        .await;
        if r.or_not_found()?.is_none() {
            return Ok(());
        }
        cx.waiting(ids::DB_CLUSTER, "Aurora cluster to be deleted");
        cx.aws
            .rds
            .wait_until_db_cluster_deleted()
            .db_cluster_identifier(&rec.id)
            .wait(Duration::from_secs(60 * 60))
            .await
            .map_err(|e| waiter_err("WaitDBClusterDeleted", e))?;
        Ok(())
    }
}

/// `{cluster}-final-{unix seconds}`: the snapshot `down --protect-data`
/// keeps.
pub(super) fn final_snapshot_id(cluster: &str, secs: u64) -> String {
    format!("{cluster}-final-{secs}")
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}
