//! The bill's arithmetic, line by line. Every expectation is computed from
//! the inputs in the test (counts, prices of the card, the assumptions),
//! never copied from an output.

use super::services::{
    self as bill_services, alarm_metrics, FREE_ALARM_METRICS, FREE_CLOUDFRONT_REQUESTS, FREE_LOG_GB,
};
use super::*;
use crate::config::StackRequest;
use crate::cost::card;
use crate::cost::render::{self, Column};
use crate::cost::usage::{parse_traffic, Usage};
use crate::steps::network::AZ_COUNT;
use crate::steps::scaling::{MAX_TASKS, MIN_TASKS};

fn settings(edit: impl FnOnce(&mut StackRequest)) -> Settings {
    let mut r = StackRequest {
        suffix: "dev1".into(),
        ..StackRequest::default()
    };
    edit(&mut r);
    r.validate().unwrap()
}

fn sydney() -> RateCard {
    card::for_region("ap-southeast-2").unwrap()
}

fn price(card: &RateCard, id: PriceId) -> f64 {
    card.get(id).unwrap().usd
}

fn line<'a>(b: &'a Bill, item: &str) -> &'a Line {
    b.lines.iter().find(|l| l.item == item).unwrap_or_else(|| {
        panic!(
            "no line {item}: {:?}",
            b.lines.iter().map(|l| &l.item).collect::<Vec<_>>()
        )
    })
}

