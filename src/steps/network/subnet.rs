//! The subnets, one per tier and availability zone: `CreateSubnet` and
//! `DeleteSubnet`.

use super::discovery::{owned_by, subnets, tag_spec, zones};
use super::Tier;
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::naming::az_letter;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;

impl Tier {
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

pub struct Subnet {
    pub(super) tier: Tier,
    pub(super) az: usize,
    pub(super) id: String,
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
        vec![ids::VPC.into()]
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
        let vpc = cx.id_of(ids::VPC)?;
        // No client token, but only a refusal is retried: never two subnets.
        let out = wait::consistent(|| async {
            cx.aws
                .ec2
                .create_subnet()
                .vpc_id(&vpc)
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
                .aws("CreateSubnet")
        })
        .await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use crate::steps::network::{subnet_step, AZ_COUNT};
    use aws_sdk_ec2::operation::create_subnet::{CreateSubnetError, CreateSubnetOutput};
    use aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput;
    use aws_sdk_ec2::types::AvailabilityZone;
    use aws_smithy_mocks::mock;
    use std::collections::BTreeSet;

    #[tokio::test(start_paused = true)]
    async fn create_waits_for_a_new_vpc_to_be_visible() {
        let azs = mock!(aws_sdk_ec2::Client::describe_availability_zones).then_output(|| {
            let zone = |n: &str| {
                AvailabilityZone::builder()
                    .zone_name(n)
                    .zone_type("availability-zone")
                    .build()
            };
            DescribeAvailabilityZonesOutput::builder()
                .availability_zones(zone("ap-southeast-2a"))
                .availability_zones(zone("ap-southeast-2b"))
                .availability_zones(zone("ap-southeast-2c"))
                .build()
        });
        let create = mock!(aws_sdk_ec2::Client::create_subnet)
            .match_requests(|r| r.vpc_id() == Some("vpc-1") && r.availability_zone() == Some("ap-southeast-2b"))
            .sequence()
            .error(|| CreateSubnetError::generic(ec2_error("InvalidVpcID.NotFound")))
            .times(2)
            .output(|| {
                CreateSubnetOutput::builder()
                    .subnet(aws_sdk_ec2::types::Subnet::builder().subnet_id("subnet-1").build())
                    .build()
            })
            .build();
        let cx = ec2_ctx(&[&azs, &create], &[(ids::VPC, Record::new("vpc-1"))]);
        let step = Subnet {
            tier: Tier::Private,
            az: 1,
            id: subnet_step(Tier::Private, 1),
        };
        let rec = step.create(&cx).await.unwrap();
        assert_eq!(rec.id, "subnet-1");
        assert_eq!(create.num_calls(), 3);
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
