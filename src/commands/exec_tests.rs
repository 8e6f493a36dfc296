//! Unit tests of `provision exec`: the plugin's command line, and the
//! ExecuteCommand flow against a mocked ECS client under a paused clock
//! (the agent-start wait takes no real time), with every log line at the
//! most verbose level captured to prove the token is never logged.

use super::*;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::execute_command::ExecuteCommandOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::types::{Container, ManagedAgent, ManagedAgentName, Service, Session as EcsSession};
use aws_smithy_mocks::mock;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "AAEAAXsecret-token-value-do-not-print";
const TASK: &str = "arn:aws:ecs:ap-southeast-2:123456789012:task/ecs-api-dev1/0f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[test]
fn versions_compare_as_numbers() {
    assert!(newer("1.2.707.0", LAST_WITHOUT_ENV));
    assert!(newer("1.10.0.0", LAST_WITHOUT_ENV));
    assert!(!newer("1.2.497.0", LAST_WITHOUT_ENV));
    assert!(!newer("1.2.463.0", LAST_WITHOUT_ENV));
    assert!(!newer("garbage", LAST_WITHOUT_ENV));
    assert!(newer("1.3", LAST_WITHOUT_ENV));
}

#[test]
fn inputs_are_checked_before_any_call() {
    assert_eq!(container_name("app").unwrap(), "app");
    assert_eq!(container_name("otel").unwrap(), "otel-collector");
    assert_eq!(container_name("db").unwrap_err().exit_code(), 2);
    assert!(check_task("0f1e2d3c4b5a69788796a5b4c3d2e1f0").is_ok());
    assert!(check_task(TASK).is_ok());
    assert_eq!(check_task("x; rm -rf /").unwrap_err().exit_code(), 2);
}

#[test]
fn the_plugin_is_found_on_path_only_when_executable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(PLUGIN);
    std::fs::write(&p, "#!/bin/sh\n").unwrap();
    let path = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).unwrap();
    assert_eq!(find_on_path(PLUGIN, Some(&path)), None, "not executable yet");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(find_on_path(PLUGIN, Some(&path)), Some(p));
    assert_eq!(find_on_path(PLUGIN, None), None);
}

#[test]
fn the_ssm_endpoint_is_the_regions_unless_overridden() {
    let none = |_: &str| None;
    assert_eq!(
        ssm_endpoint("ap-southeast-2", none),
        "https://ssm.ap-southeast-2.amazonaws.com"
    );
    assert_eq!(
        ssm_endpoint("cn-north-1", none),
        "https://ssm.cn-north-1.amazonaws.com.cn"
    );
    let all = |k: &str| Some(format!("http://{k}"));
    assert_eq!(ssm_endpoint("ap-southeast-2", all), "http://AWS_ENDPOINT_URL_SSM");
}

/// Every log line, at trace for everything, into a buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn task(agent: &str) -> Task {
    Task::builder()
        .task_arn(TASK)
        .last_status("RUNNING")
        .enable_execute_command(true)
        .containers(
            Container::builder()
                .name("app")
                .runtime_id("0f1e2d3c4b5a69788796a5b4c3d2e1f0-2531612879")
                .managed_agents(
                    ManagedAgent::builder()
                        .name(ManagedAgentName::ExecuteCommandAgent)
                        .last_status(agent)
                        .build(),
                )
                .build(),
        )
        .containers(Container::builder().name("otel-collector").runtime_id("other").build())
        .build()
}

fn service(exec: bool) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("svc-api-dev1")
                    .status("ACTIVE")
                    .enable_execute_command(exec)
                    .build(),
            )
            .build()
    })
}

