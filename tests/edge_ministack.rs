//! The edge family on MiniStack, a second and independent AWS emulator
//! (`scripts/ministack.sh`; what it implements: `scripts/MINISTACK_NOTES.md`).
//! The real binary talks to it directly, with no proxy in between, so
//! CloudFront's VPC origins, its managed cache policies,
//! `DistributionNotDisabled` and `PreconditionFailed`, WAFv2 and CloudWatch
//! Logs deliveries answer as MiniStack implements them, not as this
//! project's proxy emulates them for moto (`tests/edge.rs`).
//!
//! MiniStack has no Application Auto Scaling, so `up` cannot run here: the
//! edge family and what it needs (read from `provision plan`'s graph) are
//! made one `provision step` at a time, dependencies first, looked at from
//! the outside with the SDK, put out of shape by hand and repaired, then
//! undone in reverse order, after which MiniStack holds none of them.

mod common;

use aws_sdk_cloudfront::error::ProvideErrorMetadata;
use aws_sdk_cloudfront::types::{
    DistributionConfig, DistributionSummary, OriginProtocolPolicy, OriginSslProtocols, SslProtocol,
    VpcOriginEndpointConfig, VpcOriginSummary,
};
use aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput;
use aws_sdk_wafv2::types::{Scope, WebAclSummary};
use common::*;
use provision::aws::Clients;
use provision::steps::ids;
use serde_json::Value;
use std::collections::BTreeMap;

/// The edge family's steps.
const EDGE: [&str; 6] = [
    ids::LOG_EDGE,
    ids::VPC_ORIGIN,
    ids::WEB_ACL,
    ids::DISTRIBUTION,
    ids::EDGE_LOGS,
    ids::EDGE_METRICS,
];

/// `provision plan`'s graph: every step with the steps it comes after
/// (`(after a, b:ready)` at the end of its line).
fn graph(stack: &Stack) -> BTreeMap<String, Vec<String>> {
    let out = stack.run("plan", &[]);
    stdout(&out)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if !["+", "~", "=", "!", "?"].contains(&words.next()?) {
                return None;
            }
            let step = words.next()?.to_owned();
            let deps = match line.rfind("(after ") {
                Some(i) if line.ends_with(')') => line[i + "(after ".len()..line.len() - 1]
                    .split(", ")
                    .map(|d| d.trim_end_matches(":ready").to_owned())
                    .collect(),
                _ => Vec::new(),
            };
            Some((step, deps))
        })
        .collect()
}

/// The edge family and every step it needs, each after its dependencies.
fn edge_and_what_it_needs(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    fn visit(step: &str, graph: &BTreeMap<String, Vec<String>>, order: &mut Vec<String>) {
        if order.iter().any(|s| s == step) {
            return;
        }
        let deps = graph
            .get(step)
            .unwrap_or_else(|| panic!("`provision plan` lists no step {step}: {graph:?}"));
        for d in deps {
            visit(d, graph, order);
        }
        order.push(step.to_owned());
    }
    let mut order = Vec::new();
    for step in EDGE {
        visit(step, graph, &mut order);
    }
    order
}

async fn distributions(aws: &Clients) -> Vec<DistributionSummary> {
    let out = aws.cloudfront.list_distributions().send().await.unwrap();
    out.distribution_list().map(|l| l.items().to_vec()).unwrap_or_default()
}

async fn vpc_origins(aws: &Clients) -> Vec<VpcOriginSummary> {
    let out = aws.cloudfront.list_vpc_origins().send().await.unwrap();
    out.vpc_origin_list().map(|l| l.items().to_vec()).unwrap_or_default()
}

async fn web_acls(aws: &Clients) -> Vec<WebAclSummary> {
    let out = aws
        .wafv2_edge
        .list_web_acls()
        .scope(Scope::Cloudfront)
        .send()
        .await
        .unwrap();
    out.web_acls().to_vec()
}

async fn web_acl(aws: &Clients, name: &str) -> GetWebAclOutput {
    let acls = web_acls(aws).await;
    let summary = acls
        .iter()
        .find(|a| a.name() == Some(name))
        .unwrap_or_else(|| panic!("no web ACL {name} in {acls:?}"));
    aws.wafv2_edge
        .get_web_acl()
        .name(name)
        .scope(Scope::Cloudfront)
        .id(summary.id().unwrap())
        .send()
        .await
        .unwrap()
}

