//! The edge's settings, checked before any AWS call: the WAF's rate limit,
//! and a domain of the operator's own with its certificate.

use super::{flag_err, InputError, StackRequest};

/// AWS WAF's `RateBasedStatement.Limit` (WAFv2 API Reference): 10 to
/// 2,000,000,000 requests in the evaluation window.
pub const RATE_LIMIT_RANGE: std::ops::RangeInclusive<u32> = 10..=2_000_000_000;

/// CloudFront takes certificates from ACM in US East (N. Virginia) only
/// (CloudFront Developer Guide, "Requirements for using SSL/TLS
/// certificates with CloudFront": "the certificate must be requested or
/// imported in the US East (N. Virginia) Region").
pub const CERTIFICATE_REGION: &str = "us-east-1";

pub(super) fn validate(r: &StackRequest) -> Result<(), InputError> {
    if !RATE_LIMIT_RANGE.contains(&r.rate_limit) {
        return Err(flag_err(
            "rate-limit",
            r.rate_limit,
            "AWS WAF takes a rate limit of 10 to 2,000,000,000 requests per 5 minutes",
            "e.g. --rate-limit 2000 (requests one client IP may make in 5 minutes)",
        ));
    }
    if let Some(d) = &r.domain {
        if !r.edge {
            return Err(flag_err(
                "domain",
                d,
                "a domain is served by the CloudFront distribution, and --no-edge has none",
                "drop --no-edge, or drop --domain",
            ));
        }
        if let Some(why) = domain_problem(d) {
            return Err(flag_err(
                "domain",
                d,
                why,
                "a DNS name of your own such as api.example.com (lower case, no scheme, no trailing dot)",
            ));
        }
        if r.edge_certificate_arn.is_none() {
            return Err(flag_err(
                "domain",
                d,
                "CloudFront serves an alternate domain name only with a certificate that covers it",
                "also give --edge-certificate-arn arn:aws:acm:us-east-1:ACCOUNT:certificate/ID",
            ));
        }
    }
    if let Some(c) = &r.edge_certificate_arn {
        let parts: Vec<&str> = c.splitn(6, ':').collect();
        let well_formed = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "acm"
            && !parts[4].is_empty()
            && parts[5].strip_prefix("certificate/").is_some_and(|id| !id.is_empty());
        if !well_formed {
            return Err(flag_err(
                "edge-certificate-arn",
                c,
                "not the ARN of an ACM certificate",
                "arn:aws:acm:us-east-1:ACCOUNT:certificate/ID",
            ));
        }
        if parts[3] != CERTIFICATE_REGION {
            return Err(flag_err(
                "edge-certificate-arn",
                c,
                format!(
                    "the certificate is in {}, and CloudFront only uses certificates from ACM in us-east-1",
                    parts[3]
                ),
                "request or import the certificate in us-east-1 (N. Virginia), then give its ARN",
            ));
        }
        if r.domain.is_none() {
            return Err(flag_err(
                "edge-certificate-arn",
                c,
                "a certificate for the distribution needs the domain it serves",
                "also give --domain api.example.com",
            ));
        }
    }
    if r.edge && r.certificate_arn.is_some() && r.domain.is_none() {
        return Err(flag_err(
            "certificate-arn",
            r.certificate_arn.as_deref().unwrap_or_default(),
            "with the edge, the load balancer is reached over HTTPS by CloudFront, which checks its certificate \
             against the origin's name: that name is --domain",
            "give --domain and --edge-certificate-arn too, or drop --certificate-arn (CloudFront then reaches \
             the internal load balancer over HTTP inside the VPC)",
        ));
    }
    Ok(())
}

/// What is wrong with a DNS name for CloudFront's `Aliases`, if anything.
pub fn domain_problem(d: &str) -> Option<&'static str> {
    if d.len() > 253 || d.is_empty() {
        return Some("not 1-253 characters");
    }
    if d.contains("://") || d.contains('/') {
        return Some("a URL, not a DNS name");
    }
    if d.ends_with('.') {
        return Some("ends with a dot");
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Some("not a fully qualified name");
    }
    for (i, l) in labels.iter().enumerate() {
        let wildcard = i == 0 && *l == "*";
        let ok = wildcard
            || (!l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        if !ok {
            return Some("a label is not 1-63 of a-z 0-9 - (not starting or ending with -)");
        }
    }
    if labels[0] == "*" {
        return Some("a wildcard: give the one name clients use");
    }
    None
}

/// Whether the certificate name `pattern` (a SAN, perhaps `*.example.com`)
/// covers `domain`: a wildcard covers exactly one label.
pub fn covers(pattern: &str, domain: &str) -> bool {
    let (p, d) = (pattern.to_ascii_lowercase(), domain.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(rest) => d
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> StackRequest {
        StackRequest {
            suffix: "dev1".into(),
            ..StackRequest::default()
        }
    }

    const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/abc";

    #[test]
    fn a_domain_needs_its_certificate_in_us_east_1_and_the_edge() {
        let mut r = req();
        r.domain = Some("api.example.com".into());
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("--domain") && e.contains("--edge-certificate-arn"), "{e}");
        r.edge_certificate_arn = Some(CERT.into());
        assert!(r.validate().is_ok());
        r.edge_certificate_arn = Some(CERT.replace("us-east-1", "ap-southeast-2"));
        let e = r.validate().unwrap_err().to_string();
        assert!(
            e.contains("ap-southeast-2") && e.contains("us-east-1") && e.contains("hint:"),
            "{e}"
        );
        r.edge_certificate_arn = Some(CERT.into());
        r.edge = false;
        assert!(r.validate().unwrap_err().to_string().contains("--no-edge"));
        let mut r = req();
        r.edge_certificate_arn = Some(CERT.into());
        assert!(r.validate().unwrap_err().to_string().contains("--domain"));
    }

    #[test]
    fn bad_domains_and_rate_limits_are_refused() {
        for bad in [
            "https://api.example.com",
            "api",
            "API.example.com",
            "api.example.com.",
            "-a.example.com",
            "*.example.com",
        ] {
            assert!(domain_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(domain_problem("api.shop-1.example.com"), None);
        for limit in [0, 9, 2_000_000_001] {
            let mut r = req();
            r.rate_limit = limit;
            assert!(
                r.validate().unwrap_err().to_string().contains("--rate-limit"),
                "{limit}"
            );
        }
        let mut r = req();
        r.rate_limit = 10;
        assert!(r.validate().is_ok());
    }

    #[test]
    fn https_to_the_origin_needs_the_name_it_is_checked_against() {
        let mut r = req();
        r.certificate_arn = Some("arn:aws:acm:ap-southeast-2:123456789012:certificate/x".into());
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("--certificate-arn") && e.contains("--domain"), "{e}");
        r.edge = false;
        assert!(
            r.validate().is_ok(),
            "without the edge the ALB's certificate serves clients"
        );
    }

    #[test]
    fn a_wildcard_covers_one_label() {
        assert!(covers("*.example.com", "api.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("API.example.com", "api.example.com"));
        assert!(!covers("www.example.com", "api.example.com"));
    }

    #[test]
    fn the_waf_is_off_without_the_edge() {
        let mut r = req();
        r.edge = false;
        assert!(!r.validate().unwrap().waf);
        assert!(req().validate().unwrap().waf);
    }
}
