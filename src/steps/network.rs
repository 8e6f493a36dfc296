//! The network: VPC, three tiers of subnets over three AZs, internet
//! gateway, an Elastic IP and NAT gateway per AZ, route tables, security
//! groups and VPC flow logs.
//!
//! Discovery is batched: one tag-filtered describe per kind, shared through
//! the inventory, whichever of the (many) steps of that kind asks first.

use super::identity::Role;
use super::logs::LogGroup;
use super::{tag_value, waiter_err, Ctx, Dep, Step, StepRef, StepResult, Timing};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::config::Settings;
use crate::naming::{az_letter, MANAGED_BY, TAG_CONFIGURED, TAG_MANAGED_BY, TAG_SUFFIX};
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, FlowLogsResourceType, IpPermission, IpRange, LogDestinationType,
    ResourceType, Tag, TagSpecification, TrafficType, UserIdGroupPair,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub const AZ_COUNT: usize = 3;
pub const APP_PORT: i32 = 5000;
pub const DB_PORT: i32 = 5432;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Public,
    Private,
    Isolated,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Public, Tier::Private, Tier::Isolated];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Private => "private",
            Tier::Isolated => "isolated",
        }
    }

    /// Which /24 of the VPC the tier's subnet in AZ `az` gets.
    fn block(self, az: usize) -> u32 {
        let base = match self {
            Tier::Public => 0,
            Tier::Private => 10,
            Tier::Isolated => 20,
        };
        base + az as u32
    }
}

/// Step id of the subnet of `tier` in AZ slot `az`: `subnet-private-b`.
pub fn subnet_step(tier: Tier, az: usize) -> String {
    format!("subnet-{}-{}", tier.name(), az_letter(az))
}

/// Step ids of a tier's three subnets.
pub fn subnet_steps(tier: Tier) -> Vec<String> {
    (0..AZ_COUNT).map(|az| subnet_step(tier, az)).collect()
}

pub fn flow_log_group_name(cx_suffix: &str) -> String {
    format!("/provision/{cx_suffix}/vpc-flow-logs")
}

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    let suffix = settings.suffix.as_str();
    let mut s: Vec<StepRef> = vec![Arc::new(Vpc)];
    for tier in Tier::ALL {
        for az in 0..AZ_COUNT {
            s.push(Arc::new(Subnet {
                tier,
                az,
                id: subnet_step(tier, az),
            }));
        }
    }
    s.push(Arc::new(InternetGateway));
    for az in 0..AZ_COUNT {
        s.push(Arc::new(ElasticIp {
            az,
            id: format!("eip-{}", az_letter(az)),
        }));
        s.push(Arc::new(NatGateway {
            az,
            id: format!("nat-{}", az_letter(az)),
        }));
    }
    s.push(Arc::new(RouteTable {
        id: "rt-public".into(),
        purpose: "public".into(),
        default_route: Some(Target::Gateway("igw".into())),
        subnets: subnet_steps(Tier::Public),
    }));
    for az in 0..AZ_COUNT {
        let l = az_letter(az);
        s.push(Arc::new(RouteTable {
            id: format!("rt-private-{l}"),
            purpose: format!("private-{l}"),
            default_route: Some(Target::Nat(format!("nat-{l}"))),
            subnets: vec![subnet_step(Tier::Private, az)],
        }));
    }
    s.push(Arc::new(RouteTable {
        id: "rt-isolated".into(),
        purpose: "isolated".into(),
        default_route: None,
        subnets: subnet_steps(Tier::Isolated),
    }));
    for sg in security_groups() {
        s.push(Arc::new(sg));
    }
    let group = flow_log_group_name(suffix);
    s.push(Arc::new(LogGroup::new("log-vpc-flow", group.clone(), vec![])));
    s.push(Arc::new(Role {
        id: "role-flowlogs",
        purpose: "flowlogs",
        service: "vpc-flow-logs.amazonaws.com",
        deps: vec!["log-vpc-flow"],
        managed: vec![],
        policy: flow_log_policy,
    }));
    s.push(Arc::new(FlowLog));
    s
}

fn flow_log_policy(cx: &Ctx, account: &str) -> StepResult<serde_json::Value> {
    let group = cx
        .rec("log-vpc-flow")?
        .attr("arn")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "arn:{}:logs:{}:{account}:log-group:{}",
                crate::aws::partition(cx.region()),
                cx.region(),
                flow_log_group_name(cx.suffix().as_str())
            )
        });
    let group = group.trim_end_matches(":*").to_owned();
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DeliverFlowLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [group.clone(), format!("{group}:*")]
        }]
    }))
}

// ---------------------------------------------------------------- helpers

/// The filters that select what this suffix owns.
fn owned(cx: &Ctx) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_SUFFIX}"))
            .values(cx.suffix().as_str())
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_MANAGED_BY}"))
            .values(MANAGED_BY)
            .build(),
    ]
}

fn tag_spec(cx: &Ctx, rt: ResourceType, name: &str, step: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut tags: Vec<Tag> = cx
        .tags(name, step)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    for (k, v) in extra {
        tags.push(Tag::builder().key(*k).value(*v).build());
    }
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags))
        .build()
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tag_value(tags, key, |t| t.key(), |t| t.value())
}

