//! `provision deploy`: registers a task definition revision for the current
//! settings (image, tag) and rolls it out on the existing service with ECS
//! native blue/green, waiting for the outcome. The resources themselves
//! are the ecs family's steps; this only drives them.

use super::Setup;
use crate::aws::wait::{self, Backoff};
use crate::cli::{Cli, DeployArgs};
use crate::ops::{Engine, Error};
use crate::steps::ecs::{self, Rollout, TaskInputs};
use crate::steps::ids;
use std::time::Duration;

/// Finds the records `deploy` needs from AWS (the state file is a cache).
async fn load_records(engine: &Engine, ids: &[String]) -> Result<(), Error> {
    let cx = &engine.cx;
    for id in ids {
        let Some(step) = engine.steps.iter().find(|s| s.id() == id) else {
            continue;
        };
        match step.find(cx).await? {
            Some(rec) => cx.set_record(id, rec),
            None => {
                return Err(Error::Failed(format!(
                    "`{id}` does not exist yet\n  hint: run `provision up` first; deploy only rolls out a new revision"
                )))
            }
        }
    }
    Ok(())
}

/// Registers a revision for the current settings (image, tag), rolls it out
/// blue/green and waits for the outcome. Returns a one-line report naming
/// the deployment.
pub async fn run_rollout(engine: &Engine, timeout: Duration) -> Result<String, Error> {
    let cx = &engine.cx;
    let mut needed: Vec<String> = vec![ids::ECS_CLUSTER.into(), ids::ECS_SERVICE.into()];
    if let Some(td) = engine.steps.iter().find(|s| s.id() == ids::TASK_DEF) {
        needed.extend(td.deps().into_iter().map(|d| d.step));
    }
    load_records(engine, &needed).await?;
    let svc = ecs::describe_service(cx)
        .await?
        .ok_or_else(|| Error::Failed("the service is not active; run `provision up`".into()))?;
    // Never a revision for a tag the registry does not have: the tasks
    // could not pull it, and the circuit breaker would fail the rollout.
    if cx.settings.image.is_none() && !crate::steps::registry::image_exists(cx, &cx.settings.image_tag).await? {
        return Err(Error::Failed(format!(
            "the repository {} has no image tagged `{}`; nothing was registered\n  hint: push it first: provision image push --suffix {} --tag {}",
            crate::steps::registry::repo_name(cx),
            cx.settings.image_tag,
            cx.suffix(),
            cx.settings.image_tag
        )));
    }
    let current = svc.task_definition().unwrap_or_default().to_owned();
    let inputs = TaskInputs::from_ctx(cx)?;
    let unchanged = !current.is_empty()
        && ecs::described_fingerprint(&ecs::describe_task_definition(cx, &current).await?)
            == inputs.desired_fingerprint()?;
    let target = if unchanged {
        current.clone()
    } else {
        ecs::register(cx, &inputs).await?
    };
    let before = svc.current_service_deployment().map(str::to_owned);
    let was_idle = svc.desired_count() == 0;
    cx.waiting("deploy", &format!("rolling out {target}"));
    let mut label = ecs::start(cx, &target, unchanged).await?;
    let started = tokio::time::Instant::now();
    let backoff = Backoff {
        first: Duration::from_secs(5),
        max: Duration::from_secs(30),
        timeout,
    };
    let outcome = wait::poll(&format!("deployment of {target}"), backoff, || async {
        Ok(match ecs::progress(cx, &target, before.as_deref()).await? {
            Rollout::InProgress => None,
            r => Some(r),
        })
    })
    .await?;
    let secs = started.elapsed().as_secs();
    match outcome {
        Rollout::Done(id) => {
            if !id.is_empty() {
                label = id;
            }
            if was_idle {
                crate::steps::scaling::raise_floor(cx).await?;
            }
            Ok(format!("deployment {label} of {target} ({}) completed in {secs}s", inputs.image))
        }
        Rollout::Failed(why) => Err(Error::Failed(format!(
            "deploy of {target} ({}) did not complete: {why}\n  hint: see the service events (`aws ecs describe-services`) and the app logs in {}",
            inputs.image, inputs.app_log
        ))),
        Rollout::InProgress => unreachable!("poll only returns settled outcomes"),
    }
}

/// The command: validate, set up, take the lock, roll out.
pub async fn run(cli: &Cli, a: &DeployArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    let rep = super::reporter(false, cli.quiet);
    let Setup { engine } = super::setup(cli, settings, max_attempts, rep).await?;
    let _lock = engine.lock()?;
    let report = run_rollout(&engine, std::time::Duration::from_secs(a.timeout)).await?;
    println!("{report}");
    Ok(())
}
