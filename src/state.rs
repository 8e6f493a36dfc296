//! The state directory: `<suffix>.json` with what each step recorded, and
//! `<suffix>.lock` so two runs never work on one suffix at once.
//!
//! State is a cache, not the truth: every step finds its resource in AWS by
//! tags, so a lost or stale state file costs nothing but speed. It never
//! holds a secret value, only ids and ARNs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a step knows about its resource: the identifier dependents need,
/// and a few named attributes (ARNs, endpoints, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The primary identifier (`vpc-0abc`, an ARN, a name).
    pub id: String,
    /// Further identifiers dependents need (endpoint, secret ARN, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    /// Whether the resource was usable (available, active) when last seen,
    /// so a converged run does not poll for it again.
    #[serde(default)]
    pub ready: bool,
}

impl Record {
    pub fn new(id: impl Into<String>) -> Self {
        Record {
            id: id.into(),
            attrs: BTreeMap::new(),
            ready: true,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attrs.insert(key.to_owned(), value.into());
        self
    }

    pub fn pending(mut self) -> Self {
        self.ready = false;
        self
    }

    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub suffix: String,
    pub region: String,
    pub steps: BTreeMap<String, Record>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "cannot use the state directory {path}: {source}\n  hint: check it exists and is writable, or pass --state-dir"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another provision run (pid {pid}, started {started}) is working on suffix `{suffix}`\n  hint: wait for it to finish; if that process is gone, the lock {path} is removed automatically on the next run")]
    Locked {
        suffix: String,
        pid: u32,
        started: String,
        path: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The state of one suffix on disk.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(dir: &Path, suffix: &str) -> Self {
        Store {
            path: dir.join(format!("{suffix}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or an empty one when there is none (or it is
    /// unreadable: state is only a cache, so a damaged file is ignored).
    pub fn load(&self) -> StateFile {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring unreadable state file");
                StateFile::default()
            }),
            Err(_) => StateFile::default(),
        }
    }

    /// Writes atomically: a private temp file in the same directory, synced,
    /// then renamed over the old one, so a crash leaves the old or the new
    /// file, never half of one.
    pub fn save(&self, state: &StateFile) -> Result<(), StateError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io(dir))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
            std::process::id()
        ));
        let bytes = serde_json::to_vec_pretty(state).expect("state serialises");
        let mut f = private_file(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        Ok(())
    }

    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.path)(e)),
            _ => Ok(()),
        }
    }
}

fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    /// Seconds since the epoch when the run started.
    started: u64,
    /// The kernel's start time of the process, to tell a reused pid apart.
    #[serde(default)]
    proc_start: Option<u64>,
}

/// Held while a run works on a suffix; removes the lock file when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    /// Takes the lock, replacing a stale one left by a process that is gone.
    pub fn acquire(dir: &Path, suffix: &str) -> Result<Lock, StateError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(format!("{suffix}.lock"));
        for _ in 0..3 {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(&path) {
                Ok(mut f) => {
                    let pid = std::process::id();
                    let info = LockInfo {
                        pid,
                        started: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0),
                        proc_start: process_start(pid),
                    };
                    f.write_all(&serde_json::to_vec(&info).expect("lock serialises"))
                        .and_then(|_| f.sync_all())
                        .map_err(io(&path))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<LockInfo> = fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
                    match holder {
                        Some(h) if is_alive(&h) => {
                            return Err(StateError::Locked {
                                suffix: suffix.to_owned(),
                                pid: h.pid,
                                started: format_epoch(h.started),
                                path,
                            })
                        }
                        _ => {
                            // A dead holder, or a lock file cut short by a
                            // crash while it was being written.
                            tracing::warn!(path = %path.display(), "removing stale lock left by a process that is gone");
                            let _ = fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(io(&path)(std::io::Error::other("could not take the lock")))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn is_alive(h: &LockInfo) -> bool {
    if h.pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        // Linux: the pid must exist and be the same process (not a reuse).
        match (process_start(h.pid), h.proc_start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => true,
        }
    } else {
        std::process::Command::new("kill")
            .args(["-0", &h.pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(true)
    }
}

/// Field 22 of /proc/PID/stat: the process start time in clock ticks.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn format_epoch(secs: u64) -> String {
    let ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(secs))
        .unwrap_or(0);
    format!("{ago}s ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_is_atomic_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "dev1");
        let mut st = StateFile {
            version: 1,
            suffix: "dev1".into(),
            region: "ap-southeast-2".into(),
            ..Default::default()
        };
        st.steps
            .insert("vpc".into(), Record::new("vpc-1").with("cidr", "10.0.0.0/16"));
        store.save(&st).unwrap();
        let back = store.load();
        assert_eq!(back.steps["vpc"].id, "vpc-1");
        assert_eq!(back.steps["vpc"].attr("cidr"), Some("10.0.0.0/16"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn damaged_state_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "dev1");
        fs::write(store.path(), b"{not json").unwrap();
        assert!(store.load().steps.is_empty());
    }

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), "dev1").unwrap();
        let err = Lock::acquire(dir.path(), "dev1").unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another provision run"));
        drop(first);
        assert!(Lock::acquire(dir.path(), "dev1").is_ok());
    }

    #[test]
    fn stale_lock_of_a_dead_process_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // A child that has exited: its pid is no longer a live process.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let info = LockInfo {
            pid,
            started: 0,
            proc_start: Some(1),
        };
        fs::write(dir.path().join("dev1.lock"), serde_json::to_vec(&info).unwrap()).unwrap();
        assert!(Lock::acquire(dir.path(), "dev1").is_ok());
        // A half-written lock file is stale too.
        let dir2 = tempfile::tempdir().unwrap();
        fs::write(dir2.path().join("dev1.lock"), b"{\"pi").unwrap();
        assert!(Lock::acquire(dir2.path(), "dev1").is_ok());
    }
}
