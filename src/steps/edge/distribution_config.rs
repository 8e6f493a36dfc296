//! The distribution's configuration as pure data: the VPC origin, the
//! cached catalog and the uncached rest, the viewer certificate, the price
//! class for the stack's region, and a comparable summary of the managed
//! fields for drift.

use crate::steps::StepResult;
use aws_sdk_cloudfront::types::{
    Aliases, AllowedMethods, CacheBehavior, CacheBehaviors, CachedMethods, DefaultCacheBehavior, DistributionConfig,
    HttpVersion, Method, MinimumProtocolVersion, Origin, Origins, PriceClass, SslSupportMethod, ViewerCertificate,
    ViewerProtocolPolicy, VpcOriginConfig,
};

/// CloudFront's managed cache policies (CloudFront Developer Guide, "Use
/// managed cache policies"): every account has them, so nothing is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// `CachingDisabled`: TTLs of 0, nothing in the key. Writes, `/health`,
    /// `/api/info` and everything else.
    Disabled,
    /// `UseOriginCacheControlHeaders-QueryStrings`: cached for as long as
    /// the origin's `Cache-Control` says (default TTL 0: an answer without
    /// it is not cached), the query string in the cache key.
    OriginHeadersQueryStrings,
}

impl CachePolicy {
    pub fn id(self) -> &'static str {
        match self {
            CachePolicy::Disabled => "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            CachePolicy::OriginHeadersQueryStrings => "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
        }
    }
}

/// The managed origin request policy `AllViewerExceptHostHeader`: every
/// header, cookie and query string of the viewer reaches the origin except
/// `Host` (CloudFront Developer Guide, "Use managed origin request
/// policies"), so the load balancer sees its own name.
pub const ORIGIN_REQUEST_POLICY: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

/// The paths whose `GET`/`HEAD` answers are cached (the catalog).
pub const CACHED_PATHS: [&str; 2] = ["/api/products*", "/api/categories*"];

/// The origin's id inside the distribution.
pub const ORIGIN_ID: &str = "alb";

/// The price class that includes the edge locations near each region
/// (CloudFront pricing, "Price classes": 100 is North America, Europe and
/// Israel; 200 adds Asia, the Middle East, Africa and India; All adds
/// South America, Australia and New Zealand). A region not listed gets All.
pub const PRICE_CLASS_REGIONS: &[(&str, &str)] = &[
    ("us-", "PriceClass_100"),
    ("ca-", "PriceClass_100"),
    ("mx-", "PriceClass_100"),
    ("eu-", "PriceClass_100"),
    ("il-", "PriceClass_100"),
    ("ap-southeast-2", "PriceClass_All"),
    ("ap-southeast-4", "PriceClass_All"),
    ("ap-southeast-6", "PriceClass_All"),
    ("sa-", "PriceClass_All"),
    ("ap-", "PriceClass_200"),
    ("me-", "PriceClass_200"),
    ("af-", "PriceClass_200"),
];

pub fn price_class(region: &str) -> PriceClass {
    let name = PRICE_CLASS_REGIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map(|(_, c)| *c)
        .unwrap_or("PriceClass_All");
    PriceClass::from(name)
}

/// What the distribution is built from.
pub struct EdgeInputs<'a> {
    pub caller_reference: &'a str,
    /// The distribution's name, kept in its `Comment` (lists carry no tags).
    pub comment: &'a str,
    /// The origin's domain: the load balancer's DNS name, or `--domain`
    /// when the origin leg is HTTPS (the load balancer's certificate is
    /// checked against it).
    pub origin_domain: &'a str,
    pub vpc_origin_id: &'a str,
    pub web_acl_arn: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub certificate_arn: Option<&'a str>,
    pub region: &'a str,
}

