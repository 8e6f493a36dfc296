//! Progress reporting, kept out of the engine: the runner and the steps
//! emit [`Event`]s; a [`Reporter`] decides how they look. Data goes to
//! stdout (JSON events, status, plan), everything for humans to stderr.

use crate::schedule::{human, Forecast};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A step transition or a note from inside a running step.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Started {
        node: &'a str,
    },
    Waiting {
        node: &'a str,
        what: &'a str,
    },
    Finished {
        node: &'a str,
        action: &'a str,
        detail: &'a str,
        elapsed: Duration,
    },
    Failed {
        node: &'a str,
        error: &'a str,
        elapsed: Duration,
    },
    /// A node that will not run: `failed` names the failed nodes it needs
    /// (directly or through others); empty when the run stopped before it.
    Skipped {
        node: &'a str,
        cause: &'a str,
        failed: &'a [String],
    },
    Interrupted {
        running: usize,
    },
}

pub trait Reporter: Send + Sync {
    fn event(&self, event: Event<'_>);
    /// Called before a run starts with what it is expected to take.
    fn expect(&self, _forecast: Forecast) {}
    /// Called once when the run is over (to clear a live line).
    fn finish(&self) {}
}

/// Nothing but the result.
pub struct Quiet;

impl Reporter for Quiet {
    fn event(&self, _: Event<'_>) {}
}

/// One JSON object per transition on stdout, for CI pipelines.
pub struct JsonLines {
    start: Instant,
}

impl JsonLines {
    pub fn new() -> Self {
        JsonLines { start: Instant::now() }
    }
}

impl Default for JsonLines {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for JsonLines {
    fn expect(&self, f: Forecast) {
        let v = serde_json::json!({"t": 0.0, "event": "estimate", "steps": f.len(), "seconds": f.total.as_secs_f64()});
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }

    fn event(&self, event: Event<'_>) {
        let t = self.start.elapsed().as_secs_f64();
        let v = match event {
            Event::Started { node } => serde_json::json!({"t": t, "event": "started", "step": node}),
            Event::Waiting { node, what } => serde_json::json!({"t": t, "event": "waiting", "step": node, "on": what}),
            Event::Finished {
                node,
                action,
                detail,
                elapsed,
            } => serde_json::json!({
                "t": t, "event": "finished", "step": node, "action": action, "detail": detail,
                "seconds": elapsed.as_secs_f64()
            }),
            Event::Failed { node, error, elapsed } => serde_json::json!({
                "t": t, "event": "failed", "step": node, "error": error, "seconds": elapsed.as_secs_f64()
            }),
            Event::Skipped { node, cause, failed } => serde_json::json!({
                "t": t, "event": "skipped", "step": node, "cause": cause, "failed_dependencies": failed
            }),
            Event::Interrupted { running } => serde_json::json!({"t": t, "event": "interrupted", "running": running}),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }
}

/// Lines for humans on stderr. On a terminal a live line shows what is
/// running and what each step waits on; elsewhere, plain lines.
pub struct Human {
    start: Instant,
    live: bool,
    running: Mutex<BTreeMap<String, (Instant, String)>>,
    progress: Mutex<Progress>,
}

/// Steps done out of all, and what the estimate says is left.
#[derive(Default)]
struct Progress {
    forecast: Option<Forecast>,
    since: Option<Instant>,
    done: BTreeSet<String>,
    /// `:ready` nodes of resources found as they were: nothing to wait for.
    instant: BTreeSet<String>,
}

impl Human {
    pub fn new() -> Arc<Self> {
        let live = std::io::stderr().is_terminal();
        let me = Arc::new(Human {
            start: Instant::now(),
            live,
            running: Mutex::new(BTreeMap::new()),
            progress: Mutex::default(),
        });
        // A terminal gets a live line redrawn every second; a log (CI) gets a
        // "still running" line every 30 s, so a long wait is never silent.
        let weak = Arc::downgrade(&me);
        let period = Duration::from_secs(if live { 1 } else { 30 });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(h) if h.live => h.redraw(),
                    Some(h) => h.still_running(),
                    None => break,
                }
            }
        });
        me
    }

    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.start.elapsed().as_secs_f64())
    }

    fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.live {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{} {text}", self.stamp());
        drop(err);
        if self.live {
            self.redraw();
        }
    }

    /// `step (waiting for what) 42s` for up to `max` running steps.
    fn running_summary(&self, max: usize) -> Option<String> {
        let running = self.running.lock().unwrap();
        if running.is_empty() {
            return None;
        }
        let parts: Vec<String> = running
            .iter()
            .take(max)
            .map(|(n, (since, what))| {
                let secs = since.elapsed().as_secs();
                if what.is_empty() {
                    format!("{n} {secs}s")
                } else {
                    format!("{n} (waiting for {what}) {secs}s")
                }
            })
            .collect();
        let more = running.len().saturating_sub(max);
        let elapsed: BTreeMap<String, Duration> = running.iter().map(|(n, (t, _))| (n.clone(), t.elapsed())).collect();
        drop(running);
        let mut text = format!(
            "{}running {}: {}",
            self.position(&elapsed),
            elapsed.len(),
            parts.join(", ")
        );
        if more > 0 {
            text.push_str(&format!(" +{more}"));
        }
        Some(text)
    }

    /// `[23/61, about 7 min left] `, once a forecast is known.
    fn position(&self, running: &BTreeMap<String, Duration>) -> String {
        let p = self.progress.lock().unwrap();
        let Some(f) = &p.forecast else { return String::new() };
        let left = f.left(&p.done, running, &p.instant);
        format!("[{}/{}, about {} left] ", p.done.len(), f.len(), human(left))
    }

    fn settled(&self, node: &str, action: Option<&str>) {
        let mut p = self.progress.lock().unwrap();
        p.done.insert(node.to_owned());
        if action == Some("found") {
            p.instant.insert(format!("{node}:ready"));
        }
    }

    fn still_running(&self) {
        if let Some(text) = self.running_summary(usize::MAX) {
            self.line(&format!("still {text}"));
        }
    }

    fn redraw(&self) {
        let Some(mut text) = self.running_summary(4) else {
            return;
        };
        text.truncate(160);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }
}

