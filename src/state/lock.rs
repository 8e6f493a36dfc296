//! The stack's lock: one object, `stacks/{suffix}/lock.json`, taken with a
//! conditional write (`PutObject` with `If-None-Match: *`, as Terraform's
//! S3 backend does with `use_lockfile`), so that of two runs started at the
//! same moment on two machines exactly one gets it.
//!
//! The object names its holder (user, host, process, command, start) and
//! is renewed every third of its lease with `If-Match` on its own ETag. A
//! waiting run treats the lock as stale when its ETag has not changed for a
//! whole lease on the waiter's own clock (no clock skew involved), when its
//! last renewal is older than two leases by the holder's own account, or at
//! once when the holder ran on this host and its process is gone. A stale
//! lock is taken over with `If-Match` on the stale ETag, so two waiters
//! never both win. Read-only commands take no lock.

use super::bucket::{Condition, ObjectStore, Written};
use super::process;
use crate::aws::AwsError;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The lease unless `PROVISION_LOCK_LEASE_SECONDS` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Who holds the lock, as written in the lock object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub host: String,
    pub pid: u32,
    #[serde(default)]
    pub proc_start: Option<u64>,
    pub command: String,
    /// When the run took the lock and when it last renewed it (seconds
    /// since the epoch, the holder's clock).
    pub started: u64,
    pub renewed: u64,
    pub lease_seconds: u64,
}

impl Holder {
    /// This process, running `command`.
    pub fn me(command: &str, lease: Duration) -> Self {
        let pid = std::process::id();
        let now = epoch();
        Holder {
            user: process::user(),
            host: process::host(),
            pid,
            proc_start: process::process_start(pid),
            command: command.to_owned(),
            started: now,
            renewed: now,
            lease_seconds: lease.as_secs().max(1),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, `provision {}`, started {}s ago)",
            self.user,
            self.host,
            self.pid,
            self.command,
            epoch().saturating_sub(self.started)
        )
    }

    /// Stale without waiting: the holder ran here and is gone, or it has
    /// not renewed for two leases by its own clock.
    fn plainly_stale(&self) -> bool {
        let here_and_gone = self.host == process::host() && !process::is_alive(self.pid, self.proc_start);
        here_and_gone || self.renewed + 2 * self.lease_seconds < epoch()
    }
}

/// Who holds a lock, for messages.
fn describe(holder: Option<&Holder>) -> String {
    holder
        .map(Holder::describe)
        .unwrap_or_else(|| "an unreadable lock object".into())
}

fn epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the stack `{suffix}` is locked by {holder}\n  hint: wait for that run to finish, or pass --lock-timeout 10m to wait for it; if it crashed, `provision unlock --suffix {suffix}` removes the lock (it also goes stale {lease}s after its last renewal)")]
    Held { suffix: String, holder: String, lease: u64 },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The lease from `PROVISION_LOCK_LEASE_SECONDS` (5 to 3600), else 60 s.
pub fn lease_from_env() -> Result<Duration, crate::config::InputError> {
    match std::env::var("PROVISION_LOCK_LEASE_SECONDS") {
        Err(_) => Ok(DEFAULT_LEASE),
        Ok(v) => match v.parse::<u64>() {
            Ok(n) if (5..=3600).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(crate::config::flag_err(
                "PROVISION_LOCK_LEASE_SECONDS (environment)",
                v,
                "not a number of seconds from 5 to 3600",
                "unset it for the default of 60",
            )),
        },
    }
}

/// A lock this run holds. Renewed in the background until [`Held::release`].
pub struct Held {
    store: Arc<dyn ObjectStore>,
    key: String,
    etag: Arc<Mutex<String>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Tells the renewer to stop between renewals, never during one.
    stop: Arc<tokio::sync::Notify>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Why the lock was lost during the run, if it was (another run took
    /// it over after this one failed to renew it within its lease).
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap().clone()
    }

