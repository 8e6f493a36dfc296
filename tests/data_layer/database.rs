//! The database as the first `up` leaves it: the subnet group over the
//! isolated subnets, the parameter group, the Aurora cluster and its two
//! Serverless v2 instances.

use crate::cluster_instances;
use crate::common::*;
use serde_json::Value;

fn rds_has_tag(tags: &[aws_sdk_rds::types::Tag], k: &str, v: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(k) && t.value() == Some(v))
}

/// Checks the subnet group, the parameter group, the cluster and its
/// instances; returns the cluster.
pub async fn check_built(
    aws: &provision::aws::Clients,
    stack: &Stack,
    outputs: &Value,
) -> aws_sdk_rds::types::DbCluster {
    let s = &stack.suffix;
    // Subnet group over exactly the three isolated subnets.
    let want = subnet_ids(aws, s, "isolated").await;
    assert_eq!(want.len(), 3);
    let sg_name = stack.name("dbsubnet", "catalog");
    let groups = aws
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(&sg_name)
        .send()
        .await
        .unwrap();
    let mut have: Vec<&str> = groups.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|x| x.subnet_identifier())
        .collect();
    have.sort();
    assert_eq!(have, want);

    // Parameter group: family of the major, TLS forced.
    let pg_name = stack.name("dbparams", "catalog");
    let pg = aws
        .rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name(&pg_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        pg.db_cluster_parameter_groups()[0].db_parameter_group_family(),
        Some("aurora-postgresql16")
    );
    let params = aws
        .rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name(&pg_name)
        .send()
        .await
        .unwrap();
    let ssl = params
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("rds.force_ssl"))
        .expect("rds.force_ssl set");
    assert_eq!(ssl.parameter_value(), Some("1"));

    // The cluster.
    let cluster_id = stack.name("aurora", "catalog");
    let c = db_cluster(aws, s).await;
    assert_eq!(c.engine(), Some("aurora-postgresql"));
    assert_eq!(
        c.engine_version(),
        Some("16.6"),
        "newest available 16.x of what the region offers"
    );
    assert_eq!(c.database_name(), Some("catalog"));
    assert_eq!(c.storage_encrypted(), Some(true));
    assert_eq!(c.backup_retention_period(), Some(7));
    assert_ne!(c.copy_tags_to_snapshot(), Some(false));
    assert_eq!(c.enabled_cloudwatch_logs_exports(), ["postgresql"]);
    let sc = c.serverless_v2_scaling_configuration().unwrap();
    assert_eq!((sc.min_capacity(), sc.max_capacity()), (Some(0.5), Some(4.0)));
    assert_ne!(c.deletion_protection(), Some(true));
    assert_eq!(c.db_subnet_group(), Some(sg_name.as_str()));
    assert_eq!(c.db_cluster_parameter_group(), Some(pg_name.as_str()));
    let sg_db = sg_id(aws, s, "sg-db").await;
    let cluster_sgs: Vec<&str> = c
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(cluster_sgs, [sg_db]);
    assert!(rds_has_tag(c.tag_list(), "EnvironmentSuffix", s));
    assert_eq!(outputs["AuroraDatabaseEndpoint"], c.endpoint().unwrap());
    assert_eq!(outputs["AuroraReaderEndpoint"], c.reader_endpoint().unwrap());
    // Two Serverless v2 instances in different zones.
    let inst = cluster_instances(aws, &cluster_id).await;
    let mut ids: Vec<&str> = inst.iter().filter_map(|i| i.db_instance_identifier()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("aurora-catalog-reader-{s}"),
            format!("aurora-catalog-writer-{s}")
        ]
    );
    assert!(inst.iter().all(|i| i.db_instance_class() == Some("db.serverless")));
    assert!(inst.iter().all(|i| i.publicly_accessible() != Some(true)));
    let azs: std::collections::BTreeSet<&str> = inst.iter().filter_map(|i| i.availability_zone()).collect();
    assert_eq!(azs.len(), 2, "writer and reader in different zones");
    c
}
