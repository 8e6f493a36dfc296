//! How a run with failures is reported: every root cause once, what was
//! skipped because of it, named as such, and what a stop left unstarted.

use super::*;

fn skipped(node: &str, failed: &[&str]) -> Skipped {
    Skipped {
        node: node.into(),
        failed: failed.iter().map(|s| s.to_string()).collect(),
    }
}

fn summary(failures: &[(&str, &str)], skipped: Vec<Skipped>, not_started: &[&str]) -> Summary {
    Summary {
        outcomes: vec![("vpc".into(), Outcome::new("created", "vpc-1"))],
        failures: failures.iter().map(|(s, e)| (s.to_string(), e.to_string())).collect(),
        skipped,
        not_started: not_started.iter().map(|s| s.to_string()).collect(),
        ..Summary::default()
    }
}

#[test]
fn every_failure_is_reported_once_with_the_steps_skipped_because_of_it() {
    let s = summary(
        &[
            ("tg-blue", "CreateTargetGroup failed (HTTP 403): AccessDenied: no"),
            ("tg-green", "CreateTargetGroup failed (HTTP 403): AccessDenied: no"),
            ("nat-a", "CreateNatGateway failed (HTTP 500): InternalError: boom"),
        ],
        vec![
            skipped("nat-a:ready", &["nat-a"]),
            skipped("rule-api", &["tg-blue", "tg-green"]),
            skipped("rt-private-a", &["nat-a"]),
            skipped("ecs-service", &["nat-a", "tg-blue", "tg-green"]),
        ],
        &[],
    );
    let e = finish("up", s).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "up failed: 3 step(s) failed, 4 skipped because a dependency failed, 1 done
  step tg-blue: CreateTargetGroup failed (HTTP 403): AccessDenied: no
  step tg-green: CreateTargetGroup failed (HTTP 403): AccessDenied: no
  step nat-a: CreateNatGateway failed (HTTP 500): InternalError: boom
  skipped because a dependency failed (nat-a): nat-a:ready, rt-private-a
  skipped because a dependency failed (nat-a, tg-blue, tg-green): ecs-service
  skipped because a dependency failed (tg-blue, tg-green): rule-api
  hint: fix the cause and run `provision up` again; it resumes where it stopped"
    );
}

#[test]
fn fail_fast_names_what_it_did_not_start_apart_from_what_was_skipped() {
    let s = summary(
        &[("dashboard", "DeleteDashboards failed (HTTP 403): AccessDenied: no")],
        vec![skipped("alb", &["dashboard"])],
        &["flow-log", "sns-alarms"],
    );
    let text = finish("down", s).unwrap_err().to_string();
    assert!(
        text.starts_with(
            "down failed: 1 step(s) failed, 1 skipped because a dependency failed, 2 not started, 1 done\n"
        ),
        "{text}"
    );
    assert!(text.contains("\n  step dashboard: DeleteDashboards failed"), "{text}");
    assert!(
        text.contains("\n  skipped because a dependency failed (dashboard): alb\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  not started (--fail-fast stopped the run at the first failure): flow-log, sns-alarms\n"),
        "{text}"
    );
    assert!(text.contains("what a failed delete uses is kept"), "{text}");
    // Only the root cause is a `  step ` line (scripts and tests read them).
    assert_eq!(text.lines().filter(|l| l.starts_with("  step ")).count(), 1);
}

#[test]
fn an_interruption_without_failures_is_not_a_failure_report() {
    let mut s = summary(&[], vec![], &["b"]);
    s.interrupted = true;
    let e = finish("up", s).unwrap_err();
    assert!(matches!(e, Error::Interrupted { done: 1, .. }), "{e:?}");
    let ok = finish("up", summary(&[], vec![], &[])).unwrap();
    assert_eq!(ok.count("created"), 1);
}
