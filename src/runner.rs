//! The executor: one async loop that starts every ready node (up to the
//! parallelism), collects completions, and applies the failure policy
//! ([`OnFailure`]). By default a failed node skips only what depends on it,
//! directly or through others, and everything else still runs (as
//! Terraform does); with [`OnFailure::Stop`] (`--fail-fast`) nothing new
//! starts after the first failure. Either way running work drains, each
//! root cause is reported once, every skipped node is named with the
//! failures it needed, and Ctrl-C starts nothing new from that moment on.
//!
//! It knows nothing about AWS: a node's work is any future. The commands in
//! `ops.rs` give it steps; the tests give it fake work on a paused clock.

use crate::graph::{Graph, NodeId, NodeState, Queue};
use crate::report::{Event, Reporter};
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What a node did, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `created`, `found`, `repaired`, `ready`, `deleted`, `absent`, ...
    pub action: &'static str,
    /// Ids, or what was repaired.
    pub detail: String,
}

impl Outcome {
    pub fn new(action: &'static str, detail: impl Into<String>) -> Self {
        Outcome {
            action,
            detail: detail.into(),
        }
    }
}

/// A node that never ran because a node it needs failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub node: String,
    /// The failed nodes it needs, directly or through others: root causes,
    /// each of them in [`Summary::failures`].
    pub failed: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct Summary {
    pub outcomes: Vec<(String, Outcome)>,
    /// Root causes only: the nodes that failed and why.
    pub failures: Vec<(String, String)>,
    /// Not run because a node they need failed.
    pub skipped: Vec<Skipped>,
    /// Not started because the run stopped first (Ctrl-C, or the first
    /// failure under [`OnFailure::Stop`]); none of them needs a failed node.
    pub not_started: Vec<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && !self.interrupted && self.skipped.is_empty() && self.not_started.is_empty()
    }

    pub fn count(&self, action: &str) -> usize {
        self.outcomes.iter().filter(|(_, o)| o.action == action).count()
    }
}

/// What a failed node does to the rest of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Skip what depends on the failed node (transitively) and keep running
    /// everything else: `up`, `down` and `status` by default.
    #[default]
    SkipDependents,
    /// Start nothing new after the first failure; running work drains
    /// (`--fail-fast`).
    Stop,
}

tokio::task_local! {
    static ON_FAILURE: OnFailure;
}

impl OnFailure {
    /// The policy the command line chose for the command running in this
    /// task ([`OnFailure::scope`]); the default outside of one.
    pub fn current() -> Self {
        ON_FAILURE.try_with(|p| *p).unwrap_or_default()
    }

    /// Runs `fut` (a whole command) with `self` as [`OnFailure::current`].
    /// `app.rs` sets it from `--fail-fast` around the command, so that the
    /// engine's `up` and `down` apply it without every caller passing it on.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        ON_FAILURE.scope(self, fut).await
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// How many nodes that call AWS may run at once.
    pub parallelism: usize,
    /// What a failure does to the nodes that do not depend on it.
    pub on_failure: OnFailure,
    /// `waits[n]`: node `n` only waits for a resource to become usable (a
    /// poll every few seconds). Waiting takes no parallelism slot, so three
    /// NAT gateways and two database instances coming up do not starve the
    /// steps that still have API work to do. Empty: no node is a wait.
    pub waits: &'a [bool],
}

impl Policy<'_> {
    pub fn new(parallelism: usize) -> Self {
        Policy {
            parallelism,
            on_failure: OnFailure::default(),
            waits: &[],
        }
    }

    fn is_wait(&self, n: NodeId) -> bool {
        self.waits.get(n).copied().unwrap_or(false)
    }
}

