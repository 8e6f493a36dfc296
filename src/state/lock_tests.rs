//! The lock's protocol against an in-memory store that evaluates
//! conditions atomically, as S3 does, with a paused clock.

use super::*;
use crate::state::bucket::Object;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Default)]
struct Memory {
    objects: Mutex<HashMap<String, Object>>,
    next: AtomicU64,
    /// Renewals (conditional puts on an existing ETag) to fail with an error.
    fail_matches: AtomicUsize,
    /// Renewals whose answer arrives this long after the write is applied.
    slow_matches: Mutex<Duration>,
}

impl Memory {
    /// Applies a conditional write atomically, as S3 does.
    fn write(&self, key: &str, body: Vec<u8>, condition: &Condition) -> Written {
        let mut objects = self.objects.lock().unwrap();
        let ok = match condition {
            Condition::None => true,
            Condition::Absent => !objects.contains_key(key),
            Condition::Matches(e) => objects.get(key).is_some_and(|o| &o.etag == e),
        };
        if !ok {
            return Written::Conflict;
        }
        let etag = format!("\"{}\"", self.next.fetch_add(1, Ordering::SeqCst));
        objects.insert(
            key.to_owned(),
            Object {
                body,
                etag: etag.clone(),
            },
        );
        Written::Done(etag)
    }
}

