//! The bill's lines for the edge, observability and storage, with the
//! free allowances they use and the counts they need (alarm metrics,
//! dashboard metrics, web ACL rules); and what the bill leaves out.

use super::builder::{free, n, origin_rps, Builder};
use super::{Counts, Group, Omission, HOURS_PER_MONTH, SECONDS_PER_MONTH};
use crate::config::Settings;
use crate::cost::rates::PriceId;
use crate::cost::usage::Usage;
use crate::steps;

const CLOUDWATCH_FREE: &str =
    "https://aws.amazon.com/cloudwatch/pricing/ (free tier; read on the stored copy, 2026-12-07)";
const CLOUDFRONT_FREE: &str =
    "https://aws.amazon.com/cloudfront/pricing/ (always free tier; read on the stored copy, 2026-12-07)";
const DYNAMODB_FREE: &str =
    "https://aws.amazon.com/dynamodb/pricing/ (always free: 25 GB of storage; not confirmed in a stored copy)";
const XRAY_FREE: &str = "https://aws.amazon.com/xray/pricing/ (the first 100,000 traces recorded a month are free; \
                         not confirmed in a stored copy)";

/// CloudWatch's free alarm metrics, dashboards and GB of logs a month.
pub const FREE_ALARM_METRICS: f64 = 10.0;
pub const FREE_DASHBOARDS: f64 = 3.0;
pub const FREE_LOG_GB: f64 = 5.0;
/// CloudFront's always-free requests and GB out a month (1 TB).
pub const FREE_CLOUDFRONT_REQUESTS: f64 = 10_000_000.0;
pub const FREE_CLOUDFRONT_GB: f64 = 1024.0;
pub const FREE_DYNAMODB_GB: f64 = 25.0;
pub const FREE_TRACES: f64 = 100_000.0;
/// CloudFront's additional metrics for a distribution (cache hit rate,
/// origin latency, 401/403/404/502/503/504 error rates), billed as
/// CloudWatch custom metrics (CloudFront Developer Guide, additional
/// CloudFront distribution metrics).
pub const EDGE_METRICS: f64 = 8.0;
/// The alarms a target-tracking scaling policy creates and manages (one
/// to scale out, one to scale in), billed like any alarm.
pub const ALARMS_PER_TRACKING_POLICY: f64 = 2.0;
/// Write request units per keyed write: the claim (`PutItem`) and the
/// stored answer (`UpdateItem`), each item assumed under 1 KB.
pub const WRU_PER_KEYED_WRITE: f64 = 2.0;
/// Days an idempotency item stays in the table: 24 h, and TTL deletes it
/// lazily (up to days later; counted as one more day).
const ITEM_DAYS: f64 = 2.0;

/// Alarm metrics of the stack's own alarms: one per metric an alarm
/// watches (a metric-math alarm counts each of its metrics).
pub fn alarm_metrics() -> usize {
    use steps::observability::{alarm_spec, Source, ALARMS};
    let dims = blank_dims();
    ALARMS
        .iter()
        .filter_map(|p| alarm_spec(p, &dims))
        .map(|a| match a.source {
            Source::Metric(_) => 1,
            Source::Math { metrics, .. } => metrics.len(),
        })
        .sum()
}

/// Metrics the edge's row of the dashboard shows: requests, cache hit
/// rate, the 4xx and 5xx error rates, and the WAF's blocked and allowed
/// requests (`observability::dashboard`'s edge widgets).
pub const EDGE_ROW_METRICS: usize = 4;
pub const WAF_ROW_METRICS: usize = 2;