fn has(b: &Bill, item: &str) -> bool {
    b.lines.iter().any(|l| l.item == item)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn a_month_is_730_hours_and_hourly_lines_use_it() {
    assert_eq!(HOURS_PER_MONTH, 365.0 * 24.0 / 12.0);
    let card = sydney();
    let b = bill(&settings(|_| {}), &Usage::default(), &card);
    let nat = line(&b, "NAT gateways");
    let expect = AZ_COUNT as f64 * HOURS_PER_MONTH;
    assert!(close(nat.quantity.min, expect) && close(nat.quantity.max, expect));
    assert!(close(nat.usd.min, expect * price(&card, PriceId::NatGatewayHour)));
    assert!(nat.flat() && nat.group == Group::Fixed);
    let alb = line(&b, "Load balancer");
    assert!(close(alb.usd.min, HOURS_PER_MONTH * price(&card, PriceId::AlbHour)));
}

/// round(rest × pct / 100), a half going to on-demand, computed another way.
fn expected_spot(tasks: u32, pct: u32) -> u32 {
    let exact = (tasks - 1) * pct;
    exact / 100 + u32::from(exact % 100 > 50)
}

#[test]
fn the_spot_share_keeps_the_first_task_on_demand_and_splits_the_rest_by_weight() {
    // Base 1 on FARGATE: 2 tasks at 70 % is one of each; 10 tasks is 1 + 9
    // split 30:70, 6.3 rounded to 6 on Spot.
    assert_eq!(fargate_split(2, 70), (1, 1));
    assert_eq!(fargate_split(10, 70), (10 - 6, 6));
    assert_eq!(fargate_split(10, 0), (10, 0));
    assert_eq!(fargate_split(10, 100), (1, 9));
    assert_eq!(fargate_split(2, 100), (1, 1));
    assert_eq!(fargate_split(2, 0), (2, 0));
    assert_eq!(fargate_split(1, 100), (1, 0));
    assert_eq!(fargate_split(0, 70), (0, 0));
    // A half goes to FARGATE: 9 × 50 % = 4.5 → 4 on Spot.
    assert_eq!(fargate_split(10, 50), (6, 4));
    for tasks in 1..=20 {
        for pct in 0..=100 {
            let (od, spot) = fargate_split(tasks, pct);
            assert_eq!(od + spot, tasks);
            assert!(od >= 1, "{tasks} {pct}");
            assert_eq!(spot, expected_spot(tasks, pct), "{tasks} tasks at {pct} %");
        }
    }
}

#[test]
fn fargate_lines_price_the_split_at_minimum_and_maximum_tasks() {
    let card = sydney();
    for pct in [0, 70, 100] {
        let s = settings(|r| r.spot_percent = pct);
        let b = bill(&s, &Usage::default(), &card);
        let (vcpu, gb) = (f64::from(s.task_cpu) / 1024.0, f64::from(s.task_memory) / 1024.0);
        for (tasks, col) in [(MIN_TASKS, Column::Min), (MAX_TASKS, Column::Max)] {
            let (od, spot) = fargate_split(tasks as u32, pct);
            let at = |item: &str| match col {
                Column::Min => line(&b, item).usd.min,
                Column::Max => line(&b, item).usd.max,
            };
            let h = HOURS_PER_MONTH;
            assert!(close(
                at("Fargate vCPU"),
                f64::from(od) * vcpu * h * price(&card, PriceId::FargateVcpuHour)
            ));
            assert!(close(
                at("Fargate memory"),
                f64::from(od) * gb * h * price(&card, PriceId::FargateGbHour)
            ));
            assert!(close(
                at("Fargate Spot vCPU"),
                f64::from(spot) * vcpu * h * price(&card, PriceId::FargateSpotVcpuHour)
            ));
            assert!(close(
                at("Fargate Spot memory"),
                f64::from(spot) * gb * h * price(&card, PriceId::FargateSpotGbHour)
            ));
        }
        let how = &line(&b, "Fargate Spot vCPU").how;
        assert!(
            how.min.contains(&format!("of {MIN_TASKS} tasks on FARGATE_SPOT")),
            "{}",
            how.min
        );
        assert!(how.max.contains(&format!("of {MAX_TASKS} tasks")), "{}", how.max);
    }
}

#[test]
fn aurora_runs_two_instances_at_the_minimum_and_the_maximum_acu() {
    let card = sydney();
    for (lo, hi) in [(0.5, 4.0), (0.0, 1.0), (2.0, 16.0)] {
        let s = settings(|r| {
            r.db_min_acu = lo;
            r.db_max_acu = hi;
        });
        let b = bill(&s, &Usage::default(), &card);
        let acu = line(&b, "Aurora capacity");
        let per = 2.0 * HOURS_PER_MONTH * price(&card, PriceId::AuroraAcuHour);
        assert!(
            close(acu.usd.min, lo * per) && close(acu.usd.max, hi * per),
            "{lo}-{hi}"
        );
        assert_eq!(b.aurora_acu, Span { min: lo, max: hi });
    }
    let u = Usage {
        db_gb: 40.0,
        db_io: 25.0,
        ..Usage::default()
    };
    let b = bill(&settings(|_| {}), &u, &card);
    assert!(close(
        line(&b, "Aurora storage").usd.min,
        40.0 * price(&card, PriceId::AuroraStorageGbMonth)
    ));
    let ios = 25.0 * HOURS_PER_MONTH * 3600.0 / 1e6;
    assert!(close(
        line(&b, "Aurora I/O").usd.max,
        ios * price(&card, PriceId::AuroraIoMillion)
    ));
}

#[test]
fn free_allowances_come_off_before_pricing() {
    let card = sydney();
    let s = settings(|_| {});
    // Alarm metrics: the five alarms' metrics and the tracking policy's two.
    let b = bill(&s, &Usage::default(), &card);
    let metrics = alarm_metrics() as f64 + 2.0;
    let alarms = line(&b, "CloudWatch alarms");
    assert!(close(alarms.quantity.min, (metrics - FREE_ALARM_METRICS).max(0.0)));
    assert!(alarms.free.as_ref().unwrap().source.contains("cloudwatch/pricing"));
    assert_eq!(
        line(&b, "CloudWatch dashboard").usd.min,
        0.0,
        "one dashboard of three free"
    );
    let shown = bill_services::dashboard_metrics(&s);
    assert!(shown <= 50, "the free dashboards show up to 50 metrics: {shown}");
    let bare = settings(|r| r.edge = false);
    assert_eq!(
        shown - bill_services::dashboard_metrics(&bare),
        bill_services::EDGE_ROW_METRICS + bill_services::WAF_ROW_METRICS
    );
    // Logs: the 5 GB cover ingestion first, then storage.
    for gb in [3.0, 12.0] {
        let u = Usage {
            log_gb: gb,
            ..Usage::default()
        };
        let b = bill(&s, &u, &card);
        let ingest = line(&b, "Log ingestion");
        assert!(close(ingest.quantity.min, (gb - FREE_LOG_GB).max(0.0)));
        let stored = gb * f64::from(s.log_retention_days) / (HOURS_PER_MONTH / 24.0);
        let left = (FREE_LOG_GB - gb).max(0.0);
        assert!(close(line(&b, "Log storage").quantity.min, (stored - left).max(0.0)));
    }
    // CloudFront: 10 million requests and 1 TB free.
    for rps in [1.0, 100.0] {
        let u = Usage {
            rps,
            cache_hit: 0.5,
            ..Usage::default()
        };
        let b = bill(&s, &u, &card);
        let requests = rps * HOURS_PER_MONTH * 3600.0;
        let billable = (requests - FREE_CLOUDFRONT_REQUESTS).max(0.0) / 10_000.0;
        let l = line(&b, "CloudFront requests");
        assert!(
            close(l.quantity.min, billable),
            "{rps}: {} vs {billable}",
            l.quantity.min
        );
        assert!(close(
            l.usd.min,
            billable * price(&card, PriceId::CloudFrontHttpsRequests10k)
        ));
        let gb = requests * u.response_kb / (1024.0 * 1024.0);
        assert!(close(
            line(&b, "CloudFront data out").quantity.min,
            (gb - 1024.0).max(0.0)
        ));
        // X-Ray: the first 100,000 traces free.
        let traces = rps * 0.5 * HOURS_PER_MONTH * 3600.0 * u.traced;
        assert!(close(
            line(&b, "X-Ray traces").quantity.min,
            (traces - 100_000.0).max(0.0) / 1e6
        ));
    }
    assert_eq!(
        line(&b, "DynamoDB storage").usd.min,
        0.0,
        "a day of keys is far under 25 GB"
    );
    assert!(b.notes.iter().any(|n| n.contains("account-wide")));
}

#[test]
fn capacity_units_are_the_largest_of_the_four_dimensions() {
    // 25 new connections a second is one LCU.
    let d = lcu(25.0, 0.0, 0.0);
    assert!(close(d.max(), 1.0) && d.binding() == "new connections");
    // 1 GB an hour processed is one LCU: at 1 request a second, answers of
    // 1 GiB / 3600 each.
    let d = lcu(1.0, 1024.0 * 1024.0 / 3600.0, 0.0);
    assert!(close(d.processed_gb, 1.0) && d.binding() == "processed bytes");
    // 1,000 rule evaluations a second beyond the free ten: 10 requests a
    // second evaluating 200 rules each is 2 LCUs (their connections 0.4).
    let d = lcu(10.0, 0.0, 200.0);
    assert!(close(d.rule_evaluations, 2.0) && d.binding() == "rule evaluations");
    assert!(close(lcu(300.0, 0.0, 0.0).active_connections, 0.1));
    // The line: origin requests = rps × (1 − cache hit) with the edge.
    let card = sydney();
    let u = Usage::default();
    let b = bill(&settings(|_| {}), &u, &card);
    let lcus = lcu(u.rps * (1.0 - u.cache_hit), u.response_kb, 0.0).max();
    let l = line(&b, "Load balancer capacity units");
    assert!(close(
        l.usd.min,
        lcus * HOURS_PER_MONTH * price(&card, PriceId::AlbLcuHour)
    ));
}

#[test]
fn no_edge_drops_cloudfront_and_waf_and_pays_for_the_public_load_balancer() {
    let card = sydney();
    let u = Usage::default();
    let edge = bill(&settings(|_| {}), &u, &card);
    let bare = bill(&settings(|r| r.edge = false), &u, &card);
    for item in [
        "CloudFront requests",
        "CloudFront data out",
        "WAF web ACL",
        "WAF rules",
        "WAF requests",
    ] {
        assert!(has(&edge, item) && !has(&bare, item), "{item}");
    }
    assert!(!has(&bare, "CloudFront additional metrics"));
    let ip = |b: &Bill| line(b, "Public IPv4 addresses").quantity.min;
    assert!(close(ip(&edge), AZ_COUNT as f64 * HOURS_PER_MONTH));
    assert!(close(ip(&bare), 2.0 * AZ_COUNT as f64 * HOURS_PER_MONTH));
    // Every request reaches the load balancer and the tasks.
    let traces = |b: &Bill| line(b, "X-Ray traces").quantity.min;
    let all = u.rps * HOURS_PER_MONTH * 3600.0;
    assert!(close(traces(&bare), (all - 100_000.0) / 1e6));
    assert!(traces(&edge) < traces(&bare));
    // The viewers' data leaves through the load balancer: named, unpriced.
    assert!(bare
        .unpriced
        .iter()
        .any(|u| u.price_id.is_none() && u.item.contains("Data transfer out")));
    assert!(edge.unpriced.is_empty());
}

#[test]
fn no_waf_drops_exactly_the_waf_lines() {
    let card = sydney();
    let u = Usage::default();
    let s = settings(|_| {});
    let with = bill(&s, &u, &card);
    let without = bill(&settings(|r| r.waf = false), &u, &card);
    let rules = bill_services::waf_rules(&s) as f64;
    assert_eq!(rules, crate::steps::edge::RULE_GROUPS.len() as f64 + 1.0);
    let requests = u.rps * HOURS_PER_MONTH * 3600.0 / 1e6;
    let waf = price(&card, PriceId::WafWebAclMonth)
        + rules * price(&card, PriceId::WafRuleMonth)
        + requests * price(&card, PriceId::WafRequestsMillion);
    assert!(close(with.total.min - without.total.min, waf));
    assert!(has(&without, "CloudFront requests"));
}

#[test]
fn a_brought_key_or_secret_is_not_the_stacks_to_pay_for() {
    let card = sydney();
    let u = Usage::default();
    let own = bill(&settings(|_| {}), &u, &card);
    let brought = bill(
        &settings(|r| r.kms_key_arn = Some("arn:aws:kms:ap-southeast-2:123456789012:key/abcd".into())),
        &u,
        &card,
    );
    assert_eq!(Counts::of(&settings(|_| {})).kms_keys, 1);
    assert_eq!(line(&own, "KMS keys").quantity.min, 1.0);
    assert_eq!(line(&brought, "KMS keys").quantity.min, 0.0);
    assert!(line(&brought, "KMS keys").how.min.contains("--kms-key-arn"));
    assert!(close(
        own.total.min - brought.total.min,
        price(&card, PriceId::KmsKeyMonth)
    ));
    // A brought credentials secret replaces none of the stack's: RDS keeps
    // its managed master secret, and the connection secret stays.
    let secret = settings(|r| r.db_secret_arn = Some("app-credentials".into()));
    let b = bill(&secret, &u, &card);
    assert_eq!(Counts::of(&secret).secrets, 2);
    assert_eq!(line(&b, "Secrets Manager secrets").quantity.min, 2.0);
    assert!(line(&b, "Secrets Manager secrets").how.min.contains("--db-secret-arn"));
}

#[test]
fn the_default_stack_is_counted_from_its_steps() {
    let c = Counts::of(&settings(|_| {}));
    assert_eq!((c.nat_gateways, c.elastic_ips), (AZ_COUNT, AZ_COUNT));
    assert_eq!(c.alarms, crate::steps::observability::ALARMS.len());
    assert_eq!((c.load_balancers, c.db_instances, c.dashboards), (1, 2, 1));
    assert_eq!((c.distributions, c.web_acls, c.edge_metrics, c.tables), (1, 1, 1, 1));
    assert_eq!((c.repositories, c.scaling_policies), (1, 1));
    let bare = Counts::of(&settings(|r| r.edge = false));
    assert_eq!((bare.distributions, bare.web_acls, bare.edge_metrics), (0, 0, 0));
    assert_eq!(bare.log_groups + 1, c.log_groups, "the edge's log group");
}

#[test]
fn a_price_missing_from_the_card_leaves_the_line_named_and_out_of_the_total() {
    let full = sydney();
    let mut card = full.clone();
    card.prices.remove(&PriceId::NatGatewayGb);
    let u = Usage::default();
    let s = settings(|_| {});
    let b = bill(&s, &u, &card);
    assert!(!has(&b, "NAT data processed"));
    let missing = b.unpriced.iter().find(|x| x.item == "NAT data processed").unwrap();
    assert_eq!(missing.price_id, Some(PriceId::NatGatewayGb));
    assert!(missing.how.min.contains("GB"));
    let whole = bill(&s, &u, &full);
    let nat_gb = line(&whole, "NAT data processed").usd.min;
    assert!(close(whole.total.min - b.total.min, nat_gb));
    let mut out = Vec::new();
    render::render(&b, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("Not priced") && text.contains("NAT data processed"),
        "{text}"
    );
}

#[test]
fn totals_add_the_lines_and_a_change_shows_its_difference() {
    let card = sydney();
    let u = Usage::default();
    let s = settings(|_| {});
    let before = bill(&s, &u, &card);
    let sum: f64 = before.lines.iter().map(|l| l.usd.max).sum();
    assert!(close(before.total.max, sum));
    assert!(close(before.fixed.min + before.usage.min, before.total.min));
    let after = bill(&settings(|r| r.spot_percent = 100), &u, &card);
    let d = difference(&before, &after);
    // 70 → 100 %: 2 tasks stay 1 + 1; at 10 tasks 4 + 6 becomes 1 + 9.
    let per_task = |od: bool| {
        let (v, g) = if od {
            (PriceId::FargateVcpuHour, PriceId::FargateGbHour)
        } else {
            (PriceId::FargateSpotVcpuHour, PriceId::FargateSpotGbHour)
        };
        let (vcpu, gb) = (f64::from(s.task_cpu) / 1024.0, f64::from(s.task_memory) / 1024.0);
        (vcpu * price(&card, v) + gb * price(&card, g)) * HOURS_PER_MONTH
    };
    let (od70, _) = fargate_split(MAX_TASKS as u32, 70);
    let (od100, _) = fargate_split(MAX_TASKS as u32, 100);
    let moved = f64::from(od70 - od100);
    assert!(close(d.min, 0.0));
    assert!(close(d.max, moved * (per_task(false) - per_task(true))));
    assert!(d.max < 0.0);
    let text = d.describe();
    assert!(text.starts_with("±$0.00/month at minimum tasks, −$"), "{text}");
    let cheaper = Delta {
        min: -12.345,
        max: -12.345,
    };
    assert_eq!(cheaper.describe(), "−$12.35/month at minimum tasks");
    assert_eq!(signed_usd(3.5), "+$3.50");
    assert_eq!(usd(1234567.891), "$1,234,567.89");
    assert_eq!(usd(-0.5), "−$0.50");
}

#[test]
fn the_bill_renders_both_columns_the_assumptions_and_serializes() {
    let card = sydney();
    let u = parse_traffic("rps=20").unwrap();
    let b = bill(&settings(|_| {}), &u, &card);
    let mut out = Vec::new();
    render::render(&b, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for want in [
        format!("{MIN_TASKS} tasks"),
        format!("{MAX_TASKS} tasks"),
        usd(b.total.min),
        usd(b.total.max),
        "rps=20".into(),
        "Fixed".into(),
        "Usage".into(),
        "embedded rate card".into(),
    ] {
        assert!(text.contains(&want), "{want} missing:\n{text}");
    }
    for l in &b.lines {
        assert!(text.contains(&l.item), "{}", l.item);
    }
    let fixed_at = text.find("Fixed").unwrap();
    let usage_at = text.find("Usage (").unwrap();
    assert!(text.find("NAT gateways").unwrap() > fixed_at && text.find("NAT data").unwrap() > usage_at);
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["lines"].as_array().unwrap().len(), b.lines.len());
    assert_eq!(json["lines"][0]["group"], "fixed");
    assert!(json["total"]["min"].as_f64().unwrap() > 0.0);
    assert_eq!(json["assumptions"][0]["key"], "rps");
}

/// The README's two worked examples, between their markers.
fn readme_example<'a>(readme: &'a str, n: &str) -> &'a str {
    let open = format!("<!-- cost-example-{n} -->");
    let close = format!("<!-- /cost-example-{n} -->");
    let start = readme.find(&open).unwrap_or_else(|| panic!("README lacks {open}")) + open.len();
    let end = readme.find(&close).unwrap_or_else(|| panic!("README lacks {close}"));
    readme[start..end].trim()
}

#[test]
fn the_readme_worked_examples_are_this_arithmetic() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let card = sydney();
    let u = Usage::default();
    let default_stack = bill(&settings(|_| {}), &u, &card);
    let all_spot = bill(&settings(|r| r.spot_percent = 100), &u, &card);
    let mut sources = render::Sources::default();
    for (n, b, col, total) in [
        ("1", &default_stack, Column::Min, default_stack.total.min),
        ("2", &all_spot, Column::Max, all_spot.total.max),
    ] {
        let want = render::markdown(b, col, &mut sources);
        assert_eq!(
            readme_example(&readme, n),
            want.trim(),
            "README's worked example {n} drifted; it should read:\n{want}"
        );
        assert!(
            readme.contains(&format!("**{}** a month", usd(total))),
            "README's prose should give example {n}'s total, **{}** a month",
            usd(total)
        );
    }
    let want = sources.markdown();
    assert_eq!(
        readme_example(&readme, "sources"),
        want.trim(),
        "README's example sources drifted; they should read:\n{want}"
    );
}
