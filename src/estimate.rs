//! How long a run will take, before it starts and while it runs.
//!
//! Each step's figure is its kind's median over this account and region's
//! recorded runs once there are [`MIN_RUNS`] of them ([`Learned`], kept in
//! the state bucket by [`crate::state::durations`]), and before that the
//! documented typical duration of [`Timing`] (with its source). The run's
//! length is then the runner's own schedule replayed on those figures
//! ([`schedule`]: same queue, same priority, same parallelism, waits taking
//! no slot), so the estimate is what the runner would do if AWS took the
//! usual time. No AWS here.

use crate::graph::Graph;
use crate::schedule::{critical_path, human, schedule, Forecast};
use crate::steps::graphs::{self, Node};
use crate::steps::{StepRef, Timing};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Recorded runs of a kind needed before they replace the typical figure.
pub const MIN_RUNS: usize = 3;
/// Samples kept per kind and phase (the oldest go first): bounded size.
pub const KEEP: usize = 20;

/// What a step's time is spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Create,
    /// From created to usable.
    Ready,
    /// Repairing drift or applying a changed setting.
    Change,
    Destroy,
}

impl Phase {
    fn typical(self, t: &Timing) -> Duration {
        match self {
            Phase::Create => t.create,
            Phase::Ready => t.ready,
            Phase::Change => t.change,
            Phase::Destroy => t.destroy,
        }
    }
}

/// Measured durations (seconds) by resource kind and phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub version: u32,
    pub kinds: BTreeMap<String, BTreeMap<Phase, Vec<f64>>>,
}

impl Learned {
    /// Adds one measurement, keeping the [`KEEP`] most recent.
    pub fn add(&mut self, kind: &str, phase: Phase, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        let v = self.kinds.entry(kind.to_owned()).or_default().entry(phase).or_default();
        v.push((secs * 10.0).round() / 10.0);
        if v.len() > KEEP {
            let extra = v.len() - KEEP;
            v.drain(..extra);
        }
    }

    /// Every measurement of `other` added to `self` (a run's own onto what
    /// the bucket holds).
    pub fn absorb(&mut self, other: &Learned) {
        for (kind, phases) in &other.kinds {
            for (phase, samples) in phases {
                for s in samples {
                    self.add(kind, *phase, *s);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.values().all(|p| p.values().all(Vec::is_empty))
    }

    /// The median of the recorded runs, once there are enough of them.
    pub fn recorded(&self, kind: &str, phase: Phase) -> Option<(Duration, usize)> {
        let v = self.kinds.get(kind)?.get(&phase)?;
        if v.len() < MIN_RUNS {
            return None;
        }
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        let mid = s.len() / 2;
        let median = if s.len() % 2 == 0 {
            (s[mid - 1] + s[mid]) / 2.0
        } else {
            s[mid]
        };
        Some((Duration::from_secs_f64(median), v.len()))
    }

    /// A step's figure for `phase`, and where it came from.
    pub fn figure(&self, kind: &str, timing: &Timing, phase: Phase) -> (Duration, Basis) {
        match self.recorded(kind, phase) {
            Some((d, runs)) => (d, Basis::Recorded { runs }),
            None => (
                phase.typical(timing),
                Basis::Typical {
                    source: timing.source.to_owned(),
                },
            ),
        }
    }
}

/// Where a figure came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Basis {
    /// The median of this account and region's recorded runs of the kind.
    Recorded { runs: usize },
    /// The documented typical duration.
    Typical { source: String },
}

/// What a run does to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Create,
    Change,
    /// Present and as wanted: found and checked, nothing to wait for.
    Keep,
    Destroy,
}

/// One node's figure.
#[derive(Debug, Clone, Serialize)]
pub struct NodeFigure {
    pub node: String,
    pub kind: &'static str,
    pub phase: Phase,
    pub seconds: f64,
    #[serde(flatten)]
    pub basis: Basis,
}

/// How long a run will take.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub command: &'static str,
    pub seconds: f64,
    pub parallelism: usize,
    /// The chain of steps that bounds the run (ready phases folded in).
    pub critical_path: Vec<String>,
    /// Every node with work, with its figure and where it came from.
    pub steps: Vec<NodeFigure>,
    /// The slowest step on the critical path, and why it is slow.
    #[serde(skip)]
    slowest: Option<(String, String)>,
}

impl Estimate {
    pub fn total(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }

    /// `up: about 18 min; critical path vpc → … (…)`, or that there is
    /// nothing to wait for.
    pub fn summary(&self) -> String {
        if self.steps.is_empty() {
            return format!(
                "{}: nothing to wait for (nothing to create, change or delete)",
                self.command
            );
        }
        let mut s = format!("{}: about {}", self.command, human(self.total()));
        if !self.critical_path.is_empty() {
            s.push_str(&format!("; critical path {}", self.critical_path.join(" → ")));
        }
        if let Some((step, why)) = &self.slowest {
            s.push_str(&format!(" ({step}: {why})"));
        }
        s
    }
}

/// The estimate of `up` for `steps`, given what the run does to each.
pub fn up(steps: &[StepRef], work: impl Fn(&str) -> Work, learned: &Learned, parallelism: usize) -> Estimate {
    let (graph, nodes) = graphs::up_graph(steps).expect("the stack's graph is valid");
    let waits = graphs::wait_nodes(&nodes);
    let figures: Vec<Option<NodeFigure>> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let (step, ready) = match node {
                Node::Apply(s) => (s, false),
                Node::Ready(s) => (s, true),
            };
            let phase = match (work(step.id()), ready) {
                (Work::Create, false) => Phase::Create,
                (Work::Create, true) => Phase::Ready,
                (Work::Change, false) => Phase::Change,
                _ => return None,
            };
            Some(node_figure(graph.name(n), step, phase, learned))
        })
        .collect();
    finish("up", &graph, &waits, figures, parallelism)
}

