//! The edge's batched look-ups: every distribution, VPC origin and web ACL
//! of the account, listed once per run and shared through the inventory;
//! a candidate found by its name is confirmed by its tags (CloudFront's and
//! WAF's lists carry none), so another stack's resource is never adopted.

use crate::aws::AwsResultExt;
use crate::steps::{Ctx, StepResult};
use aws_sdk_cloudfront::types::{DistributionSummary, VpcOriginSummary};
use aws_sdk_wafv2::types::{Scope, WebAclSummary};
use std::sync::Arc;

/// Inventory keys, invalidated after a create or delete.
pub const DISTRIBUTIONS: &str = "cloudfront:distributions";
pub const VPC_ORIGINS: &str = "cloudfront:vpc-origins";
pub const WEB_ACLS: &str = "wafv2:web-acls";

/// Every distribution of the account (`ListDistributions`, every page).
pub async fn distributions(cx: &Ctx) -> StepResult<Arc<Vec<DistributionSummary>>> {
    cx.inventory
        .get(DISTRIBUTIONS, || async {
            cx.aws
                .cloudfront
                .list_distributions()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("ListDistributions")
        })
        .await
}

/// Every VPC origin of the account (`ListVpcOrigins`, every page by its
/// marker: the SDK has no paginator for it).
pub async fn vpc_origins(cx: &Ctx) -> StepResult<Arc<Vec<VpcOriginSummary>>> {
    cx.inventory
        .get(VPC_ORIGINS, || async {
            let mut all = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let out = cx
                    .aws
                    .cloudfront
                    .list_vpc_origins()
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .aws("ListVpcOrigins")?;
                let Some(list) = out.vpc_origin_list() else { break };
                all.extend(list.items().iter().cloned());
                match list.next_marker() {
                    Some(m) if list.is_truncated() && !m.is_empty() && Some(m) != marker.as_deref() => {
                        marker = Some(m.to_owned())
                    }
                    _ => break,
                }
            }
            Ok(all)
        })
        .await
}

/// Every web ACL of the CLOUDFRONT scope (`ListWebACLs` in us-east-1, every
/// page by its `NextMarker`).
pub async fn web_acls(cx: &Ctx) -> StepResult<Arc<Vec<WebAclSummary>>> {
    cx.inventory
        .get(WEB_ACLS, || async {
            let mut all = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let out = cx
                    .aws
                    .wafv2_edge
                    .list_web_acls()
                    .scope(Scope::Cloudfront)
                    .limit(100)
                    .set_next_marker(marker.clone())
                    .send()
                    .await
                    .aws("ListWebACLs")?;
                all.extend(out.web_acls().iter().cloned());
                match out.next_marker() {
                    Some(m) if !m.is_empty() && !out.web_acls().is_empty() && Some(m) != marker.as_deref() => {
                        marker = Some(m.to_owned())
                    }
                    _ => break,
                }
            }
            Ok(all)
        })
        .await
}

/// Whether the CloudFront resource `arn` carries this step's tags (read
/// once per run and resource: the metrics step asks of the distribution too).
pub async fn cloudfront_owned(cx: &Ctx, arn: &str, step: &str) -> StepResult<bool> {
    let tags = cx
        .inventory
        .get(format!("cloudfront:tags:{arn}"), || async {
            let out = cx
                .aws
                .cloudfront
                .list_tags_for_resource()
                .resource(arn)
                .send()
                .await
                .aws("ListTagsForResource")?;
            Ok(out
                .tags()
                .map(|t| t.items())
                .unwrap_or_default()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
                .collect::<Vec<(String, String)>>())
        })
        .await?;
    Ok(cx.owns(step, |k| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())))
}

/// Whether the web ACL `arn` carries this step's tags.
pub async fn waf_owned(cx: &Ctx, arn: &str, step: &str) -> StepResult<bool> {
    let out = cx
        .aws
        .wafv2_edge
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws("ListTagsForResource")?;
    let tags = out.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
    Ok(cx.owns(step, |k| tags.iter().find(|t| t.key() == k).map(|t| t.value())))
}
