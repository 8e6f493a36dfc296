//! The compute, traffic, scaling and observability layer end to end against
//! the moto server, through the real binary, for the complete stack.
//!
//! moto 5.2.5 lacks `DescribeDBEngineVersions` (the data layer needs it);
//! the project's proxy in front of moto (`scripts/fault_proxy.py`, via
//! `common::moto`) answers it.
//!
//! What moto drops (so asserted only where it keeps it): CreateService
//! discards `capacityProviderStrategy`, `deploymentConfiguration`,
//! `healthCheckGracePeriodSeconds`, `enableECSManagedTags` and
//! `enableExecuteCommand` (a unit test in `src/steps/ecs.rs` asserts the
//! request carries them; UpdateService keeps them, so the second `up`
//! repairs the service and the third finds it converged); services run as
//! `EC2` with `runningCount` from `MOTO_ECS_SERVICE_RUNNING`; deployments
//! complete at once and keep their first task definition.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Output;

const MOTO: &str = "compute";

// ---------------------------------------------------------------- helpers

/// `(created, repaired)` from the `up: N created, M repaired, ...` line.
fn up_counts(out: &Output) -> (usize, usize) {
    let err = stderr(out);
    let line = err
        .lines()
        .find(|l| l.starts_with("up: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{err}"));
    let n = |word: &str| -> usize {
        let before = line.split(&format!(" {word}")).next().unwrap();
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (n("created"), n("repaired"))
}

fn has_ecs_tag(tags: &[aws_sdk_ecs::types::Tag], k: &str, v: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(k) && t.value() == Some(v))
}

async fn sg_id(aws: &provision::aws::Clients, suffix: &str, step: &str) -> String {
    let f = aws_sdk_ec2::types::Filter::builder()
        .name("tag:provision:step")
        .values(step)
        .build();
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tag_filter(suffix))
        .filters(f)
        .send()
        .await
        .unwrap();
    out.security_groups()[0].group_id().unwrap().to_owned()
}

