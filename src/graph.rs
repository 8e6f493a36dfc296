//! The step graph: a plain, synchronous data structure with no I/O.
//!
//! [`Graph`] holds named nodes and their dependencies and refuses to exist
//! unless every dependency names a node and there is no cycle. [`Queue`]
//! hands out nodes whose dependencies are finished ([`Queue::dequeue`]),
//! is told how each one ended ([`Queue::finish`]), and after a failure or a
//! stop hands out nothing new while what is running drains.
//!
//! Everything here is tested by scripting dequeue/finish orders; the async
//! executor that spawns the work lives in `runner.rs`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Index of a node inside one [`Graph`].
pub type NodeId = usize;

/// Why a set of nodes cannot form a graph.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("step `{node}` depends on `{dependency}`, which is not a step\n  hint: check the spelling, or add the missing step to the stack")]
    UnknownDependency { node: String, dependency: String },
    #[error("step `{0}` is defined twice")]
    Duplicate(String),
    #[error("the steps form a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// A validated, acyclic dependency graph.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Node names, in the order they were declared (the order `plan` prints).
    names: Vec<String>,
    /// `deps[n]`: what must finish before `n` may start.
    deps: Vec<Vec<NodeId>>,
    /// `dependents[n]`: the reverse edges, so finishing `n` is O(dependents).
    dependents: Vec<Vec<NodeId>>,
    /// How long each node is expected to take; drives the schedule priority.
    cost: Vec<Duration>,
    index: HashMap<String, NodeId>,
}

