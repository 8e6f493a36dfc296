//! The internet gateway: `CreateInternetGateway`, `AttachInternetGateway`,
//! `DetachInternetGateway` and `DeleteInternetGateway`.

use super::discovery::{igws, owned_by, tag_spec};
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;

pub struct InternetGateway;

#[async_trait]
impl Step for InternetGateway {
    fn id(&self) -> &str {
        ids::IGW
    }
    fn kind(&self) -> &'static str {
        "internet-gateway"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![ids::VPC.into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(igws(cx)
            .await?
            .iter()
            .find(|g| owned_by(cx, g.tags(), ids::IGW))
            .map(|g| {
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
            .tag_specifications(tag_spec(cx, ResourceType::InternetGateway, &name, ids::IGW, &[]))
            .send()
            .await
            .aws("CreateInternetGateway")?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_owned();
        let vpc = cx.id_of(ids::VPC)?;
        match attach(cx, &id, &vpc).await {
            // Only this call knows the new gateway: attached already means
            // an earlier attempt of it went through.
            Err(e) if e.code_is("Resource.AlreadyAssociated") => {}
            r => r?,
        }
        Ok(Record::new(id).with("vpc", vpc))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let vpc = cx.id_of(ids::VPC)?;
        if rec.attr("vpc") == Some(vpc.as_str()) {
            return Ok(vec![]);
        }
        if fix {
            attach(cx, &rec.id, &vpc).await?;
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

/// Attaches the gateway to the VPC, either of which may be new.
async fn attach(cx: &Ctx, igw: &str, vpc: &str) -> StepResult<()> {
    wait::consistent(|| async {
        cx.aws
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc)
            .send()
            .await
            .aws("AttachInternetGateway")
            .map(|_| ())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use aws_sdk_ec2::operation::attach_internet_gateway::AttachInternetGatewayError;
    use aws_sdk_ec2::operation::create_internet_gateway::CreateInternetGatewayOutput;
    use aws_smithy_mocks::mock;

    #[tokio::test(start_paused = true)]
    async fn create_attaches_once_the_new_gateway_is_visible() {
        let create = mock!(aws_sdk_ec2::Client::create_internet_gateway).then_output(|| {
            CreateInternetGatewayOutput::builder()
                .internet_gateway(
                    aws_sdk_ec2::types::InternetGateway::builder()
                        .internet_gateway_id("igw-1")
                        .build(),
                )
                .build()
        });
        // Not visible yet, then an attempt that went through but whose
        // answer was lost (the SDK's retry then meets it).
        let attach = mock!(aws_sdk_ec2::Client::attach_internet_gateway)
            .match_requests(|r| r.internet_gateway_id() == Some("igw-1") && r.vpc_id() == Some("vpc-1"))
            .sequence()
            .error(|| AttachInternetGatewayError::generic(ec2_error("InvalidInternetGatewayID.NotFound")))
            .error(|| AttachInternetGatewayError::generic(ec2_error("Resource.AlreadyAssociated")))
            .build();
        let cx = ec2_ctx(&[&create, &attach], &[(ids::VPC, Record::new("vpc-1"))]);
        let rec = InternetGateway.create(&cx).await.unwrap();
        assert_eq!(rec.id, "igw-1");
        assert_eq!(rec.attr("vpc"), Some("vpc-1"));
        assert_eq!(attach.num_calls(), 2);
    }
}
