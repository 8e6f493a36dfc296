//! Shared harness for the integration tests: a moto server per test binary
//! (started by the project's own `scripts/moto.sh`), the real `provision`
//! binary run as a user would run it, and SDK clients for assertions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const REGION: &str = "ap-southeast-2";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts (once per test binary) a moto instance named `instance` with the
/// project's proxy in front of it, and returns the proxy's URL. The proxy
/// translates CloudWatch's rpc-v2-cbor protocol, which moto lacks.
pub fn moto(instance: &str) -> String {
    shared_proxy(instance).url.clone()
}

/// The proxy `moto(instance)` returns the URL of (one per test binary and
/// instance, living as long as the test binary: it exits with its parent).
pub fn shared_proxy(instance: &str) -> &'static Proxy {
    static PROXIES: OnceLock<std::sync::Mutex<std::collections::HashMap<String, &'static Proxy>>> = OnceLock::new();
    let proxies = PROXIES.get_or_init(Default::default);
    let mut proxies = proxies.lock().unwrap();
    if let Some(p) = proxies.get(instance) {
        return p;
    }
    let direct = moto_direct(instance);
    let proxy: &'static Proxy = Box::leak(Box::new(Proxy::start(&direct, &[])));
    proxies.insert(instance.to_owned(), proxy);
    proxy
}

