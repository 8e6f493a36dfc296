//! Where `plan`'s prices come from, and keeping them for the day.
//!
//! [`prices`] asks the Price List Query API ([`crate::aws::pricing`]) for
//! the stack's region and keeps what it answered in
//! `{dir}/prices/{region}.json` with the time it was read: `plan` asks at
//! most once a UTC day. A cache that is corrupt, of another version or
//! region, or from an earlier day is asked again. Only prices are written
//! there (and, after a failure, the error's code): no credential, no secret.
//!
//! When the API cannot be reached (no network, no permission, an emulator
//! without it, an empty answer), the embedded rate card of the same region
//! ([`super::card::for_region`]) is used and the notice says so; that
//! failure is remembered for [`FAILURE_RETRY`], so a machine without the API
//! does not wait on it at every `plan`. A price the API did not answer is
//! taken from the same region's card (its `source` says so). A region with
//! neither gets an empty card and a notice naming it: never another
//! region's figures.

use super::price_list;
use super::rates::{PriceId, PriceSource, RateCard};
use crate::aws::pricing::{self, Answers};
use aws_smithy_types::date_time::{DateTime, Format};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prices of one region for `plan`, and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    pub card: RateCard,
    /// For humans: "AWS Price List API, read 2026-12-07" or "embedded rate
    /// card (AWS pricing pages, read 2026-12-07)".
    pub origin: String,
    /// What an operator should know about these prices, if anything.
    pub notice: Option<String>,
}

/// How long a failed read is remembered before the API is asked again.
pub const FAILURE_RETRY: Duration = Duration::from_secs(3600);

/// The cache file's format version.
const VERSION: u32 = 1;

/// `{dir}/prices/{region}.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    region: String,
    /// When the API was asked, RFC 3339 UTC.
    read_at: String,
    /// What it answered (empty after a failure).
    prices: BTreeMap<PriceId, super::rates::Price>,
    /// Why it could not be read (an error code, a timeout), after a failure.
    failure: Option<String>,
}

/// The cache file of `region` under `dir`.
pub fn path(dir: &Path, region: &str) -> PathBuf {
    dir.join("prices").join(format!("{region}.json"))
}

/// The prices of `region`: cached today, else read from the API now, else
/// the embedded rate card.
pub async fn prices(clients: &crate::aws::Clients, region: &str, dir: &Path) -> Prices {
    let file = path(dir, region);
    let now = SystemTime::now();
    if let Some(cached) = load(&file, region).filter(|c| fresh(c, now)) {
        tracing::debug!("prices of {region} from {}", file.display());
        return from_cache(&cached);
    }
    let answers = pricing::read(&clients.pricing, price_list::queries(region), pricing::TOTAL_TIME).await;
    let read_at = rfc3339(now);
    let api_card = price_list::rate_card(region, &answers.answers, &read_at[..10]);
    let cache = if api_card.prices.is_empty() {
        CacheFile {
            version: VERSION,
            region: region.to_owned(),
            read_at,
            prices: BTreeMap::new(),
            failure: Some(failure_reason(&answers)),
        }
    } else {
        CacheFile {
            version: VERSION,
            region: region.to_owned(),
            read_at,
            prices: api_card.prices,
            failure: None,
        }
    };
    if let Err(e) = store(&file, &cache) {
        tracing::warn!("could not keep the prices in {}: {e}", file.display());
    }
    from_cache(&cache)
}

/// Why a read gave no price, in a few words: the first error's code (not
/// its message: this is written to disk), a timeout, or an empty answer.
fn failure_reason(a: &Answers) -> String {
    if let Some(e) = a.failures.first() {
        let status = e.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
        match &e.code {
            Some(code) => format!("{} failed{status}: {code}", e.operation),
            None if e.status.is_some() => format!("{} failed{status}", e.operation),
            None => format!("{} failed: no answer from the endpoint", e.operation),
        }
    } else if a.timed_out {
        format!("no answer within {} s", pricing::TOTAL_TIME.as_secs())
    } else if a.any_products() {
        "it answered no product the bill needs".to_owned()
    } else {
        "it answered no products".to_owned()
    }
}

/// The prices a cache file stands for: the API's, filled in from the
/// region's card, or the card alone after a failure.
fn from_cache(c: &CacheFile) -> Prices {
    let card = super::card::for_region(&c.region);
    match &c.failure {
        None => combine(
            RateCard {
                region: c.region.clone(),
                prices: c.prices.clone(),
            },
            card,
            &c.read_at[..c.read_at.len().min(10)],
        ),
        Some(reason) => fallback(&c.region, reason, card),
    }
}