fn methods(all: bool) -> StepResult<AllowedMethods> {
    let items = if all {
        vec![
            Method::Get,
            Method::Head,
            Method::Options,
            Method::Put,
            Method::Post,
            Method::Patch,
            Method::Delete,
        ]
    } else {
        vec![Method::Get, Method::Head]
    };
    AllowedMethods::builder()
        .quantity(items.len() as i32)
        .set_items(Some(items))
        .cached_methods(
            CachedMethods::builder()
                .quantity(2)
                .items(Method::Get)
                .items(Method::Head)
                .build()
                .map_err(crate::aws::build_err)?,
        )
        .build()
        .map_err(crate::aws::build_err)
}

/// The configuration the distribution must have.
pub fn wanted_config(i: &EdgeInputs) -> StepResult<DistributionConfig> {
    let err = crate::aws::build_err;
    let origin = Origin::builder()
        .id(ORIGIN_ID)
        .domain_name(i.origin_domain)
        .vpc_origin_config(
            VpcOriginConfig::builder()
                .vpc_origin_id(i.vpc_origin_id)
                .origin_read_timeout(30)
                .origin_keepalive_timeout(5)
                .build()
                .map_err(err)?,
        )
        .build()
        .map_err(err)?;
    let default = DefaultCacheBehavior::builder()
        .target_origin_id(ORIGIN_ID)
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .allowed_methods(methods(true)?)
        .compress(true)
        .cache_policy_id(CachePolicy::Disabled.id())
        .origin_request_policy_id(ORIGIN_REQUEST_POLICY)
        .build()
        .map_err(err)?;
    let behaviors = CACHED_PATHS
        .iter()
        .map(|p| {
            CacheBehavior::builder()
                .path_pattern(*p)
                .target_origin_id(ORIGIN_ID)
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                // Writes to the catalog pass through; only GET and HEAD are cached.
                .allowed_methods(methods(true)?)
                .compress(true)
                .cache_policy_id(CachePolicy::OriginHeadersQueryStrings.id())
                .origin_request_policy_id(ORIGIN_REQUEST_POLICY)
                .build()
                .map_err(err)
        })
        .collect::<StepResult<Vec<_>>>()?;
    let certificate = match i.certificate_arn {
        Some(arn) => ViewerCertificate::builder()
            .acm_certificate_arn(arn)
            .ssl_support_method(SslSupportMethod::SniOnly)
            .minimum_protocol_version(MinimumProtocolVersion::TlSv122021)
            .build(),
        None => ViewerCertificate::builder()
            .cloud_front_default_certificate(true)
            .build(),
    };
    let aliases: Vec<String> = i.domain.iter().map(|d| d.to_string()).collect();
    DistributionConfig::builder()
        .caller_reference(i.caller_reference)
        .comment(i.comment)
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build().map_err(err)?)
        .default_cache_behavior(default)
        .cache_behaviors(
            CacheBehaviors::builder()
                .quantity(behaviors.len() as i32)
                .set_items(Some(behaviors))
                .build()
                .map_err(err)?,
        )
        .aliases(
            Aliases::builder()
                .quantity(aliases.len() as i32)
                .set_items((!aliases.is_empty()).then_some(aliases))
                .build()
                .map_err(err)?,
        )
        .viewer_certificate(certificate)
        .web_acl_id(i.web_acl_arn.unwrap_or_default())
        .http_version(HttpVersion::Http2and3)
        .is_ipv6_enabled(true)
        .price_class(price_class(i.region))
        .build()
        .map_err(err)
}

fn behavior_line(
    path: &str,
    viewer: &ViewerProtocolPolicy,
    cache: Option<&str>,
    request: Option<&str>,
    n: i32,
) -> String {
    format!(
        "behavior {path}: viewers {}, cache policy {}, origin request policy {}, {n} methods",
        viewer.as_str(),
        cache.unwrap_or("none"),
        request.unwrap_or("none")
    )
}

