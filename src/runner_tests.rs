//! The runner on a paused clock with fake work: scheduling (critical path,
//! bounded parallelism, waits), and the failure policy: a failure skips
//! only what needs it, `Stop` (`--fail-fast`) starts nothing new, Ctrl-C
//! starts nothing new either way.

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

/// A run of fake work: what it returned, when each node started and ended
/// (seconds on the paused clock), and the reporter's lines.
struct Run {
    summary: Summary,
    log: Vec<String>,
    events: Vec<String>,
}

impl Run {
    fn started(&self, node: &str) -> bool {
        self.log.iter().any(|l| l.starts_with(&format!("start {node} ")))
    }

    fn start_time(&self, node: &str) -> u64 {
        let prefix = format!("start {node} at ");
        let line = self.log.iter().find(|l| l.starts_with(&prefix)).expect(node);
        line[prefix.len()..].parse().unwrap()
    }

    fn done(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.summary.outcomes.iter().map(|(n, _)| n.as_str()).collect();
        v.sort();
        v
    }

    fn skipped(&self) -> Vec<(&str, Vec<&str>)> {
        let mut v: Vec<(&str, Vec<&str>)> = self
            .summary
            .skipped
            .iter()
            .map(|s| (s.node.as_str(), s.failed.iter().map(String::as_str).collect()))
            .collect();
        v.sort();
        v
    }

    fn position(&self, event: &str) -> usize {
        self.events
            .iter()
            .position(|l| l.starts_with(event))
            .unwrap_or_else(|| panic!("no {event:?} in {:?}", self.events))
    }
}

/// Fake work: sleeps the node's cost on the (paused) clock; fails the nodes
/// named in `fail`, panics in those named in `panic`.
async fn run_fake(g: &Graph, policy: Policy<'_>, fail: &[&str], panic: &[&str]) -> Run {
    run_fake_until(g, policy, fail, panic, std::future::pending()).await
}

async fn run_fake_until(
    g: &Graph,
    policy: Policy<'_>,
    fail: &[&str],
    panic: &[&str],
    shutdown: impl Future<Output = ()>,
) -> Run {
    let rec = Recorder::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let summary = run(g, policy, &rec, shutdown, |n| {
        let name = g.name(n).to_owned();
        let cost = g.cost(n);
        let fails = fail.contains(&name.as_str());
        let panics = panic.contains(&name.as_str());
        let log = log.clone();
        async move {
            let at = |what: &str| format!("{what} {name} at {}", t0.elapsed().as_secs());
            log.lock().unwrap().push(at("start"));
            tokio::time::sleep(cost).await;
            log.lock().unwrap().push(at("end"));
            if panics {
                panic!("{name} broke");
            }
            if fails {
                Err(format!("{name}: CreateThing failed: Boom: no"))
            } else {
                Ok(Outcome::new("created", name.clone()))
            }
        }
    })
    .await;
    let log = log.lock().unwrap().clone();
    let events = rec.lines.lock().unwrap().clone();
    Run { summary, log, events }
}

fn stop_at_first_failure(parallelism: usize) -> Policy<'static> {
    Policy {
        on_failure: OnFailure::Stop,
        ..Policy::new(parallelism)
    }
}

#[tokio::test(start_paused = true)]
async fn independent_steps_run_concurrently_and_finish_on_the_critical_path() {
    let g = graph(&[
        ("a", &[], 10),
        ("b", &[], 10),
        ("c", &[], 10),
        ("d", &["a", "b", "c"], 5),
    ]);
    let r = run_fake(&g, Policy::new(8), &[], &[]).await;
    assert!(r.summary.ok());
    assert_eq!(r.summary.elapsed, Duration::from_secs(15));
    let r1 = run_fake(&g, Policy::new(1), &[], &[]).await;
    assert_eq!(r1.summary.elapsed, Duration::from_secs(35));
}