impl Graph {
    /// Builds a graph from `(name, dependencies, expected duration)`
    /// triples, rejecting duplicates, unknown dependencies and cycles.
    pub fn new<I, S>(nodes: I) -> Result<Self, GraphError>
    where
        I: IntoIterator<Item = (S, Vec<S>, Duration)>,
        S: Into<String>,
    {
        let mut names = Vec::new();
        let mut raw_deps = Vec::new();
        let mut cost = Vec::new();
        let mut index = HashMap::new();
        for (name, deps, c) in nodes {
            let name: String = name.into();
            if index.insert(name.clone(), names.len()).is_some() {
                return Err(GraphError::Duplicate(name));
            }
            names.push(name);
            raw_deps.push(deps.into_iter().map(Into::into).collect::<Vec<String>>());
            cost.push(c);
        }
        let mut deps = Vec::with_capacity(names.len());
        for (n, ds) in raw_deps.iter().enumerate() {
            let mut resolved = BTreeSet::new();
            for d in ds {
                let id = *index.get(d).ok_or_else(|| GraphError::UnknownDependency {
                    node: names[n].clone(),
                    dependency: d.clone(),
                })?;
                resolved.insert(id);
            }
            deps.push(resolved.into_iter().collect::<Vec<_>>());
        }
        let mut dependents = vec![Vec::new(); names.len()];
        for (n, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(n);
            }
        }
        let graph = Graph {
            names,
            deps,
            dependents,
            cost,
            index,
        };
        graph.check_acyclic()?;
        Ok(graph)
    }

    fn check_acyclic(&self) -> Result<(), GraphError> {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut mark = vec![0u8; self.len()];
        let mut path = Vec::new();
        for start in 0..self.len() {
            if mark[start] == 0 {
                if let Some(cycle) = self.visit(start, &mut mark, &mut path) {
                    return Err(GraphError::Cycle(cycle));
                }
            }
        }
        Ok(())
    }

    fn visit(&self, n: NodeId, mark: &mut [u8], path: &mut Vec<NodeId>) -> Option<Vec<String>> {
        mark[n] = 1;
        path.push(n);
        for &d in &self.deps[n] {
            if mark[d] == 1 {
                let from = path.iter().position(|&p| p == d).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|&p| self.names[p].clone()).collect();
                cycle.push(self.names[d].clone());
                return Some(cycle);
            }
            if mark[d] == 0 {
                if let Some(c) = self.visit(d, mark, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark[n] = 2;
        None
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, n: NodeId) -> &str {
        &self.names[n]
    }

    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.index.get(name).copied()
    }

    pub fn deps(&self, n: NodeId) -> &[NodeId] {
        &self.deps[n]
    }

    pub fn dependents(&self, n: NodeId) -> &[NodeId] {
        &self.dependents[n]
    }

    pub fn cost(&self, n: NodeId) -> Duration {
        self.cost[n]
    }

    /// The same nodes with every edge turned around: the teardown order.
    pub fn reversed(&self) -> Graph {
        Graph {
            names: self.names.clone(),
            deps: self.dependents.clone(),
            dependents: self.deps.clone(),
            cost: self.cost.clone(),
            index: self.index.clone(),
        }
    }

    /// A topological order that keeps declaration order where it can.
    pub fn order(&self) -> Vec<NodeId> {
        let mut pending: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut placed = vec![false; self.len()];
        let mut out = Vec::with_capacity(self.len());
        while out.len() < self.len() {
            let n = (0..self.len())
                .find(|&n| !placed[n] && pending[n] == 0)
                .expect("validated graphs are acyclic");
            placed[n] = true;
            out.push(n);
            for &d in &self.dependents[n] {
                pending[d] -= 1;
            }
        }
        out
    }

    /// Every node `n` transitively depends on (not including `n`).
    pub fn ancestors(&self, n: NodeId) -> BTreeSet<NodeId> {
        let mut seen = BTreeSet::new();
        let mut stack = self.deps[n].clone();
        while let Some(d) = stack.pop() {
            if seen.insert(d) {
                stack.extend_from_slice(&self.deps[d]);
            }
        }
        seen
    }

    /// The same graph with other costs (an estimate's figures, one per node).
    pub fn with_costs(&self, cost: Vec<Duration>) -> Graph {
        assert_eq!(cost.len(), self.len(), "one cost per node");
        Graph { cost, ..self.clone() }
    }

    /// The longest sum of costs from `n` to the end of the graph, including
    /// `n` itself: the critical-path length through `n`.
    pub fn tail_costs(&self) -> Vec<Duration> {
        let mut tail = vec![Duration::ZERO; self.len()];
        // Reverse topological order: dependents before their dependencies.
        for &n in self.order().iter().rev() {
            let longest = self.dependents[n].iter().map(|&d| tail[d]).max().unwrap_or_default();
            tail[n] = self.cost[n] + longest;
        }
        tail
    }

    /// The length of the critical path: the least time the whole graph can
    /// take with unbounded parallelism.
    pub fn critical_path(&self) -> Duration {
        self.tail_costs().into_iter().max().unwrap_or_default()
    }
}

/// Where one node stands in a [`Queue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Waiting,
    Running,
    Done,
    Failed,
    /// Not run because a dependency failed, or the run stopped first.
    Skipped,
}

/// The scheduling state of one run over a [`Graph`].
#[derive(Debug)]
pub struct Queue<'g> {
    graph: &'g Graph,
    state: Vec<NodeState>,
    /// Dependencies of each node not yet done.
    pending: Vec<usize>,
    /// Critical-path length through each node: ready nodes with the longest
    /// tail go first, so a bounded parallelism spends itself where it counts.
    priority: Vec<Duration>,
    stopped: bool,
}

impl<'g> Queue<'g> {
    pub fn new(graph: &'g Graph) -> Self {
        Queue {
            graph,
            state: vec![NodeState::Waiting; graph.len()],
            pending: graph.deps.iter().map(Vec::len).collect(),
            priority: graph.tail_costs(),
            stopped: false,
        }
    }

    /// Marks a node as already done without running it (a step found
    /// finished before the run, or excluded from it).
    pub fn assume_done(&mut self, n: NodeId) {
        if self.state[n] == NodeState::Waiting {
            self.finish_inner(n, true);
        }
    }

    /// The ready node with the longest critical path, now marked running.
    pub fn dequeue(&mut self) -> Option<NodeId> {
        self.dequeue_where(|_| true)
    }

