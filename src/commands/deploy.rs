//! `provision deploy`: registers a task definition revision for the current
//! settings (image, tag) and rolls it out on the existing service with ECS
//! native blue/green, waiting for the outcome. The resources themselves
//! are the ecs family's steps; this only drives them. An image of the
//! stack's own repository must be in the registry before anything is
//! registered; `--build` builds and pushes `container/` first.

use super::stack::{self, Access, Stack};
use crate::aws::wait::{self, Backoff};
use crate::cli::{Cli, DeployArgs};
use crate::ops::{Engine, Error};
use crate::steps::ecs::{self, Rollout, TaskInputs};
use crate::steps::registry::{find_image, repo_name, ImageRef, InRepository};
use crate::steps::{ids, Ctx};
use std::path::Path;
use std::time::Duration;

/// Finds the records `deploy` needs from AWS (the state file is a cache).
pub(crate) async fn load_records(engine: &Engine, ids: &[String]) -> Result<(), Error> {
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

/// The stack's repository URI, as ECR names it (`{account}.dkr.ecr.{region}.amazonaws.com/ecr-api-{suffix}`).
pub(crate) async fn own_repository_uri(cx: &Ctx) -> Result<String, Error> {
    let account = cx.account_id().await?;
    let domain = if cx.region().starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(format!("{account}.dkr.ecr.{}.{domain}/{}", cx.region(), repo_name(cx)))
}

/// Refuses an image of the stack's own repository that is not in the
/// registry, and returns its digest. An image outside the repository is not
/// checked.
pub(crate) async fn ensure_in_registry(cx: &Ctx, image: &str) -> Result<Option<String>, Error> {
    let repo_uri = own_repository_uri(cx).await?;
    let Some(wanted) = ImageRef::in_repository(image, &repo_uri) else {
        tracing::info!(image, "not in the stack's repository; not checked");
        return Ok(None);
    };
    let repo = repo_name(cx);
    let suffix = cx.suffix();
    match find_image(cx, wanted).await? {
        InRepository::Digest(digest) => Ok(Some(digest)),
        InRepository::NoRepository => Err(Error::Failed(format!(
            "the repository {repo} does not exist, so {image} cannot be deployed\n  hint: run `provision up --suffix {suffix}` first"
        ))),
        InRepository::Missing => {
            let push = match wanted {
                ImageRef::Tag(tag) => {
                    format!("`provision image push --suffix {suffix} --tag {tag}`, or deploy with `--build`")
                }
                ImageRef::Digest(_) => format!("push the image to {repo_uri} first"),
            };
            Err(Error::Failed(format!(
                "the image {wanted} is not in the repository {repo} ({repo_uri}); nothing was changed\n  hint: {push}"
            )))
        }
    }
}

/// Starts a rollout of `target` (`force`: fresh tasks even when the service
/// already runs it) and waits for its outcome, at most `timeout`. `before`
/// is the service deployment current before the start. Returns the
/// settled outcome (the deployment id, or why it failed) and the seconds
/// it took.
pub(crate) async fn roll_out(
    cx: &Ctx,
    target: &str,
    force: bool,
    before: Option<&str>,
    timeout: Duration,
) -> Result<(Rollout, u64), Error> {
    cx.waiting(ids::ECS_SERVICE, &format!("the roll-out of {target}"));
    // A service that ran no task (no image in the registry yet): `start`
    // scales it to its desired count, and after the roll-out auto
    // scaling's floor goes back to its minimum.
    let was_idle = ecs::describe_service(cx).await?.is_some_and(|s| s.desired_count() == 0);
    let started_id = ecs::start(cx, target, force).await?;
    let started = tokio::time::Instant::now();
    let backoff = Backoff {
        first: Duration::from_secs(5),
        max: Duration::from_secs(30),
        timeout,
    };
    let outcome = wait::poll(&format!("deployment of {target}"), backoff, || async {
        Ok(match ecs::progress(cx, target, before).await? {
            Rollout::InProgress => None,
            r => Some(r),
        })
    })
    .await?;
    let outcome = match outcome {
        Rollout::Done(id) if id.is_empty() => Rollout::Done(started_id),
        r => r,
    };
    if was_idle && matches!(outcome, Rollout::Done(_)) {
        crate::steps::scaling::raise_floor(cx).await?;
    }
    Ok((outcome, started.elapsed().as_secs()))
}

/// A completed roll-out.
pub struct Rolled {
    /// One line naming the deployment.
    pub report: String,
    /// The task definition revision the service now runs, and its image.
    pub task_definition: String,
    pub image: String,
    pub digest: Option<String>,
    /// How long the roll-out took.
    pub secs: u64,
}

/// Registers a revision for the current settings (image, tag), rolls it out
/// blue/green and waits for the outcome.
pub async fn run_rollout(engine: &Engine, timeout: Duration) -> Result<Rolled, Error> {
    let cx = &engine.cx;
    let mut needed: Vec<String> = vec![ids::ECS_CLUSTER.into(), ids::ECS_SERVICE.into()];
    if let Some(td) = engine.steps.iter().find(|s| s.id() == ids::TASK_DEF) {
        needed.extend(td.deps().into_iter().map(|d| d.step));
    }
    load_records(engine, &needed).await?;
    let svc = ecs::describe_service(cx)
        .await?
        .ok_or_else(|| Error::Failed("the service is not active; run `provision up`".into()))?;
    let current = svc.task_definition().unwrap_or_default().to_owned();
    let inputs = TaskInputs::from_ctx(cx)?;
    let digest = ensure_in_registry(cx, &inputs.image).await?;
    let unchanged = !current.is_empty()
        && ecs::described_fingerprint(&ecs::describe_task_definition(cx, &current).await?)
            == inputs.desired_fingerprint()?;
    let target = if unchanged {
        current.clone()
    } else {
        ecs::register(cx, &inputs).await?
    };
    let before = svc.current_service_deployment().map(str::to_owned);
    let (outcome, secs) = roll_out(cx, &target, unchanged, before.as_deref(), timeout).await?;
    match outcome {
        Rollout::Done(label) => Ok(Rolled {
            report: format!("deployment {label} of {target} ({}) completed in {secs}s", inputs.image),
            task_definition: target,
            image: inputs.image,
            digest,
            secs,
        }),
        Rollout::Failed(why) => Err(Error::Failed(format!(
            "deploy of {target} ({}) did not complete: {why}\n  hint: see the service events (`aws ecs describe-services`) and the app logs (`provision logs --suffix {}`)",
            inputs.image,
            cx.suffix()
        ))),
        Rollout::InProgress => unreachable!("poll only returns settled outcomes"),
    }
}

/// The tag `--build` gives an image when no `--image-tag` is given: the
/// commit (`git rev-parse --short=12 HEAD`), with `-dirty` when the build
/// context has uncommitted changes (`git status --porcelain -- .`).
pub fn git_tag(context: &Path) -> Result<String, Error> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(context)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
    };
    let hint = "pass --image-tag TAG, or run from a git checkout with git installed";
    let head = git(&["rev-parse", "--short=12", "HEAD"])
        .map_err(|e| Error::Usage(format!("cannot run git to tag the image: {e}\n  hint: {hint}")))?;
    if !head.status.success() {
        return Err(Error::Usage(format!(
            "{} is not in a git checkout with a commit, so the image has no tag: {}\n  hint: {hint}",
            context.display(),
            String::from_utf8_lossy(&head.stderr).trim()
        )));
    }
    let sha = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let status = git(&["status", "--porcelain", "--", "."])
        .map_err(|e| Error::Usage(format!("cannot run git status: {e}\n  hint: {hint}")))?;
    let dirty = !status.status.success() || !status.stdout.iter().all(u8::is_ascii_whitespace);
    Ok(if dirty { format!("{sha}-dirty") } else { sha })
}

