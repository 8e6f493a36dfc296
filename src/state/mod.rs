//! Where a stack's state lives. In AWS, in the account's state bucket
//! ([`bucket`]): the recorded settings, binding and deployed image
//! ([`record`]), the lock ([`lock`]), what each step recorded, and the
//! account's measured step durations ([`durations`]). On this
//! machine, the state directory's `<suffix>.json` ([`Store`]): a cache of
//! the bucket's copy, safe to delete.
//!
//! State is a cache, not the truth: every step finds its resource in AWS by
//! tags, so lost or stale state costs nothing but speed. It never holds a
//! secret value, only ids and ARNs.

pub mod bucket;
pub mod durations;
pub mod lock;
pub mod process;
pub mod record;

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
    /// The account and region the stack was last worked on in: a run in
    /// another refuses (see `commands::stack`).
    #[serde(default)]
    pub account: String,
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
}
