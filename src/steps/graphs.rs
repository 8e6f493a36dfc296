//! The stack's steps as the runner's graphs: `up`'s (an apply node per
//! step, and a `{id}:ready` node for the steps that take a while to become
//! usable), `down`'s (reversed, without creation-order-only edges) and the
//! look-up order of `status` and `plan`. Each node costs its step's typical
//! duration ([`super::Timing`]).

use super::{ready_node, StepRef};
use crate::graph::{Graph, GraphError};
use std::collections::BTreeSet;

/// A node of the `up` graph: apply a step, or wait for it to be usable.
#[derive(Clone)]
pub enum Node {
    Apply(StepRef),
    Ready(StepRef),
}

/// The `up` graph: one node per step, plus `{id}:ready` for steps that
/// take a while to become usable.
pub fn up_graph(steps: &[StepRef]) -> Result<(Graph, Vec<Node>), GraphError> {
    let mut spec = Vec::new();
    let mut nodes = Vec::new();
    for s in steps {
        let t = s.timing();
        spec.push((s.id().to_owned(), s.deps().iter().map(|d| d.node()).collect(), t.create));
        nodes.push(Node::Apply(s.clone()));
        if s.waits() {
            spec.push((ready_node(s.id()), vec![s.id().to_owned()], t.ready));
            nodes.push(Node::Ready(s.clone()));
        }
    }
    Ok((Graph::new(spec)?, nodes))
}

/// Which nodes of the `up` graph only wait (and take no parallelism slot).
pub fn wait_nodes(nodes: &[Node]) -> Vec<bool> {
    nodes.iter().map(|n| matches!(n, Node::Ready(_))).collect()
}

/// One node per step (phases folded together), edges on the steps' ids.
/// `within`: keep only the edges between `steps` (a part of the stack
/// handled on its own); otherwise every dependency must be among them.
pub(crate) fn step_graph(
    steps: &[StepRef],
    with_ordering: bool,
    within: bool,
    cost: impl Fn(&StepRef) -> std::time::Duration,
) -> Result<Graph, GraphError> {
    let ids: BTreeSet<&str> = steps.iter().map(|s| s.id()).collect();
    let spec = steps.iter().map(|s| {
        let ordering = if with_ordering { Vec::new() } else { s.ordering_deps() };
        let deps: BTreeSet<String> = s
            .deps()
            .iter()
            .filter(|d| !ordering.contains(&d.step))
            .filter(|d| !within || ids.contains(d.step.as_str()))
            .map(|d| d.step.clone())
            .collect();
        (s.id().to_owned(), deps.into_iter().collect::<Vec<_>>(), cost(s))
    });
    Graph::new(spec)
}

/// The teardown graph: a step is destroyed after every step that depends on
/// it (through either phase), except for creation-order-only dependencies.
pub fn down_graph(steps: &[StepRef]) -> Result<Graph, GraphError> {
    Ok(step_graph(steps, false, false, |s| s.timing().destroy)?.reversed())
}

/// Graph over the steps alone (no ready nodes), in dependency order.
pub fn find_graph(steps: &[StepRef]) -> Result<Graph, GraphError> {
    step_graph(steps, true, false, |s| s.timing().create)
}
