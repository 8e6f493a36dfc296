//! Bounded waiting: retries while AWS says "in use", while IAM propagates,
//! and polling with backoff where the SDK has no waiter. Never a busy loop:
//! every wait sleeps with exponential backoff and gives up at a deadline.

use super::{AwsError, ErrorClass};
use std::future::Future;
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// How to back off between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Give up after this long in total.
    pub timeout: Duration,
}

impl Backoff {
    /// Deletes refused while dependencies drain (ENIs linger for minutes
    /// after a NAT gateway, load balancer or task goes away).
    pub const DRAIN: Backoff = Backoff {
        first: Duration::from_secs(2),
        max: Duration::from_secs(30),
        timeout: Duration::from_secs(20 * 60),
    };
    /// A new IAM role takes seconds to be usable by other services.
    pub const IAM: Backoff = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(8),
        timeout: Duration::from_secs(90),
    };

    /// EC2 is eventually consistent: for a few seconds after a create,
    /// calls naming the new id may answer `*.NotFound` ("Eventual
    /// consistency in the Amazon EC2 API", EC2 developer guide: use
    /// exponential backoff, waiting up to a few minutes).
    pub const CONSISTENCY: Backoff = Backoff {
        first: Duration::from_millis(500),
        max: Duration::from_secs(8),
        timeout: Duration::from_secs(120),
    };

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn next(&self, current: Duration) -> Duration {
        (current * 2).min(self.max)
    }
}

/// Retries `op` while it fails with an error of `class`, with exponential
/// backoff, until it succeeds, fails otherwise, or the timeout passes (then
/// the last error is returned, so the operator sees what AWS said).
pub async fn retry_while<T, F, Fut>(class: ErrorClass, backoff: Backoff, mut op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let deadline = Instant::now() + backoff.timeout;
    let mut delay = backoff.first;
    loop {
        match op().await {
            Err(e) if e.class() == class && Instant::now() + delay <= deadline => {
                tracing::debug!(error = %e, delay_ms = delay.as_millis() as u64, "retrying");
                sleep(delay).await;
                delay = backoff.next(delay);
            }
            other => return other,
        }
    }
}

/// Runs a call that names ids this run just created or found (a new VPC's
/// id in `CreateSubnet`, a new group in `AuthorizeSecurityGroupIngress`,
/// …): EC2 may answer `*.NotFound` for them until the create has
/// propagated, so that answer is retried with backoff, bounded by
/// [`Backoff::CONSISTENCY`]. An id that is really missing still fails, with
/// EC2's own error, once the bound passes.
pub async fn consistent<T, F, Fut>(op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    retry_while(ErrorClass::NotFound, Backoff::CONSISTENCY, op).await
}

/// Deletes something, treating not-found as done and retrying while AWS
/// says it is still in use.
pub async fn delete<F, Fut>(backoff: Backoff, op: F) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), AwsError>>,
{
    match retry_while(ErrorClass::InUse, backoff, op).await {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// Polls `check` with backoff until it returns `Some`, or times out with an
/// error naming `what`.
pub async fn poll<T, F, Fut>(what: &str, backoff: Backoff, mut check: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let deadline = Instant::now() + backoff.timeout;
    let mut delay = backoff.first;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() + delay > deadline {
            return Err(AwsError::custom(
                "Wait",
                "Timeout",
                format!("{what} did not happen within {}s", backoff.timeout.as_secs()),
            ));
        }
        sleep(delay).await;
        delay = backoff.next(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn in_use() -> AwsError {
        AwsError::custom("DeleteSecurityGroup", "DependencyViolation", "still has ENIs")
    }

    #[tokio::test(start_paused = true)]
    async fn delete_retries_in_use_with_backoff_then_succeeds() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r = delete(Backoff::DRAIN, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(in_use())
            } else {
                Ok(())
            }
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // 2 + 4 + 8 seconds of backoff, not a busy loop.
        assert_eq!(start.elapsed(), Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn delete_gives_up_at_the_deadline_with_the_aws_error() {
        let backoff = Backoff::DRAIN.with_timeout(Duration::from_secs(60));
        let start = Instant::now();
        let err = delete(backoff, || async { Err(in_use()) }).await.unwrap_err();
        assert!(err.code_is("DependencyViolation"));
        assert!(start.elapsed() <= Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_on_delete_is_success_and_other_errors_are_not_retried() {
        assert!(delete(Backoff::DRAIN, || async {
            Err(AwsError::custom("DeleteVpc", "InvalidVpcID.NotFound", "gone"))
        })
        .await
        .is_ok());
        let calls = AtomicU32::new(0);
        let err = delete(Backoff::DRAIN, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(AwsError::custom("DeleteVpc", "UnauthorizedOperation", "no"))
        })
        .await
        .unwrap_err();
        assert!(err.code_is("UnauthorizedOperation"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn consistent_retries_not_found_until_the_id_propagates() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r = consistent(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(AwsError::custom(
                    "CreateSubnet",
                    "InvalidVpcID.NotFound",
                    "vpc-1 does not exist",
                ))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn consistent_gives_up_on_an_id_that_never_appears() {
        let start = Instant::now();
        let err = consistent::<(), _, _>(|| async {
            Err(AwsError::custom(
                "CreateSubnet",
                "InvalidVpcID.NotFound",
                "vpc-1 does not exist",
            ))
        })
        .await
        .unwrap_err();
        assert!(err.code_is("InvalidVpcID.NotFound"));
        assert!(start.elapsed() <= Backoff::CONSISTENCY.timeout);
        assert!(start.elapsed() >= Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn poll_times_out_naming_what_it_waited_for() {
        let backoff = Backoff::DRAIN.with_timeout(Duration::from_secs(30));
        let err = poll::<(), _, _>("nat-a available", backoff, || async { Ok(None) })
            .await
            .unwrap_err();
        assert!(err.message.contains("nat-a available"), "{err}");
    }
}
