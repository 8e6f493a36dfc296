//! `provision` stands up, inspects, repairs and tears down the AWS stack of
//! the product-catalog API by calling the AWS APIs directly.
//!
//! # A tour
//!
//! - [`cli`]: the command line (clap only); [`config`]: what a stack is
//!   asked to be, validated into [`config::Settings`] before the first AWS
//!   call (bad input exits 2).
//! - [`naming`]: `{type}-{purpose}-{suffix}` names and the tags that let
//!   every resource be found again without the state file.
//! - [`graph`]: the dependency graph and its queue: a plain synchronous
//!   data structure (validation, ready/finish, reverse order), no I/O.
//! - [`runner`]: one async loop that starts ready nodes up to the
//!   parallelism and collects completions; a failure skips only what
//!   depends on it (`--fail-fast`, or Ctrl-C, starts nothing new) and the
//!   loop drains what runs.
//! - [`steps`]: the stack itself, one folder per resource family and one
//!   file per resource. A step finds its resource by tags, creates it,
//!   reconciles drift, waits for it to be usable, and destroys it.
//!   Dependencies say what they need ([`steps::Need`]): the identifier, or
//!   the resource usable, so nothing waits on a slow resource it only needs
//!   the name of.
//! - [`aws`]: client set-up (one retry policy for all), error
//!   classification, and bounded waits with backoff.
//! - [`ops`]: the engine: `up`, `down`, `status`, `plan` and `step` as work
//!   given to the runner.
//! - [`commands`]: one file per command. Besides the engine's (`up`,
//!   `down`, `status`, `plan`, `step`) the day-2 ones that are not
//!   resources: `deploy` and `rollback` (blue/green roll-outs), `image
//!   push`, `logs` (CloudWatch Logs, `--follow`), `run` (a one-off task),
//!   `exec` (ECS Exec through the Session Manager plugin) and `outputs`.
//!   Each uses the engine and the steps; nothing in `steps/` uses them.
//! - [`estimate`]: how long a run will take (documented typical durations,
//!   then this account's recorded ones), replayed on the runner's schedule
//!   ([`schedule`], which also keeps the live forecast the progress shows);
//!   [`cost`]: what the stack costs each month. Both for `plan`.
//! - [`report`]: progress for humans (stderr) or JSON lines (stdout).
//! - [`state`]: the atomic state file (a cache of what AWS says).
//! - [`app`]: wires a parsed command line to the above; `main.rs` only maps
//!   the result to an exit code.
//!
//! ```text
//!  vpc ─┬─ subnet-{public,private,isolated}-{a,b,c} ─┬─ nat-x ── nat-x:ready ── rt-private-x
//!       ├─ igw ── rt-public                           ├─ db-subnets ── db-cluster ── db-{writer,reader} ── …:ready
//!       ├─ sg-alb ── sg-app ── sg-db                  └─ alb ── listener-http ── rules ── ecs-service
//!       └─ flow-log (log group, role)
//! ```

pub mod app;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cost;
pub mod estimate;
pub mod graph;
pub mod naming;
pub mod ops;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod state;
pub mod steps;
#[cfg(test)]
pub(crate) mod testing;
