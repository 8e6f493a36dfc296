//! The NAT gateways, one per availability zone: `CreateNatGateway` (freeing
//! an Elastic IP a deleted gateway still holds with `DescribeNatGateways`,
//! `DescribeAddresses` and `DisassociateAddress`), the available waiter,
//! and `DeleteNatGateway` (polling `DescribeNatGateways` until it is gone).

use super::discovery::{nats, owned_by, tag_spec};
use super::{eip_step, subnet_step, Tier};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, ErrorClass};
use crate::naming::az_letter;
use crate::state::Record;
use crate::steps::{ids, waiter_err, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{Filter, NatGatewayState, ResourceType};
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
        vec![
            subnet_step(Tier::Public, self.az).into(),
            eip_step(self.az).into(),
            ids::IGW.into(),
        ]
    }
    fn timing(&self) -> Timing {
        Timing::secs(2, 120, 60)
            .source("VPC User Guide (NAT gateways): pending until available, 1-2 min typical; deleting ~1 min")
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
                if n.state() == Some(&NatGatewayState::Available) {
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
        let allocation = cx.id_of(&eip_step(self.az))?;
        // EC2 API Reference, "Ensuring idempotency": a client token is up to
        // 64 ASCII characters.
        let token = cx.client_token(&self.id, 64);
        // The subnet and the address may be new: retried while EC2 does
        // not see them yet (safe: the client token makes it one gateway).
        let create = || {
            wait::consistent(|| async {
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
            })
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
        match cx
            .aws
            .ec2
            .delete_nat_gateway()
            .nat_gateway_id(&rec.id)
            .send()
            .await
            .aws("DeleteNatGateway")
        {
            Err(e) if gone(&e) => return Ok(()),
            r => r?,
        };
        cx.waiting(&self.id, "NAT gateway to be deleted");
        wait::poll(&format!("NAT gateway {} deleted", rec.id), DELETE_POLL, || {
            deleted(cx, &rec.id)
        })
        .await
    }
}

/// Polling a NAT gateway's deletion (about a minute, usually), for as long
/// as the SDK's waiter allowed.
const DELETE_POLL: Backoff = Backoff {
    first: Duration::from_secs(5),
    max: Duration::from_secs(30),
    timeout: Duration::from_secs(15 * 60),
};

/// An answer that says there is no such NAT gateway. EC2 names it
/// `NatGatewayNotFound` (no `.NotFound` suffix, so the error table does not
/// count it as not-found).
fn gone(e: &AwsError) -> bool {
    e.is_not_found() || e.code_is("NatGatewayNotFound")
}

/// `Some` once the gateway is gone: state `deleted`, an error saying there
/// is no such gateway, or an answer that simply does not list it (as
/// terraform-provider-aws's finder treats it). The SDK's
/// `wait_until_nat_gateway_deleted` only accepts the first two: on an empty
/// answer it polls on until its deadline.
async fn deleted(cx: &Ctx, id: &str) -> StepResult<Option<()>> {
    let out = cx
        .aws
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .aws("DescribeNatGateways");
    match out {
        Ok(out) => Ok(out
            .nat_gateways()
            .iter()
            .filter(|n| n.nat_gateway_id() == Some(id))
            .all(|n| n.state() == Some(&NatGatewayState::Deleted))
            .then_some(())),
        Err(e) if gone(&e) => Ok(Some(())),
        Err(e) => Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use aws_sdk_ec2::operation::create_nat_gateway::{CreateNatGatewayError, CreateNatGatewayOutput};
    use aws_sdk_ec2::operation::delete_nat_gateway::DeleteNatGatewayOutput;
    use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
    use aws_smithy_mocks::mock;

    fn nat_a() -> NatGateway {
        NatGateway {
            az: 0,
            id: "nat-a".into(),
        }
    }

    fn delete_ok() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ec2::Client::delete_nat_gateway)
            .match_requests(|r| r.nat_gateway_id() == Some("nat-1"))
            .then_output(|| DeleteNatGatewayOutput::builder().nat_gateway_id("nat-1").build())
    }

    fn nat(state: NatGatewayState) -> aws_sdk_ec2::types::NatGateway {
        aws_sdk_ec2::types::NatGateway::builder()
            .nat_gateway_id("nat-1")
            .state(state)
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_returns_at_once_when_the_gateway_is_no_longer_listed() {
        let delete = delete_ok();
        let describe = mock!(aws_sdk_ec2::Client::describe_nat_gateways)
            .match_requests(|r| r.nat_gateway_ids() == ["nat-1"])
            .then_output(|| DescribeNatGatewaysOutput::builder().build());
        let cx = ec2_ctx(&[&delete, &describe], &[]);
        let start = tokio::time::Instant::now();
        let done = tokio::time::timeout(Duration::from_secs(60), nat_a().destroy(&cx, &Record::new("nat-1"))).await;
        assert!(matches!(done, Ok(Ok(()))), "{done:?}");
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(describe.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_polls_while_deleting_and_stops_at_deleted_or_not_found() {
        let delete = delete_ok();
        let describe = mock!(aws_sdk_ec2::Client::describe_nat_gateways)
            .sequence()
            .output(|| {
                DescribeNatGatewaysOutput::builder()
                    .nat_gateways(nat(NatGatewayState::Deleting))
                    .build()
            })
            .times(2)
            .output(|| {
                DescribeNatGatewaysOutput::builder()
                    .nat_gateways(nat(NatGatewayState::Deleted))
                    .build()
            })
            .build();
        let cx = ec2_ctx(&[&delete, &describe], &[]);
        let start = tokio::time::Instant::now();
        nat_a().destroy(&cx, &Record::new("nat-1")).await.unwrap();
        assert_eq!(describe.num_calls(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(5 + 10));

        let delete = delete_ok();
        let describe = mock!(aws_sdk_ec2::Client::describe_nat_gateways).then_error(|| {
            aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysError::generic(ec2_error(
                "NatGatewayNotFound",
            ))
        });
        let cx = ec2_ctx(&[&delete, &describe], &[]);
        nat_a().destroy(&cx, &Record::new("nat-1")).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_of_a_gateway_ec2_does_not_know_is_done() {
        let delete = mock!(aws_sdk_ec2::Client::delete_nat_gateway).then_error(|| {
            aws_sdk_ec2::operation::delete_nat_gateway::DeleteNatGatewayError::generic(ec2_error("NatGatewayNotFound"))
        });
        let cx = ec2_ctx(&[&delete], &[]);
        nat_a().destroy(&cx, &Record::new("nat-1")).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn create_waits_for_a_new_subnet_and_address_with_one_client_token() {
        let tokens = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let seen = tokens.clone();
        let create = mock!(aws_sdk_ec2::Client::create_nat_gateway)
            .match_requests(move |r| {
                seen.lock()
                    .unwrap()
                    .insert(r.client_token().unwrap_or_default().to_owned());
                r.subnet_id() == Some("subnet-1") && r.allocation_id() == Some("eipalloc-1")
            })
            .sequence()
            .error(|| CreateNatGatewayError::generic(ec2_error("InvalidSubnetID.NotFound")))
            .error(|| CreateNatGatewayError::generic(ec2_error("InvalidAllocationID.NotFound")))
            .output(|| {
                CreateNatGatewayOutput::builder()
                    .nat_gateway(nat(NatGatewayState::Pending))
                    .build()
            })
            .build();
        let cx = ec2_ctx(&[&create], &[("eip-a", Record::new("eipalloc-1"))]);
        cx.set_record(&subnet_step(Tier::Public, 0), Record::new("subnet-1"));
        let rec = nat_a().create(&cx).await.unwrap();
        assert_eq!(rec.id, "nat-1");
        assert_eq!(create.num_calls(), 3);
        assert_eq!(tokens.lock().unwrap().len(), 1);
    }
}
