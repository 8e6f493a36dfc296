//! The data layer's whole life: `up` builds it (checked here, in
//! `database` and in `access`), a second `up` finds it converged at one
//! describe per kind, `status` reports it, `down` removes it, and no secret
//! value is ever printed or stored.

use crate::common::*;
use crate::leftovers::data_leftovers;
use crate::{access, database};
use crate::{assert_data_steps_present, secret_value, vpc_count, Env, DATA_STEPS};
use serde_json::Value;

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

    let cluster = database::check_built(aws, stack, &outputs).await;
    let master_secret = cluster
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .expect("RDS manages the master password");
    let repo_arn = repo.repository_arn().unwrap();
    access::check_built(aws, stack, &cluster, master_secret, repo_arn).await;

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
    assert!(all.contains(&stack.name("aurora", "catalog")), "the transcript is real");
    assert!(
        all.contains(&format!("\"{master_secret}\"")),
        "the state snapshots are in the transcript"
    );
    assert!(!all.contains(&password), "the master password leaked");

    let left = data_leftovers(aws, &s).await;
    assert!(left.is_empty(), "left after down: {left:?}");
    assert_eq!(vpc_count(aws, &s).await, 0);
}
