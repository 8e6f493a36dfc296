//! Finds the five alarms with one `DescribeAlarms` call by their names,
//! through the inventory.

use super::{alarm_name, ALARMS};
use crate::aws::AwsResultExt;
use crate::steps::{Ctx, StepResult};
use aws_sdk_cloudwatch::types::MetricAlarm;
use std::sync::Arc;

pub(super) async fn alarms(cx: &Ctx) -> StepResult<Arc<Vec<MetricAlarm>>> {
    cx.inventory
        .get("cw:alarms", || async {
            let names: Vec<String> = ALARMS.iter().map(|p| alarm_name(p, cx.suffix().as_str())).collect();
            let out = cx
                .aws
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(names))
                .max_records(100)
                .send()
                .await
                .aws("DescribeAlarms")?;
            Ok(out.metric_alarms().to_vec())
        })
        .await
}
