//! Finding the database's resources: one shared describe per kind, through
//! the inventory (`DescribeDBClusters`, `DescribeDBInstances`,
//! `DescribeDBSubnetGroups`, `DescribeDBClusterParameterGroups`, and
//! `ListSecrets` filtered by the stack's suffix tag).

use super::cluster_id;
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::naming::TAG_SUFFIX;
use crate::steps::{tag_value, Ctx, StepResult};
use aws_sdk_rds::types::{DbCluster, DbClusterParameterGroup, DbInstance, Filter};
use aws_sdk_secretsmanager::types::{FilterNameStringType, SecretListEntry};
use std::sync::Arc;

pub(super) async fn clusters(cx: &Ctx) -> StepResult<Arc<Vec<DbCluster>>> {
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

pub(super) async fn cluster(cx: &Ctx) -> StepResult<Option<DbCluster>> {
    let id = cluster_id(cx);
    Ok(clusters(cx)
        .await?
        .iter()
        .find(|c| c.db_cluster_identifier() == Some(id.as_str()))
        .cloned())
}

pub(super) async fn instances(cx: &Ctx) -> StepResult<Arc<Vec<DbInstance>>> {
    cx.inventory
        .get("rds:instances", || async {
            let pages = cx
                .aws
                .rds
                .describe_db_instances()
                .filters(Filter::builder().name("db-cluster-id").values(cluster_id(cx)).build())
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("DescribeDBInstances")
                .or_not_found()?;
            Ok(pages
                .iter()
                .flatten()
                .flat_map(|p| p.db_instances().iter().cloned())
                .collect())
        })
        .await
}

/// The subnet group called `name`, if it exists.
pub(super) async fn subnet_groups(cx: &Ctx, name: &str) -> StepResult<Arc<Vec<aws_sdk_rds::types::DbSubnetGroup>>> {
    cx.inventory
        .get("rds:subnet-groups", || async {
            let out = cx
                .aws
                .rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send()
                .await
                .aws("DescribeDBSubnetGroups")
                .or_not_found()?;
            Ok(out.map(|o| o.db_subnet_groups().to_vec()).unwrap_or_default())
        })
        .await
}

/// The cluster parameter group called `name`, if it exists.
pub(super) async fn cluster_parameter_groups(cx: &Ctx, name: &str) -> StepResult<Arc<Vec<DbClusterParameterGroup>>> {
    cx.inventory
        .get("rds:cluster-parameter-groups", || async {
            let out = cx
                .aws
                .rds
                .describe_db_cluster_parameter_groups()
                .db_cluster_parameter_group_name(name)
                .send()
                .await
                .aws("DescribeDBClusterParameterGroups")
                .or_not_found()?;
            Ok(out
                .map(|o| o.db_cluster_parameter_groups().to_vec())
                .unwrap_or_default())
        })
        .await
}

/// The stack's secrets in Secrets Manager, by tag (one call).
pub(super) async fn secrets(cx: &Ctx) -> StepResult<Arc<Vec<SecretListEntry>>> {
    cx.inventory
        .get("secrets:ours", || async {
            let pages = cx
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
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("ListSecrets")?;
            Ok(pages.iter().flat_map(|p| p.secret_list().iter().cloned()).collect())
        })
        .await
}

pub(super) fn secret_tag<'a>(s: &'a SecretListEntry, key: &str) -> Option<&'a str> {
    tag_value(s.tags(), key, |t| t.key(), |t| t.value())
}
