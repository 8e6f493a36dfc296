//! The bill: what the stack of this run costs a month, line by line, at the
//! minimum and at the maximum task count. Pure arithmetic over the
//! settings, the [`Usage`] assumptions and a [`RateCard`]; no I/O.
//!
//! Resources are counted from the steps of this run ([`steps::stack`], by
//! [`Step::kind`](crate::steps::Step::kind)), so `--no-edge`, `--no-waf`,
//! `--kms-key-arn` and the like change the bill exactly as they change
//! what `up` creates. A price the card lacks leaves its line in
//! [`Bill::unpriced`], named with its quantity, never guessed.
//!
//! The lines themselves are in `lines` and `services`; [`render`](crate::cost::render) prints a bill.

mod builder;
mod lines;
mod services;

use super::rates::{Price, PriceId, RateCard};
use super::usage::{Assumption, Usage};
use crate::config::Settings;
use crate::steps;
use serde::Serialize;

/// Hours in a month: 365 × 24 / 12 = 730, the convention of the AWS
/// Pricing Calculator ("the calculator assumes 730 hours in a month") and
/// of the hourly prices on AWS's pricing pages.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Seconds in [`HOURS_PER_MONTH`].
pub const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;

/// Fixed costs run whatever the traffic (hours, monthly items, capacity at
/// a task count); usage costs follow the [`Usage`] assumptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    Fixed,
    Usage,
}

/// A value at the minimum and at the maximum task count (Aurora at its
/// minimum and maximum capacity alongside).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span<T> {
    pub min: T,
    pub max: T,
}

impl<T: Clone> Span<T> {
    /// The same value in both columns.
    pub fn both(v: T) -> Self {
        Span { min: v.clone(), max: v }
    }
}

/// A free allowance applied to a line, and where it is stated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allowance {
    pub what: String,
    pub source: String,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub group: Group,
    pub item: String,
    pub price_id: PriceId,
    /// Billable quantity in the price's unit (after any free allowance).
    pub quantity: Span<f64>,
    /// How the quantity was derived, per column.
    pub how: Span<String>,
    pub free: Option<Allowance>,
    pub unit_price: Price,
    /// Dollars a month.
    pub usd: Span<f64>,
}

impl Line {
    /// True when the line is the same at minimum and maximum tasks.
    pub fn flat(&self) -> bool {
        self.usd.min == self.usd.max
    }
}

/// A line the bill could not price: its quantity is known, its price is not
/// in the card (or has no place in it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unpriced {
    pub item: String,
    /// The price it needs; `None` when the rate card has no such price.
    pub price_id: Option<PriceId>,
    pub how: Span<String>,
}

/// A cost the stack incurs that this bill does not model at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Omission {
    pub item: &'static str,
    pub why: &'static str,
}

/// The monthly bill of one run's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bill {
    pub region: String,
    pub hours_per_month: f64,
    pub tasks: Span<i32>,
    pub aurora_acu: Span<f64>,
    pub lines: Vec<Line>,
    pub fixed: Span<f64>,
    pub usage: Span<f64>,
    /// Fixed plus usage: every priced line. Unpriced lines are not in it.
    pub total: Span<f64>,
    pub unpriced: Vec<Unpriced>,
    pub not_included: Vec<Omission>,
    pub assumptions: Vec<Assumption>,
    /// What the free allowances assume, and the like.
    pub notes: Vec<String>,
}

/// How `tasks` tasks split between FARGATE and FARGATE_SPOT under the
/// service's capacity-provider strategy ([`steps::ecs::capacity_strategy`]:
/// FARGATE base 1 weight `100 - spot`, FARGATE_SPOT weight `spot`): the
/// first task on FARGATE, the rest split by weight, the Spot share rounded
/// to the nearest task with a half going to FARGATE (the dearer, so the
/// estimate errs high). Returns (on-demand, Spot).
pub fn fargate_split(tasks: u32, spot_percent: u32) -> (u32, u32) {
    if tasks == 0 {
        return (0, 0);
    }
    let rest = tasks - 1;
    let spot = spot_percent.min(100);
    // round(rest × spot / 100) with .5 down: (2·rest·spot + 99) / 200.
    let on_spot = (2 * rest * spot + 99) / 200;
    (tasks - on_spot, on_spot)
}

/// The load balancer capacity units an hour at `rps` requests a second
/// reaching it with `response_kb` KiB responses and `extra_rules` rule
/// evaluations per request beyond the 10 free ones: the largest of the
/// four dimensions (Elastic Load Balancing pricing: an LCU is 25 new
/// connections a second, 3,000 active connections a minute, 1 GB an hour
/// processed for EC2/container/IP targets, 1,000 rule evaluations a
/// second). Assumes a new connection per request lasting a second (no
/// keep-alive: an upper bound), and counts response bytes only.
pub fn lcu(rps: f64, response_kb: f64, extra_rules: f64) -> LcuDims {
    LcuDims {
        new_connections: rps / 25.0,
        active_connections: rps / 3000.0,
        processed_gb: rps * 3600.0 * response_kb / (1024.0 * 1024.0),
        rule_evaluations: rps * extra_rules / 1000.0,
    }
}

/// The four LCU dimensions, each in LCUs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LcuDims {
    pub new_connections: f64,
    pub active_connections: f64,
    pub processed_gb: f64,
    pub rule_evaluations: f64,
}

