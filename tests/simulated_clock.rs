//! The schedule's real-world quality, which moto (everything available at
//! once) cannot show: the real step graph on a paused clock, each step
//! taking the time AWS typically takes.

#[path = "common/sim.rs"]
mod sim;

use sim::{simulate, stack_graphs, stack_steps};
use std::time::Duration;

fn within(actual: Duration, ideal: Duration, pct: f64) -> bool {
    actual.as_secs_f64() <= ideal.as_secs_f64() * (1.0 + pct / 100.0)
}

#[tokio::test(start_paused = true)]
async fn up_finishes_within_5_percent_of_its_critical_path() {
    let (up, waits, _) = stack_graphs();
    let t = simulate(&up, &waits, 8).await;
    assert!(
        within(t.makespan, t.critical_path, 5.0),
        "up took {:?}, critical path {:?}",
        t.makespan,
        t.critical_path
    );
    // Slow resources really are in the graph (the check means something).
    assert!(t.critical_path >= Duration::from_secs(8 * 60), "{:?}", t.critical_path);
}

#[tokio::test(start_paused = true)]
async fn down_finishes_within_5_percent_of_its_critical_path() {
    let (_, _, down) = stack_graphs();
    let t = simulate(&down, &[], 8).await;
    assert!(
        within(t.makespan, t.critical_path, 5.0),
        "down took {:?}, critical path {:?}",
        t.makespan,
        t.critical_path
    );
}

