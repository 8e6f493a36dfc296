//! The edge: a CloudFront distribution is the API's front door (HTTPS on
//! its own domain, HTTP/2 and HTTP/3, the catalog cached), reaching the
//! internal load balancer through a VPC origin; an AWS WAF web ACL filters
//! what reaches it; its access logs go to CloudWatch Logs through
//! CloudFront's standard logging v2 (vended log delivery).
//!
//! CloudFront is global and its API is signed for us-east-1; the web ACL
//! (CLOUDFRONT scope), the log delivery and its log group live in
//! us-east-1 ([`crate::aws::EDGE_REGION`]); nothing else changes region.
//!
//! Discovery (`discovery`): one `ListDistributions`, one `ListVpcOrigins`
//! and one `ListWebACLs`, matched by name, then confirmed by the
//! resource's tags: CloudFront lists carry no tags.

mod discovery;
mod distribution;
mod distribution_config;
mod log_delivery;
mod metrics;
mod vpc_origin;
mod web_acl;
mod web_acl_rules;

pub use distribution::Distribution;
pub use distribution_config::{distribution_drift, wanted_config, CachePolicy, PRICE_CLASS_REGIONS};
pub use log_delivery::LogDelivery;
pub use metrics::Metrics;
pub use vpc_origin::VpcOrigin;
pub use web_acl::{web_acl_name, WebAcl};
pub use web_acl_rules::{wanted_rules, RULE_GROUPS};

use super::logs::{group_name, LogGroup};
use super::{ids, Ctx, StepRef, StepResult};
use crate::aws::{AwsError, AwsResultExt, NotFoundExt};
use crate::config::Settings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How CloudFront's slow changes are waited on (a VPC origin's deployment
/// or deletion, documented as up to 15 minutes; a distribution's, about
/// 5): polled from 2 s, backing off to 30 s, given up after 30 minutes.
pub(crate) fn deploy_backoff() -> crate::aws::wait::Backoff {
    crate::aws::wait::Backoff {
        first: std::time::Duration::from_secs(2),
        max: std::time::Duration::from_secs(30),
        timeout: std::time::Duration::from_secs(30 * 60),
    }
}

/// The edge's steps (none with `--no-edge`).
pub fn steps(settings: &Settings) -> Vec<StepRef> {
    if !settings.edge {
        return Vec::new();
    }
    let mut s: Vec<StepRef> = vec![
        Arc::new(LogGroup::edge(
            ids::LOG_EDGE,
            group_name(settings.suffix.as_str(), "edge"),
        )),
        Arc::new(VpcOrigin),
    ];
    if settings.waf {
        s.push(Arc::new(WebAcl));
    }
    s.extend([
        Arc::new(Distribution { waf: settings.waf }) as StepRef,
        Arc::new(LogDelivery),
        Arc::new(Metrics),
    ]);
    s
}

/// Every edge step, whatever the settings: what `down` looks for, so a
/// stack whose edge was turned off (or whose settings are lost) leaves
/// nothing behind, and what `up` deletes first when the settings no longer
/// ask for it (`--no-edge`, `--no-waf`).
pub fn all_steps(settings: &Settings) -> Vec<StepRef> {
    let mut s = settings.clone();
    s.edge = true;
    s.waf = true;
    steps(&s)
}

/// Before anything is created: the certificate for `--domain` exists in
/// ACM in us-east-1, is issued, and covers the domain (its name or one of
/// its subject alternative names, a wildcard covering one label).
pub async fn preflight(cx: &Ctx) -> StepResult<()> {
    let (Some(domain), Some(arn)) = (&cx.settings.domain, &cx.settings.edge_certificate_arn) else {
        return Ok(());
    };
    let refused = |why: String| {
        AwsError::custom(
            "DescribeCertificate",
            "CertificateNotUsable",
            format!("--edge-certificate-arn {arn}: {why}\n  hint: request or import a certificate for {domain} in ACM in us-east-1, validate it, and give its ARN"),
        )
    };
    let out = cx
        .aws
        .acm_edge
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .aws("DescribeCertificate")
        .or_not_found()?
        .ok_or_else(|| refused("no such certificate in us-east-1".into()))?;
    let cert = out
        .certificate()
        .ok_or_else(|| refused("ACM described no certificate".into()))?;
    let status = cert.status().map(|s| s.as_str()).unwrap_or("unknown");
    if status != "ISSUED" {
        return Err(refused(format!("the certificate is {status}, not ISSUED")));
    }
    let mut names: Vec<&str> = cert.subject_alternative_names().iter().map(String::as_str).collect();
    names.extend(cert.domain_name());
    if !names.iter().any(|n| crate::config::covers(n, domain)) {
        return Err(refused(format!("it covers {}, not {domain}", names.join(", "))));
    }
    Ok(())
}

/// `https://{domain}` (or the distribution's own domain): the URL clients use.
pub fn api_url(cx: &Ctx) -> Option<String> {
    let rec = cx.rec(ids::DISTRIBUTION).ok()?;
    let host = cx
        .settings
        .domain
        .clone()
        .or_else(|| rec.attr("domain").map(str::to_owned))?;
    Some(format!("https://{host}"))
}

pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(rec) = cx.rec(ids::DISTRIBUTION) {
        out.insert("CloudFrontDistributionId".into(), rec.id.clone());
        if let Some(d) = rec.attr("domain") {
            out.insert("CloudFrontDomainName".into(), d.to_owned());
        }
    }
    if let Some(url) = api_url(cx) {
        out.insert("ApiUrl".into(), url);
    }
}

/// The distribution's state and domain, and the web ACL, for `status`.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, Value>) {
    let Ok(rec) = cx.rec(ids::DISTRIBUTION) else { return };
    let live = discovery::distributions(cx).await.ok().and_then(|ds| {
        ds.iter().find(|d| d.id() == rec.id).map(|d| {
            json!({
                "id": d.id(),
                "status": d.status(),
                "enabled": d.enabled(),
                "domain": d.domain_name(),
                "web_acl": d.web_acl_id(),
            })
        })
    });
    let mut v = live.unwrap_or_else(|| json!({"id": rec.id, "error": "not listed by ListDistributions"}));
    if let Some(url) = api_url(cx) {
        v["url"] = json!(url);
    }
    out.insert("edge".into(), v);
}