#[tokio::test(start_paused = true)]
async fn waits_take_no_parallelism_slot() {
    // Two long waits and two work nodes with parallelism 1: the waits
    // overlap the work instead of queueing behind it.
    let g = graph(&[("w1", &[], 100), ("w2", &[], 100), ("a", &[], 10), ("b", &[], 10)]);
    let waits = [true, true, false, false];
    let policy = Policy {
        waits: &waits,
        ..Policy::new(1)
    };
    let r = run_fake(&g, policy, &[], &[]).await;
    assert!(r.summary.ok());
    assert_eq!(
        r.summary.elapsed,
        Duration::from_secs(100),
        "a and b (20 s in series) run during the waits"
    );
}

#[tokio::test(start_paused = true)]
async fn parallelism_is_bounded() {
    let g = graph(&[("a", &[], 10), ("b", &[], 10), ("c", &[], 10)]);
    let r = run_fake(&g, Policy::new(2), &[], &[]).await;
    assert_eq!(r.summary.elapsed, Duration::from_secs(20));
    // The third start comes only after an end.
    let third = r.log.iter().filter(|l| l.starts_with("start")).nth(2).unwrap();
    let pos3 = r.log.iter().position(|l| l == third).unwrap();
    let first_end = r.log.iter().position(|l| l.starts_with("end")).unwrap();
    assert!(first_end < pos3, "{:?}", r.log);
}

