//! Finds the load balancer, target groups, listeners and rules
//! (`DescribeLoadBalancers`, `DescribeTargetGroups`, `DescribeListeners`,
//! `DescribeRules`), each one batched call through the inventory shared by
//! every step that asks.

use super::{alb_name, tg_name, Color};
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::steps::{ids, Ctx, StepResult};
use aws_sdk_elasticloadbalancingv2::types::{Listener as ElbListener, LoadBalancer, Rule, TargetGroup};
use std::sync::Arc;

/// The inventory key of the load balancer look-up.
pub(super) const LBS: &str = "elb:lbs";

pub(super) async fn lbs(cx: &Ctx) -> StepResult<Arc<Vec<LoadBalancer>>> {
    cx.inventory
        .get(LBS, || async {
            let r = cx
                .aws
                .elb
                .describe_load_balancers()
                .names(alb_name(cx))
                .send()
                .await
                .aws("DescribeLoadBalancers");
            Ok(r.or_not_found()?
                .map(|o| o.load_balancers().to_vec())
                .unwrap_or_default())
        })
        .await
}

pub(super) async fn target_groups(cx: &Ctx) -> StepResult<Arc<Vec<TargetGroup>>> {
    cx.inventory
        .get("elb:tgs", || async {
            let names = [tg_name(cx, Color::Blue), tg_name(cx, Color::Green)];
            let both = cx
                .aws
                .elb
                .describe_target_groups()
                .set_names(Some(names.to_vec()))
                .send()
                .await
                .aws("DescribeTargetGroups");
            match both {
                Ok(o) => Ok(o.target_groups().to_vec()),
                // One of them is missing: ask for each on its own.
                Err(e) if e.is_not_found() => {
                    let mut out = Vec::new();
                    for n in names {
                        let r = cx
                            .aws
                            .elb
                            .describe_target_groups()
                            .names(n)
                            .send()
                            .await
                            .aws("DescribeTargetGroups");
                        if let Some(o) = r.or_not_found()? {
                            out.extend(o.target_groups().iter().cloned());
                        }
                    }
                    Ok(out)
                }
                Err(e) => Err(e),
            }
        })
        .await
}

/// The ARN of the stack's load balancer: this run's record, else AWS.
pub(super) async fn lb_arn(cx: &Ctx) -> StepResult<Option<String>> {
    if let Ok(r) = cx.rec(ids::ALB) {
        return Ok(Some(r.id));
    }
    Ok(lbs(cx)
        .await?
        .first()
        .and_then(|l| l.load_balancer_arn())
        .map(str::to_owned))
}

pub(super) async fn listeners(cx: &Ctx, lb: &str) -> StepResult<Arc<Vec<ElbListener>>> {
    cx.inventory
        .get(format!("elb:listeners:{lb}"), || async {
            let r = cx
                .aws
                .elb
                .describe_listeners()
                .load_balancer_arn(lb)
                .send()
                .await
                .aws("DescribeListeners");
            Ok(r.or_not_found()?.map(|o| o.listeners().to_vec()).unwrap_or_default())
        })
        .await
}

pub(super) async fn listener_arn(cx: &Ctx, step: &str, port: i32) -> StepResult<Option<String>> {
    if let Ok(r) = cx.rec(step) {
        return Ok(Some(r.id));
    }
    let Some(lb) = lb_arn(cx).await? else { return Ok(None) };
    Ok(listeners(cx, &lb)
        .await?
        .iter()
        .find(|l| l.port() == Some(port))
        .and_then(|l| l.listener_arn())
        .map(str::to_owned))
}

pub(super) async fn rules(cx: &Ctx, listener: &str) -> StepResult<Arc<Vec<Rule>>> {
    cx.inventory
        .get(format!("elb:rules:{listener}"), || async {
            let r = cx
                .aws
                .elb
                .describe_rules()
                .listener_arn(listener)
                .send()
                .await
                .aws("DescribeRules");
            Ok(r.or_not_found()?.map(|o| o.rules().to_vec()).unwrap_or_default())
        })
        .await
}
