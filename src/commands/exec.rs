//! `provision exec`: ECS Exec into a running task of the service.
//! `ExecuteCommand` (interactive) opens a Session Manager session; the
//! `session-manager-plugin` binary connects the terminal to it, handed the
//! session the way the AWS CLI hands it over:
//!
//! - argv (aws-cli `awscli/customizations/ecs/executecommand.py`,
//!   `ExecuteCommandCaller.invoke`): the session, the region,
//!   `StartSession`, the profile (empty: the plugin reads the same
//!   environment), the request parameters `{"Target":
//!   "ecs:{cluster}_{taskId}_{runtimeId}"}`, and an endpoint, which the
//!   plugin takes as the SSM endpoint (session-manager-plugin
//!   `src/sessionmanagerplugin/session/session.go`,
//!   `ValidateInputAndStartSession`: "`args[6]` is endpoint for ssm service");
//! - the session itself never on the command line: `argv[1]` is the name of
//!   the environment variable `AWS_SSM_START_SESSION_RESPONSE`, which holds
//!   the session JSON (what aws-cli `awscli/customizations/sessionmanager.py`
//!   does for plugins newer than 1.2.497.0; session.go reads and unsets
//!   it). The token is in no argument, log line or message of ours.
//!
//! While the plugin runs, this process ignores Ctrl-C and Ctrl-\ (the AWS
//! CLI's `ignore_user_entered_signals`): they are the remote shell's.

use super::stack::{self, Access};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt};
use crate::cli::{Cli, ExecArgs};
use crate::ops::Error;
use crate::report::Quiet;
use crate::steps::ecs::{self, cluster_name, APP_CONTAINER, OTEL_CONTAINER};
use crate::steps::Ctx;
use aws_sdk_ecs::types::{DesiredStatus, Task};
use serde_json::json;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const PLUGIN: &str = "session-manager-plugin";
/// The environment variable the plugin reads the session from.
pub const RESPONSE_ENV: &str = "AWS_SSM_START_SESSION_RESPONSE";
/// aws-cli `StartSessionCaller.LAST_PLUGIN_VERSION_WITHOUT_ENV_VAR`.
pub const LAST_WITHOUT_ENV: &str = "1.2.497.0";
const INSTALL_HINT: &str = "install the Session Manager plugin (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html): \
     macOS `brew install --cask session-manager-plugin`; Debian/Ubuntu \
     `curl -fsSLo /tmp/smp.deb https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb && sudo dpkg -i /tmp/smp.deb`";

/// The first executable `name` on `path` (a `PATH` value).
pub fn find_on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether dotted version `v` is newer than `than` (missing parts are 0).
pub fn newer(v: &str, than: &str) -> bool {
    let parts = |s: &str| -> Option<Vec<u64>> { s.trim().split('.').map(|p| p.parse().ok()).collect() };
    let (Some(mut a), Some(mut b)) = (parts(v), parts(than)) else {
        return false;
    };
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    a > b
}

/// `--container`: the app, or the collector sidecar.
pub fn container_name(arg: &str) -> Result<&'static str, Error> {
    match arg {
        "app" => Ok(APP_CONTAINER),
        "otel" | "otel-collector" => Ok(OTEL_CONTAINER),
        other => Err(Error::Usage(format!(
            "invalid --container {other:?}: the task has no such container\n  hint: use app or otel (the collector sidecar)"
        ))),
    }
}

/// `--task`: a task id or ARN.
fn check_task(task: &str) -> Result<(), Error> {
    let ok =
        !task.is_empty() && task.len() <= 512 && task.chars().all(|c| c.is_ascii_alphanumeric() || ":/-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid --task {task:?}\n  hint: give a task id (the last part of its ARN) or the whole ARN"
        )))
    }
}

/// The SSM endpoint the plugin gets: `AWS_ENDPOINT_URL_SSM`, else
/// `AWS_ENDPOINT_URL`, else the region's public endpoint.
pub fn ssm_endpoint(region: &str, env: impl Fn(&str) -> Option<String>) -> String {
    env("AWS_ENDPOINT_URL_SSM")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            let domain = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://ssm.{region}.{domain}")
        })
}

/// The session `ExecuteCommand` opened. Its `Debug` leaves the token out.
pub struct Session {
    pub session_id: String,
    pub stream_url: String,
    token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.session_id)
            .field("stream_url", &self.stream_url)
            .field("token", &"***")
            .finish()
    }
}

/// The container a session runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub cluster: String,
    pub task_id: String,
    pub runtime_id: String,
    pub container: String,
}

impl Target {
    /// Session Manager's target for an ECS container.
    pub fn ssm_target(&self) -> String {
        format!("ecs:{}_{}_{}", self.cluster, self.task_id, self.runtime_id)
    }
}

