//! `provision rollback`: puts the service back on the task definition
//! revision it ran before the current one (or the one `--to` names),
//! through the same blue/green roll-out, wait and circuit breaker as
//! `deploy`. The history is AWS's own: the family's ACTIVE revisions
//! (`ListTaskDefinitions`, every page) and the service's current task
//! definition (`DescribeServices`); "previous" is the highest ACTIVE
//! revision below the current one.

use super::deploy::{ensure_in_registry, own_repository_uri, roll_out};
use super::stack::{self, Access, Stack};
use crate::aws::AwsResultExt;
use crate::cli::{Cli, RollbackArgs};
use crate::ops::Error;
use crate::steps::ecs::{self, Rollout, APP_CONTAINER};
use crate::steps::registry::ImageRef;
use crate::steps::Ctx;
use aws_sdk_ecs::types::{SortOrder, TaskDefinitionStatus};
use serde_json::json;
use std::time::Duration;

/// `family` and revision of a task definition ARN
/// (`arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`).
pub fn parse_arn(arn: &str) -> Option<(&str, u32)> {
    let rest = arn.split_once(":task-definition/")?.1;
    let (family, rev) = rest.rsplit_once(':')?;
    Some((family, rev.parse().ok()?))
}

/// `--to`: a revision number, or the full ARN of a revision of `family`.
pub fn parse_to(to: &str, family: &str) -> Result<u32, Error> {
    let hint =
        format!("give a revision number (e.g. 3) or a full ARN arn:aws:ecs:REGION:ACCOUNT:task-definition/{family}:3");
    if let Ok(n) = to.trim().parse::<u32>() {
        if n == 0 {
            return Err(Error::Usage(format!(
                "invalid --to {to:?}: revisions start at 1\n  hint: {hint}"
            )));
        }
        return Ok(n);
    }
    if !to.starts_with("arn:") {
        return Err(Error::Usage(format!(
            "invalid --to {to:?}: neither a revision number nor a task definition ARN\n  hint: {hint}"
        )));
    }
    match parse_arn(to) {
        Some((f, n)) if f == family && n > 0 => Ok(n),
        Some((f, _)) if f != family => Err(Error::Usage(format!(
            "invalid --to {to:?}: a revision of {f}, not of this stack's family {family}\n  hint: {hint}"
        ))),
        _ => Err(Error::Usage(format!(
            "invalid --to {to:?}: not a task definition ARN\n  hint: {hint}"
        ))),
    }
}

/// The revision to roll back to: `to`, or the highest ACTIVE revision below
/// `current`. `active` are the family's ACTIVE revision ARNs.
pub fn choose(active: &[String], family: &str, current: u32, to: Option<u32>) -> Result<String, String> {
    let mut revs: Vec<(u32, &String)> = active
        .iter()
        .filter_map(|a| parse_arn(a).filter(|(f, _)| *f == family).map(|(_, n)| (n, a)))
        .collect();
    revs.sort();
    let listed = revs.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>().join(", ");
    match to {
        Some(n) => revs
            .iter()
            .find(|(r, _)| *r == n)
            .map(|(_, a)| (*a).clone())
            .ok_or_else(|| {
                format!(
                    "revision {n} of {family} is not ACTIVE (ACTIVE: {listed}); deregistered revisions cannot be run"
                )
            }),
        None => revs
            .iter()
            .rev()
            .find(|(r, _)| *r < current)
            .map(|(_, a)| (*a).clone())
            .ok_or_else(|| {
                format!("no ACTIVE revision of {family} below {current}, the one the service runs (ACTIVE: {listed})")
            }),
    }
}

/// Every ACTIVE revision ARN of `family` (every page).
async fn active_revisions(cx: &Ctx, family: &str) -> Result<Vec<String>, Error> {
    Ok(cx
        .aws
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Asc)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .aws("ListTaskDefinitions")?)
}

/// The app container's image in revision `arn`.
async fn app_image(cx: &Ctx, arn: &str) -> Result<String, Error> {
    let td = ecs::describe_task_definition(cx, arn).await?;
    Ok(td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(APP_CONTAINER))
        .and_then(|c| c.image())
        .unwrap_or("?")
        .to_owned())
}

/// The revision deployed before the one the service runs, from the
/// recorded history (it survives a lost state directory), if it is still
/// ACTIVE; otherwise `choose` takes the highest ACTIVE one below.
fn previous_deployed(opened: &Stack, current: u32, active: &[String]) -> Option<u32> {
    let rec = opened.record.as_ref()?;
    rec.history
        .iter()
        .map(|d| d.task_definition.as_str())
        .filter(|td| active.iter().any(|a| a == td))
        .filter_map(parse_arn)
        .map(|(_, n)| n)
        .find(|n| *n < current)
}

pub async fn run(cli: &Cli, a: &RollbackArgs, max_attempts: u32) -> Result<(), Error> {
    let settings = a.stack.validate()?;
    let family = crate::naming::name("task", "api", &settings.suffix);
    let to = a.to.as_deref().map(|t| parse_to(t, &family)).transpose()?;
    let rep = super::reporter(false, cli.quiet || a.json);
    let mut opened = stack::open(cli, &a.stack, Access::Change("rollback"), max_attempts, rep).await?;
    let result = rollback(a, &family, to, &mut opened).await;
    opened.close(result).await
}

