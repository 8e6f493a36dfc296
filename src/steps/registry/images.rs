//! The images in the stack's ECR repository (`DescribeImages`): whether a
//! tag has been pushed, the URI a task definition runs, and the summary
//! `status` shows.

use super::repo_name;
use crate::aws::AwsResultExt;
use crate::steps::{ids, Ctx, StepResult};
use aws_sdk_ecr::types::ImageDetail;

/// `{repository URI}:{tag}`, from this run's `ecr-repo` record (fails
/// clearly when the repository step has not run).
pub fn image_uri(cx: &Ctx, tag: &str) -> StepResult<String> {
    Ok(format!("{}:{tag}", cx.attr(ids::ECR_REPO, "uri")?))
}

/// The inventory key of the repository's image listing.
const IMAGES: &str = "ecr:images";

/// Every image of the stack's repository (it keeps at most 10, so one
/// page), listed once per run and shared by [`image_exists`] and the
/// `status` summary. `None` when the repository does not exist.
async fn images(cx: &Ctx) -> StepResult<std::sync::Arc<Option<Vec<ImageDetail>>>> {
    cx.inventory
        .get(IMAGES, || async {
            let r = cx
                .aws
                .ecr
                .describe_images()
                .repository_name(repo_name(cx))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("DescribeImages");
            match r {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.code_is("RepositoryNotFoundException") => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
}

/// Forgets the listing, after a push.
pub fn forget_images(cx: &Ctx) {
    cx.inventory.invalidate(IMAGES);
}

/// One image of the stack's repository, by tag or by digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRef<'a> {
    Tag(&'a str),
    /// `sha256:…`
    Digest(&'a str),
}

impl<'a> ImageRef<'a> {
    /// What an image URI names in the repository `repo_uri`
    /// (`{repo_uri}:{tag}`, `{repo_uri}@{digest}`, or the bare URI for
    /// `latest`); `None` for an image of another repository.
    pub fn in_repository(image: &'a str, repo_uri: &str) -> Option<Self> {
        let rest = image.strip_prefix(repo_uri)?;
        if let Some(d) = rest.strip_prefix('@') {
            Some(ImageRef::Digest(d))
        } else if let Some(t) = rest.strip_prefix(':') {
            Some(ImageRef::Tag(t.split('@').next().unwrap_or(t)))
        } else if rest.is_empty() {
            Some(ImageRef::Tag("latest"))
        } else {
            None
        }
    }
}

impl std::fmt::Display for ImageRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageRef::Tag(t) => write!(f, "tag {t}"),
            ImageRef::Digest(d) => write!(f, "digest {d}"),
        }
    }
}

/// What the stack's repository holds of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InRepository {
    /// The repository itself does not exist.
    NoRepository,
    /// The repository exists without that image.
    Missing,
    /// The image is there, with this digest.
    Digest(String),
}

/// Looks `image` up in the repository's listing (shared with the rest of
/// the run). Any error other than a missing repository is an error.
pub async fn find_image(cx: &Ctx, image: ImageRef<'_>) -> StepResult<InRepository> {
    let listing = images(cx).await?;
    let Some(images) = listing.as_deref() else {
        return Ok(InRepository::NoRepository);
    };
    let found = images.iter().find(|d| match image {
        ImageRef::Tag(tag) => d.image_tags().iter().any(|t| t == tag),
        ImageRef::Digest(digest) => d.image_digest() == Some(digest),
    });
    Ok(found.map_or(InRepository::Missing, |d| {
        InRepository::Digest(d.image_digest().unwrap_or_default().to_owned())
    }))
}

/// Whether the stack's repository holds an image tagged `tag`. A missing
/// repository is `false`: a service pointed at that tag could never pull
/// it.
pub async fn image_exists(cx: &Ctx, tag: &str) -> StepResult<bool> {
    Ok(matches!(
        find_image(cx, ImageRef::Tag(tag)).await?,
        InRepository::Digest(_)
    ))
}

