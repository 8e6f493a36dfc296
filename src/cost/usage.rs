//! What the bill assumes about traffic and data: [`Usage`], its documented
//! defaults, and `--traffic key=value[,key=value…]` to set any of them.
//! Every assumption is printed with the bill ([`Usage::assumptions`]), so
//! no figure rests on a number the operator cannot see.

use crate::config::{flag_err, InputError};
use serde::Serialize;

/// The usage a month of the stack is priced for. Rates are averages over
/// the month: the bill multiplies them by the seconds in
/// [`super::bill::HOURS_PER_MONTH`] hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Requests per second to the API, averaged over the month (what
    /// viewers send: to CloudFront with the edge, else to the load balancer).
    pub rps: f64,
    /// Average response size, KiB (what CloudFront sends viewers).
    pub response_kb: f64,
    /// Share of all requests CloudFront answers from its cache (0 to 1; only
    /// catalog reads can be cached, so at most `1 - writes`).
    pub cache_hit: f64,
    /// Share of requests that are writes carrying an `Idempotency-Key`
    /// (0 to 1): each one is a claim and a stored answer in DynamoDB.
    pub writes: f64,
    /// GB of logs ingested per month, all of the stack's log groups
    /// together (app, collector, database, VPC flow log, edge access log).
    pub log_gb: f64,
    /// GB stored in Aurora (the catalog and its indexes).
    pub db_gb: f64,
    /// Aurora I/O operations per second, averaged (reads that miss the
    /// buffer cache, and writes to the cluster volume).
    pub db_io: f64,
    /// GB of container images kept in the stack's ECR repository.
    pub ecr_gb: f64,
    /// GB through the NAT gateways per month (image pulls from ECR, logs,
    /// traces and secrets going to AWS APIs from the private subnets; S3 and
    /// DynamoDB go through gateway endpoints and are not counted).
    pub nat_gb: f64,
    /// Share of the requests reaching the tasks that become X-Ray traces.
    pub traced: f64,
}

impl Default for Usage {
    /// A small business-critical catalog API: 10 requests a second on
    /// average (26 million a month), mostly cached catalog reads, a few
    /// keyed writes. `KEYS` says why each default is what it is.
    fn default() -> Self {
        Usage {
            rps: 10.0,
            response_kb: 4.0,
            cache_hit: 0.6,
            writes: 0.02,
            log_gb: 10.0,
            db_gb: 10.0,
            db_io: 10.0,
            ecr_gb: 2.0,
            nat_gb: 20.0,
            traced: 1.0,
        }
    }
}

/// One assumption, for printing and for `plan --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumption {
    /// The `--traffic` key that sets it.
    pub key: &'static str,
    pub value: f64,
    pub unit: &'static str,
    /// What it means, its default and why the default is what it is.
    pub meaning: String,
}

/// A `--traffic` key: its unit, its meaning, its bounds and the field.
struct Key {
    name: &'static str,
    unit: &'static str,
    /// What it is.
    what: &'static str,
    /// Why its default (in [`Usage::default`]) is what it is, if it needs
    /// saying.
    why: &'static str,
    /// Inclusive upper bound (the lower bound is 0 for every key).
    max: f64,
    get: fn(&Usage) -> f64,
    set: fn(&mut Usage, f64),
}

