//! The container registry: one ECR repository for the API image, encrypted
//! at rest (AES256, or the stack's KMS key), scanned on push, with tag
//! immutability per `--immutable-tags` and a lifecycle policy that keeps the
//! last 10 images. Also `provision image push`: build `container/` with
//! whichever container engine works here and push it to the repository.

use super::{Ctx, Dep, Step, StepRef, StepResult};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::config::Settings;
use crate::ops::Error;
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Repository,
};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How many images the lifecycle policy keeps.
pub const KEEP_IMAGES: u32 = 10;

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    vec![Arc::new(EcrRepo)]
}

/// `ecr-api-{suffix}`.
pub fn repo_name(cx: &Ctx) -> String {
    cx.name("ecr", "api")
}

/// The lifecycle policy: expire everything beyond the newest 10 images,
/// tagged or not.
pub fn lifecycle_policy() -> Value {
    json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("Keep only the last {KEEP_IMAGES} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES},
            "action": {"type": "expire"}
        }]
    })
}

/// Whether a stored lifecycle policy text is ours (compared by meaning, so
/// a re-serialised document is not drift).
pub fn lifecycle_policy_matches(text: &str) -> bool {
    let Ok(have) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let Some(rules) = have["rules"].as_array() else {
        return false;
    };
    let [rule] = rules.as_slice() else { return false };
    let sel = &rule["selection"];
    sel["tagStatus"] == "any"
        && sel["countType"] == "imageCountMoreThan"
        && sel["countNumber"].as_u64() == Some(KEEP_IMAGES as u64)
        && rule["action"]["type"] == "expire"
}

fn wanted_mutability(settings: &Settings) -> ImageTagMutability {
    if settings.immutable_tags {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}

fn wanted_encryption(settings: &Settings) -> &'static str {
    if settings.kms_key_arn.is_some() {
        "KMS"
    } else {
        "AES256"
    }
}

/// The stack's repository, by name (one call, shared by every user).
async fn repositories(cx: &Ctx) -> StepResult<Arc<Vec<Repository>>> {
    cx.inventory
        .get("ecr:repos", || async {
            let out = cx
                .aws
                .ecr
                .describe_repositories()
                .repository_names(repo_name(cx))
                .send()
                .await
                .aws("DescribeRepositories")
                .or_not_found()?;
            Ok(out.map(|o| o.repositories().to_vec()).unwrap_or_default())
        })
        .await
}

fn record(r: &Repository) -> Record {
    let mut rec = Record::new(r.repository_name().unwrap_or_default())
        .with("uri", r.repository_uri().unwrap_or_default())
        .with("arn", r.repository_arn().unwrap_or_default())
        .with(
            "scan_on_push",
            r.image_scanning_configuration()
                .map(|c| c.scan_on_push())
                .unwrap_or(false)
                .to_string(),
        )
        .with(
            "tag_mutability",
            r.image_tag_mutability().map(|m| m.as_str()).unwrap_or("MUTABLE"),
        );
    if let Some(e) = r.encryption_configuration() {
        rec = rec.with("encryption", e.encryption_type().as_str());
        if let Some(k) = e.kms_key() {
            rec = rec.with("kms_key", k);
        }
    }
    rec
}

pub struct EcrRepo;

impl EcrRepo {
    async fn put_lifecycle(&self, cx: &Ctx, name: &str) -> StepResult<()> {
        cx.aws
            .ecr
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(lifecycle_policy().to_string())
            .send()
            .await
            .aws("PutLifecyclePolicy")?;
        Ok(())
    }
}