/// How the plugin is started: program, arguments, and the one environment
/// variable that carries the session. `Debug` leaves the session out.
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: (String, String),
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &(&self.env.0, "***"))
            .finish()
    }
}

/// The plugin's command line for `session` in `target`.
pub fn launch(plugin: &Path, session: &Session, region: &str, target: &Target, endpoint: &str) -> Launch {
    let session_json = json!({
        "sessionId": session.session_id,
        "streamUrl": session.stream_url,
        "tokenValue": session.token,
    });
    Launch {
        program: plugin.to_owned(),
        args: vec![
            RESPONSE_ENV.into(),
            region.into(),
            "StartSession".into(),
            String::new(),
            json!({"Target": target.ssm_target()}).to_string(),
            endpoint.into(),
        ],
        env: (RESPONSE_ENV.into(), session_json.to_string()),
    }
}

async fn describe_tasks(cx: &Ctx, tasks: Vec<String>) -> Result<Vec<Task>, AwsError> {
    let out = cx
        .aws
        .ecs
        .describe_tasks()
        .cluster(cluster_name(cx))
        .set_tasks(Some(tasks))
        .send()
        .await
        .aws("DescribeTasks")?;
    Ok(out.tasks().to_vec())
}

/// The state of the ECS Exec agent in `container` of `task`.
fn agent_status<'a>(task: &'a Task, container: &str) -> Option<&'a str> {
    task.containers()
        .iter()
        .find(|c| c.name() == Some(container))?
        .managed_agents()
        .iter()
        .find(|m| m.name().map(|n| n.as_str()) == Some("ExecuteCommandAgent"))?
        .last_status()
}

/// Finds the task and container, waits for its ECS Exec agent, and opens
/// the session (`ExecuteCommand`, interactive).
pub async fn prepare(cx: &Ctx, container: &str, task: Option<&str>, command: &str) -> Result<(Session, Target), Error> {
    let suffix = cx.suffix().to_string();
    let svc = ecs::describe_service(cx).await?.ok_or_else(|| {
        Error::Failed(format!(
            "the service {} is not active\n  hint: run `provision up --suffix {suffix} --enable-exec` first",
            ecs::service_name(cx)
        ))
    })?;
    if !svc.enable_execute_command() {
        return Err(Error::Failed(format!(
            "the service {} was created without ECS Exec (enableExecuteCommand is false)\n  hint: run `provision up --suffix {suffix} --enable-exec`: it turns ECS Exec on, gives the app a writable root filesystem (the ECS Exec agent writes to it) and replaces the tasks; then run exec again",
            ecs::service_name(cx)
        )));
    }
    let cluster = cluster_name(cx);
    let arns = match task {
        Some(t) => vec![t.to_owned()],
        None => {
            let listed = cx
                .aws
                .ecs
                .list_tasks()
                .cluster(&cluster)
                .service_name(ecs::service_name(cx))
                .desired_status(DesiredStatus::Running)
                .send()
                .await
                .aws("ListTasks")?;
            listed.task_arns().to_vec()
        }
    };
    if arns.is_empty() {
        return Err(Error::Failed(format!(
            "the service {} has no running task\n  hint: `provision status --suffix {suffix}` shows the service",
            ecs::service_name(cx)
        )));
    }
    let tasks = describe_tasks(cx, arns.clone()).await?;
    let mut chosen = tasks
        .into_iter()
        .find(|t| t.last_status() == Some("RUNNING"))
        .ok_or_else(|| match task {
            Some(t) => Error::Failed(format!(
                "task {t} is not RUNNING in {cluster}\n  hint: leave --task out to use the service's first running task"
            )),
            None => Error::Failed("none of the service's tasks is RUNNING yet\n  hint: try again in a minute".into()),
        })?;
    let arn = chosen.task_arn().unwrap_or_default().to_owned();
    let task_id = arn.rsplit('/').next().unwrap_or_default().to_owned();
    if !chosen.enable_execute_command() {
        return Err(Error::Failed(format!(
            "task {task_id} was started before ECS Exec was enabled\n  hint: `provision deploy --suffix {suffix}` replaces the tasks with ones that allow it"
        )));
    }
    if chosen.containers().iter().all(|c| c.name() != Some(container)) {
        return Err(Error::Failed(format!("task {task_id} has no container {container}")));
    }
    // A task that just started may still be starting its agent.
    if agent_status(&chosen, container) != Some("RUNNING") {
        cx.waiting("exec", &format!("the ECS Exec agent in {container} of task {task_id}"));
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
        };
        chosen = wait::poll("the ECS Exec agent to run", backoff, || async {
            let t = describe_tasks(cx, vec![arn.clone()]).await?.into_iter().next();
            match t.as_ref().and_then(|t| agent_status(t, container)) {
                Some("RUNNING") => Ok(t),
                Some("STOPPED") => Err(AwsError::custom(
                    "ExecuteCommand",
                    "AgentStopped",
                    format!("the ECS Exec agent in {container} of task {task_id} stopped (a read-only root filesystem stops it)"),
                )),
                _ => Ok(None),
            }
        })
        .await?;
    }
    let runtime_id = chosen
        .containers()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.runtime_id())
        .unwrap_or_default()
        .to_owned();
    if runtime_id.is_empty() {
        return Err(Error::Failed(format!(
            "the container {container} of task {task_id} has no runtime id yet\n  hint: try again in a moment"
        )));
    }
    let out = cx
        .aws
        .ecs
        .execute_command()
        .cluster(&cluster)
        .task(&arn)
        .container(container)
        .command(command)
        .interactive(true)
        .send()
        .await
        .aws("ExecuteCommand")
        .map_err(|e| {
            let hint = if e.code_is("TargetNotConnectedException") {
                "the agent cannot reach Systems Manager: the task needs a route to ssmmessages (the private subnets' NAT gateways)"
            } else if e.class() == crate::aws::ErrorClass::AccessDenied {
                "your credentials need ecs:ExecuteCommand on the cluster and task"
            } else {
                "`provision deploy --suffix SUFFIX` replaces the tasks if they were started before ECS Exec was enabled"
            };
            Error::Failed(format!("{e}\n  hint: {hint}"))
        })?;
    let s = out
        .session()
        .ok_or_else(|| Error::Failed("ExecuteCommand answered without a session".into()))?;
    let session = Session {
        session_id: s.session_id().unwrap_or_default().to_owned(),
        stream_url: s.stream_url().unwrap_or_default().to_owned(),
        token: s.token_value().unwrap_or_default().to_owned(),
    };
    tracing::info!(session = %session.session_id, task = %task_id, container, "ECS Exec session opened");
    Ok((
        session,
        Target {
            cluster: out
                .cluster_arn()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or(&cluster)
                .to_owned(),
            task_id: out
                .task_arn()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or(&task_id)
                .to_owned(),
            runtime_id,
            container: container.to_owned(),
        },
    ))
}