const KEYS: &[Key] = &[
    Key {
        name: "rps",
        unit: "requests/s",
        what: "requests per second to the API, averaged over the month",
        why: "about 26 million a month",
        max: 1_000_000.0,
        get: |u| u.rps,
        set: |u, v| u.rps = v,
    },
    Key {
        name: "response-kb",
        unit: "KiB",
        what: "average response size",
        why: "a page of catalog JSON",
        max: 102_400.0,
        get: |u| u.response_kb,
        set: |u, v| u.response_kb = v,
    },
    Key {
        name: "cache-hit",
        unit: "share",
        what: "share of requests CloudFront answers from its cache",
        why: "catalog reads are cacheable, writes and /health never are; ignored with --no-edge",
        max: 1.0,
        get: |u| u.cache_hit,
        set: |u, v| u.cache_hit = v,
    },
    Key {
        name: "writes",
        unit: "share",
        what: "share of requests that are writes with an Idempotency-Key",
        why: "",
        max: 1.0,
        get: |u| u.writes,
        set: |u, v| u.writes = v,
    },
    Key {
        name: "log-gb",
        unit: "GB/month",
        what: "logs ingested, all log groups together",
        why: "",
        max: 1_000_000.0,
        get: |u| u.log_gb,
        set: |u, v| u.log_gb = v,
    },
    Key {
        name: "db-gb",
        unit: "GB",
        what: "data stored in Aurora, billed per GB-month consumed",
        why: "a catalog is small",
        max: 131_072.0,
        get: |u| u.db_gb,
        set: |u, v| u.db_gb = v,
    },
    Key {
        name: "db-io",
        unit: "I/O per s",
        what: "Aurora I/O operations per second, averaged",
        why: "a catalog that fits in memory mostly writes",
        max: 10_000_000.0,
        get: |u| u.db_io,
        set: |u, v| u.db_io = v,
    },
    Key {
        name: "ecr-gb",
        unit: "GB",
        what: "container images kept in the repository",
        why: "about ten releases of the API image",
        max: 100_000.0,
        get: |u| u.ecr_gb,
        set: |u, v| u.ecr_gb = v,
    },
    Key {
        name: "nat-gb",
        unit: "GB/month",
        what: "data through the NAT gateways: image pulls, logs, traces and secrets sent to AWS APIs",
        why: "",
        max: 10_000_000.0,
        get: |u| u.nat_gb,
        set: |u, v| u.nat_gb = v,
    },
    Key {
        name: "traced",
        unit: "share",
        what: "share of requests reaching the tasks that become X-Ray traces",
        why: "the app's OpenTelemetry SDK samples every request, OTEL_TRACES_SAMPLER being unset",
        max: 1.0,
        get: |u| u.traced,
        set: |u, v| u.traced = v,
    },
];

const HINT: &str = "--traffic KEY=VALUE[,KEY=VALUE…] with keys rps, response-kb, cache-hit (0-1), writes (0-1), \
                    log-gb, db-gb, db-io, ecr-gb, nat-gb, traced (0-1), e.g. --traffic rps=50,cache-hit=0.8";

impl Usage {
    /// Every assumption with its value, in a fixed order.
    pub fn assumptions(&self) -> Vec<Assumption> {
        let defaults = Usage::default();
        KEYS.iter()
            .map(|k| Assumption {
                key: k.name,
                value: (k.get)(self),
                unit: k.unit,
                meaning: match k.why {
                    "" => format!("{} (default {})", k.what, (k.get)(&defaults)),
                    why => format!("{} (default {}: {why})", k.what, (k.get)(&defaults)),
                },
            })
            .collect()
    }

