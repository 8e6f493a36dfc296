//! The edge end to end (CloudFront through a VPC origin in front of an
//! internal load balancer, a WAF web ACL, access-log delivery), on moto
//! with the project's proxy filling what moto lacks (VPC origins,
//! deploying states, `DistributionNotDisabled`, `If-Match`), running the
//! real binary as a user would.

mod common;

use aws_sdk_cloudfront::types::DistributionConfig;
use common::*;

const MOTO: &str = "edge";

async fn distribution(aws: &provision::aws::Clients, id: &str) -> (DistributionConfig, String) {
    let out = aws.cloudfront.get_distribution_config().id(id).send().await.unwrap();
    (
        out.distribution_config().unwrap().clone(),
        out.e_tag().unwrap().to_owned(),
    )
}

fn outputs(stack: &Stack) -> serde_json::Value {
    serde_json::from_str(&stack.ok("outputs", &["--json"])).unwrap()
}

async fn web_acl(aws: &provision::aws::Clients, s: &str) -> aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput {
    let name = format!("waf-api-{s}");
    let list = aws
        .wafv2_edge
        .list_web_acls()
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .send()
        .await
        .unwrap();
    let summary = list
        .web_acls()
        .iter()
        .find(|a| a.name() == Some(name.as_str()))
        .unwrap();
    aws.wafv2_edge
        .get_web_acl()
        .name(&name)
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .id(summary.id().unwrap())
        .send()
        .await
        .unwrap()
}