/// Image count and newest tag of the repository.
pub(super) async fn image_summary(cx: &Ctx) -> StepResult<(usize, Option<String>)> {
    let listing = images(cx).await?;
    let images: &[ImageDetail] = listing.as_deref().unwrap_or_default();
    let mut newest: Option<(aws_smithy_types::DateTime, Option<String>)> = None;
    for d in images {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Record;
    use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// A context whose ECR client answers from `rules`.
    fn ecr_ctx(rules: &[&Rule]) -> Ctx {
        let mut clients = crate::testing::offline_clients();
        clients.ecr = crate::testing::mocked_client!(aws_sdk_ecr, rules);
        crate::testing::ctx_with(clients, crate::testing::settings(&[]))
    }

    /// ECR's JSON error answer (awsJson1.1) for `code`.
    fn ecr_error(code: &'static str) -> HttpResponse {
        let mut r = HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(format!(r#"{{"__type":"{code}","message":"not there"}}"#)),
        );
        r.headers_mut().insert("content-type", "application/x-amz-json-1.1");
        r
    }

    fn asks_for_v1_in_our_repository(req: &aws_sdk_ecr::operation::describe_images::DescribeImagesInput) -> bool {
        req.repository_name() == Some("ecr-api-dev1")
    }

    #[tokio::test]
    async fn a_pushed_tag_exists() {
        let rule = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(asks_for_v1_in_our_repository)
            .then_output(|| {
                DescribeImagesOutput::builder()
                    .image_details(ImageDetail::builder().image_tags("v1").image_tags("latest").build())
                    .build()
            });
        assert!(image_exists(&ecr_ctx(&[&rule]), "v1").await.unwrap());
    }

    #[tokio::test]
    async fn a_missing_image_or_repository_is_false_and_other_errors_are_errors() {
        let rule = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(asks_for_v1_in_our_repository)
            .then_output(|| {
                DescribeImagesOutput::builder()
                    .image_details(ImageDetail::builder().image_tags("latest").build())
                    .build()
            });
        assert!(!image_exists(&ecr_ctx(&[&rule]), "v1").await.unwrap());
        for code in ["RepositoryNotFoundException"] {
            let rule = mock!(aws_sdk_ecr::Client::describe_images)
                .match_requests(asks_for_v1_in_our_repository)
                .then_http_response(move || ecr_error(code));
            assert!(!image_exists(&ecr_ctx(&[&rule]), "v1").await.unwrap(), "{code}");
        }
        let rule =
            mock!(aws_sdk_ecr::Client::describe_images).then_http_response(|| ecr_error("AccessDeniedException"));
        let e = image_exists(&ecr_ctx(&[&rule]), "v1").await.unwrap_err();
        assert!(e.code_is("AccessDeniedException"), "{e}");
    }

    #[test]
    fn only_images_of_the_stacks_repository_are_named_in_it() {
        let repo = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1";
        let named = |image: &str| ImageRef::in_repository(image, repo).map(|r| r.to_string());
        assert_eq!(named(&format!("{repo}:v2")).as_deref(), Some("tag v2"));
        assert_eq!(named(&format!("{repo}:v2@sha256:abc")).as_deref(), Some("tag v2"));
        assert_eq!(
            named(&format!("{repo}@sha256:abc")).as_deref(),
            Some("digest sha256:abc")
        );
        assert_eq!(named(repo).as_deref(), Some("tag latest"));
        assert_eq!(named(&format!("{repo}-other:v2")), None);
        assert_eq!(named("public.ecr.aws/nginx/nginx:1"), None);
    }

    #[tokio::test]
    async fn an_image_is_found_by_tag_or_digest_and_a_missing_repository_is_told_apart() {
        let rule = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(asks_for_v1_in_our_repository)
            .then_output(|| {
                DescribeImagesOutput::builder()
                    .image_details(ImageDetail::builder().image_tags("v1").image_digest("sha256:1").build())
                    .build()
            });
        let cx = ecr_ctx(&[&rule]);
        let found = InRepository::Digest("sha256:1".into());
        assert_eq!(find_image(&cx, ImageRef::Tag("v1")).await.unwrap(), found);
        assert_eq!(find_image(&cx, ImageRef::Digest("sha256:1")).await.unwrap(), found);
        assert_eq!(
            find_image(&cx, ImageRef::Digest("sha256:2")).await.unwrap(),
            InRepository::Missing
        );
        let rule =
            mock!(aws_sdk_ecr::Client::describe_images).then_http_response(|| ecr_error("RepositoryNotFoundException"));
        assert_eq!(
            find_image(&ecr_ctx(&[&rule]), ImageRef::Tag("v1")).await.unwrap(),
            InRepository::NoRepository
        );
    }

    #[test]
    fn the_image_uri_is_the_recorded_repository_and_the_tag() {
        let cx = crate::testing::ctx(&[]);
        assert!(image_uri(&cx, "v1").is_err(), "no repository record yet");
        let uri = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1";
        cx.set_record(ids::ECR_REPO, Record::new("ecr-api-dev1").with("uri", uri));
        assert_eq!(image_uri(&cx, "v1").unwrap(), format!("{uri}:v1"));
    }
}
