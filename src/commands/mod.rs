//! The commands that are not resources: each uses the engine and the steps,
//! and nothing in `steps/` uses them.

pub mod deploy;
