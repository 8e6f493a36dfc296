//! The ECS part of the complete stack as the first `up` leaves it: the
//! cluster, the task definition, the service (no task until an image is
//! deployed) and its auto scaling.

use crate::common::*;
use crate::traffic::Traffic;
use crate::{assert_spot_mix, service_resource_id, service_scalable_targets};
use std::collections::BTreeMap;

fn has_ecs_tag(tags: &[aws_sdk_ecs::types::Tag], k: &str, v: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(k) && t.value() == Some(v))
}

/// Checks the cluster, the task definition, the service and its scaling
/// against what the stack asks for.
pub async fn check_built(aws: &provision::aws::Clients, stack: &Stack, traffic: &Traffic) {
    let s = &stack.suffix;
    let Traffic {
        blue, green, rule_arn, ..
    } = traffic;
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
    assert_spot_mix(cl.default_capacity_provider_strategy());
    assert!(has_ecs_tag(cl.tags(), "EnvironmentSuffix", s));

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
    assert_eq!(svc_subnets, subnet_ids(aws, s, "private").await);
    assert_eq!(net.security_groups(), [sg_id(aws, s, "sg-app").await]);
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
    let rid = service_resource_id(stack);
    let targets = service_scalable_targets(aws, stack).await;
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
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
}
