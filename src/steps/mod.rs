//! The stack as steps. Each step owns one resource (or one tight group,
//! like a route table with its routes and associations) and knows how to
//! find it by tags, create it, reconcile its managed properties, wait for it
//! to be usable, and destroy it.
//!
//! Adding a step: write a struct implementing [`Step`] in the family module
//! it belongs to, and list it in that module's `steps()`. Its dependencies
//! are [`Dep`]s: [`Need::Ready`] means "x must be usable", [`Need::Id`]
//! "x's identifier is enough" (which lets work proceed while a slow resource
//! such as an Aurora instance is still being created). Step ids that other
//! steps name are constants in [`ids`].

pub mod database;
pub mod ecs;
pub mod edge;
pub mod graphs;
pub mod identity;
pub mod ids;
pub mod load_balancer;
pub mod logs;
pub mod network;
pub mod observability;
pub mod registry;
pub mod scaling;
pub mod store;

use crate::aws::{AwsError, Clients};
use crate::config::Settings;
use crate::naming;
use crate::report::{Event, Reporter};
use crate::state::Record;
use async_trait::async_trait;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

pub type StepResult<T> = Result<T, AwsError>;

/// What a step needs of a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// Its identifier (and ARNs, names): enough to reference it.
    Id,
    /// The resource usable (its `wait_ready` has finished).
    Ready,
}

/// One dependency edge: a step id and what is needed of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dep {
    pub step: String,
    pub need: Need,
}

impl Dep {
    pub fn id(step: impl Into<String>) -> Self {
        Dep {
            step: step.into(),
            need: Need::Id,
        }
    }

    pub fn ready(step: impl Into<String>) -> Self {
        Dep {
            step: step.into(),
            need: Need::Ready,
        }
    }

    /// The node of the `up` graph this edge points at: the step itself, or
    /// its `{id}:ready` node.
    pub fn node(&self) -> String {
        match self.need {
            Need::Id => self.step.clone(),
            Need::Ready => ready_node(&self.step),
        }
    }
}

/// The name of the node that waits for step `id` to be usable.
pub fn ready_node(id: &str) -> String {
    format!("{id}:ready")
}

/// Needing only the identifier is the common case.
impl From<&str> for Dep {
    fn from(step: &str) -> Self {
        Dep::id(step)
    }
}

impl From<String> for Dep {
    fn from(step: String) -> Self {
        Dep::id(step)
    }
}

/// How long AWS typically takes for a step: the documented figure `plan`
/// estimates with until this account has recorded enough runs of the kind
/// ([`crate::estimate`]), the schedule's priority (critical path first when
/// parallelism is bounded), and the simulated-clock tests' model.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub create: Duration,
    /// From created to usable (only for steps that [`Step::waits`]).
    pub ready: Duration,
    /// Repairing drift or applying a changed setting to an existing resource.
    pub change: Duration,
    pub destroy: Duration,
    /// Where the figures come from (a page of AWS's documentation, or what
    /// the call is: one synchronous API call waits for nothing).
    pub source: &'static str,
}

/// The source of [`Timing::default`]: the resource exists when the call
/// returns, so the step takes a round trip or two.
pub const SYNCHRONOUS: &str = "synchronous API call: the resource exists when the call returns";

impl Timing {
    /// `change` defaults to `create` (a reconcile is a call or two, like a
    /// create); see [`Timing::changing`].
    pub const fn secs(create: u64, ready: u64, destroy: u64) -> Self {
        Timing {
            create: Duration::from_secs(create),
            ready: Duration::from_secs(ready),
            change: Duration::from_secs(create),
            destroy: Duration::from_secs(destroy),
            source: SYNCHRONOUS,
        }
    }

    /// How long applying a change takes, when it is not a call or two.
    pub const fn changing(mut self, secs: u64) -> Self {
        self.change = Duration::from_secs(secs);
        self
    }

    pub const fn source(mut self, source: &'static str) -> Self {
        self.source = source;
        self
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::secs(2, 0, 2)
    }
}