/// The load balancer's group: its ingress rules as (port, peer) pairs.
async fn alb_ingress(aws: &provision::aws::Clients, s: &str) -> Vec<(i32, String)> {
    let id = sg_id(aws, s, "sg-alb").await;
    let out = aws.ec2.describe_security_groups().group_ids(id).send().await.unwrap();
    let mut rules = Vec::new();
    for p in out.security_groups()[0].ip_permissions() {
        let port = p.from_port().unwrap_or(-1);
        rules.extend(
            p.ip_ranges()
                .iter()
                .map(|r| (port, r.cidr_ip().unwrap_or_default().to_owned())),
        );
        rules.extend(
            p.prefix_list_ids()
                .iter()
                .map(|l| (port, l.prefix_list_id().unwrap_or_default().to_owned())),
        );
    }
    rules
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edge_fronts_an_internal_load_balancer_and_a_second_up_changes_nothing() {
    let proxy = shared_proxy(MOTO);
    let stack = Stack::new(&proxy.url, &long_suffix("edge"));
    let s = stack.suffix.clone();
    stack.ok("up", &[]);
    let aws = stack.aws().await;
    assert_eq!(census(&aws, &s).await, full_census());

    // The HTTPS URL clients use, on the distribution's own domain.
    let out = outputs(&stack);
    let id = out["CloudFrontDistributionId"].as_str().unwrap().to_owned();
    let domain = out["CloudFrontDomainName"].as_str().unwrap();
    assert_eq!(out["ApiUrl"], format!("https://{domain}"));

    // The load balancer is internal, in the private subnets, reachable only
    // from CloudFront's origin-facing prefix list on the origin's port.
    let lb = aws
        .elb
        .describe_load_balancers()
        .names(format!("alb-api-{s}"))
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    assert_eq!(lb.scheme().unwrap().as_str(), "internal");
    let private = subnet_ids(&aws, &s, "private").await;
    for az in lb.availability_zones() {
        assert!(private.contains(&az.subnet_id().unwrap().to_owned()), "{az:?}");
    }
    let ingress = alb_ingress(&aws, &s).await;
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    assert_eq!(ingress[0].0, 80);
    assert!(ingress[0].1.starts_with("pl-"), "{ingress:?}");

    // The distribution reaches it through the VPC origin, with the web ACL.
    let (config, _) = distribution(&aws, &id).await;
    let origin = &config.origins().unwrap().items()[0];
    assert_eq!(origin.domain_name(), lb.dns_name().unwrap());
    assert!(origin.vpc_origin_config().unwrap().vpc_origin_id().starts_with("vo_"));
    let acl = web_acl(&aws, &s).await;
    assert_eq!(config.web_acl_id(), acl.web_acl().map(|a| a.arn()));
    assert_eq!(acl.web_acl().unwrap().rules().len(), 4);
    let behaviors: Vec<&str> = config
        .cache_behaviors()
        .unwrap()
        .items()
        .iter()
        .map(|b| b.path_pattern())
        .collect();
    assert_eq!(behaviors, ["/api/products*", "/api/categories*"]);

    // status tells the edge's story; plan and a second up change nothing.
    let st = stack.ok("status", &[]);
    assert!(
        st.contains(&format!("Edge: CloudFront distribution {id} Deployed, enabled")),
        "{st}"
    );
    stack.ok("plan", &[]);
    let before = proxy.calls();
    stack.ok("up", &[]);
    let after = proxy.calls();
    let changed: Vec<&String> = after
        .iter()
        .filter(|(op, n)| is_mutation(op) && before.get(*op) != Some(n))
        .map(|(op, _)| op)
        .filter(|op| !op.starts_with("S3:"))
        .collect();
    assert!(changed.is_empty(), "a converged up changed {changed:?}");

    // Lost state: down still finds and deletes every edge resource.
    std::fs::remove_dir_all(&stack.p.state_dir).unwrap();
    stack.ok("down", &["--yes"]);
    assert_eq!(census(&aws, &s).await, empty_census());
    let broken = proxy.violations();
    assert!(broken.is_empty(), "requests that AWS would refuse: {broken:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_at_the_edge_is_reported_and_repaired() {
    let stack = Stack::new(&moto(MOTO), &suffix("edrift"));
    let s = stack.suffix.clone();
    stack.ok("up", &[]);
    let aws = stack.aws().await;
    let id = outputs(&stack)["CloudFrontDistributionId"].as_str().unwrap().to_owned();

    // Someone disables the distribution, removes the rate limit and opens
    // the load balancer's group to the internet again.
    let (config, etag) = distribution(&aws, &id).await;
    let mut off = config.clone();
    off.enabled = false;
    aws.cloudfront
        .update_distribution()
        .id(&id)
        .if_match(etag)
        .distribution_config(off)
        .send()
        .await
        .unwrap();
    let acl = web_acl(&aws, &s).await;
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
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .id(a.id())
        .lock_token(acl.lock_token().unwrap())
        .set_default_action(a.default_action().cloned())
        .set_rules(Some(fewer))
        .set_visibility_config(a.visibility_config().cloned())
        .send()
        .await
        .unwrap();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(sg_id(&aws, &s, "sg-alb").await)
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();

    stack.status_drifted(&[
        "wants enabled true",
        "rate-limit-per-ip",
        "ingress tcp:80:0.0.0.0/0 not allowed",
    ]);
    stack.ok("up", &[]);
    stack.ok("status", &[]);
    assert!(distribution(&aws, &id).await.0.enabled());
    assert_eq!(web_acl(&aws, &s).await.web_acl().unwrap().rules().len(), 4);
    assert!(alb_ingress(&aws, &s).await.iter().all(|(_, peer)| peer != "0.0.0.0/0"));
    stack.ok("down", &["--yes"]);
    assert_eq!(census(&aws, &s).await, empty_census());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_edge_keeps_a_public_load_balancer_and_turning_the_edge_off_leaves_nothing_behind() {
    let stack = Stack::new(&moto(MOTO), &suffix("noedge"));
    let s = stack.suffix.clone();
    stack.ok("up", &["--no-edge"]);
    let aws = stack.aws().await;
    assert_eq!(census(&aws, &s).await, full_census_without_edge());
    let ingress = alb_ingress(&aws, &s).await;
    assert!(ingress.contains(&(443, "0.0.0.0/0".into())), "{ingress:?}");
    let out = outputs(&stack);
    assert!(out.get("ApiUrl").is_none() && out["ALBDnsName"].is_string(), "{out}");
    // The recorded setting holds: a plain plan changes nothing.
    stack.ok("plan", &[]);

    // Turning the edge on is destructive (the load balancer is replaced):
    // refused without --yes, then done with it.
    let refused = stack.run("up", &["--edge"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_stderr_has(&refused, &["! edge: false -> true", "--yes"]);
    stack.ok("up", &["--edge", "--yes"]);
    assert_eq!(census(&aws, &s).await, full_census());
    stack.ok("status", &[]);

    // And off again: the edge's resources go, `down` leaves nothing.
    stack.ok("up", &["--no-edge", "--yes"]);
    stack.ok("down", &["--yes"]);
    assert_eq!(census(&aws, &s).await, empty_census());
}

#[tokio::test(flavor = "multi_thread")]
async fn edge_steps_run_alone_and_bad_edge_flags_are_refused_before_any_call() {
    let stack = Stack::new(&moto(MOTO), &suffix("estep"));
    for (flags, needle) in [
        (&["--domain", "api.example.com"][..], "--edge-certificate-arn"),
        (
            &[
                "--domain",
                "api.example.com",
                "--edge-certificate-arn",
                "arn:aws:acm:eu-west-1:123456789012:certificate/x",
            ][..],
            "us-east-1",
        ),
        (&["--rate-limit", "5"][..], "--rate-limit"),
        (&["--no-edge", "--domain", "api.example.com"][..], "--no-edge"),
    ] {
        let out = stack.run("plan", flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert_stderr_has(&out, &[needle, "hint:"]);
    }
    stack.ok("up", &[]);
    let aws = stack.aws().await;
    stack.ok("step", &["cf-metrics", "--undo"]);
    let st = stack.run("status", &[]);
    assert_eq!(st.status.code(), Some(3), "{}", stdout(&st));
    stack.ok("step", &["cf-metrics"]);
    stack.ok("status", &[]);
    stack.ok("down", &["--yes"]);
    assert_eq!(census(&aws, &stack.suffix).await, empty_census());
}
