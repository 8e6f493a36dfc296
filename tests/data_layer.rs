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

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

const MOTO: &str = "data";

/// The steps of this layer.
const DATA_STEPS: &[&str] = &[
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
struct Env {
    proxy: Proxy,
    aws: provision::aws::Clients,
    stack: Stack,
}

impl Env {
    async fn new(prefix: &str) -> Env {
        let moto_url = moto_direct(MOTO);
        let proxy = Proxy::start(&moto_url, &[]);
        Env {
            aws: clients(&moto_url).await,
            stack: Stack::new(&proxy.url, &suffix(prefix)),
            proxy,
        }
    }
}

async fn vpc_count(aws: &provision::aws::Clients, suffix: &str) -> usize {
    aws.ec2
        .describe_vpcs()
        .filters(tag_filter(suffix))
        .send()
        .await
        .unwrap()
        .vpcs()
        .len()
}

fn rds_has_tag(tags: &[aws_sdk_rds::types::Tag], k: &str, v: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(k) && t.value() == Some(v))
}

async fn secret_value(aws: &provision::aws::Clients, id: &str) -> String {
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

fn actions_and_resources(doc: &Value) -> Vec<(Vec<String>, Vec<String>)> {
    let list = |v: &Value| match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        _ => vec![],
    };
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (list(&s["Action"]), list(&s["Resource"])))
        .collect()
}