impl Reporter for Human {
    fn expect(&self, f: Forecast) {
        if f.total.is_zero() {
            self.line(&format!(
                "estimate: {} steps to check, nothing known to wait for",
                f.len()
            ));
        } else {
            self.line(&format!("estimate: {} steps, about {}", f.len(), human(f.total)));
        }
        let mut p = self.progress.lock().unwrap();
        p.forecast = Some(f);
        p.since = Some(Instant::now());
    }

    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { node } => {
                self.running
                    .lock()
                    .unwrap()
                    .insert(node.to_owned(), (Instant::now(), String::new()));
                if !self.live {
                    self.line(&format!("{node}: started"));
                }
            }
            Event::Waiting { node, what } => {
                let known = {
                    let mut r = self.running.lock().unwrap();
                    let entry = r
                        .entry(node.to_owned())
                        .or_insert_with(|| (Instant::now(), String::new()));
                    let same = entry.1 == what;
                    entry.1 = what.to_owned();
                    same
                };
                if !self.live && !known {
                    self.line(&format!("{node}: waiting for {what}"));
                }
            }
            Event::Finished {
                node,
                action,
                detail,
                elapsed,
            } => {
                self.running.lock().unwrap().remove(node);
                self.settled(node, Some(action));
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(" {detail}")
                };
                self.line(&format!("{node}: {action}{detail} ({:.1}s)", elapsed.as_secs_f64()));
            }
            Event::Failed { node, error, elapsed } => {
                self.running.lock().unwrap().remove(node);
                self.settled(node, None);
                self.line(&format!("{node}: FAILED after {:.1}s: {error}", elapsed.as_secs_f64()));
            }
            Event::Skipped { node, cause, .. } => {
                self.settled(node, None);
                self.line(&format!("{node}: skipped ({cause})"))
            }
            Event::Interrupted { running } => self.line(&format!(
                "interrupted: starting nothing new, waiting for {running} running step(s) to finish"
            )),
        }
    }

    fn finish(&self) {
        if self.live {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
        let mut p = self.progress.lock().unwrap();
        if let Some(f) = p.forecast.take() {
            let took = p.since.take().map_or(Duration::ZERO, |t| t.elapsed());
            let done = p.done.len();
            p.done.clear();
            p.instant.clear();
            drop(p);
            self.line(&format!(
                "took {} for {done}/{} steps (estimated about {})",
                human(took),
                f.len(),
                human(f.total)
            ));
        }
    }
}

