//! The commands that are not resources: each uses the engine and the steps,
//! and nothing in `steps/` uses them.

pub mod deploy;
pub mod down;
pub mod exec;
pub mod image;
pub mod log_events;
pub mod logs;
pub mod outputs;
pub mod plan;
pub mod rollback;
pub mod run;
pub mod status;
mod status_human;
pub mod step;
pub mod up;

use crate::aws::Clients;
use crate::cli::Cli;
use crate::config::Settings;
use crate::ops::{Engine, Error};
use crate::report::{Human, JsonLines, Quiet, Reporter};
use crate::steps::{self, Ctx};
use std::sync::Arc;

/// Progress for humans (stderr), JSON lines (stdout), or nothing.
pub fn reporter(json: bool, quiet: bool) -> Arc<dyn Reporter> {
    if json {
        Arc::new(JsonLines::new())
    } else if quiet {
        Arc::new(Quiet)
    } else {
        Human::new()
    }
}

/// What every command starts from: the engine over the stack's steps, with
/// clients that have made first contact with AWS.
pub struct Setup {
    pub engine: Arc<Engine>,
}

pub async fn setup(
    cli: &Cli,
    settings: Settings,
    max_attempts: u32,
    reporter: Arc<dyn Reporter>,
) -> Result<Setup, Error> {
    let clients = Clients::load(cli.region.as_deref(), max_attempts).await;
    let identity = clients.first_contact().await.map_err(Error::first_contact)?;
    tracing::info!(account = %identity.account, principal = %identity.arn, "credentials");
    let steps = steps::stack(&settings);
    let cx = Ctx::new(clients, settings, reporter.clone());
    cx.know_account(identity.account);
    Ok(Setup {
        engine: Engine::new(cx, steps, &cli.state_dir, reporter),
    })
}
