//! Compute: the ECS cluster (Fargate and Fargate Spot, Container Insights),
//! the task definition (the app and an ADOT collector sidecar), and the
//! service, deployed with ECS native blue/green behind the load balancer's
//! production rule. Also `provision deploy` and the service's `status`.

use super::load_balancer::Color;
use super::network::{subnet_steps, Tier, APP_PORT};
use super::{build_err, waiter_err, Ctx, Dep, Step, StepRef, StepResult, Timing};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt};
use crate::config::Settings;
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_ecs::client::Waiters;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ClusterField,
    ClusterSetting, ClusterSettingName, Compatibility, ContainerCondition, ContainerDefinition, ContainerDependency,
    CpuArchitecture, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStrategy, HealthCheck, KeyValuePair,
    LoadBalancer, LogConfiguration, LogDriver, MountPoint, NetworkConfiguration, NetworkMode, OsFamily, PortMapping,
    PropagateTags, RuntimePlatform, Secret, Service as EcsService, ServiceField, SortOrder, Tag, TaskDefinition,
    TaskDefinitionStatus, TransportProtocol, Volume,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const APP_CONTAINER: &str = "app";
pub const OTEL_CONTAINER: &str = "otel-collector";
/// Pinned ADOT collector; its bundled config receives OTLP and exports
/// traces to X-Ray and metrics to CloudWatch.
pub const OTEL_IMAGE: &str = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3";
pub const OTEL_CONFIG: &str = "--config=/etc/ecs/ecs-default-config.yaml";
pub const DESIRED_COUNT: i32 = 2;
pub const HEALTH_GRACE_SECONDS: i32 = 60;
pub const BAKE_MINUTES: i32 = 5;
pub const STOP_TIMEOUT: i32 = 120;

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    vec![
        Arc::new(Cluster),
        Arc::new(TaskDef {
            own_image: settings.image.is_none(),
        }),
        Arc::new(Service),
    ]
}

pub fn cluster_name(cx: &Ctx) -> String {
    cx.name("ecs", "api")
}

pub fn service_name(cx: &Ctx) -> String {
    cx.name("svc", "api")
}

pub fn family(cx: &Ctx) -> String {
    cx.name("task", "api")
}

