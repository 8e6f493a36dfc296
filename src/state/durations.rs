//! Measured step durations: `durations.json` at the top of the account's
//! state bucket (the bucket is per account and region, so this is what the
//! estimate learns from: this account, this region, every stack in it).
//! Bounded: the last [`crate::estimate::KEEP`] runs per kind and phase.
//! Written read-modify-write under the object's ETag, so two runs ending
//! together both land; a run that cannot record says so and goes on.

use super::bucket::{Condition, ObjectStore, Written};
use crate::aws::AwsError;
use crate::estimate::Learned;

pub const KEY: &str = "durations.json";

/// What the bucket holds, and its ETag (`None`: nothing recorded yet). An
/// unreadable object counts as nothing (it is only an estimate's input).
pub async fn load(store: &dyn ObjectStore) -> Result<(Learned, Option<String>), AwsError> {
    let Some(obj) = store.get(KEY).await? else {
        return Ok((Learned::default(), None));
    };
    let learned = serde_json::from_slice(&obj.body).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "{KEY} is unreadable; estimating from typical durations");
        Learned::default()
    });
    Ok((learned, Some(obj.etag)))
}

/// Adds a run's measurements to what the bucket holds.
pub async fn record(store: &dyn ObjectStore, run: &Learned) -> Result<(), AwsError> {
    if run.is_empty() {
        return Ok(());
    }
    for _ in 0..4 {
        let (mut all, etag) = load(store).await?;
        all.version = 1;
        all.absorb(run);
        let body = serde_json::to_vec(&all).expect("durations serialize");
        let condition = match etag {
            Some(e) => Condition::Matches(e),
            None => Condition::Absent,
        };
        if let Written::Done(_) = store.put(KEY, body, condition).await? {
            return Ok(());
        }
    }
    Err(AwsError::custom(
        "PutObject",
        "PreconditionFailed",
        format!("{KEY} kept changing under this run (other runs recording at once)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::Phase;
    use crate::state::bucket::Object;
    use std::sync::Mutex;

    /// A bucket of one key's versions that checks conditions as S3 does.
    #[derive(Default)]
    struct MemoryStore(Mutex<Option<Object>>, Mutex<u32>);

    #[async_trait::async_trait]
    impl ObjectStore for MemoryStore {
        async fn get(&self, _: &str) -> Result<Option<Object>, AwsError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn put(&self, _: &str, body: Vec<u8>, condition: Condition) -> Result<Written, AwsError> {
            let mut cur = self.0.lock().unwrap();
            let ok = match &condition {
                Condition::None => true,
                Condition::Absent => cur.is_none(),
                Condition::Matches(e) => cur.as_ref().is_some_and(|o| &o.etag == e),
            };
            if !ok {
                return Ok(Written::Conflict);
            }
            let mut n = self.1.lock().unwrap();
            *n += 1;
            *cur = Some(Object {
                body,
                etag: n.to_string(),
            });
            Ok(Written::Done(n.to_string()))
        }
        async fn delete(&self, _: &str, _: Option<&str>) -> Result<Written, AwsError> {
            *self.0.lock().unwrap() = None;
            Ok(Written::Done(String::new()))
        }
    }

    #[tokio::test]
    async fn runs_accumulate_and_stay_bounded() {
        let store = MemoryStore::default();
        for i in 0..25 {
            let mut run = Learned::default();
            run.add("nat-gateway", Phase::Ready, 100.0 + f64::from(i));
            record(&store, &run).await.unwrap();
        }
        let (all, etag) = load(&store).await.unwrap();
        assert!(etag.is_some());
        let v = &all.kinds["nat-gateway"][&Phase::Ready];
        assert_eq!(v.len(), crate::estimate::KEEP);
        // The oldest went first.
        assert_eq!(v[0], 105.0);
        assert_eq!(*v.last().unwrap(), 124.0);
    }

    #[tokio::test]
    async fn an_unreadable_object_counts_as_nothing_and_is_replaced() {
        let store = MemoryStore::default();
        store.put(KEY, b"not json".to_vec(), Condition::None).await.unwrap();
        let mut run = Learned::default();
        run.add("vpc", Phase::Create, 1.5);
        record(&store, &run).await.unwrap();
        let (all, _) = load(&store).await.unwrap();
        assert_eq!(all.kinds["vpc"][&Phase::Create], vec![1.5]);
    }
}
