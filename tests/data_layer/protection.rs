//! `--protect-data`: deletion protection (the database's and the load
//! balancer's) makes `down` refuse before its first delete, so a protected
//! stack keeps everything, not only its data; with protection off,
//! `down --protect-data` keeps a final snapshot.

use crate::common::*;
use crate::leftovers::data_leftovers;
use crate::{cluster_instances, Env};

#[tokio::test(flavor = "multi_thread")]
async fn protected_data_stops_down_until_protection_is_turned_off_and_keeps_a_final_snapshot() {
    let env = Env::new("dz").await;
    let (stack, aws) = (&env.stack, &env.aws);
    let s = stack.suffix.clone();
    let cluster_id = stack.name("aurora", "catalog");
    stack.ok("up", &["--protect-data"]);
    assert_eq!(db_cluster(aws, &s).await.deletion_protection(), Some(true));

    let lb_protected = || async {
        let lb = aws
            .elb
            .describe_load_balancers()
            .names(stack.name("alb", "api"))
            .send()
            .await
            .unwrap();
        let arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_owned();
        let attrs = aws
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
        attrs
            .attributes()
            .iter()
            .any(|a| a.key() == Some("deletion_protection.enabled") && a.value() == Some("true"))
    };
    assert!(lb_protected().await, "the load balancer is protected with the data");
    let table_protected = || async {
        aws.dynamodb
            .describe_table()
            .table_name(stack.name("ddb", "idempotency"))
            .send()
            .await
            .unwrap()
            .table()
            .unwrap()
            .deletion_protection_enabled()
    };
    assert_eq!(table_protected().await, Some(true), "so is the idempotency table");

    // Without --yes the listing marks what is protected.
    let out = stack.run("down", &[]);
    assert_eq!(out.status.code(), Some(2));
    let listing = stdout(&out);
    assert!(
        listing.contains("db-cluster") && listing.contains("PROTECTED"),
        "{listing}"
    );
    assert!(
        listing.lines().any(|l| l.contains(" alb ") && l.contains("PROTECTED")),
        "{listing}"
    );

    // down refuses before its first delete: every resource is still there.
    let out = stack.run("down", &["--protect-data", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nothing was deleted") && err.contains("deletion protection") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(census(aws, &s).await, full_census(), "down deleted something");
    assert_eq!(
        cluster_instances(aws, &cluster_id).await.len(),
        2,
        "no instance may be deleted"
    );

    // `up --no-protect-data` (a destructive change: --yes) turns it off...
    let out = stack.ok_output("up", &["--no-protect-data", "--yes"]);
    assert_stderr_has(&out, &["db-cluster: repaired"]);
    assert_eq!(db_cluster(aws, &s).await.deletion_protection(), Some(false));
    assert!(!lb_protected().await);
    assert_eq!(table_protected().await, Some(false));

    // ...and `down --protect-data` then keeps a final snapshot.
    stack.ok("down", &["--protect-data", "--yes"]);
    let snaps = aws.rds.describe_db_cluster_snapshots().send().await.unwrap();
    let finals: Vec<String> = snaps
        .db_cluster_snapshots()
        .iter()
        .filter_map(|x| x.db_cluster_snapshot_identifier())
        .filter(|id| id.starts_with(&format!("{cluster_id}-final-")))
        .map(str::to_owned)
        .collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
    assert!(data_leftovers(aws, &s).await.is_empty());
    for id in finals {
        aws.rds
            .delete_db_cluster_snapshot()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
            .unwrap();
    }
}