/// Whether a resource belongs to `step` of this suffix (see [`Ctx::owns`]);
/// the tag filters are the server's job, this is the client's check.
fn owned_by(cx: &Ctx, tags: &[Tag], step: &str) -> bool {
    cx.owns(step, |k| tag(tags, k))
}

/// The three availability zones the stack uses: the first three available
/// (standard) zones of the region, sorted, so every run picks the same.
pub async fn zones(cx: &Ctx) -> StepResult<Arc<Vec<String>>> {
    cx.inventory
        .get("ec2:azs", || async {
            let out = cx
                .aws
                .ec2
                .describe_availability_zones()
                .filters(Filter::builder().name("state").values("available").build())
                .send()
                .await
                .aws("DescribeAvailabilityZones")?;
            let mut zones: Vec<String> = out
                .availability_zones()
                .iter()
                .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
                .filter_map(|z| z.zone_name().map(str::to_owned))
                .collect();
            zones.sort();
            if zones.len() < AZ_COUNT {
                return Err(AwsError::custom(
                    "DescribeAvailabilityZones",
                    "TooFewZones",
                    format!(
                        "region {} offers {} available zone(s); the stack needs {AZ_COUNT}. hint: pick another --region",
                        cx.region(),
                        zones.len()
                    ),
                ));
            }
            zones.truncate(AZ_COUNT);
            Ok(zones)
        })
        .await
}

macro_rules! inventory {
    ($fn:ident, $key:literal, $ty:ty, |$cx:ident| $body:expr) => {
        async fn $fn($cx: &Ctx) -> StepResult<Arc<Vec<$ty>>> {
            $cx.inventory.get($key, || async { $body }).await
        }
    };
}

inventory!(vpcs, "ec2:vpcs", aws_sdk_ec2::types::Vpc, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_vpcs()
        .set_filters(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeVpcs")?
        .vpcs()
        .to_vec())
});
inventory!(subnets, "ec2:subnets", aws_sdk_ec2::types::Subnet, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_subnets()
        .set_filters(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeSubnets")?
        .subnets()
        .to_vec())
});
inventory!(igws, "ec2:igws", aws_sdk_ec2::types::InternetGateway, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_internet_gateways()
        .set_filters(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeInternetGateways")?
        .internet_gateways()
        .to_vec())
});
inventory!(addresses, "ec2:eips", aws_sdk_ec2::types::Address, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_addresses()
        .set_filters(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeAddresses")?
        .addresses()
        .to_vec())
});
inventory!(nats, "ec2:nats", aws_sdk_ec2::types::NatGateway, |cx| {
    let mut f = owned(cx);
    f.push(
        Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .build(),
    );
    Ok(cx
        .aws
        .ec2
        .describe_nat_gateways()
        .set_filter(Some(f))
        .send()
        .await
        .aws("DescribeNatGateways")?
        .nat_gateways()
        .to_vec())
});
inventory!(route_tables, "ec2:rtbs", aws_sdk_ec2::types::RouteTable, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_route_tables()
        .set_filters(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeRouteTables")?
        .route_tables()
        .to_vec())
});
inventory!(groups, "ec2:sgs", aws_sdk_ec2::types::SecurityGroup, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_security_groups()
        .set_filters(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeSecurityGroups")?
        .security_groups()
        .to_vec())
});
inventory!(flow_logs, "ec2:flowlogs", aws_sdk_ec2::types::FlowLog, |cx| {
    Ok(cx
        .aws
        .ec2
        .describe_flow_logs()
        .set_filter(Some(owned(cx)))
        .send()
        .await
        .aws("DescribeFlowLogs")?
        .flow_logs()
        .to_vec())
});

// ---------------------------------------------------------------- VPC

pub struct Vpc;

