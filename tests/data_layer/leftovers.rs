//! What `down` must leave of the data layer: nothing but what the
//! operator brought. Looked up by name and tag through the SDK.

use crate::cluster_filter;
use crate::common::*;

/// Everything of the data layer that still carries the suffix.
pub async fn data_leftovers(aws: &provision::aws::Clients, suffix: &str) -> Vec<String> {
    let mut left = Vec::new();
    let repo = format!("ecr-api-{suffix}");
    if aws
        .ecr
        .describe_repositories()
        .repository_names(&repo)
        .send()
        .await
        .is_ok()
    {
        left.push(format!("repository {repo}"));
    }
    let cluster = format!("aurora-catalog-{suffix}");
    let clusters = aws
        .rds
        .describe_db_clusters()
        .filters(cluster_filter(&cluster))
        .send()
        .await
        .unwrap();
    left.extend(
        clusters
            .db_clusters()
            .iter()
            .map(|c| format!("cluster {:?}", c.db_cluster_identifier())),
    );
    let instances = aws.rds.describe_db_instances().send().await.unwrap();
    left.extend(
        instances
            .db_instances()
            .iter()
            .filter(|i| {
                i.db_instance_identifier()
                    .unwrap_or_default()
                    .ends_with(&format!("-{suffix}"))
            })
            .map(|i| format!("instance {:?}", i.db_instance_identifier())),
    );
    let sg = format!("dbsubnet-catalog-{suffix}");
    if aws
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(&sg)
        .send()
        .await
        .is_ok()
    {
        left.push(format!("subnet group {sg}"));
    }
    let pg = format!("dbparams-catalog-{suffix}");
    if aws
        .rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name(&pg)
        .send()
        .await
        .is_ok()
    {
        left.push(format!("parameter group {pg}"));
    }
    let secrets = aws.secrets.list_secrets().send().await.unwrap();
    for s in secrets.secret_list() {
        let ours = s
            .tags()
            .iter()
            .any(|t| t.key() == Some("EnvironmentSuffix") && t.value() == Some(suffix))
            || s.name().unwrap_or_default().ends_with(&format!("-{suffix}"));
        if ours {
            left.push(format!("secret {:?}", s.name()));
        }
    }
    left.extend(
        stack_roles(aws, suffix)
            .await
            .iter()
            .filter(|r| {
                ["exec", "task", "ecsinfra"]
                    .iter()
                    .any(|p| r.role_name() == format!("role-{p}-{suffix}"))
            })
            .map(|r| format!("role {}", r.role_name())),
    );
    left
}
