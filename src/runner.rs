//! The executor: one async loop that starts every ready node (up to the
//! parallelism), collects completions, and applies the failure policy:
//! after the first failure it starts nothing new, lets running work finish,
//! and reports each root cause once; dependents are reported as skipped.
//!
//! It knows nothing about AWS: a node's work is any future. The commands in
//! `ops.rs` give it steps; the tests give it fake work on a paused clock.

use crate::graph::{Graph, NodeId, NodeState, Queue};
use crate::report::{Event, Reporter};
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

/// How a run ended.
#[derive(Debug, Default)]
pub struct Summary {
    pub outcomes: Vec<(String, Outcome)>,
    /// Root causes only: the nodes that failed and why.
    pub failures: Vec<(String, String)>,
    /// Not run because a dependency failed or the run stopped.
    pub skipped: Vec<String>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && !self.interrupted && self.skipped.is_empty()
    }

    pub fn count(&self, action: &str) -> usize {
        self.outcomes.iter().filter(|(_, o)| o.action == action).count()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// How many nodes that call AWS may run at once.
    pub parallelism: usize,
    /// Keep starting independent work after a failure (`status` does; `up`
    /// and `down` do not).
    pub keep_going: bool,
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
            keep_going: false,
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
    let mut tasks: JoinSet<(NodeId, Duration, Result<Outcome, String>)> = JoinSet::new();
    let mut summary = Summary::default();
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
            tasks.spawn(async move {
                let t0 = Instant::now();
                let r = fut.await.map_err(|e| e.to_string());
                (n, t0.elapsed(), r)
            });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            done = tasks.join_next() => {
                let Some(done) = done else { break };
                let (n, elapsed, result) = match done {
                    Ok(v) => v,
                    Err(e) => {
                        // A panicking step: find which node it was is not
                        // possible from a JoinError, so stop everything.
                        summary.failures.push(("<panic>".into(), e.to_string()));
                        queue.stop();
                        continue;
                    }
                };
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
                        queue.finish(n, false);
                        if policy.keep_going && !shutting_down {
                            queue.resume();
                        }
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

    // Report what never ran: dependents of failures, and whatever the stop
    // left waiting.
    queue.skip_rest();
    for n in 0..graph.len() {
        if queue.state(n) == NodeState::Skipped {
            let cause = graph
                .ancestors(n)
                .into_iter()
                .find(|&a| queue.state(a) == NodeState::Failed)
                .map(|a| format!("{} failed", graph.name(a)))
                .unwrap_or_else(|| "run stopped".into());
            reporter.event(Event::Skipped {
                node: graph.name(n),
                cause: &cause,
            });
            summary.skipped.push(graph.name(n).to_owned());
        }
    }
    reporter.finish();
    summary.elapsed = start.elapsed();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Recorder;
    use std::sync::{Arc, Mutex};

    fn graph(nodes: &[(&str, &[&str], u64)]) -> Graph {
        Graph::new(nodes.iter().map(|(n, d, c)| {
            (
                n.to_string(),
                d.iter().map(|s| s.to_string()).collect(),
                Duration::from_secs(*c),
            )
        }))
        .unwrap()
    }

    /// Fake work: sleeps the node's cost on the (paused) clock; fails the
    /// nodes named in `fail`.
    async fn run_fake(g: &Graph, parallelism: usize, fail: &[&str]) -> (Summary, Vec<String>) {
        let rec = Recorder::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let summary = run(g, Policy::new(parallelism), &rec, std::future::pending(), |n| {
            let name = g.name(n).to_owned();
            let cost = g.cost(n);
            let fails = fail.contains(&name.as_str());
            let log = log.clone();
            async move {
                log.lock().unwrap().push(format!("start {name}"));
                tokio::time::sleep(cost).await;
                log.lock().unwrap().push(format!("end {name}"));
                if fails {
                    Err(format!("{name}: CreateThing failed: Boom: no"))
                } else {
                    Ok(Outcome::new("created", name))
                }
            }
        })
        .await;
        let lines = log.lock().unwrap().clone();
        (summary, lines)
    }

    #[tokio::test(start_paused = true)]
    async fn independent_steps_run_concurrently_and_finish_on_the_critical_path() {
        let g = graph(&[
            ("a", &[], 10),
            ("b", &[], 10),
            ("c", &[], 10),
            ("d", &["a", "b", "c"], 5),
        ]);
        let (s, _) = run_fake(&g, 8, &[]).await;
        assert!(s.ok());
        assert_eq!(s.elapsed, Duration::from_secs(15));
        let (s1, _) = run_fake(&g, 1, &[]).await;
        assert_eq!(s1.elapsed, Duration::from_secs(35));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_take_no_parallelism_slot() {
        // Two long waits and two work nodes with parallelism 1: the waits
        // overlap the work instead of queueing behind it.
        let g = graph(&[("w1", &[], 100), ("w2", &[], 100), ("a", &[], 10), ("b", &[], 10)]);
        let waits = [true, true, false, false];
        let rec = Recorder::default();
        let s = run(
            &g,
            Policy {
                waits: &waits,
                ..Policy::new(1)
            },
            &rec,
            std::future::pending(),
            |n| {
                let cost = g.cost(n);
                async move {
                    tokio::time::sleep(cost).await;
                    Ok::<_, String>(Outcome::new("ready", ""))
                }
            },
        )
        .await;
        assert!(s.ok());
        assert_eq!(
            s.elapsed,
            Duration::from_secs(100),
            "a and b (20 s in series) run during the waits"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn parallelism_is_bounded() {
        let g = graph(&[("a", &[], 10), ("b", &[], 10), ("c", &[], 10)]);
        let (s, log) = run_fake(&g, 2, &[]).await;
        assert_eq!(s.elapsed, Duration::from_secs(20));
        // The third start comes only after an end.
        let third = log.iter().filter(|l| l.starts_with("start")).nth(2).unwrap();
        let pos3 = log.iter().position(|l| l == third).unwrap();
        let first_end = log.iter().position(|l| l.starts_with("end")).unwrap();
        assert!(first_end < pos3, "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn first_failure_stops_new_work_drains_running_and_skips_dependents() {
        // `bad` fails at t=1 while `slow` runs until t=10; `after-bad` and
        // `later` (ready only after `slow`) must never start.
        let g = graph(&[
            ("bad", &[], 1),
            ("slow", &[], 10),
            ("after-bad", &["bad"], 1),
            ("later", &["slow"], 1),
        ]);
        let (s, log) = run_fake(&g, 8, &["bad"]).await;
        assert!(!s.ok());
        assert_eq!(s.failures.len(), 1, "root cause reported once");
        assert_eq!(s.failures[0].0, "bad");
        assert!(s.failures[0].1.contains("Boom"));
        assert!(log.contains(&"end slow".to_string()), "running work drains");
        assert!(
            !log.iter().any(|l| l.contains("after-bad") || l.contains("later")),
            "{log:?}"
        );
        let mut skipped = s.skipped.clone();
        skipped.sort();
        assert_eq!(skipped, ["after-bad", "later"]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_new_work_and_lets_running_finish() {
        let g = graph(&[("a", &[], 10), ("b", &["a"], 10)]);
        let rec = Recorder::default();
        let s = run(
            &g,
            Policy::new(4),
            &rec,
            tokio::time::sleep(Duration::from_secs(3)),
            |n| {
                let cost = g.cost(n);
                async move {
                    tokio::time::sleep(cost).await;
                    Ok::<_, String>(Outcome::new("created", ""))
                }
            },
        )
        .await;
        assert!(s.interrupted);
        assert_eq!(s.outcomes.len(), 1, "a finishes");
        assert_eq!(s.skipped, ["b"]);
        assert!(rec.lines.lock().unwrap().iter().any(|l| l == "interrupted 1"));
    }

    #[tokio::test(start_paused = true)]
    async fn keep_going_runs_independent_work_after_a_failure() {
        let g = graph(&[
            ("bad", &[], 1),
            ("x", &["bad"], 1),
            ("slow", &[], 5),
            ("y", &["slow"], 1),
        ]);
        let rec = Recorder::default();
        let s = run(
            &g,
            Policy {
                keep_going: true,
                ..Policy::new(8)
            },
            &rec,
            std::future::pending(),
            |n| {
                let name = g.name(n).to_owned();
                let cost = g.cost(n);
                async move {
                    tokio::time::sleep(cost).await;
                    if name == "bad" {
                        Err("no".to_string())
                    } else {
                        Ok(Outcome::new("found", ""))
                    }
                }
            },
        )
        .await;
        assert_eq!(s.skipped, ["x"]);
        assert!(s.outcomes.iter().any(|(n, _)| n == "y"));
    }
}