/// The API's prices, each one it lacks taken from `card` (the same
/// region's) where the card has it.
fn combine(mut api: RateCard, card: Option<RateCard>, read: &str) -> Prices {
    let missing: Vec<PriceId> = PriceId::ALL
        .iter()
        .copied()
        .filter(|id| api.get(*id).is_none())
        .collect();
    let mut filled = Vec::new();
    if let Some(card) = card.filter(|c| c.region == api.region) {
        for id in &missing {
            if let Some(p) = card.get(*id) {
                api.prices.insert(*id, p.clone());
                filled.push(*id);
            }
        }
    }
    let unpriced: Vec<PriceId> = missing.iter().copied().filter(|id| !filled.contains(id)).collect();
    let mut notes = Vec::new();
    if !filled.is_empty() {
        notes.push(format!(
            "the Price List API did not answer {}: taken from the embedded rate card",
            names(&filled)
        ));
    }
    if !unpriced.is_empty() {
        notes.push(format!("no price for {} in {}", names(&unpriced), api.region));
    }
    Prices {
        card: api,
        origin: format!("AWS Price List API, read {read}"),
        notice: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// The embedded card of `region` after the API could not be read
/// (`reason`); an empty card and a notice naming the region without one.
fn fallback(region: &str, reason: &str, card: Option<RateCard>) -> Prices {
    match card.filter(|c| c.region == region) {
        Some(card) => Prices {
            card,
            origin: format!("embedded rate card (AWS pricing pages, read {})", super::card::READ),
            notice: Some(format!(
                "the AWS Price List API could not be read ({reason}): prices are the embedded rate card's, \
                 each with its source and date"
            )),
        },
        None => Prices {
            card: RateCard {
                region: region.to_owned(),
                prices: BTreeMap::new(),
            },
            origin: "no prices".to_owned(),
            notice: Some(format!(
                "no prices for {region}: the AWS Price List API could not be read ({reason}) and the embedded \
                 rate card covers only {}; the monthly cost is not estimated",
                super::card::REGIONS.join(", ")
            )),
        },
    }
}

fn names(ids: &[PriceId]) -> String {
    ids.iter()
        .map(|id| {
            serde_json::to_value(id)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `c` may be used at `now`: read the same UTC day (a failure:
/// within [`FAILURE_RETRY`] too), never in the future.
fn fresh(c: &CacheFile, now: SystemTime) -> bool {
    let Ok(read) = DateTime::from_str(&c.read_at, Format::DateTime) else {
        return false;
    };
    let Ok(read) = SystemTime::try_from(read) else {
        return false;
    };
    let Ok(age) = now.duration_since(read) else {
        return false;
    };
    let same_day = rfc3339(now).get(..10) == c.read_at.get(..10);
    same_day && (c.failure.is_none() || age < FAILURE_RETRY)
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::from(t).fmt(Format::DateTime).unwrap_or_default()
}

/// The cache file of `region`, if there is a readable one of this version.
fn load(file: &Path, region: &str) -> Option<CacheFile> {
    let text = std::fs::read_to_string(file).ok()?;
    match serde_json::from_str::<CacheFile>(&text) {
        Ok(c) if c.version == VERSION && c.region == region => Some(c),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("ignoring unreadable price cache {}: {e}", file.display());
            None
        }
    }
}

/// Writes `c` atomically (a temporary file renamed over the old one).
fn store(file: &Path, c: &CacheFile) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("json.tmp.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(c).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, file)
}

/// Whether a price came from the API (rather than the card).
pub fn is_live(source: &PriceSource) -> bool {
    matches!(source, PriceSource::PriceListApi { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::rates::Price;

    fn at(t: &str) -> SystemTime {
        SystemTime::try_from(DateTime::from_str(t, Format::DateTime).unwrap()).unwrap()
    }

    fn api_price(usd: f64) -> Price {
        Price {
            usd,
            unit: "Hrs".into(),
            source: PriceSource::PriceListApi {
                read: "2026-12-07".into(),
                sku: "SKU1".into(),
            },
        }
    }

    fn cached(read_at: &str, failure: Option<&str>) -> CacheFile {
        let prices = match failure {
            None => BTreeMap::from([(PriceId::NatGatewayHour, api_price(0.0591))]),
            Some(_) => BTreeMap::new(),
        };
        CacheFile {
            version: VERSION,
            region: "ap-southeast-2".into(),
            read_at: read_at.into(),
            prices,
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn prices_read_today_are_used_all_day_and_asked_again_the_next_utc_day() {
        let c = cached("2026-12-07T00:00:05Z", None);
        assert!(fresh(&c, at("2026-12-07T00:00:05Z")));
        assert!(fresh(&c, at("2026-12-07T23:59:59Z")));
        assert!(!fresh(&c, at("2026-12-08T00:00:00Z")), "a new UTC day");
        assert!(
            !fresh(&c, at("2026-12-06T23:00:00Z")),
            "read in the future: clock moved back"
        );
        assert!(
            !fresh(&cached("yesterday", None), at("2026-12-07T10:00:00Z")),
            "unreadable time"
        );
    }

    #[test]
    fn a_failure_is_remembered_for_an_hour_of_the_same_day() {
        let c = cached(
            "2026-12-07T01:00:00Z",
            Some("GetProducts failed (HTTP 400): AccessDeniedException"),
        );
        assert!(fresh(&c, at("2026-12-07T01:59:00Z")));
        assert!(!fresh(&c, at("2026-12-07T02:00:01Z")));
        let late = cached("2026-12-07T23:30:00Z", Some("x"));
        assert!(!fresh(&late, at("2026-12-08T00:10:00Z")), "not past midnight either");
    }

    #[test]
    fn what_the_api_did_not_answer_comes_from_the_same_regions_card_and_says_so() {
        let mut api = RateCard {
            region: "ap-southeast-2".into(),
            prices: BTreeMap::new(),
        };
        api.prices.insert(PriceId::NatGatewayHour, api_price(0.0591));
        let p = combine(
            api.clone(),
            crate::cost::card::for_region("ap-southeast-2"),
            "2026-12-07",
        );
        assert_eq!(p.origin, "AWS Price List API, read 2026-12-07");
        assert_eq!(
            p.card.get(PriceId::NatGatewayHour).unwrap().usd,
            0.0591,
            "the API's figure wins"
        );
        for id in PriceId::ALL.iter().filter(|id| **id != PriceId::NatGatewayHour) {
            let price = p.card.get(*id).unwrap_or_else(|| panic!("{id:?} not filled"));
            assert!(!is_live(&price.source), "{id:?} says it is the card's");
        }
        let notice = p.notice.unwrap();
        assert!(
            notice.contains("nat-gateway-gb") && notice.contains("embedded rate card"),
            "{notice}"
        );
        assert!(!notice.contains("nat-gateway-hour"), "{notice}");

        // Everything answered: no notice.
        let all = RateCard {
            region: "ap-southeast-2".into(),
            prices: PriceId::ALL.iter().map(|id| (*id, api_price(1.0))).collect(),
        };
        assert_eq!(combine(all, None, "2026-12-07").notice, None);

        // Another region's card is never used to fill in.
        let other = RateCard {
            region: "ap-southeast-4".into(),
            ..api
        };
        let p = combine(other, crate::cost::card::for_region("us-east-1"), "2026-12-07");
        assert_eq!(p.card.prices.len(), 1);
        assert!(p.notice.unwrap().contains("no price for nat-gateway-gb"));
    }

    #[test]
    fn without_the_api_a_covered_region_gets_its_card_and_another_region_a_notice_naming_it() {
        let reason = "GetProducts failed (HTTP 400): AccessDeniedException";
        let p = from_cache(&cached("2026-12-07T01:00:00Z", Some(reason)));
        assert_eq!(p.card, crate::cost::card::for_region("ap-southeast-2").unwrap());
        assert!(p.origin.starts_with("embedded rate card"), "{}", p.origin);
        assert!(p.notice.as_deref().unwrap().contains(reason));

        let p = fallback(
            "ap-southeast-4",
            reason,
            crate::cost::card::for_region("ap-southeast-4"),
        );
        assert!(p.card.prices.is_empty());
        assert_eq!(p.card.region, "ap-southeast-4");
        let notice = p.notice.unwrap();
        assert!(
            notice.contains("no prices for ap-southeast-4") && notice.contains(reason),
            "{notice}"
        );
        // A card of another region is not taken for it.
        let p = fallback("ap-southeast-4", reason, crate::cost::card::for_region("us-east-1"));
        assert!(p.card.prices.is_empty());
    }

    #[test]
    fn a_corrupt_or_foreign_cache_file_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "ap-southeast-2");
        assert_eq!(load(&file, "ap-southeast-2"), None, "none yet");
        let c = cached("2026-12-07T01:00:00Z", None);
        store(&file, &c).unwrap();
        assert_eq!(load(&file, "ap-southeast-2"), Some(c.clone()));
        assert_eq!(load(&file, "eu-west-1"), None, "another region's");
        let old = CacheFile { version: 0, ..c };
        store(&file, &old).unwrap();
        assert_eq!(load(&file, "ap-southeast-2"), None, "another version");
        std::fs::write(&file, "{\"version\": 1, \"region\": ").unwrap();
        assert_eq!(load(&file, "ap-southeast-2"), None, "cut short");
    }

    #[tokio::test]
    async fn todays_cache_is_used_without_asking_and_an_unreadable_one_is_asked_again() {
        // Clients with no credentials: any call to the API fails at once.
        let clients = crate::testing::offline_clients();
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "ap-southeast-2");
        let today = cached(&rfc3339(SystemTime::now()), None);
        store(&file, &today).unwrap();
        let p = prices(&clients, "ap-southeast-2", dir.path()).await;
        assert!(p.origin.starts_with("AWS Price List API, read "), "{}", p.origin);
        assert_eq!(p.card.get(PriceId::NatGatewayHour).unwrap().usd, 0.0591);

        std::fs::write(&file, "not json").unwrap();
        let p = prices(&clients, "ap-southeast-2", dir.path()).await;
        assert!(p.origin.starts_with("embedded rate card"), "{}", p.origin);
        assert!(p.notice.unwrap().contains("could not be read (GetProducts failed"));
        // The failure is kept (no message text, no credential) for the next plan.
        let kept = load(&file, "ap-southeast-2").expect("rewritten");
        assert!(kept.prices.is_empty());
        assert!(kept.failure.unwrap().starts_with("GetProducts failed"));
        assert!(!std::fs::read_to_string(&file).unwrap().contains("testing"));
    }
}
