//! The commands: each turns the stack's steps into a graph and gives the
//! runner the work for every node. `up` finds-or-creates, reconciles and
//! waits; `down` walks the reversed graph; `status` and `plan` only look.

use crate::aws::AwsError;
use crate::config::InputError;
use crate::estimate::{self, Learned, Work};
use crate::graph::{Graph, GraphError};
use crate::report::Reporter;
use crate::runner::{self, OnFailure, Outcome, Policy, Skipped, Summary};
use crate::state::lock::LockError;
use crate::state::{Record, StateError, StateFile, Store};
use crate::steps::{Ctx, Need, StepRef};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Everything that can make a command fail, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("the step graph is invalid: {0}")]
    Graph(#[from] GraphError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The credentials or region are not the ones the stack is bound to.
    #[error("{0}")]
    Binding(String),
    #[error("{command} would make destructive changes, and nobody confirmed them; nothing was changed:\n{}\n  hint: run `provision plan` to review them, then `provision {command} --yes` to make them", .changes.join("\n"))]
    Destructive { command: String, changes: Vec<String> },
    /// `plan` found changes to make (exit code 3).
    #[error("plan: {0}")]
    Pending(String),
    /// Steps failed: every root cause once (`  step ID: ERROR` lines), then
    /// what did not run because of them, and what a stop left unstarted.
    #[error("{}", run_failed(.command, .failures, .skipped, .not_started, *.interrupted, *.done))]
    RunFailed {
        command: &'static str,
        failures: Vec<(String, String)>,
        /// Not run because a step they need failed.
        skipped: Vec<Skipped>,
        /// Not started: `--fail-fast` stopped the run, or Ctrl-C did.
        not_started: Vec<String>,
        interrupted: bool,
        /// Steps that finished.
        done: usize,
    },
    #[error("{command} was interrupted; {done} step(s) finished\n  hint: run `provision {command}` again to continue")]
    Interrupted { command: &'static str, done: usize },
    #[error("unknown step `{name}`\n  hint: the steps are: {}", .known.join(", "))]
    UnknownStep { name: String, known: Vec<String> },
    #[error("step `{step}` needs {} first, which {} missing\n  hint: run `provision up`, or `provision step {}` for each", .missing.join(", "), if .missing.len() == 1 { "is" } else { "are" }, .missing.join("` / `provision step "))]
    MissingDependencies { step: String, missing: Vec<String> },
    #[error("down would delete {count} resource(s) (listed above); nothing was deleted\n  hint: run again with --yes to delete them")]
    NotConfirmed { count: usize },
    #[error("status: the stack is not converged: {missing} missing, {drifted} drifted\n  hint: `provision up` creates what is missing and repairs drift")]
    NotConverged { missing: usize, drifted: usize },
    #[error("cannot reach AWS: {source}\n  hint: {hint}")]
    FirstContact { source: AwsError, hint: &'static str },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    /// A one-off task's container exited non-zero: its exit code is ours.
    #[error("{message}")]
    Exit { code: i32, message: String },
}

impl Error {
    /// The first call of a command failed: say why, and what to check.
    pub fn first_contact(source: AwsError) -> Self {
        let code = source.code.as_deref().unwrap_or("");
        let credentials = matches!(
            code,
            "NoCredentials"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "UnrecognizedClientException"
        ) || source.message.to_ascii_lowercase().contains("credential");
        let hint = if credentials {
            "give credentials: AWS_PROFILE=NAME (after `aws sso login --profile NAME` for an SSO profile), \
             or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        } else if matches!(code, "EndpointUnreachable" | "Timeout") {
            "check the network, a proxy (HTTPS_PROXY), and AWS_ENDPOINT_URL if it is set (it points every call at another endpoint)"
        } else {
            "check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and AWS_ENDPOINT_URL"
        };
        Error::FirstContact { source, hint }
    }
}

/// The exit code of `status` and `plan` when something is missing, has
/// drifted or would change.
pub const DRIFT_EXIT: i32 = 3;

/// The report of a run with failures: a count, each root cause once, the
/// steps skipped because of them (grouped by the failures they need), the
/// steps a stop left unstarted, and how to go on.
fn run_failed(
    command: &str,
    failures: &[(String, String)],
    skipped: &[Skipped],
    not_started: &[String],
    interrupted: bool,
    done: usize,
) -> String {
    let mut out = format!("{command} failed: {} step(s) failed", failures.len());
    if !skipped.is_empty() {
        out.push_str(&format!(", {} skipped because a dependency failed", skipped.len()));
    }
    if !not_started.is_empty() {
        out.push_str(&format!(", {} not started", not_started.len()));
    }
    out.push_str(&format!(", {done} done"));
    for (step, error) in failures {
        out.push_str(&format!("\n  step {step}: {error}"));
    }
    let mut groups: BTreeMap<&[String], Vec<&str>> = BTreeMap::new();
    for s in skipped {
        groups.entry(&s.failed).or_default().push(&s.node);
    }
    for (failed, nodes) in groups {
        out.push_str(&format!(
            "\n  skipped because a dependency failed ({}): {}",
            failed.join(", "),
            nodes.join(", ")
        ));
    }
    if !not_started.is_empty() {
        let why = if interrupted {
            "interrupted"
        } else {
            "--fail-fast stopped the run at the first failure"
        };
        out.push_str(&format!("\n  not started ({why}): {}", not_started.join(", ")));
    }
    if command == "down" && !skipped.is_empty() {
        out.push_str(
            "\n  note: a resource is deleted only once everything that uses it is gone, \
             so what a failed delete uses is kept",
        );
    }
    out.push_str(&format!(
        "\n  hint: fix the cause and run `provision {command}` again; it resumes where it stopped"
    ));
    out
}

impl Error {
    /// 2 for bad input or a refused command, [`DRIFT_EXIT`] when `status`
    /// or `plan` found the stack out of sync, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_)
            | Error::UnknownStep { .. }
            | Error::NotConfirmed { .. }
            | Error::Usage(_)
            | Error::Binding(_)
            | Error::Destructive { .. } => 2,
            Error::NotConverged { .. } | Error::Pending(_) => DRIFT_EXIT,
            Error::Exit { code, .. } => *code,
            _ => 1,
        }
    }
}