/// The plugin, found on `PATH`, and whether it reads the session from the
/// environment; an error with install hints otherwise.
pub fn plugin() -> Result<PathBuf, Error> {
    let path = find_on_path(PLUGIN, std::env::var_os("PATH").as_deref()).ok_or_else(|| {
        Error::Failed(format!(
            "`{PLUGIN}` is not on PATH; ECS Exec needs it to connect your terminal to the task\n  hint: {INSTALL_HINT}"
        ))
    })?;
    let version = std::process::Command::new(&path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Failed(format!("cannot run {}: {e}\n  hint: {INSTALL_HINT}", path.display())))?;
    let v = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if !newer(&v, LAST_WITHOUT_ENV) {
        return Err(Error::Failed(format!(
            "{} is version {v:?}; plugins up to {LAST_WITHOUT_ENV} take the session token on the command line, where other users can see it\n  hint: upgrade it: {INSTALL_HINT}",
            path.display()
        )));
    }
    Ok(path)
}

/// Runs the plugin with the terminal, ignoring Ctrl-C and Ctrl-\ meanwhile.
async fn hand_over(l: &Launch) -> Result<(), Error> {
    use tokio::signal::unix::{signal, SignalKind};
    // Holding these streams replaces the default (terminating) action; the
    // signals still reach the plugin, which sends them to the remote shell.
    let _int = signal(SignalKind::interrupt()).ok();
    let _quit = signal(SignalKind::quit()).ok();
    let status = tokio::process::Command::new(&l.program)
        .args(&l.args)
        .env(&l.env.0, &l.env.1)
        .status()
        .await
        .map_err(|e| {
            Error::Failed(format!(
                "cannot run {}: {e}\n  hint: {INSTALL_HINT}",
                l.program.display()
            ))
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Failed(format!("{PLUGIN} ended the session with {status}")))
    }
}

pub async fn run(cli: &Cli, a: &ExecArgs, max_attempts: u32) -> Result<(), Error> {
    let container = container_name(&a.container)?;
    if let Some(t) = &a.task {
        check_task(t)?;
    }
    let command = if a.command.is_empty() {
        "/bin/sh".to_owned()
    } else {
        super::run::shell_join(&a.command)
    };
    let plugin = plugin()?;
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let engine = opened.engine.clone();
    let cx = &engine.cx;
    let (session, target) = prepare(cx, container, a.task.as_deref(), &command).await?;
    let endpoint = ssm_endpoint(cx.region(), |k| std::env::var(k).ok());
    let l = launch(&plugin, &session, cx.region(), &target, &endpoint);
    if !cli.quiet {
        eprintln!(
            "exec {command:?} in {} of task {} (session {})",
            target.container, target.task_id, session.session_id
        );
    }
    hand_over(&l).await
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