async fn distribution_config(aws: &Clients, id: &str) -> (DistributionConfig, String) {
    let out = aws.cloudfront.get_distribution_config().id(id).send().await.unwrap();
    (
        out.distribution_config().unwrap().clone(),
        out.e_tag().unwrap().to_owned(),
    )
}

async fn vpc_origin_etag(aws: &Clients, id: &str) -> String {
    let out = aws.cloudfront.get_vpc_origin().id(id).send().await.unwrap();
    out.e_tag().unwrap().to_owned()
}

async fn cloudfront_tags(aws: &Clients, arn: &str) -> BTreeMap<String, String> {
    let out = aws
        .cloudfront
        .list_tags_for_resource()
        .resource(arn)
        .send()
        .await
        .unwrap();
    out.tags()
        .map(|t| t.items())
        .unwrap_or_default()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
        .collect()
}

/// The name of the cache policy `id` in CloudFront's catalogue.
async fn cache_policy_name(aws: &Clients, id: &str) -> String {
    let out = aws.cloudfront.get_cache_policy().id(id).send().await.unwrap();
    let config = out.cache_policy().and_then(|p| p.cache_policy_config()).unwrap();
    config.name().to_owned()
}

/// The name of the origin request policy `id` in CloudFront's catalogue.
async fn origin_request_policy_name(aws: &Clients, id: &str) -> String {
    let out = aws.cloudfront.get_origin_request_policy().id(id).send().await.unwrap();
    let policy = out.origin_request_policy().unwrap();
    policy.origin_request_policy_config().unwrap().name().to_owned()
}

/// `provision status --json`: its exit code and its document.
fn status(stack: &Stack) -> (Option<i32>, Value) {
    let out = stack.run("status", &["--json"]);
    let doc = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("status --json: {e}\n{}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), doc)
}

/// The row of `step` in a status document.
fn row<'a>(doc: &'a Value, step: &str) -> &'a Value {
    let rows = doc["steps"].as_array().expect("status lists steps");
    rows.iter()
        .find(|r| r["step"] == step)
        .unwrap_or_else(|| panic!("status lists no step {step}"))
}

