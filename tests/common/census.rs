//! How many resources of each kind a stack has, counted through the SDK
//! from names and tags, and what a complete stack holds.

use super::{log_groups, stack_roles, tag_filter};
use std::collections::BTreeMap;

/// How many resources of each kind exist for `suffix`, counted through the
/// SDK from names and tags (never through provision itself), so duplicates
/// and leftovers show.
pub async fn census(aws: &provision::aws::Clients, s: &str) -> BTreeMap<&'static str, usize> {
    let f = || tag_filter(s);
    let ec2 = &aws.ec2;
    let mut m = BTreeMap::new();
    let mine = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("EnvironmentSuffix") && t.value() == Some(s))
    };
    m.insert(
        "vpc",
        ec2.describe_vpcs().filters(f()).send().await.unwrap().vpcs().len(),
    );
    m.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    m.insert(
        "igw",
        ec2.describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    m.insert(
        "eip",
        ec2.describe_addresses()
            .filters(f())
            .send()
            .await
            .unwrap()
            .addresses()
            .len(),
    );
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    m.insert(
        "nat",
        nats.nat_gateways()
            .iter()
            .filter(|n| mine(n.tags()))
            .filter(|n| matches!(n.state().map(|x| x.as_str()), Some("pending") | Some("available")))
            .count(),
    );
    m.insert(
        "route-table",
        ec2.describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    m.insert(
        "security-group",
        ec2.describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    m.insert(
        "flow-log",
        ec2.describe_flow_logs()
            .filter(f())
            .send()
            .await
            .unwrap()
            .flow_logs()
            .len(),
    );
    m.insert(
        "vpc-endpoint",
        ec2.describe_vpc_endpoints()
            .filters(f())
            .send()
            .await
            .unwrap()
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                !matches!(
                    e.state().map(|x| x.as_str().to_ascii_lowercase()).as_deref(),
                    Some("deleted" | "deleting")
                )
            })
            .count(),
    );
    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    let table = format!("ddb-idempotency-{s}");
    m.insert(
        "dynamodb-table",
        tables.table_names().iter().filter(|t| **t == table).count(),
    );
    m.insert("iam-role", stack_roles(aws, s).await.len());
    let groups = log_groups(aws, &format!("/provision/{s}/")).await.len()
        + log_groups(aws, &format!("/aws/rds/cluster/aurora-catalog-{s}/"))
            .await
            .len();
    m.insert("log-group", groups);
    let repos = aws
        .ecr
        .describe_repositories()
        .send()
        .await
        .map(|o| o.repositories().to_vec())
        .unwrap_or_default();
    m.insert(
        "ecr",
        repos
            .iter()
            .filter(|r| r.repository_name() == Some(&format!("ecr-api-{s}")))
            .count(),
    );
    let clusters = aws.rds.describe_db_clusters().send().await.unwrap();
    m.insert(
        "db-cluster",
        clusters
            .db_clusters()
            .iter()
            .filter(|c| c.db_cluster_identifier() == Some(&format!("aurora-catalog-{s}")))
            .count(),
    );
    let instances = aws.rds.describe_db_instances().send().await.unwrap();
    m.insert(
        "db-instance",
        instances
            .db_instances()
            .iter()
            .filter(|i| i.db_cluster_identifier() == Some(&format!("aurora-catalog-{s}")))
            .count(),
    );
    let secrets = aws.secrets.list_secrets().send().await.unwrap();
    m.insert(
        "secret",
        secrets
            .secret_list()
            .iter()
            .filter(|x| x.name() == Some(&format!("db-connection-{s}")))
            .count(),
    );
    let lbs = aws.elb.describe_load_balancers().send().await.unwrap();
    m.insert(
        "load-balancer",
        lbs.load_balancers()
            .iter()
            .filter(|l| l.load_balancer_name() == Some(&format!("alb-api-{s}")))
            .count(),
    );
    let tgs = aws.elb.describe_target_groups().send().await.unwrap();
    m.insert(
        "target-group",
        tgs.target_groups()
            .iter()
            .filter(|t| {
                t.target_group_name()
                    .is_some_and(|n| n.ends_with(&format!("-{s}")) && n.starts_with("tg-"))
            })
            .count(),
    );
    let clusters = aws.ecs.list_clusters().send().await.unwrap();
    let ecs_cluster = format!("ecs-api-{s}");
    let arns: Vec<String> = clusters
        .cluster_arns()
        .iter()
        .filter(|a| a.ends_with(&format!("/{ecs_cluster}")))
        .cloned()
        .collect();
    let active = if arns.is_empty() {
        0
    } else {
        let d = aws
            .ecs
            .describe_clusters()
            .set_clusters(Some(arns))
            .send()
            .await
            .unwrap();
        d.clusters().iter().filter(|c| c.status() == Some("ACTIVE")).count()
    };
    m.insert("ecs-cluster", active);
    let services = if active > 0 {
        let d = aws
            .ecs
            .describe_services()
            .cluster(&ecs_cluster)
            .services(format!("svc-api-{s}"))
            .send()
            .await
            .unwrap();
        d.services().iter().filter(|x| x.status() == Some("ACTIVE")).count()
    } else {
        0
    };
    m.insert("ecs-service", services);
    // The alarm topic's customer managed key: live (not pending deletion).
    let alias = format!("alias/kms-alarms-{s}");
    let mut keys = 0;
    for a in aws.kms.list_aliases().send().await.unwrap().aliases() {
        if a.alias_name() != Some(alias.as_str()) {
            continue;
        }
        if let Some(k) = a.target_key_id() {
            let meta = aws.kms.describe_key().key_id(k).send().await.unwrap();
            let state = meta
                .key_metadata()
                .and_then(|m| m.key_state())
                .map(|s| s.as_str().to_owned());
            if state.as_deref() != Some("PendingDeletion") {
                keys += 1;
            }
        }
    }
    m.insert("kms-key", keys);
    for (kind, n) in edge_census(aws, s).await {
        m.insert(kind, n);
    }
    m
}

