//! The data layer (ECR, Aurora, secrets, IAM roles) end to end against the
//! moto server, through the real binary.
//!
//! Every test talks to moto through its own instance of the project's proxy
//! (`scripts/fault_proxy.py`), which answers `DescribeDBEngineVersions`
//! (not implemented by moto 5.2.5) with a fixed list (15.10, 16.2, 16.4,
//! 16.6, 16.8 deprecated, 17.2) and counts calls per operation: that is how
//! the discovery-economy check measures a converged run.
//!
//! What moto drops or fakes (so not asserted here): instances are
//! `available` at once; the RDS-managed master secret always says username
//! `admin`; CreateDBCluster takes an automated cluster snapshot that stays
//! after the cluster is deleted (AWS deletes automated snapshots with the
//! cluster); KMS keys are not validated.
//!
//! `lifecycle` builds the whole stack and checks this layer of it
//! (`database`, `access`), its converged runs and its teardown
//! (`leftovers`); `preflight` what is refused before anything is created;
//! `operator_secret` a database secret of the operator's own; `images`
//! `image push`; `protection` deletion protection and the final snapshot.

mod access;
#[path = "../common/mod.rs"]
mod common;
mod database;
mod images;
mod leftovers;
mod lifecycle;
mod operator_secret;
mod preflight;
mod protection;

use common::*;
use serde_json::Value;

const MOTO: &str = "data";

/// The steps of this layer.
pub const DATA_STEPS: &[&str] = &[
    "ecr-repo",
    "db-subnets",
    "db-params",
    "db-cluster",
    "db-writer",
    "db-reader",
    "secret-db-credentials",
    "secret-db-connection",
    "role-exec",
    "role-task",
    "role-ecs-infra",
];

// ---------------------------------------------------------------- helpers

/// A stack of its own behind a proxy of its own (so the proxy's call
/// counts are this test's alone), and SDK clients on moto itself (which the
/// proxy does not count).
pub struct Env {
    pub proxy: Proxy,
    pub aws: provision::aws::Clients,
    pub stack: Stack,
}

impl Env {
    pub async fn new(prefix: &str) -> Env {
        let moto_url = moto_direct(MOTO);
        let proxy = Proxy::start(&moto_url, &[]);
        Env {
            // Through the proxy: it holds what moto lacks (VPC origins).
            aws: clients(&proxy.url).await,
            stack: Stack::new(&proxy.url, &suffix(prefix)),
            proxy,
        }
    }
}

pub async fn vpc_count(aws: &provision::aws::Clients, suffix: &str) -> usize {
    aws.ec2
        .describe_vpcs()
        .filters(tag_filter(suffix))
        .send()
        .await
        .unwrap()
        .vpcs()
        .len()
}

pub async fn secret_value(aws: &provision::aws::Clients, id: &str) -> String {
    aws.secrets
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned()
}

/// Creates the secret `name` holding `value`; returns its ARN.
pub async fn create_secret(aws: &provision::aws::Clients, name: &str, value: &str) -> String {
    let created = aws
        .secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    created.arn().unwrap().to_owned()
}

/// Deletes the secret `id` at once (no recovery window), as a test cleans up.
pub async fn delete_secret(aws: &provision::aws::Clients, id: &str) {
    aws.secrets
        .delete_secret()
        .secret_id(id)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

/// Every step of this layer is `present` (found, no drift) in a `status
/// --json` document. (The whole stack's `converged` also depends on the
/// compute layer, some of whose settings moto drops.)
pub fn assert_data_steps_present(doc: &Value) {
    let rows = doc["steps"].as_array().expect("steps");
    for step in DATA_STEPS {
        let row = rows
            .iter()
            .find(|r| r["step"] == *step)
            .unwrap_or_else(|| panic!("{step} missing from status"));
        assert_eq!(row["state"], "present", "{row}");
    }
}

/// The RDS filter on the cluster `cluster_id`.
pub fn cluster_filter(cluster_id: &str) -> aws_sdk_rds::types::Filter {
    aws_sdk_rds::types::Filter::builder()
        .name("db-cluster-id")
        .values(cluster_id)
        .build()
}

/// The instances of the Aurora cluster `cluster_id`.
pub async fn cluster_instances(aws: &provision::aws::Clients, cluster_id: &str) -> Vec<aws_sdk_rds::types::DbInstance> {
    aws.rds
        .describe_db_instances()
        .filters(cluster_filter(cluster_id))
        .send()
        .await
        .unwrap()
        .db_instances()
        .to_vec()
}