async fn inline_policy(aws: &provision::aws::Clients, role: &str) -> Value {
    let doc = aws
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name("least-privilege")
        .send()
        .await
        .unwrap()
        .policy_document()
        .to_owned();
    let doc = percent_decode(&doc);
    serde_json::from_str(&doc).unwrap()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Everything of the data layer that still carries the suffix.
async fn data_leftovers(aws: &provision::aws::Clients, suffix: &str) -> Vec<String> {
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
    let f = aws_sdk_rds::types::Filter::builder()
        .name("db-cluster-id")
        .values(&cluster)
        .build();
    let clusters = aws.rds.describe_db_clusters().filters(f.clone()).send().await.unwrap();
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
    let roles = aws
        .iam
        .list_roles()
        .path_prefix(format!("/provision/{suffix}/"))
        .send()
        .await
        .unwrap();
    left.extend(
        roles
            .roles()
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

/// Every step of this layer is `present` (found, no drift) in a `status
/// --json` document. (The whole stack's `converged` also depends on the
/// compute layer, some of whose settings moto drops.)
fn assert_data_steps_present(doc: &Value) {
    let rows = doc["steps"].as_array().expect("steps");
    for step in DATA_STEPS {
        let row = rows
            .iter()
            .find(|r| r["step"] == *step)
            .unwrap_or_else(|| panic!("{step} missing from status"));
        assert_eq!(row["state"], "present", "{row}");
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread")]
async fn up_builds_the_data_layer_converges_and_down_removes_it() {
    let env = Env::new("dl").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let out = stack.ok("-vvv up", &["--outputs", "out/flat.json"]);
    let outputs: Value = serde_json::from_str(&out).expect("outputs JSON on stdout");

    // ECR: encryption, scan on push, mutability, lifecycle, tags.
    let repo_name = stack.name("ecr", "api");
    let repos = aws
        .ecr
        .describe_repositories()
        .repository_names(&repo_name)
        .send()
        .await
        .unwrap();
    let repo = &repos.repositories()[0];
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(repo.image_tag_mutability().unwrap().as_str(), "MUTABLE");
    assert_eq!(
        repo.encryption_configuration().unwrap().encryption_type().as_str(),
        "AES256"
    );
    assert_eq!(outputs["ECRRepositoryUri"], repo.repository_uri().unwrap());
    let policy = aws
        .ecr
        .get_lifecycle_policy()
        .repository_name(&repo_name)
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    assert_eq!(policy["rules"][0]["selection"]["countType"], "imageCountMoreThan");
    assert_eq!(policy["rules"][0]["selection"]["countNumber"], 10);
    assert_eq!(policy["rules"][0]["selection"]["tagStatus"], "any");
    let tags = aws
        .ecr
        .list_tags_for_resource()
        .resource_arn(repo.repository_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "EnvironmentSuffix" && t.value() == s));

    // Subnet group over exactly the three isolated subnets.
    let isolated = aws
        .ec2
        .describe_subnets()
        .filters(tag_filter(&s))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Tier")
                .values("isolated")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut want: Vec<&str> = isolated.subnets().iter().filter_map(|x| x.subnet_id()).collect();
    want.sort();
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
    let clusters = aws
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .unwrap();
    let c = &clusters.db_clusters()[0];
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
    let sg_db = aws
        .ec2
        .describe_security_groups()
        .filters(tag_filter(&s))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:provision:step")
                .values("sg-db")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let sg_db = sg_db.security_groups()[0].group_id().unwrap();
    let cluster_sgs: Vec<&str> = c
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(cluster_sgs, [sg_db]);
    assert!(rds_has_tag(c.tag_list(), "EnvironmentSuffix", &s));
    let master_secret = c
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .expect("RDS manages the master password");
    assert_eq!(outputs["AuroraDatabaseEndpoint"], c.endpoint().unwrap());
    assert_eq!(outputs["AuroraReaderEndpoint"], c.reader_endpoint().unwrap());

    // Two Serverless v2 instances in different zones.
    let f = aws_sdk_rds::types::Filter::builder()
        .name("db-cluster-id")
        .values(&cluster_id)
        .build();
    let inst = aws.rds.describe_db_instances().filters(f).send().await.unwrap();
    let mut ids: Vec<&str> = inst
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("aurora-catalog-reader-{s}"),
            format!("aurora-catalog-writer-{s}")
        ]
    );
    assert!(inst
        .db_instances()
        .iter()
        .all(|i| i.db_instance_class() == Some("db.serverless")));
    assert!(inst
        .db_instances()
        .iter()
        .all(|i| i.publicly_accessible() != Some(true)));
    let azs: std::collections::BTreeSet<&str> = inst
        .db_instances()
        .iter()
        .filter_map(|i| i.availability_zone())
        .collect();
    assert_eq!(azs.len(), 2, "writer and reader in different zones");

    // The connection secret: how to connect, no password.
    let conn_name = stack.name("db", "connection");
    let conn: Value = serde_json::from_str(&secret_value(aws, &conn_name).await).unwrap();
    let mut keys: Vec<&String> = conn.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["dbname", "host", "port", "sslmode", "username"]);
    assert_eq!(conn["host"], c.endpoint().unwrap());
    assert_eq!(conn["port"], 5432);
    assert_eq!(conn["dbname"], "catalog");
    assert_eq!(conn["sslmode"], "require");
    assert_eq!(conn["username"], c.master_username().unwrap());
    let conn_desc = aws
        .secrets
        .describe_secret()
        .secret_id(&conn_name)
        .send()
        .await
        .unwrap();
    let conn_arn = conn_desc.arn().unwrap().to_owned();
    assert!(conn_desc
        .tags()
        .iter()
        .any(|t| t.key() == Some("EnvironmentSuffix") && t.value() == Some(s.as_str())));

    // Roles: least privilege on exactly this stack's resources.
    let exec = inline_policy(aws, &stack.name("role", "exec")).await;
    let statements = actions_and_resources(&exec);
    let get_secret = statements
        .iter()
        .find(|(a, _)| a == &["secretsmanager:GetSecretValue"])
        .unwrap();
    let mut secrets = get_secret.1.clone();
    secrets.sort();
    // The execution role injects only the connection secret; the task role
    // (the app itself) reads the credentials and may connect as its role.
    assert_eq!(secrets, vec![conn_arn.clone()]);
    let task = inline_policy(aws, &stack.name("role", "task")).await;
    let task_statements = actions_and_resources(&task);
    let read = task_statements
        .iter()
        .find(|(a, _)| a == &["secretsmanager:GetSecretValue"])
        .expect("the task role reads the credentials secret");
    assert_eq!(read.1, vec![master_secret.to_owned()]);
    let connect = task_statements
        .iter()
        .find(|(a, _)| a == &["rds-db:connect"])
        .expect("the task role may connect with IAM auth");
    assert!(connect.1[0].ends_with("/catalog_app"), "{connect:?}");
    let pull = statements
        .iter()
        .find(|(a, _)| a.contains(&"ecr:BatchGetImage".to_string()))
        .unwrap();
    assert_eq!(pull.1, [repo.repository_arn().unwrap()]);
    for (actions, resources) in &statements {
        if resources.contains(&"*".to_string()) {
            assert_eq!(actions, &["ecr:GetAuthorizationToken"], "only the token call is on *");
        }
    }
    let task = inline_policy(aws, &stack.name("role", "task")).await;
    let task_actions: Vec<String> = actions_and_resources(&task).into_iter().flat_map(|(a, _)| a).collect();
    // Traces, and the app's own database credentials: reading the secret
    // and connecting as its IAM-auth role.
    assert!(
        task_actions
            .iter()
            .all(|a| a.starts_with("xray:") || a == "secretsmanager:GetSecretValue" || a == "rds-db:connect"),
        "{task_actions:?}"
    );
    assert!(task_actions.iter().any(|a| a == "rds-db:connect"), "{task_actions:?}");
    let infra = stack.name("role", "ecsinfra");
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&infra)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(
        arns,
        ["arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"]
    );
    let inline = aws.iam.list_role_policies().role_name(&infra).send().await.unwrap();
    assert!(inline.policy_names().is_empty());
    let infra_role = aws.iam.get_role().role_name(&infra).send().await.unwrap();
    let trust = percent_decode(infra_role.role().unwrap().assume_role_policy_document().unwrap());
    assert!(
        trust.contains("ecs.amazonaws.com") && !trust.contains("ecs-tasks"),
        "{trust}"
    );

    // A converged run creates nothing and costs one describe per kind.
    env.proxy.reset();
    let out = stack.ok_output("up", &["--outputs", "out/flat.json"]);
    let err = stderr(&out);
    assert!(err.contains("up: 0 created,"), "{err}");
    // (moto drops some ECS service settings, so the compute layer may
    // "repair" on every run: only this layer's steps are checked here.)
    for step in DATA_STEPS {
        assert!(
            !err.contains(&format!("{step}: repaired")),
            "{step} drifted on a converged run:\n{err}"
        );
        assert!(
            err.contains(&format!("{step}: found")),
            "{step} not found on a converged run:\n{err}"
        );
    }
    let calls = env.proxy.calls();
    let count = |op: &str| calls.get(op).copied().unwrap_or(0);
    assert_eq!(count("DescribeDBEngineVersions"), 0, "{calls:?}");
    for op in [
        "DescribeRepositories",
        "DescribeDBClusters",
        "DescribeDBInstances",
        "DescribeDBSubnetGroups",
        "DescribeDBClusterParameterGroups",
        "ListSecrets",
        "ListRoles",
    ] {
        assert_eq!(count(op), 1, "{op}: {calls:?}");
    }
    assert!(
        !calls.contains_key("CreateDBCluster") && !calls.contains_key("ModifyDBCluster"),
        "{calls:?}"
    );

    // status: converged, with image count and database statuses.
    let out = stack.run("-vvv status", &["--json"]);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_data_steps_present(&doc);
    assert_eq!(doc["details"]["ecr"]["image_count"], 0);
    assert_eq!(doc["details"]["ecr"]["newest_tag"], Value::Null);
    assert_eq!(doc["details"]["database"]["status"], "available");
    assert_eq!(doc["details"]["database"]["instances"].as_object().unwrap().len(), 2);

    // No secret value anywhere: not at -vvv, not in state.
    let password: Value = serde_json::from_str(&secret_value(aws, master_secret).await).unwrap();
    let password = password["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 8, "a password worth searching for");
    stack.ok("-vvv down", &["--yes"]);
    let all = stack.transcript();
    assert!(all.contains(&cluster_id), "the transcript is real");
    assert!(
        all.contains(&format!("\"{master_secret}\"")),
        "the state snapshots are in the transcript"
    );
    assert!(!all.contains(&password), "the master password leaked");

    let left = data_leftovers(aws, &s).await;
    assert!(left.is_empty(), "left after down: {left:?}");
    assert_eq!(vpc_count(aws, &s).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_db_secret_fails_before_anything_is_created() {
    let env = Env::new("dm").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let missing = format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:nope-{s}-AbCdEf");
    let out = stack.run("up", &["--db-secret-arn", &missing]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--db-secret-arn") && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(vpc_count(aws, &s).await, 0, "nothing may be created");
    assert_eq!(env.proxy.calls().get("CreateVpc"), None);
    assert!(
        env.proxy.calls().contains_key("DescribeSecret"),
        "the secret was looked up"
    );

    // A secret without a password is refused too, without quoting it.
    let bad = format!("bad-creds-{s}");
    let sentinel = format!("tok-{s}-Zq8Jw3Lm");
    aws.secrets
        .create_secret()
        .name(&bad)
        .secret_string(format!(r#"{{"username":"svc","token":"{sentinel}"}}"#))
        .send()
        .await
        .unwrap();
    let out = stack.run("-vvv up", &["--db-secret-arn", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("password"), "{err}");
    assert!(
        !stack.transcript().contains(&sentinel),
        "the secret's value was printed"
    );
    assert_eq!(vpc_count(aws, &s).await, 0);
    aws.secrets
        .delete_secret()
        .secret_id(&bad)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_secret_is_used_never_printed_and_never_deleted() {
    let env = Env::new("de").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let name = format!("ext-creds-{s}");
    let password = format!("Pw-{s}-9fK2mQ7xR4");
    let created = env
        .aws
        .secrets
        .create_secret()
        .name(&name)
        .secret_string(format!(r#"{{"username":"catalog_app","password":"{password}"}}"#))
        .send()
        .await
        .unwrap();
    let ext_arn = created.arn().unwrap().to_owned();

    // Given by name; resolved to its ARN.
    stack.ok("-vvv up", &["--db-secret-arn", &name]);
    let conn: Value = serde_json::from_str(&secret_value(aws, &stack.name("db", "connection")).await).unwrap();
    assert_eq!(conn["username"], "catalog_app");
    assert!(conn.get("password").is_none());
    let task = inline_policy(aws, &stack.name("role", "task")).await;
    let statements = actions_and_resources(&task);
    let get_secret = statements
        .iter()
        .find(|(a, _)| a == &["secretsmanager:GetSecretValue"])
        .unwrap();
    assert!(get_secret.1.contains(&ext_arn), "{get_secret:?}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(stack.state_file()).unwrap()).unwrap();
    assert_eq!(state["steps"]["secret-db-credentials"]["id"], ext_arn.as_str());

    let out = stack.run("-vvv status", &["--db-secret-arn", &name, "--json"]);
    assert_data_steps_present(&serde_json::from_str(&stdout(&out)).unwrap());
    stack.ok("-vvv down", &["--db-secret-arn", &name, "--yes"]);
    let all = stack.transcript();
    assert!(
        all.contains(&format!("\"{ext_arn}\"")),
        "the state snapshots are in the transcript"
    );
    assert!(!all.contains(&password), "the operator's password leaked");

    let still = env
        .aws
        .secrets
        .describe_secret()
        .secret_id(&ext_arn)
        .send()
        .await
        .unwrap();
    assert!(
        still.deleted_date().is_none(),
        "the operator's secret must not be deleted"
    );
    let left = data_leftovers(aws, &s).await;
    assert_eq!(
        left,
        [format!("secret Some({name:?})")],
        "only the operator's secret stays"
    );
    aws.secrets
        .delete_secret()
        .secret_id(&ext_arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_version_the_region_lacks_fails_listing_what_it_offers() {
    let env = Env::new("dv").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let out = stack.run("up", &["--db-engine-version", "16.99"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("16.99") && err.contains("15.10, 16.2, 16.4, 16.6, 17.2"),
        "{err}"
    );
    assert_eq!(vpc_count(aws, &s).await, 0, "nothing may be created");
}

fn fake_engine(dir: &Path, bin: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(bin);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn image_push_without_a_container_engine_says_how_to_push_elsewhere() {
    let env = Env::new("dp").await;
    let stack = &env.stack;
    stack.ok("step ecr-repo", &[]);
    let bin = stack.p.workdir.join("nodaemon");
    std::fs::create_dir_all(&bin).unwrap();
    // A client without a daemon, as on this machine.
    fake_engine(&bin, "docker", "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1");
    fake_engine(&bin, "podman", "echo 'cannot connect to Podman' >&2; exit 125");
    fake_engine(&bin, "buildah", "exit 1");
    let out = stack
        .command("image push", &["--tag", "v7"])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let uri = format!("123456789012.dkr.ecr.{REGION}.amazonaws.com/ecr-api-{}", stack.suffix);
    assert!(err.contains("no working container engine"), "{err}");
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(
        err.contains("docker login --username AWS --password-stdin 123456789012.dkr.ecr"),
        "{err}"
    );
    assert!(err.contains(&format!("docker push {uri}:v7")), "{err}");
    assert!(err.contains("--image"), "{err}");
    assert!(stdout(&out).is_empty());
    stack.ok("step ecr-repo", &["--undo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn image_push_passes_the_registry_password_on_stdin_only() {
    let env = Env::new("dq").await;
    let stack = &env.stack;
    stack.ok("step ecr-repo", &[]);
    let dir = stack.p.workdir.clone();
    let bin = dir.join("engine");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("docker.args");
    let stdin = dir.join("login.stdin");
    fake_engine(
        &bin,
        "docker",
        &format!(
            "echo \"$@\" >> {log}\nif [ \"$1\" = login ]; then /bin/cat > {stdin}; fi\nexit 0",
            log = log.display(),
            stdin = stdin.display()
        ),
    );
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\n").unwrap();
    let out = stack
        .command("-vvv image push", &["--tag", "v1", "--context"])
        .arg(&ctx)
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let uri = format!(
        "123456789012.dkr.ecr.{REGION}.amazonaws.com/ecr-api-{}:v1",
        stack.suffix
    );
    assert_eq!(stdout(&out).trim(), uri);
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.contains("login --username AWS --password-stdin 123456789012.dkr.ecr"),
        "{args}"
    );
    assert!(
        args.contains(&format!("build --platform linux/amd64 -t {uri} {}", ctx.display())),
        "{args}"
    );
    assert!(args.contains(&format!("push {uri}")), "{args}");
    assert!(args.contains("logout"), "{args}");
    // moto's registry password for the default account.
    let password = "123456789012-auth-token";
    assert_eq!(std::fs::read_to_string(&stdin).unwrap(), password);
    assert!(!args.contains(password), "password on a command line");
    assert!(
        !stderr(&out).contains(password) && !stdout(&out).contains(password),
        "password printed"
    );
    stack.ok("step ecr-repo", &["--undo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_data_stops_down_until_protection_is_turned_off_and_keeps_a_final_snapshot() {
    let env = Env::new("dz").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let cluster_id = stack.name("aurora", "catalog");
    stack.ok("up", &["--protect-data"]);
    let c = env
        .aws
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].deletion_protection(), Some(true));

    // down refuses to touch any part of the database.
    let out = stack.run("down", &["--protect-data", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("deletion protection") && err.contains("hint:"), "{err}");
    let f = aws_sdk_rds::types::Filter::builder()
        .name("db-cluster-id")
        .values(&cluster_id)
        .build();
    let inst = aws.rds.describe_db_instances().filters(f).send().await.unwrap();
    assert_eq!(inst.db_instances().len(), 2, "no instance may be deleted");

    // `up --no-protect-data` (a destructive change: --yes) turns it off...
    let out = stack.ok_output("up", &["--no-protect-data", "--yes"]);
    assert!(stderr(&out).contains("db-cluster: repaired"), "{}", stderr(&out));
    let c = env
        .aws
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].deletion_protection(), Some(false));

    // ...and `down --protect-data` then keeps a final snapshot.
    stack.ok("down", &["--protect-data", "--yes"]);
    let snaps = aws.rds.describe_db_cluster_snapshots().send().await.unwrap();
    let finals: Vec<String> = snaps
        .db_cluster_snapshots()
        .iter()
        .filter_map(|x| x.db_cluster_snapshot_identifier())
        .filter(|id| id.starts_with(&format!("{cluster_id}-final-")))
        .map(str::to_owned)
        .collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
    assert!(data_leftovers(aws, &s).await.is_empty());
    for id in finals {
        aws.rds
            .delete_db_cluster_snapshot()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
            .unwrap();
    }
}
