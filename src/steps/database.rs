//! The database: Aurora PostgreSQL Serverless v2 in the isolated subnets,
//! with its subnet group, a cluster parameter group that forces TLS, a
//! writer and a reader in different zones, and the two secrets the app
//! uses.
//!
//! # Secrets
//!
//! No password ever passes through this tool. The cluster always uses
//! `ManageMasterUserPassword`: RDS generates the master password and keeps
//! it in its own secret (`MasterUserSecret`), which it deletes with the
//! cluster. `secret-db-credentials` records that secret's ARN.
//!
//! With `--db-secret-arn`, the operator brings the credentials the *tasks*
//! use (typically a least-privilege application user they created in the
//! database). The cluster still has its RDS-managed master secret (the
//! tool never needs a master password), and `secret-db-credentials` points
//! at the operator's secret instead. Before anything is created, the tool
//! checks that the secret exists and is readable JSON with `username` and
//! `password`; it keeps only the username (for the connection secret) and
//! drops the value at once. It never modifies or deletes that secret.
//!
//! `secret-db-connection` (`db-connection-{suffix}`) holds only how to
//! connect: host, port, dbname, username and `sslmode: require` — no
//! password. Secret values are never printed, logged or written to state;
//! drift messages name keys, never values.
//!
//! # Engine version
//!
//! Resolved at run time from `DescribeDBEngineVersions` (newest minor of
//! `--db-major`), or pinned with `--db-engine-version` (checked to be
//! offered). A pinned version's major wins over `--db-major`, and picks the
//! parameter group family. Only when the cluster does not exist yet is the
//! version resolved (in [`preflight`], before anything is created); version
//! changes of an existing cluster are reported as drift, never applied.
//!
//! # Teardown
//!
//! Instances are deleted and waited for, then the cluster (final snapshot
//! only with `--protect-data`), then the subnet and parameter groups
//! (retried while still in use). A cluster with deletion protection is not
//! touched: `down` stops and says how to turn protection off.

use super::network::{self, subnet_steps, Tier, DB_PORT};
use super::{tag_value, waiter_err, Ctx, Dep, Step, StepRef, StepResult, Timing};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::config::Settings;
use crate::naming::TAG_SUFFIX;
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::{
    ApplyMethod, CloudwatchLogsExportConfiguration, DbCluster, DbInstance, Filter, Parameter,
    ServerlessV2ScalingConfiguration,
};
use aws_sdk_secretsmanager::types::{FilterNameStringType, SecretListEntry};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

pub const ENGINE: &str = "aurora-postgresql";
pub const DB_NAME: &str = "catalog";
pub const MASTER_USERNAME: &str = "catalog_admin";
pub const BACKUP_RETENTION_DAYS: i32 = 7;
/// UTC; early morning in Australian time zones.
pub const BACKUP_WINDOW: &str = "15:00-16:00";
pub const MAINTENANCE_WINDOW: &str = "sun:16:30-sun:17:30";
pub const INSTANCE_CLASS: &str = "db.serverless";
/// Instance statuses in which the database serves queries.
const USABLE: &[&str] = &[
    "available",
    "backing-up",
    "modifying",
    "configuring-log-exports",
    "configuring-enhanced-monitoring",
    "storage-optimization",
];

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    vec![
        Arc::new(DbSubnetGroup),
        Arc::new(DbParams),
        Arc::new(Cluster),
        Arc::new(Instance {
            id: "db-writer",
            role: "writer",
            az: 0,
            tier: 0,
        }),
        Arc::new(Instance {
            id: "db-reader",
            role: "reader",
            az: 1,
            tier: 1,
        }),
        Arc::new(CredentialsSecret),
        Arc::new(ConnectionSecret),
    ]
}

/// `aurora-catalog-{suffix}`.
pub fn cluster_id(cx: &Ctx) -> String {
    cx.name("aurora", "catalog")
}

fn rds_tags(cx: &Ctx, name: &str, step: &str) -> Vec<aws_sdk_rds::types::Tag> {
    cx.tags(name, step)
        .into_iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

// ---------------------------------------------------------------- engine version

/// One entry of `DescribeDBEngineVersions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedVersion {
    pub version: String,
    /// `Status` is `available` (not `deprecated`).
    pub available: bool,
}

fn numeric(v: &str) -> Option<Vec<u32>> {
    v.split('.').map(|p| p.parse().ok()).collect()
}