/// One comparable line per managed property of a configuration.
pub fn summary(c: &DistributionConfig) -> Vec<String> {
    let mut out = vec![
        format!("enabled {}", c.enabled()),
        format!("web ACL {}", c.web_acl_id().filter(|w| !w.is_empty()).unwrap_or("none")),
        format!("HTTP {}", c.http_version().map(|h| h.as_str()).unwrap_or("http1.1")),
        format!(
            "price class {}",
            c.price_class().map(|p| p.as_str()).unwrap_or("PriceClass_All")
        ),
        format!("IPv6 {}", c.is_ipv6_enabled().unwrap_or(false)),
    ];
    for o in c.origins().map(|o| o.items()).unwrap_or_default() {
        out.push(format!(
            "origin {}: {} through VPC origin {}",
            o.id(),
            o.domain_name(),
            o.vpc_origin_config().map(|v| v.vpc_origin_id()).unwrap_or("none")
        ));
    }
    if let Some(d) = c.default_cache_behavior() {
        let n = d.allowed_methods().map(|m| m.quantity()).unwrap_or(0);
        out.push(behavior_line(
            "default",
            d.viewer_protocol_policy(),
            d.cache_policy_id(),
            d.origin_request_policy_id(),
            n,
        ));
    }
    for b in c.cache_behaviors().map(|b| b.items()).unwrap_or_default() {
        let n = b.allowed_methods().map(|m| m.quantity()).unwrap_or(0);
        out.push(behavior_line(
            b.path_pattern(),
            b.viewer_protocol_policy(),
            b.cache_policy_id(),
            b.origin_request_policy_id(),
            n,
        ));
    }
    let mut aliases: Vec<&str> = c
        .aliases()
        .map(|a| a.items().iter().map(String::as_str).collect())
        .unwrap_or_default();
    aliases.sort();
    out.push(format!("aliases [{}]", aliases.join(", ")));
    let cert = c.viewer_certificate();
    out.push(match cert.and_then(|v| v.acm_certificate_arn()) {
        Some(arn) => format!(
            "certificate {arn}, minimum {}",
            cert.and_then(|v| v.minimum_protocol_version())
                .map(|m| m.as_str())
                .unwrap_or("default")
        ),
        None => "certificate CloudFront's default".into(),
    });
    out.sort();
    out
}

/// Differences between the live configuration and the wanted one.
pub fn distribution_drift(have: &DistributionConfig, want: &DistributionConfig) -> Vec<String> {
    let (h, w) = (summary(have), summary(want));
    let mut d: Vec<String> = w
        .iter()
        .filter(|l| !h.contains(l))
        .map(|l| format!("wants {l}"))
        .collect();
    d.extend(h.iter().filter(|l| !w.contains(l)).map(|l| format!("has {l}")));
    d
}

