//! The real `provision` binary, run as a user would run it: its own working
//! and state directories, credentials for the emulator, nothing else from
//! the environment ([`Provision`]); and one stack driven through it
//! ([`Stack`]), the harness every test binary shares.

use super::{clients, REGION};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

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
        stdout(&succeeded(args, self.run(args)))
    }

    pub fn state_file(&self, suffix: &str) -> PathBuf {
        self.state_dir.join(format!("{suffix}.json"))
    }
}

/// `out`, once it is known that `provision <args>` succeeded; otherwise a
/// panic with its exit code and everything it wrote.
fn succeeded(args: &[&str], out: Output) -> Output {
    assert!(
        out.status.success(),
        "provision {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    out
}

/// One stack (one suffix) driven through the real binary, from a machine
/// of its own (its [`Provision`]'s directories): `provision <cmd> --suffix
/// S <rest>`. Every byte the binary writes, and the state each command
/// leaves, is kept in a transcript for the checks that no secret is ever
/// printed or stored.
pub struct Stack {
    pub p: Provision,
    pub suffix: String,
    transcript: Mutex<String>,
}

impl Stack {
    /// The stack `suffix`, against `endpoint`.
    pub fn new(endpoint: &str, suffix: &str) -> Stack {
        Stack {
            p: Provision::new(endpoint),
            suffix: suffix.to_owned(),
            transcript: Mutex::default(),
        }
    }

    /// The words of `provision <cmd> --suffix S <rest>`. `cmd` is all that
    /// comes before `--suffix`, split at spaces: the command with its
    /// operands, and any global flag before it (`"step nat-a"`, `"-vvv up"`).
    pub fn args<'a>(&'a self, cmd: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args: Vec<&str> = cmd.split_whitespace().collect();
        args.extend_from_slice(&["--suffix", &self.suffix]);
        args.extend_from_slice(rest);
        args
    }

    /// That command, not started yet (to spawn it, or to change its
    /// environment); what it writes is not in the transcript.
    pub fn command(&self, cmd: &str, rest: &[&str]) -> Command {
        let mut c = self.p.command();
        c.args(self.args(cmd, rest));
        c
    }

    /// Runs `provision <cmd> --suffix S <rest>` and keeps its output.
    pub fn run(&self, cmd: &str, rest: &[&str]) -> Output {
        let out = self.p.run(&self.args(cmd, rest));
        let mut t = self.transcript.lock().unwrap();
        t.push_str(&stdout(&out));
        t.push_str(&stderr(&out));
        // The state as each command left it (`down` removes the file).
        t.push_str(&read_tree(&self.p.state_dir));
        out
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, cmd: &str, rest: &[&str]) -> String {
        stdout(&self.ok_output(cmd, rest))
    }

    /// Runs and asserts success, returning all of the output (stderr has
    /// the progress and the summary).
    pub fn ok_output(&self, cmd: &str, rest: &[&str]) -> Output {
        succeeded(&self.args(cmd, rest), self.run(cmd, rest))
    }

    /// Runs `status`, asserts it found drift (exit 3) and says each of
    /// `needles`; returns what it printed.
    pub fn status_drifted(&self, needles: &[&str]) -> String {
        let st = self.run("status", &[]);
        let text = stdout(&st);
        assert_eq!(st.status.code(), Some(3), "{text}");
        for needle in needles {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        text
    }

    /// Every byte the binary wrote so far and the state as each command
    /// left it, then the state as it is now.
    pub fn transcript(&self) -> String {
        let t = self.transcript.lock().unwrap();
        format!("{t}{}", read_tree(&self.p.state_dir))
    }

    /// The name of a resource of this stack: `{kind}-{purpose}-{suffix}`.
    pub fn name(&self, kind: &str, purpose: &str) -> String {
        format!("{kind}-{purpose}-{}", self.suffix)
    }

    /// This stack's state file on its machine.
    pub fn state_file(&self) -> PathBuf {
        self.p.state_file(&self.suffix)
    }

    /// SDK clients on the endpoint the binary uses.
    pub async fn aws(&self) -> provision::aws::Clients {
        clients(&self.p.endpoint).await
    }
}

/// Asserts that `out`'s stderr says every one of `needles`; otherwise the
/// panic shows what is missing and all of stderr.
#[track_caller]
pub fn assert_stderr_has(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    let missing: Vec<&str> = needles.iter().copied().filter(|n| !err.contains(n)).collect();
    assert!(missing.is_empty(), "stderr lacks {missing:?}:\n{err}");
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