/// The moto server itself, without the proxy.
pub fn moto_direct(instance: &str) -> String {
    static URLS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> = OnceLock::new();
    let urls = URLS.get_or_init(Default::default);
    let mut urls = urls.lock().unwrap();
    if let Some(u) = urls.get(instance) {
        return u.clone();
    }
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/moto.sh"))
        .arg("start")
        .env("MOTO_INSTANCE", instance)
        .output()
        .expect("run scripts/moto.sh");
    assert!(
        out.status.success(),
        "moto.sh start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "unexpected moto url {url:?}");
    urls.insert(instance.to_owned(), url.clone());
    url
}

/// A unique suffix of the longest length allowed (12), so every name and
/// idempotency token is tested at its longest.
pub fn long_suffix(prefix: &str) -> String {
    let s = suffix(prefix);
    let pad = 12usize.saturating_sub(s.len());
    format!("{s}{}", "z".repeat(pad))
}

/// A unique suffix per test, so tests sharing a moto server never collide.
pub fn suffix(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id() % 1000;
    let s = format!("{prefix}{pid}{n}");
    s.chars().take(12).collect()
}

/// Runs the `provision` binary against `endpoint` with a state directory.
pub struct Provision {
    pub endpoint: String,
    pub state_dir: PathBuf,
    pub workdir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Provision {
    pub fn new(endpoint: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Provision {
            endpoint: endpoint.to_owned(),
            state_dir: tmp.path().join("state"),
            workdir: tmp.path().to_owned(),
            _tmp: tmp,
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_provision"));
        c.current_dir(&self.workdir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PROVISION_STATE_DIR", &self.state_dir);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run provision")
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "provision {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn state_file(&self, suffix: &str) -> PathBuf {
        self.state_dir.join(format!("{suffix}.json"))
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// SDK clients pointed at the emulator, for assertions.
pub async fn clients(endpoint: &str) -> provision::aws::Clients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    provision::aws::Clients::from_conf(&conf)
}

pub fn tag_filter(suffix: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:EnvironmentSuffix")
        .values(suffix)
        .build()
}

/// Every file under `dir`, concatenated (for "no secret in state" checks).
pub fn read_tree(dir: &Path) -> String {
    let mut all = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                all.push_str(&read_tree(&p));
            } else if let Ok(s) = std::fs::read_to_string(&p) {
                all.push_str(&s);
            }
        }
    }
    all
}

/// How long EC2 answers NotFound for a new id, and how long resources stay
/// in their pending states, in the realism mode.
pub const REALISM_EC_SECONDS: &str = "1.5";
pub const REALISM_LIFECYCLE_SECONDS: &str = "1.0";

/// The project's fault-injecting proxy (scripts/fault_proxy.py) in front of
/// a moto server: counts calls per operation, adds latency, throttles.
pub struct Proxy {
    pub url: String,
    child: std::process::Child,
    port: u16,
}

impl Proxy {
    /// The proxy with its AWS-realism mode on (documented request rules,
    /// EC2 eventual consistency, pending lifecycles, failed image pulls), as
    /// every integration test runs it; `extra` adds flags.
    pub fn start(upstream: &str, extra: &[&str]) -> Proxy {
        let mut args = vec![
            "--aws-realism",
            "--realism-ec-seconds",
            REALISM_EC_SECONDS,
            "--realism-lifecycle-seconds",
            REALISM_LIFECYCLE_SECONDS,
        ];
        args.extend_from_slice(extra);
        Proxy::start_plain(upstream, &args)
    }

    /// The proxy without the realism mode (only where a test needs moto's
    /// own answers).
    pub fn start_plain(upstream: &str, extra: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let python = repo_root().join(".venv-moto/bin/python");
        let python = if python.exists() {
            python
        } else {
            PathBuf::from("python3")
        };
        let child = Command::new(python)
            .arg(repo_root().join("scripts/fault_proxy.py"))
            .args([
                "--upstream",
                upstream,
                "--exit-with-parent",
                "--port",
                "0",
                "--port-file",
            ])
            .arg(&port_file)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start fault proxy");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let port: u16 = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = s.trim().parse() {
                    break p;
                }
            }
            assert!(std::time::Instant::now() < deadline, "fault proxy did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        std::mem::forget(dir);
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            child,
            port,
        }
    }

    fn request(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    /// Calls per operation since the last reset.
    pub fn calls(&self) -> std::collections::BTreeMap<String, u64> {
        let v: serde_json::Value = serde_json::from_str(&self.request("GET", "/__proxy/stats", "")).unwrap();
        v["calls"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default()
    }

    /// The requests the realism mode refused because they break a
    /// documented AWS rule (each with the rule and its message).
    pub fn violations(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value =
            serde_json::from_str(&self.request("GET", "/__proxy/realism/violations", "")).unwrap();
        v["violations"].as_array().cloned().unwrap_or_default()
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.request("GET", "/__proxy/stats", "")).unwrap()
    }

    pub fn reset(&self) {
        self.request("POST", "/__proxy/reset", "");
    }

    pub fn configure(&self, json: &str) {
        self.request("POST", "/__proxy/config", json);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Operations that create or change something (vs. describe/list/get).
pub fn is_mutation(op: &str) -> bool {
    if op == "S3:GET" || op == "S3:HEAD" {
        return false;
    }
    let op = op.rsplit(':').next().unwrap_or(op);
    !["Describe", "List", "Get", "Head", "BatchGet", "Lookup", "Search"]
        .iter()
        .any(|p| op.starts_with(p))
}

/// How many resources of each kind exist for `suffix`, counted through the
/// SDK from names and tags (never through provision itself), so duplicates
/// and leftovers show.
pub async fn census(aws: &provision::aws::Clients, s: &str) -> BTreeMap<&'static str, usize> {
    let f = || tag_filter(s);
    let ec2 = &aws.ec2;
    let mut m = BTreeMap::new();
    let mine = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("EnvironmentSuffix") && t.value() == Some(s))
    };
    m.insert(
        "vpc",
        ec2.describe_vpcs().filters(f()).send().await.unwrap().vpcs().len(),
    );
    m.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    m.insert(
        "igw",
        ec2.describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    m.insert(
        "eip",
        ec2.describe_addresses()
            .filters(f())
            .send()
            .await
            .unwrap()
            .addresses()
            .len(),
    );
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    m.insert(
        "nat",
        nats.nat_gateways()
            .iter()
            .filter(|n| mine(n.tags()))
            .filter(|n| matches!(n.state().map(|x| x.as_str()), Some("pending") | Some("available")))
            .count(),
    );
    m.insert(
        "route-table",
        ec2.describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    m.insert(
        "security-group",
        ec2.describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    m.insert(
        "flow-log",
        ec2.describe_flow_logs()
            .filter(f())
            .send()
            .await
            .unwrap()
            .flow_logs()
            .len(),
    );
    let roles = aws
        .iam
        .list_roles()
        .path_prefix(format!("/provision/{s}/"))
        .send()
        .await
        .unwrap();
    m.insert("iam-role", roles.roles().len());
    let mut groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/provision/{s}/"))
        .send()
        .await
        .unwrap()
        .log_groups()
        .len();
    groups += aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/rds/cluster/aurora-catalog-{s}/"))
        .send()
        .await
        .unwrap()
        .log_groups()
        .len();
    m.insert("log-group", groups);
    let repos = aws
        .ecr
        .describe_repositories()
        .send()
        .await
        .map(|o| o.repositories().to_vec())
        .unwrap_or_default();
    m.insert(
        "ecr",
        repos
            .iter()
            .filter(|r| r.repository_name() == Some(&format!("ecr-api-{s}")))
            .count(),
    );
    let clusters = aws.rds.describe_db_clusters().send().await.unwrap();
    m.insert(
        "db-cluster",
        clusters
            .db_clusters()
            .iter()
            .filter(|c| c.db_cluster_identifier() == Some(&format!("aurora-catalog-{s}")))
            .count(),
    );
    let instances = aws.rds.describe_db_instances().send().await.unwrap();
    m.insert(
        "db-instance",
        instances
            .db_instances()
            .iter()
            .filter(|i| i.db_cluster_identifier() == Some(&format!("aurora-catalog-{s}")))
            .count(),
    );
    let secrets = aws.secrets.list_secrets().send().await.unwrap();
    m.insert(
        "secret",
        secrets
            .secret_list()
            .iter()
            .filter(|x| x.name() == Some(&format!("db-connection-{s}")))
            .count(),
    );
    let lbs = aws.elb.describe_load_balancers().send().await.unwrap();
    m.insert(
        "load-balancer",
        lbs.load_balancers()
            .iter()
            .filter(|l| l.load_balancer_name() == Some(&format!("alb-api-{s}")))
            .count(),
    );
    let tgs = aws.elb.describe_target_groups().send().await.unwrap();
    m.insert(
        "target-group",
        tgs.target_groups()
            .iter()
            .filter(|t| {
                t.target_group_name()
                    .is_some_and(|n| n.ends_with(&format!("-{s}")) && n.starts_with("tg-"))
            })
            .count(),
    );
    let clusters = aws.ecs.list_clusters().send().await.unwrap();
    let ecs_cluster = format!("ecs-api-{s}");
    let arns: Vec<String> = clusters
        .cluster_arns()
        .iter()
        .filter(|a| a.ends_with(&format!("/{ecs_cluster}")))
        .cloned()
        .collect();
    let active = if arns.is_empty() {
        0
    } else {
        let d = aws
            .ecs
            .describe_clusters()
            .set_clusters(Some(arns))
            .send()
            .await
            .unwrap();
        d.clusters().iter().filter(|c| c.status() == Some("ACTIVE")).count()
    };
    m.insert("ecs-cluster", active);
    let services = if active > 0 {
        let d = aws
            .ecs
            .describe_services()
            .cluster(&ecs_cluster)
            .services(format!("svc-api-{s}"))
            .send()
            .await
            .unwrap();
        d.services().iter().filter(|x| x.status() == Some("ACTIVE")).count()
    } else {
        0
    };
    m.insert("ecs-service", services);
    // The alarm topic's customer managed key: live (not pending deletion).
    let alias = format!("alias/kms-alarms-{s}");
    let mut keys = 0;
    for a in aws.kms.list_aliases().send().await.unwrap().aliases() {
        if a.alias_name() != Some(alias.as_str()) {
            continue;
        }
        if let Some(k) = a.target_key_id() {
            let meta = aws.kms.describe_key().key_id(k).send().await.unwrap();
            let state = meta
                .key_metadata()
                .and_then(|m| m.key_state())
                .map(|s| s.as_str().to_owned());
            if state.as_deref() != Some("PendingDeletion") {
                keys += 1;
            }
        }
    }
    m.insert("kms-key", keys);
    m
}

use std::collections::BTreeMap;

/// What a complete stack holds, per kind.
pub fn full_census() -> BTreeMap<&'static str, usize> {
    [
        ("vpc", 1),
        ("subnet", 9),
        ("igw", 1),
        ("eip", 3),
        ("nat", 3),
        ("route-table", 5),
        ("security-group", 3),
        ("flow-log", 1),
        ("iam-role", 4),
        ("log-group", 4),
        ("ecr", 1),
        ("db-cluster", 1),
        ("db-instance", 2),
        ("secret", 1),
        ("load-balancer", 1),
        ("target-group", 2),
        ("ecs-cluster", 1),
        ("ecs-service", 1),
        ("kms-key", 1),
    ]
    .into()
}

/// The census with every count zero.
pub fn empty_census() -> BTreeMap<&'static str, usize> {
    full_census().into_keys().map(|k| (k, 0)).collect()
}