#[async_trait]
impl Step for EcrRepo {
    fn id(&self) -> &str {
        "ecr-repo"
    }
    fn kind(&self) -> &'static str {
        "ecr-repository"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = repo_name(cx);
        Ok(repositories(cx)
            .await?
            .iter()
            .find(|r| r.repository_name() == Some(name.as_str()))
            .map(record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = repo_name(cx);
        let mut enc = EncryptionConfiguration::builder();
        enc = match &cx.settings.kms_key_arn {
            Some(key) => enc.encryption_type(EncryptionType::Kms).kms_key(key),
            None => enc.encryption_type(EncryptionType::Aes256),
        };
        let enc = enc
            .build()
            .map_err(|e| crate::aws::AwsError::custom("CreateRepository", "BuildError", e.to_string()))?;
        let tags: Vec<aws_sdk_ecr::types::Tag> = cx
            .tags(&name, "ecr-repo")
            .into_iter()
            .filter_map(|(k, v)| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
        let created = cx
            .aws
            .ecr
            .create_repository()
            .repository_name(&name)
            .image_tag_mutability(wanted_mutability(&cx.settings))
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
            .encryption_configuration(enc)
            .set_tags(Some(tags))
            .send()
            .await
            .aws("CreateRepository");
        let rec = match created {
            Ok(out) => out.repository().map(record),
            // Created by a run that crashed before recording it: take it as
            // it is; the next run's reconcile repairs its settings.
            Err(e) if e.code_is("RepositoryAlreadyExistsException") => cx
                .aws
                .ecr
                .describe_repositories()
                .repository_names(&name)
                .send()
                .await
                .aws("DescribeRepositories")?
                .repositories()
                .first()
                .map(record),
            Err(e) => return Err(e),
        };
        self.put_lifecycle(cx, &name).await?;
        Ok(rec.unwrap_or_else(|| Record::new(name)))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let ecr = &cx.aws.ecr;
        let mut drift = Vec::new();
        if rec.attr("scan_on_push") != Some("true") {
            drift.push("scan on push is off".to_string());
            if fix {
                ecr.put_image_scanning_configuration()
                    .repository_name(&rec.id)
                    .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
                    .send()
                    .await
                    .aws("PutImageScanningConfiguration")?;
            }
        }
        let want = wanted_mutability(&cx.settings);
        if rec.attr("tag_mutability") != Some(want.as_str()) {
            drift.push(format!(
                "tag mutability is {}, wants {}",
                rec.attr("tag_mutability").unwrap_or("?"),
                want.as_str()
            ));
            if fix {
                ecr.put_image_tag_mutability()
                    .repository_name(&rec.id)
                    .image_tag_mutability(want)
                    .send()
                    .await
                    .aws("PutImageTagMutability")?;
            }
        }
        // Encryption is fixed at creation: report, never "fix" by deleting
        // the images.
        let want_enc = wanted_encryption(&cx.settings);
        let have_enc = rec.attr("encryption").unwrap_or("AES256");
        let key_differs = match (&cx.settings.kms_key_arn, rec.attr("kms_key")) {
            (Some(want), Some(have)) => want != have && !want.contains(":alias/"),
            _ => false,
        };
        if have_enc != want_enc || key_differs {
            drift.push(format!(
                "encrypted with {have_enc}{} but the flags ask for {want_enc}; a repository's encryption cannot change \
                 (recreate it with `provision step ecr-repo --undo` then `provision up`, which deletes its images)",
                rec.attr("kms_key").map(|k| format!(" ({k})")).unwrap_or_default()
            ));
        }
        let policy = ecr
            .get_lifecycle_policy()
            .repository_name(&rec.id)
            .send()
            .await
            .aws("GetLifecyclePolicy")
            .or_not_found()?;
        let ok = policy
            .as_ref()
            .and_then(|p| p.lifecycle_policy_text())
            .is_some_and(lifecycle_policy_matches);
        if !ok {
            drift.push(if policy.is_none() {
                "lifecycle policy missing".into()
            } else {
                "lifecycle policy differs".to_string()
            });
            if fix {
                self.put_lifecycle(cx, &rec.id).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // force: the images go with the repository.
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ecr
                .delete_repository()
                .repository_name(&rec.id)
                .force(true)
                .send()
                .await
                .aws("DeleteRepository")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- image push

/// A container engine that can build and push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Docker,
    Podman,
    Buildah,
}

impl Engine {
    const ALL: [Engine; 3] = [Engine::Docker, Engine::Podman, Engine::Buildah];

    fn bin(self) -> &'static str {
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

/// The first engine whose `info` succeeds (a client without a daemon fails
/// there), or why each one does not work.
async fn detect_engine() -> Result<Engine, Vec<String>> {
    let mut why = Vec::new();
    for e in Engine::ALL {
        match run_quiet(e.bin(), &["info"], Duration::from_secs(30)).await {
            Ok(out) if out.status.success() => return Ok(e),
            Ok(out) => why.push(format!(
                "{}: `{} info` failed: {}",
                e.bin(),
                e.bin(),
                first_line(&out.stderr)
            )),
            Err(msg) => why.push(format!("{}: {msg}", e.bin())),
        }
    }
    Err(why)
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

/// Builds `context` and pushes it as `ecr-api-{suffix}:{tag}`; returns the
/// image URI. The registry password goes to the engine on stdin only: it
/// is never on a command line, in a log line or in an error message.
pub async fn push(cx: &Ctx, tag: &str, context: &Path) -> Result<String, Error> {
    let suffix = cx.suffix().as_str();
    let repo = EcrRepo.find(cx).await?.ok_or_else(|| {
        Error::Failed(format!(
            "the repository {} does not exist yet\n  hint: run `provision up --suffix {suffix}` (or `provision step ecr-repo --suffix {suffix}`) first",
            repo_name(cx)
        ))
    })?;
    let uri = repo.attr("uri").unwrap_or_default().to_owned();
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
    result.map(|_| image)
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(cx: &super::Ctx, out: &mut std::collections::BTreeMap<String, String>) {
    if let Some(uri) = cx.rec("ecr-repo").ok().and_then(|r| r.attr("uri").map(str::to_owned)) {
        out.insert("ECRRepositoryUri".into(), uri);
    }
}

/// Image count and newest tag of the repository, for `status`.
pub async fn details(cx: &super::Ctx, out: &mut std::collections::BTreeMap<String, serde_json::Value>) {
    let Ok(rec) = cx.rec("ecr-repo") else { return };
    let v = match image_summary(cx, &rec.id).await {
        Ok((count, newest)) => json!({"repository": rec.attr("uri"), "image_count": count, "newest_tag": newest}),
        Err(e) => json!({"repository": rec.attr("uri"), "error": e.to_string()}),
    };
    out.insert("ecr".into(), v);
}

async fn image_summary(cx: &Ctx, repo: &str) -> StepResult<(usize, Option<String>)> {
    let mut count = 0;
    let mut newest: Option<(aws_smithy_types::DateTime, Option<String>)> = None;
    let mut token = None;
    loop {
        let page = cx
            .aws
            .ecr
            .describe_images()
            .repository_name(repo)
            .set_next_token(token)
            .send()
            .await
            .aws("DescribeImages")?;
        for d in page.image_details() {
            count += 1;
            let at = d
                .image_pushed_at()
                .cloned()
                .unwrap_or(aws_smithy_types::DateTime::from_secs(0));
            if newest.as_ref().is_none_or(|(t, _)| at > *t) {
                newest = Some((at, d.image_tags().first().cloned()));
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok((count, newest.and_then(|(_, t)| t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_policy_keeps_the_last_ten_images_of_any_tag_status() {
        let p = lifecycle_policy();
        let sel = &p["rules"][0]["selection"];
        assert_eq!(sel["tagStatus"], "any");
        assert_eq!(sel["countType"], "imageCountMoreThan");
        assert_eq!(sel["countNumber"], 10);
        assert_eq!(p["rules"][0]["action"]["type"], "expire");
        assert!(lifecycle_policy_matches(&p.to_string()));
        // Whitespace and key order are not drift; a different count is.
        assert!(lifecycle_policy_matches(&serde_json::to_string_pretty(&p).unwrap()));
        let other = p.to_string().replace("10", "20");
        assert!(!lifecycle_policy_matches(&other));
        assert!(!lifecycle_policy_matches("not json"));
        assert!(!lifecycle_policy_matches(r#"{"rules":[]}"#));
    }

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
    fn build_args_tag_the_image_for_fargate() {
        let a = Engine::Buildah.build_args("r/x:t", Path::new("c"));
        assert_eq!(a, ["bud", "--platform", "linux/amd64", "-t", "r/x:t", "c"]);
        assert_eq!(Engine::Docker.build_args("r/x:t", Path::new("c"))[0], "build");
    }
}