/// The major version the stack runs: a pinned version's, else `--db-major`.
pub fn effective_major(settings: &Settings) -> u32 {
    settings
        .db_engine_version
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(settings.db_major)
}

/// `aurora-postgresql{major}`.
pub fn family(settings: &Settings) -> String {
    format!("{ENGINE}{}", effective_major(settings))
}

/// Picks the engine version: the pinned one if the region offers it, else
/// the newest minor of `major` (compared as numbers: 16.10 > 16.9). The
/// error lists what is offered.
pub fn resolve_engine_version(offered: &[OfferedVersion], major: u32, pinned: Option<&str>) -> Result<String, String> {
    let mut usable: Vec<(&str, Vec<u32>)> = offered
        .iter()
        .filter(|o| o.available)
        .filter_map(|o| numeric(&o.version).map(|n| (o.version.as_str(), n)))
        .collect();
    usable.sort_by(|a, b| a.1.cmp(&b.1));
    usable.dedup_by(|a, b| a.1 == b.1);
    let list = if usable.is_empty() {
        "none".to_string()
    } else {
        usable.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
    };
    if let Some(p) = pinned {
        return match offered.iter().find(|o| o.version == p && o.available) {
            Some(o) => Ok(o.version.clone()),
            None => Err(format!(
                "{ENGINE} {p} (--db-engine-version) is not offered in this region; it offers: {list}\n  \
                 hint: pin one of those, or drop --db-engine-version to get the newest {}.x",
                p.split('.').next().unwrap_or(p)
            )),
        };
    }
    usable
        .iter()
        .rev()
        .find(|(_, n)| n.first() == Some(&major))
        .map(|(v, _)| v.to_string())
        .ok_or_else(|| {
            format!(
                "no {ENGINE} {major}.x version is offered in this region; it offers: {list}\n  \
                 hint: pick another --db-major"
            )
        })
}

/// The engine version for a new cluster (one lookup per run, shared).
async fn engine_version(cx: &Ctx) -> StepResult<Arc<String>> {
    cx.inventory
        .get("rds:engine-version", || async {
            let mut offered = Vec::new();
            let mut marker = None;
            loop {
                let page = cx
                    .aws
                    .rds
                    .describe_db_engine_versions()
                    .engine(ENGINE)
                    .set_marker(marker)
                    .send()
                    .await
                    .aws("DescribeDBEngineVersions")?;
                offered.extend(page.db_engine_versions().iter().filter_map(|v| {
                    Some(OfferedVersion {
                        version: v.engine_version()?.to_owned(),
                        available: v.status().is_none_or(|s| s == "available"),
                    })
                }));
                marker = page.marker().map(str::to_owned);
                if marker.is_none() {
                    break;
                }
            }
            let major = effective_major(&cx.settings);
            resolve_engine_version(&offered, major, cx.settings.db_engine_version.as_deref())
                .map_err(|m| AwsError::custom("DescribeDBEngineVersions", "EngineVersionNotOffered", m))
        })
        .await
}

// ---------------------------------------------------------------- discovery

async fn clusters(cx: &Ctx) -> StepResult<Arc<Vec<DbCluster>>> {
    cx.inventory
        .get("rds:clusters", || async {
            let out = cx
                .aws
                .rds
                .describe_db_clusters()
                .filters(Filter::builder().name("db-cluster-id").values(cluster_id(cx)).build())
                .send()
                .await
                .aws("DescribeDBClusters")
                .or_not_found()?;
            Ok(out.map(|o| o.db_clusters().to_vec()).unwrap_or_default())
        })
        .await
}

async fn cluster(cx: &Ctx) -> StepResult<Option<DbCluster>> {
    let id = cluster_id(cx);
    Ok(clusters(cx)
        .await?
        .iter()
        .find(|c| c.db_cluster_identifier() == Some(id.as_str()))
        .cloned())
}

async fn instances(cx: &Ctx) -> StepResult<Arc<Vec<DbInstance>>> {
    cx.inventory
        .get("rds:instances", || async {
            let mut out = Vec::new();
            let mut marker = None;
            loop {
                let page = cx
                    .aws
                    .rds
                    .describe_db_instances()
                    .filters(Filter::builder().name("db-cluster-id").values(cluster_id(cx)).build())
                    .set_marker(marker)
                    .send()
                    .await
                    .aws("DescribeDBInstances")
                    .or_not_found()?;
                let Some(page) = page else { break };
                out.extend(page.db_instances().iter().cloned());
                marker = page.marker().map(str::to_owned);
                if marker.is_none() {
                    break;
                }
            }
            Ok(out)
        })
        .await
}

