//! The engine and the network layer end to end, against the moto server,
//! running the real binary as a user would.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

const MOTO: &str = "network";

fn has_tag(tags: &[aws_sdk_ec2::types::Tag], k: &str, v: &str) -> bool {
    tags.iter().any(|t| t.key() == Some(k) && t.value() == Some(v))
}

/// The value of the tag `k` (which must be there).
fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], k: &str) -> &'a str {
    tags.iter()
        .find(|t| t.key() == Some(k))
        .and_then(|t| t.value())
        .unwrap_or_else(|| panic!("no tag {k} in {tags:?}"))
}

/// A new stack on this binary's emulator, after its first `up`, and SDK
/// clients on the same emulator.
async fn built(prefix: &str) -> (Stack, provision::aws::Clients) {
    let stack = Stack::new(&moto(MOTO), &suffix(prefix));
    stack.ok("up", &[]);
    let aws = stack.aws().await;
    (stack, aws)
}

/// The stack's NAT gateways (those that carry its tag: moto may not
/// filter by it).
async fn nat_gateways(aws: &provision::aws::Clients, suffix: &str) -> Vec<aws_sdk_ec2::types::NatGateway> {
    let out = aws
        .ec2
        .describe_nat_gateways()
        .filter(tag_filter(suffix))
        .send()
        .await
        .unwrap();
    out.nat_gateways()
        .iter()
        .filter(|n| has_tag(n.tags(), "EnvironmentSuffix", suffix))
        .cloned()
        .collect()
}

const NETWORK_KINDS: &[&str] = &[
    "vpc",
    "subnet",
    "igw",
    "eip",
    "nat",
    "route-table",
    "security-group",
    "flow-log",
];

/// Counts of the network kinds tagged with the suffix.
async fn network_counts(aws: &provision::aws::Clients, suffix: &str) -> BTreeMap<&'static str, usize> {
    census(aws, suffix)
        .await
        .into_iter()
        .filter(|(k, _)| NETWORK_KINDS.contains(k))
        .collect()
}

