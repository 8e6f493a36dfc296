//! Parallelism under API latency, measured alone: this binary has its own
//! moto server and runs no other test, so the timing is not shared with the
//! stress tests' load.

mod common;

use common::*;
use std::time::{Duration, Instant};

const MOTO: &str = "latency";

fn up_args<'a>(s: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["up", "--suffix", s];
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn under_latency_default_parallelism_is_at_least_three_times_faster() {
    let direct = moto_direct(MOTO);
    let _ = moto(MOTO);
    let proxy = Proxy::start(&direct, &["--latency-ms", "30"]);
    let p = Provision::new(&proxy.url);
    // Warm moto up first (its first IAM call loads every managed policy).
    let _ = Provision::new(&moto(MOTO)).run(&["status", "--suffix", "warmup"]);
    // Two cold ups of each, alternating; the best of each pair counts, as a
    // benchmark would, so one noisy second on a 2-core machine does not
    // decide the result.
    let cold_up = |parallelism: &str| {
        let s = suffix(&format!("par{parallelism}"));
        let t = Instant::now();
        p.ok(&up_args(&s, &["--parallelism", parallelism]));
        let took = t.elapsed();
        Provision::new(&moto(MOTO)).ok(&["down", "--suffix", &s, "--yes"]);
        took
    };
    let (mut parallel, mut serial) = (Duration::MAX, Duration::MAX);
    for _ in 0..2 {
        parallel = parallel.min(cold_up("8"));
        serial = serial.min(cold_up("1"));
    }
    let speedup = serial.as_secs_f64() / parallel.as_secs_f64();
    eprintln!(
        "cold up with 30 ms per call: parallelism 8 {parallel:?}, parallelism 1 {serial:?}, speedup {speedup:.2}x"
    );
    assert!(speedup >= 3.0, "speedup {speedup:.2}x (p8 {parallel:?}, p1 {serial:?})");
}
