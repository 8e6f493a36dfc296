//! What the task definition should be, as pure data: the two containers
//! (the app and the ADOT collector sidecar, with the collector's whole
//! configuration), Fargate sizing and the log and secret wiring
//! ([`TaskInputs`]); the step in `task_definition` registers it.

use super::task_fingerprint::fingerprint;
use super::{family, APP_CONTAINER, OTEL_CONTAINER, OTEL_IMAGE, STOP_TIMEOUT};
use crate::config::app_env::SecretRef;
use crate::steps::network::APP_PORT;
use crate::steps::{build_err, ids, Ctx, StepResult};
use aws_sdk_ecs::types::{
    ContainerCondition, ContainerDefinition, ContainerDependency, HealthCheck, KeyValuePair, LogConfiguration,
    LogDriver, MountPoint, PortMapping, Secret, TransportProtocol,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The environment variable the ADOT collector reads a whole configuration
/// from (it takes precedence over `--config`).
pub const OTEL_CONFIG_ENV: &str = "AOT_CONFIG_CONTENT";
/// The collector's configuration: OTLP in (gRPC and HTTP), batched, traces
/// out to X-Ray, nothing else. It matches the task role, which allows only
/// the X-Ray calls the awsxray exporter makes (`identity::task_policy`);
/// the image's bundled `/etc/ecs/ecs-default-config.yaml` also exports EMF
/// metrics to CloudWatch Logs, which the role does not allow. `{region}` is
/// the task's region ([`otel_config`]).
pub const OTEL_CONFIG_YAML: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318
processors:
  batch:
exporters:
  awsxray:
    region: {region}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [awsxray]
";

/// The collector's soft memory limit (MiB); the app reserves the rest of
/// the task's memory. ContainerDefinition `memoryReservation` is optional
/// on Fargate, and the containers' reservations must not add up to more
/// than the task's memory (ECS API Reference, ContainerDefinition). Setting
/// it also lets moto run a one-off task (`provision run`): its RunTask
/// sums the containers' memory and fails (HTTP 500) on a container that
/// names none.
pub const OTEL_MEMORY_RESERVATION: i32 = 128;

/// [`OTEL_CONFIG_YAML`] for a task in `region`.
/// The task's scratch volumes: the app's `/tmp`, the collector's `/tmp`.
pub const APP_SCRATCH_VOLUME: &str = "tmp";
pub const OTEL_SCRATCH_VOLUME: &str = "otel-tmp";

pub fn otel_config(region: &str) -> String {
    OTEL_CONFIG_YAML.replace("{region}", region)
}

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
    /// The DynamoDB table of the API's idempotency keys.
    pub idempotency_table: String,
    pub service_name: String,
    pub environment: String,
    /// ECS Exec is enabled: the app's root filesystem is then writable.
    pub exec: bool,
    /// The app's own variables and secrets (`--env`, `--secret`).
    pub app_env: BTreeMap<String, String>,
    pub app_secrets: BTreeMap<String, SecretRef>,
}

impl TaskInputs {
    pub fn from_ctx(cx: &Ctx) -> StepResult<Self> {
        let image = match &cx.settings.image {
            Some(i) => i.clone(),
            None => {
                let uri = cx.attr(ids::ECR_REPO, "uri")?;
                format!("{uri}:{}", cx.settings.image_tag)
            }
        };
        Ok(TaskInputs {
            family: family(cx),
            image,
            image_tag: cx.settings.image_tag.clone(),
            cpu: cx.settings.task_cpu,
            memory: cx.settings.task_memory,
            exec_role: cx.attr(ids::ROLE_EXEC, "arn")?,
            task_role: cx.attr(ids::ROLE_TASK, "arn")?,
            app_log: cx.id_of(ids::LOG_APP)?,
            otel_log: cx.id_of(ids::LOG_OTEL)?,
            region: cx.region().to_owned(),
            connection_secret: cx.attr(ids::SECRET_DB_CONNECTION, "arn")?,
            credentials_secret: cx.attr(ids::SECRET_DB_CREDENTIALS, "arn")?,
            idempotency_table: cx.id_of(ids::DDB_IDEMPOTENCY)?,
            service_name: crate::naming::PROJECT.to_owned(),
            environment: cx.suffix().to_string(),
            exec: cx.settings.enable_exec,
            app_env: cx.settings.env.clone(),
            app_secrets: cx.settings.secrets.clone(),
        })
    }

