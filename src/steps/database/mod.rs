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

mod cluster;
mod connection_secret;
mod connection_secret_policy;
mod credentials_secret;
mod discovery;
mod engine_version;
mod instance;
mod parameter_group;
mod subnet_group;

pub use cluster::Cluster;
pub use connection_secret::{connection_value, ConnectionSecret};
pub use connection_secret_policy::{secret_policy, ConnectionSecretPolicy};
pub use credentials_secret::{parse_credentials, CredentialsSecret};
pub use engine_version::{effective_major, family, resolve_engine_version, OfferedVersion};
pub use instance::Instance;
pub use parameter_group::DbParams;
pub use subnet_group::DbSubnetGroup;

use super::{ids, Ctx, StepRef, StepResult};
use crate::config::Settings;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ENGINE: &str = "aurora-postgresql";
pub const DB_NAME: &str = "catalog";
pub const MASTER_USERNAME: &str = "catalog_admin";
pub const BACKUP_RETENTION_DAYS: i32 = 7;
/// UTC; early morning in Australian time zones.
pub const BACKUP_WINDOW: &str = "15:00-16:00";
pub const MAINTENANCE_WINDOW: &str = "sun:16:30-sun:17:30";
pub const INSTANCE_CLASS: &str = "db.serverless";

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    let [writer, reader] = instances(settings.kms_key_arn.is_none());
    vec![
        Arc::new(DbSubnetGroup),
        Arc::new(DbParams),
        Arc::new(Cluster),
        Arc::new(writer),
        Arc::new(reader),
        Arc::new(CredentialsSecret),
        Arc::new(ConnectionSecret),
        Arc::new(ConnectionSecretPolicy),
    ]
}

/// The writer (zone slot 0, failover tier 0) and the reader (slot 1, tier 1).
fn instances(stack_key: bool) -> [Instance; 2] {
    [
        Instance::new(ids::DB_WRITER, "writer", 0, 0, stack_key),
        Instance::new(ids::DB_READER, "reader", 1, 1, stack_key),
    ]
}

/// `aurora-catalog-{suffix}`.
pub fn cluster_id(cx: &Ctx) -> String {
    cx.name("aurora", "catalog")
}

/// Checks that must pass before `up` creates anything: the operator's
/// secret is there and readable, and a new cluster's engine version is
/// offered.
pub async fn preflight(cx: &Ctx) -> StepResult<()> {
    credentials_secret::external_username(cx).await?;
    if discovery::cluster(cx).await?.is_none() {
        engine_version::engine_version(cx).await?;
    }
    Ok(())
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(c) = cx.rec(ids::DB_CLUSTER) {
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
        ("DatabaseConnectionSecretArn", ids::SECRET_DB_CONNECTION),
        ("DatabaseCredentialsSecretArn", ids::SECRET_DB_CREDENTIALS),
    ] {
        if let Some(arn) = cx.rec(step).ok().and_then(|r| r.attr("arn").map(str::to_owned)) {
            out.insert(key.into(), arn);
        }
    }
}

/// Cluster and instance statuses for `status` (from the same describes
/// `find` used: no extra calls).
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, serde_json::Value>) {
    let Ok(Some(c)) = discovery::cluster(cx).await else {
        return;
    };
    let mut inst = BTreeMap::new();
    if let Ok(list) = discovery::instances(cx).await {
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
                json!({
                    "status": i.db_instance_status(),
                    "role": role,
                    "az": i.availability_zone(),
                    "performance_insights": i.performance_insights_enabled().unwrap_or(false),
                }),
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
    use crate::naming::Suffix;

    /// 12-character suffixes (the longest `Suffix::parse` accepts; it
    /// refuses a trailing or doubled hyphen), with and without hyphens.
    const LONGEST_SUFFIXES: [&str; 4] = ["abcdefghijkl", "abcdefghij-1", "abcde-fghijk", "a-b-c-d-e-f1"];

    fn ctx_for(suffix: &str) -> Ctx {
        let mut settings = crate::testing::settings(&[]);
        settings.suffix = Suffix::parse(suffix).unwrap();
        crate::testing::ctx_with(crate::testing::offline_clients(), settings)
    }

    /// DBClusterIdentifier, DBInstanceIdentifier (CreateDBCluster,
    /// CreateDBInstance, RDS API Reference): "Must contain from 1 to 63
    /// letters, numbers, or hyphens. First character must be a letter.
    /// Can't end with a hyphen or contain two consecutive hyphens." The
    /// subnet and parameter group names are held to the same rule (theirs,
    /// up to 255 characters, is looser). RDS stores them in lowercase, so
    /// they are lowercase already or `find` would miss them.
    fn rds_identifier(name: &str, max: usize) -> Result<(), String> {
        let ok = (1..=max).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-')
            && !name.contains("--");
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{name:?} ({} characters) breaks the RDS identifier rule",
                name.len()
            ))
        }
    }

    /// CreateSecret `Name` (Secrets Manager API Reference): 1-512 of ASCII
    /// letters, numbers and /_+=.@-.
    fn secret_name(name: &str) -> Result<(), String> {
        let ok =
            (1..=512).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
        if ok {
            Ok(())
        } else {
            Err(format!("{name:?} breaks the Secrets Manager name rule"))
        }
    }

    #[test]
    fn every_name_fits_the_rds_and_secrets_manager_rules_for_the_longest_suffixes() {
        for suffix in LONGEST_SUFFIXES {
            let cx = ctx_for(suffix);
            let cluster = cluster_id(&cx);
            rds_identifier(&cluster, 63).unwrap();
            for i in instances(true) {
                rds_identifier(&i.name(&cx), 63).unwrap();
            }
            rds_identifier(&DbSubnetGroup::name(&cx), 63).unwrap();
            rds_identifier(&DbParams::name(&cx), 63).unwrap();
            // DeleteDBCluster FinalDBSnapshotIdentifier: the same rule, up
            // to 255 characters; the clock will not reach 11 digits.
            rds_identifier(&cluster::final_snapshot_id(&cluster, 9_999_999_999), 255).unwrap();
            secret_name(&ConnectionSecret::name(&cx)).unwrap();
        }
        assert_eq!(cluster_id(&ctx_for("abcdefghijkl")), "aurora-catalog-abcdefghijkl");
    }
}