#[tokio::test(start_paused = true)]
async fn parallelism_one_is_much_slower_than_the_default() {
    let (up, waits, _) = stack_graphs();
    let p8 = simulate(&up, &waits, 8).await;
    let p1 = simulate(&up, &waits, 1).await;
    assert!(
        p1.makespan > p8.makespan,
        "p1 {:?} vs p8 {:?}",
        p1.makespan,
        p8.makespan
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_waits_for_the_database_instances_unless_it_needs_them_usable() {
    let (up, waits, _) = stack_graphs();
    let writer = up.id("db-writer:ready").expect("the writer has a ready phase");
    let reader = up.id("db-reader:ready").expect("the reader has a ready phase");
    // Structurally: no step depends on the instances being available.
    for n in 0..up.len() {
        let a = up.ancestors(n);
        assert!(
            !a.contains(&writer) && !a.contains(&reader),
            "{} waits for the database instances",
            up.name(n)
        );
    }
    // On the clock: work that needs only the cluster's identifiers (the
    // connection secret, the task definition, the service) finishes while
    // the instances are still being created.
    let t = simulate(&up, &waits, 8).await;
    for step in ["db-cluster", "secret-db-connection", "secret-db-credentials"] {
        if t.spans.contains_key(step) {
            assert!(t.end(step) < t.end("db-writer:ready"), "{step} waited for the writer");
        }
    }
    if let Some(svc) = ["ecs-service", "svc-api"].iter().find(|s| t.spans.contains_key(**s)) {
        assert!(
            t.start(svc) < t.end("db-writer:ready"),
            "the service waited for the database"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn nothing_waits_for_the_edge_unless_it_needs_it_deployed() {
    let (up, waits, down) = stack_graphs();
    let distribution = up
        .id("cf-distribution:ready")
        .expect("the distribution has a ready phase");
    let origin = up.id("vpc-origin:ready").expect("the VPC origin has a ready phase");
    for n in 0..up.len() {
        let a = up.ancestors(n);
        assert!(
            !a.contains(&distribution),
            "{} waits for the distribution to deploy",
            up.name(n)
        );
        // Only the edge needs the VPC origin deployed (the dashboard
        // names the distribution, so it comes after it is created).
        if a.contains(&origin) {
            let name = up.name(n);
            assert!(
                name.starts_with("cf-") || name == "dashboard",
                "{name} waits for the VPC origin"
            );
        }
    }
    let t = simulate(&up, &waits, 8).await;
    // The slow edge and the slow database run side by side.
    assert!(
        t.start("db-writer") < t.end("vpc-origin:ready"),
        "the database waited for the edge"
    );
    assert!(
        t.start("ecs-service") < t.end("vpc-origin:ready"),
        "the service waited for the edge"
    );
    // The edge is on the critical path now: VPC origin (10 min) then the
    // distribution's deployment (5 min), after the load balancer.
    assert!(
        t.end("cf-distribution:ready") >= Duration::from_secs(15 * 60),
        "{:?}",
        t.end("cf-distribution:ready")
    );
    // Down deletes the distribution before its VPC origin, the VPC origin
    // before the load balancer and the subnets its interfaces sit in.
    let d = simulate(&down, &[], 8).await;
    assert!(d.end("cf-distribution") <= d.start("vpc-origin"));
    assert!(d.end("vpc-origin") <= d.start("alb"));
    assert!(d.end("vpc-origin") <= d.start("subnet-private-a"));
    assert!(d.end("cf-distribution") <= d.start("waf-acl"));
}

// The estimate `plan` prints against the runner on the paused clock.

use provision::estimate::{self, Learned, Phase, Work};
use provision::steps::ids;

fn close(predicted: f64, simulated: Duration, pct: f64) -> bool {
    let s = simulated.as_secs_f64();
    (predicted - s).abs() <= s * pct / 100.0
}

/// The runner's up graph with each node costing the estimate's figure (0
/// for no work), as `up`'s live forecast has it.
fn costed(
    steps: &[provision::steps::StepRef],
    work: impl Fn(&str) -> Work,
    learned: &Learned,
) -> provision::graph::Graph {
    estimate::forecast_up(steps, work, learned, 8).graph().clone()
}

#[tokio::test(start_paused = true)]
async fn the_estimate_of_up_and_down_is_within_10_percent_of_the_simulated_run() {
    let steps = stack_steps();
    let none = Learned::default();
    let (up, waits, down) = stack_graphs();
    for parallelism in [8, 2, 1] {
        let e = estimate::up(&steps, |_| Work::Create, &none, parallelism);
        let t = simulate(&up, &waits, parallelism).await;
        assert!(
            close(e.seconds, t.makespan, 10.0),
            "up at {parallelism}: estimated {:.0}s, simulated {:?}",
            e.seconds,
            t.makespan
        );
        let e = estimate::down(&steps, |_| true, &none, parallelism);
        let t = simulate(&down, &[], parallelism).await;
        assert!(
            close(e.seconds, t.makespan, 10.0),
            "down at {parallelism}: estimated {:.0}s, simulated {:?}",
            e.seconds,
            t.makespan
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_estimate_of_a_service_only_change_is_within_10_percent() {
    let steps = stack_steps();
    let service_only = |id: &str| {
        if id == ids::ECS_SERVICE {
            Work::Change
        } else {
            Work::Keep
        }
    };
    let e = estimate::up(&steps, service_only, &Learned::default(), 8);
    // The simulated run: everything found as it is (no time), the service
    // rolled out in its change time.
    let (_, waits, _) = stack_graphs();
    let t = simulate(&costed(&steps, service_only, &Learned::default()), &waits, 8).await;
    assert!(t.makespan >= Duration::from_secs(60), "{:?}", t.makespan);
    assert!(
        close(e.seconds, t.makespan, 10.0),
        "estimated {:.0}s, simulated {:?}",
        e.seconds,
        t.makespan
    );
    assert_eq!(e.critical_path, [ids::ECS_SERVICE]);
}

#[tokio::test(start_paused = true)]
async fn after_recorded_runs_with_other_durations_the_estimate_follows_them() {
    let steps = stack_steps();
    // An account whose VPC origins deploy in 3 minutes and whose Aurora
    // instances take 25: recorded three times each.
    let mut learned = Learned::default();
    for _ in 0..estimate::MIN_RUNS {
        learned.add("vpc-origin", Phase::Ready, 180.0);
        learned.add("db-instance", Phase::Ready, 1500.0);
    }
    let typical = estimate::up(&steps, |_| Work::Create, &Learned::default(), 8);
    let followed = estimate::up(&steps, |_| Work::Create, &learned, 8);
    // What this account's AWS really does, simulated: the learned figures.
    let (_, waits, _) = stack_graphs();
    let t = simulate(&costed(&steps, |_| Work::Create, &learned), &waits, 8).await;
    assert!(
        close(followed.seconds, t.makespan, 10.0),
        "estimated {:.0}s, simulated {:?}",
        followed.seconds,
        t.makespan
    );
    // The typical estimate would have been far off this account.
    assert!(
        !close(typical.seconds, t.makespan, 10.0),
        "typical {:.0}s vs {:?}",
        typical.seconds,
        t.makespan
    );
    assert!(
        followed.critical_path.contains(&ids::DB_WRITER.to_owned()),
        "{:?}",
        followed.critical_path
    );
}