/// Passes every event on and keeps each finished node's action and time:
/// the run's measured durations, which the state bucket records.
pub struct Measured {
    inner: Arc<dyn Reporter>,
    finished: Mutex<Vec<(String, String, Duration)>>,
}

impl Measured {
    pub fn new(inner: Arc<dyn Reporter>) -> Arc<Self> {
        Arc::new(Measured {
            inner,
            finished: Mutex::default(),
        })
    }

    /// `(node, action, elapsed)` for every node that finished, and empties.
    pub fn take(&self) -> Vec<(String, String, Duration)> {
        std::mem::take(&mut self.finished.lock().unwrap())
    }

    /// A measurement made outside the runner (a deployment's roll-out).
    pub fn add(&self, node: &str, action: &str, elapsed: Duration) {
        self.finished
            .lock()
            .unwrap()
            .push((node.to_owned(), action.to_owned(), elapsed));
    }
}

impl Reporter for Measured {
    fn event(&self, event: Event<'_>) {
        if let Event::Finished {
            node, action, elapsed, ..
        } = event
        {
            self.add(node, action, elapsed);
        }
        self.inner.event(event);
    }
    fn expect(&self, forecast: Forecast) {
        self.inner.expect(forecast);
    }
    fn finish(&self) {
        self.inner.finish();
    }
}

/// Collects events in memory: for tests and for the simulated clock.
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::Started { node } => format!("started {node}"),
            Event::Waiting { node, what } => format!("waiting {node} {what}"),
            Event::Finished { node, action, .. } => format!("{action} {node}"),
            Event::Failed { node, error, .. } => format!("failed {node}: {error}"),
            Event::Skipped { node, cause, .. } => format!("skipped {node} ({cause})"),
            Event::Interrupted { running } => format!("interrupted {running}"),
        };
        self.lines.lock().unwrap().push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_live_line_counts_steps_and_the_time_left() {
        let h = Human::new();
        let none = BTreeMap::new();
        assert_eq!(h.position(&none), "", "no forecast, no position");
        h.expect(Forecast::single("ecs-service", Duration::from_secs(300)));
        assert_eq!(h.position(&none), "[0/1, about 5 min left] ");
        // Two minutes into the roll-out, three are left.
        let running: BTreeMap<String, Duration> = [("ecs-service".to_owned(), Duration::from_secs(120))].into();
        assert_eq!(h.position(&running), "[0/1, about 3 min left] ");
        h.event(Event::Finished {
            node: "ecs-service",
            action: "rolled-out",
            detail: "",
            elapsed: Duration::from_secs(290),
        });
        assert!(h.position(&none).starts_with("[1/1, "), "{}", h.position(&none));
        // The run over, the forecast is spent.
        h.finish();
        assert_eq!(h.position(&none), "");
    }

    #[test]
    fn measured_keeps_what_finished_and_passes_everything_on() {
        let inner = Arc::new(Recorder::default());
        let m = Measured::new(inner.clone());
        m.event(Event::Started { node: "vpc" });
        m.event(Event::Finished {
            node: "vpc",
            action: "created",
            detail: "vpc-1",
            elapsed: Duration::from_secs(3),
        });
        assert_eq!(
            m.take(),
            vec![("vpc".to_owned(), "created".to_owned(), Duration::from_secs(3))]
        );
        assert!(m.take().is_empty());
        assert_eq!(*inner.lines.lock().unwrap(), ["started vpc", "created vpc"]);
    }
}
