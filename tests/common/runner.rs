//! The real `provision` binary, run as a user would run it: its own working
//! and state directories, credentials for the emulator, nothing else from
//! the environment.

use super::REGION;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
