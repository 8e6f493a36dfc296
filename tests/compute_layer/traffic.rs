//! The traffic part of the complete stack as the first `up` leaves it: the
//! load balancer, its access-log bucket, the blue and green target groups,
//! the listener and its one production rule.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the later parts of the test need of the traffic layer.
pub struct Traffic {
    pub blue: String,
    pub green: String,
    pub listener_arn: String,
    pub rule_arn: String,
}

/// Checks the load balancer, the access-log bucket, the target groups and
/// the listener with its rule against what the stack asks for.
pub async fn check_built(aws: &provision::aws::Clients, stack: &Stack, outputs: &BTreeMap<String, String>) -> Traffic {
    let s = &stack.suffix;
    // ------------------------------------------------ load balancer
    let lb = aws
        .elb
        .describe_load_balancers()
        .names(stack.name("alb", "api"))
        .send()
        .await
        .unwrap();
    assert_eq!(lb.load_balancers().len(), 1, "one load balancer, not a duplicate");
    let lb = &lb.load_balancers()[0];
    let lb_arn = lb.load_balancer_arn().unwrap().to_owned();
    // Behind CloudFront (the edge is on by default): off the internet.
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internal"));
    assert_eq!(lb.dns_name(), Some(outputs["ALBDnsName"].as_str()));
    assert_eq!(lb.security_groups(), [sg_id(aws, s, "sg-alb").await]);
    let mut lb_subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .map(str::to_owned)
        .collect();
    lb_subnets.sort();
    assert_eq!(lb_subnets, subnet_ids(aws, s, "private").await);
    let attrs = aws
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let attrs: BTreeMap<&str, &str> = attrs
        .attributes()
        .iter()
        .map(|a| (a.key().unwrap(), a.value().unwrap()))
        .collect();
    let bucket = format!("s3-alblogs-{s}-123456789012");
    assert_eq!(attrs["routing.http.drop_invalid_header_fields.enabled"], "true");
    assert_eq!(
        attrs["deletion_protection.enabled"], "false",
        "protected only with --protect-data"
    );
    assert_eq!(attrs["access_logs.s3.enabled"], "true");
    assert_eq!(attrs["access_logs.s3.bucket"], bucket);

    // ------------------------------------------------ access-log bucket
    let enc = aws.s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );
    let pab = aws.s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let lc = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(lc
        .rules()
        .iter()
        .any(|r| r.expiration().and_then(|e| e.days()) == Some(90)));
    let policy: Value = serde_json::from_str(
        aws.s3
            .get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    let policy_text = policy.to_string();
    assert!(policy_text.contains("aws:SecureTransport"), "{policy_text}");
    assert!(policy_text.contains("arn:aws:iam::783225319266:root"), "{policy_text}");

    // ------------------------------------------------ target groups
    let tgs = aws
        .elb
        .describe_target_groups()
        .names(stack.name("tg", "blue"))
        .names(stack.name("tg", "green"))
        .send()
        .await
        .unwrap();
    assert_eq!(tgs.target_groups().len(), 2);
    let mut tg_arns = BTreeMap::new();
    for tg in tgs.target_groups() {
        assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
        assert_eq!(tg.port(), Some(5000));
        assert_eq!(tg.health_check_path(), Some("/health"));
        assert_eq!(tg.health_check_interval_seconds(), Some(30));
        assert_eq!(tg.health_check_timeout_seconds(), Some(5));
        assert_eq!(tg.healthy_threshold_count(), Some(2));
        assert_eq!(tg.unhealthy_threshold_count(), Some(3));
        let arn = tg.target_group_arn().unwrap().to_owned();
        let a = aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(&arn)
            .send()
            .await
            .unwrap();
        let delay = a
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .unwrap();
        assert!(delay.parse::<i32>().unwrap() <= 30, "deregistration delay {delay}");
        tg_arns.insert(tg.target_group_name().unwrap().to_owned(), arn);
    }
    let (blue, green) = (
        tg_arns[&stack.name("tg", "blue")].clone(),
        tg_arns[&stack.name("tg", "green")].clone(),
    );

    // ------------------------------------------------ listener and the one rule
    let ls = aws
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(ls.listeners().len(), 1, "only HTTP without a certificate");
    let http = &ls.listeners()[0];
    assert_eq!(http.port(), Some(80));
    let fixed = http.default_actions()[0]
        .fixed_response_config()
        .expect("default action is a fixed response");
    assert_eq!(fixed.status_code(), Some("404"));
    assert_eq!(fixed.content_type(), Some("application/json"));
    let listener_arn = http.listener_arn().unwrap().to_owned();
    let rules = aws
        .elb
        .describe_rules()
        .listener_arn(&listener_arn)
        .send()
        .await
        .unwrap();
    let custom: Vec<_> = rules
        .rules()
        .iter()
        .filter(|r| !r.is_default().unwrap_or(false))
        .collect();
    assert_eq!(custom.len(), 1, "one production rule for both paths");
    let rule_arn = custom[0].rule_arn().unwrap().to_owned();
    let paths: Vec<&str> = custom[0].conditions()[0]
        .path_pattern_config()
        .unwrap()
        .values()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(paths, ["/api/*", "/health"]);
    let weights: BTreeMap<&str, i32> = custom[0].actions()[0]
        .forward_config()
        .unwrap()
        .target_groups()
        .iter()
        .map(|t| (t.target_group_arn().unwrap(), t.weight().unwrap()))
        .collect();
    assert_eq!(weights, BTreeMap::from([(blue.as_str(), 100), (green.as_str(), 0)]));

    Traffic {
        blue,
        green,
        listener_arn,
        rule_arn,
    }
}
