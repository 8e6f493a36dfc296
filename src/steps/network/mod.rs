//! The network: VPC, three tiers of subnets over three AZs, internet
//! gateway, an Elastic IP and NAT gateway per AZ, route tables, security
//! groups and VPC flow logs.
//!
//! Discovery is batched: one tag-filtered describe per kind, shared through
//! the inventory, whichever of the (many) steps of that kind asks first.
//!
//! EC2 is eventually consistent ("Eventual consistency in the Amazon EC2
//! API", EC2 developer guide): calls naming an id this run just created or
//! found go through [`consistent`](crate::aws::wait::consistent), which
//! retries `*.NotFound` (a refusal, so a create without a client token is
//! never made twice); where a retry can meet its own earlier success
//! (`RouteAlreadyExists`, `Resource.AlreadyAssociated`,
//! `InvalidPermission.Duplicate`) that answer counts as done.

mod default_security_group;
mod discovery;
mod elastic_ip;
mod flow_log;
mod gateway_endpoint;
mod internet_gateway;
#[cfg(test)]
mod mock;
mod nat_gateway;
mod route_table;
mod security_group;
mod security_group_rules;
mod subnet;
mod vpc;

pub use default_security_group::DefaultSecurityGroup;
pub use discovery::zones;
pub use elastic_ip::ElasticIp;
pub use flow_log::FlowLog;
pub use gateway_endpoint::{dynamodb_policy, s3_policy, GatewayEndpoint};
pub use internet_gateway::InternetGateway;
pub use nat_gateway::NatGateway;
pub use route_table::{RouteTable, Target};
pub use security_group::SecurityGroup;
pub use security_group_rules::{security_groups, Peer, Rule};
pub use subnet::Subnet;
pub use vpc::Vpc;

use super::identity::Role;
use super::logs::LogGroup;
use super::{ids, StepRef};
use crate::config::Settings;
use crate::naming::az_letter;
use std::sync::Arc;

pub const AZ_COUNT: usize = 3;
pub const APP_PORT: i32 = 5000;
pub const DB_PORT: i32 = 5432;

/// The default route's destination, and the "anywhere" peer of a rule.
const ANYWHERE: &str = "0.0.0.0/0";

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
}

/// Step id of the subnet of `tier` in AZ slot `az`: `subnet-private-b`.
pub fn subnet_step(tier: Tier, az: usize) -> String {
    format!("subnet-{}-{}", tier.name(), az_letter(az))
}

/// Step id of the NAT gateway in AZ slot `az`: `nat-b`.
pub fn nat_step(az: usize) -> String {
    format!("nat-{}", az_letter(az))
}

/// Step id of the NAT gateway's Elastic IP in AZ slot `az`: `eip-b`.
pub fn eip_step(az: usize) -> String {
    format!("eip-{}", az_letter(az))
}

/// Step id of the private route table of AZ slot `az`: `rt-private-b`.
pub fn private_route_table_step(az: usize) -> String {
    format!("rt-private-{}", az_letter(az))
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
        s.push(Arc::new(ElasticIp { az, id: eip_step(az) }));
        s.push(Arc::new(NatGateway { az, id: nat_step(az) }));
    }
    s.push(Arc::new(RouteTable {
        id: ids::RT_PUBLIC.into(),
        purpose: "public".into(),
        default_route: Some(Target::Gateway(ids::IGW.into())),
        subnets: subnet_steps(Tier::Public),
    }));
    for az in 0..AZ_COUNT {
        let l = az_letter(az);
        s.push(Arc::new(RouteTable {
            id: private_route_table_step(az),
            purpose: format!("private-{l}"),
            default_route: Some(Target::Nat(nat_step(az))),
            subnets: vec![subnet_step(Tier::Private, az)],
        }));
    }
    s.push(Arc::new(RouteTable {
        id: ids::RT_ISOLATED.into(),
        purpose: "isolated".into(),
        default_route: None,
        subnets: subnet_steps(Tier::Isolated),
    }));
    for sg in security_groups(settings) {
        s.push(Arc::new(sg));
    }
    s.push(Arc::new(DefaultSecurityGroup));
    s.push(Arc::new(GatewayEndpoint {
        id: ids::VPCE_S3,
        service: "s3",
        policy: s3_policy,
        names: vec![],
    }));
    s.push(Arc::new(GatewayEndpoint {
        id: ids::VPCE_DYNAMODB,
        service: "dynamodb",
        policy: dynamodb_policy,
        names: vec![ids::DDB_IDEMPOTENCY],
    }));
    s.push(Arc::new(
        LogGroup::new(ids::LOG_VPC_FLOW, flow_log_group_name(suffix), vec![]).encrypted(settings),
    ));
    s.push(Arc::new(Role {
        id: ids::ROLE_FLOWLOGS,
        purpose: "flowlogs",
        service: "vpc-flow-logs.amazonaws.com",
        deps: vec![ids::LOG_VPC_FLOW],
        managed: vec![],
        policy: flow_log::flow_log_policy,
    }));
    s.push(Arc::new(FlowLog));
    s
}
