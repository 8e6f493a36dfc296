//! Day-2 operations end to end against moto, through the project's proxy
//! (AWS-realism mode) and the real binary: deploy refusing a tag that is
//! not in the registry, rollback, logs, one-off tasks, status for people,
//! outputs. One stack serves every test of this binary (an `up` takes tens
//! of seconds): its repository is created first and given images `v1` and
//! `v2` (`PutImage` with a minimal manifest), so the service's tasks can
//! pull them under the proxy's image-pull check, then `up --image-tag v1`.
//!
//! What moto does here (checked with its log): RunTask on Fargate works once
//! every container names its memory (moto sums `memory` or
//! `memoryReservation` per container and fails with HTTP 500 on a
//! container without either, even on Fargate, where AWS needs neither): the
//! task definition reserves memory per container, which AWS accepts. A
//! task's state moves on by itself with every DescribeTasks (RUNNING,
//! DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED), its first container is
//! the only one listed, and its `exitCode` is always 0. moto has no
//! ExecuteCommand and drops `enableExecuteCommand`, so `exec` is covered by
//! unit tests with a mocked ECS client (src/commands/exec_tests.rs).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Output;
use tokio::sync::OnceCell;

#[path = "day2/estimates.rs"]
mod estimates;
use estimates::recorded_durations;

const MOTO: &str = "day2";

/// `up` converged, except for the alarms when the proxy refuses them
/// because the alarm topic uses the AWS-managed SNS key (a realism rule
/// main's observability family breaks; issue #9 gives the topic a customer
/// key). These tests need no alarm; once that fix is in, `up` succeeds and
/// this check passes trivially.
fn assert_up_converged_but_for_the_known_alarm_rule(out: &Output) {
    if out.status.success() {
        return;
    }
    let err = stderr(out);
    let failures: Vec<&str> = err.lines().filter(|l| l.starts_with("  step ")).collect();
    assert!(
        !failures.is_empty()
            && failures
                .iter()
                .all(|l| l.starts_with("  step alarm-") && l.contains("sns-aws-managed-key")),
        "up failed:\n{err}"
    );
}

/// No request so far broke a documented AWS rule (the proxy's realism
/// mode), but for the alarm rule above.
fn assert_no_rule_broken() {
    let broken: Vec<_> = shared_proxy(MOTO)
        .violations()
        .into_iter()
        .filter(|v| v["rule"] != "cloudwatch.PutMetricAlarm.sns-aws-managed-key")
        .collect();
    assert!(broken.is_empty(), "requests AWS would refuse: {broken:#?}");
}

/// The repository first, given images `v1` and `v2`, then `up --image-tag v1`.
async fn up_on_v1_of_two_images(s: &Stack) {
    s.ok("step", &["ecr-repo"]);
    let aws = s.aws().await;
    for tag in ["v1", "v2"] {
        put_image(&aws, &s.name("ecr", "api"), tag).await;
    }
    let out = tokio::task::block_in_place(|| s.run("up", &["--image-tag", "v1"]));
    assert_up_converged_but_for_the_known_alarm_rule(&out);
}

async fn stack() -> &'static Stack {
    static STACK: OnceCell<Stack> = OnceCell::const_new();
    STACK
        .get_or_init(|| async {
            let s = Stack::new(&moto(MOTO), &long_suffix("dd"));
            up_on_v1_of_two_images(&s).await;
            s
        })
        .await
}