/// One resource of the stack. Every method is idempotent.
#[async_trait]
pub trait Step: Send + Sync + 'static {
    /// Unique id, e.g. `nat-a`; also the `provision:step` tag value.
    fn id(&self) -> &str;
    /// The resource kind, for status grouping and API-call accounting.
    fn kind(&self) -> &'static str;
    /// The steps this one needs, and whether it needs them usable.
    fn deps(&self) -> Vec<Dep>;
    /// The part of [`deps`](Step::deps) that only orders creation: `down`
    /// does not wait for these (e.g. Aurora's reader is created after the
    /// writer, but both can be deleted at once).
    fn ordering_deps(&self) -> Vec<String> {
        Vec::new()
    }
    fn timing(&self) -> Timing {
        Timing::default()
    }
    /// True when the resource takes a while to become usable after create;
    /// the graph then has a separate `{id}:ready` node.
    fn waits(&self) -> bool {
        false
    }
    /// Looks the resource up in AWS from names and tags alone (never from
    /// the state file), normally through the shared [`Inventory`].
    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>>;
    /// Creates the resource; it may use the records of its dependencies.
    async fn create(&self, cx: &Ctx) -> StepResult<Record>;
    /// Compares the managed properties with what they should be; with `fix`
    /// brings them back. Returns the differences found.
    async fn reconcile(&self, _cx: &Ctx, _rec: &Record, _fix: bool) -> StepResult<Vec<String>> {
        Ok(Vec::new())
    }
    /// Waits until a created resource is usable; returns the updated record
    /// (the engine marks it ready).
    async fn wait_ready(&self, _cx: &Ctx, rec: &Record) -> StepResult<Record> {
        Ok(rec.clone())
    }
    /// Why the resource may not be deleted now (deletion protection), if
    /// it may not. `down` asks every present step before its first delete,
    /// and deletes nothing when one answers.
    async fn protection(&self, _cx: &Ctx, _rec: &Record) -> StepResult<Option<String>> {
        Ok(None)
    }
    /// Deletes the resource (and waits until dependents' deletes may go on).
    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()>;
}

pub type StepRef = Arc<dyn Step>;

/// The whole stack, in declaration order (the order `plan` prints).
pub fn stack(settings: &Settings) -> Vec<StepRef> {
    let mut steps = Vec::new();
    steps.extend(network::steps(settings));
    steps.extend(logs::steps(settings));
    steps.extend(registry::steps(settings));
    steps.extend(identity::steps(settings));
    steps.extend(database::steps(settings));
    steps.extend(store::steps(settings));
    steps.extend(load_balancer::steps(settings));
    steps.extend(ecs::steps(settings));
    steps.extend(scaling::steps(settings));
    steps.extend(observability::steps(settings));
    steps.extend(edge::steps(settings));
    steps
}

/// What `down` deletes: the stack, and every optional part it may have had
/// (the edge turned off since, or settings lost), each found by its tags.
pub fn teardown(settings: &Settings) -> Vec<StepRef> {
    // The edge's steps as they are with everything on, so their edges to
    // each other are all there (the distribution names its web ACL).
    let edge = edge::all_steps(settings);
    let mut steps: Vec<StepRef> = stack(settings)
        .into_iter()
        .filter(|s| edge.iter().all(|e| e.id() != s.id()))
        .collect();
    steps.extend(edge);
    steps
}

/// Discovered resources, one batched describe per kind, shared by every
/// step that needs that kind. Loaded lazily; a failed load is not cached.
type Cell = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

#[derive(Default)]
pub struct Inventory {
    cells: Mutex<HashMap<String, Cell>>,
}

impl Inventory {
    /// The value for `key`, fetched by the first caller; concurrent callers
    /// wait for that one fetch instead of making their own.
    pub async fn get<T, F, Fut>(&self, key: impl Into<String>, fetch: F) -> StepResult<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = StepResult<T>>,
    {
        let cell = self.cells.lock().unwrap().entry(key.into()).or_default().clone();
        let any = cell
            .get_or_try_init(|| async { fetch().await.map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>) })
            .await?
            .clone();
        Ok(any.downcast::<T>().expect("one type per inventory key"))
    }

    /// The value for `key` if a `get` has fetched it already (for code that
    /// cannot wait, after an earlier step of the same run has looked).
    pub fn peek<T: Send + Sync + 'static>(&self, key: &str) -> Option<Arc<T>> {
        let cell = self.cells.lock().unwrap().get(key)?.clone();
        let any = cell.get()?.clone();
        Some(any.downcast::<T>().expect("one type per inventory key"))
    }

    /// Forgets a kind so the next `get` asks AWS again.
    pub fn invalidate(&self, key: &str) {
        self.cells.lock().unwrap().remove(key);
    }
}

