//! The CloudFront VPC origin: CloudFront's way into the internal load
//! balancer, through network interfaces it places in the load balancer's
//! subnets. APIs: `CreateVpcOrigin`, `GetVpcOrigin`, `UpdateVpcOrigin`
//! (`If-Match`), `DeleteVpcOrigin` (`If-Match`), `ListVpcOrigins`.
//!
//! CloudFront Developer Guide, "Restrict access with VPC origins": a VPC
//! origin takes up to 15 minutes to deploy, and a distribution can use it
//! only once it is `Deployed`; deleting it takes as long, and its network
//! interfaces keep the subnets and security groups in use until it is gone,
//! so `destroy` waits until `GetVpcOrigin` no longer finds it.

use super::discovery::{cloudfront_owned, vpc_origins, VPC_ORIGINS};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_cloudfront::types::{OriginProtocolPolicy, OriginSslProtocols, SslProtocol, VpcOriginEndpointConfig};

pub struct VpcOrigin;

/// `vpco-api-{suffix}`: the API reference's `VpcOriginEndpointConfig.Name`
/// is 1-64 of `[a-zA-Z0-9-_]`, which any suffix (1-12 of a-z 0-9 -) meets.
pub fn vpc_origin_name(cx: &Ctx) -> String {
    cx.name("vpco", "api")
}

/// The endpoint configuration the origin must have: the load balancer, on
/// HTTP inside the VPC, or HTTPS (TLS 1.2) when it has a certificate.
pub fn wanted_endpoint(name: &str, alb_arn: &str, https: bool) -> StepResult<VpcOriginEndpointConfig> {
    let mut b = VpcOriginEndpointConfig::builder()
        .name(name)
        .arn(alb_arn)
        .http_port(80)
        .https_port(443);
    if https {
        b = b
            .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
            .origin_ssl_protocols(
                OriginSslProtocols::builder()
                    .quantity(1)
                    .items(SslProtocol::TlSv12)
                    .build()
                    .map_err(crate::aws::build_err)?,
            );
    } else {
        b = b.origin_protocol_policy(OriginProtocolPolicy::HttpOnly);
    }
    b.build().map_err(crate::aws::build_err)
}

/// Differences between the live endpoint configuration and the wanted one.
pub fn endpoint_drift(have: &VpcOriginEndpointConfig, want: &VpcOriginEndpointConfig) -> Vec<String> {
    let mut d = Vec::new();
    if have.arn() != want.arn() {
        d.push(format!(
            "origin is {} (wants the load balancer {})",
            have.arn(),
            want.arn()
        ));
    }
    if have.origin_protocol_policy() != want.origin_protocol_policy() {
        d.push(format!(
            "origin protocol is {} (wants {})",
            have.origin_protocol_policy().as_str(),
            want.origin_protocol_policy().as_str()
        ));
    }
    if (have.http_port(), have.https_port()) != (want.http_port(), want.https_port()) {
        d.push(format!(
            "ports are {}/{} (wants {}/{})",
            have.http_port(),
            have.https_port(),
            want.http_port(),
            want.https_port()
        ));
    }
    d
}

impl VpcOrigin {
    fn want(&self, cx: &Ctx) -> StepResult<VpcOriginEndpointConfig> {
        wanted_endpoint(
            &vpc_origin_name(cx),
            &cx.id_of(ids::ALB)?,
            cx.settings.certificate_arn.is_some(),
        )
    }

    /// The origin's status and current ETag (None: it is gone).
    async fn get(&self, cx: &Ctx, id: &str) -> StepResult<Option<(aws_sdk_cloudfront::types::VpcOrigin, String)>> {
        let out = cx
            .aws
            .cloudfront
            .get_vpc_origin()
            .id(id)
            .send()
            .await
            .aws("GetVpcOrigin")
            .or_not_found()?;
        Ok(out.and_then(|o| {
            let etag = o.e_tag().unwrap_or_default().to_owned();
            o.vpc_origin.map(|v| (v, etag))
        }))
    }
}