/// The wanted configuration with what this tool does not manage kept from
/// the live one (its caller reference, logging, error pages, geo
/// restrictions, origin groups, a default root object), so a repair
/// changes only the managed properties.
pub fn repaired(live: &DistributionConfig, want: DistributionConfig) -> StepResult<DistributionConfig> {
    let mut b = DistributionConfig::builder()
        .caller_reference(live.caller_reference())
        .comment(want.comment())
        .enabled(true)
        .set_origins(want.origins().cloned())
        .set_default_cache_behavior(want.default_cache_behavior().cloned())
        .set_cache_behaviors(want.cache_behaviors().cloned())
        .set_aliases(want.aliases().cloned())
        .set_viewer_certificate(want.viewer_certificate().cloned())
        .set_web_acl_id(want.web_acl_id().map(str::to_owned))
        .set_http_version(want.http_version().cloned())
        .set_is_ipv6_enabled(want.is_ipv6_enabled())
        .set_price_class(want.price_class().cloned());
    b = b
        .set_logging(live.logging().cloned())
        .set_custom_error_responses(live.custom_error_responses().cloned())
        .set_restrictions(live.restrictions().cloned())
        .set_origin_groups(live.origin_groups().cloned())
        .set_default_root_object(live.default_root_object().map(str::to_owned));
    b.build().map_err(crate::aws::build_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(domain: Option<&'a str>, cert: Option<&'a str>) -> EdgeInputs<'a> {
        EdgeInputs {
            caller_reference: "ref",
            comment: "cf-api-x",
            origin_domain: "internal-alb-api-x-1.ap-southeast-2.elb.amazonaws.com",
            vpc_origin_id: "vo_1",
            web_acl_arn: Some("arn:aws:wafv2:us-east-1:1:global/webacl/waf-api-x/a"),
            domain,
            certificate_arn: cert,
            region: "ap-southeast-2",
        }
    }

    #[test]
    fn the_catalog_is_cached_and_everything_else_is_not() {
        let c = wanted_config(&inputs(None, None)).unwrap();
        let d = c.default_cache_behavior().unwrap();
        assert_eq!(d.cache_policy_id(), Some(CachePolicy::Disabled.id()));
        assert_eq!(d.viewer_protocol_policy(), &ViewerProtocolPolicy::RedirectToHttps);
        assert_eq!(d.allowed_methods().unwrap().quantity(), 7);
        let paths: Vec<&str> = c
            .cache_behaviors()
            .unwrap()
            .items()
            .iter()
            .map(|b| b.path_pattern())
            .collect();
        assert_eq!(paths, CACHED_PATHS);
        for b in c.cache_behaviors().unwrap().items() {
            assert_eq!(b.cache_policy_id(), Some(CachePolicy::OriginHeadersQueryStrings.id()));
            let cached = b.allowed_methods().unwrap().cached_methods().unwrap().items();
            assert_eq!(cached, [Method::Get, Method::Head]);
        }
        assert_eq!(c.http_version(), Some(&HttpVersion::Http2and3));
        assert_eq!(c.price_class(), Some(&PriceClass::PriceClassAll), "Sydney needs All");
        assert_eq!(
            c.viewer_certificate().unwrap().cloud_front_default_certificate(),
            Some(true)
        );
        assert_eq!(c.aliases().unwrap().quantity(), 0);
    }

    #[test]
    fn a_domain_gets_its_certificate_with_tls_1_2_at_least() {
        let cert = "arn:aws:acm:us-east-1:1:certificate/c";
        let c = wanted_config(&inputs(Some("api.example.com"), Some(cert))).unwrap();
        let v = c.viewer_certificate().unwrap();
        assert_eq!(v.acm_certificate_arn(), Some(cert));
        assert_eq!(v.ssl_support_method(), Some(&SslSupportMethod::SniOnly));
        assert_eq!(v.minimum_protocol_version(), Some(&MinimumProtocolVersion::TlSv122021));
        assert_eq!(c.aliases().unwrap().items(), ["api.example.com"]);
    }

    #[test]
    fn drift_names_what_changed_and_a_repair_keeps_what_is_not_managed() {
        let want = wanted_config(&inputs(None, None)).unwrap();
        assert!(distribution_drift(&want, &want).is_empty());
        let mut off = inputs(None, None);
        off.web_acl_arn = None;
        let no_waf = wanted_config(&off).unwrap();
        let d = distribution_drift(&no_waf, &want);
        assert!(d.iter().any(|l| l.starts_with("wants web ACL arn:")), "{d:?}");
        assert!(d.iter().any(|l| l == "has web ACL none"), "{d:?}");
        let disabled = DistributionConfig::builder()
            .caller_reference("live-ref")
            .comment("cf-api-x")
            .enabled(false)
            .default_root_object("index.html")
            .build()
            .unwrap();
        assert!(distribution_drift(&disabled, &want).contains(&"wants enabled true".to_string()));
        let fixed = repaired(&disabled, want.clone()).unwrap();
        assert_eq!(fixed.caller_reference(), "live-ref");
        assert_eq!(fixed.default_root_object(), Some("index.html"));
        assert!(distribution_drift(&fixed, &want).is_empty());
    }

    #[test]
    fn price_classes_follow_the_region() {
        assert_eq!(price_class("us-east-1"), PriceClass::PriceClass100);
        assert_eq!(price_class("eu-west-1"), PriceClass::PriceClass100);
        assert_eq!(price_class("ap-northeast-1"), PriceClass::PriceClass200);
        assert_eq!(price_class("ap-southeast-2"), PriceClass::PriceClassAll);
        assert_eq!(price_class("sa-east-1"), PriceClass::PriceClassAll);
        assert_eq!(price_class("xx-new-1"), PriceClass::PriceClassAll);
    }
}
