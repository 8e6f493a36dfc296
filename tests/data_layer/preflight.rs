//! What `up` refuses before it creates anything: a database secret that
//! does not exist or has no password, an engine version the region lacks.

use crate::common::*;
use crate::{create_secret, delete_secret, vpc_count, Env};

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
    create_secret(aws, &bad, &format!(r#"{{"username":"svc","token":"{sentinel}"}}"#)).await;
    let out = stack.run("-vvv up", &["--db-secret-arn", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("password"), "{err}");
    assert!(
        !stack.transcript().contains(&sentinel),
        "the secret's value was printed"
    );
    assert_eq!(vpc_count(aws, &s).await, 0);
    delete_secret(aws, &bad).await;
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
