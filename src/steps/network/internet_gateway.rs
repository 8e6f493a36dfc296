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
        let vpc = cx.id_of(ids::VPC)?;
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
