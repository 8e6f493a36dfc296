//! `provision image push`: build `container/` with whichever container
//! engine works here (Docker, Podman or Buildah) and push it to the stack's
//! ECR repository (`GetAuthorizationToken`, then the engine's `login`,
//! `build`, `push` and `logout`).

use super::stack::{self, Access};
use crate::aws::AwsResultExt;
use crate::cli::{Cli, PushArgs};
use crate::ops::Error;
use crate::steps::registry::{repo_name, EcrRepo};
use crate::steps::{ids, Ctx, Step};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The command: validate, set up, build and push; prints the image URI.
pub async fn run(cli: &Cli, a: &PushArgs, max_attempts: u32) -> Result<(), Error> {
    let rep = super::reporter(false, cli.quiet);
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, rep).await?;
    let engine = opened.engine.clone();
    let uri = push(&engine.cx, &a.tag, &a.context).await?;
    println!("{uri}");
    Ok(())
}

/// A container engine that can build and push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
    Buildah,
}

impl Engine {
    /// In order of preference.
    pub const ALL: [Engine; 3] = [Engine::Docker, Engine::Podman, Engine::Buildah];

    pub fn bin(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
            Engine::Buildah => "buildah",
        }
    }

    fn build_args(self, image: &str, context: &Path) -> Vec<String> {
        let verb = if self == Engine::Buildah { "bud" } else { "build" };
        // Fargate Spot runs x86_64 only.
        vec![
            verb.into(),
            "--platform".into(),
            "linux/amd64".into(),
            "-t".into(),
            image.into(),
            context.display().to_string(),
        ]
    }
}

/// Runs `bin args` with a timeout, capturing its output.
async fn run_quiet(bin: &str, args: &[&str], timeout: Duration) -> Result<std::process::Output, String> {
    let child = tokio::process::Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "not installed".to_string()
            } else {
                e.to_string()
            }
        })?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "`{bin} {}` did not answer within {}s",
            args.join(" "),
            timeout.as_secs()
        )),
    }
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed")
        .to_owned()
}

/// What `{engine} info` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It succeeded: the engine can build and push here.
    Works,
    /// It ran and failed (a client without a daemon fails there): the
    /// first line it wrote to stderr.
    Failed(String),
    /// It could not be run: not installed, or no answer in time.
    Unavailable(String),
}

/// Picks the engine from the probes, given in order of preference: the
/// first that works, or why each one does not.
pub fn choose_engine(probes: &[(Engine, Probe)]) -> Result<Engine, Vec<String>> {
    if let Some((e, _)) = probes.iter().find(|(_, p)| *p == Probe::Works) {
        return Ok(*e);
    }
    Err(probes
        .iter()
        .filter_map(|(e, p)| match p {
            Probe::Works => None,
            Probe::Failed(line) => Some(format!("{}: `{} info` failed: {line}", e.bin(), e.bin())),
            Probe::Unavailable(msg) => Some(format!("{}: {msg}", e.bin())),
        })
        .collect())
}

async fn probe(e: Engine) -> Probe {
    match run_quiet(e.bin(), &["info"], Duration::from_secs(30)).await {
        Ok(out) if out.status.success() => Probe::Works,
        Ok(out) => Probe::Failed(first_line(&out.stderr)),
        Err(msg) => Probe::Unavailable(msg),
    }
}

/// The first engine whose `info` succeeds, or why each one does not work.
/// Engines after the first that works are not asked.
pub async fn detect_engine() -> Result<Engine, Vec<String>> {
    let mut probes = Vec::new();
    for e in Engine::ALL {
        let p = probe(e).await;
        let works = p == Probe::Works;
        probes.push((e, p));
        if works {
            break;
        }
    }
    choose_engine(&probes)
}

