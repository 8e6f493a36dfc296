//! The ids of the steps that other steps name (as dependencies, or to read
//! their records). One constant per id, so an edge cannot name a step that
//! does not exist by a typo, and renaming a step is one change.
//!
//! Step ids repeated per zone or tier (`subnet-private-a`, `nat-b`, …) are
//! built by their family's functions (`network::subnet_step`,
//! `network::nat_step`, `network::eip_step`, `network::private_route_table_step`).

pub const VPC: &str = "vpc";
pub const IGW: &str = "igw";
pub const RT_PUBLIC: &str = "rt-public";
pub const RT_ISOLATED: &str = "rt-isolated";
pub const SG_ALB: &str = "sg-alb";
pub const SG_APP: &str = "sg-app";
pub const SG_DB: &str = "sg-db";
pub const SG_DEFAULT: &str = "sg-default";
pub const VPCE_S3: &str = "vpce-s3";
pub const LOG_APP: &str = "log-app";
pub const LOG_OTEL: &str = "log-otel";
pub const LOG_DB: &str = "log-db";
pub const LOG_VPC_FLOW: &str = "log-vpc-flow";
pub const ROLE_EXEC: &str = "role-exec";
pub const ROLE_TASK: &str = "role-task";
pub const ROLE_ECS_INFRA: &str = "role-ecs-infra";
pub const ROLE_FLOWLOGS: &str = "role-flowlogs";
pub const ECR_REPO: &str = "ecr-repo";
pub const DB_SUBNETS: &str = "db-subnets";
pub const DB_PARAMS: &str = "db-params";
pub const DB_CLUSTER: &str = "db-cluster";
pub const DB_WRITER: &str = "db-writer";
pub const DB_READER: &str = "db-reader";
pub const SECRET_DB_CREDENTIALS: &str = "secret-db-credentials";
pub const SECRET_DB_CONNECTION: &str = "secret-db-connection";
pub const SECRET_DB_CONNECTION_POLICY: &str = "secret-db-connection-policy";
pub const ALB_LOGS: &str = "alb-logs";
pub const ALB: &str = "alb";
pub const TG_BLUE: &str = "tg-blue";
pub const TG_GREEN: &str = "tg-green";
pub const RULE_API: &str = "rule-api";
pub const ECS_CLUSTER: &str = "ecs-cluster";
pub const TASK_DEF: &str = "task-def";
pub const ECS_SERVICE: &str = "ecs-service";
pub const SCALING_TARGET: &str = "scaling-target";
pub const KMS_ALARMS: &str = "kms-alarms";
pub const SNS_ALARMS: &str = "sns-alarms";
pub const DASHBOARD: &str = "dashboard";
pub const LOG_EDGE: &str = "log-edge";
pub const VPC_ORIGIN: &str = "vpc-origin";
pub const WEB_ACL: &str = "waf-acl";
pub const DISTRIBUTION: &str = "cf-distribution";
pub const EDGE_LOGS: &str = "cf-logs";
pub const EDGE_METRICS: &str = "cf-metrics";
pub const DDB_IDEMPOTENCY: &str = "ddb-idempotency";
pub const VPCE_DYNAMODB: &str = "vpce-dynamodb";
