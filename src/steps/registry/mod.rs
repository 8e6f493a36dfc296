//! The container registry: one ECR repository for the API image, encrypted
//! at rest (AES256, or the stack's KMS key), scanned on push, with tag
//! immutability per `--immutable-tags` and a lifecycle policy that keeps the
//! last 10 images. Building and pushing the image (`provision image push`)
//! is a command, not a resource: see `src/commands/image.rs`.

mod repository;

pub use repository::{lifecycle_policy, lifecycle_policy_matches, EcrRepo};

use super::{ids, Ctx, StepRef, StepResult};
use crate::aws::AwsResultExt;
use crate::config::Settings;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How many images the lifecycle policy keeps.
pub const KEEP_IMAGES: u32 = 10;

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    vec![Arc::new(EcrRepo)]
}

/// `ecr-api-{suffix}`.
pub fn repo_name(cx: &Ctx) -> String {
    cx.name("ecr", "api")
}

/// Adds this family's entries to the flat outputs.
pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Some(uri) = cx
        .rec(ids::ECR_REPO)
        .ok()
        .and_then(|r| r.attr("uri").map(str::to_owned))
    {
        out.insert("ECRRepositoryUri".into(), uri);
    }
}

/// Image count and newest tag of the repository, for `status`.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, serde_json::Value>) {
    let Ok(rec) = cx.rec(ids::ECR_REPO) else { return };
    let v = match image_summary(cx, &rec.id).await {
        Ok((count, newest)) => json!({"repository": rec.attr("uri"), "image_count": count, "newest_tag": newest}),
        Err(e) => json!({"repository": rec.attr("uri"), "error": e.to_string()}),
    };
    out.insert("ecr".into(), v);
}

async fn image_summary(cx: &Ctx, repo: &str) -> StepResult<(usize, Option<String>)> {
    let images = cx
        .aws
        .ecr
        .describe_images()
        .repository_name(repo)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .aws("DescribeImages")?;
    let mut newest: Option<(aws_smithy_types::DateTime, Option<String>)> = None;
    for d in &images {
        let at = d
            .image_pushed_at()
            .cloned()
            .unwrap_or(aws_smithy_types::DateTime::from_secs(0));
        if newest.as_ref().is_none_or(|(t, _)| at > *t) {
            newest = Some((at, d.image_tags().first().cloned()));
        }
    }
    Ok((images.len(), newest.and_then(|(_, t)| t)))
}
