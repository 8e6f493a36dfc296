//! The Elastic IPs of the NAT gateways, one per availability zone:
//! `AllocateAddress` and `ReleaseAddress`.

use super::discovery::{addresses, owned_by, tag_spec};
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::naming::az_letter;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, ResourceType};

pub struct ElasticIp {
    pub(super) az: usize,
    pub(super) id: String,
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
        vec![ids::VPC.into()]
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
