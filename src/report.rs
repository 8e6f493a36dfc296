//! Progress reporting, kept out of the engine: the runner and the steps
//! emit [`Event`]s; a [`Reporter`] decides how they look. Data goes to
//! stdout (JSON events, status, plan), everything for humans to stderr.

use std::collections::BTreeMap;
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
}

impl Human {
    pub fn new() -> Arc<Self> {
        let live = std::io::stderr().is_terminal();
        let me = Arc::new(Human {
            start: Instant::now(),
            live,
            running: Mutex::new(BTreeMap::new()),
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
        let mut text = format!("running {}: {}", running.len(), parts.join(", "));
        if more > 0 {
            text.push_str(&format!(" +{more}"));
        }
        Some(text)
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
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(" {detail}")
                };
                self.line(&format!("{node}: {action}{detail} ({:.1}s)", elapsed.as_secs_f64()));
            }
            Event::Failed { node, error, elapsed } => {
                self.running.lock().unwrap().remove(node);
                self.line(&format!("{node}: FAILED after {:.1}s: {error}", elapsed.as_secs_f64()));
            }
            Event::Skipped { node, cause, .. } => self.line(&format!("{node}: skipped ({cause})")),
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
