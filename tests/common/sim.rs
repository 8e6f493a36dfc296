//! The real step graph replayed on a paused tokio clock, each node taking
//! the time AWS typically takes (`Step::timing`). Shared by the simulated-
//! clock tests and `examples/simulate.rs` (the benchmark's figures).
#![allow(dead_code)]

use provision::graph::Graph;
use provision::report::Quiet;
use provision::runner::{self, Outcome, Policy};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// When each node started and finished, from the start of the run.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    pub makespan: Duration,
    pub critical_path: Duration,
    pub spans: BTreeMap<String, (Duration, Duration)>,
}

impl Timeline {
    pub fn start(&self, node: &str) -> Duration {
        self.spans[node].0
    }
    pub fn end(&self, node: &str) -> Duration {
        self.spans[node].1
    }
}

/// Runs `graph` with fake work that sleeps each node's cost. Must be called
/// on a runtime whose clock is paused.
pub async fn simulate(graph: &Graph, waits: &[bool], parallelism: usize) -> Timeline {
    let t0 = Instant::now();
    let spans: Arc<Mutex<BTreeMap<String, (Duration, Duration)>>> = Arc::default();
    let summary = runner::run(
        graph,
        Policy {
            waits,
            ..Policy::new(parallelism)
        },
        &Quiet,
        std::future::pending(),
        |n| {
            let name = graph.name(n).to_owned();
            let cost = graph.cost(n);
            let spans = spans.clone();
            async move {
                let start = t0.elapsed();
                tokio::time::sleep(cost).await;
                spans.lock().unwrap().insert(name, (start, t0.elapsed()));
                Ok::<_, String>(Outcome::new("simulated", ""))
            }
        },
    )
    .await;
    assert!(summary.ok(), "simulation failed: {:?}", summary.failures);
    let spans = spans.lock().unwrap().clone();
    Timeline {
        makespan: summary.elapsed,
        critical_path: graph.critical_path(),
        spans,
    }
}

/// The default stack's steps.
pub fn stack_steps() -> Vec<provision::steps::StepRef> {
    let cli = <provision::cli::Cli as clap::Parser>::try_parse_from(["provision", "plan", "--suffix", "sim"]).unwrap();
    let provision::cli::Command::Plan(p) = cli.command else {
        unreachable!()
    };
    provision::steps::stack(&p.stack.validate().unwrap())
}

/// The default stack's up and down graphs (with which nodes are waits).
pub fn stack_graphs() -> (Graph, Vec<bool>, Graph) {
    let steps = stack_steps();
    let (up, nodes) = provision::ops::up_graph(&steps).unwrap();
    let waits = provision::ops::wait_nodes(&nodes);
    let down = provision::ops::down_graph(&steps).unwrap();
    (up, waits, down)
}