#[tokio::test(start_paused = true)]
async fn execute_command_waits_for_the_agent_and_hands_the_plugin_the_session_without_logging_the_token() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let services = service(true);
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|r| {
            r.service_name() == Some("svc-api-dev1")
                && r.cluster() == Some("ecs-api-dev1")
                && r.desired_status() == Some(&DesiredStatus::Running)
        })
        .then_output(|| ListTasksOutput::builder().task_arns(TASK).build());
    // The agent is still starting on the first three looks.
    let t0 = tokio::time::Instant::now();
    let looks: Arc<Mutex<Vec<u64>>> = Arc::default();
    let seen = looks.clone();
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(move |r| {
            seen.lock().unwrap().push(t0.elapsed().as_secs());
            r.cluster() == Some("ecs-api-dev1") && r.tasks() == [TASK]
        })
        .sequence()
        .output(|| DescribeTasksOutput::builder().tasks(task("PENDING")).build())
        .times(3)
        .output(|| DescribeTasksOutput::builder().tasks(task("RUNNING")).build())
        .repeatedly()
        .build();
    let exec = mock!(aws_sdk_ecs::Client::execute_command)
        .match_requests(|r| {
            r.cluster() == Some("ecs-api-dev1")
                && r.task() == Some(TASK)
                && r.container() == Some("app")
                && r.command() == Some("/bin/sh")
                && r.interactive() == Some(true)
        })
        .then_output(|| {
            ExecuteCommandOutput::builder()
                .cluster_arn("arn:aws:ecs:ap-southeast-2:123456789012:cluster/ecs-api-dev1")
                .task_arn(TASK)
                .container_name("app")
                .interactive(true)
                .session(
                    EcsSession::builder()
                        .session_id("ecs-execute-command-0123456789abcdef0")
                        .stream_url("wss://ssmmessages.ap-southeast-2.amazonaws.com/v1/data-channel/ecs-execute-command-0123456789abcdef0?role=publish_subscribe")
                        .token_value(TOKEN)
                        .build(),
                )
                .build()
        });
    let cx = crate::testing::mocked_ecs_ctx(&[&services, &list, &describe, &exec]);
    let (session, target) = prepare(&cx, "app", None, "/bin/sh").await.expect("a session");
    assert_eq!(exec.num_calls(), 1);
    // Found, looked at again at once, then polled with backoff (1 s, then
    // 2 s) on the paused clock, not busily.
    assert_eq!(*looks.lock().unwrap(), vec![0, 0, 1, 3]);
    assert_eq!(
        target.ssm_target(),
        "ecs:ecs-api-dev1_0f1e2d3c4b5a69788796a5b4c3d2e1f0_0f1e2d3c4b5a69788796a5b4c3d2e1f0-2531612879"
    );

    let endpoint = ssm_endpoint("ap-southeast-2", |_| None);
    let l = launch(
        Path::new("/usr/local/bin/session-manager-plugin"),
        &session,
        "ap-southeast-2",
        &target,
        &endpoint,
    );
    assert_eq!(
        l.args,
        vec![
            "AWS_SSM_START_SESSION_RESPONSE".to_string(),
            "ap-southeast-2".into(),
            "StartSession".into(),
            String::new(),
            r#"{"Target":"ecs:ecs-api-dev1_0f1e2d3c4b5a69788796a5b4c3d2e1f0_0f1e2d3c4b5a69788796a5b4c3d2e1f0-2531612879"}"#.into(),
            "https://ssm.ap-southeast-2.amazonaws.com".into(),
        ]
    );
    assert_eq!(l.env.0, RESPONSE_ENV);
    let s: serde_json::Value = serde_json::from_str(&l.env.1).unwrap();
    assert_eq!(s["sessionId"], "ecs-execute-command-0123456789abcdef0");
    assert_eq!(s["tokenValue"], TOKEN);
    assert!(s["streamUrl"].as_str().unwrap().starts_with("wss://ssmmessages."));

    // The token is nowhere but in that one environment value.
    assert!(l.args.iter().all(|a| !a.contains(TOKEN)));
    assert!(!format!("{l:?}").contains(TOKEN), "{l:?}");
    assert!(!format!("{session:?}").contains(TOKEN));
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("ECS Exec session opened"),
        "the capture works: {logged}"
    );
    assert!(!logged.contains(TOKEN), "the token was logged:\n{logged}");
}

#[tokio::test]
async fn a_service_without_exec_is_refused_with_the_flag_to_turn_it_on() {
    let services = service(false);
    let cx = crate::testing::mocked_ecs_ctx(&[&services]);
    let e = prepare(&cx, "app", None, "/bin/sh").await.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(msg.contains("without ECS Exec"), "{msg}");
    assert!(msg.contains("provision up --suffix dev1 --enable-exec"), "{msg}");
}

#[tokio::test]
async fn a_task_started_before_exec_was_enabled_is_refused() {
    let services = service(true);
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
        let mut t = task("RUNNING");
        t.enable_execute_command = false;
        DescribeTasksOutput::builder().tasks(t).build()
    });
    let cx = crate::testing::mocked_ecs_ctx(&[&services, &describe]);
    let e = prepare(&cx, "app", Some(TASK), "ls").await.unwrap_err();
    assert!(e.to_string().contains("started before ECS Exec was enabled"), "{e}");
}
