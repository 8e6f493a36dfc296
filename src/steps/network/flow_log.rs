//! The VPC flow log to CloudWatch Logs: `CreateFlowLogs` and
//! `DeleteFlowLogs`; and the inline policy of its delivery role.

use super::discovery::{flow_logs, owned_by, tag_spec};
use super::flow_log_group_name;
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, ErrorClass};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};
use serde_json::json;

/// The step id of the flow log (no constant in `ids`: no other step names it).
const FLOW_LOG: &str = "flow-log";

/// The delivery role's inline policy: what the VPC Flow Logs user guide
/// ("IAM role for publishing flow logs to CloudWatch Logs") lists, on the
/// stack's flow-log group and its streams only. `logs:DescribeLogGroups`
/// has no resource type in the Service Authorization Reference (it lists
/// groups, reads no log data): it can only be granted on `*`. The role's
/// trust (the service, `aws:SourceAccount`) is the identity family's.
pub(super) fn flow_log_policy(cx: &Ctx, account: &str) -> StepResult<serde_json::Value> {
    let group = cx
        .rec(ids::LOG_VPC_FLOW)?
        .attr("arn")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "arn:{}:logs:{}:{account}:log-group:{}",
                crate::aws::partition(cx.region()),
                cx.region(),
                flow_log_group_name(cx.suffix().as_str())
            )
        });
    let group = group.trim_end_matches(":*").to_owned();
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeliverFlowLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams"
                ],
                "Resource": [group.clone(), format!("{group}:log-stream:*")]
            },
            {
                "Sid": "FindFlowLogGroup",
                "Effect": "Allow",
                "Action": ["logs:DescribeLogGroups"],
                "Resource": "*"
            }
        ]
    }))
}

pub struct FlowLog;

#[async_trait]
impl Step for FlowLog {
    fn id(&self) -> &str {
        FLOW_LOG
    }
    fn kind(&self) -> &'static str {
        "flow-log"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![ids::VPC.into(), ids::LOG_VPC_FLOW.into(), ids::ROLE_FLOWLOGS.into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(flow_logs(cx)
            .await?
            .iter()
            .find(|f| owned_by(cx, f.tags(), FLOW_LOG))
            .map(|f| Record::new(f.flow_log_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("flowlog", "vpc");
        let vpc = cx.id_of(ids::VPC)?;
        let role = cx.attr(ids::ROLE_FLOWLOGS, "arn")?;
        let group = flow_log_group_name(cx.suffix().as_str());
        // EC2 client tokens: up to 64 ASCII characters.
        let token = cx.client_token(FLOW_LOG, 64);
        // A brand-new delivery role may not be assumable yet, nor a new VPC
        // visible (safe to retry: the client token makes it one flow log).
        let out = wait::retry_while(ErrorClass::NotYetPropagated, Backoff::IAM, || {
            wait::consistent(|| async {
                cx.aws
                    .ec2
                    .create_flow_logs()
                    .resource_ids(&vpc)
                    .resource_type(FlowLogsResourceType::Vpc)
                    .traffic_type(TrafficType::All)
                    .log_destination_type(LogDestinationType::CloudWatchLogs)
                    .log_group_name(&group)
                    .deliver_logs_permission_arn(&role)
                    .client_token(&token)
                    .tag_specifications(tag_spec(cx, ResourceType::VpcFlowLog, &name, FLOW_LOG, &[]))
                    .send()
                    .await
                    .aws("CreateFlowLogs")
            })
        })
        .await?;
        if let Some(u) = out.unsuccessful().first() {
            let e = u.error();
            return Err(AwsError::custom(
                "CreateFlowLogs",
                e.and_then(|e| e.code()).unwrap_or("Unsuccessful"),
                e.and_then(|e| e.message())
                    .unwrap_or("the flow log was not created")
                    .to_owned(),
            ));
        }
        Ok(Record::new(out.flow_log_ids().first().cloned().unwrap_or_default()))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_flow_logs()
                .flow_log_ids(&rec.id)
                .send()
                .await
                .aws("DeleteFlowLogs")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use aws_sdk_ec2::operation::create_flow_logs::{CreateFlowLogsError, CreateFlowLogsOutput};
    use aws_smithy_mocks::mock;
    use serde_json::Value;

    const GROUP: &str = "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/vpc-flow-logs";

    #[test]
    fn the_delivery_role_may_do_what_the_flow_logs_guide_lists_on_the_stack_group_only() {
        let cx = crate::testing::ctx(&[]);
        cx.set_record(
            ids::LOG_VPC_FLOW,
            Record::new("/provision/dev1/vpc-flow-logs").with("arn", format!("{GROUP}:*")),
        );
        let doc = flow_log_policy(&cx, "123456789012").unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        let mut actions: Vec<&str> = statements
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        actions.sort();
        assert_eq!(
            actions,
            [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents"
            ]
        );
        for s in statements {
            let listing = s["Action"] == json!(["logs:DescribeLogGroups"]);
            if listing {
                assert_eq!(s["Resource"], "*");
            } else {
                assert_eq!(s["Resource"], json!([GROUP, format!("{GROUP}:log-stream:*")]));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn create_waits_for_a_new_vpc_with_one_client_token() {
        let create = mock!(aws_sdk_ec2::Client::create_flow_logs)
            .match_requests(|r| {
                r.resource_ids() == ["vpc-1"] && r.deliver_logs_permission_arn() == Some("arn:aws:iam::1:role/r")
            })
            .sequence()
            .error(|| CreateFlowLogsError::generic(ec2_error("InvalidVpcID.NotFound")))
            .output(|| CreateFlowLogsOutput::builder().flow_log_ids("fl-1").build())
            .build();
        let cx = ec2_ctx(
            &[&create],
            &[
                (ids::VPC, Record::new("vpc-1")),
                (
                    ids::ROLE_FLOWLOGS,
                    Record::new("r").with("arn", "arn:aws:iam::1:role/r"),
                ),
            ],
        );
        assert_eq!(FlowLog.create(&cx).await.unwrap().id, "fl-1");
        assert_eq!(create.num_calls(), 2);
    }
}
