//! MiniStack, a second and independent AWS emulator (MIT licensed, pinned
//! in `scripts/requirements-ministack.txt`, started by the project's own
//! `scripts/ministack.sh` on 127.0.0.1). It implements what moto lacks at
//! the edge (CloudFront VPC origins, the managed cache policies,
//! `DistributionNotDisabled`, `PreconditionFailed` on a stale `If-Match`,
//! WAFv2 and CloudWatch Logs deliveries) but not Application Auto Scaling,
//! so it serves the edge family's tests, not the whole stack. The binary
//! talks to it directly, without the project's proxy in between: its
//! answers are its own. `scripts/MINISTACK_NOTES.md` says what it does.

use super::repo_root;
use std::path::PathBuf;
use std::process::Command;

/// One MiniStack server, started for a test binary and stopped when this
/// is dropped (at the end of the test, and on a panic's unwinding);
/// `scripts/test.sh` stops any that a killed test binary left behind.
pub struct Ministack {
    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL` is set to.
    pub url: String,
    instance: String,
}

impl Ministack {
    /// Starts the instance `instance` (its pid, port and log files are
    /// `.run/ministack-{instance}.*`), installing the pinned virtualenv
    /// first if needed, with nothing in it: one left running by a killed
    /// test binary is reused, and emptied first.
    pub fn start(instance: &str) -> Ministack {
        let out = script(instance, "start");
        assert!(
            out.status.success(),
            "ministack.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected ministack url {url:?}");
        let reset = script(instance, "reset");
        assert!(
            reset.status.success(),
            "ministack.sh reset failed: {}",
            String::from_utf8_lossy(&reset.stderr)
        );
        Ministack {
            url,
            instance: instance.to_owned(),
        }
    }

    /// The server's log, for a failure's message.
    pub fn log_path(&self) -> PathBuf {
        repo_root().join(format!(".run/ministack-{}.log", self.instance))
    }
}

impl Drop for Ministack {
    fn drop(&mut self) {
        let _ = script(&self.instance, "stop");
    }
}

fn script(instance: &str, command: &str) -> std::process::Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/ministack.sh"))
        .arg(command)
        .env("MINISTACK_INSTANCE", instance)
        .output()
        .expect("run scripts/ministack.sh")
}
