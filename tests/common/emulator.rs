//! The moto server (one per test binary and instance name, started by
//! `scripts/moto.sh`) and the project's fault-injecting proxy
//! (`scripts/fault_proxy.py`) in front of it.

use super::repo_root;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Starts (once per test binary) a moto instance named `instance` with the
/// project's proxy in front of it, and returns the proxy's URL. The proxy
/// translates CloudWatch's rpc-v2-cbor protocol, which moto lacks.
pub fn moto(instance: &str) -> String {
    shared_proxy(instance).url.clone()
}

/// The proxy `moto(instance)` returns the URL of (one per test binary and
/// instance, living as long as the test binary: it exits with its parent).
pub fn shared_proxy(instance: &str) -> &'static Proxy {
    static PROXIES: OnceLock<Mutex<HashMap<String, &'static Proxy>>> = OnceLock::new();
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
    static URLS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
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
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.stats()["calls"]
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

/// Operations that create or change something (vs. describe/list/get), as
/// the proxy names them in [`Proxy::calls`].
pub fn is_mutation(op: &str) -> bool {
    if op == "S3:GET" || op == "S3:HEAD" {
        return false;
    }
    let op = op.rsplit(':').next().unwrap_or(op);
    !["Describe", "List", "Get", "Head", "BatchGet", "Lookup", "Search"]
        .iter()
        .any(|p| op.starts_with(p))
}