fn expected_counts() -> BTreeMap<&'static str, usize> {
    full_census()
        .into_iter()
        .filter(|(k, _)| NETWORK_KINDS.contains(k))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_creates_exactly_the_network_and_a_second_up_changes_nothing() {
    let (stack, aws) = built("net").await;
    let s = stack.suffix.clone();
    assert_eq!(network_counts(&aws, &s).await, expected_counts());

    // VPC: CIDR, tags, DNS attributes.
    let vpc = aws
        .ec2
        .describe_vpcs()
        .filters(tag_filter(&s))
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .clone();
    let vpc_id = vpc.vpc_id().unwrap().to_owned();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    for (k, v) in [
        ("Name", format!("vpc-main-{s}")),
        ("EnvironmentSuffix", s.clone()),
        ("ManagedBy", "provision".into()),
        ("Project", "product-catalog".into()),
        ("provision:step", "vpc".into()),
    ] {
        assert!(has_tag(vpc.tags(), k, &v), "VPC lacks tag {k}={v}");
    }
    for attr in [
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport,
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames,
    ] {
        let a = aws
            .ec2
            .describe_vpc_attribute()
            .vpc_id(&vpc_id)
            .attribute(attr.clone())
            .send()
            .await
            .unwrap();
        let on = a
            .enable_dns_support()
            .or(a.enable_dns_hostnames())
            .and_then(|v| v.value())
            .unwrap_or(false);
        assert!(on, "{attr:?} is off");
    }

    // Subnets: one of each tier per AZ, three distinct AZs.
    let subnets = aws.ec2.describe_subnets().filters(tag_filter(&s)).send().await.unwrap();
    let mut by_tier: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut subnet_az = BTreeMap::new();
    let mut subnet_tier = BTreeMap::new();
    for sn in subnets.subnets() {
        let tier = tag(sn.tags(), "Tier").to_owned();
        assert_eq!(sn.vpc_id(), Some(vpc_id.as_str()));
        assert!(sn.cidr_block().unwrap().ends_with("/24"));
        by_tier
            .entry(tier.clone())
            .or_default()
            .insert(sn.availability_zone().unwrap().to_owned());
        subnet_az.insert(
            sn.subnet_id().unwrap().to_owned(),
            sn.availability_zone().unwrap().to_owned(),
        );
        subnet_tier.insert(sn.subnet_id().unwrap().to_owned(), tier);
    }
    assert_eq!(by_tier.len(), 3);
    for (tier, azs) in &by_tier {
        assert_eq!(azs.len(), 3, "{tier} subnets must span 3 AZs");
    }

    // NAT gateways: one per AZ, each in that AZ's public subnet, with an EIP.
    let mut nat_az = BTreeMap::new();
    for n in nat_gateways(&aws, &s).await {
        let sn = n.subnet_id().unwrap();
        assert_eq!(subnet_tier[sn], "public");
        assert!(!n.nat_gateway_addresses().is_empty());
        nat_az.insert(n.nat_gateway_id().unwrap().to_owned(), subnet_az[sn].clone());
    }
    assert_eq!(nat_az.values().collect::<BTreeSet<_>>().len(), 3);

    // Routes: public → IGW, private → its own AZ's NAT, isolated → nowhere.
    let igw = aws
        .ec2
        .describe_internet_gateways()
        .filters(tag_filter(&s))
        .send()
        .await
        .unwrap();
    let igw = &igw.internet_gateways()[0];
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id.as_str()));
    let igw_id = igw.internet_gateway_id().unwrap();
    let rtbs = aws
        .ec2
        .describe_route_tables()
        .filters(tag_filter(&s))
        .send()
        .await
        .unwrap();
    let mut associated = 0;
    for t in rtbs.route_tables() {
        let step = tag(t.tags(), "provision:step");
        let default = t
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"));
        let subnets: Vec<&str> = t.associations().iter().filter_map(|a| a.subnet_id()).collect();
        associated += subnets.len();
        match step {
            "rt-public" => {
                assert_eq!(default.and_then(|r| r.gateway_id()), Some(igw_id));
                assert_eq!(subnets.len(), 3);
                assert!(subnets.iter().all(|sn| subnet_tier[*sn] == "public"));
            }
            "rt-isolated" => {
                assert!(default.is_none(), "isolated subnets must have no internet route");
                assert_eq!(subnets.len(), 3);
                assert!(subnets.iter().all(|sn| subnet_tier[*sn] == "isolated"));
            }
            _ => {
                let nat = default
                    .and_then(|r| r.nat_gateway_id())
                    .expect("private route to a NAT");
                assert_eq!(subnets.len(), 1);
                assert_eq!(subnet_tier[subnets[0]], "private");
                assert_eq!(
                    nat_az[nat], subnet_az[subnets[0]],
                    "private subnet must use its own AZ's NAT"
                );
            }
        }
    }
    assert_eq!(associated, 9);

    // Security groups: only the ALB is open; app only from ALB; db only from app.
    let sgs = aws
        .ec2
        .describe_security_groups()
        .filters(tag_filter(&s))
        .send()
        .await
        .unwrap();
    let by_step: BTreeMap<&str, &aws_sdk_ec2::types::SecurityGroup> = sgs
        .security_groups()
        .iter()
        .map(|g| (tag(g.tags(), "provision:step"), g))
        .collect();
    let ingress = |step: &str| -> BTreeSet<(i32, String)> {
        by_step[step]
            .ip_permissions()
            .iter()
            .flat_map(|p| {
                let port = p.from_port().unwrap_or(-1);
                p.ip_ranges()
                    .iter()
                    .map(move |r| (port, r.cidr_ip().unwrap().to_owned()))
                    .chain(
                        p.user_id_group_pairs()
                            .iter()
                            .map(move |g| (port, g.group_id().unwrap().to_owned())),
                    )
            })
            .collect()
    };
    let alb_id = by_step["sg-alb"].group_id().unwrap().to_owned();
    let app_id = by_step["sg-app"].group_id().unwrap().to_owned();
    // With the edge (the default), CloudFront's origin-facing prefix list
    // on the VPC origin's one port, and nothing from the internet.
    let alb_group = &by_step["sg-alb"];
    let prefix_lists: Vec<(i32, String)> = alb_group
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            let port = p.from_port().unwrap_or(-1);
            p.prefix_list_ids()
                .iter()
                .map(move |l| (port, l.prefix_list_id().unwrap_or_default().to_owned()))
        })
        .collect();
    assert_eq!(prefix_lists.len(), 1, "{prefix_lists:?}");
    assert_eq!(prefix_lists[0].0, 80);
    assert!(prefix_lists[0].1.starts_with("pl-"), "{prefix_lists:?}");
    assert!(
        ingress("sg-alb").is_empty(),
        "no CIDR or group peer: {:?}",
        ingress("sg-alb")
    );
    assert_eq!(ingress("sg-app"), [(5000, alb_id)].into());
    assert_eq!(ingress("sg-db"), [(5432, app_id)].into());
    assert!(
        by_step["sg-db"].ip_permissions_egress().is_empty(),
        "db needs no egress"
    );

    // Flow logs go to a log group with a retention.
    let fl = aws
        .ec2
        .describe_flow_logs()
        .filter(tag_filter(&s))
        .send()
        .await
        .unwrap();
    let fl = &fl.flow_logs()[0];
    assert_eq!(fl.resource_id(), Some(vpc_id.as_str()));
    let group = fl.log_group_name().unwrap();
    assert_eq!(log_groups(&aws, group).await[0].retention_in_days(), Some(30));

    // A second up, through the counting proxy: no create call, same counts.
    // It only counts: in front of the shared proxy, which fills moto's gaps
    // (and keeps the VPC origins it emulates), it passes every call on.
    let proxy = Proxy::start_plain(&stack.p.endpoint, &["--no-cbor-bridge"]);
    let out = Stack::new(&proxy.url, &s).ok_output("up", &[]);
    assert_stderr_has(&out, &["up: 0 created, 0 repaired"]);
    // The only writes: the lock in the state bucket (taken and released)
    // and the state's copy there.
    let calls = proxy.calls();
    assert_eq!(
        (calls.get("S3:PUT"), calls.get("S3:DELETE")),
        (Some(&2), Some(&1)),
        "{calls:?}"
    );
    let mutations: Vec<String> = calls
        .into_keys()
        .filter(|op| is_mutation(op) && op != "S3:PUT" && op != "S3:DELETE")
        .collect();
    assert!(mutations.is_empty(), "a converged up made changes: {mutations:?}");
    assert_eq!(network_counts(&aws, &s).await, expected_counts());

    stack.ok("down", &["--yes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_sees_a_nat_deleted_behind_its_back_and_up_and_step_repair_it() {
    let (stack, aws) = built("nat").await;
    let s = stack.suffix.clone();
    let status = stack.run("status", &[]);
    assert!(status.status.success(), "{}", stdout(&status));

    // Delete nat-a directly.
    let nat_a = nat_gateways(&aws, &s)
        .await
        .into_iter()
        .find(|n| has_tag(n.tags(), "provision:step", "nat-a"))
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_owned();
    aws.ec2
        .delete_nat_gateway()
        .nat_gateway_id(&nat_a)
        .send()
        .await
        .unwrap();

    let status = stack.run("status", &["--json"]);
    assert_eq!(
        status.status.code(),
        Some(3),
        "status exits 3 (out of sync) when something is missing"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("status --json is JSON");
    let row = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "nat-a")
        .unwrap();
    assert_eq!(row["state"], "missing");
    assert_eq!(doc["converged"], false);

    // up repairs: a new NAT, and the private route of AZ a points at it.
    let out = stack.ok_output("up", &[]);
    let err = stderr(&out);
    assert!(err.contains("nat-a: created"), "{err}");
    assert!(
        err.contains("rt-private-a: repaired"),
        "the route must follow the new NAT: {err}"
    );
    assert!(stack.run("status", &[]).status.success());

    // step --undo then step.
    let undo = stack.ok("step nat-a", &["--undo"]);
    assert!(undo.contains("deleted"), "{undo}");
    let st = stack.run("status", &[]);
    assert_eq!(st.status.code(), Some(3));
    assert!(
        stdout(&st)
            .lines()
            .any(|l| l.starts_with("nat-a ") && l.contains("missing")),
        "{}",
        stdout(&st)
    );
    let redo = stack.ok("step nat-a", &[]);
    assert!(redo.contains("created"), "{redo}");

    // A step whose dependency is missing is refused, naming it.
    stack.ok("step rt-public", &["--undo"]);
    stack.ok("step igw", &["--undo"]);
    let refused = stack.run("step rt-public", &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_stderr_has(&refused, &["needs igw"]);

    stack.ok("down", &["--yes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_without_state_removes_everything_and_twice_is_fine() {
    let (stack, aws) = built("lost").await;
    let s = stack.suffix.clone();
    assert!(stack.state_file().exists());

    // Without --yes: lists, deletes nothing, exits 2.
    let dry = stack.run("down", &[]);
    assert_eq!(dry.status.code(), Some(2));
    assert!(stdout(&dry).contains("would delete vpc"), "{}", stdout(&dry));
    assert_eq!(network_counts(&aws, &s).await, expected_counts());

    std::fs::remove_dir_all(&stack.p.state_dir).unwrap();
    stack.ok("down", &["--yes"]);
    let left: BTreeMap<_, _> = network_counts(&aws, &s)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(stack_roles(&aws, &s).await.is_empty());
    assert!(log_groups(&aws, &format!("/provision/{s}/")).await.is_empty());
    assert!(!stack.state_file().exists());

    stack.ok("down", &["--yes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_concurrent_up_is_refused_by_the_lock() {
    let s = suffix("lock");
    let stack = Stack::new(&moto(MOTO), &s);
    let aws = stack.aws().await;
    // A first run makes the state bucket (undoing an absent VPC changes nothing).
    stack.ok("step vpc", &["--undo"]);
    // Hold the lock exactly as a running `up` on this host would.
    let mut holder = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", holder.id())).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let me_here = LockHolder {
        host: host.trim(),
        pid: holder.id(),
        proc_start: Some(start),
        ..LockHolder::elsewhere(epoch_now())
    };
    put_lock(&aws, &s, me_here).await;
    let second = stack.run("up", &[]);
    assert_eq!(second.status.code(), Some(1));
    assert_stderr_has(&second, &["is locked by"]);
    assert_stderr_has(&second, &[&format!("pid {}", holder.id())]);
    assert_eq!(
        network_counts(&aws, &s).await["vpc"],
        0,
        "the refused run created nothing"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The holder is gone: its lock is stale at once and the next run proceeds.
    stack.ok("up", &[]);
    assert!(!lock_held(&aws, &s).await, "the lock is released at the end");
    stack.ok("down", &["--yes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_real_concurrent_ups_one_is_refused() {
    let url = moto(MOTO);
    let s = suffix("race");
    let aws = clients(&url).await;
    // 50 ms per call keeps the first run busy long enough to overlap.
    let slow = Proxy::start(&moto_direct(MOTO), &["--latency-ms", "50"]);
    let stack = Stack::new(&slow.url, &s);
    let mut first = stack
        .command("up", &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !lock_held(&aws, &s).await {
        if std::time::Instant::now() > deadline {
            first.kill().unwrap();
            let out = first.wait_with_output().unwrap();
            panic!("the first up never took the lock: {}", stderr(&out));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Another machine (its own state directory) is refused too.
    let second = Stack::new(&url, &s).run("up", &[]);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert_stderr_has(&second, &["is locked by"]);
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(first.status.success(), "the first up completes: {}", stderr(&first));
    assert!(!lock_held(&aws, &s).await, "the lock is released at the end");
    Stack::new(&url, &s).ok("down", &["--yes"]);
}

#[test]
fn bad_suffixes_exit_2_and_create_nothing() {
    let url = moto(MOTO);
    let p = Provision::new(&url);
    let too_long = "a".repeat(13);
    for bad in ["UPPER", "bad_suffix", too_long.as_str(), "", "-lead"] {
        let flag = format!("--suffix={bad}");
        for cmd in [vec!["up", &flag], vec!["down", &flag, "--yes"], vec!["status", &flag]] {
            let out = p.run(&cmd);
            assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("a suffix is 1-12 characters"),
                "{cmd:?}: {}",
                stderr(&out)
            );
        }
    }
    // Other bad input is refused before AWS too.
    for args in [
        vec!["up", "--suffix", "ok1", "--vpc-cidr", "10.0.0.0/8"],
        vec!["up", "--suffix", "ok1", "--parallelism", "0"],
        vec!["up", "--suffix", "ok1", "--log-retention-days", "31"],
    ] {
        let out = p.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains("hint:"), "{args:?}: {}", stderr(&out));
    }
    // Nothing was created for any of them (the endpoint was never called
    // with a create: no VPC exists for these suffixes).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let aws = clients(&url).await;
        for s in ["UPPER", "bad_suffix", "ok1"] {
            let v = aws.ec2.describe_vpcs().filters(tag_filter(s)).send().await.unwrap();
            assert!(v.vpcs().is_empty());
        }
    });
}