/// The exact commands to push from a machine with Docker.
pub fn manual_push_commands(region: &str, uri: &str, tag: &str, context: &Path, suffix: &str) -> String {
    let registry = uri.split('/').next().unwrap_or(uri);
    format!(
        "  aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin {registry}\n\
         \x20 docker build --platform linux/amd64 -t {uri}:{tag} {ctx}\n\
         \x20 docker push {uri}:{tag}\n\
         then `provision up --suffix {suffix} --image-tag {tag}` runs it; `provision up --suffix {suffix} --image URI` \
         runs an image pushed anywhere else",
        ctx = context.display()
    )
}

/// Stdout of a child goes to our stderr: stdout carries only the result.
fn to_stderr() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    }
}

/// The repository's URI: from this run's `ecr-repo` record when there is
/// one (during `up`, which may just have created the repository: the
/// repository list it described before that is stale), else from AWS.
async fn repository_uri(cx: &Ctx) -> Result<String, Error> {
    if let Ok(uri) = cx.attr(ids::ECR_REPO, "uri") {
        return Ok(uri);
    }
    let suffix = cx.suffix().as_str();
    let repo = EcrRepo.find(cx).await?.ok_or_else(|| {
        Error::Failed(format!(
            "the repository {} does not exist yet\n  hint: run `provision up --suffix {suffix}` (or `provision step ecr-repo --suffix {suffix}`) first",
            repo_name(cx)
        ))
    })?;
    Ok(repo.attr("uri").unwrap_or_default().to_owned())
}