/// The stack's secrets in Secrets Manager, by tag (one call).
async fn secrets(cx: &Ctx) -> StepResult<Arc<Vec<SecretListEntry>>> {
    cx.inventory
        .get("secrets:ours", || async {
            let mut out = Vec::new();
            let mut token = None;
            loop {
                let page = cx
                    .aws
                    .secrets
                    .list_secrets()
                    .filters(
                        aws_sdk_secretsmanager::types::Filter::builder()
                            .key(FilterNameStringType::TagKey)
                            .values(TAG_SUFFIX)
                            .build(),
                    )
                    .filters(
                        aws_sdk_secretsmanager::types::Filter::builder()
                            .key(FilterNameStringType::TagValue)
                            .values(cx.suffix().as_str())
                            .build(),
                    )
                    .set_next_token(token)
                    .send()
                    .await
                    .aws("ListSecrets")?;
                out.extend(page.secret_list().iter().cloned());
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            Ok(out)
        })
        .await
}

fn secret_tag<'a>(s: &'a SecretListEntry, key: &str) -> Option<&'a str> {
    tag_value(s.tags(), key, |t| t.key(), |t| t.value())
}

/// Whether the cluster refuses deletion; `down` then stops before touching
/// any part of the database.
async fn refuse_if_protected(cx: &Ctx, op: &'static str) -> StepResult<()> {
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

// ---------------------------------------------------------------- operator's secret

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
async fn external_username(cx: &Ctx) -> StepResult<Option<Arc<String>>> {
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

/// Checks that must pass before `up` creates anything: the operator's
/// secret is there and readable, and a new cluster's engine version is
/// offered.
pub async fn preflight(cx: &super::Ctx) -> super::StepResult<()> {
    external_username(cx).await?;
    if cluster(cx).await?.is_none() {
        engine_version(cx).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- subnet group

pub struct DbSubnetGroup;

impl DbSubnetGroup {
    fn wanted(&self, cx: &Ctx) -> StepResult<Vec<String>> {
        let mut ids = subnet_steps(Tier::Isolated)
            .iter()
            .map(|s| cx.id_of(s))
            .collect::<StepResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl Step for DbSubnetGroup {
    fn id(&self) -> &str {
        "db-subnets"
    }
    fn kind(&self) -> &'static str {
        "db-subnet-group"
    }
    fn deps(&self) -> Vec<Dep> {
        subnet_steps(Tier::Isolated).into_iter().map(Dep::id).collect()
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = cx.name("dbsubnet", "catalog");
        let groups = cx
            .inventory
            .get("rds:subnet-groups", || async {
                let out = cx
                    .aws
                    .rds
                    .describe_db_subnet_groups()
                    .db_subnet_group_name(&name)
                    .send()
                    .await
                    .aws("DescribeDBSubnetGroups")
                    .or_not_found()?;
                Ok(out.map(|o| o.db_subnet_groups().to_vec()).unwrap_or_default())
            })
            .await?;
        Ok(groups
            .iter()
            .find(|g| g.db_subnet_group_name() == Some(name.as_str()))
            .map(|g| {
                let mut subnets: Vec<&str> = g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect();
                subnets.sort();
                Record::new(&name)
                    .with("vpc", g.vpc_id().unwrap_or_default())
                    .with("subnets", subnets.join(","))
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("dbsubnet", "catalog");
        let subnets = self.wanted(cx)?;
        let r = cx
            .aws
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(format!("Aurora catalog database of {}: isolated subnets", cx.suffix()))
            .set_subnet_ids(Some(subnets.clone()))
            .set_tags(Some(rds_tags(cx, &name, "db-subnets")))
            .send()
            .await
            .aws("CreateDBSubnetGroup");
        match r {
            // Left by a run that crashed before recording it; reconcile
            // checks its subnets next time.
            Err(e) if e.code_is("DBSubnetGroupAlreadyExists") || e.code_is("DBSubnetGroupAlreadyExistsFault") => {}
            r => {
                r?;
            }
        }
        Ok(Record::new(name)
            .with("vpc", cx.id_of("vpc").unwrap_or_default())
            .with("subnets", subnets.join(",")))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let want = self.wanted(cx)?.join(",");
        if rec.attr("subnets") == Some(want.as_str()) {
            return Ok(vec![]);
        }
        if fix {
            cx.aws
                .rds
                .modify_db_subnet_group()
                .db_subnet_group_name(&rec.id)
                .set_subnet_ids(Some(want.split(',').map(str::to_owned).collect()))
                .send()
                .await
                .aws("ModifyDBSubnetGroup")?;
        }
        Ok(vec![format!(
            "subnets are {}, want the isolated subnets {want}",
            rec.attr("subnets").unwrap_or("none")
        )])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .rds
                .delete_db_subnet_group()
                .db_subnet_group_name(&rec.id)
                .send()
                .await
                .aws("DeleteDBSubnetGroup")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- parameter group

pub struct DbParams;

impl DbParams {
    async fn force_ssl(&self, cx: &Ctx, name: &str) -> StepResult<()> {
        cx.aws
            .rds
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .parameters(
                Parameter::builder()
                    .parameter_name("rds.force_ssl")
                    .parameter_value("1")
                    .apply_method(ApplyMethod::Immediate)
                    .build(),
            )
            .send()
            .await
            .aws("ModifyDBClusterParameterGroup")?;
        Ok(())
    }
}

#[async_trait]
impl Step for DbParams {
    fn id(&self) -> &str {
        "db-params"
    }
    fn kind(&self) -> &'static str {
        "db-cluster-parameter-group"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = cx.name("dbparams", "catalog");
        let groups = cx
            .inventory
            .get("rds:cluster-parameter-groups", || async {
                let out = cx
                    .aws
                    .rds
                    .describe_db_cluster_parameter_groups()
                    .db_cluster_parameter_group_name(&name)
                    .send()
                    .await
                    .aws("DescribeDBClusterParameterGroups")
                    .or_not_found()?;
                Ok(out
                    .map(|o| o.db_cluster_parameter_groups().to_vec())
                    .unwrap_or_default())
            })
            .await?;
        Ok(groups
            .iter()
            .find(|g| g.db_cluster_parameter_group_name() == Some(name.as_str()))
            .map(|g| {
                Record::new(&name)
                    .with("family", g.db_parameter_group_family().unwrap_or_default())
                    .with("arn", g.db_cluster_parameter_group_arn().unwrap_or_default())
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("dbparams", "catalog");
        let family = family(&cx.settings);
        let r = cx
            .aws
            .rds
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&name)
            .db_parameter_group_family(&family)
            .description(format!("Aurora catalog database of {}: TLS only", cx.suffix()))
            .set_tags(Some(rds_tags(cx, &name, "db-params")))
            .send()
            .await
            .aws("CreateDBClusterParameterGroup");
        let arn = match r {
            Ok(o) => o
                .db_cluster_parameter_group()
                .and_then(|g| g.db_cluster_parameter_group_arn())
                .unwrap_or_default()
                .to_owned(),
            Err(e) if e.code_is("DBParameterGroupAlreadyExists") || e.code_is("DBParameterGroupAlreadyExistsFault") => {
                String::new()
            }
            Err(e) => return Err(e),
        };
        self.force_ssl(cx, &name).await?;
        Ok(Record::new(name).with("family", family).with("arn", arn))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want = family(&cx.settings);
        if rec.attr("family").is_some_and(|f| f != want) {
            drift.push(format!(
                "family is {} but the engine needs {want}; provision does not upgrade databases (upgrade the cluster, or `down` and `up`)",
                rec.attr("family").unwrap_or_default()
            ));
        }
        let mut value = None;
        let mut marker = None;
        loop {
            let page = cx
                .aws
                .rds
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(&rec.id)
                .source("user")
                .set_marker(marker)
                .send()
                .await
                .aws("DescribeDBClusterParameters")?;
            if let Some(p) = page
                .parameters()
                .iter()
                .find(|p| p.parameter_name() == Some("rds.force_ssl"))
            {
                value = p.parameter_value().map(str::to_owned);
            }
            marker = page.marker().map(str::to_owned);
            if marker.is_none() || value.is_some() {
                break;
            }
        }
        if value.as_deref() != Some("1") {
            drift.push(format!(
                "rds.force_ssl is {}, wants 1",
                value.as_deref().unwrap_or("the default (0)")
            ));
            if fix {
                self.force_ssl(cx, &rec.id).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .rds
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(&rec.id)
                .send()
                .await
                .aws("DeleteDBClusterParameterGroup")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- cluster

fn cluster_record(c: &DbCluster) -> Record {
    let mut r = Record::new(c.db_cluster_identifier().unwrap_or_default())
        .with("endpoint", c.endpoint().unwrap_or_default())
        .with("reader_endpoint", c.reader_endpoint().unwrap_or_default())
        .with("port", c.port().unwrap_or(DB_PORT).to_string())
        .with("arn", c.db_cluster_arn().unwrap_or_default())
        .with("engine_version", c.engine_version().unwrap_or_default())
        .with("master_username", c.master_username().unwrap_or(MASTER_USERNAME));
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
        "db-cluster"
    }
    fn kind(&self) -> &'static str {
        "db-cluster"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["db-subnets".into(), "db-params".into(), "sg-db".into(), "log-db".into()]
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 0, 120)
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
            .db_subnet_group_name(cx.id_of("db-subnets")?)
            .db_cluster_parameter_group_name(cx.id_of("db-params")?)
            .vpc_security_group_ids(cx.id_of("sg-db")?)
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
            .set_tags(Some(rds_tags(cx, &id, "db-cluster")))
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
        if c.master_user_secret().is_none() {
            drift.push("the master password is not managed by RDS (ManageMasterUserPassword)".into());
            modify = modify
                .manage_master_user_password(true)
                .set_master_user_secret_kms_key_id(s.kms_key_arn.clone());
            changes = true;
        }
        let sg = cx.id_of("sg-db")?;
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
        let params = cx.id_of("db-params")?;
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
            if want != have && !want.contains(":alias/") {
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

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        refuse_if_protected(cx, "DeleteDBCluster").await?;
        let final_snapshot = cx.settings.protect_data.then(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{}-final-{secs}", rec.id)
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
        cx.waiting("db-cluster", "Aurora cluster to be deleted");
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

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

// ---------------------------------------------------------------- instances

/// A Serverless v2 instance of the cluster. The writer is created first
/// (the first instance of a cluster becomes its writer); the reader, in
/// another zone, has a lower failover priority.
pub struct Instance {
    id: &'static str,
    role: &'static str,
    az: usize,
    tier: i32,
}

impl Instance {
    fn name(&self, cx: &Ctx) -> String {
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
        let mut d = vec![Dep::id("db-cluster")];
        d.extend(self.ordering_deps().into_iter().map(Dep::id));
        d
    }
    /// Aurora makes the first instance of a cluster its writer, so the
    /// reader is created after the writer; deleting both at once is fine.
    fn ordering_deps(&self) -> Vec<String> {
        if self.role == "reader" {
            vec!["db-writer".into()]
        } else {
            vec![]
        }
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 600, 600)
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(self.current(cx).await?.map(|i| {
            let status = i.db_instance_status().unwrap_or_default();
            let r = Record::new(i.db_instance_identifier().unwrap_or_default())
                .with("az", i.availability_zone().unwrap_or_default())
                .with("status", status);
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
        let cluster = cx.id_of("db-cluster")?;
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
                .set_tags(Some(rds_tags(cx, &name, self.id)))
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
        Ok(Record::new(name).with("az", az).with("status", "creating").pending())
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

// ---------------------------------------------------------------- secrets

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
        let arn = match cx.rec("db-cluster") {
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
        "secret-db-credentials"
    }
    fn kind(&self) -> &'static str {
        "secret"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["db-cluster".into()]
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
    async fn wanted(&self, cx: &Ctx) -> StepResult<String> {
        let c = cx.rec("db-cluster")?;
        let username = match external_username(cx).await? {
            Some(u) => u.as_str().to_owned(),
            None => c.attr("master_username").unwrap_or(MASTER_USERNAME).to_owned(),
        };
        let port = c.attr("port").and_then(|p| p.parse().ok()).unwrap_or(DB_PORT as u16);
        Ok(connection_value(c.attr("endpoint").unwrap_or_default(), port, &username).to_string())
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
        "secret-db-connection"
    }
    fn kind(&self) -> &'static str {
        "secret"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["db-cluster".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = cx.name("db", "connection");
        Ok(secrets(cx)
            .await?
            .iter()
            .find(|s| s.name() == Some(name.as_str()) && cx.owns("secret-db-connection", |k| secret_tag(s, k)))
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
        let name = cx.name("db", "connection");
        let value = self.wanted(cx).await?;
        let tags: Vec<aws_sdk_secretsmanager::types::Tag> = cx
            .tags(&name, "secret-db-connection")
            .into_iter()
            .map(|(k, v)| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build())
            .collect();
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
            .set_tags(Some(tags))
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
            if have != Some(want.as_str()) && !want.contains(":alias/") {
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

// ---------------------------------------------------------------- outputs and status

/// Adds this family's entries to the flat outputs.
pub fn outputs(cx: &super::Ctx, out: &mut std::collections::BTreeMap<String, String>) {
    if let Ok(c) = cx.rec("db-cluster") {
        for (key, attr) in [
            ("AuroraDatabaseEndpoint", "endpoint"),
            ("AuroraReaderEndpoint", "reader_endpoint"),
            ("AuroraDatabasePort", "port"),
        ] {
            if let Some(v) = c.attr(attr).filter(|v| !v.is_empty()) {
                out.insert(key.into(), v.to_owned());
            }
        }
        out.insert("AuroraClusterIdentifier".into(), c.id);
    }
    for (key, step) in [
        ("DatabaseConnectionSecretArn", "secret-db-connection"),
        ("DatabaseCredentialsSecretArn", "secret-db-credentials"),
    ] {
        if let Some(arn) = cx.rec(step).ok().and_then(|r| r.attr("arn").map(str::to_owned)) {
            out.insert(key.into(), arn);
        }
    }
}

/// Cluster and instance statuses for `status` (from the same describes
/// `find` used: no extra calls).
pub async fn details(cx: &super::Ctx, out: &mut std::collections::BTreeMap<String, serde_json::Value>) {
    let Ok(Some(c)) = cluster(cx).await else { return };
    let mut inst = BTreeMap::new();
    if let Ok(list) = instances(cx).await {
        for i in list.iter() {
            let role = if c.db_cluster_members().iter().any(|m| {
                m.db_instance_identifier() == i.db_instance_identifier() && m.is_cluster_writer() == Some(true)
            }) {
                "writer"
            } else {
                "reader"
            };
            inst.insert(
                i.db_instance_identifier().unwrap_or_default().to_owned(),
                json!({"status": i.db_instance_status(), "role": role, "az": i.availability_zone()}),
            );
        }
    }
    out.insert(
        "database".into(),
        json!({
            "cluster": c.db_cluster_identifier(),
            "status": c.status(),
            "engine_version": c.engine_version(),
            "instances": inst,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &[(&str, bool)]) -> Vec<OfferedVersion> {
        list.iter()
            .map(|(v, a)| OfferedVersion {
                version: v.to_string(),
                available: *a,
            })
            .collect()
    }

    #[test]
    fn newest_minor_of_the_major_is_compared_numerically() {
        let o = offered(&[
            ("15.10", true),
            ("16.2", true),
            ("16.9", true),
            ("16.10", true),
            ("16.11", false),
            ("17.1", true),
            ("16.4-limitless", true),
        ]);
        assert_eq!(resolve_engine_version(&o, 16, None).unwrap(), "16.10");
        assert_eq!(resolve_engine_version(&o, 15, None).unwrap(), "15.10");
        assert_eq!(resolve_engine_version(&o, 17, None).unwrap(), "17.1");
    }

    #[test]
    fn a_major_the_region_lacks_fails_listing_what_it_offers() {
        let o = offered(&[("15.8", true), ("16.4", true)]);
        let e = resolve_engine_version(&o, 14, None).unwrap_err();
        assert!(e.contains("14.x"), "{e}");
        assert!(e.contains("15.8, 16.4"), "{e}");
        assert!(e.contains("hint:"), "{e}");
        assert!(resolve_engine_version(&[], 16, None)
            .unwrap_err()
            .contains("offers: none"));
    }

    #[test]
    fn a_pinned_version_must_be_offered_and_available() {
        let o = offered(&[("16.2", true), ("16.4", true), ("16.6", false)]);
        assert_eq!(resolve_engine_version(&o, 16, Some("16.2")).unwrap(), "16.2");
        let e = resolve_engine_version(&o, 16, Some("16.99")).unwrap_err();
        assert!(
            e.contains("16.99") && e.contains("16.2, 16.4") && !e.contains("16.6"),
            "{e}"
        );
        assert!(
            resolve_engine_version(&o, 16, Some("16.6")).is_err(),
            "deprecated versions cannot be pinned"
        );
        // The pin wins over the major.
        assert_eq!(resolve_engine_version(&o, 15, Some("16.4")).unwrap(), "16.4");
    }

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
