//! Who may reach the database and how: the connection secret (no
//! password in it) and the least-privilege roles of the tasks.

use crate::common::*;
use crate::secret_value;
use serde_json::Value;

pub fn actions_and_resources(doc: &Value) -> Vec<(Vec<String>, Vec<String>)> {
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

/// The resources of the statement that allows exactly `action`.
pub fn resources_of<'a>(statements: &'a [(Vec<String>, Vec<String>)], action: &str) -> Option<&'a Vec<String>> {
    statements.iter().find(|(a, _)| a == &[action]).map(|(_, r)| r)
}

pub async fn inline_policy(aws: &provision::aws::Clients, role: &str) -> Value {
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

/// Checks the connection secret and the roles against the `cluster`, its
/// `master_secret` and the repository `repo_arn`.
pub async fn check_built(
    aws: &provision::aws::Clients,
    stack: &Stack,
    c: &aws_sdk_rds::types::DbCluster,
    master_secret: &str,
    repo_arn: &str,
) {
    let s = &stack.suffix;
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
    let mut secrets = resources_of(&statements, "secretsmanager:GetSecretValue")
        .unwrap()
        .clone();
    secrets.sort();
    // The execution role injects only the connection secret; the task role
    // (the app itself) reads the credentials and may connect as its role.
    assert_eq!(secrets, vec![conn_arn.clone()]);
    let task = inline_policy(aws, &stack.name("role", "task")).await;
    let task_statements = actions_and_resources(&task);
    let read = resources_of(&task_statements, "secretsmanager:GetSecretValue")
        .expect("the task role reads the credentials secret");
    assert_eq!(read, &vec![master_secret.to_owned()]);
    let connect = resources_of(&task_statements, "rds-db:connect").expect("the task role may connect with IAM auth");
    assert!(connect[0].ends_with("/catalog_app"), "{connect:?}");
    let pull = statements
        .iter()
        .find(|(a, _)| a.contains(&"ecr:BatchGetImage".to_string()))
        .unwrap();
    assert_eq!(pull.1, [repo_arn]);
    for (actions, resources) in &statements {
        if resources.contains(&"*".to_string()) {
            assert_eq!(actions, &["ecr:GetAuthorizationToken"], "only the token call is on *");
        }
    }
    let (_, table) = task_statements
        .iter()
        .find(|(a, _)| a.contains(&"dynamodb:PutItem".to_string()))
        .expect("the task role writes idempotency keys");
    assert_eq!(table.len(), 1, "{table:?}");
    assert!(table[0].ends_with(&format!(":table/ddb-idempotency-{s}")), "{table:?}");
    let task_actions: Vec<String> = task_statements.into_iter().flat_map(|(a, _)| a).collect();
    // Traces, the app's own database credentials (reading the secret and
    // connecting as its IAM-auth role), and its idempotency keys (four item
    // actions on the stack's table only).
    assert!(
        task_actions.iter().all(|a| a.starts_with("xray:")
            || a == "secretsmanager:GetSecretValue"
            || a == "rds-db:connect"
            || provision::steps::identity::IDEMPOTENCY_ACTIONS.contains(&a.as_str())
            || a == "kms:Decrypt"
            || a == "kms:GenerateDataKey"),
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
}