/// The estimate of `down` (or of retiring `steps`): `present` says which
/// steps have a resource to delete.
pub fn down(steps: &[StepRef], present: impl Fn(&str) -> bool, learned: &Learned, parallelism: usize) -> Estimate {
    let graph = graphs::down_graph(steps).expect("the stack's graph is valid");
    let figures = (0..graph.len())
        .map(|n| {
            let step = steps
                .iter()
                .find(|s| s.id() == graph.name(n))
                .expect("one node per step");
            present(step.id()).then(|| node_figure(graph.name(n), step, Phase::Destroy, learned))
        })
        .collect();
    finish("down", &graph, &[], figures, parallelism)
}

fn node_figure(node: &str, step: &StepRef, phase: Phase, learned: &Learned) -> NodeFigure {
    let (d, basis) = learned.figure(step.kind(), &step.timing(), phase);
    NodeFigure {
        node: node.to_owned(),
        kind: step.kind(),
        phase,
        seconds: d.as_secs_f64(),
        basis,
    }
}

fn finish(
    command: &'static str,
    graph: &Graph,
    waits: &[bool],
    figures: Vec<Option<NodeFigure>>,
    parallelism: usize,
) -> Estimate {
    let costs: Vec<Duration> = figures
        .iter()
        .map(|f| {
            f.as_ref()
                .map_or(Duration::ZERO, |f| Duration::from_secs_f64(f.seconds))
        })
        .collect();
    let g = graph.with_costs(costs);
    let total = schedule(&g, waits, parallelism);
    let path = critical_path(&g);
    let slowest = path
        .iter()
        .max_by_key(|&&n| g.cost(n))
        .and_then(|&n| figures[n].as_ref())
        .map(|f| {
            let why = match &f.basis {
                Basis::Recorded { runs } => format!(
                    "{} in this account's last {runs} runs",
                    human(Duration::from_secs_f64(f.seconds))
                ),
                Basis::Typical { source } => source.clone(),
            };
            (f.node.trim_end_matches(":ready").to_owned(), why)
        });
    Estimate {
        command,
        seconds: total.as_secs_f64(),
        parallelism,
        critical_path: fold_ready(path.iter().map(|&n| g.name(n))),
        steps: figures.into_iter().flatten().collect(),
        slowest,
    }
}

/// `x`, `x:ready` → `x`.
fn fold_ready<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let base = n.trim_end_matches(":ready");
        if out.last().map(String::as_str) != Some(base) {
            out.push(base.to_owned());
        }
    }
    out
}

/// The estimate of `up` (`work` from what the local state knows) with
/// its graph, ready for [`Forecast::new`].
pub fn forecast_up(steps: &[StepRef], work: impl Fn(&str) -> Work, learned: &Learned, parallelism: usize) -> Forecast {
    let (graph, nodes) = graphs::up_graph(steps).expect("the stack's graph is valid");
    let e = up(steps, work, learned, parallelism);
    forecast(&e, graph, &graphs::wait_nodes(&nodes))
}

pub fn forecast_down(
    steps: &[StepRef],
    present: impl Fn(&str) -> bool,
    learned: &Learned,
    parallelism: usize,
) -> Forecast {
    let graph = graphs::down_graph(steps).expect("the stack's graph is valid");
    let e = down(steps, present, learned, parallelism);
    forecast(&e, graph, &[])
}

fn forecast(e: &Estimate, graph: Graph, waits: &[bool]) -> Forecast {
    let by_node: BTreeMap<&str, f64> = e.steps.iter().map(|f| (f.node.as_str(), f.seconds)).collect();
    let costs = (0..graph.len())
        .map(|n| {
            by_node
                .get(graph.name(n))
                .map_or(Duration::ZERO, |s| Duration::from_secs_f64(*s))
        })
        .collect();
    Forecast::new(graph.with_costs(costs), waits, e.parallelism)
}

/// A run's measurements (`(node, action, took)` as the runner reported
/// them) by kind and phase: a create, a change (a repair, a roll-out), a
/// delete, and the wait until usable of what this run created. A resource
/// found as it was measures nothing, nor does a failed step.
pub fn learned_from(finished: &[(String, String, Duration)], kind: impl Fn(&str) -> Option<&'static str>) -> Learned {
    let created: Vec<&str> = finished
        .iter()
        .filter(|(_, a, _)| a == "created")
        .map(|(n, _, _)| n.as_str())
        .collect();
    let mut run = Learned::default();
    for (node, action, took) in finished {
        let (id, ready) = match node.strip_suffix(":ready") {
            Some(id) => (id, true),
            None => (node.as_str(), false),
        };
        let phase = match (action.as_str(), ready) {
            ("created", false) => Phase::Create,
            ("repaired" | "rolled-out", false) => Phase::Change,
            ("deleted", false) => Phase::Destroy,
            ("ready", true) if created.contains(&id) => Phase::Ready,
            _ => continue,
        };
        if let Some(k) = kind(id) {
            run.add(k, phase, took.as_secs_f64());
        }
    }
    run
}

#[cfg(test)]
#[path = "estimate_tests.rs"]
mod tests;
