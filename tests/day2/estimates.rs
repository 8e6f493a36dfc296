//! The duration estimate against the emulator: what runs record in the
//! state bucket, what `plan` and `down` say from it.

use super::*;

/// A region no other test of this binary uses.
const ELSEWHERE: &str = "us-west-2";

/// The account's recorded step durations (`durations.json`), as JSON.
pub async fn recorded_durations(aws: &provision::aws::Clients) -> Value {
    let o = aws
        .s3
        .get_object()
        .bucket(state_bucket())
        .key("durations.json")
        .send()
        .await
        .expect("runs recorded their durations");
    serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_estimates_from_recorded_runs_and_down_says_how_long() {
    let s = stack().await;
    let aws = s.aws().await;
    // The up that made the stack recorded what its steps took: creates,
    // and the waits until usable of what it created.
    let learned = recorded_durations(&aws).await;
    for (kind, phase) in [("vpc", "create"), ("nat-gateway", "ready"), ("db-instance", "ready")] {
        let n = learned["kinds"][kind][phase].as_array().map_or(0, Vec::len);
        assert!(n >= 1, "no {kind} {phase} recorded: {learned}");
    }

    // A fresh suffix in a region where nothing is recorded (every other
    // test of this binary records in REGION, and may do so meanwhile):
    // everything to create, the typical figures, the critical path from
    // the VPC.
    let bucket = state_bucket().replace(REGION, ELSEWHERE);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws.s3
            .config()
            .to_builder()
            .region(aws_sdk_s3::config::Region::new(ELSEWHERE))
            .build(),
    );
    let made = s3
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(ELSEWHERE))
                .build(),
        )
        .send()
        .await;
    // Made by an earlier run against the same emulator: as good.
    if let Err(e) = made {
        let e = e.into_service_error();
        assert!(e.is_bucket_already_owned_by_you(), "{e:?}");
    }
    // Nothing recorded there (an earlier run against the same emulator
    // recorded what follows).
    s3.delete_object()
        .bucket(&bucket)
        .key("durations.json")
        .send()
        .await
        .unwrap();
    let fresh = Stack::new(&moto(MOTO), &long_suffix("est"));
    let plan = |json: bool| {
        let mut args = vec!["--region", ELSEWHERE];
        if json {
            args.push("--json");
        }
        fresh.run("plan", &args)
    };
    let out = plan(true);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let est = &doc["estimate"];
    assert_eq!(est["critical_path"][0], "vpc", "{est}");
    assert!(est["seconds"].as_f64().unwrap() > 60.0, "{est}");
    let figure = |node: &str| {
        est["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["node"] == node)
            .cloned()
            .unwrap_or_else(|| panic!("no figure for {node}: {est}"))
    };
    assert_eq!(figure("vpc-origin:ready")["from"], "typical");
    assert!(figure("vpc-origin:ready")["source"]
        .as_str()
        .unwrap()
        .contains("CloudFront"));
    let text = stdout(&plan(false));
    assert!(
        text.contains("up: about ") && text.contains("critical path vpc → "),
        "{text}"
    );

    // Once this account has 3 runs of a kind there, their median is the
    // figure.
    let taught = serde_json::json!({"version": 1, "kinds": {"vpc-origin": {"ready": [40.0, 44.0, 42.0]}}});
    s3.put_object()
        .bucket(&bucket)
        .key("durations.json")
        .body(serde_json::to_vec(&taught).unwrap().into())
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&plan(true))).unwrap();
    let origin = doc["estimate"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["node"] == "vpc-origin:ready")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            origin["from"].as_str(),
            origin["runs"].as_u64(),
            origin["seconds"].as_f64()
        ),
        (Some("recorded"), Some(3), Some(42.0)),
        "{origin}"
    );

    // The converged stack: nothing to wait for; down lists what it would
    // delete and how long that takes.
    let text = s.ok("plan", &[]);
    assert!(text.contains("up: nothing to wait for"), "{text}");
    let out = s.run("down", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).contains("down: about "), "{}", stdout(&out));
}