/// Everything a step may use: clients, settings, the inventory, and the
/// records of the steps finished so far in this run.
pub struct Ctx {
    pub aws: Clients,
    pub settings: Settings,
    pub inventory: Inventory,
    /// Records of finished steps, keyed by step id. Steps read only the
    /// records of their declared dependencies.
    records: Mutex<HashMap<String, Record>>,
    /// Progress sink for "waiting on X" messages from inside steps.
    reporter: Arc<dyn Reporter>,
    account: OnceCell<String>,
    /// Distinguishes this run's idempotency tokens from earlier runs', so a
    /// resource deleted since is not "returned" again by its old token.
    pub run_id: String,
}

impl Ctx {
    pub fn new(aws: Clients, settings: Settings, reporter: Arc<dyn Reporter>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ctx {
            aws,
            settings,
            inventory: Inventory::default(),
            records: Mutex::new(HashMap::new()),
            reporter,
            account: OnceCell::new(),
            run_id: format!("{:x}{:x}", nanos, std::process::id()),
        }
    }

    pub fn suffix(&self) -> &naming::Suffix {
        &self.settings.suffix
    }

    pub fn region(&self) -> &str {
        &self.aws.region
    }

    /// `{kind}-{purpose}-{suffix}`.
    pub fn name(&self, kind: &str, purpose: &str) -> String {
        naming::name(kind, purpose, &self.settings.suffix)
    }

    pub fn tags(&self, name: &str, step: &str) -> Vec<(String, String)> {
        naming::tags(&self.settings.suffix, name, step)
    }

    /// Whether a resource whose tags `tag` reads belongs to `step` of this
    /// suffix. Checked on the client too: a tag filter an API ignores (or a
    /// copy-pasted tag) must never make us adopt another stack's resource.
    pub fn owns<'a>(&self, step: &str, tag: impl Fn(&str) -> Option<&'a str>) -> bool {
        tag(naming::TAG_STEP) == Some(step) && tag(naming::TAG_SUFFIX) == Some(self.suffix().as_str())
    }

    /// An idempotency token for one create call of one step in this run, at
    /// most `max_len` ASCII characters (the limit the API documents, e.g. 36
    /// for ECS CreateService, 64 for EC2). It is 32 hex digits of a 128-bit
    /// hash (FNV-1a 64 of the suffix, step and run id, and FNV-1a 64 of the
    /// same bytes reversed): the same for every retry of the call in this
    /// run, different for another step, stack or run. (The readable
    /// `{suffix}-{step}-{run}` was too long for ECS's 36 with a 12-character
    /// suffix, and cutting it could leave the same token for two steps.)
    pub fn client_token(&self, step: &str, max_len: usize) -> String {
        fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
            bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        }
        let key = format!("{}\0{}\0{}", self.settings.suffix, step, self.run_id);
        let token = format!(
            "{:016x}{:016x}",
            fnv1a(key.as_bytes().iter()),
            fnv1a(key.as_bytes().iter().rev())
        );
        token.chars().take(max_len).collect()
    }

    /// The record of a finished dependency.
    pub fn rec(&self, step: &str) -> StepResult<Record> {
        self.records.lock().unwrap().get(step).cloned().ok_or_else(|| {
            AwsError::custom(
                "Lookup",
                "MissingDependency",
                format!("step `{step}` has no record; run it first (provision step {step})"),
            )
        })
    }

    /// An attribute of a finished dependency's record (an ARN, a name);
    /// fails clearly rather than letting an empty value reach AWS.
    pub fn attr(&self, step: &str, key: &str) -> StepResult<String> {
        let rec = self.rec(step)?;
        match rec.attr(key) {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(AwsError::custom(
                "Lookup",
                "MissingAttribute",
                format!("step `{step}` recorded no `{key}`; run `provision up` to refresh it"),
            )),
        }
    }

    pub fn id_of(&self, step: &str) -> StepResult<String> {
        Ok(self.rec(step)?.id)
    }

    pub fn has(&self, step: &str) -> bool {
        self.records.lock().unwrap().contains_key(step)
    }

    pub fn set_record(&self, step: &str, rec: Record) {
        self.records.lock().unwrap().insert(step.to_owned(), rec);
    }

    pub fn forget(&self, step: &str) {
        self.records.lock().unwrap().remove(step);
    }

    pub fn records(&self) -> HashMap<String, Record> {
        self.records.lock().unwrap().clone()
    }

    /// Tells the operator what a step is waiting on.
    pub fn waiting(&self, step: &str, what: &str) {
        self.reporter.event(Event::Waiting { node: step, what });
    }

    /// Records the account id learnt at first contact, so ARNs need no
    /// further STS call.
    pub fn know_account(&self, account: String) {
        if !account.is_empty() {
            let _ = self.account.set(account);
        }
    }

    /// The account id, if first contact (or an ARN) has learnt it.
    pub fn known_account(&self) -> Option<String> {
        self.account.get().cloned()
    }

    /// The account id (one STS call per run, only when an ARN needs it).
    pub async fn account_id(&self) -> StepResult<String> {
        self.account
            .get_or_try_init(|| async {
                let out = self
                    .aws
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("GetCallerIdentity", e))?;
                Ok::<_, AwsError>(out.account().unwrap_or_default().to_owned())
            })
            .await
            .cloned()
    }

    /// `arn:{partition}:{service}:{region}:{account}:{resource}`.
    pub async fn arn(&self, service: &str, resource: &str) -> StepResult<String> {
        let account = self.account_id().await?;
        Ok(format!(
            "arn:{}:{service}:{}:{account}:{resource}",
            crate::aws::partition(self.region()),
            self.region()
        ))
    }

    /// An ARN without region (IAM, S3).
    pub async fn global_arn(&self, service: &str, resource: &str) -> StepResult<String> {
        let account = self.account_id().await?;
        Ok(format!(
            "arn:{}:{service}::{account}:{resource}",
            crate::aws::partition(self.region())
        ))
    }
}

