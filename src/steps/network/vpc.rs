//! The VPC: `CreateVpc`, `ModifyVpcAttribute` (DNS support and hostnames),
//! `CreateTags` (the configured marker) and `DeleteVpc`.

use super::discovery::{owned_by, tag, tag_spec, vpcs};
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::naming::TAG_CONFIGURED;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};

pub struct Vpc;

#[async_trait]
impl Step for Vpc {
    fn id(&self) -> &str {
        ids::VPC
    }
    fn kind(&self) -> &'static str {
        "vpc"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(vpcs(cx)
            .await?
            .iter()
            .find(|v| owned_by(cx, v.tags(), ids::VPC))
            .map(|v| {
                let mut r =
                    Record::new(v.vpc_id().unwrap_or_default()).with("cidr", v.cidr_block().unwrap_or_default());
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
            .tag_specifications(tag_spec(cx, ResourceType::Vpc, &name, ids::VPC, &[]))
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

/// DNS support and hostnames (two calls: `ModifyVpcAttribute` takes one
/// attribute per request, EC2 API Reference), then the marker tag that says
/// both went through. A VPC created a moment ago may not be visible yet.
async fn configure_vpc(cx: &Ctx, id: &str) -> StepResult<()> {
    let on = || Some(AttributeBooleanValue::builder().value(true).build());
    for (support, hostnames) in [(on(), None), (None, on())] {
        wait::consistent(|| async {
            cx.aws
                .ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .set_enable_dns_support(support.clone())
                .set_enable_dns_hostnames(hostnames.clone())
                .send()
                .await
                .aws("ModifyVpcAttribute")
        })
        .await?;
    }
    wait::consistent(|| async {
        cx.aws
            .ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(crate::aws::tags::ec2(vec![(
                TAG_CONFIGURED.to_owned(),
                "true".to_owned(),
            )])))
            .send()
            .await
            .aws("CreateTags")
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use aws_sdk_ec2::operation::create_tags::{CreateTagsError, CreateTagsOutput};
    use aws_sdk_ec2::operation::modify_vpc_attribute::{ModifyVpcAttributeError, ModifyVpcAttributeOutput};
    use aws_smithy_mocks::mock;

    #[tokio::test(start_paused = true)]
    async fn configure_vpc_waits_for_a_new_vpc_and_sends_one_attribute_per_call() {
        // Only a request carrying exactly one attribute matches; the first
        // answers as EC2 does before a new VPC has propagated.
        let modify = mock!(aws_sdk_ec2::Client::modify_vpc_attribute)
            .match_requests(|r| {
                r.vpc_id() == Some("vpc-1") && r.enable_dns_support().is_some() != r.enable_dns_hostnames().is_some()
            })
            .sequence()
            .error(|| ModifyVpcAttributeError::generic(ec2_error("InvalidVpcID.NotFound")))
            .output(|| ModifyVpcAttributeOutput::builder().build())
            .repeatedly()
            .build();
        let tags = mock!(aws_sdk_ec2::Client::create_tags)
            .match_requests(|r| {
                r.resources() == ["vpc-1"] && r.tags().len() == 1 && r.tags()[0].key() == Some(TAG_CONFIGURED)
            })
            .sequence()
            .error(|| CreateTagsError::generic(ec2_error("InvalidVpcID.NotFound")))
            .output(|| CreateTagsOutput::builder().build())
            .build();
        let cx = ec2_ctx(&[&modify, &tags], &[]);
        configure_vpc(&cx, "vpc-1").await.unwrap();
        assert_eq!(modify.num_calls(), 3);
        assert_eq!(tags.num_calls(), 2);
    }
}
