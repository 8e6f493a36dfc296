//! The ECR repository `ecr-api-{suffix}` and its lifecycle policy
//! (`DescribeRepositories`, `CreateRepository`, `PutLifecyclePolicy`,
//! `GetLifecyclePolicy`, `PutImageScanningConfiguration`,
//! `PutImageTagMutability`, `DeleteRepository`).

use super::{repo_name, KEEP_IMAGES};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt, NotFoundExt};
use crate::config::Settings;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Repository,
};
use serde_json::{json, Value};
use std::sync::Arc;

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
        ids::ECR_REPO
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
        let tags = tags::ecr(cx.tags(&name, ids::ECR_REPO))?;
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
            (Some(want), Some(have)) => want != have,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// CreateRepository `repositoryName` (ECR API Reference): 2-256
    /// characters matching
    /// `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`, and
    /// it "must start with a letter".
    fn ecr_name_ok(name: &str) -> bool {
        let component = |c: &str| {
            !c.is_empty()
                && c.split(['.', '_', '-'])
                    .all(|run| !run.is_empty() && run.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()))
        };
        (2..=256).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.split('/').all(component)
    }

    #[test]
    fn the_repository_name_fits_the_ecr_rule_for_the_longest_suffixes() {
        for bad in ["a", "Ab", "a--b", "a-", "-a", "a//b", "a/", "1ab"] {
            assert!(!ecr_name_ok(bad), "{bad}");
        }
        for suffix in ["abcdefghijkl", "abcdefghij-1", "abcde-fghijk", "a-b-c-d-e-f1"] {
            let mut settings = crate::testing::settings(&[]);
            settings.suffix = crate::naming::Suffix::parse(suffix).unwrap();
            let cx = crate::testing::ctx_with(crate::testing::offline_clients(), settings);
            let name = repo_name(&cx);
            assert!(ecr_name_ok(&name), "{name}");
        }
    }

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
}