    /// Like [`dequeue`](Self::dequeue), among the ready nodes `allowed` accepts.
    pub fn dequeue_where(&mut self, allowed: impl Fn(NodeId) -> bool) -> Option<NodeId> {
        if self.stopped {
            return None;
        }
        let n = (0..self.graph.len())
            .filter(|&n| self.state[n] == NodeState::Waiting && self.pending[n] == 0 && allowed(n))
            .max_by(|&a, &b| self.priority[a].cmp(&self.priority[b]).then(b.cmp(&a)))?;
        self.state[n] = NodeState::Running;
        Some(n)
    }

    /// Records how a running node ended. A failure skips everything that
    /// depends on it and stops the queue: nothing new is handed out.
    pub fn finish(&mut self, n: NodeId, ok: bool) {
        debug_assert_eq!(self.state[n], NodeState::Running, "{}", self.graph.name(n));
        self.finish_inner(n, ok);
        if !ok {
            self.stop();
        }
    }

    fn finish_inner(&mut self, n: NodeId, ok: bool) {
        if ok {
            self.state[n] = NodeState::Done;
            for &d in &self.graph.dependents[n] {
                self.pending[d] -= 1;
            }
        } else {
            self.state[n] = NodeState::Failed;
            let mut stack = self.graph.dependents[n].clone();
            while let Some(d) = stack.pop() {
                if self.state[d] == NodeState::Waiting {
                    self.state[d] = NodeState::Skipped;
                    stack.extend_from_slice(&self.graph.dependents[d]);
                }
            }
        }
    }

