//! The bill's lines, one function per resource family, in the order the
//! bill prints them (the network, the load balancer, Fargate and Aurora
//! here; the edge, observability and storage in `services`). Each line
//! states its quantity and how it was derived; [`Builder`] prices it.

use super::builder::{n, origin_rps, Builder};
use super::services::{edge, observability, storage};
use super::{Counts, Group, Span, Unpriced, HOURS_PER_MONTH, SECONDS_PER_MONTH};
use crate::config::Settings;
use crate::cost::rates::PriceId;
use crate::cost::usage::Usage;
use crate::steps;

pub(super) fn add_lines(b: &mut Builder, settings: &Settings, usage: &Usage, c: &Counts) {
    network(b, settings, usage, c);
    load_balancer(b, settings, usage, c);
    compute(b, settings);
    database(b, settings, usage, c);
    if c.distributions > 0 {
        edge(b, settings, usage, c);
    } else {
        let gb = usage.rps * SECONDS_PER_MONTH * usage.response_kb / (1024.0 * 1024.0);
        b.unpriced.push(Unpriced {
            item: "Data transfer out to the internet (the load balancer answers viewers)".into(),
            price_id: None,
            how: Span::both(format!(
                "{} GB ({} requests × {} KiB): EC2 data transfer out, not in the rate card",
                n(gb),
                n(usage.rps * SECONDS_PER_MONTH),
                n(usage.response_kb)
            )),
        });
    }
    observability(b, settings, usage, c);
    storage(b, settings, usage, c);
}

fn network(b: &mut Builder, settings: &Settings, usage: &Usage, c: &Counts) {
    let nat = c.nat_gateways as f64;
    b.flat(
        Group::Fixed,
        "NAT gateways",
        PriceId::NatGatewayHour,
        nat * HOURS_PER_MONTH,
        format!("{} NAT gateways (one per AZ) × {HOURS_PER_MONTH} h", c.nat_gateways),
        None,
    );
    // An internet-facing load balancer has a public address in each of its
    // zones (at least one; it may add more as it scales).
    let alb_public = if settings.edge {
        0
    } else {
        c.load_balancers * steps::network::AZ_COUNT
    };
    let addresses = c.elastic_ips + alb_public;
    let how = if alb_public > 0 {
        format!(
            "{} NAT Elastic IPs + {alb_public} of the internet-facing load balancer (one per AZ, at least) × \
             {HOURS_PER_MONTH} h",
            c.elastic_ips
        )
    } else {
        format!(
            "{} NAT Elastic IPs × {HOURS_PER_MONTH} h (the load balancer is internal behind CloudFront)",
            c.elastic_ips
        )
    };
    b.flat(
        Group::Fixed,
        "Public IPv4 addresses",
        PriceId::PublicIpv4Hour,
        addresses as f64 * HOURS_PER_MONTH,
        how,
        None,
    );
    b.flat(
        Group::Usage,
        "NAT data processed",
        PriceId::NatGatewayGb,
        if c.nat_gateways > 0 { usage.nat_gb } else { 0.0 },
        format!("{} GB through the NAT gateways (nat-gb)", n(usage.nat_gb)),
        None,
    );
}

fn load_balancer(b: &mut Builder, settings: &Settings, usage: &Usage, c: &Counts) {
    let lbs = c.load_balancers as f64;
    b.flat(
        Group::Fixed,
        "Load balancer",
        PriceId::AlbHour,
        lbs * HOURS_PER_MONTH,
        format!("{} Application Load Balancer × {HOURS_PER_MONTH} h", c.load_balancers),
        None,
    );
    let rps = origin_rps(settings, usage);
    // Rules evaluated per request beyond the 10 free: the listener's rules
    // (and its default action) are well under 10.
    let extra_rules = c.listener_rules.saturating_sub(10) as f64;
    let dims = super::lcu(rps, usage.response_kb, extra_rules);
    b.flat(
        Group::Usage,
        "Load balancer capacity units",
        PriceId::AlbLcuHour,
        dims.max() * HOURS_PER_MONTH * lbs,
        format!(
            "{} LCU (set by {}: {} requests/s reach it, each a new 1-second connection, {} KiB answers) × \
             {HOURS_PER_MONTH} h",
            n(dims.max()),
            dims.binding(),
            n(rps),
            n(usage.response_kb)
        ),
        None,
    );
}

fn compute(b: &mut Builder, settings: &Settings) {
    let vcpu = f64::from(settings.task_cpu) / 1024.0;
    let gb = f64::from(settings.task_memory) / 1024.0;
    let tasks = Span {
        min: steps::scaling::MIN_TASKS.max(0) as u32,
        max: steps::scaling::MAX_TASKS.max(0) as u32,
    };
    let split = |t: u32| super::fargate_split(t, settings.spot_percent);
    let (min, max) = (split(tasks.min), split(tasks.max));
    let lines = [
        (
            "Fargate vCPU",
            PriceId::FargateVcpuHour,
            "FARGATE",
            vcpu,
            "vCPU",
            min.0,
            max.0,
        ),
        (
            "Fargate memory",
            PriceId::FargateGbHour,
            "FARGATE",
            gb,
            "GB",
            min.0,
            max.0,
        ),
        (
            "Fargate Spot vCPU",
            PriceId::FargateSpotVcpuHour,
            "FARGATE_SPOT",
            vcpu,
            "vCPU",
            min.1,
            max.1,
        ),
        (
            "Fargate Spot memory",
            PriceId::FargateSpotGbHour,
            "FARGATE_SPOT",
            gb,
            "GB",
            min.1,
            max.1,
        ),
    ];
    for (item, id, provider, size, unit, at_min, at_max) in lines {
        let how = |on: u32, of: u32| {
            format!(
                "{on} of {of} tasks on {provider} × {} {unit} × {HOURS_PER_MONTH} h",
                n(size)
            )
        };
        b.add(
            Group::Fixed,
            item,
            id,
            Span {
                min: f64::from(at_min) * size * HOURS_PER_MONTH,
                max: f64::from(at_max) * size * HOURS_PER_MONTH,
            },
            Span {
                min: how(at_min, tasks.min),
                max: how(at_max, tasks.max),
            },
            None,
        );
    }
}

fn database(b: &mut Builder, settings: &Settings, usage: &Usage, c: &Counts) {
    let instances = c.db_instances as f64;
    let how = |acu: f64| {
        format!(
            "{} Serverless v2 instances (writer, reader) × {} ACU × {HOURS_PER_MONTH} h",
            c.db_instances,
            n(acu)
        )
    };
    b.add(
        Group::Fixed,
        "Aurora capacity",
        PriceId::AuroraAcuHour,
        Span {
            min: instances * settings.db_min_acu * HOURS_PER_MONTH,
            max: instances * settings.db_max_acu * HOURS_PER_MONTH,
        },
        Span {
            min: how(settings.db_min_acu),
            max: how(settings.db_max_acu),
        },
        None,
    );
    b.flat(
        Group::Usage,
        "Aurora storage",
        PriceId::AuroraStorageGbMonth,
        usage.db_gb,
        format!("{} GB-month (db-gb)", n(usage.db_gb)),
        None,
    );
    let ios = usage.db_io * SECONDS_PER_MONTH / 1e6;
    b.flat(
        Group::Usage,
        "Aurora I/O",
        PriceId::AuroraIoMillion,
        ios,
        format!(
            "{} I/O per s (db-io) × {} s = {} million",
            n(usage.db_io),
            n(SECONDS_PER_MONTH),
            n(ios)
        ),
        None,
    );
}