    /// The awslogs driver ("Send Amazon ECS logs to CloudWatch", ECS
    /// developer guide): `awslogs-stream-prefix` is required on Fargate;
    /// `mode` is `blocking` or `non-blocking`, and `max-buffer-size` sizes
    /// the non-blocking buffer (default 1m).
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

    /// The two containers: the app (essential, read-only root unless ECS
    /// Exec is on, secrets from Secrets Manager by JSON key) and the
    /// collector sidecar it starts after.
    ///
    /// ECS Exec bind-mounts the SSM agent into the container, and the agent
    /// writes its state and logs under the container's root filesystem: AWS
    /// documents no volumes that make it work with `readonlyRootFilesystem`
    /// (the ECS Exec considerations say a read-only root is not supported;
    /// aws/containers-roadmap#1359 asks for it, and the workaround there,
    /// volumes on /var/lib/amazon, /var/log/amazon and /managed-agents, is
    /// not AWS's). So the root is writable only with `--enable-exec`.
    pub fn containers(&self) -> StepResult<Vec<ContainerDefinition>> {
        let secret = |name: &str, arn: &str, key: &str| {
            Secret::builder()
                .name(name)
                .value_from(format!("{arn}:{key}::"))
                .build()
                .map_err(build_err)
        };
        let env = |k: &str, v: &str| KeyValuePair::builder().name(k).value(v).build();
        let mut app = ContainerDefinition::builder();
        for (k, v) in &self.app_env {
            app = app.environment(env(k, v));
        }
        for (k, s) in &self.app_secrets {
            app = app.secrets(
                Secret::builder()
                    .name(k)
                    .value_from(s.value_from())
                    .build()
                    .map_err(build_err)?,
            );
        }
        let app = app
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
            // The credentials are read by the app itself when its pool opens
            // a connection (not injected once at start), so a rotation of
            // the secret never locks it out; its queries run as the
            // least-privilege role with IAM auth tokens.
            .environment(env("DB_SECRET_ARN", &self.credentials_secret))
            .environment(env("DB_IAM_AUTH", "1"))
            .environment(env("DB_APP_USER", crate::steps::identity::APP_DB_USER))
            .environment(env("IDEMPOTENCY_TABLE", &self.idempotency_table))
            .stop_timeout(STOP_TIMEOUT)
            .memory_reservation(self.memory as i32 - OTEL_MEMORY_RESERVATION)
            .readonly_root_filesystem(!self.exec)
            // gunicorn's heartbeat lives in /dev/shm; /tmp is a scratch volume.
            .mount_points(
                MountPoint::builder()
                    .source_volume(APP_SCRATCH_VOLUME)
                    .container_path("/tmp")
                    .read_only(false)
                    .build(),
            )
            .log_configuration(self.log(&self.app_log, APP_CONTAINER)?)
            .health_check(
                // ECS API Reference, HealthCheck: interval 5-300 s, timeout
                // 2-120 s, retries 1-10, startPeriod 0-300 s.
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
            .memory_reservation(OTEL_MEMORY_RESERVATION)
            // The whole configuration, instead of the image's bundled one.
            .environment(env(OTEL_CONFIG_ENV, &otel_config(&self.region)))
            .log_configuration(self.log(&self.otel_log, OTEL_CONTAINER)?)
            // Read-only like the app's (Security Hub ECS.5): the collector
            // writes only scratch files, to a volume of its own.
            .readonly_root_filesystem(true)
            .mount_points(
                MountPoint::builder()
                    .source_volume(OTEL_SCRATCH_VOLUME)
                    .container_path("/tmp")
                    .read_only(false)
                    .build(),
            )
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

/// The inputs of a typical stack, for the unit tests of this family.
#[cfg(test)]
pub(super) fn sample_inputs() -> TaskInputs {
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
        idempotency_table: "ddb-idempotency-dev1".into(),
        credentials_secret: "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:creds-GhIjKl".into(),
        service_name: "product-catalog".into(),
        environment: "dev1".into(),
        exec: false,
        app_env: BTreeMap::new(),
        app_secrets: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Record;
    use crate::steps::ecs::fingerprint_diff;
    use std::collections::BTreeMap;

    #[test]
    fn app_settings_become_variables_and_secret_references_and_a_new_fingerprint() {
        let settings = crate::testing::settings(&[
            "--env",
            "FEATURE_FLAGS=search",
            "--secret",
            "STRIPE_KEY=arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:payments-AbCdEf:api_key",
        ]);
        let inputs = TaskInputs {
            app_env: settings.env.clone(),
            app_secrets: settings.secrets.clone(),
            ..sample_inputs()
        };
        let cs = inputs.containers().unwrap();
        let app = cs.iter().find(|c| c.name() == Some("app")).unwrap();
        let env: BTreeMap<&str, &str> = app
            .environment()
            .iter()
            .map(|e| (e.name().unwrap(), e.value().unwrap()))
            .collect();
        assert_eq!(env["FEATURE_FLAGS"], "search");
        let secrets: BTreeMap<&str, &str> = app.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
        assert_eq!(
            secrets["STRIPE_KEY"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:payments-AbCdEf:api_key::"
        );
        assert_ne!(
            inputs.desired_fingerprint().unwrap(),
            sample_inputs().desired_fingerprint().unwrap(),
            "a changed setting registers a new revision"
        );
        let otel = cs.iter().find(|c| c.name() == Some("otel-collector")).unwrap();
        assert!(otel.environment().iter().all(|e| e.name() != Some("FEATURE_FLAGS")));
    }

    #[test]
    fn the_app_reads_db_settings_by_json_key_and_starts_after_the_collector() {
        let cs = sample_inputs().containers().unwrap();
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
        // No password is injected at start (it would go stale at the first
        // rotation): the app reads the secret itself and runs as its role.
        assert!(
            !s.contains_key("DB_PASSWORD") && !s.contains_key("DB_USERNAME"),
            "{s:?}"
        );
        let env: BTreeMap<&str, &str> = app
            .environment()
            .iter()
            .filter_map(|e| Some((e.name()?, e.value()?)))
            .collect();
        assert_eq!(
            env["DB_SECRET_ARN"],
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:creds-GhIjKl"
        );
        assert_eq!(env["DB_IAM_AUTH"], "1");
        assert_eq!(env["DB_APP_USER"], "catalog_app");
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
        assert_eq!(
            otel.readonly_root_filesystem(),
            Some(true),
            "the collector's root is read-only too"
        );
        assert_eq!(otel.mount_points()[0].source_volume(), Some(OTEL_SCRATCH_VOLUME));
        assert_eq!(otel.mount_points()[0].container_path(), Some("/tmp"));
        assert!(otel.image().unwrap().ends_with(":v0.43.3"));
        assert!(otel.command().is_empty());
        assert_eq!(
            otel.log_configuration().unwrap().options().unwrap()["awslogs-group"],
            "/provision/dev1/otel-collector"
        );
    }

    /// The keys directly under each top-level section of a plain YAML
    /// document (two-space indentation), e.g. `exporters` -> `[awsxray]`.
    fn sections(yaml: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut section = String::new();
        for line in yaml.lines().filter(|l| !l.trim().is_empty()) {
            let key = line.trim().split(':').next().unwrap_or_default().to_owned();
            if !line.starts_with(' ') {
                section = key.clone();
                out.entry(key).or_default();
            } else if line.starts_with("  ") && !line.starts_with("   ") {
                out.entry(section.clone()).or_default().push(key);
            }
        }
        out
    }

    #[test]
    fn the_collector_exports_only_traces_to_xray_which_the_task_role_allows() {
        let cs = sample_inputs().containers().unwrap();
        let otel = cs.iter().find(|c| c.name() == Some(OTEL_CONTAINER)).unwrap();
        assert!(otel.command().is_empty(), "{:?}", otel.command());
        let yaml = otel
            .environment()
            .iter()
            .find(|e| e.name() == Some("AOT_CONFIG_CONTENT"))
            .and_then(|e| e.value())
            .expect("the collector gets its whole configuration in AOT_CONFIG_CONTENT");
        assert!(!yaml.contains("awsemf"), "{yaml}");
        let s = sections(yaml);
        assert_eq!(s["receivers"], ["otlp"]);
        assert_eq!(s["processors"], ["batch"]);
        assert_eq!(s["exporters"], ["awsxray"]);
        assert_eq!(s["service"], ["pipelines"]);
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(yaml.contains("endpoint: 0.0.0.0:4317"), "{yaml}");
        assert!(yaml.contains("endpoint: 0.0.0.0:4318"), "{yaml}");
        assert!(yaml.contains("region: ap-southeast-2"), "{yaml}");
        assert!(yaml.contains("traces:"), "{yaml}");
        assert!(!yaml.contains("metrics:") && !yaml.contains("logs:"), "{yaml}");
        assert!(yaml.contains("receivers: [otlp]"), "{yaml}");
        assert!(yaml.contains("processors: [batch]"), "{yaml}");
        assert!(yaml.contains("exporters: [awsxray]"), "{yaml}");

        // The task role grants what the awsxray exporter calls.
        let cx = crate::testing::ctx(&[]);
        cx.set_record(
            ids::DB_CLUSTER,
            Record::new("aurora-catalog-dev1").with("resource_id", "cluster-X"),
        );
        cx.set_record(
            ids::SECRET_DB_CREDENTIALS,
            Record::new("creds").with(
                "arn",
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:creds-GhIjKl",
            ),
        );
        let key = "arn:aws:kms:ap-southeast-2:123456789012:key/k";
        cx.set_record(ids::KMS_ALARMS, Record::new(key).with("arn", key));
        cx.set_record(
            ids::DDB_IDEMPOTENCY,
            Record::new("ddb-idempotency-dev1").with(
                "arn",
                "arn:aws:dynamodb:ap-southeast-2:123456789012:table/ddb-idempotency-dev1",
            ),
        );
        let policy = crate::steps::identity::task_policy(&cx, "123456789012").unwrap();
        let allowed: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["Effect"] == "Allow")
            .flat_map(|st| match &st["Action"] {
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>(),
                Value::String(a) => vec![a.as_str()],
                _ => vec![],
            })
            .collect();
        for action in [
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
        ] {
            assert!(allowed.contains(&action), "{action} missing from {allowed:?}");
        }
        assert!(
            allowed
                .iter()
                .all(|a| !a.starts_with("logs:") && !a.starts_with("cloudwatch:")),
            "{allowed:?}"
        );
    }

    #[test]
    fn the_root_filesystem_is_read_only_unless_ecs_exec_is_enabled() {
        let app = |i: &TaskInputs| {
            i.containers()
                .unwrap()
                .into_iter()
                .find(|c| c.name() == Some(APP_CONTAINER))
                .unwrap()
        };
        let off = sample_inputs();
        assert_eq!(app(&off).readonly_root_filesystem(), Some(true));
        let on = TaskInputs {
            exec: true,
            ..sample_inputs()
        };
        assert_eq!(app(&on).readonly_root_filesystem(), Some(false));
        // /tmp stays a scratch volume either way.
        assert_eq!(app(&on).mount_points()[0].container_path(), Some("/tmp"));
        // Turning exec on or off is drift: `up` registers a new revision.
        let diff = fingerprint_diff(&off.desired_fingerprint().unwrap(), &on.desired_fingerprint().unwrap());
        assert_eq!(diff, vec!["container app readonly differs".to_string()]);
        // The settings decide.
        let cx = crate::testing::ctx(&["--enable-exec"]);
        assert!(cx.settings.enable_exec);
    }

    #[test]
    fn container_values_are_within_the_fargate_limits() {
        let cs = sample_inputs().containers().unwrap();
        // memoryReservation: the containers' sum fits the task's memory.
        let reserved: i32 = cs.iter().map(|c| c.memory_reservation().unwrap()).sum();
        assert_eq!(reserved, 1024);
        assert!(cs.iter().all(|c| c.memory_reservation().unwrap() > 0));
        for c in &cs {
            // ContainerDefinition.stopTimeout: at most 120 s on Fargate.
            assert!(c.stop_timeout().unwrap_or(30) <= 120, "{:?}", c.name());
            let log = c.log_configuration().unwrap();
            let opts = log.options().unwrap();
            // awslogs on Fargate needs a stream prefix; mode is blocking or non-blocking.
            assert!(!opts["awslogs-stream-prefix"].is_empty());
            assert!(["blocking", "non-blocking"].contains(&opts["mode"].as_str()));
            if let Some(h) = c.health_check() {
                // HealthCheck: interval 5-300, timeout 2-120, retries 1-10, startPeriod 0-300.
                assert!((5..=300).contains(&h.interval().unwrap_or(30)));
                assert!((2..=120).contains(&h.timeout().unwrap_or(5)));
                assert!((1..=10).contains(&h.retries().unwrap_or(3)));
                assert!((0..=300).contains(&h.start_period().unwrap_or(0)));
            }
        }
    }
}