    /// Hands out nothing new; what is running may still finish.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Hands out work again after a failure (keep-going runs).
    pub fn resume(&mut self) {
        self.stopped = false;
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    pub fn state(&self, n: NodeId) -> NodeState {
        self.state[n]
    }

    pub fn running(&self) -> usize {
        self.state.iter().filter(|s| **s == NodeState::Running).count()
    }

    /// Once stopped and drained, the nodes that never ran are skipped.
    pub fn skip_rest(&mut self) -> Vec<NodeId> {
        let mut skipped = Vec::new();
        for n in 0..self.graph.len() {
            if self.state[n] == NodeState::Waiting {
                self.state[n] = NodeState::Skipped;
                skipped.push(n);
            }
        }
        skipped
    }

    /// True when no node is waiting or running.
    pub fn is_finished(&self) -> bool {
        self.state
            .iter()
            .all(|s| !matches!(s, NodeState::Waiting | NodeState::Running))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn graph(nodes: &[(&str, &[&str], u64)]) -> Result<Graph, GraphError> {
        Graph::new(
            nodes
                .iter()
                .map(|(n, d, c)| (n.to_string(), d.iter().map(|s| s.to_string()).collect(), secs(*c))),
        )
    }

    fn names(g: &Graph, ids: impl IntoIterator<Item = NodeId>) -> Vec<String> {
        ids.into_iter().map(|n| g.name(n).to_string()).collect()
    }

    #[test]
    fn unknown_dependency_is_named() {
        let err = graph(&[("a", &["nope"], 1)]).unwrap_err();
        assert_eq!(
            err,
            GraphError::UnknownDependency {
                node: "a".into(),
                dependency: "nope".into()
            }
        );
        assert!(err.to_string().contains("`nope`"));
    }

    #[test]
    fn duplicates_are_rejected() {
        assert_eq!(
            graph(&[("a", &[], 1), ("a", &[], 1)]).unwrap_err(),
            GraphError::Duplicate("a".into())
        );
    }

    #[test]
    fn cycle_is_reported_with_its_members() {
        let err = graph(&[("a", &["c"], 1), ("b", &["a"], 1), ("c", &["b"], 1), ("d", &[], 1)]).unwrap_err();
        let GraphError::Cycle(members) = &err else {
            panic!("expected a cycle, got {err:?}")
        };
        assert_eq!(members.first(), members.last());
        for n in ["a", "b", "c"] {
            assert!(members.contains(&n.to_string()), "{members:?}");
        }
        assert!(!members.contains(&"d".to_string()));
        assert!(err.to_string().contains("->"));
    }

    #[test]
    fn self_cycle_is_a_cycle() {
        assert!(matches!(graph(&[("a", &["a"], 1)]), Err(GraphError::Cycle(_))));
    }

    #[test]
    fn dequeue_respects_dependencies_and_finish_releases() {
        let g = graph(&[("vpc", &[], 1), ("subnet", &["vpc"], 1), ("nat", &["subnet"], 1)]).unwrap();
        let mut q = Queue::new(&g);
        assert_eq!(q.dequeue(), g.id("vpc"));
        assert_eq!(q.dequeue(), None, "subnet must wait for vpc");
        q.finish(g.id("vpc").unwrap(), true);
        assert_eq!(q.dequeue(), g.id("subnet"));
        q.finish(g.id("subnet").unwrap(), true);
        assert_eq!(q.dequeue(), g.id("nat"));
        q.finish(g.id("nat").unwrap(), true);
        assert!(q.is_finished());
    }

    #[test]
    fn longest_critical_path_goes_first() {
        // `slow` heads a 10 s chain; `quick` a 1 s one. Both are ready.
        let g = graph(&[("quick", &[], 1), ("slow", &[], 1), ("after-slow", &["slow"], 10)]).unwrap();
        let mut q = Queue::new(&g);
        assert_eq!(q.dequeue(), g.id("slow"));
        assert_eq!(q.dequeue(), g.id("quick"));
    }

    #[test]
    fn failure_skips_dependents_stops_new_work_and_lets_running_drain() {
        let g = graph(&[
            ("a", &[], 1),
            ("b", &[], 1),
            ("a2", &["a"], 1),
            ("a3", &["a2"], 1),
            ("c", &[], 1),
        ])
        .unwrap();
        let id = |n| g.id(n).unwrap();
        let mut q = Queue::new(&g);
        let first = q.dequeue().unwrap();
        let second = q.dequeue().unwrap();
        assert_eq!(names(&g, [first, second]), ["a", "b"]);
        q.finish(id("a"), false);
        assert_eq!(q.state(id("a2")), NodeState::Skipped);
        assert_eq!(q.state(id("a3")), NodeState::Skipped);
        assert_eq!(q.dequeue(), None, "no new work after a failure");
        assert!(!q.is_finished(), "b is still running");
        q.finish(id("b"), true);
        assert_eq!(q.state(id("b")), NodeState::Done);
        assert_eq!(names(&g, q.skip_rest()), ["c"]);
        assert!(q.is_finished());
    }

    #[test]
    fn reversed_graph_tears_down_dependents_first() {
        let g = graph(&[("vpc", &[], 1), ("subnet", &["vpc"], 1), ("sg", &["vpc"], 1)]).unwrap();
        let r = g.reversed();
        let mut q = Queue::new(&r);
        let mut first = vec![q.dequeue().unwrap(), q.dequeue().unwrap()];
        first.sort();
        assert_eq!(names(&r, first), ["subnet", "sg"]);
        assert_eq!(q.dequeue(), None, "vpc waits for both");
        q.finish(r.id("subnet").unwrap(), true);
        assert_eq!(q.dequeue(), None);
        q.finish(r.id("sg").unwrap(), true);
        assert_eq!(q.dequeue(), r.id("vpc"));
    }

    #[test]
    fn assume_done_releases_dependents() {
        let g = graph(&[("a", &[], 1), ("b", &["a"], 1)]).unwrap();
        let mut q = Queue::new(&g);
        q.assume_done(g.id("a").unwrap());
        assert_eq!(q.dequeue(), g.id("b"));
    }

    #[test]
    fn critical_path_and_order() {
        let g = graph(&[
            ("a", &[], 2),
            ("b", &["a"], 3),
            ("c", &["a"], 10),
            ("d", &["b", "c"], 1),
        ])
        .unwrap();
        assert_eq!(g.critical_path(), secs(13));
        assert_eq!(names(&g, g.order()), ["a", "b", "c", "d"]);
        assert_eq!(names(&g, g.ancestors(g.id("d").unwrap())), ["a", "b", "c"]);
    }
}