/// Builds `context` and pushes it as `ecr-api-{suffix}:{tag}`; returns the
/// image URI. The registry password goes to the engine on stdin only: it
/// is never on a command line, in a log line or in an error message.
///
/// Usable from `up` as well as from `provision image push`: the engine's
/// own output goes to stderr, and the repository comes from the run's
/// `ecr-repo` record when it has one.
pub async fn push(cx: &Ctx, tag: &str, context: &Path) -> Result<String, Error> {
    let suffix = cx.suffix().as_str();
    let uri = repository_uri(cx).await?;
    let image = format!("{uri}:{tag}");
    let engine = detect_engine().await.map_err(|why| {
        Error::Failed(format!(
            "no working container engine here, so the image cannot be built on this machine:\n  {}\n  \
             hint: push from a machine with Docker:\n{}",
            why.join("\n  "),
            manual_push_commands(cx.region(), &uri, tag, context, suffix)
        ))
    })?;
    if !context.join("Dockerfile").is_file() {
        return Err(Error::Failed(format!(
            "{} has no Dockerfile\n  hint: run from the repository root or pass --context DIR",
            context.display()
        )));
    }
    let bin = engine.bin();

    let token = cx
        .aws
        .ecr
        .get_authorization_token()
        .send()
        .await
        .aws("GetAuthorizationToken")?;
    let data = token
        .authorization_data()
        .first()
        .ok_or_else(|| Error::Failed("GetAuthorizationToken returned no token".into()))?;
    let registry = data
        .proxy_endpoint()
        .map(|e| e.trim_start_matches("https://").to_owned())
        .unwrap_or_else(|| uri.split('/').next().unwrap_or_default().to_owned());
    let password = data
        .authorization_token()
        .and_then(|t| aws_smithy_types::base64::decode(t).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(_, p)| p.to_owned()))
        .ok_or_else(|| {
            Error::Failed("GetAuthorizationToken returned a token that is not base64 of user:password".into())
        })?;
    let redact = |s: String| {
        if password.is_empty() {
            s
        } else {
            s.replace(&password, "***")
        }
    };

    tracing::info!(engine = bin, registry = %registry, "logging in to the registry");
    let mut login = tokio::process::Command::new(bin)
        .args(["login", "--username", "AWS", "--password-stdin", &registry])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Failed(format!("cannot run `{bin} login`: {e}")))?;
    if let Some(mut stdin) = login.stdin.take() {
        stdin
            .write_all(password.as_bytes())
            .await
            .map_err(|e| Error::Failed(format!("cannot pass the password to `{bin} login`: {e}")))?;
    }
    let out = login
        .wait_with_output()
        .await
        .map_err(|e| Error::Failed(format!("`{bin} login` failed: {e}")))?;
    if !out.status.success() {
        return Err(Error::Failed(redact(format!(
            "`{bin} login` to {registry} failed: {}",
            first_line(&out.stderr)
        ))));
    }
    drop(password);

    let mut result = Ok(());
    for args in [
        engine.build_args(&image, context),
        vec!["push".to_string(), image.clone()],
    ] {
        tracing::info!(engine = bin, "{} {}", bin, args.join(" "));
        let status = tokio::process::Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(to_stderr())
            .stderr(Stdio::inherit())
            .status()
            .await;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                result = Err(Error::Failed(format!("`{bin} {}` failed ({s})", args.join(" "))));
                break;
            }
            Err(e) => {
                result = Err(Error::Failed(format!("cannot run `{bin} {}`: {e}", args.join(" "))));
                break;
            }
        }
    }
    // Do not leave a registry credential in the engine's config.
    let _ = run_quiet(bin, &["logout", &registry], Duration::from_secs(30)).await;
    // The run's listing of the repository is out of date now.
    crate::steps::registry::forget_images(cx);
    result.map(|_| image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_push_uses_password_stdin_and_names_the_image() {
        let uri = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1";
        let text = manual_push_commands("ap-southeast-2", uri, "v1", Path::new("container"), "dev1");
        assert!(text.contains("aws ecr get-login-password --region ap-southeast-2 | docker login --username AWS --password-stdin 123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"));
        assert!(text.contains(&format!("docker build --platform linux/amd64 -t {uri}:v1 container")));
        assert!(text.contains(&format!("docker push {uri}:v1")));
        assert!(text.contains("--image"));
        assert!(!text.contains("--password "));
    }

    #[test]
    fn the_first_working_engine_in_order_of_preference_is_chosen() {
        let failed = |m: &str| Probe::Failed(m.to_string());
        let absent = || Probe::Unavailable("not installed".to_string());
        assert_eq!(choose_engine(&[(Engine::Docker, Probe::Works)]), Ok(Engine::Docker));
        assert_eq!(
            choose_engine(&[
                (Engine::Docker, failed("Cannot connect to the Docker daemon")),
                (Engine::Podman, Probe::Works),
            ]),
            Ok(Engine::Podman)
        );
        assert_eq!(
            choose_engine(&[
                (Engine::Docker, absent()),
                (Engine::Podman, absent()),
                (Engine::Buildah, Probe::Works),
            ]),
            Ok(Engine::Buildah)
        );
    }

    #[test]
    fn without_a_working_engine_every_reason_is_given_in_order() {
        let why = choose_engine(&[
            (
                Engine::Docker,
                Probe::Failed("Cannot connect to the Docker daemon".into()),
            ),
            (Engine::Podman, Probe::Unavailable("not installed".into())),
            (
                Engine::Buildah,
                Probe::Unavailable("`buildah info` did not answer within 30s".into()),
            ),
        ])
        .unwrap_err();
        assert_eq!(
            why,
            [
                "docker: `docker info` failed: Cannot connect to the Docker daemon",
                "podman: not installed",
                "buildah: `buildah info` did not answer within 30s",
            ]
        );
        assert_eq!(choose_engine(&[]), Err(vec![]));
    }

    #[tokio::test]
    async fn push_from_up_uses_the_runs_repository_record() {
        // Offline clients: any AWS call would fail, so the URI must come
        // from the record `up` holds for the repository it just created.
        let cx = crate::testing::ctx(&[]);
        let uri = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1";
        cx.set_record(
            ids::ECR_REPO,
            crate::state::Record::new("ecr-api-dev1").with("uri", uri),
        );
        assert_eq!(repository_uri(&cx).await.unwrap(), uri);
    }

    #[test]
    fn build_args_tag_the_image_for_fargate() {
        let a = Engine::Buildah.build_args("r/x:t", Path::new("c"));
        assert_eq!(a, ["bud", "--platform", "linux/amd64", "-t", "r/x:t", "c"]);
        assert_eq!(Engine::Docker.build_args("r/x:t", Path::new("c"))[0], "build");
    }
}