/// Metrics the stack's dashboard shows (its free tier covers dashboards
/// of up to 50).
pub fn dashboard_metrics(settings: &Settings) -> usize {
    let body = steps::observability::dashboard_body(&blank_dims());
    let base: usize = body["widgets"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|w| w["properties"]["metrics"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    let edge = if settings.edge { EDGE_ROW_METRICS } else { 0 };
    let waf = if settings.waf { WAF_ROW_METRICS } else { 0 };
    base + edge + waf
}

fn blank_dims() -> steps::observability::Dims {
    steps::observability::Dims {
        region: String::new(),
        cluster: String::new(),
        service: String::new(),
        lb: String::new(),
        tg_blue: String::new(),
        tg_green: String::new(),
        db_cluster: String::new(),
        table: String::new(),
        edge: None,
    }
}

/// Rules of the web ACL: the managed rule groups and the rate limit.
pub fn waf_rules(settings: &Settings) -> usize {
    steps::edge::wanted_rules("bill", settings.rate_limit)
        .map(|r| r.len())
        .unwrap_or(steps::edge::RULE_GROUPS.len() + 1)
}

pub(super) fn edge(b: &mut Builder, settings: &Settings, usage: &Usage, c: &Counts) {
    let requests = usage.rps * SECONDS_PER_MONTH;
    let billable = (requests - FREE_CLOUDFRONT_REQUESTS).max(0.0);
    b.flat(
        Group::Usage,
        "CloudFront requests",
        PriceId::CloudFrontHttpsRequests10k,
        billable / 10_000.0,
        format!(
            "{} HTTPS requests ({} per s) − {} free = {} × 10k",
            n(requests),
            n(usage.rps),
            n(FREE_CLOUDFRONT_REQUESTS),
            n(billable / 10_000.0)
        ),
        free(
            format!("{} requests a month", n(FREE_CLOUDFRONT_REQUESTS)),
            CLOUDFRONT_FREE,
        ),
    );
    let gb = requests * usage.response_kb / (1024.0 * 1024.0);
    b.flat(
        Group::Usage,
        "CloudFront data out",
        PriceId::CloudFrontDataOutGb,
        (gb - FREE_CLOUDFRONT_GB).max(0.0),
        format!(
            "{} GB ({} KiB answers) − {} GB free (1 TB), first-tier rate",
            n(gb),
            n(usage.response_kb),
            n(FREE_CLOUDFRONT_GB)
        ),
        free("1 TB out a month".into(), CLOUDFRONT_FREE),
    );
    if c.web_acls > 0 {
        let acls = c.web_acls as f64;
        let rules = waf_rules(settings);
        b.flat(
            Group::Fixed,
            "WAF web ACL",
            PriceId::WafWebAclMonth,
            acls,
            format!("{} web ACL × 1 month", c.web_acls),
            None,
        );
        b.flat(
            Group::Fixed,
            "WAF rules",
            PriceId::WafRuleMonth,
            acls * rules as f64,
            format!(
                "{rules} rules ({} AWS managed rule groups + the per-IP rate limit) × 1 month",
                steps::edge::RULE_GROUPS.len()
            ),
            None,
        );
        b.flat(
            Group::Usage,
            "WAF requests",
            PriceId::WafRequestsMillion,
            requests / 1e6,
            format!("{} million requests inspected", n(requests / 1e6)),
            None,
        );
    }
    if c.edge_metrics > 0 {
        b.flat(
            Group::Fixed,
            "CloudFront additional metrics",
            PriceId::MetricMonth,
            EDGE_METRICS * c.edge_metrics as f64,
            format!(
                "{} metrics (cache hit rate, origin latency, 6 error rates) × 1 month, billed in us-east-1 and \
                 priced here at this card's metric rate; no free metrics left (Container Insights uses them)",
                n(EDGE_METRICS)
            ),
            None,
        );
    }
}

pub(super) fn observability(b: &mut Builder, settings: &Settings, usage: &Usage, c: &Counts) {
    let own = alarm_metrics() as f64;
    let tracking = ALARMS_PER_TRACKING_POLICY * c.scaling_policies as f64;
    let metrics = own + tracking;
    b.flat(
        Group::Fixed,
        "CloudWatch alarms",
        PriceId::AlarmMonth,
        (metrics - FREE_ALARM_METRICS).max(0.0),
        format!(
            "{} alarms on {} metrics + {} of the CPU target-tracking policy = {} alarm metrics − {} free",
            c.alarms,
            n(own),
            n(tracking),
            n(metrics),
            n(FREE_ALARM_METRICS)
        ),
        free(
            format!("{} standard-resolution alarm metrics a month", n(FREE_ALARM_METRICS)),
            CLOUDWATCH_FREE,
        ),
    );
    let shown = dashboard_metrics(settings);
    let free_dashboards = if shown <= 50 { FREE_DASHBOARDS } else { 0.0 };
    b.flat(
        Group::Fixed,
        "CloudWatch dashboard",
        PriceId::DashboardMonth,
        (c.dashboards as f64 - free_dashboards).max(0.0),
        format!(
            "{} dashboard of {shown} metrics − {} free (of up to 50 metrics)",
            c.dashboards,
            n(free_dashboards)
        ),
        free("3 dashboards of up to 50 metrics a month".into(), CLOUDWATCH_FREE),
    );
    // The 5 GB free cover ingestion, archive storage and Logs Insights
    // scans together: ingestion first, what is left to storage.
    let ingest = (usage.log_gb - FREE_LOG_GB).max(0.0);
    let left = (FREE_LOG_GB - usage.log_gb).max(0.0);
    b.flat(
        Group::Usage,
        "Log ingestion",
        PriceId::LogsIngestGb,
        ingest,
        format!(
            "{} GB into {} log groups (log-gb) − {} GB free",
            n(usage.log_gb),
            c.log_groups,
            n(FREE_LOG_GB)
        ),
        free(
            "5 GB of log data a month (ingestion, storage and scans together)".into(),
            CLOUDWATCH_FREE,
        ),
    );
    let days_per_month = HOURS_PER_MONTH / 24.0;
    let stored = usage.log_gb * f64::from(settings.log_retention_days) / days_per_month;
    b.flat(
        Group::Usage,
        "Log storage",
        PriceId::LogsStorageGbMonth,
        (stored - left).max(0.0),
        format!(
            "{} GB a month kept {} days = {} GB stored once the retention is full (counted uncompressed: an upper \
             bound){}",
            n(usage.log_gb),
            settings.log_retention_days,
            n(stored),
            if left > 0.0 {
                format!(" − {} GB free left", n(left))
            } else {
                String::new()
            }
        ),
        None,
    );
    let secrets_how = if settings.db_secret_arn.is_some() {
        format!(
            "{} secrets (the connection secret, RDS's managed master secret; your --db-secret-arn secret exists \
             without the stack and is not counted) × 1 month",
            c.secrets
        )
    } else {
        format!(
            "{} secrets (the connection secret, RDS's managed master secret) × 1 month",
            c.secrets
        )
    };
    b.flat(
        Group::Fixed,
        "Secrets Manager secrets",
        PriceId::SecretMonth,
        c.secrets as f64,
        secrets_how,
        None,
    );
    let kms_how = if c.kms_keys == 0 {
        "no key of the stack's own: --kms-key-arn names yours, billed without the stack".to_string()
    } else {
        format!(
            "{} customer managed key (alarm topic, logs, database, table) × 1 month",
            c.kms_keys
        )
    };
    b.flat(
        Group::Fixed,
        "KMS keys",
        PriceId::KmsKeyMonth,
        c.kms_keys as f64,
        kms_how,
        None,
    );
    // The tasks' traces: the app's OpenTelemetry SDK samples every request
    // but /health (FlaskInstrumentor excludes it).
    let traces = origin_rps(settings, usage) * SECONDS_PER_MONTH * usage.traced;
    let billable = (traces - FREE_TRACES).max(0.0);
    b.flat(
        Group::Usage,
        "X-Ray traces",
        PriceId::XrayTracesMillion,
        billable / 1e6,
        format!(
            "{} requests/s reach the tasks × {} traced (traced) = {} traces − {} free",
            n(origin_rps(settings, usage)),
            n(usage.traced),
            n(traces),
            n(FREE_TRACES)
        ),
        free("100,000 traces recorded a month".into(), XRAY_FREE),
    );
}

pub(super) fn storage(b: &mut Builder, _settings: &Settings, usage: &Usage, c: &Counts) {
    b.flat(
        Group::Usage,
        "ECR storage",
        PriceId::EcrStorageGbMonth,
        usage.ecr_gb * c.repositories as f64,
        format!(
            "{} GB of images (ecr-gb) × {} repository",
            n(usage.ecr_gb),
            c.repositories
        ),
        None,
    );
    if c.tables == 0 {
        return;
    }
    let keyed = usage.rps * usage.writes * SECONDS_PER_MONTH;
    let wru = keyed * WRU_PER_KEYED_WRITE;
    b.flat(
        Group::Usage,
        "DynamoDB writes",
        PriceId::DynamoWriteMillion,
        wru / 1e6,
        format!(
            "{} keyed writes ({} per s × {} writes) × {} WRU (claim + stored answer) = {} million; reads only on \
             a conflicting retry, none assumed",
            n(keyed),
            n(usage.rps),
            n(usage.writes),
            n(WRU_PER_KEYED_WRITE),
            n(wru / 1e6)
        ),
        None,
    );
    let gb = usage.rps * usage.writes * 86_400.0 * ITEM_DAYS / (1024.0 * 1024.0);
    b.flat(
        Group::Usage,
        "DynamoDB storage",
        PriceId::DynamoStorageGbMonth,
        (gb - FREE_DYNAMODB_GB).max(0.0),
        format!(
            "{} GB ({} days of 1 KiB items) − {} GB free",
            n(gb),
            n(ITEM_DAYS),
            n(FREE_DYNAMODB_GB)
        ),
        free("25 GB of table storage".into(), DYNAMODB_FREE),
    );
    b.flat(
        Group::Usage,
        "DynamoDB point-in-time recovery",
        PriceId::DynamoPitrGbMonth,
        gb,
        format!("{} GB of table (no free allowance)", n(gb)),
        None,
    );
}

/// Costs the stack incurs that the bill does not price.
pub(super) fn not_included(settings: &Settings) -> Vec<Omission> {
    let mut v = vec![
        Omission {
            item: "Container Insights (enhanced observability, on the ECS cluster)",
            why: "billed per metric for the cluster, service, tasks and containers, and per performance log \
                  event: not modeled (count its log events in log-gb)",
        },
        Omission {
            item: "Data transfer between Availability Zones",
            why: "load balancer to tasks, tasks to the Aurora writer, across zones: not priced",
        },
        Omission {
            item: "The load balancer's access-log bucket (S3)",
            why: "storage and requests: not priced",
        },
        Omission {
            item: "Aurora backups",
            why: "7 days of backups are free up to the cluster's storage; beyond it not priced",
        },
        Omission {
            item: "KMS requests, Secrets Manager API calls, SNS notifications, CloudWatch API calls and Logs \
                   Insights queries",
            why: "per-request charges, small at this scale: not priced",
        },
        Omission {
            item: "Taxes, AWS Support, Savings Plans and reserved capacity",
            why: "the bill is on-demand list prices before tax",
        },
    ];
    if settings.edge {
        v.push(Omission {
            item: "CloudFront data sent to the origin (request bodies of writes)",
            why: "small for this API: not priced",
        });
    }
    v
}
