//! Opening a stack for a command: the flags and the stack file are checked
//! before any AWS call; then one `sts:GetCallerIdentity`, the binding to an
//! account and region, the state bucket, the lock (for a command that
//! changes the stack) and the recorded settings; and the settings of this
//! run, stacked flags > stack file > recorded > defaults
//! ([`crate::config::layers`]).

use crate::aws::Clients;
use crate::cli::{Cli, StackArgs};
use crate::config::changes::{self, Change};
use crate::config::layers::{self, Layered, Source, Values};
use crate::config::stack_file::{self, Declared};
use crate::config::{InputError, Settings, StackRequest};
use crate::estimate::{self, Learned, Phase};
use crate::ops::{Engine, Error};
use crate::report::{Event, Measured, Reporter};
use crate::schedule::Forecast;
use crate::state::bucket::{ObjectStore, StateBucket};
use crate::state::durations;
use crate::state::lock::{self, Held, Holder};
use crate::state::record::{self, Deployment, StackRecord};
use crate::state::Store;
use crate::steps::{self, Ctx};
use std::sync::Arc;

/// What a command does to the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only looks: no lock, no bucket made.
    Read,
    /// Changes the stack under the lock; `command` names it in the lock.
    Change(&'static str),
    /// `down`: every step the stack may have had, even parts its settings
    /// no longer ask for (the edge turned off); under the lock when it
    /// deletes, without it when it only lists.
    Down { delete: bool },
}

/// A stack opened for one command.
pub struct Stack {
    pub engine: Arc<Engine>,
    pub bucket: Arc<StateBucket>,
    pub account: String,
    /// The record as read (None: nothing recorded yet, or no bucket).
    pub record: Option<StackRecord>,
    etag: Option<String>,
    /// This run's settings and where each came from.
    pub layered: Layered,
    /// What this run changes in the recorded settings.
    pub changes: Vec<Change>,
    pub file: Declared,
    lock: Option<Held>,
    /// What this run's steps took, recorded with the account's at close.
    measured: Arc<Measured>,
}

fn binding_err(suffix: &str, what: &str, bound: &str, here: &str, whence: &str) -> Error {
    Error::Binding(format!(
        "the stack `{suffix}` is bound to {what} {bound} ({whence}), but these credentials and settings use {what} {here}\n  \
         hint: use the profile or --region of {bound} (AWS_PROFILE, AWS_REGION), or another --suffix for a stack in {here}"
    ))
}

/// Opens the stack `a.suffix` for a command.
pub async fn open(
    cli: &Cli,
    a: &StackArgs,
    access: Access,
    max_attempts: u32,
    reporter: Arc<dyn Reporter>,
) -> Result<Stack, Error> {
    // Everything the command line and the stack file say, checked first.
    let flags = a.layer()?;
    let file = stack_file::load(cli.stack_file.as_deref(), &a.suffix)?;
    merge(&a.suffix, &flags, &file, None)?.request.validate()?;
    let lock_timeout = match cli.lock_timeout.trim() {
        "0" | "0s" => std::time::Duration::ZERO,
        t => super::log_events::duration_flag("lock-timeout", t)?,
    };
    let lease = lock::lease_from_env()?;

    let region = cli.region.clone().or_else(|| file.region.clone());
    let clients = Clients::load(region.as_deref(), max_attempts).await;
    let identity = clients.first_contact().await.map_err(Error::first_contact)?;
    tracing::info!(account = %identity.account, principal = %identity.arn, "credentials");
    let here = (identity.account.clone(), clients.region.clone());
    if let Some(bound) = &file.account {
        if *bound != here.0 {
            return Err(binding_err(&a.suffix, "account", bound, &here.0, "the stack file"));
        }
    }
    if let Some(bound) = &file.region {
        if *bound != here.1 {
            return Err(binding_err(&a.suffix, "region", bound, &here.1, "the stack file"));
        }
    }
    let cache = Store::new(&cli.state_dir, &a.suffix).load();
    for (what, bound, now) in [("account", &cache.account, &here.0), ("region", &cache.region, &here.1)] {
        if !bound.is_empty() && bound != now {
            return Err(binding_err(
                &a.suffix,
                what,
                bound,
                now,
                &format!("recorded by an earlier run in {}", cli.state_dir.display()),
            ));
        }
    }

    let bucket = Arc::new(StateBucket::new(&clients, &here.0, &here.1));
    let lock_for = match access {
        Access::Read | Access::Down { delete: false } => None,
        Access::Change(command) => Some(command),
        Access::Down { delete: true } => Some("down"),
    };
    let lock = match lock_for {
        None => None,
        Some(command) => {
            bucket.ensure().await?;
            let on_wait = |who: &str| eprintln!("waiting for the lock on `{}`, held by {who}", a.suffix);
            let held = lock::acquire(
                bucket.clone(),
                &a.suffix,
                &record::lock_key(&a.suffix),
                Holder::me(command, lease),
                lock_timeout,
                &on_wait,
            )
            .await?;
            Some(held)
        }
    };
    // Under the lock: the record, then this run's settings. Whatever fails
    // here releases the lock before it is reported.
    let read = async {
        let (rec, etag) = match record::load(bucket.as_ref(), &a.suffix).await? {
            Some((r, e)) => (Some(r), Some(e)),
            None => (None, None),
        };
        if let Some(r) = &rec {
            for (what, bound, now) in [("account", &r.account, &here.0), ("region", &r.region, &here.1)] {
                if bound != now {
                    return Err(binding_err(&a.suffix, what, bound, now, "the stack's record"));
                }
            }
        }
        let layered = merge(&a.suffix, &flags, &file, rec.as_ref())?;
        let settings: Settings = layered.request.validate()?;
        let changes = match &rec {
            Some(r) => changes::diff(&recorded_request(&a.suffix, r)?, &layered.request),
            None => Vec::new(),
        };
        Ok::<_, Error>((rec, etag, layered, settings, changes))
    };
    let (rec, etag, layered, settings, changes) = match read.await {
        Ok(v) => v,
        Err(e) => {
            release(lock).await;
            return Err(e);
        }
    };
    let steps = match access {
        Access::Down { .. } => steps::teardown(&settings),
        _ => steps::stack(&settings),
    };
    let measured = Measured::new(reporter);
    let reporter: Arc<dyn Reporter> = measured.clone();
    let cx = Ctx::new(clients, settings, reporter.clone());
    cx.know_account(here.0.clone());
    Ok(Stack {
        engine: Engine::new(cx, steps, &cli.state_dir, reporter),
        bucket,
        account: here.0,
        record: rec,
        etag,
        layered,
        changes,
        file,
        lock,
        measured,
    })
}

