//! The CloudFront distribution. APIs: `CreateDistributionWithTags`
//! (tagged atomically; `CallerReference` makes a retried create return the
//! first one), `GetDistribution`, `GetDistributionConfig`,
//! `UpdateDistribution` and `DeleteDistribution` with the `If-Match` ETag of
//! the last read (CloudFront API Reference: a stale one answers
//! `PreconditionFailed`).
//!
//! Deleting follows the order CloudFront requires ("Delete a
//! distribution", CloudFront Developer Guide): disable it, wait until the
//! change is deployed, then delete it with the current ETag; deleting an
//! enabled distribution answers `DistributionNotDisabled`.

use super::discovery::{cloudfront_owned, distributions, DISTRIBUTIONS};
use super::distribution_config::{distribution_drift, repaired, wanted_config, EdgeInputs};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_cloudfront::types::{DistributionConfig, DistributionConfigWithTags, DistributionSummary};

pub struct Distribution {
    /// The distribution names the web ACL.
    pub waf: bool,
}

/// `cf-api-{suffix}`, kept in the distribution's `Comment` (at most 128
/// characters): `ListDistributions` answers no tags, so this is what a
/// look-up matches before it reads the tags.
pub fn distribution_name(cx: &Ctx) -> String {
    cx.name("cf", "api")
}

/// A refusal that a fresh read and another attempt resolve: the ETag moved
/// (another writer, or our own earlier attempt), or the distribution is
/// still deploying a change.
fn retry_later(e: AwsError) -> AwsError {
    if e.code_is("PreconditionFailed") || e.code_is("DistributionNotDisabled") {
        AwsError::custom(e.operation, "ResourceInUse", e.to_string())
    } else {
        e
    }
}

/// The stack's distribution: named in its comment, confirmed by its tags.
pub async fn find_distribution(cx: &Ctx) -> StepResult<Option<DistributionSummary>> {
    let name = distribution_name(cx);
    for d in distributions(cx).await?.iter().filter(|d| d.comment() == name) {
        if cloudfront_owned(cx, d.arn(), ids::DISTRIBUTION).await? {
            return Ok(Some(d.clone()));
        }
    }
    Ok(None)
}

impl Distribution {
    fn want(&self, cx: &Ctx, caller_reference: &str) -> StepResult<DistributionConfig> {
        let s = &cx.settings;
        let alb_dns = cx.attr(ids::ALB, "dns")?;
        let https_origin = s.certificate_arn.is_some();
        let origin_domain = match (&s.domain, https_origin) {
            (Some(d), true) => d.clone(),
            _ => alb_dns,
        };
        let acl = if self.waf {
            Some(cx.attr(ids::WEB_ACL, "arn")?)
        } else {
            None
        };
        let vpc_origin = cx.id_of(ids::VPC_ORIGIN)?;
        wanted_config(&EdgeInputs {
            caller_reference,
            comment: &distribution_name(cx),
            origin_domain: &origin_domain,
            vpc_origin_id: &vpc_origin,
            web_acl_arn: acl.as_deref(),
            domain: s.domain.as_deref(),
            certificate_arn: s.edge_certificate_arn.as_deref(),
            region: cx.region(),
        })
    }

    /// The live configuration and its ETag (None: the distribution is gone).
    async fn config(&self, cx: &Ctx, id: &str) -> StepResult<Option<(DistributionConfig, String)>> {
        let out = cx
            .aws
            .cloudfront
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .aws("GetDistributionConfig")
            .or_not_found()?;
        Ok(out.and_then(|o| {
            let etag = o.e_tag().unwrap_or_default().to_owned();
            o.distribution_config.map(|c| (c, etag))
        }))
    }

    /// The distribution's status (`InProgress`, `Deployed`) and ETag.
    async fn status(&self, cx: &Ctx, id: &str) -> StepResult<Option<(String, String)>> {
        let out = cx
            .aws
            .cloudfront
            .get_distribution()
            .id(id)
            .send()
            .await
            .aws("GetDistribution")
            .or_not_found()?;
        Ok(out.map(|o| {
            let status = o.distribution().map(|d| d.status().to_owned()).unwrap_or_default();
            (status, o.e_tag().unwrap_or_default().to_owned())
        }))
    }

    async fn update(&self, cx: &Ctx, id: &str, etag: &str, config: DistributionConfig) -> StepResult<()> {
        cx.aws
            .cloudfront
            .update_distribution()
            .id(id)
            .if_match(etag)
            .distribution_config(config)
            .send()
            .await
            .aws("UpdateDistribution")
            .map(|_| ())
            .map_err(retry_later)
    }

