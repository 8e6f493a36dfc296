//! The container registry: one ECR repository for the API image, encrypted
//! at rest (AES256, or the stack's KMS key), scanned on push, with tag
//! immutability per `--immutable-tags` and a lifecycle policy that keeps the
//! last 10 images. Building and pushing the image (`provision image push`)
//! is a command, not a resource: see `src/commands/image.rs`.

mod images;
mod repository;

pub use images::{find_image, forget_images, image_exists, image_uri, ImageRef, InRepository};
pub use repository::{lifecycle_policy, lifecycle_policy_matches, EcrRepo};

use super::{ids, Ctx, StepRef};
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
    let v = match images::image_summary(cx).await {
        Ok((count, newest)) => json!({"repository": rec.attr("uri"), "image_count": count, "newest_tag": newest}),
        Err(e) => json!({"repository": rec.attr("uri"), "error": e.to_string()}),
    };
    out.insert("ecr".into(), v);
}
