use super::*;
use crate::steps::{self, ids};
use crate::testing::settings;
use std::collections::BTreeSet;

fn stack() -> Vec<StepRef> {
    steps::stack(&settings(&[]))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn the_schedule_is_the_critical_path_when_slots_abound_and_the_sum_with_one() {
    // a(10) → b(20); c(5) and d(7) independent.
    let g = Graph::new([
        ("a", vec![], Duration::from_secs(10)),
        ("b", vec!["a"], Duration::from_secs(20)),
        ("c", vec![], Duration::from_secs(5)),
        ("d", vec![], Duration::from_secs(7)),
    ])
    .unwrap();
    assert_eq!(schedule(&g, &[], 8), g.critical_path());
    let sum: Duration = (0..g.len()).map(|n| g.cost(n)).sum();
    assert_eq!(schedule(&g, &[], 1), sum);
    // A wait takes no slot: with one slot, b as a wait overlaps c and d.
    let waits = [false, true, false, false];
    assert_eq!(schedule(&g, &waits, 1), Duration::from_secs(30));
    let names: Vec<&str> = critical_path(&g).into_iter().map(|n| g.name(n)).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn recorded_runs_replace_the_typical_figure_once_there_are_enough() {
    let mut l = Learned::default();
    let t = Timing::secs(2, 120, 60).source("a page");
    for s in [30.0, 90.0] {
        l.add("nat-gateway", Phase::Ready, s);
    }
    assert_eq!(l.recorded("nat-gateway", Phase::Ready), None, "two runs are not enough");
    let (d, basis) = l.figure("nat-gateway", &t, Phase::Ready);
    assert_eq!(d, t.ready);
    assert_eq!(
        basis,
        Basis::Typical {
            source: "a page".into()
        }
    );
    l.add("nat-gateway", Phase::Ready, 40.0);
    let (d, basis) = l.figure("nat-gateway", &t, Phase::Ready);
    assert_eq!(secs(d), 40.0, "the median of 30, 90, 40");
    assert_eq!(basis, Basis::Recorded { runs: MIN_RUNS });
    l.add("nat-gateway", Phase::Ready, 50.0);
    assert_eq!(
        secs(l.recorded("nat-gateway", Phase::Ready).unwrap().0),
        45.0,
        "even count: mean of the middle two"
    );
    // Other phases and kinds are untouched.
    assert_eq!(l.recorded("nat-gateway", Phase::Create), None);
    assert_eq!(l.recorded("vpc", Phase::Ready), None);
}

#[test]
fn a_fresh_stack_takes_its_slow_chain_and_a_converged_one_nothing() {
    let steps = stack();
    let none = Learned::default();
    let fresh = up(&steps, |_| Work::Create, &none, 8);
    let (graph, nodes) = graphs::up_graph(&steps).unwrap();
    // With typical figures the estimate is the runner's schedule of the
    // graph's own costs (which are the typical figures).
    let waits = graphs::wait_nodes(&nodes);
    assert_eq!(secs(fresh.total()), secs(schedule(&graph, &waits, 8)));
    assert!(fresh.total() >= graph.critical_path());
    assert!(
        fresh.critical_path.contains(&ids::VPC_ORIGIN.to_owned()),
        "{:?}",
        fresh.critical_path
    );
    assert!(fresh.summary().contains("critical path vpc →"), "{}", fresh.summary());
    assert!(fresh.steps.iter().all(|f| matches!(f.basis, Basis::Typical { .. })));
    let converged = up(&steps, |_| Work::Keep, &none, 8);
    assert!(converged.steps.is_empty());
    assert_eq!(converged.total(), Duration::ZERO);
    assert!(
        converged.summary().contains("nothing to wait for"),
        "{}",
        converged.summary()
    );
}

#[test]
fn a_service_only_change_takes_the_deployment() {
    let steps = stack();
    let none = Learned::default();
    let e = up(
        &steps,
        |id| {
            if id == ids::ECS_SERVICE {
                Work::Change
            } else {
                Work::Keep
            }
        },
        &none,
        8,
    );
    let svc = steps.iter().find(|s| s.id() == ids::ECS_SERVICE).unwrap();
    assert_eq!(e.total(), svc.timing().change);
    assert_eq!(e.critical_path, [ids::ECS_SERVICE]);
}

#[test]
fn the_estimate_follows_recorded_runs() {
    let steps = stack();
    let typical = up(&steps, |_| Work::Create, &Learned::default(), 8);
    // This account's VPC origins deploy in 2 minutes and its Aurora
    // instances take 20: the database becomes the critical path.
    let mut l = Learned::default();
    for _ in 0..MIN_RUNS {
        l.add("vpc-origin", Phase::Ready, 120.0);
        l.add("db-instance", Phase::Ready, 1200.0);
    }
    let learned = up(&steps, |_| Work::Create, &l, 8);
    assert!(
        learned.critical_path.contains(&ids::DB_WRITER.to_owned()),
        "{:?}",
        learned.critical_path
    );
    assert!(!learned.critical_path.contains(&ids::VPC_ORIGIN.to_owned()));
    assert!(learned.total() > typical.total());
    let origin = learned
        .steps
        .iter()
        .find(|f| f.node == format!("{}:ready", ids::VPC_ORIGIN))
        .unwrap();
    assert_eq!(origin.seconds, 120.0);
    assert_eq!(origin.basis, Basis::Recorded { runs: MIN_RUNS });
    assert!(
        learned.summary().contains("in this account's last 3 runs"),
        "{}",
        learned.summary()
    );
}

#[test]
fn down_deletes_only_what_is_present() {
    let steps = stack();
    let none = Learned::default();
    let all = down(&steps, |_| true, &none, 8);
    let graph = graphs::down_graph(&steps).unwrap();
    assert_eq!(secs(all.total()), secs(schedule(&graph, &[], 8)));
    assert_eq!(all.steps.len(), steps.len());
    let nothing = down(&steps, |_| false, &none, 8);
    assert_eq!(nothing.total(), Duration::ZERO);
    // Only the VPC present: one delete.
    let vpc = down(&steps, |id| id == ids::VPC, &none, 8);
    let t = steps.iter().find(|s| s.id() == ids::VPC).unwrap().timing();
    assert_eq!(vpc.total(), t.destroy);
}

#[test]
fn the_forecast_counts_down_as_nodes_finish() {
    let steps = stack();
    // Slots aplenty, so that the schedule is the critical path (with 8, a
    // list schedule may spend a saved second elsewhere).
    let f = forecast_up(&steps, |_| Work::Create, &Learned::default(), 100);
    let none = BTreeSet::new();
    let start = f.left(&none, &BTreeMap::new(), &none);
    assert_eq!(start, f.total);
    // The first step of the critical path done: less is left, by no more
    // than its own time.
    let first = critical_path(f.graph())[0];
    let done: BTreeSet<String> = [f.graph().name(first).to_owned()].into();
    let after = f.left(&done, &BTreeMap::new(), &none);
    assert!(
        after < start && after + f.graph().cost(first) >= start,
        "{start:?} → {after:?}"
    );
    // The VPC origin found ready: its ten minutes leave the estimate.
    let instant: BTreeSet<String> = [format!("{}:ready", ids::VPC_ORIGIN)].into();
    assert!(f.left(&done, &BTreeMap::new(), &instant) + Duration::from_secs(60) < after);
    // Everything done: nothing left.
    let every: BTreeSet<String> = (0..f.len()).map(|n| f.graph().name(n).to_owned()).collect();
    assert_eq!(f.left(&every, &BTreeMap::new(), &none), Duration::ZERO);
}

#[test]
fn a_run_teaches_creates_changes_deletes_and_the_waits_of_what_it_created() {
    let took = |n: &str, a: &str, s: u64| (n.to_owned(), a.to_owned(), Duration::from_secs(s));
    let finished = [
        took("nat-a", "created", 2),
        took("nat-a:ready", "ready", 95),
        // Found as it was: its ready node returns at once, and teaches nothing.
        took("nat-b", "found", 1),
        took("nat-b:ready", "ready", 0),
        took("ecs-service", "rolled-out", 240),
        took("sg-app", "repaired", 3),
        took("vpc", "deleted", 4),
        took("unknown-step", "created", 9),
    ];
    let kind = |id: &str| match id {
        "nat-a" | "nat-b" => Some("nat-gateway"),
        "ecs-service" => Some("ecs-service"),
        "sg-app" => Some("security-group"),
        "vpc" => Some("vpc"),
        _ => None,
    };
    let l = learned_from(&finished, kind);
    let get = |k: &str, p: Phase| l.kinds.get(k).and_then(|m| m.get(&p)).cloned().unwrap_or_default();
    assert_eq!(get("nat-gateway", Phase::Create), [2.0]);
    assert_eq!(
        get("nat-gateway", Phase::Ready),
        [95.0],
        "only the wait of the NAT it created"
    );
    assert_eq!(get("ecs-service", Phase::Change), [240.0]);
    assert_eq!(get("security-group", Phase::Change), [3.0]);
    assert_eq!(get("vpc", Phase::Destroy), [4.0]);
    assert_eq!(l.kinds.len(), 4, "nothing else: {l:?}");
}
