//! The distribution's access logs through CloudFront standard logging v2
//! (CloudWatch Logs vended log delivery, in us-east-1): a delivery source
//! (the distribution, `ACCESS_LOGS`), a delivery destination (the edge log
//! group, which has the stack's retention) and the delivery between them,
//! one tight group. No bucket ACLs are involved, which new S3 buckets no
//! longer allow. APIs: `PutDeliveryDestination`, `PutDeliverySource`,
//! `CreateDelivery`, `GetDeliverySource`, `GetDeliveryDestination`,
//! `DescribeDeliveries`, and their deletes (delivery first).

use crate::aws::{tags, AwsError, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::{Delivery, DeliveryDestinationConfiguration, OutputFormat};

pub struct LogDelivery;

/// The source's and the destination's names: 1-60 of `[\w-]`
/// (`PutDeliverySource`/`PutDeliveryDestination` `name`).
pub fn source_name(cx: &Ctx) -> String {
    cx.name("cfsrc", "api")
}

pub fn destination_name(cx: &Ctx) -> String {
    cx.name("cfdst", "api")
}

/// CloudFront's log type for standard logging v2.
pub const LOG_TYPE: &str = "ACCESS_LOGS";

impl LogDelivery {
    /// The delivery from our source, if any.
    async fn delivery(&self, cx: &Ctx) -> StepResult<Option<Delivery>> {
        let all: Vec<Delivery> = cx
            .aws
            .logs_edge
            .describe_deliveries()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .aws("DescribeDeliveries")?;
        let source = source_name(cx);
        Ok(all
            .into_iter()
            .find(|d| d.delivery_source_name() == Some(source.as_str())))
    }

    async fn put_destination(&self, cx: &Ctx) -> StepResult<String> {
        let name = destination_name(cx);
        let group = cx.attr(ids::LOG_EDGE, "arn")?;
        let out = cx
            .aws
            .logs_edge
            .put_delivery_destination()
            .name(&name)
            .output_format(OutputFormat::Json)
            .delivery_destination_configuration(
                DeliveryDestinationConfiguration::builder()
                    .destination_resource_arn(group)
                    .build()
                    .map_err(crate::aws::build_err)?,
            )
            .set_tags(Some(tags::logs(cx.tags(&name, ids::EDGE_LOGS))))
            .send()
            .await
            .aws("PutDeliveryDestination")?;
        Ok(out
            .delivery_destination()
            .and_then(|d| d.arn())
            .unwrap_or_default()
            .to_owned())
    }

    async fn put_source(&self, cx: &Ctx) -> StepResult<()> {
        let name = source_name(cx);
        cx.aws
            .logs_edge
            .put_delivery_source()
            .name(&name)
            .resource_arn(cx.attr(ids::DISTRIBUTION, "arn")?)
            .log_type(LOG_TYPE)
            .set_tags(Some(tags::logs(cx.tags(&name, ids::EDGE_LOGS))))
            .send()
            .await
            .aws("PutDeliverySource")?;
        Ok(())
    }

    async fn connect(&self, cx: &Ctx, destination_arn: &str) -> StepResult<String> {
        let out = cx
            .aws
            .logs_edge
            .create_delivery()
            .delivery_source_name(source_name(cx))
            .delivery_destination_arn(destination_arn)
            .set_tags(Some(tags::logs(cx.tags(&source_name(cx), ids::EDGE_LOGS))))
            .send()
            .await
            .aws("CreateDelivery");
        match out {
            Ok(o) => Ok(o.delivery().and_then(|d| d.id()).unwrap_or_default().to_owned()),
            // One delivery per source and destination: an earlier attempt made it.
            Err(e) if e.code_is("ConflictException") => Ok(self
                .delivery(cx)
                .await?
                .and_then(|d| d.id().map(str::to_owned))
                .unwrap_or_default()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Step for LogDelivery {
    fn id(&self) -> &str {
        ids::EDGE_LOGS
    }
    fn kind(&self) -> &'static str {
        "log-delivery"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![Dep::id(ids::DISTRIBUTION), Dep::id(ids::LOG_EDGE)]
    }

    /// Found when the delivery, the source or the destination exists with
    /// our tags, so a crash between the three calls leaves nothing that
    /// `down` cannot find. Converged, that is two reads: the deliveries
    /// (which carry their tags and destination) and the source (for the
    /// resource it reads).
    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let owned = |tags: Option<&std::collections::HashMap<String, String>>| {
            cx.owns(ids::EDGE_LOGS, |k| tags.and_then(|t| t.get(k)).map(String::as_str))
        };
        let delivery = self.delivery(cx).await?.filter(|d| owned(d.tags()));
        let source = cx
            .aws
            .logs_edge
            .get_delivery_source()
            .name(source_name(cx))
            .send()
            .await
            .aws("GetDeliverySource")
            .or_not_found()?
            .and_then(|o| o.delivery_source)
            .filter(|s| owned(s.tags()));
        let destination = match delivery.as_ref().and_then(|d| d.delivery_destination_arn()) {
            Some(arn) => Some(arn.to_owned()),
            None => cx
                .aws
                .logs_edge
                .get_delivery_destination()
                .name(destination_name(cx))
                .send()
                .await
                .aws("GetDeliveryDestination")
                .or_not_found()?
                .and_then(|o| o.delivery_destination)
                .filter(|d| owned(d.tags()))
                .and_then(|d| d.arn().map(str::to_owned)),
        };
        if delivery.is_none() && source.is_none() && destination.is_none() {
            return Ok(None);
        }
        let mut rec = Record::new(source_name(cx));
        if let Some(s) = &source {
            rec = rec.with(
                "resource",
                s.resource_arns().first().map(String::as_str).unwrap_or_default(),
            );
        }
        if let Some(d) = &destination {
            rec = rec.with("destination", d);
        }
        if let Some(d) = &delivery {
            rec = rec.with("delivery", d.id().unwrap_or_default());
        }
        Ok(Some(rec))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let destination = self.put_destination(cx).await?;
        self.put_source(cx).await?;
        let delivery = self.connect(cx, &destination).await?;
        Ok(Record::new(source_name(cx))
            .with("resource", cx.attr(ids::DISTRIBUTION, "arn")?)
            .with("destination", destination)
            .with("delivery", delivery))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let distribution = cx.attr(ids::DISTRIBUTION, "arn")?;
        if rec.attr("resource") != Some(distribution.as_str()) {
            drift.push(format!(
                "the delivery source reads {} (wants the distribution {distribution})",
                rec.attr("resource").unwrap_or("nothing")
            ));
        }
        if rec.attr("destination").is_none() {
            drift.push("no delivery destination".into());
        }
        if rec.attr("delivery").is_none() {
            drift.push("the access logs are not delivered (no delivery)".into());
        }
        if fix && !drift.is_empty() {
            let destination = self.put_destination(cx).await?;
            if rec.attr("resource") != Some(distribution.as_str()) {
                // A source's resource cannot change: delete it and put it again.
                if let Some(id) = rec.attr("delivery") {
                    delete_delivery(cx, id).await?;
                }
                if rec.attr("resource").is_some() {
                    delete_source(cx).await?;
                }
            }
            self.put_source(cx).await?;
            self.connect(cx, &destination).await?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if let Some(id) = rec.attr("delivery") {
            delete_delivery(cx, id).await?;
        }
        delete_source(cx).await?;
        cx.aws
            .logs_edge
            .delete_delivery_destination()
            .name(destination_name(cx))
            .send()
            .await
            .aws("DeleteDeliveryDestination")
            .or_not_found()?;
        Ok(())
    }
}

async fn delete_delivery(cx: &Ctx, id: &str) -> StepResult<()> {
    cx.aws
        .logs_edge
        .delete_delivery()
        .id(id)
        .send()
        .await
        .aws("DeleteDelivery")
        .or_not_found()
        .map(|_| ())
}

async fn delete_source(cx: &Ctx) -> Result<(), AwsError> {
    cx.aws
        .logs_edge
        .delete_delivery_source()
        .name(source_name(cx))
        .send()
        .await
        .aws("DeleteDeliverySource")
        .or_not_found()
        .map(|_| ())
}