#[async_trait]
impl Step for Vpc {
    fn id(&self) -> &str {
        "vpc"
    }
    fn kind(&self) -> &'static str {
        "vpc"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(vpcs(cx).await?.iter().find(|v| owned_by(cx, v.tags(), "vpc")).map(|v| {
            let mut r = Record::new(v.vpc_id().unwrap_or_default()).with("cidr", v.cidr_block().unwrap_or_default());
            if tag(v.tags(), TAG_CONFIGURED).is_some() {
                r = r.with("configured", "true");
            }
            r
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("vpc", "main");
        let cidr = cx.settings.vpc_cidr.to_string();
        let out = cx
            .aws
            .ec2
            .create_vpc()
            .cidr_block(&cidr)
            .tag_specifications(tag_spec(cx, ResourceType::Vpc, &name, "vpc", &[]))
            .send()
            .await
            .aws("CreateVpc")?;
        let id = out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_owned();
        configure_vpc(cx, &id).await?;
        Ok(Record::new(id).with("cidr", cidr).with("configured", "true"))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want = cx.settings.vpc_cidr.to_string();
        if rec.attr("cidr") != Some(want.as_str()) {
            drift.push(format!(
                "CIDR is {} but --vpc-cidr is {want} (a VPC's CIDR cannot change: `down` and `up` to move it)",
                rec.attr("cidr").unwrap_or("?")
            ));
        }
        if rec.attr("configured").is_none() {
            drift.push("DNS support/hostnames not confirmed".into());
            if fix {
                configure_vpc(cx, &rec.id).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_vpc()
                .vpc_id(&rec.id)
                .send()
                .await
                .aws("DeleteVpc")
                .map(|_| ())
        })
        .await
    }
}

/// DNS support and hostnames (two calls: AWS rejects both in one), then
/// the marker tag that says both went through.
async fn configure_vpc(cx: &Ctx, id: &str) -> StepResult<()> {
    let on = || AttributeBooleanValue::builder().value(true).build();
    cx.aws
        .ec2
        .modify_vpc_attribute()
        .vpc_id(id)
        .enable_dns_support(on())
        .send()
        .await
        .aws("ModifyVpcAttribute")?;
    cx.aws
        .ec2
        .modify_vpc_attribute()
        .vpc_id(id)
        .enable_dns_hostnames(on())
        .send()
        .await
        .aws("ModifyVpcAttribute")?;
    cx.aws
        .ec2
        .create_tags()
        .resources(id)
        .tags(Tag::builder().key(TAG_CONFIGURED).value("true").build())
        .send()
        .await
        .aws("CreateTags")?;
    Ok(())
}

// ---------------------------------------------------------------- subnets

pub struct Subnet {
    tier: Tier,
    az: usize,
    id: String,
}

#[async_trait]
impl Step for Subnet {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "subnet"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["vpc".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(subnets(cx)
            .await?
            .iter()
            .find(|s| owned_by(cx, s.tags(), &self.id))
            .map(|s| {
                Record::new(s.subnet_id().unwrap_or_default())
                    .with("az", s.availability_zone().unwrap_or_default())
                    .with("cidr", s.cidr_block().unwrap_or_default())
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let zones = zones(cx).await?;
        let az = &zones[self.az];
        let cidr = cx.settings.vpc_cidr.subnet24(self.tier.block(self.az));
        let name = cx.name("subnet", &format!("{}-{}", self.tier.name(), az_letter(self.az)));
        let out = cx
            .aws
            .ec2
            .create_subnet()
            .vpc_id(cx.id_of("vpc")?)
            .cidr_block(&cidr)
            .availability_zone(az)
            .tag_specifications(tag_spec(
                cx,
                ResourceType::Subnet,
                &name,
                &self.id,
                &[("Tier", self.tier.name())],
            ))
            .send()
            .await
            .aws("CreateSubnet")?;
        let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default();
        Ok(Record::new(id).with("az", az.as_str()).with("cidr", cidr))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_subnet()
                .subnet_id(&rec.id)
                .send()
                .await
                .aws("DeleteSubnet")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- internet gateway

pub struct InternetGateway;

#[async_trait]
impl Step for InternetGateway {
    fn id(&self) -> &str {
        "igw"
    }
    fn kind(&self) -> &'static str {
        "internet-gateway"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["vpc".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(igws(cx).await?.iter().find(|g| owned_by(cx, g.tags(), "igw")).map(|g| {
            let mut r = Record::new(g.internet_gateway_id().unwrap_or_default());
            if let Some(vpc) = g.attachments().iter().find_map(|a| a.vpc_id()) {
                r = r.with("vpc", vpc);
            }
            r
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("igw", "main");
        let out = cx
            .aws
            .ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(cx, ResourceType::InternetGateway, &name, "igw", &[]))
            .send()
            .await
            .aws("CreateInternetGateway")?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_owned();
        let vpc = cx.id_of("vpc")?;
        cx.aws
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(&vpc)
            .send()
            .await
            .aws("AttachInternetGateway")?;
        Ok(Record::new(id).with("vpc", vpc))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let vpc = cx.id_of("vpc")?;
        if rec.attr("vpc") == Some(vpc.as_str()) {
            return Ok(vec![]);
        }
        if fix {
            cx.aws
                .ec2
                .attach_internet_gateway()
                .internet_gateway_id(&rec.id)
                .vpc_id(&vpc)
                .send()
                .await
                .aws("AttachInternetGateway")?;
        }
        Ok(vec![format!("not attached to {vpc}")])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if let Some(vpc) = rec.attr("vpc") {
            // Refused while public addresses are still mapped in the VPC.
            wait::delete(Backoff::DRAIN, || async {
                cx.aws
                    .ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(&rec.id)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .aws("DetachInternetGateway")
                    .map(|_| ())
            })
            .await?;
        }
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(&rec.id)
                .send()
                .await
                .aws("DeleteInternetGateway")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- Elastic IPs

pub struct ElasticIp {
    az: usize,
    id: String,
}

#[async_trait]
impl Step for ElasticIp {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "elastic-ip"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["vpc".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(addresses(cx)
            .await?
            .iter()
            .find(|a| owned_by(cx, a.tags(), &self.id))
            .map(|a| Record::new(a.allocation_id().unwrap_or_default()).with("ip", a.public_ip().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("eip", &format!("nat-{}", az_letter(self.az)));
        let out = cx
            .aws
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(cx, ResourceType::ElasticIp, &name, &self.id, &[]))
            .send()
            .await
            .aws("AllocateAddress")?;
        Ok(Record::new(out.allocation_id().unwrap_or_default()).with("ip", out.public_ip().unwrap_or_default()))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .release_address()
                .allocation_id(&rec.id)
                .send()
                .await
                .aws("ReleaseAddress")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- NAT gateways

pub struct NatGateway {
    az: usize,
    id: String,
}

#[async_trait]
impl Step for NatGateway {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "nat-gateway"
    }
    fn deps(&self) -> Vec<Dep> {
        let l = az_letter(self.az);
        vec![
            subnet_step(Tier::Public, self.az).into(),
            format!("eip-{l}").into(),
            "igw".into(),
        ]
    }
    fn timing(&self) -> Timing {
        Timing::secs(2, 120, 60)
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(nats(cx)
            .await?
            .iter()
            .find(|n| owned_by(cx, n.tags(), &self.id))
            .map(|n| {
                let r = Record::new(n.nat_gateway_id().unwrap_or_default());
                if n.state() == Some(&aws_sdk_ec2::types::NatGatewayState::Available) {
                    r
                } else {
                    r.pending()
                }
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let l = az_letter(self.az);
        let name = cx.name("nat", &l.to_string());
        let subnet = cx.id_of(&subnet_step(Tier::Public, self.az))?;
        let allocation = cx.id_of(&format!("eip-{l}"))?;
        let token = cx.client_token(&self.id, 64);
        let create = || async {
            cx.aws
                .ec2
                .create_nat_gateway()
                .subnet_id(&subnet)
                .allocation_id(&allocation)
                // Makes an SDK retry of a create whose response was lost
                // return the same gateway instead of a second one.
                .client_token(&token)
                .tag_specifications(tag_spec(cx, ResourceType::Natgateway, &name, &self.id, &[]))
                .send()
                .await
                .aws("CreateNatGateway")
        };
        let out = match create().await {
            // The address is still held by a gateway that was deleted (it is
            // released when the deletion completes): free it if its holder is
            // gone, else wait for the release.
            Err(e) if e.code_is("Resource.AlreadyAssociated") => {
                cx.waiting(&self.id, "the Elastic IP to be released by a deleted NAT gateway");
                release_stale_association(cx, &subnet, &allocation).await?;
                wait::retry_while(
                    ErrorClass::InUse,
                    Backoff::DRAIN.with_timeout(Duration::from_secs(300)),
                    || async {
                        create().await.map_err(|e| {
                            if e.code_is("Resource.AlreadyAssociated") {
                                AwsError::custom("CreateNatGateway", "ResourceInUse", e.message)
                            } else {
                                e
                            }
                        })
                    },
                )
                .await?
            }
            r => r?,
        };
        Ok(Record::new(out.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap_or_default()).pending())
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting(&self.id, "NAT gateway to become available");
        cx.aws
            .ec2
            .wait_until_nat_gateway_available()
            .nat_gateway_ids(&rec.id)
            .wait(Duration::from_secs(15 * 60))
            .await
            .map_err(|e| waiter_err("WaitNatGatewayAvailable", e))?;
        Ok(rec.clone())
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if cx
            .aws
            .ec2
            .delete_nat_gateway()
            .nat_gateway_id(&rec.id)
            .send()
            .await
            .aws("DeleteNatGateway")
            .or_not_found()?
            .is_none()
        {
            return Ok(());
        }
        cx.waiting(&self.id, "NAT gateway to be deleted");
        cx.aws
            .ec2
            .wait_until_nat_gateway_deleted()
            .nat_gateway_ids(&rec.id)
            .wait(Duration::from_secs(15 * 60))
            .await
            .map_err(|e| waiter_err("WaitNatGatewayDeleted", e))?;
        Ok(())
    }
}

/// Disassociates `allocation` when no live NAT gateway in `subnet` holds it.
async fn release_stale_association(cx: &Ctx, subnet: &str, allocation: &str) -> StepResult<()> {
    let live = cx
        .aws
        .ec2
        .describe_nat_gateways()
        .filter(Filter::builder().name("subnet-id").values(subnet).build())
        .filter(
            Filter::builder()
                .name("state")
                .values("pending")
                .values("available")
                .build(),
        )
        .send()
        .await
        .aws("DescribeNatGateways")?;
    let held = live
        .nat_gateways()
        .iter()
        .flat_map(|n| n.nat_gateway_addresses())
        .any(|a| a.allocation_id() == Some(allocation));
    if held {
        return Ok(());
    }
    let addr = cx
        .aws
        .ec2
        .describe_addresses()
        .allocation_ids(allocation)
        .send()
        .await
        .aws("DescribeAddresses")?;
    if let Some(assoc) = addr.addresses().first().and_then(|a| a.association_id()) {
        match cx
            .aws
            .ec2
            .disassociate_address()
            .association_id(assoc)
            .send()
            .await
            .aws("DisassociateAddress")
        {
            Err(e) if !e.is_not_found() => tracing::debug!(error = %e, "could not free the address yet"),
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- route tables

/// Where a route table's default route points: a step's gateway.
#[derive(Debug, Clone)]
pub enum Target {
    Gateway(String),
    Nat(String),
}

impl Target {
    fn step(&self) -> &str {
        match self {
            Target::Gateway(s) | Target::Nat(s) => s,
        }
    }
}

/// A route table with its default route and subnet associations.
pub struct RouteTable {
    id: String,
    purpose: String,
    default_route: Option<Target>,
    subnets: Vec<String>,
}

const ANYWHERE: &str = "0.0.0.0/0";

impl RouteTable {
    async fn table(&self, cx: &Ctx, rtb: &str) -> StepResult<Option<aws_sdk_ec2::types::RouteTable>> {
        Ok(route_tables(cx)
            .await?
            .iter()
            .find(|t| t.route_table_id() == Some(rtb))
            .cloned())
    }

    async fn set_route(&self, cx: &Ctx, rtb: &str, target: &Target, replace: bool) -> StepResult<()> {
        let target_id = cx.id_of(target.step())?;
        if replace {
            let mut req = cx
                .aws
                .ec2
                .replace_route()
                .route_table_id(rtb)
                .destination_cidr_block(ANYWHERE);
            req = match target {
                Target::Gateway(_) => req.gateway_id(&target_id),
                Target::Nat(_) => req.nat_gateway_id(&target_id),
            };
            req.send().await.aws("ReplaceRoute")?;
        } else {
            let mut req = cx
                .aws
                .ec2
                .create_route()
                .route_table_id(rtb)
                .destination_cidr_block(ANYWHERE);
            req = match target {
                Target::Gateway(_) => req.gateway_id(&target_id),
                Target::Nat(_) => req.nat_gateway_id(&target_id),
            };
            req.send().await.aws("CreateRoute")?;
        }
        Ok(())
    }

    async fn associate(&self, cx: &Ctx, rtb: &str, subnet_step: &str) -> StepResult<()> {
        cx.aws
            .ec2
            .associate_route_table()
            .route_table_id(rtb)
            .subnet_id(cx.id_of(subnet_step)?)
            .send()
            .await
            .aws("AssociateRouteTable")?;
        Ok(())
    }
}

#[async_trait]
impl Step for RouteTable {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "route-table"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d = vec![Dep::id("vpc")];
        d.extend(self.subnets.iter().cloned().map(Dep::id));
        match &self.default_route {
            Some(Target::Gateway(g)) => d.push(Dep::id(g.clone())),
            // A route to a NAT gateway is only useful once it is available.
            Some(Target::Nat(n)) => d.push(Dep::ready(n.clone())),
            None => {}
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(route_tables(cx)
            .await?
            .iter()
            .find(|t| owned_by(cx, t.tags(), &self.id))
            .map(|t| Record::new(t.route_table_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("rtb", &self.purpose);
        let out = cx
            .aws
            .ec2
            .create_route_table()
            .vpc_id(cx.id_of("vpc")?)
            .tag_specifications(tag_spec(cx, ResourceType::RouteTable, &name, &self.id, &[]))
            .send()
            .await
            .aws("CreateRouteTable")?;
        let rtb = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        if let Some(target) = &self.default_route {
            self.set_route(cx, &rtb, target, false).await?;
        }
        for s in &self.subnets {
            self.associate(cx, &rtb, s).await?;
        }
        Ok(Record::new(rtb))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(table) = self.table(cx, &rec.id).await? else {
            return Ok(vec![]);
        };
        let mut drift = Vec::new();
        let default = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some(ANYWHERE));
        match (&self.default_route, default) {
            (Some(target), route) => {
                let want = cx.id_of(target.step())?;
                let have = route.and_then(|r| r.nat_gateway_id().or(r.gateway_id()));
                let blackhole = route
                    .and_then(|r| r.state())
                    .map(|s| s.as_str() == "blackhole")
                    .unwrap_or(false);
                if have != Some(want.as_str()) || blackhole {
                    drift.push(format!(
                        "default route goes to {} instead of {want}",
                        have.unwrap_or("nothing")
                    ));
                    if fix {
                        self.set_route(cx, &rec.id, target, route.is_some()).await?;
                    }
                }
            }
            (None, Some(r)) => {
                drift.push(format!(
                    "has an internet route to {} it must not have",
                    r.nat_gateway_id().or(r.gateway_id()).unwrap_or("?")
                ));
                if fix {
                    cx.aws
                        .ec2
                        .delete_route()
                        .route_table_id(&rec.id)
                        .destination_cidr_block(ANYWHERE)
                        .send()
                        .await
                        .aws("DeleteRoute")?;
                }
            }
            (None, None) => {}
        }
        let associated: BTreeSet<&str> = table.associations().iter().filter_map(|a| a.subnet_id()).collect();
        for s in &self.subnets {
            let subnet = cx.id_of(s)?;
            if !associated.contains(subnet.as_str()) {
                drift.push(format!("{s} ({subnet}) not associated"));
                if fix {
                    self.associate(cx, &rec.id, s).await?;
                }
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if let Some(table) = self.table(cx, &rec.id).await? {
            for a in table.associations().iter().filter(|a| !a.main().unwrap_or(false)) {
                if let Some(id) = a.route_table_association_id() {
                    wait::delete(Backoff::DRAIN, || async {
                        cx.aws
                            .ec2
                            .disassociate_route_table()
                            .association_id(id)
                            .send()
                            .await
                            .aws("DisassociateRouteTable")
                            .map(|_| ())
                    })
                    .await?;
                }
            }
        }
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_route_table()
                .route_table_id(&rec.id)
                .send()
                .await
                .aws("DeleteRouteTable")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- security groups

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Anywhere,
    VpcCidr,
    /// Another security group, by step id.
    Group(&'static str),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub port: i32,
    pub peer: Peer,
    pub description: &'static str,
}

pub struct SecurityGroup {
    pub id: &'static str,
    pub purpose: &'static str,
    pub description: &'static str,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// The three groups: the ALB open on 80/443, the app reachable only from
/// the ALB, the database only from the app. Egress is narrowed too.
pub fn security_groups() -> Vec<SecurityGroup> {
    vec![
        SecurityGroup {
            id: "sg-alb",
            purpose: "alb",
            description: "Load balancer: HTTP and HTTPS from the internet",
            ingress: vec![
                Rule {
                    port: 80,
                    peer: Peer::Anywhere,
                    description: "HTTP from anywhere",
                },
                Rule {
                    port: 443,
                    peer: Peer::Anywhere,
                    description: "HTTPS from anywhere",
                },
            ],
            egress: vec![Rule {
                port: APP_PORT,
                peer: Peer::VpcCidr,
                description: "to the app tasks",
            }],
        },
        SecurityGroup {
            id: "sg-app",
            purpose: "app",
            description: "App tasks: the app port from the load balancer only",
            ingress: vec![Rule {
                port: APP_PORT,
                peer: Peer::Group("sg-alb"),
                description: "app port from the ALB",
            }],
            egress: vec![
                Rule {
                    port: 443,
                    peer: Peer::Anywhere,
                    description: "AWS APIs (ECR, Secrets Manager, X-Ray, Logs)",
                },
                Rule {
                    port: DB_PORT,
                    peer: Peer::VpcCidr,
                    description: "to the database",
                },
            ],
        },
        SecurityGroup {
            id: "sg-db",
            purpose: "db",
            description: "Database: PostgreSQL from the app tasks only",
            ingress: vec![Rule {
                port: DB_PORT,
                peer: Peer::Group("sg-app"),
                description: "PostgreSQL from the app",
            }],
            egress: vec![],
        },
    ]
}

/// A comparable key for one rule: `tcp:5000:sg-123` or `tcp:80:0.0.0.0/0`.
fn rule_keys(perms: &[IpPermission]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let port = if proto == "-1" {
            "all".to_string()
        } else if p.from_port() == p.to_port() {
            p.from_port().map(|x| x.to_string()).unwrap_or_default()
        } else {
            format!("{}-{}", p.from_port().unwrap_or(0), p.to_port().unwrap_or(0))
        };
        for r in p.ip_ranges() {
            keys.insert(format!("{proto}:{port}:{}", r.cidr_ip().unwrap_or_default()));
        }
        for r in p.ipv6_ranges() {
            keys.insert(format!("{proto}:{port}:{}", r.cidr_ipv6().unwrap_or_default()));
        }
        for g in p.user_id_group_pairs() {
            keys.insert(format!("{proto}:{port}:{}", g.group_id().unwrap_or_default()));
        }
        for l in p.prefix_list_ids() {
            keys.insert(format!("{proto}:{port}:{}", l.prefix_list_id().unwrap_or_default()));
        }
    }
    keys
}

/// Parses a key back into a permission (for revoking an unwanted rule).
fn permission_from_key(key: &str) -> IpPermission {
    let mut parts = key.splitn(3, ':');
    let proto = parts.next().unwrap_or("-1");
    let port = parts.next().unwrap_or("all");
    let peer = parts.next().unwrap_or_default();
    let mut b = IpPermission::builder().ip_protocol(proto);
    if port != "all" {
        let (from, to) = port.split_once('-').unwrap_or((port, port));
        b = b.from_port(from.parse().unwrap_or(0)).to_port(to.parse().unwrap_or(0));
    }
    if peer.starts_with("sg-") {
        b = b.user_id_group_pairs(UserIdGroupPair::builder().group_id(peer).build());
    } else if peer.contains(':') {
        b = b.ipv6_ranges(aws_sdk_ec2::types::Ipv6Range::builder().cidr_ipv6(peer).build());
    } else if peer.starts_with("pl-") {
        b = b.prefix_list_ids(aws_sdk_ec2::types::PrefixListId::builder().prefix_list_id(peer).build());
    } else {
        b = b.ip_ranges(IpRange::builder().cidr_ip(peer).build());
    }
    b.build()
}

impl SecurityGroup {
    fn permission(&self, cx: &Ctx, rule: &Rule) -> StepResult<(String, IpPermission)> {
        let b = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(rule.port)
            .to_port(rule.port);
        let (peer, perm) = match &rule.peer {
            Peer::Anywhere => (
                ANYWHERE.to_string(),
                b.ip_ranges(
                    IpRange::builder()
                        .cidr_ip(ANYWHERE)
                        .description(rule.description)
                        .build(),
                ),
            ),
            Peer::VpcCidr => {
                let c = cx.settings.vpc_cidr.to_string();
                (
                    c.clone(),
                    b.ip_ranges(IpRange::builder().cidr_ip(c).description(rule.description).build()),
                )
            }
            Peer::Group(step) => {
                let g = cx.id_of(step)?;
                (
                    g.clone(),
                    b.user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(g)
                            .description(rule.description)
                            .build(),
                    ),
                )
            }
        };
        Ok((format!("tcp:{}:{peer}", rule.port), perm.build()))
    }

    fn wanted(&self, cx: &Ctx, rules: &[Rule]) -> StepResult<Vec<(String, IpPermission)>> {
        rules.iter().map(|r| self.permission(cx, r)).collect()
    }

    /// Makes one direction's rules exactly `want`.
    async fn converge(
        &self,
        cx: &Ctx,
        group: &str,
        ingress: bool,
        have: BTreeSet<String>,
        fix: bool,
    ) -> StepResult<Vec<String>> {
        let want = self.wanted(cx, if ingress { &self.ingress } else { &self.egress })?;
        let dir = if ingress { "ingress" } else { "egress" };
        let want_keys: BTreeSet<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
        let add: Vec<IpPermission> = want
            .iter()
            .filter(|(k, _)| !have.contains(k))
            .map(|(_, p)| p.clone())
            .collect();
        let remove: Vec<&String> = have.iter().filter(|k| !want_keys.contains(k.as_str())).collect();
        let mut drift: Vec<String> = want
            .iter()
            .filter(|(k, _)| !have.contains(k))
            .map(|(k, _)| format!("{dir} {k} missing"))
            .collect();
        drift.extend(remove.iter().map(|k| format!("{dir} {k} not allowed")));
        if fix {
            if !remove.is_empty() {
                let perms: Vec<IpPermission> = remove.iter().map(|k| permission_from_key(k)).collect();
                if ingress {
                    cx.aws
                        .ec2
                        .revoke_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms))
                        .send()
                        .await
                        .aws("RevokeSecurityGroupIngress")?;
                } else {
                    cx.aws
                        .ec2
                        .revoke_security_group_egress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms))
                        .send()
                        .await
                        .aws("RevokeSecurityGroupEgress")?;
                }
            }
            if !add.is_empty() {
                let r = if ingress {
                    cx.aws
                        .ec2
                        .authorize_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(add))
                        .send()
                        .await
                        .aws("AuthorizeSecurityGroupIngress")
                        .map(|_| ())
                } else {
                    cx.aws
                        .ec2
                        .authorize_security_group_egress()
                        .group_id(group)
                        .set_ip_permissions(Some(add))
                        .send()
                        .await
                        .aws("AuthorizeSecurityGroupEgress")
                        .map(|_| ())
                };
                match r {
                    Err(e) if e.code_is("InvalidPermission.Duplicate") => {}
                    r => r?,
                }
            }
        }
        Ok(drift)
    }
}

#[async_trait]
impl Step for SecurityGroup {
    fn id(&self) -> &str {
        self.id
    }
    fn kind(&self) -> &'static str {
        "security-group"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d = vec![Dep::id("vpc")];
        for r in self.ingress.iter().chain(&self.egress) {
            if let Peer::Group(g) = r.peer {
                d.push(Dep::id(g));
            }
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(groups(cx)
            .await?
            .iter()
            .find(|g| owned_by(cx, g.tags(), self.id))
            .map(|g| Record::new(g.group_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("sg", self.purpose);
        let out = cx
            .aws
            .ec2
            .create_security_group()
            .group_name(&name)
            .description(self.description)
            .vpc_id(cx.id_of("vpc")?)
            .tag_specifications(tag_spec(cx, ResourceType::SecurityGroup, &name, self.id, &[]))
            .send()
            .await
            .aws("CreateSecurityGroup")?;
        let id = out.group_id().unwrap_or_default().to_owned();
        // A new group allows all egress; make both directions exact.
        let default_egress: BTreeSet<String> = [format!("-1:all:{ANYWHERE}")].into();
        self.converge(cx, &id, false, default_egress, true).await?;
        self.converge(cx, &id, true, BTreeSet::new(), true).await?;
        Ok(Record::new(id))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(g) = groups(cx)
            .await?
            .iter()
            .find(|g| g.group_id() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let mut drift = self
            .converge(cx, &rec.id, true, rule_keys(g.ip_permissions()), fix)
            .await?;
        drift.extend(
            self.converge(cx, &rec.id, false, rule_keys(g.ip_permissions_egress()), fix)
                .await?,
        );
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Rules that reference other groups block those groups' deletion:
        // revoke them first.
        if let Some(g) = groups(cx).await?.iter().find(|g| g.group_id() == Some(rec.id.as_str())) {
            let refs = |perms: &[IpPermission]| -> Vec<IpPermission> {
                perms
                    .iter()
                    .filter(|p| !p.user_id_group_pairs().is_empty())
                    .cloned()
                    .collect()
            };
            let ingress = refs(g.ip_permissions());
            if !ingress.is_empty() {
                let r = cx
                    .aws
                    .ec2
                    .revoke_security_group_ingress()
                    .group_id(&rec.id)
                    .set_ip_permissions(Some(ingress))
                    .send()
                    .await
                    .aws("RevokeSecurityGroupIngress");
                ignore_not_found(r.map(|_| ()))?;
            }
            let egress = refs(g.ip_permissions_egress());
            if !egress.is_empty() {
                let r = cx
                    .aws
                    .ec2
                    .revoke_security_group_egress()
                    .group_id(&rec.id)
                    .set_ip_permissions(Some(egress))
                    .send()
                    .await
                    .aws("RevokeSecurityGroupEgress");
                ignore_not_found(r.map(|_| ()))?;
            }
        }
        // ENIs of deleted tasks, load balancers and databases linger.
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_security_group()
                .group_id(&rec.id)
                .send()
                .await
                .aws("DeleteSecurityGroup")
                .map(|_| ())
        })
        .await
    }
}

fn ignore_not_found(r: StepResult<()>) -> StepResult<()> {
    match r {
        Err(e) if e.is_not_found() || e.code_is("InvalidPermission.NotFound") => Ok(()),
        r => r,
    }
}

// ---------------------------------------------------------------- flow logs

pub struct FlowLog;

#[async_trait]
impl Step for FlowLog {
    fn id(&self) -> &str {
        "flow-log"
    }
    fn kind(&self) -> &'static str {
        "flow-log"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["vpc".into(), "log-vpc-flow".into(), "role-flowlogs".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(flow_logs(cx)
            .await?
            .iter()
            .find(|f| owned_by(cx, f.tags(), "flow-log"))
            .map(|f| Record::new(f.flow_log_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("flowlog", "vpc");
        let vpc = cx.id_of("vpc")?;
        let role = cx.rec("role-flowlogs")?.attr("arn").unwrap_or_default().to_owned();
        let group = flow_log_group_name(cx.suffix().as_str());
        let token = cx.client_token("flow-log", 64);
        // A brand-new delivery role may not be assumable yet.
        let out = wait::retry_while(ErrorClass::NotYetPropagated, Backoff::IAM, || async {
            cx.aws
                .ec2
                .create_flow_logs()
                .resource_ids(&vpc)
                .resource_type(FlowLogsResourceType::Vpc)
                .traffic_type(TrafficType::All)
                .log_destination_type(LogDestinationType::CloudWatchLogs)
                .log_group_name(&group)
                .deliver_logs_permission_arn(&role)
                .client_token(&token)
                .tag_specifications(tag_spec(cx, ResourceType::VpcFlowLog, &name, "flow-log", &[]))
                .send()
                .await
                .aws("CreateFlowLogs")
        })
        .await?;
        if let Some(u) = out.unsuccessful().first() {
            let e = u.error();
            return Err(AwsError::custom(
                "CreateFlowLogs",
                e.and_then(|e| e.code()).unwrap_or("Unsuccessful"),
                e.and_then(|e| e.message())
                    .unwrap_or("the flow log was not created")
                    .to_owned(),
            ));
        }
        Ok(Record::new(out.flow_log_ids().first().cloned().unwrap_or_default()))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_flow_logs()
                .flow_log_ids(&rec.id)
                .send()
                .await
                .aws("DeleteFlowLogs")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_keys_round_trip_through_permissions() {
        for key in [
            "tcp:5000:sg-123",
            "tcp:80:0.0.0.0/0",
            "-1:all:0.0.0.0/0",
            "tcp:1000-2000:10.0.0.0/16",
        ] {
            let p = permission_from_key(key);
            assert_eq!(rule_keys(&[p]), [key.to_string()].into(), "{key}");
        }
    }

    #[test]
    fn only_the_alb_is_open_to_the_internet_and_db_only_to_the_app() {
        let sgs = security_groups();
        for sg in &sgs {
            for r in &sg.ingress {
                if r.peer == Peer::Anywhere {
                    assert_eq!(sg.id, "sg-alb");
                    assert!([80, 443].contains(&r.port));
                }
            }
        }
        let db = sgs.iter().find(|s| s.id == "sg-db").unwrap();
        assert_eq!(db.ingress.len(), 1);
        assert_eq!(db.ingress[0].peer, Peer::Group("sg-app"));
        assert!(db.egress.is_empty());
        let app = sgs.iter().find(|s| s.id == "sg-app").unwrap();
        assert_eq!(app.ingress.len(), 1);
        assert_eq!(app.ingress[0].peer, Peer::Group("sg-alb"));
        assert_eq!(app.ingress[0].port, APP_PORT);
    }

    #[test]
    fn subnet_blocks_do_not_overlap() {
        let mut seen = BTreeSet::new();
        for t in Tier::ALL {
            for az in 0..AZ_COUNT {
                assert!(seen.insert(t.block(az)));
            }
        }
    }
}
