//! `--protect-data`: deletion protection stops `down` before it touches
//! the database; with protection off, `down --protect-data` keeps a final
//! snapshot.

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

    // down refuses to touch any part of the database.
    let out = stack.run("down", &["--protect-data", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("deletion protection") && err.contains("hint:"), "{err}");
    assert_eq!(
        cluster_instances(aws, &cluster_id).await.len(),
        2,
        "no instance may be deleted"
    );

    // `up --no-protect-data` (a destructive change: --yes) turns it off...
    let out = stack.ok_output("up", &["--no-protect-data", "--yes"]);
    assert_stderr_has(&out, &["db-cluster: repaired"]);
    assert_eq!(db_cluster(aws, &s).await.deletion_protection(), Some(false));

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