#[async_trait]
impl Step for VpcOrigin {
    fn id(&self) -> &str {
        ids::VPC_ORIGIN
    }
    fn kind(&self) -> &'static str {
        "vpc-origin"
    }
    fn deps(&self) -> Vec<Dep> {
        // CreateVpcOrigin names an active load balancer.
        vec![Dep::ready(ids::ALB)]
    }
    fn timing(&self) -> Timing {
        // Typically about 10 minutes to deploy, as long to delete.
        Timing::secs(3, 600, 600).changing(600).source(
            "CloudFront Developer Guide (VPC origins): a VPC origin takes up to 15 min to deploy; ~10 min typical, as long to delete",
        )
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = vpc_origin_name(cx);
        for o in vpc_origins(cx).await?.iter().filter(|o| o.name() == name) {
            if cloudfront_owned(cx, o.arn(), ids::VPC_ORIGIN).await? {
                let rec = Record::new(o.id()).with("arn", o.arn()).with("status", o.status());
                return Ok(Some(if o.status() == "Deployed" { rec } else { rec.pending() }));
            }
        }
        Ok(None)
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let out = cx
            .aws
            .cloudfront
            .create_vpc_origin()
            .vpc_origin_endpoint_config(self.want(cx)?)
            .tags(tags::cloudfront(cx.tags(&vpc_origin_name(cx), ids::VPC_ORIGIN))?)
            .send()
            .await
            .aws("CreateVpcOrigin");
        cx.inventory.invalidate(VPC_ORIGINS);
        match out {
            Ok(o) => {
                let v = o.vpc_origin().ok_or_else(|| {
                    AwsError::custom("CreateVpcOrigin", "EmptyResponse", "no VPC origin in the response")
                })?;
                Ok(Record::new(v.id())
                    .with("arn", v.arn())
                    .with("status", v.status())
                    .pending())
            }
            // The name is unique in the account: a create whose answer was
            // lost (a crash, a dropped connection) made it already.
            Err(e) if e.code_is("EntityAlreadyExists") => self.find(cx).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some((live, etag)) = self.get(cx, &rec.id).await? else {
            return Ok(vec!["the VPC origin is gone".into()]);
        };
        let want = self.want(cx)?;
        let drift = match live.vpc_origin_endpoint_config() {
            Some(have) => endpoint_drift(have, &want),
            None => vec!["no endpoint configuration".into()],
        };
        if fix && !drift.is_empty() {
            let updated = cx
                .aws
                .cloudfront
                .update_vpc_origin()
                .id(&rec.id)
                .if_match(etag)
                .vpc_origin_endpoint_config(want)
                .send()
                .await
                .aws("UpdateVpcOrigin");
            match updated {
                // CloudFront API Reference, UpdateVpcOrigin: a VPC origin a
                // distribution uses cannot change.
                Err(e) if e.code_is("CannotUpdateEntityWhileInUse") => {
                    let s = cx.suffix();
                    return Err(AwsError::custom(
                        "UpdateVpcOrigin",
                        "CannotUpdateEntityWhileInUse",
                        format!(
                            "the VPC origin must change ({}), and CloudFront cannot change one the distribution uses\n  \
                             hint: replace the edge: `provision up --suffix {s} --no-edge --yes`, then \
                             `provision up --suffix {s} --edge --yes` (clients lose the API in between)",
                            drift.join("; ")
                        ),
                    ));
                }
                r => {
                    r?;
                }
            }
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting(ids::VPC_ORIGIN, "VPC origin to deploy (up to 15 minutes)");
        wait::poll("the VPC origin to deploy", super::deploy_backoff(), || async {
            match self.get(cx, &rec.id).await? {
                Some((v, _)) if v.status() == "Deployed" => Ok(Some(())),
                Some(_) => Ok(None),
                None => Err(AwsError::custom(
                    "GetVpcOrigin",
                    "EntityNotFound",
                    format!("the VPC origin {} disappeared while deploying", rec.id),
                )),
            }
        })
        .await?;
        Ok(rec.clone().with("status", "Deployed"))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // A distribution deleted a moment ago may still hold the origin
        // (CannotDeleteEntityWhileInUse, retried as "in use"); an origin
        // still deploying refuses too (IllegalUpdate), and an ETag that
        // moved answers PreconditionFailed: each is retried with the
        // origin's current ETag.
        let deleted = wait::retry_while(
            ErrorClass::InUse,
            Backoff::DRAIN.with_timeout(super::deploy_backoff().timeout),
            || async {
                let Some((v, etag)) = self.get(cx, &rec.id).await? else {
                    return Ok(());
                };
                if v.status() == "Deleting" {
                    return Ok(());
                }
                match cx
                    .aws
                    .cloudfront
                    .delete_vpc_origin()
                    .id(&rec.id)
                    .if_match(etag)
                    .send()
                    .await
                    .aws("DeleteVpcOrigin")
                {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) if e.code_is("PreconditionFailed") || e.code_is("IllegalUpdate") => {
                        Err(AwsError::custom("DeleteVpcOrigin", "ResourceInUse", e.to_string()))
                    }
                    Err(e) => Err(e),
                }
            },
        )
        .await;
        deleted?;
        cx.inventory.invalidate(VPC_ORIGINS);
        cx.waiting(ids::VPC_ORIGIN, "VPC origin and its network interfaces to be deleted");
        wait::poll("the VPC origin to be deleted", super::deploy_backoff(), || async {
            Ok(self.get(cx, &rec.id).await?.is_none().then_some(()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALB: &str = "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:loadbalancer/app/alb-api-x/1";

    #[test]
    fn the_origin_is_the_load_balancer_over_http_or_https_with_a_certificate() {
        let http = wanted_endpoint("vpco-api-x", ALB, false).unwrap();
        assert_eq!(http.origin_protocol_policy(), &OriginProtocolPolicy::HttpOnly);
        assert!(http.origin_ssl_protocols().is_none());
        let https = wanted_endpoint("vpco-api-x", ALB, true).unwrap();
        assert_eq!(https.origin_protocol_policy(), &OriginProtocolPolicy::HttpsOnly);
        assert_eq!(https.origin_ssl_protocols().unwrap().items(), [SslProtocol::TlSv12]);
        assert!(endpoint_drift(&http, &http).is_empty());
        let d = endpoint_drift(&http, &https);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("http-only") && d[0].contains("https-only"), "{d:?}");
        let other = wanted_endpoint("vpco-api-x", &ALB.replace("/1", "/2"), false).unwrap();
        assert!(endpoint_drift(&other, &http)[0].contains("wants the load balancer"));
    }

    #[test]
    fn the_name_fits_the_api_reference_for_the_longest_suffix() {
        let mut settings = crate::testing::settings(&[]);
        settings.suffix = crate::naming::Suffix::parse("abcdefghij-1").unwrap();
        let cx = crate::testing::ctx_with(crate::testing::offline_clients(), settings);
        let n = vpc_origin_name(&cx);
        assert!(
            n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
            "{n}"
        );
    }
}
