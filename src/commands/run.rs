//! `provision run -- CMD...`: a one-off task (`RunTask`) from the service's
//! current task definition with the app container's command overridden,
//! in exactly the service's subnets and security groups (its
//! `networkConfiguration` from `DescribeServices`), on Fargate, no public
//! IP, `startedBy` `provision-run`, tags propagated from the task
//! definition. It waits by default (`DescribeTasks` with backoff), prints
//! the app container's log stream (`{prefix}/{container}/{task-id}`) as it
//! comes, and exits with the container's exit code.

use super::log_events::{self, LogEvent, Tail};
use super::stack::{self, Access};
use crate::aws::{AwsError, AwsResultExt};
use crate::cli::{Cli, RunTaskArgs};
use crate::ops::Error;
use crate::steps::ecs::{self, cluster_name, APP_CONTAINER};
use crate::steps::{build_err, Ctx};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, LaunchType, NetworkConfiguration, PropagateTags, Task,
    TaskDefinition, TaskOverride,
};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// Who started the task, as ECS records it (`startedBy`).
pub const STARTED_BY: &str = "provision-run";

/// The app container's exit code, or why there is none (the task's stop
/// code and reason, and the container's).
pub fn exit_of(task: &Task) -> Result<i32, String> {
    let app = task.containers().iter().find(|c| c.name() == Some(APP_CONTAINER));
    if let Some(code) = app.and_then(|c| c.exit_code()) {
        return Ok(code);
    }
    let mut why: Vec<String> = Vec::new();
    if let Some(c) = task.stop_code() {
        why.push(c.as_str().to_owned());
    }
    if let Some(r) = task.stopped_reason().filter(|r| !r.is_empty()) {
        why.push(r.to_owned());
    }
    if let Some(r) = app
        .and_then(|c| c.reason())
        .filter(|r| Some(*r) != task.stopped_reason())
    {
        why.push(format!("app container: {r}"));
    }
    if why.is_empty() {
        why.push("no reason given".into());
    }
    Err(why.join(": "))
}

/// The awslogs group and stream of `container` in a task of `td`:
/// `{awslogs-stream-prefix}/{container}/{task-id}`.
pub fn log_stream(td: &TaskDefinition, container: &str, task_id: &str) -> Option<(String, String)> {
    let c = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))?;
    let opts = c.log_configuration()?.options()?;
    let group = opts.get("awslogs-group")?.clone();
    let prefix = opts.get("awslogs-stream-prefix")?;
    Some((group, format!("{prefix}/{container}/{task_id}")))
}

/// A command line as a shell would read it back: words with spaces or
/// quotes in single quotes.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c)) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Starts the task; returns its ARN.
async fn start(cx: &Ctx, svc: &aws_sdk_ecs::types::Service, command: &[String]) -> Result<String, Error> {
    let td = svc.task_definition().unwrap_or_default();
    let net = svc
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .ok_or_else(|| Error::Failed("the service has no awsvpc network configuration to run the task in".into()))?;
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(net.subnets().to_vec()))
                .set_security_groups(Some(net.security_groups().to_vec()))
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .map_err(build_err)?,
        )
        .build();
    let overrides = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name(APP_CONTAINER)
                .set_command(Some(command.to_vec()))
                .build(),
        )
        .build();
    let out = cx
        .aws
        .ecs
        .run_task()
        .cluster(cluster_name(cx))
        .task_definition(td)
        .count(1)
        // On-demand Fargate: a one-off job (a migration) should not be
        // reclaimed like the service's Spot share.
        .launch_type(LaunchType::Fargate)
        .platform_version("LATEST")
        .network_configuration(network)
        .overrides(overrides)
        .started_by(STARTED_BY)
        .propagate_tags(PropagateTags::TaskDefinition)
        .enable_ecs_managed_tags(true)
        .enable_execute_command(svc.enable_execute_command())
        // ECS API Reference, RunTask, clientToken: up to 64 ASCII characters.
        .client_token(cx.client_token("run-task", 64))
        .send()
        .await
        .aws("RunTask")?;
    if let Some(f) = out.failures().first() {
        return Err(Error::Failed(format!(
            "RunTask started no task: {} {}",
            f.reason().unwrap_or("no reason given"),
            f.detail().unwrap_or("")
        )));
    }
    out.tasks()
        .first()
        .and_then(|t| t.task_arn())
        .map(str::to_owned)
        .ok_or_else(|| Error::Failed("RunTask answered without a task".into()))
}