#[async_trait]
impl ObjectStore for Memory {
    async fn get(&self, key: &str) -> Result<Option<Object>, AwsError> {
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<Written, AwsError> {
        if matches!(condition, Condition::Matches(_)) && self.fail_matches.load(Ordering::SeqCst) > 0 {
            self.fail_matches.fetch_sub(1, Ordering::SeqCst);
            return Err(AwsError::custom(
                "PutObject",
                "InternalError",
                "We encountered an internal error",
            ));
        }
        let slow = *self.slow_matches.lock().unwrap();
        let written = self.write(key, body, &condition);
        if matches!(condition, Condition::Matches(_)) && !slow.is_zero() {
            tokio::time::sleep(slow).await;
        }
        Ok(written)
    }
    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<Written, AwsError> {
        let mut objects = self.objects.lock().unwrap();
        match (objects.get(key), if_match) {
            (Some(o), Some(e)) if o.etag != e => Ok(Written::Conflict),
            (None, _) => Ok(Written::Conflict),
            _ => {
                objects.remove(key);
                Ok(Written::Done(String::new()))
            }
        }
    }
}

const KEY: &str = "stacks/dev1/lock.json";
const LEASE: Duration = Duration::from_secs(60);

/// A holder on another machine, alive and renewing by its own account.
fn elsewhere(renewed: u64) -> Holder {
    Holder {
        user: "ana".into(),
        host: "laptop-of-ana".into(),
        pid: 4242,
        proc_start: None,
        command: "up".into(),
        started: renewed,
        renewed,
        lease_seconds: 60,
    }
}

fn store() -> Arc<Memory> {
    Arc::new(Memory::default())
}

async fn take(m: &Arc<Memory>, timeout: Duration) -> Result<Held, LockError> {
    acquire(m.clone(), "dev1", KEY, Holder::me("up", LEASE), timeout, &|_| {}).await
}

fn holder_in(m: &Memory) -> Holder {
    serde_json::from_slice(&m.objects.lock().unwrap()[KEY].body).unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_of_two_concurrent_runs_gets_the_lock_and_the_other_names_the_holder() {
    let m = store();
    let first = take(&m, Duration::ZERO).await.unwrap();
    let e = take(&m, Duration::ZERO).await.err().expect("second run refused");
    let msg = e.to_string();
    assert!(msg.contains("locked by") && msg.contains(&process::host()), "{msg}");
    assert!(
        msg.contains("provision unlock --suffix dev1") && msg.contains("--lock-timeout"),
        "{msg}"
    );
    first.release().await.unwrap();
    assert!(m.objects.lock().unwrap().is_empty(), "released");
    take(&m, Duration::ZERO).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_waiting_run_gets_the_lock_when_the_holder_releases_it() {
    let m = store();
    let first = take(&m, Duration::ZERO).await.unwrap();
    let told = Arc::new(Mutex::new(Vec::<String>::new()));
    let t = told.clone();
    let waiter = tokio::spawn({
        let m = m.clone();
        async move {
            let on_wait = move |who: &str| t.lock().unwrap().push(who.to_owned());
            acquire(
                m,
                "dev1",
                KEY,
                Holder::me("deploy", LEASE),
                Duration::from_secs(600),
                &on_wait,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!waiter.is_finished(), "still waiting while the holder renews");
    first.release().await.unwrap();
    let held = waiter.await.unwrap().unwrap();
    assert_eq!(holder_in(&m).command, "deploy");
    assert_eq!(told.lock().unwrap().len(), 1, "told once who holds it");
    held.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_holder_renews_so_a_waiter_never_takes_a_live_lock() {
    let m = store();
    let held = take(&m, Duration::ZERO).await.unwrap();
    let first_etag = m.objects.lock().unwrap()[KEY].etag.clone();
    // A waiter on another machine, watching for five leases.
    let e = take(&m, 5 * LEASE).await.err().expect("a live lock is never stale");
    assert!(matches!(e, LockError::Held { .. }));
    assert_ne!(m.objects.lock().unwrap()[KEY].etag, first_etag, "renewed");
    assert!(held.lost().is_none());
    held.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lock_whose_holder_stopped_renewing_is_stale_after_one_lease_of_the_waiters_clock() {
    let m = store();
    // The holder crashed a moment ago on another machine; its clock says it
    // renewed just now, so only the unchanged ETag can tell.
    let body = serde_json::to_vec(&elsewhere(epoch())).unwrap();
    m.put(KEY, body, Condition::Absent).await.unwrap();
    let started = Instant::now();
    let held = take(&m, Duration::from_secs(600)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= LEASE && waited < LEASE + Duration::from_secs(10),
        "{waited:?}"
    );
    assert_eq!(holder_in(&m).host, process::host());
    held.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_old_or_local_dead_holder_is_stale_at_once() {
    let m = store();
    m.put(KEY, serde_json::to_vec(&elsewhere(1_000)).unwrap(), Condition::Absent)
        .await
        .unwrap();
    take(&m, Duration::ZERO).await.unwrap().release().await.unwrap();

    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let dead_here = Holder {
        pid,
        proc_start: Some(1),
        host: process::host(),
        ..elsewhere(epoch())
    };
    m.put(KEY, serde_json::to_vec(&dead_here).unwrap(), Condition::Absent)
        .await
        .unwrap();
    take(&m, Duration::ZERO).await.unwrap().release().await.unwrap();
    // Half a lock object (a crash while writing) is no holder at all.
    m.put(KEY, b"{\"us".to_vec(), Condition::Absent).await.unwrap();
    take(&m, Duration::ZERO).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_that_cannot_renew_for_a_lease_knows_it_lost_the_lock() {
    let m = store();
    let held = take(&m, Duration::ZERO).await.unwrap();
    m.fail_matches.store(100, Ordering::SeqCst);
    tokio::time::sleep(LEASE + LEASE / 2).await;
    let why = held.lost().expect("lost");
    assert!(why.contains("within its lease"), "{why}");

    // Taken over by another run: the next renewal sees it at once.
    let m = store();
    let held = take(&m, Duration::ZERO).await.unwrap();
    let theirs = serde_json::to_vec(&elsewhere(epoch())).unwrap();
    m.put(KEY, theirs, Condition::None).await.unwrap();
    tokio::time::sleep(LEASE / 2).await;
    assert!(held.lost().unwrap().contains("took the lock over"));
    held.release().await.unwrap();
    assert_eq!(
        holder_in(&m).host,
        "laptop-of-ana",
        "release leaves another run's lock alone"
    );
}

#[tokio::test(start_paused = true)]
async fn unlock_refuses_a_renewing_holder_unless_forced() {
    let m = store();
    m.put(KEY, serde_json::to_vec(&elsewhere(epoch())).unwrap(), Condition::Absent)
        .await
        .unwrap();
    let e = remove(m.as_ref(), "dev1", KEY, false).await.unwrap_err().to_string();
    assert!(e.contains("ana@laptop-of-ana") && e.contains("--force"), "{e}");
    let who = remove(m.as_ref(), "dev1", KEY, true).await.unwrap().unwrap();
    assert!(who.contains("ana@laptop-of-ana"));
    assert!(remove(m.as_ref(), "dev1", KEY, false).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn releasing_during_a_renewal_still_removes_the_lock() {
    let m = store();
    let held = take(&m, Duration::ZERO).await.unwrap();
    // A renewal S3 has applied but not yet answered when the run ends.
    *m.slow_matches.lock().unwrap() = Duration::from_secs(5);
    tokio::time::sleep(LEASE / 3 + Duration::from_secs(1)).await;
    held.release().await.unwrap();
    assert!(m.objects.lock().unwrap().get(KEY).is_none(), "the lock is left behind");
}
