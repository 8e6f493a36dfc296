//! The NAT gateways, one per availability zone: `CreateNatGateway` (freeing
//! an Elastic IP a deleted gateway still holds with `DescribeNatGateways`,
//! `DescribeAddresses` and `DisassociateAddress`), the available and
//! deleted waiters, and `DeleteNatGateway`.

use super::discovery::{nats, owned_by, tag_spec};
use super::{subnet_step, Tier};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::naming::az_letter;
use crate::state::Record;
use crate::steps::{ids, waiter_err, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{Filter, ResourceType};
use std::time::Duration;

pub struct NatGateway {
    pub(super) az: usize,
    pub(super) id: String,
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
            ids::IGW.into(),
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
        let token = cx.client_token(&self.id);
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
