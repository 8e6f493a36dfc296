//! `provision unlock`: removes the stack's lock on purpose, after a run
//! that crashed on another machine (a crashed holder's lock also goes stale
//! by itself after its lease).

use crate::aws::Clients;
use crate::cli::{Cli, UnlockArgs};
use crate::naming::Suffix;
use crate::ops::Error;
use crate::state::bucket::StateBucket;
use crate::state::{lock, record};

pub async fn run(cli: &Cli, a: &UnlockArgs, max_attempts: u32) -> Result<(), Error> {
    let suffix = Suffix::parse(&a.suffix).map_err(crate::config::InputError::from)?;
    let clients = Clients::load(cli.region.as_deref(), max_attempts).await;
    let identity = clients.first_contact().await.map_err(Error::first_contact)?;
    let bucket = StateBucket::new(&clients, &identity.account, &clients.region);
    match lock::remove(&bucket, suffix.as_str(), &record::lock_key(suffix.as_str()), a.force).await? {
        Some(holder) => println!("removed the lock on `{suffix}` held by {holder}"),
        None => println!("`{suffix}` is not locked"),
    }
    Ok(())
}