/// The command: validate, (tag the build,) open the stack under its lock,
/// then roll out and record.
pub async fn run(cli: &Cli, a: &DeployArgs, max_attempts: u32) -> Result<(), Error> {
    let mut args = a.stack.clone();
    if a.build {
        if !a.context.join("Dockerfile").is_file() {
            return Err(Error::Usage(format!(
                "{} has no Dockerfile\n  hint: run from the repository root or pass --context DIR",
                a.context.display()
            )));
        }
        if args.image_tag.is_none() {
            args.image_tag = Some(git_tag(&a.context)?);
        }
    }
    let rep = super::reporter(false, cli.quiet);
    let mut opened = stack::open(cli, &args, Access::Change("deploy"), max_attempts, rep).await?;
    let result = deploy(cli, a, &mut opened).await;
    opened.close(result).await
}

/// (Builds and pushes,) rolls out, and records the settings with the image
/// deployed once the roll-out completed: a failed roll-out records nothing.
async fn deploy(cli: &Cli, a: &DeployArgs, opened: &mut Stack) -> Result<(), Error> {
    opened.confirm(a.yes, "deploy")?;
    let engine = opened.engine.clone();
    if a.build {
        let tag = engine.cx.settings.image_tag.clone();
        let uri = super::image::push(&engine.cx, &tag, &a.context).await?;
        if !cli.quiet {
            eprintln!("pushed {uri}");
        }
    }
    opened.rollout_started().await;
    let rolled = run_rollout(&engine, Duration::from_secs(a.timeout)).await?;
    opened.rollout_finished(rolled.secs);
    let d = opened.deployment("deploy", &rolled.image, rolled.digest.clone(), &rolled.task_definition);
    opened.record("deploy", Some(d)).await?;
    println!("{}", rolled.report);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_git_tag_is_the_commit_and_dirty_when_the_context_changed() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(ok, "git {args:?}");
        };
        // Outside a checkout: bad input, with a hint.
        let e = git_tag(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("--image-tag"), "{e}");
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        git(&["add", "Dockerfile"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "one",
        ]);
        let tag = git_tag(dir.path()).unwrap();
        assert_eq!(tag.len(), 12, "{tag}");
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
        std::fs::write(dir.path().join("Dockerfile"), "FROM busybox\n").unwrap();
        assert_eq!(git_tag(dir.path()).unwrap(), format!("{tag}-dirty"));
    }
}
