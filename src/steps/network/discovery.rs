//! Finding the network's EC2 resources: the availability zones, and one
//! tag-filtered describe per kind (`DescribeVpcs`, `DescribeSubnets`,
//! `DescribeInternetGateways`, `DescribeAddresses`, `DescribeNatGateways`,
//! `DescribeRouteTables`, `DescribeSecurityGroups`, `DescribeFlowLogs`)
//! shared through the inventory; the route table a subnet is associated
//! with; and the tags those finders look for.

use super::AZ_COUNT;
use crate::aws::{AwsError, AwsResultExt};
use crate::naming::{MANAGED_BY, TAG_MANAGED_BY, TAG_SUFFIX};
use crate::steps::{tag_value, Ctx, StepResult};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use std::sync::Arc;

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

/// The tags a create puts on a resource (those the finders select by, plus
/// `extra`), for its `TagSpecifications`.
pub(super) fn tag_spec(cx: &Ctx, rt: ResourceType, name: &str, step: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut pairs = cx.tags(name, step);
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(crate::aws::tags::ec2(pairs)))
        .build()
}

pub(super) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tag_value(tags, key, |t| t.key(), |t| t.value())
}

/// Whether a resource belongs to `step` of this suffix (see [`Ctx::owns`]);
/// the tag filters are the server's job, this is the client's check.
pub(super) fn owned_by(cx: &Ctx, tags: &[Tag], step: &str) -> bool {
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

/// The route table `subnet` is explicitly associated with, asked of EC2
/// now (not the inventory): it checks an association just attempted.
pub(super) async fn subnet_route_table(cx: &Ctx, subnet: &str) -> StepResult<Option<String>> {
    let out = cx
        .aws
        .ec2
        .describe_route_tables()
        .filters(Filter::builder().name("association.subnet-id").values(subnet).build())
        .send()
        .await
        .aws("DescribeRouteTables")?;
    Ok(out
        .route_tables()
        .iter()
        .find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(subnet)))
        .and_then(|t| t.route_table_id())
        .map(str::to_owned))
}

/// One tag-filtered describe per kind of the suffix's resources, every page
/// (the SDK's paginator), fetched once per run through the inventory:
/// `finder: Type = operation(filter setter) "OperationName";`.
/// `DescribeAddresses` has no pages (EC2 API Reference: it takes no
/// `NextToken`) and the NAT gateways are filtered by state too, so those two
/// are written out below.
macro_rules! owned_kinds {
    ($($fn:ident: $ty:ident = $op:ident($filters:ident) $name:literal;)*) => {$(
        pub(super) async fn $fn(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_ec2::types::$ty>>> {
            cx.inventory
                .get(concat!("ec2:", $name), || async {
                    let items = cx.aws.ec2.$op().$filters(Some(owned(cx))).into_paginator().items();
                    items.send().collect::<Result<Vec<_>, _>>().await.aws($name)
                })
                .await
        }
    )*};
}

owned_kinds! {
    vpcs: Vpc = describe_vpcs(set_filters) "DescribeVpcs";
    subnets: Subnet = describe_subnets(set_filters) "DescribeSubnets";
    igws: InternetGateway = describe_internet_gateways(set_filters) "DescribeInternetGateways";
    route_tables: RouteTable = describe_route_tables(set_filters) "DescribeRouteTables";
    groups: SecurityGroup = describe_security_groups(set_filters) "DescribeSecurityGroups";
    flow_logs: FlowLog = describe_flow_logs(set_filter) "DescribeFlowLogs";
}

pub(super) async fn addresses(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_ec2::types::Address>>> {
    cx.inventory
        .get("ec2:DescribeAddresses", || async {
            let out = cx
                .aws
                .ec2
                .describe_addresses()
                .set_filters(Some(owned(cx)))
                .send()
                .await;
            Ok(out.aws("DescribeAddresses")?.addresses().to_vec())
        })
        .await
}

/// The suffix's NAT gateways that are `pending` or `available` (a deleted
/// one stays listed for about an hour).
pub(super) async fn nats(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_ec2::types::NatGateway>>> {
    cx.inventory
        .get("ec2:DescribeNatGateways", || async {
            let state = Filter::builder()
                .name("state")
                .values("pending")
                .values("available")
                .build();
            let mut filters = owned(cx);
            filters.push(state);
            let items = cx
                .aws
                .ec2
                .describe_nat_gateways()
                .set_filter(Some(filters))
                .into_paginator()
                .items()
                .send();
            items.collect::<Result<Vec<_>, _>>().await.aws("DescribeNatGateways")
        })
        .await
}
