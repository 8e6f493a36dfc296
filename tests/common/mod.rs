//! Shared harness for the integration tests: a moto server per test binary
//! (started by the project's own `scripts/moto.sh`), the real `provision`
//! binary run as a user would run it, and SDK clients for assertions.
//!
//! - `emulator`: the moto server and the project's proxy in front of it;
//! - `runner`: the `provision` binary ([`Provision`]) and one stack driven
//!   through it ([`Stack`]);
//! - `sdk`: SDK clients pointed at the emulator, and the look-ups several
//!   test binaries make with them;
//! - `census`: how many resources of each kind a stack has;
//! - `state_bucket`: the state bucket and its lock object, and images in ECR.
//!
//! Every test binary uses part of this, so what one does not use is no
//! warning (`dead_code`, and `unused_imports` on the re-exports below).
#![allow(dead_code)]

mod census;
mod emulator;
mod ministack;
mod runner;
mod sdk;
mod state_bucket;

// One list, so that one `allow` covers what a test binary does not use.
#[allow(unused_imports)]
pub use {census::*, emulator::*, ministack::*, runner::*, sdk::*, state_bucket::*};

use std::path::PathBuf;

pub const REGION: &str = "ap-southeast-2";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
