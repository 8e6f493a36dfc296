//! Issue #19, items 4 and 5. A failed step stops only what depends on it:
//! `up` and `down` carry on with every step that does not need the failed
//! one, then report every failure (exit 1); `--fail-fast` stops at the
//! first. And output that behaves in a pipeline: no colour codes off a
//! terminal or under `NO_COLOR`, and a reader that goes away (`| head`)
//! ends the command quietly instead of a panic. And (issue #20) `plan`'s
//! prices when the Price List API answers, and when it refuses.
//!
//! The failures come from the project's proxy (`--fail OPERATION:-1:...`:
//! that call always fails) in front of this binary's moto server; what the
//! steps did is read from the `--json` events and checked through the SDK.

mod common;

use common::*;
use provision::graph::Graph;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const MOTO: &str = "failure_policy";

/// A proxy of the test's own with `flags`, in front of this binary's moto.
fn own_proxy(flags: &[&str]) -> Proxy {
    let direct = moto_direct(MOTO);
    let _ = moto(MOTO);
    Proxy::start(&direct, flags)
}

/// The default stack's `up` graph (steps and their `:ready` nodes) and its
/// teardown graph, as the binary builds them.
fn graphs() -> (Graph, Graph) {
    let cli =
        <provision::cli::Cli as clap::Parser>::try_parse_from(["provision", "plan", "--suffix", "graph"]).unwrap();
    let provision::cli::Command::Plan(p) = cli.command else {
        unreachable!()
    };
    let steps = provision::steps::stack(&p.stack.validate().unwrap());
    let (up, _) = provision::ops::up_graph(&steps).unwrap();
    (up, provision::ops::down_graph(&steps).unwrap())
}

/// The nodes of `graph` that need one of `failed`, directly or through
/// others (in the teardown graph: that must wait for its delete).
fn needing(graph: &Graph, failed: &BTreeSet<String>) -> BTreeSet<String> {
    (0..graph.len())
        .filter(|&n| graph.ancestors(n).iter().any(|&a| failed.contains(graph.name(a))))
        .map(|n| graph.name(n).to_owned())
        .collect()
}

fn names(graph: &Graph) -> BTreeSet<String> {
    (0..graph.len()).map(|n| graph.name(n).to_owned()).collect()
}

/// What a run's `--json` events say each step did.
#[derive(Debug, Default)]
struct Events {
    started: BTreeSet<String>,
    /// Step -> action (`created`, `found`, `ready`, `deleted`, `absent`, ...).
    finished: BTreeMap<String, String>,
    failed: BTreeSet<String>,
    /// Step -> (cause, the failed steps it needs).
    skipped: BTreeMap<String, (String, Vec<String>)>,
}

impl Events {
    fn of(out: &Output) -> Events {
        let mut e = Events::default();
        for line in stdout(out).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            let step = v["step"].as_str().unwrap_or_default().to_owned();
            match v["event"].as_str().unwrap_or_default() {
                "started" => {
                    e.started.insert(step);
                }
                "finished" => {
                    e.finished.insert(step, v["action"].as_str().unwrap().to_owned());
                }
                "failed" => {
                    e.failed.insert(step);
                }
                "skipped" => {
                    let failed = v["failed_dependencies"].as_array().expect("failed_dependencies");
                    let failed = failed.iter().map(|f| f.as_str().unwrap().to_owned()).collect();
                    e.skipped
                        .insert(step, (v["cause"].as_str().unwrap().to_owned(), failed));
                }
                _ => {}
            }
        }
        e
    }

    /// `independent` nodes that never started, each reported as not started.
    fn not_started(&self, independent: &BTreeSet<String>) -> Vec<String> {
        let left: Vec<String> = independent
            .iter()
            .filter(|n| !self.started.contains(*n))
            .cloned()
            .collect();
        for n in &left {
            let (cause, failed) = &self.skipped[n];
            assert!(cause.starts_with("not started") && failed.is_empty(), "{n}: {cause}");
        }
        left
    }

    /// Every node of `blocked` skipped, never started, naming a failed step
    /// among `failed`; every other node but the failed ones finished.
    fn assert_only_blocked_skipped(
        &self,
        all: &BTreeSet<String>,
        failed: &BTreeSet<String>,
        blocked: &BTreeSet<String>,
    ) {
        assert_eq!(&self.failed, failed);
        for n in all {
            if failed.contains(n) {
                continue;
            }
            if blocked.contains(n) {
                assert!(!self.started.contains(n), "{n} needs a failed step but started");
                let (cause, needs) = self.skipped.get(n).unwrap_or_else(|| panic!("{n} not skipped"));
                assert!(cause.starts_with("a dependency failed"), "{n}: {cause}");
                assert!(
                    !needs.is_empty() && needs.iter().all(|f| failed.contains(f)),
                    "{n}: {needs:?}"
                );
            } else {
                assert!(
                    self.finished.contains_key(n),
                    "{n} does not need {failed:?} but did not run: {:?}",
                    self.skipped.get(n)
                );
            }
        }
    }
}