use crate::steps::graphs::step_graph;
pub use crate::steps::graphs::{down_graph, find_graph, up_graph, wait_nodes, Node};

type BoxFut = Pin<Box<dyn Future<Output = Result<Outcome, AwsError>> + Send>>;

/// One command's session: context, steps, state store.
pub struct Engine {
    pub cx: Arc<Ctx>,
    pub steps: Vec<StepRef>,
    store: Store,
    reporter: Arc<dyn Reporter>,
    persist: Mutex<()>,
    /// This account's recorded step durations, for the estimates.
    pub learned: Mutex<Learned>,
}

async fn shutdown() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One row of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StepStatus {
    pub step: String,
    pub kind: &'static str,
    /// `present`, `missing`, `drifted`, or `error`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Engine {
    pub fn new(cx: Ctx, steps: Vec<StepRef>, state_dir: &Path, reporter: Arc<dyn Reporter>) -> Arc<Self> {
        let store = Store::new(state_dir, cx.suffix().as_str());
        Arc::new(Engine {
            cx: Arc::new(cx),
            steps,
            store,
            reporter,
            persist: Mutex::new(()),
            learned: Mutex::default(),
        })
    }

    fn step_ref(&self, id: &str) -> Option<&StepRef> {
        self.steps.iter().find(|s| s.id() == id)
    }

    /// Every record known to this run (never a secret value).
    pub fn state_file(&self) -> StateFile {
        StateFile {
            version: 1,
            suffix: self.cx.suffix().to_string(),
            account: self.cx.known_account().unwrap_or_default(),
            region: self.cx.region().to_owned(),
            steps: self.cx.records().into_iter().collect(),
        }
    }

    /// Writes the state file of the state directory.
    fn save(&self) -> Result<(), StateError> {
        let _guard = self.persist.lock().unwrap();
        self.store.save(&self.state_file())
    }

    async fn apply(self: Arc<Self>, step: StepRef) -> Result<Outcome, AwsError> {
        let cx = &self.cx;
        let id = step.id().to_owned();
        let outcome = match step.find(cx).await? {
            Some(rec) => {
                cx.set_record(&id, rec.clone());
                let fixed = step.reconcile(cx, &rec, true).await?;
                if fixed.is_empty() {
                    Outcome::new("found", rec.id)
                } else {
                    Outcome::new("repaired", format!("{} ({})", rec.id, fixed.join("; ")))
                }
            }
            None => {
                let rec = step.create(cx).await?;
                let out = Outcome::new("created", rec.id.clone());
                cx.set_record(&id, rec);
                out
            }
        };
        self.save()
            .map_err(|e| AwsError::custom("SaveState", "StateError", e.to_string()))?;
        Ok(outcome)
    }

    async fn ready(self: Arc<Self>, step: StepRef) -> Result<Outcome, AwsError> {
        let cx = &self.cx;
        let rec = cx.rec(step.id())?;
        if rec.ready {
            return Ok(Outcome::new("ready", rec.id));
        }
        let rec = wait_usable(cx, &step, &rec).await?;
        let out = Outcome::new("ready", rec.id.clone());
        cx.set_record(step.id(), rec);
        self.save()
            .map_err(|e| AwsError::custom("SaveState", "StateError", e.to_string()))?;
        Ok(out)
    }

    /// Converges the stack.
    pub async fn up(self: &Arc<Self>, parallelism: usize) -> Result<Summary, Error> {
        let (graph, nodes) = up_graph(&self.steps)?;
        let waits = wait_nodes(&nodes);
        // Before anything is found, the local state's copy says what exists.
        let known = self.store.load().steps;
        let work = |id: &str| {
            if known.contains_key(id) {
                Work::Keep
            } else {
                Work::Create
            }
        };
        let learned = self.learned.lock().unwrap().clone();
        self.reporter
            .expect(estimate::forecast_up(&self.steps, work, &learned, parallelism));
        let summary = runner::run(
            &graph,
            Policy {
                waits: &waits,
                // `--fail-fast`, through `app.rs`; otherwise a failure skips
                // only what needs it (a step's `:ready` node included).
                on_failure: OnFailure::current(),
                ..Policy::new(parallelism)
            },
            self.reporter.as_ref(),
            shutdown(),
            |n| -> BoxFut {
                let me = self.clone();
                match nodes[n].clone() {
                    Node::Apply(s) => Box::pin(me.apply(s)),
                    Node::Ready(s) => Box::pin(me.ready(s)),
                }
            },
        )
        .await;
        finish("up", summary)
    }

    /// What exists, found from AWS alone (keep-going; errors per step).
    pub async fn survey(self: &Arc<Self>, parallelism: usize, with_drift: bool) -> Result<Vec<StepStatus>, Error> {
        let graph = find_graph(&self.steps)?;
        let rows: Arc<Mutex<BTreeMap<String, StepStatus>>> = Arc::default();
        let quiet = crate::report::Quiet;
        runner::run(
            &graph,
            Policy {
                on_failure: OnFailure::SkipDependents,
                ..Policy::new(parallelism)
            },
            &quiet,
            std::future::pending(),
            |n| -> BoxFut {
                let me = self.clone();
                let step = self.steps[n].clone();
                let rows = rows.clone();
                Box::pin(async move {
                    let cx = &me.cx;
                    let mut row = StepStatus {
                        step: step.id().to_owned(),
                        kind: step.kind(),
                        state: "missing".into(),
                        id: None,
                        attrs: BTreeMap::new(),
                        drift: Vec::new(),
                        error: None,
                    };
                    match step.find(cx).await {
                        Ok(Some(rec)) => {
                            cx.set_record(step.id(), rec.clone());
                            row.state = "present".into();
                            row.id = Some(rec.id.clone());
                            row.attrs = rec.attrs.clone();
                            let deps_present = step.deps().iter().all(|d| cx.has(&d.step));
                            if with_drift && deps_present {
                                match step.reconcile(cx, &rec, false).await {
                                    Ok(d) if !d.is_empty() => {
                                        row.state = "drifted".into();
                                        row.drift = d;
                                    }
                                    Ok(_) => {}
                                    Err(e) => {
                                        row.state = "error".into();
                                        row.error = Some(e.to_string());
                                    }
                                }
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            row.state = "error".into();
                            row.error = Some(e.to_string());
                        }
                    }
                    let state = row.state.clone();
                    rows.lock().unwrap().insert(row.step.clone(), row);
                    Ok(Outcome::new(
                        if state == "present" { "present" } else { "checked" },
                        state,
                    ))
                })
            },
        )
        .await;
        let mut rows = std::mem::take(&mut *rows.lock().unwrap());
        Ok(self.steps.iter().filter_map(|s| rows.remove(s.id())).collect())
    }

    /// Tears everything down in reverse dependency order.
    pub async fn down(self: &Arc<Self>, parallelism: usize) -> Result<Summary, Error> {
        let learned = self.learned.lock().unwrap().clone();
        let present = |id: &str| self.cx.has(id);
        self.reporter
            .expect(estimate::forecast_down(&self.steps, present, &learned, parallelism));
        let summary = self
            .destroy_all(&self.steps, down_graph(&self.steps)?, parallelism)
            .await;
        let summary = finish("down", summary)?;
        self.store.remove()?;
        Ok(summary)
    }

    /// Deletes what the settings no longer ask for (`retired`: steps of the
    /// teardown that are not in this stack, such as the edge after
    /// `--no-edge`), in reverse dependency order among themselves, before
    /// `up` converges the rest: a part that names another (the VPC origin
    /// names the load balancer) is gone before that other is replaced.
    pub async fn retire(self: &Arc<Self>, retired: &[StepRef], parallelism: usize) -> Result<Summary, Error> {
        let graph = step_graph(retired, false, true, |s| s.timing().destroy)?.reversed();
        finish("up", self.destroy_all(retired, graph, parallelism).await)
    }

    async fn destroy_all(self: &Arc<Self>, steps: &[StepRef], graph: Graph, parallelism: usize) -> Summary {
        runner::run(
            &graph,
            // The graph is reversed: a failed delete keeps what the step
            // uses (it may go only after the step), not independent steps.
            Policy {
                on_failure: OnFailure::current(),
                ..Policy::new(parallelism)
            },
            self.reporter.as_ref(),
            shutdown(),
            |n| -> BoxFut {
                let me = self.clone();
                let step = steps[n].clone();
                Box::pin(async move { me.destroy(step).await })
            },
        )
        .await
    }

    async fn destroy(self: Arc<Self>, step: StepRef) -> Result<Outcome, AwsError> {
        let cx = &self.cx;
        match step.find(cx).await? {
            Some(rec) => {
                step.destroy(cx, &rec).await?;
                cx.forget(step.id());
                Ok(Outcome::new("deleted", rec.id))
            }
            None => Ok(Outcome::new("absent", "")),
        }
    }

    /// Runs one step (after checking its dependencies exist), or undoes it.
    pub async fn step(self: &Arc<Self>, name: &str, undo: bool) -> Result<Outcome, Error> {
        let step = self.step_ref(name).cloned().ok_or_else(|| Error::UnknownStep {
            name: name.to_owned(),
            known: self.steps.iter().map(|s| s.id().to_owned()).collect(),
        })?;
        if undo {
            let dependents: Vec<StepRef> = self
                .steps
                .iter()
                .filter(|s| s.deps().iter().any(|d| d.step == name))
                .cloned()
                .collect();
            for d in dependents {
                if d.find(&self.cx).await?.is_some() {
                    tracing::warn!(
                        step = name,
                        dependent = d.id(),
                        "a resource that depends on this step exists; it may need `provision up` afterwards"
                    );
                }
            }
            return Ok(self.clone().destroy(step).await?);
        }
        let mut missing = Vec::new();
        for dep in step.deps() {
            let base = dep.step.clone();
            let d = self.step_ref(&base).cloned().expect("graph validated");
            match d.find(&self.cx).await? {
                Some(rec) => {
                    let rec = if dep.need == Need::Ready && !rec.ready {
                        self.cx.waiting(&base, "to be usable");
                        wait_usable(&self.cx, &d, &rec).await?
                    } else {
                        rec
                    };
                    self.cx.set_record(&base, rec);
                }
                None => missing.push(base),
            }
        }
        if !missing.is_empty() {
            return Err(Error::MissingDependencies {
                step: name.to_owned(),
                missing,
            });
        }
        let out = self.clone().apply(step.clone()).await?;
        if step.waits() {
            self.clone().ready(step).await?;
        }
        Ok(out)
    }

    pub fn records(&self) -> std::collections::HashMap<String, Record> {
        self.cx.records()
    }
}

/// Waits for `step`'s resource to be usable and marks its record ready.
async fn wait_usable(cx: &Ctx, step: &StepRef, rec: &Record) -> Result<Record, AwsError> {
    let mut rec = step.wait_ready(cx, rec).await?;
    rec.ready = true;
    Ok(rec)
}

/// A run's end as the command's result: every failure at once (exit 1),
/// or an interruption, or the summary.
fn finish(command: &'static str, summary: Summary) -> Result<Summary, Error> {
    if !summary.failures.is_empty() {
        return Err(Error::RunFailed {
            command,
            done: summary.outcomes.len(),
            failures: summary.failures,
            skipped: summary.skipped,
            not_started: summary.not_started,
            interrupted: summary.interrupted,
        });
    }
    if !summary.ok() {
        return Err(Error::Interrupted {
            command,
            done: summary.outcomes.len(),
        });
    }
    Ok(summary)
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
