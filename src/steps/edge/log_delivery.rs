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
            // What exists is kept: putting it again with tags is refused
            // ("Tags can only be provided when a resource is being created,
            // not updated"), as after a crash between the three creates.
            let destination = match rec.attr("destination") {
                Some(arn) => arn.to_owned(),
                None => self.put_destination(cx).await?,
            };
            let source_ok = rec.attr("resource") == Some(distribution.as_str());
            if !source_ok {
                // A source's resource cannot change: delete it and put it again.
                if let Some(id) = rec.attr("delivery") {
                    delete_delivery(cx, id).await?;
                }
                if rec.attr("resource").is_some() {
                    delete_source(cx).await?;
                }
                self.put_source(cx).await?;
            }
            if !source_ok || rec.attr("delivery").is_none() {
                self.connect(cx, &destination).await?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::operation::create_delivery::CreateDeliveryOutput;
    use aws_sdk_cloudwatchlogs::operation::put_delivery_destination::PutDeliveryDestinationOutput;
    use aws_sdk_cloudwatchlogs::operation::put_delivery_source::PutDeliverySourceOutput;
    use aws_sdk_cloudwatchlogs::types::{Delivery, DeliveryDestination};
    use aws_smithy_mocks::mock;

    const DISTRIBUTION: &str = "arn:aws:cloudfront::123456789012:distribution/E1";
    const DESTINATION: &str = "arn:aws:logs:us-east-1:123456789012:delivery-destination:d";

    /// Repairs `rec` against a CloudWatch Logs (us-east-1) that answers
    /// every write; returns how many times each write was called.
    async fn repair(rec: Record) -> (usize, usize, usize) {
        let dest = mock!(aws_sdk_cloudwatchlogs::Client::put_delivery_destination).then_output(|| {
            PutDeliveryDestinationOutput::builder()
                .delivery_destination(DeliveryDestination::builder().arn(DESTINATION).build())
                .build()
        });
        let source = mock!(aws_sdk_cloudwatchlogs::Client::put_delivery_source)
            .then_output(|| PutDeliverySourceOutput::builder().build());
        let delivery = mock!(aws_sdk_cloudwatchlogs::Client::create_delivery).then_output(|| {
            CreateDeliveryOutput::builder()
                .delivery(Delivery::builder().id("dl-1").build())
                .build()
        });
        let mut clients = crate::testing::offline_clients();
        clients.logs_edge = crate::testing::mocked_client!(aws_sdk_cloudwatchlogs, [&dest, &source, &delivery]);
        let cx = crate::testing::ctx_with(clients, crate::testing::settings(&[]));
        cx.set_record(ids::DISTRIBUTION, Record::new("E1").with("arn", DISTRIBUTION));
        cx.set_record(
            ids::LOG_EDGE,
            Record::new("/provision/dev1/edge").with("arn", "arn:aws:logs:us-east-1:1:log-group:g"),
        );
        let drift = LogDelivery.reconcile(&cx, &rec, true).await.unwrap();
        assert!(!drift.is_empty());
        (dest.num_calls(), source.num_calls(), delivery.num_calls())
    }

    #[tokio::test]
    async fn a_crash_after_the_destination_reuses_it_and_adds_only_what_is_missing() {
        // Found after a crash between PutDeliveryDestination and the rest.
        let rec = Record::new(source_name(&crate::testing::ctx(&[]))).with("destination", DESTINATION);
        assert_eq!(
            repair(rec).await,
            (0, 1, 1),
            "destination put again (AWS refuses its tags)"
        );
    }

    #[tokio::test]
    async fn a_crash_before_the_delivery_connects_the_existing_source_and_destination() {
        let rec = Record::new("s")
            .with("destination", DESTINATION)
            .with("resource", DISTRIBUTION);
        assert_eq!(repair(rec).await, (0, 0, 1));
    }

    #[tokio::test]
    async fn nothing_but_the_source_makes_the_destination_and_the_delivery() {
        let rec = Record::new("s").with("resource", DISTRIBUTION);
        assert_eq!(repair(rec).await, (1, 0, 1));
    }
}