/// Makes the image of `target` the stack's image setting (a tag of the
/// stack's repository, else the full URI), so that a plain `up` keeps it.
async fn record_image(opened: &mut Stack, image: &str, digest: Option<String>, target: &str) -> Result<(), Error> {
    let repo = own_repository_uri(opened.cx()).await?;
    let req = &mut opened.layered.request;
    match ImageRef::in_repository(image, &repo) {
        Some(ImageRef::Tag(tag)) => {
            req.image = None;
            req.image_tag = tag.to_owned();
        }
        _ => req.image = Some(image.to_owned()),
    }
    let d = opened.deployment("rollback", image, digest, target);
    opened.record("rollback", Some(d)).await
}

async fn rollback(a: &RollbackArgs, family: &str, to: Option<u32>, opened: &mut Stack) -> Result<(), Error> {
    let engine = opened.engine.clone();
    let cx = &engine.cx;
    let suffix = cx.suffix().to_string();
    let svc = ecs::describe_service(cx).await?.ok_or_else(|| {
        Error::Failed(format!(
            "the service {} is not active\n  hint: run `provision up --suffix {suffix}` first",
            ecs::service_name(cx)
        ))
    })?;
    let current = svc.task_definition().unwrap_or_default().to_owned();
    let current_rev = match parse_arn(&current) {
        Some((f, n)) if f == family => n,
        _ => {
            return Err(Error::Failed(format!(
                "the service runs {current:?}, not a revision of {family}\n  hint: `provision up --suffix {suffix}` puts it back on the stack's task definition"
            )))
        }
    };
    let active = active_revisions(cx, family).await?;
    let to = to.or_else(|| previous_deployed(opened, current_rev, &active));
    let target = choose(&active, family, current_rev, to).map_err(|why| {
        Error::Failed(format!(
            "nothing to roll back to: {why}\n  hint: `provision deploy --suffix {suffix} --image-tag TAG` rolls forward to an image instead"
        ))
    })?;
    let target_rev = parse_arn(&target).map(|(_, n)| n).unwrap_or(0);
    let (from_image, to_image) = (app_image(cx, &current).await?, app_image(cx, &target).await?);
    let service = svc.service_name().unwrap_or_default().to_owned();
    if target == current {
        let msg = format!("{service} already runs {family}:{current_rev} ({to_image}); nothing to do");
        if a.json {
            println!(
                "{}",
                json!({"service": service, "unchanged": true, "revision": current_rev, "task_definition": current, "image": to_image})
            );
        } else {
            println!("{msg}");
        }
        return Ok(());
    }
    let digest = ensure_in_registry(cx, &to_image).await?;
    let before = svc.current_service_deployment().map(str::to_owned);
    opened.rollout_started().await;
    let (outcome, secs) = roll_out(cx, &target, false, before.as_deref(), Duration::from_secs(a.timeout)).await?;
    match outcome {
        Rollout::Done(deployment) => {
            opened.rollout_finished(secs);
            record_image(opened, &to_image, digest, &target).await?;
            if a.json {
                let doc = json!({
                    "service": service,
                    "from": {"revision": current_rev, "task_definition": current, "image": from_image},
                    "to": {"revision": target_rev, "task_definition": target, "image": to_image},
                    "deployment": deployment,
                    "seconds": secs,
                });
                println!("{doc}");
            } else {
                println!(
                    "rolled back {service} from {family}:{current_rev} ({from_image}) to {family}:{target_rev} ({to_image}): deployment {deployment} completed in {secs}s"
                );
            }
            Ok(())
        }
        Rollout::Failed(why) => Err(Error::Failed(format!(
            "rollback of {service} to {family}:{target_rev} ({to_image}) did not complete: {why}\n  hint: see the service events (`aws ecs describe-services`) and the app logs (`provision logs --suffix {suffix}`)"
        ))),
        Rollout::InProgress => unreachable!("poll only returns settled outcomes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &str = "task-api-dev1";

    fn arn(n: u32) -> String {
        format!("arn:aws:ecs:ap-southeast-2:123456789012:task-definition/{FAMILY}:{n}")
    }

    #[test]
    fn previous_is_the_highest_active_revision_below_the_current_one() {
        // Sorted as numbers, not as strings (10 > 9); 3 is deregistered.
        let active = vec![arn(10), arn(1), arn(2), arn(9), arn(4)];
        assert_eq!(choose(&active, FAMILY, 10, None).unwrap(), arn(9));
        assert_eq!(choose(&active, FAMILY, 4, None).unwrap(), arn(2));
        assert_eq!(choose(&active, FAMILY, 3, None).unwrap(), arn(2));
        let e = choose(&active, FAMILY, 1, None).unwrap_err();
        assert!(e.contains("no ACTIVE revision") && e.contains("1, 2, 4, 9, 10"), "{e}");
        assert_eq!(choose(&active, FAMILY, 10, Some(4)).unwrap(), arn(4));
        assert!(choose(&active, FAMILY, 10, Some(3)).unwrap_err().contains("not ACTIVE"));
        // Another family's revisions never count.
        let other = vec!["arn:aws:ecs:ap-southeast-2:1:task-definition/task-api-dev10:5".to_string()];
        assert!(choose(&other, FAMILY, 9, None).is_err());
    }

    #[test]
    fn to_is_a_revision_number_or_an_arn_of_the_stacks_family() {
        assert_eq!(parse_to("3", FAMILY).unwrap(), 3);
        assert_eq!(parse_to(&arn(7), FAMILY).unwrap(), 7);
        for bad in [
            "0",
            "three",
            "task-api-dev1:3",
            "arn:aws:ecs:ap-southeast-2:1:task-definition/task-api-prod:3",
            "arn:aws:ecs:ap-southeast-2:1:service/x",
        ] {
            let e = parse_to(bad, FAMILY).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("hint:"), "{e}");
        }
        assert_eq!(parse_arn(&arn(12)), Some((FAMILY, 12)));
    }
}