    /// Stops renewing and deletes the lock if it is still this run's.
    ///
    /// The renewer is asked to stop and awaited, not aborted: an abort
    /// could drop a renewal S3 has already applied, and the delete would
    /// then name the ETag before it, be refused, and leave the lock behind.
    pub async fn release(mut self) -> Result<(), AwsError> {
        self.stop.notify_one();
        let _ = (&mut self.renewer).await;
        let etag = self.etag.lock().unwrap().clone();
        match self.store.delete(&self.key, Some(&etag)).await? {
            Written::Done(_) => Ok(()),
            Written::Conflict => {
                tracing::warn!(key = %self.key, "the lock was no longer this run's when it ended");
                Ok(())
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Takes the lock `key` for `me`, waiting up to `timeout` for a holder to
/// finish (`on_wait` is told who holds it, once per holder).
pub async fn acquire(
    store: Arc<dyn ObjectStore>,
    suffix: &str,
    key: &str,
    me: Holder,
    timeout: Duration,
    on_wait: &(dyn Fn(&str) + Send + Sync),
) -> Result<Held, LockError> {
    let lease = Duration::from_secs(me.lease_seconds);
    let deadline = Instant::now() + timeout;
    let body = serde_json::to_vec(&me).expect("lock serializes");
    // The holder's ETag as first seen, and when (this run's clock).
    let mut watched: Option<(String, Instant)> = None;
    let mut told = false;
    loop {
        if let Written::Done(etag) = store.put(key, body.clone(), Condition::Absent).await? {
            return Ok(start(store, key, me, etag));
        }
        let Some(current) = store.get(key).await? else {
            continue; // released in between: try again at once
        };
        let holder: Option<Holder> = serde_json::from_slice(&current.body).ok();
        // The holder promised to renew within its own lease.
        let theirs = holder
            .as_ref()
            .map_or(lease, |h| Duration::from_secs(h.lease_seconds.max(1)));
        let unchanged_for_a_lease = match &watched {
            Some((etag, since)) if *etag == current.etag => since.elapsed() >= theirs,
            _ => {
                watched = Some((current.etag.clone(), Instant::now()));
                false
            }
        };
        let stale = unchanged_for_a_lease || holder.as_ref().is_none_or(Holder::plainly_stale);
        let who = describe(holder.as_ref());
        if stale {
            tracing::warn!(holder = %who, "taking over a stale lock");
            if let Written::Done(etag) = store.put(key, body.clone(), Condition::Matches(current.etag)).await? {
                return Ok(start(store, key, me, etag));
            }
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(LockError::Held {
                suffix: suffix.to_owned(),
                holder: who,
                lease: theirs.as_secs(),
            });
        }
        if !told {
            on_wait(&who);
            told = true;
        }
        let poll = (theirs / 6).clamp(Duration::from_millis(500), Duration::from_secs(5));
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

/// Starts renewing a lock just taken.
fn start(store: Arc<dyn ObjectStore>, key: &str, me: Holder, etag: String) -> Held {
    let etag = Arc::new(Mutex::new(etag));
    let lost: Arc<Mutex<Option<String>>> = Arc::default();
    let stop = Arc::new(tokio::sync::Notify::new());
    let renewer = tokio::spawn(renew(
        store.clone(),
        key.to_owned(),
        me,
        etag.clone(),
        lost.clone(),
        stop.clone(),
    ));
    Held {
        store,
        key: key.to_owned(),
        etag,
        lost,
        stop,
        renewer,
    }
}

/// Every third of the lease: rewrite the lock if it is still ours. A
/// failed renewal is retried at the next tick; a lease without a successful
/// renewal, or a lock someone else now holds, is lost.
async fn renew(
    store: Arc<dyn ObjectStore>,
    key: String,
    mut me: Holder,
    etag: Arc<Mutex<String>>,
    lost: Arc<Mutex<Option<String>>>,
    stop: Arc<tokio::sync::Notify>,
) {
    let lease = Duration::from_secs(me.lease_seconds);
    let mut last_ok = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(lease / 3) => {}
            _ = stop.notified() => return,
        }
        me.renewed = epoch();
        let body = serde_json::to_vec(&me).expect("lock serializes");
        let current = etag.lock().unwrap().clone();
        match store.put(&key, body, Condition::Matches(current)).await {
            Ok(Written::Done(new)) => {
                *etag.lock().unwrap() = new;
                last_ok = Instant::now();
            }
            Ok(Written::Conflict) => {
                *lost.lock().unwrap() = Some("another run took the lock over".into());
                tracing::error!(%key, "the lock was taken over by another run");
                return;
            }
            Err(e) => {
                tracing::warn!(%key, error = %e, "could not renew the lock; retrying");
                if last_ok.elapsed() >= lease {
                    *lost.lock().unwrap() = Some(format!("it could not be renewed within its lease: {e}"));
                    return;
                }
            }
        }
    }
}

/// Removes the lock `key` for `provision unlock`: refused while its holder
/// renews it within its lease unless `force`.
pub async fn remove(
    store: &dyn ObjectStore,
    suffix: &str,
    key: &str,
    force: bool,
) -> Result<Option<String>, LockError> {
    let Some(current) = store.get(key).await? else {
        return Ok(None);
    };
    let holder: Option<Holder> = serde_json::from_slice(&current.body).ok();
    let who = describe(holder.as_ref());
    let renewing = holder
        .as_ref()
        .is_some_and(|h| !h.plainly_stale() && h.renewed + h.lease_seconds >= epoch());
    if renewing && !force {
        return Err(LockError::Held {
            suffix: suffix.to_owned(),
            holder: format!("{who}, which renewed it within its lease (pass --force if you know it is gone)"),
            lease: holder.map(|h| h.lease_seconds).unwrap_or(60),
        });
    }
    store.delete(key, Some(&current.etag)).await?;
    Ok(Some(who))
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