/// Runs `work` for every node of `graph` in dependency order.
/// `shutdown` resolving (Ctrl-C) stops new work; running work drains.
pub async fn run<W, Fut, E>(
    graph: &Graph,
    policy: Policy<'_>,
    reporter: &dyn Reporter,
    shutdown: impl Future<Output = ()>,
    mut work: W,
) -> Summary
where
    W: FnMut(NodeId) -> Fut,
    Fut: Future<Output = Result<Outcome, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let start = Instant::now();
    let mut queue = Queue::new(graph);
    let mut tasks: JoinSet<Result<Outcome, String>> = JoinSet::new();
    // Which node each task runs, and since when: a panic names only its task.
    let mut running: HashMap<tokio::task::Id, (NodeId, Instant)> = HashMap::new();
    let mut summary = Summary::default();
    // Skipped nodes already reported (as soon as the failure that skips them).
    let mut reported = vec![false; graph.len()];
    let parallelism = policy.parallelism.max(1);
    // Nodes running that hold a parallelism slot.
    let mut busy = 0;
    tokio::pin!(shutdown);
    let mut shutting_down = false;

    loop {
        loop {
            let slot_free = busy < parallelism;
            let Some(n) = queue.dequeue_where(|n| slot_free || policy.is_wait(n)) else {
                break;
            };
            if !policy.is_wait(n) {
                busy += 1;
            }
            reporter.event(Event::Started { node: graph.name(n) });
            let fut = work(n);
            let handle = tasks.spawn(async move { fut.await.map_err(|e| e.to_string()) });
            running.insert(handle.id(), (n, Instant::now()));
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            done = tasks.join_next_with_id() => {
                let Some(done) = done else { break };
                let (id, result) = match done {
                    Ok((id, r)) => (id, r),
                    // A panicking step is that step's failure.
                    Err(e) => (e.id(), Err(panic_message(e))),
                };
                let (n, t0) = running.remove(&id).expect("every task is a node's");
                let elapsed = t0.elapsed();
                if !policy.is_wait(n) {
                    busy -= 1;
                }
                let name = graph.name(n);
                match result {
                    Ok(outcome) => {
                        reporter.event(Event::Finished {
                            node: name,
                            action: outcome.action,
                            detail: &outcome.detail,
                            elapsed,
                        });
                        summary.outcomes.push((name.to_owned(), outcome));
                        queue.finish(n, true);
                    }
                    Err(error) => {
                        reporter.event(Event::Failed { node: name, error: &error, elapsed });
                        summary.failures.push((name.to_owned(), error));
                        // Skips every node that needs `n` and stops the queue.
                        queue.finish(n, false);
                        if policy.on_failure == OnFailure::SkipDependents && !shutting_down {
                            queue.resume();
                        }
                        // Named now: the rest of the run may take a while.
                        report_skipped(graph, &queue, &mut reported, reporter);
                    }
                }
            }
            _ = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                summary.interrupted = true;
                queue.stop();
                reporter.event(Event::Interrupted { running: tasks.len() });
            }
        }
    }

    // What never ran: the dependents of failures (reported already), and
    // whatever a stop left waiting.
    queue.skip_rest();
    let stopped = if summary.interrupted {
        "not started: interrupted"
    } else {
        "not started: the run stopped at the first failure"
    };
    for (n, reported) in reported.into_iter().enumerate() {
        if queue.state(n) != NodeState::Skipped {
            continue;
        }
        let failed = failed_ancestors(graph, &queue, n);
        if !reported {
            let cause = if failed.is_empty() {
                stopped.to_owned()
            } else {
                skip_cause(&failed)
            };
            reporter.event(Event::Skipped {
                node: graph.name(n),
                cause: &cause,
                failed: &failed,
            });
        }
        if failed.is_empty() {
            summary.not_started.push(graph.name(n).to_owned());
        } else {
            summary.skipped.push(Skipped {
                node: graph.name(n).to_owned(),
                failed,
            });
        }
    }
    reporter.finish();
    summary.elapsed = start.elapsed();
    summary
}

/// The failed nodes `n` needs, directly or through others, in graph order.
fn failed_ancestors(graph: &Graph, queue: &Queue, n: NodeId) -> Vec<String> {
    graph
        .ancestors(n)
        .into_iter()
        .filter(|&a| queue.state(a) == NodeState::Failed)
        .map(|a| graph.name(a).to_owned())
        .collect()
}

/// Reports the nodes a failure has just skipped, with the failures they need.
fn report_skipped(graph: &Graph, queue: &Queue, reported: &mut [bool], reporter: &dyn Reporter) {
    for (n, reported) in reported.iter_mut().enumerate() {
        if *reported || queue.state(n) != NodeState::Skipped {
            continue;
        }
        *reported = true;
        let failed = failed_ancestors(graph, queue, n);
        reporter.event(Event::Skipped {
            node: graph.name(n),
            cause: &skip_cause(&failed),
            failed: &failed,
        });
    }
}

fn skip_cause(failed: &[String]) -> String {
    format!("a dependency failed: {}", failed.join(", "))
}

/// What a panicking task said, as its node's error.
fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            format!("the step panicked: {text}")
        }
        Err(e) => format!("the step was cancelled: {e}"),
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
