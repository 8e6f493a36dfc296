//! A database secret the operator brings (`--db-secret-arn`): the stack
//! uses it, never prints its value, and `down` leaves it in place.

use crate::access::{actions_and_resources, inline_policy, resources_of};
use crate::common::*;
use crate::leftovers::data_leftovers;
use crate::{assert_data_steps_present, create_secret, delete_secret, secret_value, Env};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_secret_is_used_never_printed_and_never_deleted() {
    let env = Env::new("de").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let name = format!("ext-creds-{s}");
    let password = format!("Pw-{s}-9fK2mQ7xR4");
    let ext_arn = create_secret(
        aws,
        &name,
        &format!(r#"{{"username":"catalog_app","password":"{password}"}}"#),
    )
    .await;

    // Given by name; resolved to its ARN.
    stack.ok("-vvv up", &["--db-secret-arn", &name]);
    let conn: Value = serde_json::from_str(&secret_value(aws, &stack.name("db", "connection")).await).unwrap();
    assert_eq!(conn["username"], "catalog_app");
    assert!(conn.get("password").is_none());
    let task = inline_policy(aws, &stack.name("role", "task")).await;
    let statements = actions_and_resources(&task);
    let get_secret = resources_of(&statements, "secretsmanager:GetSecretValue").unwrap();
    assert!(get_secret.contains(&ext_arn), "{get_secret:?}");
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

    let still = aws.secrets.describe_secret().secret_id(&ext_arn).send().await.unwrap();
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
    delete_secret(aws, &ext_arn).await;
}
