//! The runner's schedule replayed without a clock: how long a graph takes
//! when every node takes its cost ([`schedule`]), the chain that bounds it
//! ([`critical_path`]), and the live [`Forecast`] of a run in progress
//! (steps done out of all, time left) that the progress line shows. Only
//! the graph: what the costs are is [`crate::estimate`]'s business.

use crate::graph::{Graph, NodeId, Queue};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// `about 7 min`, `40 s`: minutes once it is over a minute and a half.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 90.0 {
        format!("{:.0} s", s.max(1.0))
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

/// The nodes of the longest chain, in order, those that take time only.
pub fn critical_path(g: &Graph) -> Vec<NodeId> {
    let tail = g.tail_costs();
    let Some(mut n) = (0..g.len())
        .filter(|&n| g.deps(n).is_empty())
        .max_by_key(|&n| (tail[n], std::cmp::Reverse(n)))
    else {
        return Vec::new();
    };
    if tail[n].is_zero() {
        return Vec::new();
    }
    let mut path = Vec::new();
    loop {
        if !g.cost(n).is_zero() {
            path.push(n);
        }
        match g
            .dependents(n)
            .iter()
            .copied()
            .max_by_key(|&d| (tail[d], std::cmp::Reverse(d)))
        {
            Some(d) if !tail[d].is_zero() => n = d,
            _ => break,
        }
    }
    path
}

/// How long the runner takes over `g` if every node takes its cost: the
/// runner's own policy (ready nodes by critical path, `parallelism` slots,
/// waits taking none), replayed without a clock.
pub fn schedule(g: &Graph, waits: &[bool], parallelism: usize) -> Duration {
    let is_wait = |n: NodeId| waits.get(n).copied().unwrap_or(false);
    let parallelism = parallelism.max(1);
    let mut queue = Queue::new(g);
    let mut now = Duration::ZERO;
    let mut running: Vec<(Duration, NodeId)> = Vec::new();
    let mut busy = 0;
    loop {
        loop {
            let free = busy < parallelism;
            let Some(n) = queue.dequeue_where(|n| free || is_wait(n)) else {
                break;
            };
            if !is_wait(n) {
                busy += 1;
            }
            running.push((now + g.cost(n), n));
        }
        let Some(i) = (0..running.len()).min_by_key(|&i| running[i]) else {
            break;
        };
        let (end, n) = running.swap_remove(i);
        now = end;
        if !is_wait(n) {
            busy -= 1;
        }
        queue.finish(n, true);
    }
    now
}

/// The live estimate of a run: its graph with each node's figure, asked
/// "how long is left" as nodes finish.
#[derive(Debug, Clone)]
pub struct Forecast {
    graph: Graph,
    waits: Vec<bool>,
    parallelism: usize,
    pub total: Duration,
}

impl Forecast {
    /// The runner's graph with each node's expected cost.
    pub fn new(graph: Graph, waits: &[bool], parallelism: usize) -> Self {
        let total = schedule(&graph, waits, parallelism);
        Forecast {
            graph,
            waits: waits.to_vec(),
            parallelism,
            total,
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// One step expected to take `d` (a roll-out).
    pub fn single(node: &str, d: Duration) -> Self {
        Forecast {
            graph: Graph::new([(node, vec![], d)]).expect("one node"),
            waits: Vec::new(),
            parallelism: 1,
            total: d,
        }
    }

    pub fn len(&self) -> usize {
        self.graph.len()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }

    /// Time left when the nodes of `done` are over, those of `running`
    /// have run for the time given, and those of `instant` turned out to
    /// have nothing to do (a found resource's `:ready`).
    pub fn left(
        &self,
        done: &BTreeSet<String>,
        running: &BTreeMap<String, Duration>,
        instant: &BTreeSet<String>,
    ) -> Duration {
        let costs = (0..self.graph.len())
            .map(|n| {
                let name = self.graph.name(n);
                if done.contains(name) || instant.contains(name) {
                    Duration::ZERO
                } else if let Some(ran) = running.get(name) {
                    self.graph.cost(n).saturating_sub(*ran)
                } else {
                    self.graph.cost(n)
                }
            })
            .collect();
        schedule(&self.graph.with_costs(costs), &self.waits, self.parallelism)
    }
}
