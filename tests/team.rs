//! A team on one stack, against moto through the project's proxy
//! (AWS-realism mode) and the real binary. Each `Stack` has its own
//! working and state directories: two of them are two laptops (or two CI
//! runners) sharing one account. What must hold (issue #10): settings,
//! the deployed image and the lock live with the stack in the account's
//! state bucket, so a plain command from any machine does what was last
//! asked for; two runs of one new suffix build one stack; a stack is bound
//! to its account and region; destructive changes are confirmed.

mod common;

use common::*;
use serde_json::Value;
use std::process::Output;

const MOTO: &str = "team";
const ACCOUNT: &str = "123456789012";

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Every version and delete marker under `stacks/{suffix}/`.
async fn state_objects(aws: &provision::aws::Clients, suffix: &str) -> Vec<String> {
    let out = aws
        .s3
        .list_object_versions()
        .bucket(state_bucket())
        .prefix(stack_key(suffix, ""))
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = out
        .versions()
        .iter()
        .filter_map(|v| v.key().map(str::to_owned))
        .collect();
    keys.extend(out.delete_markers().iter().filter_map(|m| m.key().map(str::to_owned)));
    keys
}

/// The text of `stacks/{suffix}/{name}` in the state bucket.
async fn stack_object(aws: &provision::aws::Clients, suffix: &str, name: &str) -> String {
    let o = aws
        .s3
        .get_object()
        .bucket(state_bucket())
        .key(stack_key(suffix, name))
        .send()
        .await
        .unwrap();
    String::from_utf8_lossy(&o.body.collect().await.unwrap().into_bytes()).into_owned()
}

async fn record(aws: &provision::aws::Clients, suffix: &str) -> Value {
    serde_json::from_str(&stack_object(aws, suffix, "settings.json").await).unwrap()
}

async fn deletion_protection(aws: &provision::aws::Clients, suffix: &str) -> bool {
    db_cluster(aws, suffix).await.deletion_protection().unwrap()
}

async fn service_image(aws: &provision::aws::Clients, suffix: &str) -> String {
    service_app(aws, suffix).await.0
}

