//! Traffic: the internet-facing Application Load Balancer, its access-log
//! bucket, the blue and green target groups ECS native blue/green switches
//! between, the listeners, and the one production listener rule.
//!
//! Discovery is batched through the inventory: one `DescribeLoadBalancers`
//! (by name), one `DescribeTargetGroups` (both names), one
//! `DescribeListeners` (for the load balancer) and one `DescribeRules` (for
//! the production listener), whichever step asks first (`discovery`).

mod alb;
mod discovery;
mod listener;
mod log_bucket;
mod rule;
mod target_group;

pub use alb::{alb_attributes, Alb};
pub use listener::{action_key, forward_weights, not_found_action, redirect_to_https_action, Listener};
pub use log_bucket::{bucket_name, bucket_policy, elb_log_account, LogBucket};
pub use rule::{forward_action, path_condition, rule_drift, ApiRule};
pub use target_group::{HealthCheck, TargetGroup, HEALTH_CHECK};

use super::ids;
use super::{Ctx, StepRef};
use crate::aws::AwsResultExt;
use crate::config::Settings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The paths the production rule forwards; everything else gets a 404.
pub const RULE_PATHS: [&str; 2] = ["/api/*", "/health"];
pub const RULE_PRIORITY: i32 = 10;
pub const HEALTH_PATH: &str = "/health";
/// TLS 1.3 and 1.2 with post-quantum key exchange, no legacy ciphers.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";
/// Seconds a draining target keeps its connections (ALB default is 300).
pub const DEREGISTRATION_DELAY: i32 = 30;
/// Days the access logs are kept.
pub const LOG_EXPIRY_DAYS: i32 = 90;
/// Key prefix of the access logs in the bucket.
pub const LOG_PREFIX: &str = "alb";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Blue,
    Green,
}

impl Color {
    pub fn name(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
    pub fn step(self) -> &'static str {
        match self {
            Color::Blue => ids::TG_BLUE,
            Color::Green => ids::TG_GREEN,
        }
    }
}

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    let mut s: Vec<StepRef> = vec![
        Arc::new(LogBucket),
        Arc::new(Alb),
        Arc::new(TargetGroup { color: Color::Blue }),
        Arc::new(TargetGroup { color: Color::Green }),
        Arc::new(Listener { https: false }),
    ];
    if settings.certificate_arn.is_some() {
        s.push(Arc::new(Listener { https: true }));
    }
    s.push(Arc::new(ApiRule {
        listener: production_listener(settings),
    }));
    s
}

/// The listener that carries the production rule: 443 with a certificate,
/// 80 without.
pub fn production_listener(settings: &Settings) -> &'static str {
    if settings.certificate_arn.is_some() {
        "listener-https"
    } else {
        "listener-http"
    }
}

/// The ELBv2 API reference (`CreateLoadBalancer`, `CreateTargetGroup`
/// `Name`): at most 32 characters, only alphanumerics and hyphens, not
/// beginning or ending with a hyphen, a load balancer's not beginning with
/// `internal-`. The names below meet it for any suffix (at most 12 of
/// a-z 0-9 -, ending in neither); a unit test checks the longest.
pub fn alb_name(cx: &Ctx) -> String {
    cx.name("alb", "api")
}

pub fn tg_name(cx: &Ctx, color: Color) -> String {
    cx.name("tg", color.name())
}

/// `app/alb-api-x/0123…` from a load balancer ARN (CloudWatch's dimension).
pub fn lb_dimension(arn: &str) -> String {
    arn.split_once(":loadbalancer/")
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default()
}

/// `targetgroup/tg-blue-x/0123…` from a target group ARN.
pub fn tg_dimension(arn: &str) -> String {
    arn.rsplit_once(':').map(|(_, s)| s.to_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------- outputs and status

pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Some(dns) = cx.rec(ids::ALB).ok().and_then(|r| r.attr("dns").map(str::to_owned)) {
        out.insert("ALBDnsName".into(), dns);
    }
}

/// Target health per target group: `{"tg-blue": {"healthy": 2}, ...}`.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, Value>) {
    let mut health = serde_json::Map::new();
    for color in [Color::Blue, Color::Green] {
        let Ok(rec) = cx.rec(color.step()) else { continue };
        let r = cx
            .aws
            .elb
            .describe_target_health()
            .target_group_arn(&rec.id)
            .send()
            .await
            .aws("DescribeTargetHealth");
        let v = match r {
            Ok(o) => {
                let mut counts: BTreeMap<String, u32> = BTreeMap::new();
                for d in o.target_health_descriptions() {
                    let s = d
                        .target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "unknown".into());
                    *counts.entry(s).or_default() += 1;
                }
                json!(counts)
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        health.insert(color.step().to_owned(), v);
    }
    if !health.is_empty() {
        out.insert("target_health".into(), Value::Object(health));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the ELBv2 API reference says is wrong with a load balancer or
    /// target group name, if anything.
    fn elb_name_problem(name: &str) -> Option<&'static str> {
        if name.is_empty() || name.len() > 32 {
            Some("not 1-32 characters")
        } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            Some("a character other than alphanumerics and hyphens")
        } else if name.starts_with('-') || name.ends_with('-') {
            Some("begins or ends with a hyphen")
        } else if name.starts_with("internal-") {
            Some("begins with internal-")
        } else {
            None
        }
    }

    #[test]
    fn names_and_health_checks_are_within_the_elbv2_limits_for_the_longest_suffix() {
        for suffix in ["abcdefghijkl", "a-b-c-d-e-f9", "internal-a1b", "z12345678901"] {
            let mut settings = crate::testing::settings(&[]);
            settings.suffix = crate::naming::Suffix::parse(suffix).unwrap();
            let cx = crate::testing::ctx_with(crate::testing::offline_clients(), settings);
            let names = [alb_name(&cx), tg_name(&cx, Color::Blue), tg_name(&cx, Color::Green)];
            for name in names {
                assert_eq!(elb_name_problem(&name), None, "{name}");
            }
        }
        assert!(elb_name_problem("tg-green-abcdefghijklmnopqrstuvwxyz").is_some());
        assert!(elb_name_problem("internal-x").is_some());

        let h = &HEALTH_CHECK;
        assert!((5..=300).contains(&h.interval), "interval {}", h.interval);
        assert!((2..=120).contains(&h.timeout), "timeout {}", h.timeout);
        assert!(
            h.timeout < h.interval,
            "timeout {} < interval {}",
            h.timeout,
            h.interval
        );
        assert!((2..=10).contains(&h.healthy), "healthy threshold {}", h.healthy);
        assert!((2..=10).contains(&h.unhealthy), "unhealthy threshold {}", h.unhealthy);
        assert!(h.path.starts_with('/') && h.path.len() <= 1024);
    }

    #[test]
    fn dimensions_come_from_arns() {
        assert_eq!(
            lb_dimension("arn:aws:elasticloadbalancing:ap-southeast-2:1:loadbalancer/app/alb-api-x/50dc6c495c0c9188"),
            "app/alb-api-x/50dc6c495c0c9188"
        );
        assert_eq!(
            tg_dimension("arn:aws:elasticloadbalancing:ap-southeast-2:1:targetgroup/tg-blue-x/73e2d6bc24d8a067"),
            "targetgroup/tg-blue-x/73e2d6bc24d8a067"
        );
    }
}