    async fn deployed(&self, cx: &Ctx, id: &str, what: &str) -> StepResult<()> {
        wait::poll(what, super::deploy_backoff(), || async {
            match self.status(cx, id).await? {
                Some((s, _)) if s == "Deployed" => Ok(Some(())),
                Some(_) => Ok(None),
                None => Ok(Some(())),
            }
        })
        .await
    }
}

#[async_trait]
impl Step for Distribution {
    fn id(&self) -> &str {
        ids::DISTRIBUTION
    }
    fn kind(&self) -> &'static str {
        "distribution"
    }
    fn deps(&self) -> Vec<Dep> {
        // A distribution can use a VPC origin only once it is deployed.
        let mut d = vec![Dep::ready(ids::VPC_ORIGIN), Dep::id(ids::ALB)];
        if self.waf {
            d.push(Dep::id(ids::WEB_ACL));
        }
        d
    }
    fn timing(&self) -> Timing {
        // About 5 minutes to deploy; deleting is a disable (deployed again
        // in about 5 minutes) and then the delete.
        Timing::secs(5, 300, 330).changing(300).source(
            "CloudFront Developer Guide: a distribution is InProgress until every edge location has it (~5 min); delete = disable, deploy, delete",
        )
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(find_distribution(cx).await?.map(|d| {
            let rec = Record::new(d.id())
                .with("arn", d.arn())
                .with("domain", d.domain_name())
                .with("status", d.status());
            if d.status() == "Deployed" {
                rec
            } else {
                rec.pending()
            }
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = distribution_name(cx);
        // The same reference for every retry of this run's create: CloudFront
        // returns the distribution the first attempt made instead of a second.
        let reference = cx.client_token(ids::DISTRIBUTION, 64);
        let with_tags = DistributionConfigWithTags::builder()
            .distribution_config(self.want(cx, &reference)?)
            .tags(tags::cloudfront(cx.tags(&name, ids::DISTRIBUTION))?)
            .build();
        let out = cx
            .aws
            .cloudfront
            .create_distribution_with_tags()
            .distribution_config_with_tags(with_tags)
            .send()
            .await
            .aws("CreateDistributionWithTags");
        cx.inventory.invalidate(DISTRIBUTIONS);
        let out = match out {
            Ok(o) => o,
            Err(e) if e.code_is("DistributionAlreadyExists") => return self.find(cx).await?.ok_or(e),
            Err(e) => return Err(e),
        };
        let d = out.distribution().ok_or_else(|| {
            AwsError::custom(
                "CreateDistributionWithTags",
                "EmptyResponse",
                "no distribution in the response",
            )
        })?;
        Ok(Record::new(d.id())
            .with("arn", d.arn())
            .with("domain", d.domain_name())
            .with("status", d.status())
            .pending())
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some((live, _)) = self.config(cx, &rec.id).await? else {
            return Ok(vec!["the distribution is gone".into()]);
        };
        let drift = distribution_drift(&live, &self.want(cx, live.caller_reference())?);
        if fix && !drift.is_empty() {
            wait::retry_while(ErrorClass::InUse, Backoff::DRAIN, || async {
                let Some((live, etag)) = self.config(cx, &rec.id).await? else {
                    return Ok(());
                };
                let fixed = repaired(&live, self.want(cx, live.caller_reference())?)?;
                self.update(cx, &rec.id, &etag, fixed).await
            })
            .await?;
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting(ids::DISTRIBUTION, "distribution to deploy to the edge locations");
        self.deployed(cx, &rec.id, "the distribution to deploy").await?;
        Ok(rec.clone().with("status", "Deployed"))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let id = rec.id.as_str();
        // 1. Disabled (a no-op when it already is).
        wait::retry_while(ErrorClass::InUse, Backoff::DRAIN, || async {
            match self.config(cx, id).await? {
                Some((c, etag)) if c.enabled() => {
                    cx.waiting(ids::DISTRIBUTION, "distribution to be disabled before it is deleted");
                    let mut b = repaired(&c, c.clone())?;
                    b.enabled = false;
                    self.update(cx, id, &etag, b).await
                }
                _ => Ok(()),
            }
        })
        .await?;
        // 2. Deployed, then 3. deleted with the ETag of that last read.
        wait::delete(Backoff::DRAIN.with_timeout(super::deploy_backoff().timeout), || async {
            self.deployed(cx, id, "the disabled distribution to deploy").await?;
            let Some((_, etag)) = self.status(cx, id).await? else {
                return Ok(());
            };
            cx.aws
                .cloudfront
                .delete_distribution()
                .id(id)
                .if_match(etag)
                .send()
                .await
                .aws("DeleteDistribution")
                .map(|_| ())
                .map_err(retry_later)
        })
        .await?;
        cx.inventory.invalidate(DISTRIBUTIONS);
        Ok(())
    }
}