/// The edge's rows are present and undrifted; the only steps that could
/// not be checked are Application Auto Scaling's, which MiniStack lacks
/// (so `status` exits 1, not 3, whatever else it finds).
fn assert_the_edge_is_present(code: Option<i32>, doc: &Value) {
    assert_eq!(code, Some(1), "{doc:#}");
    for step in EDGE {
        let r = row(doc, step);
        assert_eq!(r["state"], "present", "{r:#}");
    }
    let rows = doc["steps"].as_array().unwrap();
    for r in rows.iter().filter(|r| r["state"] == "error") {
        let error = r["error"].as_str().unwrap_or_default();
        assert!(error.contains("application-autoscaling"), "{r:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edge_on_ministack_is_made_step_by_step_repaired_and_undone() {
    let started = std::time::Instant::now();
    let ms = Ministack::start("edge");
    let log = ms.log_path();
    let stack = Stack::new(&ms.url, &long_suffix("edgems"));
    let s = stack.suffix.clone();
    let aws = stack.aws().await;

    // 1. The edge and what it needs, one step at a time, dependencies first.
    let order = edge_and_what_it_needs(&graph(&stack));
    for needed in [ids::VPC, ids::SG_ALB, ids::ALB] {
        assert!(order.iter().any(|o| o == needed), "{order:?}");
    }
    for step in &order {
        let out = stack.ok(&format!("step {step}"), &[]);
        assert!(out.starts_with(&format!("{step}: created ")), "{out} (log: {log:?})");
    }

    // 2. Seen from the outside. The load balancer is internal, the VPC
    // origin points at it and is deployed, tagged as the step's.
    let lbs = aws
        .elb
        .describe_load_balancers()
        .names(stack.name("alb", "api"))
        .send()
        .await
        .unwrap();
    let lb = &lbs.load_balancers()[0];
    assert_eq!(lb.scheme().unwrap().as_str(), "internal");
    let origins = vpc_origins(&aws).await;
    assert_eq!(origins.len(), 1, "{origins:?}");
    let vo = &origins[0];
    assert_eq!(vo.name(), stack.name("vpco", "api"));
    let live = aws.cloudfront.get_vpc_origin().id(vo.id()).send().await.unwrap();
    let live = live.vpc_origin().unwrap();
    assert_eq!(live.status(), "Deployed");
    let endpoint = live.vpc_origin_endpoint_config().unwrap().clone();
    assert_eq!(endpoint.arn(), lb.load_balancer_arn().unwrap());
    assert_eq!(endpoint.origin_protocol_policy(), &OriginProtocolPolicy::HttpOnly);
    assert_eq!((endpoint.http_port(), endpoint.https_port()), (80, 443));
    let tags = cloudfront_tags(&aws, vo.arn()).await;
    assert_eq!(tags.get("provision:step").map(String::as_str), Some(ids::VPC_ORIGIN));
    assert_eq!(tags.get("EnvironmentSuffix"), Some(&s));

    // The distribution uses the VPC origin (on the load balancer's name)
    // and the web ACL, whose four rules are in us-east-1's CLOUDFRONT scope.
    let ds = distributions(&aws).await;
    assert_eq!(ds.len(), 1, "{ds:?}");
    let d = &ds[0];
    assert_eq!(d.comment(), stack.name("cf", "api"));
    let id = d.id().to_owned();
    let (config, etag) = distribution_config(&aws, &id).await;
    assert!(config.enabled());
    let origin = &config.origins().unwrap().items()[0];
    assert_eq!(origin.domain_name(), lb.dns_name().unwrap());
    assert_eq!(origin.vpc_origin_config().unwrap().vpc_origin_id(), vo.id());
    let acl = web_acl(&aws, &stack.name("waf", "api")).await;
    let a = acl.web_acl().unwrap();
    assert_eq!(config.web_acl_id(), Some(a.arn()));
    assert!(a.arn().starts_with("arn:aws:wafv2:us-east-1:"), "{}", a.arn());
    assert!(a.arn().contains(":global/webacl/"), "{}", a.arn());
    let rules: Vec<&str> = a.rules().iter().map(|r| r.name()).collect();
    assert_eq!(rules.len(), 4, "{rules:?}");
    assert!(rules.contains(&"rate-limit-per-ip"), "{rules:?}");
    assert!(a.default_action().and_then(|d| d.allow()).is_some());
    let tags = cloudfront_tags(&aws, d.arn()).await;
    assert_eq!(tags.get("provision:step").map(String::as_str), Some(ids::DISTRIBUTION));

    // The policies it names are CloudFront's managed ones, by MiniStack's
    // own catalogue of them (the ids are constants in the code).
    let default = config.default_cache_behavior().unwrap();
    assert_eq!(
        cache_policy_name(&aws, default.cache_policy_id().unwrap()).await,
        "Managed-CachingDisabled"
    );
    let behaviors = config.cache_behaviors().unwrap().items();
    assert_eq!(behaviors.len(), 2);
    for b in behaviors
        .iter()
        .map(|b| (b.cache_policy_id(), b.origin_request_policy_id()))
    {
        let (cache, request) = (b.0.unwrap(), b.1.unwrap());
        assert_eq!(
            cache_policy_name(&aws, cache).await,
            "Managed-UseOriginCacheControlHeaders-QueryStrings"
        );
        assert_eq!(
            origin_request_policy_name(&aws, request).await,
            "Managed-AllViewerExceptHostHeader"
        );
    }

    // The additional metrics are on; the access logs go from the
    // distribution to the edge's log group, which lives in us-east-1 only.
    let m = aws
        .cloudfront
        .get_monitoring_subscription()
        .distribution_id(&id)
        .send()
        .await
        .unwrap();
    let sub = m
        .monitoring_subscription()
        .and_then(|m| m.realtime_metrics_subscription_config());
    assert_eq!(
        sub.map(|c| c.realtime_metrics_subscription_status().as_str()),
        Some("Enabled")
    );
    let group = format!("/provision/{s}/edge");
    let groups = aws
        .logs_edge
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    let g = &groups.log_groups()[0];
    assert_eq!(g.retention_in_days(), Some(30));
    assert!(
        log_groups(&aws, &group).await.is_empty(),
        "a log group in the stack's region"
    );
    let source = aws
        .logs_edge
        .get_delivery_source()
        .name(stack.name("cfsrc", "api"))
        .send()
        .await
        .unwrap();
    let source = source.delivery_source().unwrap();
    assert_eq!(source.resource_arns(), [d.arn().to_owned()]);
    assert_eq!(source.log_type(), Some("ACCESS_LOGS"));
    let destination = aws
        .logs_edge
        .get_delivery_destination()
        .name(stack.name("cfdst", "api"))
        .send()
        .await
        .unwrap();
    let destination = destination.delivery_destination().unwrap();
    let to = destination.delivery_destination_configuration().unwrap();
    assert_eq!(
        to.destination_resource_arn().trim_end_matches(":*"),
        g.arn().unwrap().trim_end_matches(":*")
    );
    let deliveries = aws.logs_edge.describe_deliveries().send().await.unwrap();
    let deliveries = deliveries.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].delivery_source_name(), source.name());
    assert_eq!(deliveries[0].delivery_destination_arn(), destination.arn());

    // 3. Each edge step again changes nothing: every ETag and lock token
    // is the same afterwards.
    let versions = (
        etag.clone(),
        vpc_origin_etag(&aws, vo.id()).await,
        acl.lock_token().unwrap().to_owned(),
    );
    for step in EDGE {
        let out = stack.ok(&format!("step {step}"), &[]);
        assert!(out.starts_with(&format!("{step}: found ")), "{out}");
    }
    let again = (
        distribution_config(&aws, &id).await.1,
        vpc_origin_etag(&aws, vo.id()).await,
        web_acl(&aws, &stack.name("waf", "api"))
            .await
            .lock_token()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(versions, again, "a converged step wrote something");

    // 4. status finds the edge, also with the state directory lost.
    let (code, doc) = status(&stack);
    assert_the_edge_is_present(code, &doc);
    let edge = &doc["details"]["edge"];
    assert_eq!(edge["id"], id.as_str());
    assert_eq!(edge["status"], "Deployed");
    assert_eq!(edge["enabled"], true);
    assert_eq!(edge["web_acl"], a.arn());
    std::fs::remove_dir_all(&stack.p.state_dir).unwrap();
    let (code, doc) = status(&stack);
    assert_the_edge_is_present(code, &doc);

    // 5. MiniStack refuses what CloudFront refuses, so the undo below is
    // checked: an enabled distribution is not deleted...
    let e = aws
        .cloudfront
        .delete_distribution()
        .id(&id)
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("DistributionNotDisabled"), "{e:?}");
    // ...nor one named with an ETag that has moved on (someone disables
    // the distribution by hand: a new ETag)...
    let mut off = config.clone();
    off.enabled = false;
    aws.cloudfront
        .update_distribution()
        .id(&id)
        .if_match(&etag)
        .distribution_config(off)
        .send()
        .await
        .unwrap();
    let e = aws
        .cloudfront
        .delete_distribution()
        .id(&id)
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("PreconditionFailed"), "{e:?}");
    // ...and a VPC origin in use cannot change (UpdateVpcOrigin answers
    // CannotUpdateEntityWhileInUse while a distribution names it).
    let https = VpcOriginEndpointConfig::builder()
        .name(endpoint.name())
        .arn(endpoint.arn())
        .http_port(endpoint.http_port())
        .https_port(endpoint.https_port())
        .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
        .origin_ssl_protocols(
            OriginSslProtocols::builder()
                .quantity(1)
                .items(SslProtocol::TlSv12)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = aws
        .cloudfront
        .update_vpc_origin()
        .id(vo.id())
        .if_match(vpc_origin_etag(&aws, vo.id()).await)
        .vpc_origin_endpoint_config(https)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("CannotUpdateEntityWhileInUse"), "{e:?}");

    // 6. Drift: the distribution disabled (above) and the rate limit
    // removed by hand are reported, and each step repairs its own.
    let acl = web_acl(&aws, &stack.name("waf", "api")).await;
    let a = acl.web_acl().unwrap();
    let fewer: Vec<_> = a
        .rules()
        .iter()
        .filter(|r| r.name() != "rate-limit-per-ip")
        .cloned()
        .collect();
    aws.wafv2_edge
        .update_web_acl()
        .name(a.name())
        .scope(Scope::Cloudfront)
        .id(a.id())
        .lock_token(acl.lock_token().unwrap())
        .set_default_action(a.default_action().cloned())
        .set_rules(Some(fewer))
        .set_visibility_config(a.visibility_config().cloned())
        .send()
        .await
        .unwrap();
    let (_, doc) = status(&stack);
    let r = row(&doc, ids::DISTRIBUTION);
    assert_eq!(r["state"], "drifted", "{r:#}");
    assert!(r["drift"].to_string().contains("wants enabled true"), "{r:#}");
    let r = row(&doc, ids::WEB_ACL);
    assert_eq!(r["state"], "drifted", "{r:#}");
    assert!(r["drift"].to_string().contains("rate-limit-per-ip"), "{r:#}");
    let out = stack.ok(&format!("step {}", ids::DISTRIBUTION), &[]);
    assert!(out.starts_with("cf-distribution: repaired "), "{out}");
    let out = stack.ok(&format!("step {}", ids::WEB_ACL), &[]);
    assert!(out.starts_with("waf-acl: repaired "), "{out}");
    assert!(distribution_config(&aws, &id).await.0.enabled());
    let acl = web_acl(&aws, &stack.name("waf", "api")).await;
    assert_eq!(acl.web_acl().unwrap().rules().len(), 4);
    let (code, doc) = status(&stack);
    assert_the_edge_is_present(code, &doc);

    // 7. Undone in reverse order. The distribution's undo is disable, wait
    // until deployed, delete with the current ETag: MiniStack would refuse
    // any other order (above).
    for step in order.iter().rev() {
        let out = stack.ok(&format!("step {step}"), &["--undo"]);
        assert!(out.starts_with(&format!("{step}: deleted ")), "{out} (log: {log:?})");
    }

    // 8. MiniStack holds none of it.
    assert!(distributions(&aws).await.is_empty());
    assert!(vpc_origins(&aws).await.is_empty());
    assert!(web_acls(&aws).await.is_empty());
    let logs = &aws.logs_edge;
    let sources = logs.describe_delivery_sources().send().await.unwrap();
    assert!(sources.delivery_sources().is_empty(), "{sources:?}");
    let destinations = logs.describe_delivery_destinations().send().await.unwrap();
    assert!(destinations.delivery_destinations().is_empty(), "{destinations:?}");
    let deliveries = logs.describe_deliveries().send().await.unwrap();
    assert!(deliveries.deliveries().is_empty(), "{deliveries:?}");
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    assert!(groups.log_groups().is_empty(), "{groups:?}");
    let lbs = aws.elb.describe_load_balancers().send().await.unwrap();
    assert!(lbs.load_balancers().is_empty(), "{lbs:?}");
    let vpcs = aws.ec2.describe_vpcs().filters(tag_filter(&s)).send().await.unwrap();
    assert!(vpcs.vpcs().is_empty(), "{vpcs:?}");
    let subnets = aws.ec2.describe_subnets().filters(tag_filter(&s)).send().await.unwrap();
    assert!(subnets.subnets().is_empty(), "{subnets:?}");
    let groups = aws
        .ec2
        .describe_security_groups()
        .filters(tag_filter(&s))
        .send()
        .await
        .unwrap();
    assert!(groups.security_groups().is_empty(), "{groups:?}");
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    let left: Vec<&str> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.contains(&s))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let (_, doc) = status(&stack);
    for step in &order {
        assert_eq!(row(&doc, step)["state"], "missing", "{step}");
    }
    eprintln!(
        "the edge on ministack: {} steps made, repaired and undone in {:.1}s",
        order.len(),
        started.elapsed().as_secs_f64()
    );
}