/// Reads one tag's value from any SDK tag list, given accessors.
pub fn tag_value<'a, T>(
    tags: &'a [T],
    key: &str,
    k: impl Fn(&'a T) -> Option<&'a str>,
    v: impl Fn(&'a T) -> Option<&'a str>,
) -> Option<&'a str> {
    tags.iter().find(|t| k(t) == Some(key)).and_then(v)
}

pub(crate) use crate::aws::build_err;

/// An SDK waiter gave up or failed, named after the wait `op`.
pub(crate) fn waiter_err<E: std::error::Error + 'static>(op: &'static str, e: E) -> AwsError {
    AwsError::custom(op, "WaiterFailed", DisplayErrorContext(&e).to_string())
}

/// Checks that need AWS but must pass before anything is created (e.g. an
/// operator-supplied secret exists and is readable).
pub async fn preflight(cx: &Ctx) -> StepResult<()> {
    database::preflight(cx).await?;
    edge::preflight(cx).await
}

/// The flat outputs `up` writes and `status --json` includes.
pub fn outputs(cx: &Ctx) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(vpc) = cx.id_of("vpc") {
        out.insert("VpcId".to_string(), vpc);
    }
    registry::outputs(cx, &mut out);
    database::outputs(cx, &mut out);
    store::outputs(cx, &mut out);
    load_balancer::outputs(cx, &mut out);
    ecs::outputs(cx, &mut out);
    scaling::outputs(cx, &mut out);
    observability::outputs(cx, &mut out);
    edge::outputs(cx, &mut out);
    out
}

/// Extra facts for `status` (image count, deployments, target health, alarm states).
pub async fn details(cx: &Ctx) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut out = std::collections::BTreeMap::new();
    registry::details(cx, &mut out).await;
    database::details(cx, &mut out).await;
    load_balancer::details(cx, &mut out).await;
    ecs::details(cx, &mut out).await;
    scaling::details(cx, &mut out).await;
    observability::details(cx, &mut out).await;
    edge::details(cx, &mut out).await;
    out
}

#[cfg(test)]
mod client_token_tests {
    #[test]
    fn a_client_token_fits_the_limit_and_is_unique_per_suffix_step_and_run() {
        let mut cx = crate::testing::ctx(&[]);
        cx.settings.suffix = crate::naming::Suffix::parse("abcdefghijkl").unwrap();
        let t = cx.client_token("ecs-service", 36);
        assert!(t.len() <= 36 && t.is_ascii(), "{t}");
        assert_eq!(t, cx.client_token("ecs-service", 36), "the same within a run");
        assert_ne!(t, cx.client_token("nat-a", 36));
        assert!(cx.client_token("nat-a", 64).len() <= 64);
        assert_ne!(cx.client_token("nat-a", 64), cx.client_token("nat-b", 64));
        let other_run = cx.run_id.clone() + "1";
        let before = cx.client_token("ecs-service", 36);
        cx.run_id = other_run;
        assert_ne!(before, cx.client_token("ecs-service", 36));
        let mut other_stack = crate::testing::ctx(&[]);
        other_stack.run_id = cx.run_id.clone();
        assert_ne!(
            other_stack.client_token("ecs-service", 36),
            cx.client_token("ecs-service", 36)
        );
    }
}