fn ecs_tags(cx: &Ctx, name: &str, step: &str) -> Vec<Tag> {
    cx.tags(name, step)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// FARGATE_SPOT for `spot`% of the tasks, FARGATE for the rest and for the
/// first task (base 1), so one task survives a Spot reclaim wave.
pub fn capacity_strategy(spot: u32) -> StepResult<Vec<CapacityProviderStrategyItem>> {
    let spot = spot.min(100) as i32;
    Ok(vec![
        CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE_SPOT")
            .weight(spot)
            .base(0)
            .build()
            .map_err(build_err)?,
        CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE")
            .weight(100 - spot)
            .base(1)
            .build()
            .map_err(build_err)?,
    ])
}

fn strategy_key(items: &[CapacityProviderStrategyItem]) -> Vec<(String, i32, i32)> {
    let mut v: Vec<(String, i32, i32)> = items
        .iter()
        .map(|i| (i.capacity_provider().to_owned(), i.weight(), i.base()))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------- inventory

async fn clusters(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_ecs::types::Cluster>>> {
    cx.inventory
        .get("ecs:clusters", || async {
            let out = cx
                .aws
                .ecs
                .describe_clusters()
                .clusters(cluster_name(cx))
                .include(ClusterField::Settings)
                .include(ClusterField::Tags)
                .send()
                .await
                .aws("DescribeClusters")?;
            Ok(out
                .clusters()
                .iter()
                .filter(|c| c.status() == Some("ACTIVE"))
                .cloned()
                .collect())
        })
        .await
}

/// The stack's service as AWS sees it (ACTIVE only).
pub async fn services(cx: &Ctx) -> StepResult<Arc<Vec<EcsService>>> {
    cx.inventory
        .get("ecs:services", || async {
            let r = cx
                .aws
                .ecs
                .describe_services()
                .cluster(cluster_name(cx))
                .services(service_name(cx))
                .include(ServiceField::Tags)
                .send()
                .await
                .aws("DescribeServices");
            match r {
                Ok(out) => Ok(out
                    .services()
                    .iter()
                    .filter(|s| s.status() == Some("ACTIVE"))
                    .cloned()
                    .collect()),
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .await
}

async fn describe_service(cx: &Ctx) -> StepResult<Option<EcsService>> {
    let out = cx
        .aws
        .ecs
        .describe_services()
        .cluster(cluster_name(cx))
        .services(service_name(cx))
        .send()
        .await
        .aws("DescribeServices")?;
    Ok(out.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned())
}

// ---------------------------------------------------------------- cluster

pub struct Cluster;

impl Cluster {
    async fn put_capacity_providers(cx: &Ctx) -> StepResult<()> {
        cx.aws
            .ecs
            .put_cluster_capacity_providers()
            .cluster(cluster_name(cx))
            .capacity_providers("FARGATE")
            .capacity_providers("FARGATE_SPOT")
            .set_default_capacity_provider_strategy(Some(capacity_strategy(cx.settings.spot_percent)?))
            .send()
            .await
            .aws("PutClusterCapacityProviders")?;
        Ok(())
    }

    async fn set_insights(cx: &Ctx) -> StepResult<String> {
        for value in ["enhanced", "enabled"] {
            let r = cx
                .aws
                .ecs
                .update_cluster_settings()
                .cluster(cluster_name(cx))
                .settings(
                    ClusterSetting::builder()
                        .name(ClusterSettingName::ContainerInsights)
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .aws("UpdateClusterSettings");
            match r {
                Err(e) if value == "enhanced" && e.code_is("InvalidParameterException") => continue,
                r => {
                    r?;
                    return Ok(value.into());
                }
            }
        }
        unreachable!("the loop returns on the last value")
    }
}

#[async_trait]
impl Step for Cluster {
    fn id(&self) -> &str {
        "ecs-cluster"
    }
    fn kind(&self) -> &'static str {
        "ecs-cluster"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(clusters(cx).await?.first().map(|c| {
            let insights = c
                .settings()
                .iter()
                .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
                .and_then(|s| s.value())
                .unwrap_or("disabled");
            let mut providers: Vec<&str> = c.capacity_providers().iter().map(String::as_str).collect();
            providers.sort();
            let strategy = strategy_key(c.default_capacity_provider_strategy());
            Record::new(c.cluster_name().unwrap_or_default())
                .with("arn", c.cluster_arn().unwrap_or_default())
                .with("insights", insights)
                .with("providers", providers.join(","))
                .with("strategy", format!("{strategy:?}"))
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cluster_name(cx);
        let strategy = capacity_strategy(cx.settings.spot_percent)?;
        let mut insights = "enhanced";
        let out = loop {
            let r = cx
                .aws
                .ecs
                .create_cluster()
                .cluster_name(&name)
                .settings(
                    ClusterSetting::builder()
                        .name(ClusterSettingName::ContainerInsights)
                        .value(insights)
                        .build(),
                )
                .capacity_providers("FARGATE")
                .capacity_providers("FARGATE_SPOT")
                .set_default_capacity_provider_strategy(Some(strategy.clone()))
                .set_tags(Some(ecs_tags(cx, &name, "ecs-cluster")))
                .send()
                .await
                .aws("CreateCluster");
            match r {
                // Regions (or partitions) without enhanced observability.
                Err(e) if insights == "enhanced" && e.code_is("InvalidParameterException") => insights = "enabled",
                r => break r?,
            }
        };
        let arn = out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default();
        Ok(Record::new(name)
            .with("arn", arn)
            .with("insights", insights)
            .with("providers", "FARGATE,FARGATE_SPOT")
            .with("strategy", format!("{:?}", strategy_key(&strategy))))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        // `enabled` is what regions without enhanced observability accept.
        if !matches!(rec.attr("insights"), Some("enhanced" | "enabled")) {
            drift.push(format!(
                "Container Insights is {}",
                rec.attr("insights").unwrap_or("off")
            ));
            if fix {
                Self::set_insights(cx).await?;
            }
        }
        let want = format!("{:?}", strategy_key(&capacity_strategy(cx.settings.spot_percent)?));
        if rec.attr("providers") != Some("FARGATE,FARGATE_SPOT") || rec.attr("strategy") != Some(want.as_str()) {
            drift.push(format!(
                "capacity providers {} with strategy {} (wants FARGATE,FARGATE_SPOT with {want})",
                rec.attr("providers").unwrap_or("none"),
                rec.attr("strategy").unwrap_or("none")
            ));
            if fix {
                Self::put_capacity_providers(cx).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Refused while services or tasks are still draining.
        wait::delete(Backoff::DRAIN, || async {
            match cx
                .aws
                .ecs
                .delete_cluster()
                .cluster(&rec.id)
                .send()
                .await
                .aws("DeleteCluster")
            {
                Ok(_) => Ok(()),
                Err(e) if e.code_is("ClusterNotFoundException") => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

// ---------------------------------------------------------------- task definition

/// Everything the task definition is made of, resolved from the settings
/// and the dependencies' records.
#[derive(Debug, Clone)]
pub struct TaskInputs {
    pub family: String,
    pub image: String,
    pub image_tag: String,
    pub cpu: u32,
    pub memory: u32,
    pub exec_role: String,
    pub task_role: String,
    pub app_log: String,
    pub otel_log: String,
    pub region: String,
    pub connection_secret: String,
    pub credentials_secret: String,
    pub service_name: String,
    pub environment: String,
}

impl TaskInputs {
    pub fn from_ctx(cx: &Ctx) -> StepResult<Self> {
        let image = match &cx.settings.image {
            Some(i) => i.clone(),
            None => {
                let uri = cx.rec("ecr-repo")?.attr("uri").map(str::to_owned).unwrap_or_default();
                format!("{uri}:{}", cx.settings.image_tag)
            }
        };
        let arn = |step: &str| -> StepResult<String> {
            cx.rec(step)?
                .attr("arn")
                .map(str::to_owned)
                .ok_or_else(|| AwsError::custom("Lookup", "MissingAttribute", format!("step `{step}` recorded no ARN")))
        };
        Ok(TaskInputs {
            family: family(cx),
            image,
            image_tag: cx.settings.image_tag.clone(),
            cpu: cx.settings.task_cpu,
            memory: cx.settings.task_memory,
            exec_role: arn("role-exec")?,
            task_role: arn("role-task")?,
            app_log: cx.id_of("log-app")?,
            otel_log: cx.id_of("log-otel")?,
            region: cx.region().to_owned(),
            connection_secret: arn("secret-db-connection")?,
            credentials_secret: arn("secret-db-credentials")?,
            service_name: crate::naming::PROJECT.to_owned(),
            environment: cx.suffix().to_string(),
        })
    }

    fn log(&self, group: &str, prefix: &str) -> StepResult<LogConfiguration> {
        LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", group)
            .options("awslogs-region", &self.region)
            .options("awslogs-stream-prefix", prefix)
            .options("mode", "non-blocking")
            .options("max-buffer-size", "25m")
            .build()
            .map_err(build_err)
    }

    /// The two containers: the app (essential, read-only root, secrets from
    /// Secrets Manager by JSON key) and the collector sidecar it starts after.
    pub fn containers(&self) -> StepResult<Vec<ContainerDefinition>> {
        let secret = |name: &str, arn: &str, key: &str| {
            Secret::builder()
                .name(name)
                .value_from(format!("{arn}:{key}::"))
                .build()
                .map_err(build_err)
        };
        let env = |k: &str, v: &str| KeyValuePair::builder().name(k).value(v).build();
        let app = ContainerDefinition::builder()
            .name(APP_CONTAINER)
            .image(&self.image)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(APP_PORT)
                    .protocol(TransportProtocol::Tcp)
                    .name("http")
                    .build(),
            )
            .environment(env("PORT", &APP_PORT.to_string()))
            .environment(env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"))
            // 4318 is the collector's OTLP/HTTP port; the SDK defaults to gRPC.
            .environment(env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
            .environment(env("OTEL_SERVICE_NAME", &self.service_name))
            .environment(env("AWS_REGION", &self.region))
            .environment(env("APP_ENV", &self.environment))
            .environment(env("DB_SSLMODE", "require"))
            .secrets(secret("DB_HOST", &self.connection_secret, "host")?)
            .secrets(secret("DB_PORT", &self.connection_secret, "port")?)
            .secrets(secret("DB_NAME", &self.connection_secret, "dbname")?)
            .secrets(secret("DB_USERNAME", &self.credentials_secret, "username")?)
            .secrets(secret("DB_PASSWORD", &self.credentials_secret, "password")?)
            .stop_timeout(STOP_TIMEOUT)
            .readonly_root_filesystem(true)
            // gunicorn's heartbeat lives in /dev/shm; /tmp is a scratch volume.
            .mount_points(
                MountPoint::builder()
                    .source_volume("tmp")
                    .container_path("/tmp")
                    .read_only(false)
                    .build(),
            )
            .log_configuration(self.log(&self.app_log, APP_CONTAINER)?)
            .health_check(
                HealthCheck::builder()
                    .command("CMD")
                    .command("python")
                    .command("healthcheck.py")
                    .interval(15)
                    .timeout(5)
                    .retries(3)
                    .start_period(30)
                    .build()
                    .map_err(build_err)?,
            )
            .depends_on(
                ContainerDependency::builder()
                    .container_name(OTEL_CONTAINER)
                    .condition(ContainerCondition::Start)
                    .build()
                    .map_err(build_err)?,
            )
            .build();
        let otel = ContainerDefinition::builder()
            .name(OTEL_CONTAINER)
            .image(OTEL_IMAGE)
            .essential(false)
            .command(OTEL_CONFIG)
            .log_configuration(self.log(&self.otel_log, OTEL_CONTAINER)?)
            .build();
        Ok(vec![app, otel])
    }

    /// What `fingerprint` is computed from for the desired definition.
    pub fn desired_fingerprint(&self) -> StepResult<Value> {
        Ok(fingerprint(
            Some(&self.cpu.to_string()),
            Some(&self.memory.to_string()),
            Some(&self.exec_role),
            Some(&self.task_role),
            &self.containers()?,
        ))
    }
}

/// The managed fields of a task definition, normalised so a described one
/// (with AWS's defaults filled in) compares equal to the one we register.
pub fn fingerprint(
    cpu: Option<&str>,
    memory: Option<&str>,
    exec_role: Option<&str>,
    task_role: Option<&str>,
    containers: &[ContainerDefinition],
) -> Value {
    let mut cs: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut env: Vec<(String, String)> = c
                .environment()
                .iter()
                .map(|e| {
                    (
                        e.name().unwrap_or_default().to_owned(),
                        e.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            env.sort();
            let mut secrets: Vec<(String, String)> = c
                .secrets()
                .iter()
                .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
                .collect();
            secrets.sort();
            let ports: Vec<(i32, String)> = c
                .port_mappings()
                .iter()
                .map(|p| {
                    (
                        p.container_port().unwrap_or(0),
                        p.protocol().map(|p| p.as_str()).unwrap_or("tcp").to_owned(),
                    )
                })
                .collect();
            let log = c.log_configuration().map(|l| {
                let opts: BTreeMap<&String, &String> = l.options().map(|o| o.iter().collect()).unwrap_or_default();
                json!({"driver": l.log_driver().as_str(), "options": opts})
            });
            let health = c.health_check().map(|h| {
                json!({
                    "command": h.command(),
                    "interval": h.interval().unwrap_or(30),
                    "timeout": h.timeout().unwrap_or(5),
                    "retries": h.retries().unwrap_or(3),
                    "start": h.start_period().unwrap_or(0),
                })
            });
            let deps: Vec<(String, String)> = c
                .depends_on()
                .iter()
                .map(|d| (d.container_name().to_owned(), d.condition().as_str().to_owned()))
                .collect();
            let mounts: Vec<(String, String)> = c
                .mount_points()
                .iter()
                .map(|m| {
                    (
                        m.source_volume().unwrap_or_default().to_owned(),
                        m.container_path().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            json!({
                "name": c.name(),
                "image": c.image(),
                "essential": c.essential().unwrap_or(true),
                "command": c.command(),
                "ports": ports,
                "environment": env,
                "secrets": secrets,
                "log": log,
                "health": health,
                "stop_timeout": c.stop_timeout(),
                "readonly": c.readonly_root_filesystem().unwrap_or(false),
                "depends_on": deps,
                "mounts": mounts,
            })
        })
        .collect();
    cs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "cpu": cpu,
        "memory": memory,
        "execution_role": exec_role,
        "task_role": task_role,
        "containers": cs,
    })
}

pub fn described_fingerprint(td: &TaskDefinition) -> Value {
    fingerprint(
        td.cpu(),
        td.memory(),
        td.execution_role_arn(),
        td.task_role_arn(),
        td.container_definitions(),
    )
}

/// What differs between two fingerprints, field by field (for the drift
/// message; the comparison itself is plain equality).
pub fn fingerprint_diff(have: &Value, want: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["cpu", "memory", "execution_role", "task_role"] {
        if have[k] != want[k] {
            out.push(format!("{k} {} (wants {})", have[k], want[k]));
        }
    }
    let empty = Vec::new();
    let hc = have["containers"].as_array().unwrap_or(&empty);
    for w in want["containers"].as_array().unwrap_or(&empty) {
        let name = w["name"].as_str().unwrap_or("?");
        match hc.iter().find(|h| h["name"] == w["name"]) {
            None => out.push(format!("container {name} missing")),
            Some(h) => {
                if let (Some(ho), Some(wo)) = (h.as_object(), w.as_object()) {
                    for (k, wv) in wo {
                        if ho.get(k) != Some(wv) {
                            if k == "image" {
                                out.push(format!(
                                    "container {name} image {} (wants {wv})",
                                    ho.get(k).unwrap_or(&Value::Null)
                                ));
                            } else {
                                out.push(format!("container {name} {k} differs"));
                            }
                        }
                    }
                }
            }
        }
    }
    if hc.len() != want["containers"].as_array().map(Vec::len).unwrap_or(0) {
        out.push("the set of containers differs".into());
    }
    out
}

/// Registers a revision of the family from `inputs`; returns its ARN.
pub async fn register(cx: &Ctx, inputs: &TaskInputs) -> StepResult<String> {
    let out = wait::retry_while(crate::aws::ErrorClass::NotYetPropagated, Backoff::IAM, || async {
        cx.aws
            .ecs
            .register_task_definition()
            .family(&inputs.family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu(inputs.cpu.to_string())
            .memory(inputs.memory.to_string())
            .runtime_platform(
                RuntimePlatform::builder()
                    .operating_system_family(OsFamily::Linux)
                    .cpu_architecture(CpuArchitecture::X8664)
                    .build(),
            )
            .execution_role_arn(&inputs.exec_role)
            .task_role_arn(&inputs.task_role)
            .set_container_definitions(Some(inputs.containers()?))
            .volumes(Volume::builder().name("tmp").build())
            .set_tags(Some(ecs_tags(cx, &inputs.family, "task-def")))
            .send()
            .await
            .aws("RegisterTaskDefinition")
    })
    .await?;
    Ok(out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_owned())
}

async fn describe_task_definition(cx: &Ctx, arn: &str) -> StepResult<TaskDefinition> {
    let out = cx
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .aws("DescribeTaskDefinition")?;
    out.task_definition().cloned().ok_or_else(|| {
        AwsError::custom(
            "DescribeTaskDefinition",
            "EmptyResponse",
            format!("no task definition {arn}"),
        )
    })
}

/// Every revision ARN of the family with the given status.
async fn revisions(cx: &Ctx, family: &str, status: TaskDefinitionStatus) -> StepResult<Vec<String>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = cx
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status.clone())
            .set_next_token(token)
            .send()
            .await
            .aws("ListTaskDefinitions")?;
        out.extend(page.task_definition_arns().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

pub struct TaskDef {
    /// The image comes from the stack's ECR repository (no `--image`).
    pub own_image: bool,
}

#[async_trait]
impl Step for TaskDef {
    fn id(&self) -> &str {
        "task-def"
    }
    fn kind(&self) -> &'static str {
        "task-definition"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = [
            "role-exec",
            "role-task",
            "log-app",
            "log-otel",
            "secret-db-connection",
            "secret-db-credentials",
        ]
        .into_iter()
        .map(Dep::id)
        .collect();
        if self.own_image {
            d.push("ecr-repo".into());
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let out = cx
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(family(cx))
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .max_results(1)
            .send()
            .await
            .aws("ListTaskDefinitions")?;
        Ok(out
            .task_definition_arns()
            .first()
            .map(|arn| Record::new(arn).with("family", family(cx))))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let inputs = TaskInputs::from_ctx(cx)?;
        let arn = register(cx, &inputs).await?;
        Ok(Record::new(arn)
            .with("family", inputs.family)
            .with("image", inputs.image))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let inputs = TaskInputs::from_ctx(cx)?;
        let want = inputs.desired_fingerprint()?;
        let have = described_fingerprint(&describe_task_definition(cx, &rec.id).await?);
        if have == want {
            return Ok(vec![]);
        }
        let mut drift = fingerprint_diff(&have, &want);
        if drift.is_empty() {
            drift.push("definition differs".into());
        }
        if fix {
            let arn = register(cx, &inputs).await?;
            drift.push(format!("registered {arn}"));
            // The service step reads this record to roll the new revision out.
            cx.set_record(
                "task-def",
                Record::new(arn)
                    .with("family", inputs.family)
                    .with("image", inputs.image),
            );
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, _rec: &Record) -> StepResult<()> {
        let fam = family(cx);
        let active = revisions(cx, &fam, TaskDefinitionStatus::Active).await?;
        for arn in &active {
            let r = cx
                .aws
                .ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .aws("DeregisterTaskDefinition");
            match r {
                Err(e) if e.is_not_found() || e.code_is("ClientException") => {}
                r => {
                    r?;
                }
            }
        }
        // Deregistered revisions stay listed (and tagged) until deleted.
        let inactive = revisions(cx, &fam, TaskDefinitionStatus::Inactive).await?;
        for chunk in inactive.chunks(10) {
            let r = cx
                .aws
                .ecs
                .delete_task_definitions()
                .set_task_definitions(Some(chunk.to_vec()))
                .send()
                .await
                .aws("DeleteTaskDefinitions");
            if let Err(e) = r {
                // Deregistered is enough for the service to be gone; an old
                // API without DeleteTaskDefinitions should not fail `down`.
                tracing::warn!(error = %e, "could not delete deregistered task definitions");
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- service

pub fn deployment_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .bake_time_in_minutes(BAKE_MINUTES)
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

fn deployment_ok(d: Option<&DeploymentConfiguration>) -> bool {
    d.is_some_and(|d| {
        d.strategy() == Some(&DeploymentStrategy::BlueGreen)
            && d.deployment_circuit_breaker()
                .is_some_and(|c| c.enable() && c.rollback())
    })
}

pub struct Service;

impl Service {
    fn network(cx: &Ctx) -> StepResult<NetworkConfiguration> {
        let subnets = subnet_steps(Tier::Private)
            .iter()
            .map(|s| cx.id_of(s))
            .collect::<StepResult<Vec<_>>>()?;
        Ok(NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(subnets))
                    .security_groups(cx.id_of("sg-app")?)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .map_err(build_err)?,
            )
            .build())
    }

    /// The blue target group as the production target, green as the
    /// alternate ECS shifts to; ECS rewrites the production rule's weights
    /// with the infrastructure role.
    fn load_balancer(cx: &Ctx) -> StepResult<LoadBalancer> {
        let role = cx
            .rec("role-ecs-infra")?
            .attr("arn")
            .map(str::to_owned)
            .unwrap_or_default();
        Ok(LoadBalancer::builder()
            .target_group_arn(cx.id_of(Color::Blue.step())?)
            .container_name(APP_CONTAINER)
            .container_port(APP_PORT)
            .advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(cx.id_of(Color::Green.step())?)
                    .production_listener_rule(cx.id_of("rule-api")?)
                    .role_arn(role)
                    .build(),
            )
            .build())
    }

    fn record(s: &EcsService) -> Record {
        let r = Record::new(s.service_name().unwrap_or_default())
            .with("arn", s.service_arn().unwrap_or_default())
            .with("task_definition", s.task_definition().unwrap_or_default())
            .with("desired", s.desired_count().to_string());
        let stable = s.deployments().len() == 1 && s.running_count() == s.desired_count();
        if stable {
            r
        } else {
            r.pending()
        }
    }

    /// The update that brings `svc` back to the desired service.
    fn update(
        cx: &Ctx,
        svc: &EcsService,
        bounds: Option<(i32, i32)>,
    ) -> StepResult<aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder> {
        let want_strategy = capacity_strategy(cx.settings.spot_percent)?;
        let strategy_changed = strategy_key(svc.capacity_provider_strategy()) != strategy_key(&want_strategy);
        let mut req = cx
            .aws
            .ecs
            .update_service()
            .cluster(cluster_name(cx))
            .service(svc.service_name().unwrap_or_default())
            .task_definition(cx.id_of("task-def")?)
            .set_capacity_provider_strategy(Some(want_strategy))
            .deployment_configuration(deployment_configuration())
            .enable_execute_command(cx.settings.enable_exec)
            .health_check_grace_period_seconds(HEALTH_GRACE_SECONDS);
        let count = svc.desired_count();
        let want_count = match bounds {
            Some((min, max)) => count.clamp(min, max),
            None => DESIRED_COUNT,
        };
        if count != want_count {
            req = req.desired_count(want_count);
        }
        if strategy_changed && !svc.capacity_provider_strategy().is_empty() {
            req = req.force_new_deployment(true);
        }
        Ok(req)
    }

    /// What differs from the desired service; `bounds` are the scalable
    /// target's min/max when auto scaling manages the count.
    pub fn drift(cx: &Ctx, s: &EcsService, bounds: Option<(i32, i32)>) -> StepResult<Vec<String>> {
        let mut d = Vec::new();
        let count = s.desired_count();
        match bounds {
            Some((min, max)) if count < min || count > max => {
                d.push(format!("desired count {count} is outside auto scaling's {min}..{max}"))
            }
            None if count != DESIRED_COUNT => d.push(format!("desired count {count} (wants {DESIRED_COUNT})")),
            _ => {}
        }
        let td = cx.id_of("task-def")?;
        if s.task_definition() != Some(td.as_str()) {
            d.push(format!(
                "runs {} (wants {td})",
                s.task_definition().unwrap_or("nothing")
            ));
        }
        let want = strategy_key(&capacity_strategy(cx.settings.spot_percent)?);
        let have = strategy_key(s.capacity_provider_strategy());
        if have != want {
            d.push(format!("capacity provider strategy {have:?} (wants {want:?})"));
        }
        if !deployment_ok(s.deployment_configuration()) {
            d.push("deployment is not BLUE_GREEN with a rolling-back circuit breaker".into());
        }
        if s.enable_execute_command() != cx.settings.enable_exec {
            d.push(format!(
                "ECS Exec is {} (wants {})",
                s.enable_execute_command(),
                cx.settings.enable_exec
            ));
        }
        if s.health_check_grace_period_seconds() != Some(HEALTH_GRACE_SECONDS) {
            d.push(format!(
                "health check grace period {:?} (wants {HEALTH_GRACE_SECONDS})",
                s.health_check_grace_period_seconds()
            ));
        }
        Ok(d)
    }
}

#[async_trait]
impl Step for Service {
    fn id(&self) -> &str {
        "ecs-service"
    }
    fn kind(&self) -> &'static str {
        "ecs-service"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = [
            "ecs-cluster",
            "task-def",
            "tg-blue",
            "tg-green",
            "rule-api",
            "role-ecs-infra",
            "sg-app",
        ]
        .into_iter()
        .map(Dep::id)
        .collect();
        d.extend(subnet_steps(Tier::Private).into_iter().map(Dep::id));
        // Tasks pull images and read secrets through the NAT gateways.
        for l in ['a', 'b', 'c'] {
            d.push(Dep::ready(format!("nat-{l}")));
        }
        d
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 180, 90)
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(services(cx).await?.first().map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = service_name(cx);
        let req = cx
            .aws
            .ecs
            .create_service()
            .cluster(cluster_name(cx))
            .service_name(&name)
            .task_definition(cx.id_of("task-def")?)
            .desired_count(DESIRED_COUNT)
            // Never with a launch type: the strategy decides Fargate vs Spot.
            .set_capacity_provider_strategy(Some(capacity_strategy(cx.settings.spot_percent)?))
            .platform_version("LATEST")
            .network_configuration(Self::network(cx)?)
            .load_balancers(Self::load_balancer(cx)?)
            .health_check_grace_period_seconds(HEALTH_GRACE_SECONDS)
            .deployment_configuration(deployment_configuration())
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .enable_execute_command(cx.settings.enable_exec)
            .client_token(cx.client_token("ecs-service"))
            .set_tags(Some(ecs_tags(cx, &name, "ecs-service")));
        // The infrastructure role may be brand new.
        let out = wait::retry_while(crate::aws::ErrorClass::NotYetPropagated, Backoff::IAM, || async {
            req.clone().send().await.aws("CreateService")
        })
        .await?;
        let svc = out
            .service()
            .cloned()
            .ok_or_else(|| AwsError::custom("CreateService", "EmptyResponse", "no service in the response"))?;
        // The service as created must be the service asked for. An endpoint
        // that silently drops fields (moto drops the capacity strategy and
        // the deployment configuration) is corrected now, from the create
        // response, instead of surfacing as drift on the next run.
        let dropped = Self::drift(cx, &svc, None)?;
        if !dropped.is_empty() {
            tracing::warn!(fields = ?dropped, "CreateService did not keep every field; updating the service");
            Self::update(cx, &svc, None)?.send().await.aws("UpdateService")?;
        }
        Ok(Self::record(&svc).pending())
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(svc) = services(cx)
            .await?
            .iter()
            .find(|s| s.service_name() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let bounds = super::scaling::bounds(cx).await?;
        let drift = Self::drift(cx, &svc, bounds)?;
        if fix && !drift.is_empty() {
            let td = cx.id_of("task-def")?;
            Self::update(cx, &svc, bounds)?.send().await.aws("UpdateService")?;
            cx.set_record("ecs-service", rec.clone().with("task_definition", td).pending());
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting("ecs-service", "service to reach a steady state");
        cx.aws
            .ecs
            .wait_until_services_stable()
            .cluster(cluster_name(cx))
            .services(&rec.id)
            .wait(Duration::from_secs(30 * 60))
            .await
            .map_err(|e| waiter_err("WaitServicesStable", e))?;
        Ok(rec.clone())
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let cluster = cluster_name(cx);
        let gone = |e: &AwsError| e.is_not_found() || e.code_is("ServiceNotActiveException");
        match cx
            .aws
            .ecs
            .update_service()
            .cluster(&cluster)
            .service(&rec.id)
            .desired_count(0)
            .send()
            .await
            .aws("UpdateService")
        {
            Err(e) if gone(&e) => return Ok(()),
            r => r.map(|_| ())?,
        }
        match cx
            .aws
            .ecs
            .delete_service()
            .cluster(&cluster)
            .service(&rec.id)
            .force(true)
            .send()
            .await
            .aws("DeleteService")
        {
            Err(e) if gone(&e) => return Ok(()),
            r => r.map(|_| ())?,
        }
        cx.waiting("ecs-service", "service to drain and become inactive");
        cx.aws
            .ecs
            .wait_until_services_inactive()
            .cluster(&cluster)
            .services(&rec.id)
            .wait(Duration::from_secs(20 * 60))
            .await
            .map_err(|e| waiter_err("WaitServicesInactive", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- deploy

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    /// Completed; the deployment id.
    Done(String),
    /// Failed or rolled back; why.
    Failed(String),
}

/// Judges a rollout of `target` from DescribeServices alone.
pub fn judge(svc: &EcsService, target: &str) -> Rollout {
    use aws_sdk_ecs::types::DeploymentRolloutState as S;
    if let Some(d) = svc.deployments().iter().find(|d| d.task_definition() == Some(target)) {
        let id = d.id().unwrap_or_default().to_owned();
        return match d.rollout_state() {
            Some(S::Completed) => Rollout::Done(id),
            Some(S::Failed) => Rollout::Failed(format!(
                "deployment {id} failed: {}",
                d.rollout_state_reason().unwrap_or("no reason given")
            )),
            _ => Rollout::InProgress,
        };
    }
    if svc.task_definition() != Some(target) {
        return Rollout::Failed(format!(
            "the service was rolled back to {}",
            svc.task_definition().unwrap_or("its previous revision")
        ));
    }
    // The service runs the target but lists no deployment for it (a
    // consolidated history): settled when everything is completed.
    let settled = svc
        .deployments()
        .iter()
        .all(|d| d.rollout_state() == Some(&S::Completed))
        && svc.running_count() == svc.desired_count();
    match svc.deployments().iter().find(|d| d.status() == Some("PRIMARY")) {
        Some(p) if settled => Rollout::Done(p.id().unwrap_or_default().to_owned()),
        _ => Rollout::InProgress,
    }
}

/// Judges a native blue/green service deployment.
fn judge_service_deployment(d: &aws_sdk_ecs::types::ServiceDeployment) -> Rollout {
    use aws_sdk_ecs::types::ServiceDeploymentStatus as S;
    let arn = d.service_deployment_arn().unwrap_or_default().to_owned();
    let why = d.status_reason().unwrap_or("no reason given");
    match d.status() {
        Some(S::Successful) => Rollout::Done(arn),
        Some(S::RollbackSuccessful) => Rollout::Failed(format!("deployment {arn} was rolled back: {why}")),
        Some(S::RollbackFailed) => {
            Rollout::Failed(format!("deployment {arn} failed and its rollback failed too: {why}"))
        }
        Some(S::Stopped) => Rollout::Failed(format!("deployment {arn} was stopped: {why}")),
        _ => Rollout::InProgress,
    }
}

/// Finds the records `deploy` needs from AWS (the state file is a cache).
async fn load_records(engine: &crate::ops::Engine, ids: &[String]) -> Result<(), crate::ops::Error> {
    let cx = &engine.cx;
    for id in ids {
        let Some(step) = engine.steps.iter().find(|s| s.id() == id) else {
            continue;
        };
        match step.find(cx).await? {
            Some(rec) => cx.set_record(id, rec),
            None => {
                return Err(crate::ops::Error::Failed(format!(
                    "`{id}` does not exist yet\n  hint: run `provision up` first; deploy only rolls out a new revision"
                )))
            }
        }
    }
    Ok(())
}

/// Registers a revision for the current settings (image, tag), rolls it out
/// blue/green and waits for the outcome. Returns a one-line report naming
/// the deployment.
pub async fn deploy(engine: &crate::ops::Engine, timeout: Duration) -> Result<String, crate::ops::Error> {
    use crate::ops::Error;
    let cx = &engine.cx;
    let mut needed: Vec<String> = vec!["ecs-cluster".into(), "ecs-service".into()];
    if let Some(td) = engine.steps.iter().find(|s| s.id() == "task-def") {
        needed.extend(td.deps().into_iter().map(|d| d.step));
    }
    load_records(engine, &needed).await?;
    let svc = describe_service(cx)
        .await?
        .ok_or_else(|| Error::Failed("the service is not active; run `provision up`".into()))?;
    let current = svc.task_definition().unwrap_or_default().to_owned();
    let inputs = TaskInputs::from_ctx(cx)?;
    let unchanged = !current.is_empty()
        && described_fingerprint(&describe_task_definition(cx, &current).await?) == inputs.desired_fingerprint()?;
    let target = if unchanged {
        current.clone()
    } else {
        register(cx, &inputs).await?
    };
    let before = svc.current_service_deployment().map(str::to_owned);
    cx.waiting("deploy", &format!("rolling out {target}"));
    let out = cx
        .aws
        .ecs
        .update_service()
        .cluster(cluster_name(cx))
        .service(service_name(cx))
        .task_definition(&target)
        // Same definition (a moved mutable tag): start fresh tasks anyway.
        .force_new_deployment(unchanged)
        .send()
        .await
        .aws("UpdateService")?;
    let mut label = out
        .service()
        .and_then(|s| {
            s.deployments()
                .iter()
                .find(|d| d.task_definition() == Some(target.as_str()))
        })
        .and_then(|d| d.id())
        .unwrap_or("")
        .to_owned();
    let started = tokio::time::Instant::now();
    let backoff = Backoff {
        first: Duration::from_secs(5),
        max: Duration::from_secs(30),
        timeout,
    };
    let outcome = wait::poll(&format!("deployment of {target}"), backoff, || async {
        let Some(svc) = describe_service(cx).await? else {
            return Ok(Some(Rollout::Failed("the service is no longer active".into())));
        };
        // Native blue/green: the service deployment has the authoritative status.
        if let Some(arn) = svc
            .current_service_deployment()
            .filter(|a| Some(*a) != before.as_deref())
        {
            let out = cx
                .aws
                .ecs
                .describe_service_deployments()
                .service_deployment_arns(arn)
                .send()
                .await
                .aws("DescribeServiceDeployments")?;
            if let Some(d) = out.service_deployments().first() {
                return Ok(match judge_service_deployment(d) {
                    Rollout::InProgress => None,
                    r => Some(r),
                });
            }
        }
        Ok(match judge(&svc, &target) {
            Rollout::InProgress => None,
            r => Some(r),
        })
    })
    .await?;
    let secs = started.elapsed().as_secs();
    match outcome {
        Rollout::Done(id) => {
            if !id.is_empty() {
                label = id;
            }
            Ok(format!("deployment {label} of {target} ({}) completed in {secs}s", inputs.image))
        }
        Rollout::Failed(why) => Err(Error::Failed(format!(
            "deploy of {target} ({}) did not complete: {why}\n  hint: see the service events (`aws ecs describe-services`) and the app logs in {}",
            inputs.image, inputs.app_log
        ))),
        Rollout::InProgress => unreachable!("poll only returns settled outcomes"),
    }
}

// ---------------------------------------------------------------- outputs and status

pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(c) = cx.id_of("ecs-cluster") {
        out.insert("ECSClusterName".into(), c);
    }
    if let Ok(s) = cx.id_of("ecs-service") {
        out.insert("ECSServiceName".into(), s);
    }
}

/// Desired/running/pending tasks and the active deployment.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, Value>) {
    if !cx.has("ecs-service") {
        return;
    }
    // The service as discovered moments ago by this same run.
    let v = match services(cx).await.map(|v| v.first().cloned()) {
        Ok(Some(s)) => {
            let primary = s.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
            json!({
                "desired": s.desired_count(),
                "running": s.running_count(),
                "pending": s.pending_count(),
                "task_definition": s.task_definition(),
                "deployment": primary.and_then(|d| d.id()),
                "rollout_state": primary.and_then(|d| d.rollout_state()).map(|r| r.as_str()),
                "service_deployment": s.current_service_deployment(),
                "deployments": s.deployments().len(),
            })
        }
        Ok(None) => json!({"error": "service not active"}),
        Err(e) => json!({"error": e.to_string()}),
    };
    out.insert("ecs_service".into(), v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::create_service::CreateServiceOutput;
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState};
    use aws_smithy_mocks::{mock, MockResponseInterceptor, RuleMode};

    fn inputs() -> TaskInputs {
        TaskInputs {
            family: "task-api-dev1".into(),
            image: "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/ecr-api-dev1:v1".into(),
            image_tag: "v1".into(),
            cpu: 512,
            memory: 1024,
            exec_role: "arn:aws:iam::123456789012:role/role-exec-dev1".into(),
            task_role: "arn:aws:iam::123456789012:role/role-task-dev1".into(),
            app_log: "/provision/dev1/app".into(),
            otel_log: "/provision/dev1/otel-collector".into(),
            region: "ap-southeast-2".into(),
            connection_secret: "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:conn-AbCdEf".into(),
            credentials_secret: "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:creds-GhIjKl".into(),
            service_name: "product-catalog".into(),
            environment: "dev1".into(),
        }
    }

    #[test]
    fn the_app_reads_db_settings_by_json_key_and_starts_after_the_collector() {
        let cs = inputs().containers().unwrap();
        let app = cs.iter().find(|c| c.name() == Some("app")).unwrap();
        let s: BTreeMap<&str, &str> = app.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
        assert_eq!(
            s["DB_HOST"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:conn-AbCdEf:host::"
        );
        assert_eq!(
            s["DB_PORT"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:conn-AbCdEf:port::"
        );
        assert_eq!(
            s["DB_NAME"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:conn-AbCdEf:dbname::"
        );
        assert_eq!(
            s["DB_PASSWORD"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:creds-GhIjKl:password::"
        );
        assert_eq!(
            s["DB_USERNAME"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:creds-GhIjKl:username::"
        );
        assert!(app
            .environment()
            .iter()
            .all(|e| !e.name().unwrap_or_default().contains("PASSWORD")));
        assert_eq!(
            app.health_check().unwrap().command(),
            ["CMD", "python", "healthcheck.py"]
        );
        assert_eq!(app.stop_timeout(), Some(120));
        assert_eq!(app.readonly_root_filesystem(), Some(true));
        assert_eq!(app.essential(), Some(true));
        assert_eq!(app.depends_on()[0].container_name(), OTEL_CONTAINER);
        assert_eq!(app.depends_on()[0].condition(), &ContainerCondition::Start);
        let otel = cs.iter().find(|c| c.name() == Some(OTEL_CONTAINER)).unwrap();
        assert_eq!(otel.essential(), Some(false));
        assert!(otel.image().unwrap().ends_with(":v0.43.3"));
        assert_eq!(otel.command(), [OTEL_CONFIG]);
        assert_eq!(
            otel.log_configuration().unwrap().options().unwrap()["awslogs-group"],
            "/provision/dev1/otel-collector"
        );
    }

    #[test]
    fn a_described_definition_with_aws_defaults_has_the_same_fingerprint() {
        let i = inputs();
        let want = i.desired_fingerprint().unwrap();
        // What DescribeTaskDefinition returns: same containers, plus defaults.
        let described: Vec<ContainerDefinition> = i
            .containers()
            .unwrap()
            .into_iter()
            .map(|mut c| {
                c.cpu = 0;
                c.volumes_from = Some(vec![]);
                c.mount_points = Some(c.mount_points().to_vec());
                if let Some(env) = c.environment.as_mut() {
                    env.reverse();
                }
                if let Some(ports) = c.port_mappings.as_mut() {
                    for p in ports {
                        p.host_port = p.container_port;
                    }
                }
                c
            })
            .collect();
        let have = fingerprint(
            Some("512"),
            Some("1024"),
            Some(&i.exec_role),
            Some(&i.task_role),
            &described,
        );
        assert_eq!(have, want);
        let mut v2 = i.clone();
        v2.image = v2.image.replace(":v1", ":v2");
        let diff = fingerprint_diff(&want, &v2.desired_fingerprint().unwrap());
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert!(diff[0].contains("image"), "{diff:?}");
    }

    #[test]
    fn spot_share_with_one_on_demand_base_task() {
        let s = strategy_key(&capacity_strategy(70).unwrap());
        assert_eq!(s, vec![("FARGATE".into(), 30, 1), ("FARGATE_SPOT".into(), 70, 0)]);
        let s = strategy_key(&capacity_strategy(0).unwrap());
        assert_eq!(s, vec![("FARGATE".into(), 100, 1), ("FARGATE_SPOT".into(), 0, 0)]);
    }

    fn svc(td: &str, deployments: Vec<Deployment>, running: i32) -> EcsService {
        EcsService::builder()
            .service_name("svc-api-dev1")
            .task_definition(td)
            .desired_count(2)
            .running_count(running)
            .set_deployments(Some(deployments))
            .build()
    }

    fn dep(id: &str, td: &str, status: &str, state: DeploymentRolloutState) -> Deployment {
        Deployment::builder()
            .id(id)
            .task_definition(td)
            .status(status)
            .rollout_state(state)
            .build()
    }

    #[test]
    fn rollouts_are_judged_from_the_deployments() {
        use DeploymentRolloutState as S;
        let s = svc(
            "td:2",
            vec![
                dep("d2", "td:2", "PRIMARY", S::InProgress),
                dep("d1", "td:1", "ACTIVE", S::Completed),
            ],
            2,
        );
        assert_eq!(judge(&s, "td:2"), Rollout::InProgress);
        let s = svc("td:2", vec![dep("d2", "td:2", "PRIMARY", S::Completed)], 2);
        assert_eq!(judge(&s, "td:2"), Rollout::Done("d2".into()));
        let s = svc("td:1", vec![dep("d2", "td:2", "ACTIVE", S::Failed)], 2);
        assert!(matches!(judge(&s, "td:2"), Rollout::Failed(w) if w.contains("d2")));
        let s = svc("td:1", vec![dep("d3", "td:1", "PRIMARY", S::Completed)], 2);
        assert!(matches!(judge(&s, "td:2"), Rollout::Failed(w) if w.contains("rolled back")));
        // The service runs the target; history consolidated into one deployment.
        let s = svc("td:2", vec![dep("d1", "td:1", "PRIMARY", S::Completed)], 2);
        assert_eq!(judge(&s, "td:2"), Rollout::Done("d1".into()));
        let s = svc("td:2", vec![dep("d1", "td:1", "PRIMARY", S::Completed)], 1);
        assert_eq!(judge(&s, "td:2"), Rollout::InProgress);
    }

    /// A context whose ECS client answers from `rules` and whose records
    /// stand in for the dependencies.
    fn mocked_ctx(rules: &[&aws_smithy_mocks::Rule]) -> Ctx {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            interceptor = interceptor.with_rule(r);
        }
        let ecs_conf = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("ap-southeast-2"))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        let shared = aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("ap-southeast-2"))
            .build();
        let mut clients = crate::aws::Clients::from_conf(&shared);
        clients.ecs = aws_sdk_ecs::Client::from_conf(ecs_conf);
        let cx = crate::testing::ctx_with(clients, crate::testing::settings(&[]));
        for (step, id, arn) in [
            (
                "task-def",
                "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/task-api-dev1:1",
                None,
            ),
            (
                "tg-blue",
                "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/tg-blue-dev1/1",
                None,
            ),
            (
                "tg-green",
                "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/tg-green-dev1/2",
                None,
            ),
            (
                "rule-api",
                "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:listener-rule/app/alb-api-dev1/3/4/5",
                None,
            ),
            (
                "role-ecs-infra",
                "role-ecs-infra-dev1",
                Some("arn:aws:iam::123456789012:role/role-ecs-infra-dev1"),
            ),
            ("sg-app", "sg-0app", None),
            ("subnet-private-a", "subnet-a", None),
            ("subnet-private-b", "subnet-b", None),
            ("subnet-private-c", "subnet-c", None),
        ] {
            let mut r = Record::new(id);
            if let Some(a) = arn {
                r = r.with("arn", a);
            }
            cx.set_record(step, r);
        }
        cx
    }

    #[tokio::test]
    async fn create_service_sends_the_strategy_and_blue_green_even_though_moto_drops_them() {
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .match_requests(|req| {
                let strategy = strategy_key(req.capacity_provider_strategy());
                let d = req.deployment_configuration();
                let lb = req.load_balancers();
                let adv = lb.first().and_then(|l| l.advanced_configuration());
                let net = req.network_configuration().and_then(|n| n.awsvpc_configuration());
                req.launch_type().is_none()
                    && strategy == vec![("FARGATE".to_string(), 30, 1), ("FARGATE_SPOT".to_string(), 70, 0)]
                    && d.and_then(|d| d.strategy()) == Some(&DeploymentStrategy::BlueGreen)
                    && d.and_then(|d| d.bake_time_in_minutes()).is_some()
                    && d.and_then(|d| d.deployment_circuit_breaker())
                        .is_some_and(|c| c.enable() && c.rollback())
                    && lb.len() == 1
                    && lb[0].target_group_arn().is_some_and(|t| t.contains("tg-blue"))
                    && lb[0].container_name() == Some("app")
                    && lb[0].container_port() == Some(5000)
                    && adv
                        .and_then(|a| a.alternate_target_group_arn())
                        .is_some_and(|t| t.contains("tg-green"))
                    && adv
                        .and_then(|a| a.production_listener_rule())
                        .is_some_and(|r| r.contains("listener-rule"))
                    && adv.and_then(|a| a.role_arn()) == Some("arn:aws:iam::123456789012:role/role-ecs-infra-dev1")
                    && net.is_some_and(|n| {
                        n.assign_public_ip() == Some(&AssignPublicIp::Disabled) && n.subnets().len() == 3
                    })
                    && req.desired_count() == Some(2)
                    && req.health_check_grace_period_seconds() == Some(60)
                    && req.propagate_tags() == Some(&PropagateTags::Service)
                    && req.enable_ecs_managed_tags() == Some(true)
                    && req.enable_execute_command() == Some(false)
                    && req.cluster() == Some("ecs-api-dev1")
                    && req.service_name() == Some("svc-api-dev1")
            })
            .then_output(|| {
                CreateServiceOutput::builder()
                    .service(
                        EcsService::builder()
                            .service_name("svc-api-dev1")
                            .service_arn("arn:svc")
                            .desired_count(2)
                            .build(),
                    )
                    .build()
            });
        // The response above drops the strategy and the deployment
        // configuration (as moto does): the tool must put them back at once.
        let update = mock!(aws_sdk_ecs::Client::update_service)
            .match_requests(|req| {
                strategy_key(req.capacity_provider_strategy()) == strategy_key(&capacity_strategy(70).unwrap())
                    && deployment_ok(req.deployment_configuration())
                    && req.health_check_grace_period_seconds() == Some(HEALTH_GRACE_SECONDS)
                    && req.service() == Some("svc-api-dev1")
            })
            .then_output(|| aws_sdk_ecs::operation::update_service::UpdateServiceOutput::builder().build());
        let cx = mocked_ctx(&[&rule, &update]);
        let rec = Service
            .create(&cx)
            .await
            .expect("the request matched every expectation");
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(update.num_calls(), 1, "dropped fields are restored right after create");
        assert_eq!(rec.id, "svc-api-dev1");
        assert!(!rec.ready);
    }

    #[tokio::test]
    #[should_panic(expected = "no rules matched")]
    async fn an_unexpected_create_service_request_fails_the_test() {
        // The settings ask for a different Spot share than the rule expects:
        // no rule matches and the mock refuses to answer (the test fails).
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .match_requests(|req| strategy_key(req.capacity_provider_strategy())[1].1 == 70)
            .then_output(|| CreateServiceOutput::builder().build());
        let mut cx = mocked_ctx(&[&rule]);
        cx.settings.spot_percent = 50;
        let _ = Service.create(&cx).await;
    }
}