/// The error summary `provision` printed last (`error: up failed: ...`).
fn summary<'a>(err: &'a str, command: &str) -> &'a str {
    let head = format!("error: {command} failed:");
    let at = err.find(&head).unwrap_or_else(|| panic!("no `{head}` in:\n{err}"));
    &err[at..]
}

async fn topic_exists(aws: &provision::aws::Clients, s: &str) -> bool {
    let name = format!(":sns-alarms-{s}");
    let topics = aws.sns.list_topics().send().await.unwrap();
    topics
        .topics()
        .iter()
        .any(|t| t.topic_arn().is_some_and(|a| a.ends_with(&name)))
}

#[tokio::test(flavor = "multi_thread")]
async fn up_runs_every_step_that_does_not_need_a_failed_one_and_fail_fast_stops_at_the_first() {
    let proxy = own_proxy(&["--fail", "CreateTargetGroup:-1:AccessDenied:403"]);
    let aws = clients(&moto(MOTO)).await;
    let s = suffix("fpup");
    let stack = Stack::new(&proxy.url, &s);
    let (up, _) = graphs();
    let all = names(&up);
    let tgs: BTreeSet<String> = ["tg-blue", "tg-green"].map(String::from).into();
    let blocked = needing(&up, &tgs);
    // The target groups hold up the listener rule, the service, its auto
    // scaling, the alarms and the dashboard; not the rest of the stack.
    for n in [
        "rule-api",
        "ecs-service",
        "scaling-policy-cpu",
        "alarm-5xx",
        "dashboard",
    ] {
        assert!(blocked.contains(n), "{n}: {blocked:?}");
    }
    let independent: BTreeSet<String> = all
        .difference(&blocked)
        .filter(|n| !tgs.contains(*n))
        .cloned()
        .collect();
    for n in [
        "db-cluster",
        "db-writer:ready",
        "sns-alarms",
        "flow-log",
        "nat-a:ready",
        "cf-distribution",
    ] {
        assert!(independent.contains(n), "{n}");
    }

    // --fail-fast: the first failure stops the run; steps that do not need
    // the target groups are left unstarted, and named so.
    let out = stack.run("up", &["--json", "--fail-fast"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = Events::of(&out);
    assert!(!ev.failed.is_empty() && ev.failed.is_subset(&tgs), "{:?}", ev.failed);
    let left = ev.not_started(&independent);
    assert!(!left.is_empty(), "fail-fast ran everything: {:?}", ev.finished);
    let err = stderr(&out);
    let report = summary(&err, "up");
    assert!(
        report.contains("not started (--fail-fast stopped the run at the first failure): "),
        "{report}"
    );
    assert!(
        left.iter().any(|n| n.starts_with("db-")),
        "the database waits: {left:?}"
    );
    assert_eq!(census(&aws, &s).await["db-instance"], 0);

    // Without it: every step that does not need a target group runs, even
    // the ones that could start only long after the failure.
    let out = stack.run("up", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = Events::of(&out);
    ev.assert_only_blocked_skipped(&all, &tgs, &blocked);
    assert_eq!(ev.finished["db-reader:ready"], "ready");
    // Each root cause once, with the AWS error; the rest named as skipped.
    let err = stderr(&out);
    let report = summary(&err, "up");
    for tg in &tgs {
        let line = format!("\n  step {tg}: CreateTargetGroup failed (HTTP 403): AccessDenied");
        assert_eq!(report.matches(&line).count(), 1, "{report}");
        assert_eq!(report.matches(&format!("step {tg}:")).count(), 1, "{report}");
    }
    let skipped_line = report
        .lines()
        .find(|l| l.starts_with("  skipped because a dependency failed (tg-blue, tg-green): "))
        .unwrap_or_else(|| panic!("{report}"));
    for n in ["rule-api", "ecs-service", "dashboard"] {
        assert!(skipped_line.contains(n), "{skipped_line}");
    }
    assert!(!report.contains("not started"), "{report}");
    // Through the SDK: the independent part of the stack exists.
    let c = census(&aws, &s).await;
    for (kind, n) in [
        ("vpc", 1),
        ("nat", 3),
        ("db-cluster", 1),
        ("db-instance", 2),
        ("flow-log", 1),
        ("kms-key", 1),
        ("distribution", 1),
        ("target-group", 0),
        ("ecs-service", 0),
    ] {
        assert_eq!(c[kind], n, "{kind}: {c:?}");
    }
    assert!(topic_exists(&aws, &s).await, "the alarms topic");

    // The failure clears: the next up completes the stack.
    proxy.configure(r#"{"fail": []}"#);
    stack.ok("up", &[]);
    let c = census(&aws, &s).await;
    assert_eq!((c["target-group"], c["ecs-service"]), (2, 1), "{c:?}");
    stack.ok("down", &["--yes"]);
    assert_eq!(census(&aws, &s).await, empty_census());
}

#[tokio::test(flavor = "multi_thread")]
async fn down_deletes_everything_a_failed_delete_does_not_use_and_fail_fast_stops_at_the_first() {
    let proxy = own_proxy(&[]);
    let aws = clients(&moto(MOTO)).await;
    let s = suffix("fpdown");
    let stack = Stack::new(&proxy.url, &s);
    stack.ok("up", &[]);
    proxy.configure(r#"{"fail": ["DeleteDashboards:-1:AccessDenied:403"]}"#);
    let (_, down) = graphs();
    let all = names(&down);
    let dash: BTreeSet<String> = ["dashboard".to_string()].into();
    // The teardown graph is reversed: a step is deleted after everything
    // that uses it, so the dashboard's failed delete keeps what it uses
    // (the database, the load balancer, the service, ..., the VPC).
    let kept = needing(&down, &dash);
    for n in ["db-cluster", "alb", "ecs-service", "vpc"] {
        assert!(kept.contains(n), "{n}: {kept:?}");
    }
    let independent: BTreeSet<String> = all.difference(&kept).filter(|n| !dash.contains(*n)).cloned().collect();
    for n in ["flow-log", "sns-alarms", "alarm-5xx", "db-writer", "scaling-policy-cpu"] {
        assert!(independent.contains(n), "{n}");
    }

    // --fail-fast, one step at a time: nothing starts after the failure.
    let out = stack.run("down", &["--yes", "--json", "--fail-fast", "--parallelism", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = Events::of(&out);
    assert_eq!(ev.failed, dash);
    let left = ev.not_started(&independent);
    assert!(!left.is_empty(), "fail-fast ran everything: {:?}", ev.finished);
    assert!(summary(&stderr(&out), "down").contains("not started (--fail-fast stopped the run at the first failure): "));

    // Without it: everything the dashboard does not use is deleted.
    let out = stack.run("down", &["--yes", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ev = Events::of(&out);
    ev.assert_only_blocked_skipped(&all, &dash, &kept);
    let err = stderr(&out);
    let report = summary(&err, "down");
    let line = "\n  step dashboard: DeleteDashboards failed (HTTP 403): AccessDenied";
    assert_eq!(report.matches(line).count(), 1, "{report}");
    assert!(
        report.contains("\n  skipped because a dependency failed (dashboard): "),
        "{report}"
    );
    assert!(report.contains("what a failed delete uses is kept"), "{report}");
    let c = census(&aws, &s).await;
    for (kind, n) in [
        ("flow-log", 0),
        ("db-instance", 0),
        ("db-cluster", 1),
        ("load-balancer", 1),
        ("ecs-service", 1),
        ("vpc", 1),
    ] {
        assert_eq!(c[kind], n, "{kind}: {c:?}");
    }
    assert!(
        !topic_exists(&aws, &s).await,
        "the alarms topic is independent of the dashboard"
    );

    // The failure clears: the next down removes the rest.
    proxy.configure(r#"{"fail": []}"#);
    stack.ok("down", &["--yes"]);
    assert_eq!(census(&aws, &s).await, empty_census());
}

/// A stack whose cached state file is damaged: any command that opens it
/// logs a WARN line (`ignoring unreadable state file`).
fn stack_with_a_warning(prefix: &str) -> Stack {
    let stack = Stack::new(&moto(MOTO), &suffix(prefix));
    std::fs::create_dir_all(&stack.p.state_dir).unwrap();
    std::fs::write(stack.state_file(), "not json").unwrap();
    stack
}

fn warn_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.contains("WARN") && l.contains("unreadable state file"))
        .unwrap_or_else(|| panic!("no WARN line in:\n{text}"))
}

#[test]
fn log_lines_have_no_colour_codes_in_a_pipe_or_under_no_color_even_on_a_terminal() {
    let stack = stack_with_a_warning("fpcolour");
    // stderr is a pipe here.
    let out = stack.run("plan", &[]);
    assert!(!warn_line(&stderr(&out)).contains("\x1b["), "{:?}", stderr(&out));
    let out = stack.command("plan", &[]).env("NO_COLOR", "1").output().unwrap();
    assert!(!warn_line(&stderr(&out)).contains("\x1b["));

    // On a terminal (util-linux `script` gives the command a pty): colour,
    // unless NO_COLOR says otherwise.
    let on_a_terminal = |no_color: Option<&str>| -> String {
        let c = stack.command("plan", &[]);
        let line: Vec<String> = std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| format!("'{}'", a.to_str().unwrap()))
            .collect();
        let mut script = std::process::Command::new("script");
        script
            .args(["-qec", &line.join(" "), "/dev/null"])
            .env_clear()
            .current_dir(c.get_current_dir().unwrap())
            .stdin(Stdio::null());
        for (k, v) in c.get_envs() {
            script.env(k, v.unwrap());
        }
        if let Some(v) = no_color {
            script.env("NO_COLOR", v);
        }
        String::from_utf8_lossy(&script.output().expect("run script").stdout).into_owned()
    };
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("no `script` (util-linux) here: the terminal half is not checked");
        return;
    }
    assert!(
        warn_line(&on_a_terminal(None)).contains("\x1b["),
        "a terminal gets colour"
    );
    let plain = on_a_terminal(Some("1"));
    assert!(!warn_line(&plain).contains("\x1b["), "{plain:?}");
}

fn assert_ended_quietly(status: std::process::ExitStatus, err: &str, normal_exit: i32) {
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "{err}");
    assert!(
        status.signal() == Some(libc::SIGPIPE) || status.code() == Some(normal_exit) || status.code() == Some(0),
        "{status:?}: {err}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    // The reader is gone before anything is written: `status --json` writes
    // its document with `println!`, which panicked on EPIPE (exit 101).
    let stack = Stack::new(&moto(MOTO), &suffix("fppipe"));
    let mut child = stack
        .command("status", &["--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    // `provision plan | head -c 10`: read a little, then close.
    let mut child = stack
        .command("plan", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"settings (");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_ended_quietly(out.status, &stderr(&out), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_ends_once_its_reader_has_gone() {
    // `provision logs --follow | head -n 1`: the next event after the
    // reader left ends it. It used to poll forever, writing to no one.
    let aws = clients(&moto(MOTO)).await;
    let stack = Stack::new(&moto(MOTO), &suffix("fpfollow"));
    let group = format!("/provision/{}/app", stack.suffix);
    let stream = "app/app/0123456789abcdef";
    aws.logs.create_log_group().log_group_name(&group).send().await.unwrap();
    aws.logs
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let put = |message: &'static str| {
        let logs = aws.logs.clone();
        let group = group.clone();
        async move {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now)
                .message(message)
                .build()
                .unwrap();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .log_events(event)
                .send()
                .await
                .unwrap();
        }
    };
    put("first").await;
    let mut child = stack
        .command("logs", &["--follow", "--since", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("first"), "{line}");
    drop(reader);
    put("second").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("logs --follow still runs a minute after its reader went away");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The line of `plan`'s output that says where its prices came from.
fn prices_line(out: &Output) -> String {
    let all = format!("{}{}", stdout(out), stderr(out));
    all.lines()
        .find(|l| l.contains("prices: "))
        .unwrap_or_else(|| panic!("no prices line in:\n{all}"))
        .to_owned()
}

fn utc_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400
}

/// Issue #20: `plan` prices the stack from AWS's Price List API (the
/// proxy's emulation of `GetProducts`), asks it at most once a day, and
/// when the API refuses takes the embedded rate card, saying so and why.
#[test]
fn plan_prices_from_the_price_list_api_once_a_day_and_else_from_the_rate_card() {
    let proxy = own_proxy(&[]);
    let stack = Stack::new(&proxy.url, &suffix("fpprice"));
    let day = utc_day();
    let first = stack.run("plan", &[]);
    assert!(matches!(first.status.code(), Some(0 | 3)), "{}", stderr(&first));
    let line = prices_line(&first);
    assert!(line.contains("AWS Price List API, read "), "{line}");
    // One call per query (about twenty, each one page here), and no more.
    let asked = proxy.calls().get("GetProducts").copied().unwrap_or(0);
    assert!((15..=40).contains(&asked), "GetProducts called {asked} times");

    proxy.reset();
    let again = stack.run("plan", &[]);
    assert!(prices_line(&again).contains("AWS Price List API"), "{}", stdout(&again));
    if utc_day() == day {
        assert_eq!(proxy.calls().get("GetProducts"), None, "asked again the same day");
    }

    // Another machine (nothing cached) while the API refuses.
    proxy.configure(r#"{"fail": [{"operation": "GetProducts", "count": -1, "code": "AccessDeniedException"}]}"#);
    proxy.reset();
    let elsewhere = Stack::new(&proxy.url, &stack.suffix);
    let out = elsewhere.run("plan", &[]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr(&out));
    let line = prices_line(&out);
    assert!(line.contains("embedded rate card"), "{line}");
    let text = stdout(&out);
    assert!(
        text.contains("could not be read") && text.contains("AccessDeniedException"),
        "the notice says why:\n{text}"
    );
    // Refused is final: no retries beyond one call per query.
    let failed = proxy.stats()["failed"]["GetProducts"].as_u64().unwrap_or(0);
    assert!((15..=40).contains(&failed), "GetProducts refused {failed} times");
}