/// A minimal Docker image manifest (schema 2), different per tag.
pub fn image_manifest(tag: &str) -> String {
    let hex = |seed: &str| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        format!("{h:016x}").repeat(4)
    };
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470, "digest": format!("sha256:{}", hex(tag))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2819, "digest": format!("sha256:{}", hex(&format!("{tag}-layer")))}],
    })
    .to_string()
}

/// Puts an image tagged `tag` into ECR repository `repo` (`PutImage` with
/// [`image_manifest`]), so a deploy of that tag finds it in the registry.
pub async fn put_image(aws: &provision::aws::Clients, repo: &str, tag: &str) {
    aws.ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(image_manifest(tag))
        .image_tag(tag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutImage {repo}:{tag}: {e:?}"));
}

/// The state bucket of the emulator's account in [`REGION`].
pub fn state_bucket() -> String {
    format!("provision-state-123456789012-{REGION}")
}

/// Whether the lock object of `suffix` is in the state bucket.
pub async fn lock_held(aws: &provision::aws::Clients, suffix: &str) -> bool {
    aws.s3
        .head_object()
        .bucket(state_bucket())
        .key(format!("stacks/{suffix}/lock.json"))
        .send()
        .await
        .is_ok()
}

/// A lock holder as the lock object names it.
pub struct LockHolder<'a> {
    pub host: &'a str,
    pub pid: u32,
    pub proc_start: Option<u64>,
    /// When it last renewed the lock (epoch seconds), and its lease.
    pub renewed: u64,
    pub lease_seconds: u64,
}

impl LockHolder<'_> {
    /// `up` run by ana on her laptop, renewed at `renewed`, lease 60 s.
    pub fn elsewhere(renewed: u64) -> Self {
        LockHolder {
            host: "laptop-of-ana",
            pid: 4242,
            proc_start: None,
            renewed,
            lease_seconds: 60,
        }
    }
}

/// Writes the lock object of `suffix` as `h` holds it.
pub async fn put_lock(aws: &provision::aws::Clients, suffix: &str, h: LockHolder<'_>) {
    let body = serde_json::json!({
        "user": "ana", "host": h.host, "pid": h.pid, "proc_start": h.proc_start, "command": "up",
        "started": h.renewed, "renewed": h.renewed, "lease_seconds": h.lease_seconds
    });
    aws.s3
        .put_object()
        .bucket(state_bucket())
        .key(format!("stacks/{suffix}/lock.json"))
        .body(body.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
}

/// Now, in seconds since the epoch.
pub fn epoch_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
