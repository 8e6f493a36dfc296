//! SDK clients pointed at the emulator, for assertions that look at what
//! the binary did from the outside (never through `provision` itself), and
//! the look-ups of a stack's resources that several test binaries make.

use super::REGION;
use provision::aws::Clients;

/// SDK clients pointed at the emulator, for assertions.
pub async fn clients(endpoint: &str) -> Clients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    Clients::from_conf(&conf)
}

/// The EC2 filter on a tag: `key` is `value`.
pub fn tag_is(key: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// The EC2 filter on the stack `suffix`'s own tag.
pub fn tag_filter(suffix: &str) -> aws_sdk_ec2::types::Filter {
    tag_is("EnvironmentSuffix", suffix)
}

/// The id of the stack's security group that `step` made (`sg-app`, ...).
pub async fn sg_id(aws: &Clients, suffix: &str, step: &str) -> String {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tag_filter(suffix))
        .filters(tag_is("provision:step", step))
        .send()
        .await
        .unwrap();
    out.security_groups()[0].group_id().unwrap().to_owned()
}

/// The ids of the stack's subnets of a tier (`public`, ...), sorted.
pub async fn subnet_ids(aws: &Clients, suffix: &str, tier: &str) -> Vec<String> {
    let out = aws
        .ec2
        .describe_subnets()
        .filters(tag_filter(suffix))
        .filters(tag_is("Tier", tier))
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

/// The ARN of the KMS key `key_id` names (an id, an ARN or `alias/…`).
pub async fn key_arn(aws: &Clients, key_id: &str) -> String {
    aws.kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

/// The stack's IAM roles (all under the path `/provision/{suffix}/`).
pub async fn stack_roles(aws: &Clients, suffix: &str) -> Vec<aws_sdk_iam::types::Role> {
    aws.iam
        .list_roles()
        .path_prefix(format!("/provision/{suffix}/"))
        .send()
        .await
        .unwrap()
        .roles()
        .to_vec()
}

/// The log groups whose names start with `prefix`.
pub async fn log_groups(aws: &Clients, prefix: &str) -> Vec<aws_sdk_cloudwatchlogs::types::LogGroup> {
    aws.logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .send()
        .await
        .unwrap()
        .log_groups()
        .to_vec()
}

/// The stack's Aurora cluster (`aurora-catalog-{suffix}`).
pub async fn db_cluster(aws: &Clients, suffix: &str) -> aws_sdk_rds::types::DbCluster {
    aws.rds
        .describe_db_clusters()
        .db_cluster_identifier(format!("aurora-catalog-{suffix}"))
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .clone()
}

/// The ARNs of the ACTIVE revisions of the task definition `family`.
pub async fn active_task_definitions(aws: &Clients, family: &str) -> Vec<String> {
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

/// The stack's ECS service (`svc-api-{suffix}` in `ecs-api-{suffix}`).
pub async fn ecs_service(aws: &Clients, suffix: &str) -> aws_sdk_ecs::types::Service {
    aws.ecs
        .describe_services()
        .cluster(format!("ecs-api-{suffix}"))
        .services(format!("svc-api-{suffix}"))
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

/// The `app` container of the task definition `td`.
pub async fn app_container(aws: &Clients, td: &str) -> aws_sdk_ecs::types::ContainerDefinition {
    aws.ecs
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .expect("the task definition has an app container")
        .clone()
}