/// The graph of the failure tests: `bad` fails at t=1. `x`, `x2` (through
/// `x`), `both` (needs `bad` and `ok`) and `bad:ready` with `z` behind it
/// (a step's wait node counts as its dependent) need it; `ok`, `slow` and
/// `later` (ready only at t=10, long after the failure) do not.
fn failure_graph() -> Graph {
    graph(&[
        ("bad", &[], 1),
        ("bad:ready", &["bad"], 5),
        ("z", &["bad:ready"], 1),
        ("x", &["bad"], 1),
        ("x2", &["x"], 1),
        ("ok", &[], 2),
        ("both", &["bad", "ok"], 1),
        ("slow", &[], 10),
        ("later", &["slow"], 1),
    ])
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_only_what_needs_it_and_every_independent_node_still_runs() {
    let g = failure_graph();
    let r = run_fake(&g, Policy::new(8), &["bad"], &[]).await;
    assert!(!r.summary.ok());
    assert_eq!(r.summary.failures.len(), 1, "the root cause, once");
    assert_eq!(r.summary.failures[0].0, "bad");
    assert!(r.summary.failures[0].1.contains("Boom"));
    // Every node that does not need `bad` ran, `later` long after the failure.
    assert_eq!(r.done(), ["later", "ok", "slow"]);
    assert_eq!(r.start_time("later"), 10);
    assert_eq!(r.summary.elapsed, Duration::from_secs(11));
    // What needs it, directly or not, never started and is named with it.
    assert_eq!(
        r.skipped(),
        [
            ("bad:ready", vec!["bad"]),
            ("both", vec!["bad"]),
            ("x", vec!["bad"]),
            ("x2", vec!["bad"]),
            ("z", vec!["bad"]),
        ]
    );
    for n in ["bad:ready", "both", "x", "x2", "z"] {
        assert!(!r.started(n), "{n}: {:?}", r.log);
    }
    assert!(r.summary.not_started.is_empty(), "{:?}", r.summary.not_started);
    // Reported at the failure, not at the end of the run.
    assert!(r.position("skipped x2 (a dependency failed: bad)") < r.position("created slow"));
}

#[tokio::test(start_paused = true)]
async fn two_failures_are_each_reported_once_and_a_node_needing_both_names_both() {
    let g = graph(&[
        ("a", &[], 1),
        ("b", &[], 3),
        ("ab", &["a", "b"], 1),
        ("after-ab", &["ab"], 1),
        ("c", &["a"], 1),
        ("free", &[], 5),
    ]);
    let r = run_fake(&g, Policy::new(8), &["a", "b"], &[]).await;
    let failed: Vec<&str> = r.summary.failures.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(failed, ["a", "b"]);
    assert_eq!(
        r.skipped(),
        [("ab", vec!["a", "b"]), ("after-ab", vec!["a", "b"]), ("c", vec!["a"])]
    );
    assert_eq!(r.done(), ["free"]);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_starts_nothing_after_the_first_failure_and_lets_running_work_drain() {
    // Same graph: `slow` runs when `bad` fails and finishes; `later` (ready
    // only after `slow`) never starts although it does not need `bad`.
    let g = failure_graph();
    let r = run_fake(&g, stop_at_first_failure(8), &["bad"], &[]).await;
    assert!(!r.summary.ok());
    assert_eq!(r.summary.failures.len(), 1);
    assert!(r.log.contains(&"end slow at 10".to_string()), "running work drains");
    assert_eq!(r.done(), ["ok", "slow"]);
    assert!(!r.started("later"), "{:?}", r.log);
    // Skipped for the failure, and not started because the run stopped:
    // two different things, named apart.
    assert_eq!(r.skipped().len(), 5);
    assert_eq!(r.summary.not_started, ["later"]);
    assert!(r
        .events
        .contains(&"skipped later (not started: the run stopped at the first failure)".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_is_that_steps_failure() {
    let g = failure_graph();
    let r = run_fake(&g, Policy::new(8), &[], &["bad"]).await;
    assert_eq!(r.summary.failures.len(), 1);
    assert_eq!(r.summary.failures[0].0, "bad");
    assert!(
        r.summary.failures[0].1.contains("panicked: bad broke"),
        "{:?}",
        r.summary.failures
    );
    assert_eq!(r.done(), ["later", "ok", "slow"], "its slot is freed, the rest runs");
    assert_eq!(r.skipped().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_new_work_and_lets_running_finish() {
    let g = graph(&[("a", &[], 10), ("b", &["a"], 10)]);
    let r = run_fake_until(&g, Policy::new(4), &[], &[], tokio::time::sleep(Duration::from_secs(3))).await;
    assert!(r.summary.interrupted);
    assert_eq!(r.done(), ["a"], "a finishes");
    assert_eq!(r.summary.not_started, ["b"]);
    assert!(r.summary.skipped.is_empty());
    assert!(r.events.iter().any(|l| l == "interrupted 1"));
    assert!(r.events.iter().any(|l| l == "skipped b (not started: interrupted)"));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_after_a_failure_still_starts_nothing_new() {
    // `bad` fails at t=1, Ctrl-C at t=3 while `slow` runs: `later` would
    // run under the default policy, but not after Ctrl-C.
    let g = failure_graph();
    let r = run_fake_until(
        &g,
        Policy::new(8),
        &["bad"],
        &[],
        tokio::time::sleep(Duration::from_secs(3)),
    )
    .await;
    assert!(r.summary.interrupted);
    assert!(!r.started("later"));
    assert_eq!(r.summary.not_started, ["later"]);
    assert_eq!(r.skipped().len(), 5);
    assert_eq!(r.done(), ["ok", "slow"]);
}

#[tokio::test(start_paused = true)]
async fn in_a_teardown_a_failed_delete_keeps_what_it_uses_and_nothing_else() {
    // The step graph; `down` runs it reversed: a resource is deleted only
    // after everything that uses it. `dash` uses `alb` (on `subnet`, on
    // `vpc`); `flow` and `alarm` use only `vpc` and `topic`.
    let steps = graph(&[
        ("vpc", &[], 1),
        ("subnet", &["vpc"], 1),
        ("alb", &["subnet"], 1),
        ("dash", &["alb"], 1),
        ("flow", &["vpc"], 1),
        ("topic", &[], 1),
        ("alarm", &["topic"], 1),
    ]);
    let down = steps.reversed();
    let r = run_fake(&down, Policy::new(8), &["dash"], &[]).await;
    // What `dash` uses stays (deleting it would fail while `dash` exists).
    assert_eq!(
        r.skipped(),
        [("alb", vec!["dash"]), ("subnet", vec!["dash"]), ("vpc", vec!["dash"])]
    );
    // Everything independent of it is deleted.
    assert_eq!(r.done(), ["alarm", "flow", "topic"]);
    // With fail-fast and one step at a time, the first failure ends it.
    let r = run_fake(&down, stop_at_first_failure(1), &["dash"], &[]).await;
    assert_eq!(r.log.first().map(String::as_str), Some("start dash at 0"));
    assert!(r.done().is_empty(), "{:?}", r.log);
    assert_eq!(r.summary.not_started, ["flow", "topic", "alarm"]);
}