async fn app_image(aws: &provision::aws::Clients, td: &str) -> String {
    app_container(aws, td).await.image().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_tag_is_refused_and_rollback_restores_the_previous_image() {
    let s = stack().await;
    let aws = s.aws().await;
    let family = s.name("task", "api");
    let repo = s.name("ecr", "api");
    let before = active_task_definitions(&aws, &family).await;

    // A tag that is not in the registry: refused, nothing registered.
    let out = s.run("deploy", &["--image-tag", "v404", "--timeout", "60"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("v404") && err.contains(&repo), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        active_task_definitions(&aws, &family).await,
        before,
        "no revision was registered"
    );

    // Deploy v2, then roll back to v1.
    s.ok("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    // The roll-out is recorded as a change of the service, for estimates.
    let learned = recorded_durations(&aws).await;
    assert!(
        learned["kinds"]["ecs-service"]["change"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{learned}"
    );
    let svc = ecs_service(&aws, &s.suffix).await;
    let v2 = svc.task_definition().unwrap().to_owned();
    assert!(app_image(&aws, &v2).await.ends_with(&format!("{repo}:v2")));
    // After a deploy the stack is converged.
    s.ok("status", &[]);
    let report = s.ok("rollback", &["--timeout", "120"]);
    assert!(
        report.contains(&format!("{repo}:v2")) && report.contains(&format!("{repo}:v1")),
        "{report}"
    );
    let svc = ecs_service(&aws, &s.suffix).await;
    let now = svc.task_definition().unwrap().to_owned();
    assert_ne!(now, v2);
    assert!(app_image(&aws, &now).await.ends_with(&format!("{repo}:v1")), "{now}");
    assert!(
        report.contains(&format!("{family}:{}", now.rsplit(':').next().unwrap())),
        "{report}"
    );
    // After a rollback too: status and plan say converged, though the
    // service runs an older revision than the newest, and a plain up
    // registers nothing and rolls nothing out.
    s.ok("status", &[]);
    s.ok("plan", &[]);
    let revisions = active_task_definitions(&aws, &family).await;
    s.ok("up", &[]);
    assert_eq!(
        active_task_definitions(&aws, &family).await,
        revisions,
        "up registered a revision"
    );
    assert_eq!(ecs_service(&aws, &s.suffix).await.task_definition(), Some(now.as_str()));

    // Nothing below the first revision: refused with a hint.
    let out = s.run("rollback", &["--timeout", "60"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, &["no ACTIVE revision"]);

    // Forward again by number, as JSON.
    let rev = v2.rsplit(':').next().unwrap();
    let doc: Value = serde_json::from_str(&s.ok("rollback", &["--to", rev, "--json", "--timeout", "120"])).unwrap();
    assert_eq!(doc["to"]["task_definition"], v2.as_str());
    assert!(doc["to"]["image"].as_str().unwrap().ends_with(":v2"), "{doc}");
    assert_eq!(ecs_service(&aws, &s.suffix).await.task_definition(), Some(v2.as_str()));
    assert_no_rule_broken();
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_the_app_log_groups_events_with_json_lines_made_readable() {
    let s = stack().await;
    let aws = s.aws().await;
    let group = format!("/provision/{}/app", s.suffix);
    let stream = "app/app/0123456789abcdef";
    aws.logs
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let json_line = r#"{"timestamp": "2026-01-31T09:30:00.123+00:00", "level": "INFO", "logger": "app.access", "message": "request", "pid": 7, "request_id": "req-42", "method": "GET", "path": "/api/products", "status": 200}"#;
    let event = |ts: i64, m: &str| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(ts)
            .message(m)
            .build()
            .unwrap()
    };
    aws.logs
        .put_log_events()
        .log_group_name(&group)
        .log_stream_name(stream)
        .log_events(event(now - 3000, "[INFO] Booting worker with pid: 7"))
        .log_events(event(now - 2000, json_line))
        .send()
        .await
        .unwrap();

    let out = s.ok("logs", &["--since", "10m"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(stream)).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].ends_with("[INFO] Booting worker with pid: 7"),
        "oldest first: {out}"
    );
    assert!(
        lines[1].contains(&format!(" {stream} INFO  request request_id=req-42 logger=app.access pid=7 method=GET path=/api/products status=200")),
        "{out}"
    );
    assert!(!lines[1].contains('{'), "{out}");

    let out = s.ok("logs", &["--since", "10m", "--json", "--filter", "request"]);
    let docs: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(docs.iter().any(|d| d["fields"]["request_id"] == "req-42"), "{out}");
    assert!(
        docs.iter().all(|d| d["message"].as_str().unwrap().contains("request")),
        "{out}"
    );

    let out = s.run("logs", &["--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_no_rule_broken();
}

/// The stack's subnets of a tier (`subnet-{tier}-a`, ...), sorted.
async fn tagged_subnets(aws: &provision::aws::Clients, suffix: &str, tier: &str) -> Vec<String> {
    let out = aws
        .ec2
        .describe_subnets()
        .filters(tag_filter(suffix))
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .subnets()
        .iter()
        .filter(|s| {
            s.tags().iter().any(|t| {
                t.key() == Some("provision:step")
                    && t.value().is_some_and(|v| v.starts_with(&format!("subnet-{tier}-")))
            })
        })
        .filter_map(|s| s.subnet_id().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn run_no_wait_starts_the_command_in_the_services_private_subnets_with_the_app_group() {
    let s = stack().await;
    let aws = s.aws().await;
    let out = s.ok("run", &["--no-wait", "--json", "--", "flask", "db", "upgrade"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let arn = doc["task_arn"].as_str().unwrap().to_owned();
    let tasks = aws
        .ecs
        .describe_tasks()
        .cluster(s.name("ecs", "api"))
        .tasks(&arn)
        .send()
        .await
        .unwrap();
    let task = &tasks.tasks()[0];
    assert_eq!(task.started_by(), Some("provision-run"));
    assert_eq!(task.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let o = &task.overrides().unwrap().container_overrides()[0];
    assert_eq!(o.name(), Some("app"));
    assert_eq!(o.command(), ["flask", "db", "upgrade"]);
    // The service's task definition (another test may have moved the
    // service on since: any revision of the family).
    let family = format!(":task-definition/{}:", s.name("task", "api"));
    assert!(
        task.task_definition_arn().is_some_and(|a| a.contains(&family)),
        "{task:?}"
    );
    let svc = ecs_service(&aws, &s.suffix).await;
    let net = svc.network_configuration().unwrap().awsvpc_configuration().unwrap();
    let private = tagged_subnets(&aws, &s.suffix, "private").await;
    let mut svc_subnets = net.subnets().to_vec();
    svc_subnets.sort();
    assert_eq!(svc_subnets, private, "the service runs in the private subnets");
    let detail = |name: &str| {
        task.attachments()[0]
            .details()
            .iter()
            .find(|d| d.name() == Some(name))
            .and_then(|d| d.value())
            .unwrap()
            .to_owned()
    };
    assert!(private.contains(&detail("subnetId")), "{:?}", task.attachments());
    let eni = aws
        .ec2
        .describe_network_interfaces()
        .network_interface_ids(detail("networkInterfaceId"))
        .send()
        .await
        .unwrap();
    let groups: Vec<&str> = eni.network_interfaces()[0]
        .groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, net.security_groups());
    assert_eq!(groups, [sg_id(&aws, &s.suffix, "sg-app").await]);
    assert_no_rule_broken();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_waits_for_the_task_and_exits_with_its_containers_exit_code() {
    let s = stack().await;
    let aws = s.aws().await;
    let child = s
        .command("run", &["--json", "--timeout", "2m", "--", "sleep", "600"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // End the wait: stop the one-off tasks (moto also moves a task on by
    // itself with every DescribeTasks, so the stop may find it stopped).
    let cluster = s.name("ecs", "api");
    let mut stopped = 0;
    for _ in 0..50 {
        let listed = aws
            .ecs
            .list_tasks()
            .cluster(&cluster)
            .started_by("provision-run")
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await
            .unwrap();
        for t in listed.task_arns() {
            aws.ecs
                .stop_task()
                .cluster(&cluster)
                .task(t)
                .reason("stopped by the day2 test")
                .send()
                .await
                .unwrap();
            stopped += 1;
        }
        if stopped > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let doc: Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    let arn = doc["task_arn"].as_str().unwrap();
    let tasks = aws
        .ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(arn)
        .send()
        .await
        .unwrap();
    let task = &tasks.tasks()[0];
    assert_eq!(task.last_status(), Some("STOPPED"));
    let code = task
        .containers()
        .iter()
        .find(|c| c.name() == Some("app"))
        .and_then(|c| c.exit_code())
        .expect("moto reports an exit code");
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    assert_eq!(doc["exit_code"], code);
    assert_eq!(
        doc["log_stream"],
        format!("app/app/{}", arn.rsplit('/').next().unwrap())
    );
    assert_no_rule_broken();
}

#[tokio::test(flavor = "multi_thread")]
async fn status_for_people_has_no_raw_json_and_outputs_json_parses() {
    let s = stack().await;
    let aws = s.aws().await;
    // An alarm in ALARM that differs from what the stack wants: its row is
    // drifted, and the families write drift with JSON values in it.
    let alarm = format!("alarm-cpu-{}", s.suffix);
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(95.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    aws.cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("set by the day2 test")
        .send()
        .await
        .unwrap();
    let out = s.run("status", &["--image-tag", "v1"]);
    let text = stdout(&out);
    assert!(!text.contains('{') && !text.contains('}'), "{text}");
    for want in [
        format!("Service {}: ", s.name("svc", "api")),
        "Target health:".to_string(),
        format!("Database aurora-catalog-{}: available", s.suffix),
        format!(
            "Registry 123456789012.dkr.ecr.{REGION}.amazonaws.com/{}: 2 image(s)",
            s.name("ecr", "api")
        ),
        "Auto scaling: 2 to 10 tasks".to_string(),
        format!("  ALARM             {alarm}  set by the day2 test"),
        "   drift: ".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    let doc: Value = serde_json::from_str(&stdout(&s.run("status", &["--json"]))).unwrap();
    assert!(
        doc["details"]["ecs_service"]["image"].as_str().unwrap().contains(":v"),
        "{doc}"
    );

    let outputs: BTreeMap<String, String> = serde_json::from_str(&s.ok("outputs", &["--json"])).unwrap();
    assert_eq!(outputs["ECSServiceName"], s.name("svc", "api"));
    assert_eq!(outputs["ECSClusterName"], s.name("ecs", "api"));
    let lines: BTreeMap<String, String> = s
        .ok("outputs", &[])
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(lines, outputs);
    assert_no_rule_broken();
}

#[test]
fn bad_input_is_refused_before_any_aws_call() {
    // Nothing listens on port 9: a command that called AWS would fail
    // differently (exit 1, "cannot reach AWS").
    let p = Provision::new("http://127.0.0.1:9");
    for (args, why) in [
        (vec!["rollback", "--suffix", "dev1", "--to", "zero"], "invalid --to"),
        (
            vec![
                "rollback",
                "--suffix",
                "dev1",
                "--to",
                "arn:aws:ecs:ap-southeast-2:1:task-definition/task-api-prod:3",
            ],
            "not of this stack's family",
        ),
        (
            vec!["logs", "--suffix", "dev1", "--since", "5 minutes"],
            "invalid --since",
        ),
        (
            vec!["logs", "--suffix", "dev1", "--container", "web"],
            "invalid --container",
        ),
        (vec!["run", "--suffix", "dev1"], "no command to run"),
        (
            vec!["run", "--suffix", "dev1", "--timeout", "soon", "--", "true"],
            "invalid --timeout",
        ),
        (
            vec!["exec", "--suffix", "dev1", "--container", "db"],
            "invalid --container",
        ),
        (
            vec!["deploy", "--suffix", "dev1", "--build", "--context", "/nonexistent"],
            "has no Dockerfile",
        ),
    ] {
        let out = p.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_stderr_has(&out, &[why, "hint:"]);
    }
    // No plugin on PATH: said before any AWS call, with how to install it.
    let out = p
        .command()
        .env("PATH", "/nonexistent")
        .args(["exec", "--suffix", "dev1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("session-manager-plugin") && err.contains("hint: install"),
        "{err}"
    );
    assert!(!err.contains("cannot reach AWS"), "{err}");
}

/// An alarm that goes off during a deployment rolls it back (ECS
/// deployment alarms): `deploy` fails naming the alarm, and the service is
/// back on the revision it ran. Its own proxy, so the alarm it raises
/// touches no other test's deployment.
#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_during_a_deployment_rolls_it_back_and_deploy_fails_naming_it() {
    let proxy = Proxy::start(&moto_direct(MOTO), &[]);
    let s = Stack::new(&proxy.url, &suffix("alarm"));
    up_on_v1_of_two_images(&s).await;
    let aws = s.aws().await;
    let before = ecs_service(&aws, &s.suffix).await.task_definition().unwrap().to_owned();
    let alarm = s.name("alarm", "5xx");
    // The service's deployments watch the 5xx and unhealthy-target alarms.
    let dc = ecs_service(&aws, &s.suffix)
        .await
        .deployment_configuration()
        .cloned()
        .unwrap();
    let watched = dc.alarms().unwrap();
    assert!(watched.enable() && watched.rollback(), "{watched:?}");
    assert!(watched.alarm_names().contains(&alarm), "{watched:?}");

    proxy.configure(&format!(r#"{{"realism": {{"deployment_alarm": "{alarm}"}}}}"#));
    let out = s.run("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an alarm rollback is no success: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains(&alarm) && err.contains("rolled back"), "{err}");
    assert_eq!(
        ecs_service(&aws, &s.suffix).await.task_definition(),
        Some(before.as_str()),
        "the service runs the revision it ran before"
    );
    s.ok("down", &["--yes"]);
}