fn merge(suffix: &str, flags: &Values, file: &Declared, rec: Option<&StackRecord>) -> Result<Layered, InputError> {
    let empty = Values::new();
    let recorded = rec.map(|r| layers::recorded_before_edge(&r.settings));
    let recorded = recorded.as_ref().unwrap_or(&empty);
    layers::merge(
        suffix,
        &[
            (Source::Flag, flags),
            (Source::File, &file.values),
            (Source::Recorded, recorded),
        ],
    )
}

/// The settings a record holds, over the defaults.
pub fn recorded_request(suffix: &str, r: &StackRecord) -> Result<StackRequest, InputError> {
    let recorded = layers::recorded_before_edge(&r.settings);
    Ok(layers::merge(suffix, &[(Source::Recorded, &recorded)])?.request)
}

async fn release(lock: Option<Held>) {
    if let Some(l) = lock {
        if let Err(e) = l.release().await {
            tracing::warn!(error = %e, "could not release the lock");
        }
    }
}

impl Stack {
    pub fn cx(&self) -> &Ctx {
        &self.engine.cx
    }

    /// The destructive changes among this run's setting changes.
    pub fn destructive(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.destructive.is_some()).collect()
    }

    /// Asks on a terminal before a destructive change; refuses without
    /// `--yes` where nobody can be asked. Nothing has been changed yet.
    pub fn confirm(&self, yes: bool, command: &str) -> Result<(), Error> {
        let destructive = self.destructive();
        if destructive.is_empty() || yes {
            return Ok(());
        }
        let list: Vec<String> = destructive.iter().map(|c| format!("  {c}")).collect();
        use std::io::{BufRead, IsTerminal, Write};
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            eprintln!("{command} would make destructive changes:\n{}", list.join("\n"));
            eprint!("Make them? [y/N] ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            if matches!(answer.trim(), "y" | "Y" | "yes") {
                return Ok(());
            }
        }
        Err(Error::Destructive {
            command: command.to_owned(),
            changes: list,
        })
    }

    /// Records this run's settings (and `deployed`, when given) with the
    /// stack, bound to this account and region.
    pub async fn record(&mut self, command: &str, deployed: Option<Deployment>) -> Result<(), Error> {
        let cx = &self.engine.cx;
        let by = crate::state::process::who();
        let mut rec = self.record.clone().unwrap_or_else(|| StackRecord {
            version: 1,
            suffix: cx.suffix().to_string(),
            account: self.account.clone(),
            region: cx.region().to_owned(),
            settings: Values::new(),
            deployed: None,
            history: Vec::new(),
            updated: String::new(),
            updated_by: String::new(),
        });
        rec.settings = layers::values_of(&self.layered.request);
        let unchanged = deployed.is_none() && self.record.as_ref() == Some(&rec);
        if unchanged {
            return Ok(());
        }
        if let Some(d) = deployed {
            rec.deployed(d);
        }
        rec.updated = record::now_rfc3339();
        rec.updated_by = format!("{by} (provision {command})");
        let etag = record::save(self.bucket.as_ref(), &rec, self.etag.as_deref()).await?;
        self.etag = Some(etag);
        self.record = Some(rec);
        Ok(())
    }

    /// Reads the account's recorded step durations into the engine, for the
    /// estimates. Without a bucket (a first run) or a readable object, the
    /// documented typical durations are all there is.
    pub async fn learn(&self) {
        match durations::load(self.bucket.as_ref()).await {
            Ok((learned, _)) => *self.engine.learned.lock().unwrap() = learned,
            Err(e) => tracing::debug!(error = %e, "no recorded durations; estimating from typical ones"),
        }
    }

    /// Starts the progress of a roll-out of the service (deploy, rollback):
    /// one step, expected to take what this account's roll-outs take.
    pub async fn rollout_started(&self) {
        self.learn().await;
        let svc = self.engine.steps.iter().find(|s| s.id() == steps::ids::ECS_SERVICE);
        if let Some(svc) = svc {
            let learned = self.engine.learned.lock().unwrap().clone();
            let (d, _) = learned.figure(svc.kind(), &svc.timing(), Phase::Change);
            self.measured.expect(Forecast::single(svc.id(), d));
            self.measured.event(Event::Started { node: svc.id() });
        }
    }

    /// Ends the progress of a roll-out that completed in `secs`.
    pub fn rollout_finished(&self, secs: u64) {
        self.measured.event(Event::Finished {
            node: steps::ids::ECS_SERVICE,
            action: "rolled-out",
            detail: "",
            elapsed: std::time::Duration::from_secs(secs),
        });
        self.measured.finish();
    }

    /// This run's measurements by kind and phase: a create, a change (a
    /// repair, a roll-out), a delete, and the wait until usable of what
    /// this run created. Found resources measure nothing.
    fn measured_run(&self) -> Learned {
        let teardown = steps::teardown(&self.engine.cx.settings);
        let kind = |id: &str| {
            self.engine
                .steps
                .iter()
                .chain(teardown.iter())
                .find(|s| s.id() == id)
                .map(|s| s.kind())
        };
        estimate::learned_from(&self.measured.take(), kind)
    }

    /// Records this run's measurements (only a run under the lock changed
    /// anything); a failure to record is a warning, never the run's.
    async fn record_durations(&self) {
        if self.lock.is_none() {
            return;
        }
        if let Err(e) = durations::record(self.bucket.as_ref(), &self.measured_run()).await {
            tracing::warn!(error = %e, "could not record this run's step durations (they only feed the estimates)");
        }
    }

    /// The deployment record of the image `task_definition` runs.
    pub fn deployment(&self, command: &str, image: &str, digest: Option<String>, task_definition: &str) -> Deployment {
        let repo_tag = image.rsplit_once(':').filter(|(_, t)| !t.contains('/'));
        Deployment {
            image: image.to_owned(),
            tag: repo_tag.map(|(_, t)| t.to_owned()),
            digest,
            task_definition: task_definition.to_owned(),
            command: command.to_owned(),
            at: record::now_rfc3339(),
            by: crate::state::process::who(),
        }
    }

    /// Ends the command: saves the state (locally and in the bucket),
    /// releases the lock, and says whether it was lost on the way.
    pub async fn close<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        let lost = self.lock.as_ref().and_then(Held::lost);
        self.record_durations().await;
        if self.lock.is_some() {
            let state = self.engine.state_file();
            if let Err(e) = self
                .bucket
                .put(
                    &record::state_key(&state.suffix),
                    serde_json::to_vec_pretty(&state).expect("state serializes"),
                    crate::state::bucket::Condition::None,
                )
                .await
            {
                tracing::warn!(error = %e, "could not copy the state to the state bucket (it is only a cache)");
            }
        }
        release(self.lock).await;
        match (result, lost) {
            (Ok(_), Some(why)) => Err(Error::Failed(format!(
                "the lock on the stack was lost during the run: {why}\n  hint: check what the other run did (`provision status`) before running again"
            ))),
            (r, _) => r,
        }
    }

    /// Ends `down`: every object of the stack leaves the bucket (all
    /// versions), then the lock is released.
    pub async fn close_deleted<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            return self.close(result).await;
        }
        self.record_durations().await;
        let prefix = format!("stacks/{}/", self.engine.cx.suffix());
        let key = record::lock_key(self.engine.cx.suffix().as_str());
        let bucket = self.bucket.clone();
        let lost = self.lock.as_ref().and_then(Held::lost);
        let purged = bucket.purge(&prefix, &key).await;
        release(self.lock).await;
        // The lock's own versions, unless another run holds it by now.
        let purged = match purged {
            Ok(_) => bucket.purge(&key, &key).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = purged {
            tracing::warn!(error = %e, "could not remove the stack's objects from the state bucket");
        }
        match lost {
            Some(why) => Err(Error::Failed(format!(
                "the lock on the stack was lost during the run: {why}"
            ))),
            None => result,
        }
    }
}

/// Renders a setting's value for people: strings bare, the rest as JSON.
pub fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(none)".into(),
        v => v.to_string(),
    }
}
