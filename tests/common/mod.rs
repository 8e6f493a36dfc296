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

/// Starts (once per test binary) a moto instance named `instance` and
/// returns its endpoint URL.
pub fn moto(instance: &str) -> String {
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
    let url = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "unexpected moto url {url:?}");
    urls.insert(instance.to_owned(), url.clone());
    url
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
        .credentials_provider(aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests"))
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
