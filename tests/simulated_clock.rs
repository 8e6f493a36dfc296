//! The schedule's real-world quality, which moto (everything available at
//! once) cannot show: the real step graph on a paused clock, each step
//! taking the time AWS typically takes.

#[path = "common/sim.rs"]
mod sim;

use sim::{simulate, stack_graphs};
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
