//! `provision up`: create what is missing, repair drift, write the outputs.

use super::stack::{self, Access, Stack};
use crate::cli::{Cli, UpArgs};
use crate::ops::Error;
use crate::steps::{self, ids};
use std::collections::BTreeMap;
use std::path::Path;

pub async fn run(cli: &Cli, a: &UpArgs, max_attempts: u32) -> Result<(), Error> {
    let parallelism = a.run.validate()?;
    let rep = super::reporter(a.run.json, cli.quiet);
    let mut opened = stack::open(cli, &a.stack, Access::Change("up"), max_attempts, rep).await?;
    let result = converge(cli, a, parallelism, &mut opened).await;
    opened.close(result).await
}

/// Confirms destructive changes, records the settings (before any change,
/// so that a crash half-way still remembers what was asked for), converges
/// and writes the outputs.
async fn converge(cli: &Cli, a: &UpArgs, parallelism: usize, opened: &mut Stack) -> Result<(), Error> {
    opened.confirm(a.yes, "up")?;
    if !cli.quiet && !a.run.json {
        if opened.record.is_none() {
            eprintln!(
                "settings: recording the settings of `{}` in s3://{} (adopting the stack if it exists)",
                opened.cx().suffix(),
                opened.bucket.name
            );
        }
        for c in &opened.changes {
            eprintln!("settings: {c}");
        }
    }
    steps::preflight(opened.cx()).await?;
    opened.record("up", None).await?;
    opened.learn().await;
    let engine = opened.engine.clone();
    let (before, after) = retired(&engine.steps, steps::teardown(&engine.cx.settings));
    if !before.is_empty() {
        engine.retire(&before, parallelism).await?;
    }
    let summary = engine.up(parallelism).await?;
    if !after.is_empty() {
        engine.retire(&after, parallelism).await?;
    }
    first_image(&engine, cli.quiet).await?;
    record_rollout(opened).await?;
    let outputs = steps::outputs(&engine.cx);
    write_outputs(&a.outputs, &outputs)?;
    if let (Some(domain), Some(target)) = (&engine.cx.settings.domain, outputs.get("CloudFrontDomainName")) {
        // The one thing this tool does not do: the operator's DNS.
        eprintln!(
            "dns: point {domain} at the distribution: a CNAME record `{domain}. CNAME {target}.` \
             (in Route 53, an alias A and AAAA record to {target})"
        );
    }
    if a.run.json {
        println!("{}", serde_json::json!({"event": "done", "outputs": outputs}));
    } else {
        if !cli.quiet {
            eprintln!(
                "up: {} created, {} repaired, {} unchanged in {:.1}s; outputs written to {}",
                summary.count("created"),
                summary.count("repaired"),
                summary.count("found"),
                summary.elapsed.as_secs_f64(),
                a.outputs.display()
            );
        }
        println!("{}", serde_json::to_string_pretty(&outputs).expect("json"));
    }
    Ok(())
}

/// The parts of the teardown this stack no longer has (the edge after
/// `--no-edge`, the web ACL after `--no-waf`), split by when they go: a
/// part that a kept step names (the distribution names its web ACL) after
/// `up` has made that step stop naming it; the rest before `up`, so what
/// they name (the VPC origin names the load balancer) is free to change.
fn retired(stack: &[steps::StepRef], teardown: Vec<steps::StepRef>) -> (Vec<steps::StepRef>, Vec<steps::StepRef>) {
    let kept: Vec<&steps::StepRef> = teardown
        .iter()
        .filter(|t| stack.iter().any(|s| s.id() == t.id()))
        .collect();
    teardown
        .iter()
        .filter(|t| stack.iter().all(|s| s.id() != t.id()))
        .cloned()
        .partition(|r| !kept.iter().any(|k| k.deps().iter().any(|d| d.step == r.id())))
}

/// When `up` rolled out a revision (new settings: variables, sizes, an
/// image), it is recorded as the deployed image, the one before going into
/// the history `rollback` uses.
async fn record_rollout(opened: &mut Stack) -> Result<(), Error> {
    let cx = opened.cx();
    let running = cx
        .records()
        .get(ids::ECS_SERVICE)
        .and_then(|r| r.attr("task_definition").map(str::to_owned))
        .filter(|td| !td.is_empty());
    let Some(td) = running else { return Ok(()) };
    let known = opened.record.as_ref().and_then(|r| r.deployed.as_ref());
    let runs_an_image = cx.settings.image.is_some() || steps::ecs::image_present(cx);
    if known.is_some_and(|d| d.task_definition == td) || !runs_an_image {
        return Ok(());
    }
    let image = steps::ecs::TaskInputs::from_ctx(cx)?.image;
    let d = opened.deployment("up", &image, None, &td);
    opened.record("up", Some(d)).await
}

/// A fresh stack whose repository has no image yet runs no task. With a
/// container engine on this machine, `up` builds `container/`, pushes it
/// and deploys it, as CDK's image assets do; without one it says exactly
/// which commands bring the service up.
async fn first_image(engine: &crate::ops::Engine, quiet: bool) -> Result<(), Error> {
    let cx = &engine.cx;
    if cx.settings.image.is_some() || steps::ecs::image_present(cx) {
        return Ok(());
    }
    let tag = cx.settings.image_tag.clone();
    let context = Path::new("container");
    if context.join("Dockerfile").is_file() && super::image::detect_engine().await.is_ok() {
        if !quiet {
            eprintln!(
                "up: the repository has no image `{tag}`: building {} and pushing it",
                context.display()
            );
        }
        super::image::push(cx, &tag, context).await?;
        let rolled = super::deploy::run_rollout(engine, std::time::Duration::from_secs(30 * 60)).await?;
        if !quiet {
            eprintln!("up: {}", rolled.report);
        }
        return Ok(());
    }
    let s = cx.suffix();
    eprintln!(
        "notice: the service runs no task yet: the repository has no image tagged `{tag}` \
         (and no container engine to build one was found here)\n  \
         hint: on a machine with docker, podman or buildah: provision image push --suffix {s} --tag {tag}, \
         then provision deploy --suffix {s} (it scales the service to its minimum)"
    );
    Ok(())
}

fn write_outputs(path: &Path, outputs: &BTreeMap<String, String>) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Failed(format!("cannot write outputs to {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(outputs).expect("json")).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(steps: &[steps::StepRef]) -> Vec<&str> {
        steps.iter().map(|s| s.id()).collect()
    }

    #[test]
    fn turning_the_edge_off_retires_it_before_up_and_the_waf_after() {
        let none = |flags: &[&str]| {
            let s = crate::testing::settings(flags);
            retired(&steps::stack(&s), steps::teardown(&s))
        };
        let (before, after) = none(&[]);
        assert!(
            before.is_empty() && after.is_empty(),
            "the default stack keeps everything"
        );

        let (before, after) = none(&["--no-edge"]);
        let b = ids(&before);
        for id in [
            ids::DISTRIBUTION,
            ids::VPC_ORIGIN,
            ids::WEB_ACL,
            ids::EDGE_LOGS,
            ids::LOG_EDGE,
        ] {
            assert!(b.contains(&id), "{id} in {b:?}");
        }
        assert!(after.is_empty());

        // The distribution stays and stops naming the web ACL first.
        let (before, after) = none(&["--no-waf"]);
        assert!(before.is_empty(), "{:?}", ids(&before));
        assert_eq!(ids(&after), [ids::WEB_ACL]);
    }
}
