//! The Aurora PostgreSQL engine version of a new cluster: what the region
//! offers (`DescribeDBEngineVersions`), the newest minor of `--db-major` or
//! the pinned `--db-engine-version`, and the parameter group family.

use super::ENGINE;
use crate::aws::{AwsError, AwsResultExt};
use crate::config::Settings;
use crate::steps::{Ctx, StepResult};
use std::sync::Arc;

/// One entry of `DescribeDBEngineVersions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedVersion {
    pub version: String,
    /// `Status` is `available` (not `deprecated`).
    pub available: bool,
}

fn numeric(v: &str) -> Option<Vec<u32>> {
    v.split('.').map(|p| p.parse().ok()).collect()
}

/// The major version the stack runs: a pinned version's, else `--db-major`.
pub fn effective_major(settings: &Settings) -> u32 {
    settings
        .db_engine_version
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(settings.db_major)
}

/// `aurora-postgresql{major}`.
pub fn family(settings: &Settings) -> String {
    format!("{ENGINE}{}", effective_major(settings))
}

/// Picks the engine version: the pinned one if the region offers it, else
/// the newest minor of `major` (compared as numbers: 16.10 > 16.9). The
/// error lists what is offered.
pub fn resolve_engine_version(offered: &[OfferedVersion], major: u32, pinned: Option<&str>) -> Result<String, String> {
    let mut usable: Vec<(&str, Vec<u32>)> = offered
        .iter()
        .filter(|o| o.available)
        .filter_map(|o| numeric(&o.version).map(|n| (o.version.as_str(), n)))
        .collect();
    usable.sort_by(|a, b| a.1.cmp(&b.1));
    usable.dedup_by(|a, b| a.1 == b.1);
    let list = if usable.is_empty() {
        "none".to_string()
    } else {
        usable.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
    };
    if let Some(p) = pinned {
        return match offered.iter().find(|o| o.version == p && o.available) {
            Some(o) => Ok(o.version.clone()),
            None => Err(format!(
                "{ENGINE} {p} (--db-engine-version) is not offered in this region; it offers: {list}\n  \
                 hint: pin one of those, or drop --db-engine-version to get the newest {}.x",
                p.split('.').next().unwrap_or(p)
            )),
        };
    }
    usable
        .iter()
        .rev()
        .find(|(_, n)| n.first() == Some(&major))
        .map(|(v, _)| v.to_string())
        .ok_or_else(|| {
            format!(
                "no {ENGINE} {major}.x version is offered in this region; it offers: {list}\n  \
                 hint: pick another --db-major"
            )
        })
}

/// The engine version for a new cluster (one lookup per run, shared).
pub(super) async fn engine_version(cx: &Ctx) -> StepResult<Arc<String>> {
    cx.inventory
        .get("rds:engine-version", || async {
            let pages = cx
                .aws
                .rds
                .describe_db_engine_versions()
                .engine(ENGINE)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("DescribeDBEngineVersions")?;
            let offered: Vec<OfferedVersion> = pages
                .iter()
                .flat_map(|p| p.db_engine_versions())
                .filter_map(|v| {
                    Some(OfferedVersion {
                        version: v.engine_version()?.to_owned(),
                        available: v.status().is_none_or(|s| s == "available"),
                    })
                })
                .collect();
            let major = effective_major(&cx.settings);
            resolve_engine_version(&offered, major, cx.settings.db_engine_version.as_deref())
                .map_err(|m| AwsError::custom("DescribeDBEngineVersions", "EngineVersionNotOffered", m))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &[(&str, bool)]) -> Vec<OfferedVersion> {
        list.iter()
            .map(|(v, a)| OfferedVersion {
                version: v.to_string(),
                available: *a,
            })
            .collect()
    }

    #[test]
    fn newest_minor_of_the_major_is_compared_numerically() {
        let o = offered(&[
            ("15.10", true),
            ("16.2", true),
            ("16.9", true),
            ("16.10", true),
            ("16.11", false),
            ("17.1", true),
            ("16.4-limitless", true),
        ]);
        assert_eq!(resolve_engine_version(&o, 16, None).unwrap(), "16.10");
        assert_eq!(resolve_engine_version(&o, 15, None).unwrap(), "15.10");
        assert_eq!(resolve_engine_version(&o, 17, None).unwrap(), "17.1");
    }

    #[test]
    fn a_major_the_region_lacks_fails_listing_what_it_offers() {
        let o = offered(&[("15.8", true), ("16.4", true)]);
        let e = resolve_engine_version(&o, 14, None).unwrap_err();
        assert!(e.contains("14.x"), "{e}");
        assert!(e.contains("15.8, 16.4"), "{e}");
        assert!(e.contains("hint:"), "{e}");
        assert!(resolve_engine_version(&[], 16, None)
            .unwrap_err()
            .contains("offers: none"));
    }

    #[test]
    fn a_pinned_version_must_be_offered_and_available() {
        let o = offered(&[("16.2", true), ("16.4", true), ("16.6", false)]);
        assert_eq!(resolve_engine_version(&o, 16, Some("16.2")).unwrap(), "16.2");
        let e = resolve_engine_version(&o, 16, Some("16.99")).unwrap_err();
        assert!(
            e.contains("16.99") && e.contains("16.2, 16.4") && !e.contains("16.6"),
            "{e}"
        );
        assert!(
            resolve_engine_version(&o, 16, Some("16.6")).is_err(),
            "deprecated versions cannot be pinned"
        );
        // The pin wins over the major.
        assert_eq!(resolve_engine_version(&o, 15, Some("16.4")).unwrap(), "16.4");
    }
}