impl LcuDims {
    pub fn max(&self) -> f64 {
        self.new_connections
            .max(self.active_connections)
            .max(self.processed_gb)
            .max(self.rule_evaluations)
    }

    /// The dimension that sets the LCU count.
    pub fn binding(&self) -> &'static str {
        let m = self.max();
        if m == self.new_connections {
            "new connections"
        } else if m == self.processed_gb {
            "processed bytes"
        } else if m == self.rule_evaluations {
            "rule evaluations"
        } else {
            "active connections"
        }
    }
}

/// What the steps of this run contain, counted by kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub nat_gateways: usize,
    pub elastic_ips: usize,
    pub load_balancers: usize,
    pub listener_rules: usize,
    pub db_instances: usize,
    pub alarms: usize,
    pub scaling_policies: usize,
    pub dashboards: usize,
    pub secrets: usize,
    pub kms_keys: usize,
    pub log_groups: usize,
    pub repositories: usize,
    pub tables: usize,
    pub distributions: usize,
    pub web_acls: usize,
    pub edge_metrics: usize,
    pub log_buckets: usize,
}

impl Counts {
    pub fn of(settings: &Settings) -> Self {
        let mut c = Counts::default();
        for step in steps::stack(settings) {
            let slot = match step.kind() {
                "nat-gateway" => &mut c.nat_gateways,
                "elastic-ip" => &mut c.elastic_ips,
                "load-balancer" => &mut c.load_balancers,
                "listener-rule" => &mut c.listener_rules,
                "db-instance" => &mut c.db_instances,
                "cloudwatch-alarm" => &mut c.alarms,
                "scaling-policy" => &mut c.scaling_policies,
                "dashboard" => &mut c.dashboards,
                "secret" => &mut c.secrets,
                "kms-key" => &mut c.kms_keys,
                "log-group" => &mut c.log_groups,
                "ecr-repository" => &mut c.repositories,
                "dynamodb-table" => &mut c.tables,
                "distribution" => &mut c.distributions,
                "web-acl" => &mut c.web_acls,
                "edge-metrics" => &mut c.edge_metrics,
                "s3-bucket" => &mut c.log_buckets,
                _ => continue,
            };
            *slot += 1;
        }
        c
    }
}

/// The bill of `settings` under `usage`, priced with `card`.
pub fn bill(settings: &Settings, usage: &Usage, card: &RateCard) -> Bill {
    let counts = Counts::of(settings);
    let mut b = builder::Builder::new(card);
    lines::add_lines(&mut b, settings, usage, &counts);
    let (lines, unpriced) = b.finish();
    let sum = |g: Option<Group>| {
        let pick = |l: &&Line| g.is_none_or(|g| l.group == g);
        Span {
            min: lines.iter().filter(pick).map(|l| l.usd.min).sum(),
            max: lines.iter().filter(pick).map(|l| l.usd.max).sum(),
        }
    };
    Bill {
        region: card.region.clone(),
        hours_per_month: HOURS_PER_MONTH,
        tasks: Span {
            min: steps::scaling::MIN_TASKS,
            max: steps::scaling::MAX_TASKS,
        },
        aurora_acu: Span {
            min: settings.db_min_acu,
            max: settings.db_max_acu,
        },
        fixed: sum(Some(Group::Fixed)),
        usage: sum(Some(Group::Usage)),
        total: sum(None),
        lines,
        unpriced,
        not_included: services::not_included(settings),
        assumptions: usage.assumptions(),
        notes: vec![
            format!(
                "{HOURS_PER_MONTH} hours a month (365 × 24 / 12, the AWS Pricing Calculator's convention); \
                 minimum = {} tasks and Aurora at {} ACU, maximum = {} tasks and Aurora at {} ACU",
                steps::scaling::MIN_TASKS,
                settings.db_min_acu,
                steps::scaling::MAX_TASKS,
                settings.db_max_acu
            ),
            "free allowances are account-wide: they are applied as if nothing else in the account used them".into(),
            "USD, before tax; on-demand rates, without Savings Plans, reserved capacity or credits".into(),
        ],
    }
}

/// What a setting change does to the bill: `after - before`, a month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delta {
    pub min: f64,
    pub max: f64,
}

/// The monthly difference from `before` to `after`, at minimum and at
/// maximum tasks (negative: cheaper).
pub fn difference(before: &Bill, after: &Bill) -> Delta {
    Delta {
        min: after.total.min - before.total.min,
        max: after.total.max - before.total.max,
    }
}

impl Delta {
    /// `−$12.34/month at minimum tasks` (and the maximum when it differs):
    /// what `plan` prints beside a changed setting.
    pub fn describe(&self) -> String {
        let at_min = format!("{}/month at minimum tasks", signed_usd(self.min));
        if cents(self.min) == cents(self.max) {
            at_min
        } else {
            format!("{at_min}, {} at maximum", signed_usd(self.max))
        }
    }
}

fn cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

/// Dollars with two decimals: `$1,234.56`.
pub fn usd(v: f64) -> String {
    let c = cents(v).abs();
    let whole = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if cents(v) < 0 { "−" } else { "" };
    format!("{sign}${grouped}.{:02}", c % 100)
}

/// Dollars with a sign: `+$1.20`, `−$3.40`, `±$0.00`.
pub fn signed_usd(v: f64) -> String {
    match cents(v) {
        0 => "±$0.00".into(),
        c if c > 0 => format!("+{}", usd(v)),
        _ => usd(v),
    }
}

#[cfg(test)]
mod tests;