    /// The assumptions as `--traffic` would set them: `rps=10,response-kb=4,…`.
    pub fn to_flag(&self) -> String {
        self.assumptions()
            .iter()
            .map(|a| format!("{}={}", a.key, a.value))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Parses `--traffic key=value[,key=value…]` over the defaults: keys not
/// given keep their default. Bad input names the pair and lists the keys.
pub fn parse_traffic(s: &str) -> Result<Usage, InputError> {
    parse_traffic_over(Usage::default(), s)
}

/// [`parse_traffic`] over `base` (e.g. assumptions already recorded).
pub fn parse_traffic_over(base: Usage, s: &str) -> Result<Usage, InputError> {
    let mut usage = base;
    let mut seen: Vec<&str> = Vec::new();
    if s.trim().is_empty() {
        return Err(flag_err("traffic", s, "no KEY=VALUE given", HINT));
    }
    for pair in s.split(',') {
        let pair = pair.trim();
        let Some((key, value)) = pair.split_once('=') else {
            return Err(flag_err("traffic", pair, "not KEY=VALUE", HINT));
        };
        let (key, value) = (key.trim(), value.trim());
        let Some(k) = KEYS.iter().find(|k| k.name == key) else {
            return Err(flag_err("traffic", pair, format!("unknown key `{key}`"), HINT));
        };
        if seen.contains(&k.name) {
            return Err(flag_err("traffic", pair, format!("`{key}` is given twice"), HINT));
        }
        seen.push(k.name);
        let v: f64 = value
            .parse()
            .map_err(|_| flag_err("traffic", pair, format!("`{value}` is not a number"), HINT))?;
        if !v.is_finite() || v < 0.0 || v > k.max {
            return Err(flag_err(
                "traffic",
                pair,
                format!("`{key}` must be from 0 to {} ({})", k.max, k.unit),
                HINT,
            ));
        }
        (k.set)(&mut usage, v);
    }
    if usage.cache_hit + usage.writes > 1.0 + 1e-9 {
        return Err(flag_err(
            "traffic",
            s,
            format!(
                "cache-hit {} and writes {} add up to more than 1: writes always reach the tasks",
                usage.cache_hit, usage.writes
            ),
            HINT,
        ));
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_listed_in_key_order_and_round_trip_through_the_flag() {
        let d = Usage::default();
        let keys: Vec<&str> = d.assumptions().iter().map(|a| a.key).collect();
        assert_eq!(
            keys,
            [
                "rps",
                "response-kb",
                "cache-hit",
                "writes",
                "log-gb",
                "db-gb",
                "db-io",
                "ecr-gb",
                "nat-gb",
                "traced"
            ]
        );
        assert_eq!(parse_traffic(&d.to_flag()).unwrap(), d);
        for a in d.assumptions() {
            assert!(!a.meaning.is_empty() && !a.unit.is_empty(), "{}", a.key);
        }
    }

    #[test]
    fn given_keys_replace_defaults_and_the_rest_stay() {
        let u = parse_traffic("rps=50, cache-hit=0.8,log-gb=2.5").unwrap();
        assert_eq!(u.rps, 50.0);
        assert_eq!(u.cache_hit, 0.8);
        assert_eq!(u.log_gb, 2.5);
        let d = Usage::default();
        assert_eq!((u.db_gb, u.nat_gb, u.writes), (d.db_gb, d.nat_gb, d.writes));
        let base = Usage {
            db_gb: 99.0,
            ..Usage::default()
        };
        assert_eq!(parse_traffic_over(base, "rps=1").unwrap().db_gb, 99.0);
    }

    #[test]
    fn bad_input_names_the_pair_and_lists_the_keys() {
        for (input, says) in [
            ("", "no KEY=VALUE"),
            ("rps", "not KEY=VALUE"),
            ("rps=ten", "`ten` is not a number"),
            ("qps=10", "unknown key `qps`"),
            ("rps=-1", "`rps` must be from 0"),
            ("cache-hit=1.5", "`cache-hit` must be from 0 to 1"),
            ("rps=NaN", "`rps` must be from 0"),
            ("rps=inf", "`rps` must be from 0"),
            ("rps=1,rps=2", "`rps` is given twice"),
            ("cache-hit=0.9,writes=0.2", "add up to more than 1"),
        ] {
            let e = parse_traffic(input).unwrap_err().to_string();
            assert!(e.contains("--traffic") && e.contains(says), "{input}: {e}");
            assert!(
                e.contains("hint:") && e.contains("rps, response-kb, cache-hit"),
                "{input}: {e}"
            );
        }
        let e = parse_traffic("rps=10,qps=3").unwrap_err().to_string();
        assert!(e.contains("\"qps=3\""), "the pair is named: {e}");
    }
}