/// The edge's resources of `s`, by their names (CloudFront's and WAF's
/// lists carry no tags): distributions by comment, VPC origins and web
/// ACLs by name, the delivery by its source, the us-east-1 log group.
pub async fn edge_census(aws: &provision::aws::Clients, s: &str) -> Vec<(&'static str, usize)> {
    let dists = aws.cloudfront.list_distributions().send().await.unwrap();
    let comment = format!("cf-api-{s}");
    let distributions = dists
        .distribution_list()
        .map(|l| l.items().iter().filter(|d| d.comment() == comment).count())
        .unwrap_or(0);
    let origins = aws.cloudfront.list_vpc_origins().send().await.unwrap();
    let origin = format!("vpco-api-{s}");
    let vpc_origins = origins
        .vpc_origin_list()
        .map(|l| l.items().iter().filter(|o| o.name() == origin).count())
        .unwrap_or(0);
    let acls = aws
        .wafv2_edge
        .list_web_acls()
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .send()
        .await
        .unwrap();
    let acl = format!("waf-api-{s}");
    let web_acls = acls
        .web_acls()
        .iter()
        .filter(|a| a.name() == Some(acl.as_str()))
        .count();
    let source = format!("cfsrc-api-{s}");
    let deliveries = aws.logs_edge.describe_deliveries().send().await.unwrap();
    let deliveries = deliveries
        .deliveries()
        .iter()
        .filter(|d| d.delivery_source_name() == Some(source.as_str()))
        .count();
    let groups = aws
        .logs_edge
        .describe_log_groups()
        .log_group_name_prefix(format!("/provision/{s}/"))
        .send()
        .await
        .unwrap()
        .log_groups()
        .len();
    vec![
        ("distribution", distributions),
        ("vpc-origin", vpc_origins),
        ("web-acl", web_acls),
        ("log-delivery", deliveries),
        ("edge-log-group", groups),
    ]
}

/// What a complete stack holds, per kind.
pub fn full_census() -> BTreeMap<&'static str, usize> {
    [
        ("vpc", 1),
        ("subnet", 9),
        ("igw", 1),
        ("eip", 3),
        ("nat", 3),
        ("route-table", 5),
        ("security-group", 3),
        ("flow-log", 1),
        ("vpc-endpoint", 2),
        ("dynamodb-table", 1),
        ("iam-role", 4),
        ("log-group", 4),
        ("ecr", 1),
        ("db-cluster", 1),
        ("db-instance", 2),
        ("secret", 1),
        ("load-balancer", 1),
        ("target-group", 2),
        ("ecs-cluster", 1),
        ("ecs-service", 1),
        ("kms-key", 1),
        ("distribution", 1),
        ("vpc-origin", 1),
        ("web-acl", 1),
        ("log-delivery", 1),
        ("edge-log-group", 1),
    ]
    .into()
}

/// What a complete stack without the edge (`--no-edge`) holds.
pub fn full_census_without_edge() -> BTreeMap<&'static str, usize> {
    let mut m = full_census();
    for kind in [
        "distribution",
        "vpc-origin",
        "web-acl",
        "log-delivery",
        "edge-log-group",
    ] {
        m.insert(kind, 0);
    }
    m
}

/// The census with every count zero.
pub fn empty_census() -> BTreeMap<&'static str, usize> {
    full_census().into_keys().map(|k| (k, 0)).collect()
}