/// The image and the environment of the app container the service runs.
async fn service_app(
    aws: &provision::aws::Clients,
    suffix: &str,
) -> (String, std::collections::BTreeMap<String, String>) {
    let td = ecs_service(aws, suffix).await.task_definition().unwrap().to_owned();
    let app = app_container(aws, &td).await;
    let env = app
        .environment()
        .iter()
        .map(|e| {
            (
                e.name().unwrap_or_default().to_owned(),
                e.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (app.image().unwrap().to_owned(), env)
}

#[tokio::test(flavor = "multi_thread")]
async fn what_one_teammate_asked_for_is_what_a_plain_command_elsewhere_does() {
    let url = moto(MOTO);
    let s = long_suffix("tm");
    let (ana, ben) = (Stack::new(&url, &s), Stack::new(&url, &s));
    let aws = clients(&url).await;

    // Ana: a protected stack, with the image v1 in its registry.
    ana.ok("step ecr-repo", &[]);
    for tag in ["v1", "v2"] {
        put_image(&aws, &format!("ecr-api-{s}"), tag).await;
    }
    let out =
        tokio::task::block_in_place(|| ana.run("up", &["--protect-data", "--image-tag", "v1", "--spot-percent", "50"]));
    assert!(code(&out) == Some(0), "up failed: {}", stderr(&out));
    assert_stderr_has(&out, &["recording the settings"]);
    let rec = record(&aws, &s).await;
    assert_eq!(rec["account"], ACCOUNT);
    assert_eq!(rec["region"], REGION);
    assert_eq!(rec["settings"]["protect-data"], true);
    assert_eq!(rec["settings"]["spot-percent"], 50);

    // Ben, on another machine, types no flag: nothing to do, nothing drifted.
    let plan = tokio::task::block_in_place(|| ben.run("plan", &[]));
    assert_eq!(code(&plan), Some(0), "plan: {}\n{}", stdout(&plan), stderr(&plan));
    assert!(
        stdout(&plan).contains("protect-data") && stdout(&plan).contains("(recorded)"),
        "{}",
        stdout(&plan)
    );
    let st = tokio::task::block_in_place(|| ben.run("status", &[]));
    assert_eq!(code(&st), Some(0), "status: {}\n{}", stdout(&st), stderr(&st));
    tokio::task::block_in_place(|| ben.ok("up", &[]));
    assert!(
        deletion_protection(&aws, &s).await,
        "a plain up keeps deletion protection on"
    );

    // Turning protection off is destructive: shown by plan (exit 3),
    // refused by a non-interactive up without --yes, changing nothing.
    let plan = tokio::task::block_in_place(|| ben.run("plan", &["--no-protect-data"]));
    assert_eq!(code(&plan), Some(3), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("! protect-data: true -> false"),
        "{}",
        stdout(&plan)
    );
    let up = tokio::task::block_in_place(|| ben.run("up", &["--no-protect-data"]));
    assert_eq!(code(&up), Some(2), "{}", stderr(&up));
    assert_stderr_has(&up, &["destructive", "--yes"]);
    assert!(deletion_protection(&aws, &s).await);
    assert_eq!(record(&aws, &s).await["settings"]["protect-data"], true);

    // Ana deploys v2; Ben's plain up keeps it, and status calls it no drift.
    tokio::task::block_in_place(|| ana.ok("deploy", &["--image-tag", "v2", "--timeout", "120"]));
    assert!(service_image(&aws, &s).await.ends_with(":v2"));
    let rec = record(&aws, &s).await;
    assert!(rec["deployed"]["image"].as_str().unwrap().ends_with(":v2"), "{rec}");
    assert!(
        rec["deployed"]["digest"].as_str().unwrap().starts_with("sha256:"),
        "{rec}"
    );
    tokio::task::block_in_place(|| ben.ok("up", &[]));
    assert!(
        service_image(&aws, &s).await.ends_with(":v2"),
        "a plain up does not roll back a deploy"
    );
    let st = tokio::task::block_in_place(|| ben.run("status", &[]));
    assert_eq!(code(&st), Some(0), "{}\n{}", stdout(&st), stderr(&st));
    assert!(
        stdout(&st).contains("last deployed") && stdout(&st).contains(":v2"),
        "{}",
        stdout(&st)
    );

    // App configuration is a setting too: Ben adds a variable, which rolls
    // out a new revision (image kept); Ana's plain up keeps it.
    tokio::task::block_in_place(|| ben.ok("up", &["--env", "FEATURE_FLAGS=search"]));
    tokio::task::block_in_place(|| ana.ok("up", &[]));
    let (image, env) = service_app(&aws, &s).await;
    assert!(image.ends_with(":v2"), "{image}");
    assert_eq!(env.get("FEATURE_FLAGS").map(String::as_str), Some("search"), "{env:?}");

    // Ben's settings command shows the record and the history.
    let doc: Value = serde_json::from_str(&ben.ok("settings", &["--json"])).unwrap();
    assert_eq!(doc["effective"]["protect-data"]["source"], "recorded");
    assert!(
        doc["record"]["history"].as_array().is_some_and(|h| !h.is_empty()),
        "{doc}"
    );

    // Nothing in the state bucket holds a secret value.
    let mut stored = String::new();
    for key in ["settings.json", "state.json"] {
        stored.push_str(&stack_object(&aws, &s, key).await);
    }
    let secrets = aws.secrets.list_secrets().send().await.unwrap();
    let mut checked = 0;
    for sec in secrets.secret_list() {
        let v = aws
            .secrets
            .get_secret_value()
            .secret_id(sec.arn().unwrap())
            .send()
            .await
            .unwrap();
        let Ok(doc) = serde_json::from_str::<Value>(v.secret_string().unwrap_or("{}")) else {
            continue;
        };
        if let Some(pw) = doc["password"].as_str() {
            assert!(!stored.contains(pw), "a password is in the state bucket");
            checked += 1;
        }
    }
    assert!(checked >= 1, "the stack's credentials secret was checked");

    // Credentials of another account: refused before anything is created.
    let other = aws
        .sts
        .assume_role()
        .role_arn("arn:aws:iam::210987654321:role/deployer")
        .role_session_name("other-account")
        .send()
        .await
        .unwrap();
    let c = other.credentials().unwrap();
    let out = ben
        .command("up", &[])
        .env("AWS_ACCESS_KEY_ID", c.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", c.secret_access_key())
        .env("AWS_SESSION_TOKEN", c.session_token())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_stderr_has(&out, &[ACCOUNT, "210987654321"]);

    // Another region: bound elsewhere, refused with both named (exit 2).
    let out = ben
        .command("status", &[])
        .env("AWS_REGION", "us-west-2")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_stderr_has(&out, &[REGION, "us-west-2"]);
    // The stack file binds it on a machine that never ran it.
    let carl = Stack::new(&url, &s);
    std::fs::write(
        carl.p.workdir.join("provision.toml"),
        format!("[{s}]\naccount = \"{ACCOUNT}\"\nregion = \"{REGION}\"\n"),
    )
    .unwrap();
    let out = carl
        .command("status", &[])
        .env("AWS_REGION", "us-west-2")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_stderr_has(&out, &["stack file"]);

    // The stack file beats the record and shows in plan; `down` then removes
    // the stack's objects from the bucket, every version of them.
    std::fs::write(
        carl.p.workdir.join("provision.toml"),
        format!("[{s}]\nspot-percent = 20\n"),
    )
    .unwrap();
    let plan = tokio::task::block_in_place(|| carl.run("plan", &[]));
    assert_eq!(code(&plan), Some(3), "{}", stderr(&plan));
    assert!(stdout(&plan).contains("~ spot-percent: 50 -> 20"), "{}", stdout(&plan));
    tokio::task::block_in_place(|| ana.ok("up", &["--no-protect-data", "--yes"]));
    assert!(!deletion_protection(&aws, &s).await);
    tokio::task::block_in_place(|| ana.ok("down", &["--yes"]));
    assert_eq!(state_objects(&aws, &s).await, Vec::<String>::new());
    assert_eq!(census(&aws, &s).await, empty_census());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ups_of_one_new_suffix_at_the_same_moment_build_one_stack() {
    let url = moto(MOTO);
    let s = suffix("race");
    let (ana, ben) = (Stack::new(&url, &s), Stack::new(&url, &s));
    let spawn = |stack: &Stack| {
        stack
            .command("up", &[])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&ana), spawn(&ben));
    let (a, b) = tokio::task::spawn_blocking(move || (a.wait_with_output().unwrap(), b.wait_with_output().unwrap()))
        .await
        .unwrap();
    let outcomes = [code(&a), code(&b)];
    assert!(
        outcomes.contains(&Some(0)) && outcomes.contains(&Some(1)),
        "{outcomes:?}\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let loser = if code(&a) == Some(1) { &a } else { &b };
    let err = stderr(loser);
    assert!(
        err.contains("is locked by") && err.contains("provision up") && err.contains("pid"),
        "{err}"
    );
    let aws = clients(&url).await;
    assert_eq!(census(&aws, &s).await, full_census(), "one stack, not two");
    tokio::task::block_in_place(|| ben.ok("down", &["--yes"]));
    assert_eq!(census(&aws, &s).await, empty_census());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_holders_lock_goes_stale_and_unlock_removes_a_live_one_only_when_forced() {
    let s = suffix("lk");
    let stack = Stack::new(&moto(MOTO), &s);
    let aws = stack.aws().await;
    // The first run made the bucket; now a holder on another host.
    stack.ok("step ecr-repo", &[]);
    let now = epoch_now();
    put_lock(&aws, &s, LockHolder::elsewhere(now)).await;
    let out = stack.run("step ecr-repo", &[]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, &["ana@laptop-of-ana", "provision unlock"]);
    let out = stack.run("unlock", &[]);
    assert_eq!(code(&out), Some(1), "a renewing holder is not removed without --force");
    let removed = stack.ok("unlock", &["--force"]);
    assert!(
        removed.contains("removed the lock") && removed.contains("ana@laptop-of-ana"),
        "{removed}"
    );
    stack.ok("step ecr-repo", &[]);
    // A holder on another machine that stops renewing (killed): a waiting
    // run takes the lock over once it has not changed for the holder's
    // lease (5 s here), having said who held it.
    // Renewed just now (not at `now`, which the commands above have made
    // older than two of these leases on a loaded machine: stale at once).
    let short = LockHolder {
        lease_seconds: 5,
        ..LockHolder::elsewhere(epoch_now())
    };
    put_lock(&aws, &s, short).await;
    let started = std::time::Instant::now();
    let out = stack.run("step ecr-repo", &["--lock-timeout", "60s"]);
    let waited = started.elapsed();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_stderr_has(&out, &["waiting for the lock", "ana@laptop-of-ana"]);
    assert!(waited >= std::time::Duration::from_secs(5), "{waited:?}");
    // A holder that stopped renewing long ago is stale at once.
    put_lock(&aws, &s, LockHolder::elsewhere(now - 3600)).await;
    stack.ok("step ecr-repo", &[]);
    // Read-only commands take no lock: they run while it is held.
    put_lock(&aws, &s, LockHolder::elsewhere(now)).await;
    let out = stack.run("settings", &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.ok("unlock", &["--force"]);
    stack.ok("step ecr-repo", &["--undo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_without_a_record_is_adopted_without_recreating_anything() {
    let s = suffix("ad");
    let stack = Stack::new(&moto(MOTO), &s);
    let aws = stack.aws().await;
    tokio::task::block_in_place(|| stack.ok("up", &["--log-retention-days", "90"]));
    // As a stack built by the previous release: no record, no local state.
    aws.s3
        .delete_object()
        .bucket(state_bucket())
        .key(stack_key(&s, "settings.json"))
        .send()
        .await
        .unwrap();
    std::fs::remove_dir_all(&stack.p.state_dir).unwrap();
    let out = tokio::task::block_in_place(|| stack.run("up", &["--log-retention-days", "90"]));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("adopting") && err.contains(" 0 created"), "{err}");
    assert_eq!(record(&aws, &s).await["settings"]["log-retention-days"], 90);
    tokio::task::block_in_place(|| stack.ok("down", &["--yes"]));
    assert_eq!(census(&aws, &s).await, empty_census());
}