async fn subnet_ids(aws: &provision::aws::Clients, suffix: &str, tier: &str) -> Vec<String> {
    let f = aws_sdk_ec2::types::Filter::builder()
        .name("tag:Tier")
        .values(tier)
        .build();
    let out = aws
        .ec2
        .describe_subnets()
        .filters(tag_filter(suffix))
        .filters(f)
        .send()
        .await
        .unwrap();
    let mut v: Vec<String> = out
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn active_task_definitions(aws: &provision::aws::Clients, family: &str) -> Vec<String> {
    aws.ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .to_vec()
}

/// What of this layer is left for the suffix.
async fn compute_leftovers(aws: &provision::aws::Clients, stack: &Stack) -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(o) = aws
        .elb
        .describe_load_balancers()
        .names(stack.name("alb", "api"))
        .send()
        .await
    {
        left.extend(
            o.load_balancers()
                .iter()
                .map(|l| format!("load balancer {:?}", l.load_balancer_name())),
        );
    }
    for c in ["blue", "green"] {
        if let Ok(o) = aws.elb.describe_target_groups().names(stack.name("tg", c)).send().await {
            left.extend(
                o.target_groups()
                    .iter()
                    .map(|t| format!("target group {:?}", t.target_group_name())),
            );
        }
    }
    let clusters = aws
        .ecs
        .describe_clusters()
        .clusters(stack.name("ecs", "api"))
        .send()
        .await
        .unwrap();
    left.extend(
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .map(|c| format!("cluster {:?}", c.cluster_name())),
    );
    if let Ok(s) = aws
        .ecs
        .describe_services()
        .cluster(stack.name("ecs", "api"))
        .services(stack.name("svc", "api"))
        .send()
        .await
    {
        left.extend(
            s.services()
                .iter()
                .filter(|s| s.status() == Some("ACTIVE"))
                .map(|s| format!("service {:?}", s.service_name())),
        );
    }
    left.extend(
        active_task_definitions(aws, &stack.name("task", "api"))
            .await
            .into_iter()
            .map(|t| format!("task definition {t}")),
    );
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    left.extend(
        targets
            .scalable_targets()
            .iter()
            .filter(|t| t.resource_id().ends_with(&format!("/svc-api-{}", stack.suffix)))
            .map(|t| format!("scalable target {}", t.resource_id())),
    );
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("alarm-")
        .send()
        .await
        .unwrap();
    left.extend(
        alarms
            .metric_alarms()
            .iter()
            .filter(|a| {
                a.alarm_name()
                    .unwrap_or_default()
                    .ends_with(&format!("-{}", stack.suffix))
            })
            .map(|a| format!("alarm {:?}", a.alarm_name())),
    );
    if aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(stack.name("dashboard", "api"))
        .send()
        .await
        .is_ok()
    {
        left.push("dashboard".into());
    }
    let topics = aws.sns.list_topics().send().await.unwrap();
    left.extend(
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .filter(|a| a.ends_with(&format!(":sns-alarms-{}", stack.suffix)))
            .map(|a| format!("topic {a}")),
    );
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    left.extend(
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(&format!("s3-alblogs-{}-", stack.suffix)))
            .map(|n| format!("bucket {n}")),
    );
    left
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread")]
async fn the_compute_layer_is_built_converges_repairs_drift_deploys_and_is_torn_down() {
    let stack = Stack::new(&moto(MOTO), &suffix("cmp"));
    let aws = &stack.aws().await;
    let s = stack.suffix.clone();

    // ------------------------------------------------ first up
    let out = stack.ok_output(
        "up",
        &["--alarm-email", "ops@example.com", "--outputs", "out/flat.json"],
    );
    let (created, _) = up_counts(&out);
    assert!(created > 40, "the whole stack is created: {}", stderr(&out));
    // A fresh repository has no image (and this machine no container
    // engine): the service runs no task, and up says how to bring it up.
    let err = stderr(&out);
    assert!(
        err.contains("the service runs no task yet") && err.contains("provision image push --suffix"),
        "{err}"
    );
    let outputs: BTreeMap<String, String> = serde_json::from_str(&stdout(&out)).expect("outputs JSON on stdout");
    for k in [
        "ALBDnsName",
        "CloudWatchDashboardUrl",
        "ECSClusterName",
        "ECSServiceName",
    ] {
        assert!(
            outputs.get(k).is_some_and(|v| !v.is_empty()),
            "output {k} missing: {outputs:?}"
        );
    }
    assert_eq!(outputs["ECSClusterName"], format!("ecs-api-{s}"));
    assert_eq!(outputs["ECSServiceName"], format!("svc-api-{s}"));
    assert_eq!(
        outputs["CloudWatchDashboardUrl"],
        format!(
            "https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name=dashboard-api-{s}"
        )
    );
    let file: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(stack.p.workdir.join("out/flat.json")).unwrap()).unwrap();
    assert_eq!(file, outputs);

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
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.dns_name(), Some(outputs["ALBDnsName"].as_str()));
    assert_eq!(lb.security_groups(), [sg_id(aws, &s, "sg-alb").await]);
    let mut lb_subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .map(str::to_owned)
        .collect();
    lb_subnets.sort();
    assert_eq!(lb_subnets, subnet_ids(aws, &s, "public").await);
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

    // ------------------------------------------------ cluster
    let cl = aws
        .ecs
        .describe_clusters()
        .clusters(stack.name("ecs", "api"))
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .unwrap();
    let cl = &cl.clusters()[0];
    assert!(cl
        .settings()
        .iter()
        .any(|x| x.name().map(|n| n.as_str()) == Some("containerInsights") && x.value() == Some("enhanced")));
    let mut providers = cl.capacity_providers().to_vec();
    providers.sort();
    assert_eq!(providers, ["FARGATE", "FARGATE_SPOT"]);
    let strategy: BTreeMap<&str, (i32, i32)> = cl
        .default_capacity_provider_strategy()
        .iter()
        .map(|i| (i.capacity_provider(), (i.weight(), i.base())))
        .collect();
    assert_eq!(
        strategy,
        BTreeMap::from([("FARGATE", (30, 1)), ("FARGATE_SPOT", (70, 0))])
    );
    assert!(has_ecs_tag(cl.tags(), "EnvironmentSuffix", &s));

    // ------------------------------------------------ task definition
    let family = stack.name("task", "api");
    let revisions = active_task_definitions(aws, &family).await;
    assert_eq!(revisions.len(), 1, "{revisions:?}");
    let td = aws
        .ecs
        .describe_task_definition()
        .task_definition(&revisions[0])
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("1024")));
    assert_eq!(td.network_mode().map(|m| m.as_str()), Some("awsvpc"));
    assert_eq!(td.requires_compatibilities()[0].as_str(), "FARGATE");
    let rp = td.runtime_platform().unwrap();
    assert_eq!(rp.operating_system_family().map(|o| o.as_str()), Some("LINUX"));
    assert_eq!(rp.cpu_architecture().map(|c| c.as_str()), Some("X86_64"));
    assert!(td.execution_role_arn().unwrap().ends_with(&format!("role-exec-{s}")));
    assert!(td.task_role_arn().unwrap().ends_with(&format!("role-task-{s}")));
    let app = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap();
    assert!(app.image().unwrap().ends_with(":latest"), "{:?}", app.image());
    assert_eq!(app.port_mappings()[0].container_port(), Some(5000));
    let secrets: BTreeMap<&str, &str> = app.secrets().iter().map(|x| (x.name(), x.value_from())).collect();
    assert!(secrets["DB_HOST"].ends_with(":host::"), "{secrets:?}");
    assert!(secrets["DB_PORT"].ends_with(":port::"));
    assert!(secrets["DB_NAME"].ends_with(":dbname::"));
    // No password injected at start: the app reads the credentials secret
    // itself (surviving rotations) and queries as its IAM-auth role.
    assert!(
        !secrets.contains_key("DB_USERNAME") && !secrets.contains_key("DB_PASSWORD"),
        "{secrets:?}"
    );
    let env_vars: BTreeMap<&str, &str> = app
        .environment()
        .iter()
        .map(|e| (e.name().unwrap(), e.value().unwrap()))
        .collect();
    assert!(
        env_vars["DB_SECRET_ARN"].contains(":secret:rds!cluster-"),
        "{env_vars:?}"
    );
    assert_eq!(env_vars["DB_IAM_AUTH"], "1");
    assert_eq!(env_vars["DB_APP_USER"], "catalog_app");
    assert_eq!(env_vars["PORT"], "5000");
    assert_eq!(env_vars["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://localhost:4318");
    assert_eq!(env_vars["AWS_REGION"], REGION);
    assert!(env_vars.contains_key("OTEL_SERVICE_NAME"));
    assert_eq!(app.stop_timeout(), Some(120));
    assert_eq!(app.essential(), Some(true));
    assert_eq!(
        app.log_configuration().unwrap().options().unwrap()["awslogs-group"],
        format!("/provision/{s}/app")
    );
    assert!(app
        .health_check()
        .unwrap()
        .command()
        .join(" ")
        .contains("healthcheck.py"));
    assert_eq!(app.depends_on()[0].container_name(), "otel-collector");
    let otel = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("otel-collector"))
        .unwrap();
    assert_eq!(otel.essential(), Some(false));
    assert_eq!(
        otel.image(),
        Some("public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3")
    );
    assert_eq!(
        otel.log_configuration().unwrap().options().unwrap()["awslogs-group"],
        format!("/provision/{s}/otel-collector")
    );

    // ------------------------------------------------ service
    let svc = aws
        .ecs
        .describe_services()
        .cluster(stack.name("ecs", "api"))
        .services(stack.name("svc", "api"))
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let svc = svc.services()[0].clone();
    assert_eq!(svc.status(), Some("ACTIVE"));
    assert_eq!(svc.desired_count(), 0, "no image in the registry yet: no task");
    assert_eq!(svc.task_definition(), Some(revisions[0].as_str()));
    let net = svc.network_configuration().unwrap().awsvpc_configuration().unwrap();
    assert_eq!(net.assign_public_ip().map(|a| a.as_str()), Some("DISABLED"));
    let mut svc_subnets = net.subnets().to_vec();
    svc_subnets.sort();
    assert_eq!(svc_subnets, subnet_ids(aws, &s, "private").await);
    assert_eq!(net.security_groups(), [sg_id(aws, &s, "sg-app").await]);
    let lbs = svc.load_balancers();
    assert_eq!(lbs.len(), 1);
    assert_eq!(lbs[0].target_group_arn(), Some(blue.as_str()));
    assert_eq!(
        (lbs[0].container_name(), lbs[0].container_port()),
        (Some("app"), Some(5000))
    );
    let adv = lbs[0].advanced_configuration().expect("advancedConfiguration kept");
    assert_eq!(adv.alternate_target_group_arn(), Some(green.as_str()));
    assert_eq!(adv.production_listener_rule(), Some(rule_arn.as_str()));
    assert!(
        adv.role_arn().unwrap().contains(&format!("role-ecsinfra-{s}")) || adv.role_arn().unwrap().contains("infra")
    );
    assert_eq!(svc.propagate_tags().map(|p| p.as_str()), Some("SERVICE"));
    assert!(has_ecs_tag(svc.tags(), "provision:step", "ecs-service"));

    // ------------------------------------------------ auto scaling
    let rid = format!("service/ecs-api-{s}/svc-api-{s}");
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&rid)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.scalable_targets().len(), 1);
    let t = &targets.scalable_targets()[0];
    // Floor 0 until an image is deployed (a floor of 2 would start tasks
    // that cannot pull); the first deploy raises it to 2.
    assert_eq!((t.min_capacity(), t.max_capacity()), (0, 10));
    assert_eq!(t.scalable_dimension().as_str(), "ecs:service:DesiredCount");
    let pol = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(&rid)
        .send()
        .await
        .unwrap();
    assert_eq!(pol.scaling_policies().len(), 1);
    let tt = pol.scaling_policies()[0]
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    assert_eq!(tt.target_value(), 70.0);
    assert_eq!((tt.scale_in_cooldown(), tt.scale_out_cooldown()), (Some(60), Some(60)));
    assert_eq!(
        tt.predefined_metric_specification()
            .unwrap()
            .predefined_metric_type()
            .as_str(),
        "ECSServiceAverageCPUUtilization"
    );

    // ------------------------------------------------ topic, alarms, dashboard
    let topic = format!("arn:aws:sns:{REGION}:123456789012:sns-alarms-{s}");
    let ta = aws.sns.get_topic_attributes().topic_arn(&topic).send().await.unwrap();
    // The topic is encrypted with the stack's own customer managed key (its
    // policy lets CloudWatch publish), never with alias/aws/sns.
    let alias = aws
        .kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some(&format!("alias/kms-alarms-{s}")))
        .and_then(|a| a.target_key_id().map(str::to_owned))
        .expect("the alarm topic's key has its alias");
    let key_arn = aws
        .kms
        .describe_key()
        .key_id(&alias)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    assert_eq!(
        ta.attributes().unwrap().get("KmsMasterKeyId").map(String::as_str),
        Some(key_arn.as_str())
    );
    let subs = aws
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(subs
        .subscriptions()
        .iter()
        .any(|x| x.protocol() == Some("email") && x.endpoint() == Some("ops@example.com")));
    let names: Vec<String> = ["cpu", "tasks", "5xx", "unhealthy", "db-cpu"]
        .iter()
        .map(|p| format!("alarm-{p}-{s}"))
        .collect();
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.metric_alarms().len(), 5);
    for a in alarms.metric_alarms() {
        assert_eq!(a.alarm_actions(), std::slice::from_ref(&topic), "{:?}", a.alarm_name());
        assert_eq!(a.ok_actions(), std::slice::from_ref(&topic), "{:?}", a.alarm_name());
    }
    let by_name: BTreeMap<&str, &aws_sdk_cloudwatch::types::MetricAlarm> = alarms
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap(), a))
        .collect();
    let cpu = by_name[format!("alarm-cpu-{s}").as_str()];
    assert_eq!(
        (cpu.namespace(), cpu.metric_name(), cpu.threshold()),
        (Some("AWS/ECS"), Some("CPUUtilization"), Some(80.0))
    );
    assert_eq!((cpu.period(), cpu.evaluation_periods()), (Some(60), Some(2)));
    let tasks = by_name[format!("alarm-tasks-{s}").as_str()];
    assert_eq!(tasks.metric_name(), Some("RunningTaskCount"));
    assert_eq!(tasks.treat_missing_data(), Some("breaching"));
    let db = by_name[format!("alarm-db-cpu-{s}").as_str()];
    assert_eq!(db.namespace(), Some("AWS/RDS"));
    assert_eq!(db.dimensions()[0].name(), Some("DBClusterIdentifier"));
    let unhealthy = by_name[format!("alarm-unhealthy-{s}").as_str()];
    assert!(unhealthy
        .metrics()
        .iter()
        .any(|q| q.metric_stat().and_then(|m| m.metric()).and_then(|m| m.metric_name()) == Some("UnHealthyHostCount")));
    let dash = aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(stack.name("dashboard", "api"))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(dash.dashboard_body().unwrap()).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 7);
    assert!(widgets.iter().all(|w| w["properties"]["region"] == REGION));

    // ------------------------------------------------ second and third up
    // moto dropped the service's strategy and deployment configuration on
    // create: the second run puts them back; the third finds nothing to do.
    let out = stack.ok_output("up", &["--alarm-email", "ops@example.com"]);
    assert_eq!(up_counts(&out).0, 0, "second up creates nothing: {}", stderr(&out));
    let svc = aws
        .ecs
        .describe_services()
        .cluster(stack.name("ecs", "api"))
        .services(stack.name("svc", "api"))
        .send()
        .await
        .unwrap();
    let svc = &svc.services()[0];
    let strategy: BTreeMap<&str, (i32, i32)> = svc
        .capacity_provider_strategy()
        .iter()
        .map(|i| (i.capacity_provider(), (i.weight(), i.base())))
        .collect();
    assert_eq!(
        strategy,
        BTreeMap::from([("FARGATE", (30, 1)), ("FARGATE_SPOT", (70, 0))])
    );
    assert!(svc.launch_type().is_none() || !svc.capacity_provider_strategy().is_empty());
    let dc = svc.deployment_configuration().unwrap();
    assert_eq!(dc.strategy().map(|x| x.as_str()), Some("BLUE_GREEN"));
    assert!(dc
        .deployment_circuit_breaker()
        .is_some_and(|c| c.enable() && c.rollback()));
    assert_eq!(svc.health_check_grace_period_seconds(), Some(60));
    let out = stack.ok_output("up", &["--alarm-email", "ops@example.com"]);
    assert_eq!(up_counts(&out), (0, 0), "third up is a no-op: {}", stderr(&out));
    assert_eq!(
        active_task_definitions(aws, &family).await.len(),
        1,
        "no revision registered without a change"
    );

    // ------------------------------------------------ status --json
    let doc: Value = serde_json::from_str(&stack.ok("status", &["--json", "--alarm-email", "ops@example.com"]))
        .expect("status --json is JSON");
    assert_eq!(doc["converged"], true, "{doc:#}");
    for k in [
        "ALBDnsName",
        "CloudWatchDashboardUrl",
        "ECSClusterName",
        "ECSServiceName",
    ] {
        assert_eq!(doc["outputs"][k], outputs[k].as_str(), "{k}");
    }
    assert_eq!(
        doc["details"]["ecs_service"]["desired"], 0,
        "no image yet: {:#}",
        doc["details"]
    );
    assert!(doc["details"]["target_health"].is_object(), "{:#}", doc["details"]);

    // ------------------------------------------------ drift is reported and repaired
    use aws_sdk_elasticloadbalancingv2::types::{PathPatternConditionConfig, RuleCondition};
    aws.elb
        .modify_rule()
        .rule_arn(&rule_arn)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().values("/api/*").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.elb
        .modify_listener()
        .listener_arn(&listener_arn)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&blue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(format!("alarm-cpu-{s}"))
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("ClusterName")
                .value(stack.name("ecs", "api"))
                .build(),
        )
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("ServiceName")
                .value(stack.name("svc", "api"))
                .build(),
        )
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(2)
        .threshold(99.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let out = stack.run("status", &["--json", "--alarm-email", "ops@example.com"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "drift makes status exit 3: {}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let drifted: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "drifted")
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    for step in ["rule-api", "listener-http", "alarm-cpu"] {
        assert!(drifted.contains(&step), "{step} not drifted: {drifted:?}");
    }
    let out = stack.ok_output("up", &["--alarm-email", "ops@example.com"]);
    assert_eq!(up_counts(&out), (0, 3), "{}", stderr(&out));
    let rules = aws.elb.describe_rules().rule_arns(&rule_arn).send().await.unwrap();
    let paths = rules.rules()[0].conditions()[0]
        .path_pattern_config()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(paths, ["/api/*", "/health"]);
    let ls = aws
        .elb
        .describe_listeners()
        .listener_arns(&listener_arn)
        .send()
        .await
        .unwrap();
    assert!(ls.listeners()[0].default_actions()[0].fixed_response_config().is_some());
    let a = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(format!("alarm-cpu-{s}"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.metric_alarms()[0].threshold(), Some(80.0));
    assert_eq!(a.metric_alarms()[0].alarm_actions(), std::slice::from_ref(&topic));

    // ------------------------------------------------ deploy
    // A tag that is not in the registry is refused before any revision.
    let out = stack.run("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not in the repository"), "{}", stderr(&out));
    assert_eq!(active_task_definitions(aws, &family).await.len(), 1);
    put_image(aws, &stack.name("ecr", "api"), "v2").await;
    let report = stack.ok("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    assert!(
        report.contains("deployment ") && report.contains("completed"),
        "{report}"
    );
    let revisions = active_task_definitions(aws, &family).await;
    assert_eq!(revisions.len(), 2, "deploy registered a revision: {revisions:?}");
    let newest = revisions
        .iter()
        .max_by_key(|a| a.rsplit(':').next().unwrap().parse::<u32>().unwrap())
        .unwrap();
    assert!(report.contains(newest.as_str()), "{report}");
    let td = aws
        .ecs
        .describe_task_definition()
        .task_definition(newest)
        .send()
        .await
        .unwrap();
    let app = td
        .task_definition()
        .unwrap()
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap()
        .clone();
    assert!(app.image().unwrap().ends_with(":v2"), "{:?}", app.image());
    let svc = aws
        .ecs
        .describe_services()
        .cluster(stack.name("ecs", "api"))
        .services(stack.name("svc", "api"))
        .send()
        .await
        .unwrap();
    assert_eq!(svc.services()[0].task_definition(), Some(newest.as_str()));
    // The first deployed image starts the configured tasks, and auto
    // scaling's floor is back at 2.
    assert_eq!(svc.services()[0].desired_count(), 2);
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&rid)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.scalable_targets()[0].min_capacity(), 2);

    // ------------------------------------------------ down
    stack.ok("down", &["--yes"]);
    let left = compute_leftovers(aws, &stack).await;
    assert!(left.is_empty(), "left after down: {left:?}");
    let all = aws
        .ecs
        .list_task_definitions()
        .family_prefix(&family)
        .send()
        .await
        .unwrap();
    assert!(
        all.task_definition_arns().is_empty(),
        "{:?}",
        all.task_definition_arns()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_before_up_says_to_run_up_first() {
    let stack = Stack::new(&moto(MOTO), &suffix("cmpd"));
    let aws = &stack.aws().await;
    let out = stack.run("deploy", &["--image-tag", "v2", "--timeout", "30"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("provision up"), "{}", stderr(&out));
    assert!(compute_leftovers(aws, &stack).await.is_empty());
}