async fn describe(cx: &Ctx, arn: &str) -> Result<Task, AwsError> {
    let out = cx
        .aws
        .ecs
        .describe_tasks()
        .cluster(cluster_name(cx))
        .tasks(arn)
        .send()
        .await
        .aws("DescribeTasks")?;
    out.tasks().first().cloned().ok_or_else(|| {
        let why = out.failures().first().and_then(|f| f.reason()).unwrap_or("MISSING");
        AwsError::custom("DescribeTasks", "TaskNotFound", format!("task {arn}: {why}"))
    })
}

/// Prints (unless `quiet`) and keeps the task's log events that are new.
async fn drain(cx: &Ctx, tail: &mut Option<Tail>, logged: &mut Vec<LogEvent>, show: bool) -> Result<(), AwsError> {
    if let Some(t) = tail.as_mut() {
        let events = t.fetch(&cx.aws.logs, true).await?;
        if show {
            log_events::print(&mut std::io::stdout().lock(), &events, false);
        }
        logged.extend(events);
    }
    Ok(())
}

/// How `run` polls the task: every 2 s at first, at most every 10 s.
const POLL_FIRST: Duration = Duration::from_secs(2);
const POLL_MAX: Duration = Duration::from_secs(10);

pub async fn run(cli: &Cli, a: &RunTaskArgs, max_attempts: u32) -> Result<(), Error> {
    if a.command.is_empty() || a.command.iter().all(|c| c.trim().is_empty()) {
        return Err(Error::Usage(
            "no command to run\n  hint: give it after `--`, e.g. `provision run --suffix dev1 -- flask db upgrade`"
                .into(),
        ));
    }
    let timeout = log_events::duration_flag("timeout", &a.timeout)?;
    let rep = super::reporter(false, cli.quiet || a.json);
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, rep).await?;
    let engine = opened.engine.clone();
    let cx = &engine.cx;
    let suffix = cx.suffix().to_string();
    let svc = ecs::describe_service(cx).await?.ok_or_else(|| {
        Error::Failed(format!(
            "the service {} is not active, so there is no task definition or network to run in\n  hint: run `provision up --suffix {suffix}` first",
            ecs::service_name(cx)
        ))
    })?;
    let arn = start(cx, &svc, &a.command).await?;
    let id = task_id(&arn).to_owned();
    let cluster = cluster_name(cx);
    if a.no_wait {
        if a.json {
            println!("{}", json!({"task_arn": arn, "task_id": id, "cluster": cluster}));
        } else {
            println!("{arn}");
        }
        return Ok(());
    }
    let say = |m: String| {
        if !cli.quiet && !a.json {
            eprintln!("{m}");
        }
    };
    say(format!("started task {id}: {}", shell_join(&a.command)));
    let td = ecs::describe_task_definition(cx, svc.task_definition().unwrap_or_default()).await?;
    let mut tail = log_stream(&td, APP_CONTAINER, &id).map(|(group, stream)| {
        let mut t = Tail::new(group, 0);
        t.streams = vec![stream];
        t
    });
    let mut logged: Vec<LogEvent> = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut delay = POLL_FIRST;
    let mut status = String::new();
    let stopped = loop {
        let task = describe(cx, &arn).await?;
        let now = task.last_status().unwrap_or("UNKNOWN").to_owned();
        if now != status {
            say(format!("task {id}: {now}"));
            status = now;
        }
        drain(cx, &mut tail, &mut logged, !a.json).await?;
        if status == "STOPPED" {
            break task;
        }
        if Instant::now() + delay > deadline {
            return Err(Error::Failed(format!(
                "task {id} is still {status} after {}\n  hint: it keeps running; stop it with `aws ecs stop-task --cluster {cluster} --task {id}`, or wait longer with --timeout",
                a.timeout
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tokio::signal::ctrl_c() => {
                return Err(Error::Failed(format!(
                    "stopped waiting; task {id} keeps running\n  hint: `aws ecs stop-task --cluster {cluster} --task {id}` stops it"
                )));
            }
        }
        delay = (delay * 2).min(POLL_MAX);
    };
    // The last lines reach CloudWatch Logs a moment after the container stops.
    if logged.is_empty() && tail.is_some() {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    drain(cx, &mut tail, &mut logged, !a.json).await?;
    let result = exit_of(&stopped);
    if a.json {
        let (code, reason) = match &result {
            Ok(c) => (
                Some(*c),
                stopped.stopped_reason().filter(|r| !r.is_empty()).map(str::to_owned),
            ),
            Err(why) => (None, Some(why.clone())),
        };
        let doc = json!({
            "task_arn": arn,
            "task_id": id,
            "cluster": cluster,
            "exit_code": code,
            "stopped_reason": reason,
            "log_group": tail.as_ref().map(|t| t.group.clone()),
            "log_stream": tail.as_ref().and_then(|t| t.streams.first().cloned()),
            "events": logged.iter().map(log_events::to_json).collect::<Vec<_>>(),
        });
        println!("{doc}");
    }
    match result {
        Ok(0) => {
            say(format!("task {id}: the app container exited with code 0"));
            Ok(())
        }
        Ok(code) => Err(Error::Exit {
            code,
            message: format!("task {id}: the app container exited with code {code}"),
        }),
        Err(why) => Err(Error::Failed(format!(
            "task {id} stopped without an exit code from the app container: {why}\n  hint: see `provision logs --suffix {suffix}` and the task in `aws ecs describe-tasks --cluster {cluster} --tasks {id}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Container, ContainerDefinition, LogConfiguration, LogDriver, TaskStopCode};

    #[test]
    fn the_exit_code_is_the_app_containers_or_the_reason_there_is_none() {
        let task = |code: Option<i32>| {
            Task::builder()
                .containers(Container::builder().name("otel-collector").exit_code(0).build())
                .containers(Container::builder().name("app").set_exit_code(code).build())
                .stop_code(TaskStopCode::EssentialContainerExited)
                .stopped_reason("Essential container in task exited")
                .build()
        };
        assert_eq!(exit_of(&task(Some(3))), Ok(3));
        assert_eq!(exit_of(&task(Some(0))), Ok(0));
        let why = exit_of(&task(None)).unwrap_err();
        assert!(
            why.contains("EssentialContainerExited") && why.contains("Essential container"),
            "{why}"
        );
        let failed = Task::builder()
            .containers(
                Container::builder()
                    .name("app")
                    .reason("CannotPullContainerError: not found")
                    .build(),
            )
            .stop_code(TaskStopCode::TaskFailedToStart)
            .stopped_reason("CannotPullContainerError: not found")
            .build();
        assert_eq!(
            exit_of(&failed).unwrap_err(),
            "TaskFailedToStart: CannotPullContainerError: not found"
        );
    }

    #[test]
    fn commands_print_as_a_shell_reads_them() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(shell_join(&w(&["flask", "db", "upgrade"])), "flask db upgrade");
        assert_eq!(
            shell_join(&w(&["sh", "-c", "echo it's; exit 3"])),
            r"sh -c 'echo it'\''s; exit 3'"
        );
        assert_eq!(shell_join(&w(&[""])), "''");
    }

    #[test]
    fn the_log_stream_is_prefix_container_task_id() {
        let td = TaskDefinition::builder()
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .log_configuration(
                        LogConfiguration::builder()
                            .log_driver(LogDriver::Awslogs)
                            .options("awslogs-group", "/provision/dev1/app")
                            .options("awslogs-stream-prefix", "app")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            log_stream(&td, "app", "0123abcd"),
            Some(("/provision/dev1/app".into(), "app/app/0123abcd".into()))
        );
        assert_eq!(log_stream(&td, "otel-collector", "0123abcd"), None);
        assert_eq!(
            task_id("arn:aws:ecs:ap-southeast-2:1:task/ecs-api-dev1/0123abcd"),
            "0123abcd"
        );
    }
}
