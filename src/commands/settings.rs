//! `provision settings`: what is recorded with the stack (its settings,
//! binding, deployed image and history), and where each value of the next
//! run would come from. Takes no lock and changes nothing.

use super::stack::{self, Access};
use crate::cli::{Cli, SettingsArgs};
use crate::config::layers::values_of;
use crate::ops::Error;
use crate::report::Quiet;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli, a: &SettingsArgs, max_attempts: u32) -> Result<(), Error> {
    let opened = stack::open(cli, &a.stack, Access::Read, max_attempts, Arc::new(Quiet)).await?;
    let values = values_of(&opened.layered.request);
    if a.json {
        let effective: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, v)| (k.clone(), json!({"value": v, "source": opened.layered.sources[k]})))
            .collect();
        let doc = json!({
            "suffix": opened.cx().suffix().as_str(),
            "bucket": opened.bucket.name,
            "record": opened.record,
            "effective": effective,
            "changes": opened.changes,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match &opened.record {
        None => {
            let _ = writeln!(
                out,
                "no settings are recorded for `{}` in s3://{} (account {}, {}); the next `up` records them",
                opened.cx().suffix(),
                opened.bucket.name,
                opened.account,
                opened.cx().region()
            );
        }
        Some(r) => {
            let _ = writeln!(
                out,
                "`{}` is bound to account {}, region {}; recorded in s3://{}/{} by {} at {}",
                r.suffix,
                r.account,
                r.region,
                opened.bucket.name,
                crate::state::record::settings_key(&r.suffix),
                r.updated_by,
                r.updated
            );
            if let Some(d) = &r.deployed {
                let _ = writeln!(
                    out,
                    "deployed: {} ({}), {}, by {} at {}",
                    d.image,
                    d.digest.as_deref().unwrap_or("digest unknown"),
                    d.task_definition,
                    d.by,
                    d.at
                );
            }
            for d in r.history.iter().take(5) {
                let _ = writeln!(out, "  before: {} ({}) at {}", d.image, d.task_definition, d.at);
            }
        }
    }
    let _ = writeln!(
        out,
        "settings for the next run (flags > stack file > recorded > defaults):"
    );
    for (k, v) in &values {
        let _ = writeln!(
            out,
            "  {k:<20} = {:<44} ({})",
            stack::show(v),
            opened.layered.sources[k]
        );
    }
    for c in &opened.changes {
        let _ = writeln!(out, "{c}");
    }
    Ok(())
}
