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
pub mod settings;
pub mod stack;
pub mod status;
mod status_human;
pub mod step;
pub mod unlock;
pub mod up;

use crate::report::{Human, JsonLines, Quiet, Reporter};
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
