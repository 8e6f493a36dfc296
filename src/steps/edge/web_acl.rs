//! The AWS WAF web ACL of the distribution (CLOUDFRONT scope, in
//! us-east-1). APIs: `CreateWebACL`, `GetWebACL`, `UpdateWebACL` and
//! `DeleteWebACL`, the last two with the lock token `GetWebACL` answered
//! (WAFv2 API Reference: a stale token answers
//! `WAFOptimisticLockException`; get it again and retry).

use super::discovery::{waf_owned, web_acls, WEB_ACLS};
use super::web_acl_rules::{metric, summary, visibility, wanted_rules};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt, ErrorClass, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_wafv2::types::{AllowAction, DefaultAction, Scope};
use std::time::Duration;

pub struct WebAcl;

/// `waf-api-{suffix}`: `Name` is 1-128 of `[\w-]`.
pub fn web_acl_name(cx: &Ctx) -> String {
    cx.name("waf", "api")
}

/// Retries a call refused for a stale lock token (another writer, or our
/// own earlier attempt whose answer was lost), reading the token again.
const LOCK_RETRY: Backoff = Backoff {
    first: Duration::from_millis(500),
    max: Duration::from_secs(4),
    timeout: Duration::from_secs(60),
};

fn stale_lock(e: AwsError, op: &'static str) -> AwsError {
    if e.code_is("WAFOptimisticLockException") {
        AwsError::custom(op, "ResourceInUse", e.to_string())
    } else {
        e
    }
}

impl WebAcl {
    async fn get(
        &self,
        cx: &Ctx,
        rec: &Record,
    ) -> StepResult<Option<aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput>> {
        cx.aws
            .wafv2_edge
            .get_web_acl()
            .name(web_acl_name(cx))
            .scope(Scope::Cloudfront)
            .id(&rec.id)
            .send()
            .await
            .aws("GetWebACL")
            .or_not_found()
    }

    fn default_action() -> DefaultAction {
        DefaultAction::builder().allow(AllowAction::builder().build()).build()
    }
}

#[async_trait]
impl Step for WebAcl {
    fn id(&self) -> &str {
        ids::WEB_ACL
    }
    fn kind(&self) -> &'static str {
        "web-acl"
    }
    fn deps(&self) -> Vec<Dep> {
        Vec::new()
    }
    fn timing(&self) -> Timing {
        Timing::secs(3, 0, 5).source(
            "WAF Developer Guide: a web ACL is usable when CreateWebACL returns; changes propagate in about a minute",
        )
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = web_acl_name(cx);
        for acl in web_acls(cx).await?.iter().filter(|a| a.name() == Some(name.as_str())) {
            let arn = acl.arn().unwrap_or_default();
            if waf_owned(cx, arn, ids::WEB_ACL).await? {
                return Ok(Some(Record::new(acl.id().unwrap_or_default()).with("arn", arn)));
            }
        }
        Ok(None)
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = web_acl_name(cx);
        let out = cx
            .aws
            .wafv2_edge
            .create_web_acl()
            .name(&name)
            .scope(Scope::Cloudfront)
            .description("product-catalog API: AWS managed rules and a per-client rate limit")
            .default_action(Self::default_action())
            .set_rules(Some(wanted_rules(&name, cx.settings.rate_limit)?))
            .visibility_config(visibility(metric(&name, "all"))?)
            .set_tags(Some(tags::wafv2(cx.tags(&name, ids::WEB_ACL))?))
            .send()
            .await
            .aws("CreateWebACL");
        cx.inventory.invalidate(WEB_ACLS);
        match out {
            Ok(o) => {
                let s = o
                    .summary()
                    .ok_or_else(|| AwsError::custom("CreateWebACL", "EmptyResponse", "no web ACL in the response"))?;
                Ok(Record::new(s.id().unwrap_or_default()).with("arn", s.arn().unwrap_or_default()))
            }
            // Names are unique per scope: a create whose answer was lost made it.
            Err(e) if e.code_is("WAFDuplicateItemException") => self.find(cx).await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let name = web_acl_name(cx);
        let want = wanted_rules(&name, cx.settings.rate_limit)?;
        let mut drift = Vec::new();
        let Some(live) = self.get(cx, rec).await? else {
            return Ok(vec!["the web ACL is gone".into()]);
        };
        let acl = live.web_acl();
        let have = summary(acl.map(|a| a.rules()).unwrap_or_default());
        let wanted = summary(&want);
        for r in wanted.iter().filter(|r| !have.contains(r)) {
            drift.push(format!("rule missing or changed: {r}"));
        }
        for r in have.iter().filter(|r| !wanted.contains(r)) {
            drift.push(format!("rule not wanted: {r}"));
        }
        if acl.and_then(|a| a.default_action()).and_then(|d| d.allow()).is_none() {
            drift.push("the default action is not allow".into());
        }
        if !fix || drift.is_empty() {
            return Ok(drift);
        }
        let mut token = live.lock_token().map(str::to_owned);
        wait::retry_while(ErrorClass::InUse, LOCK_RETRY, || {
            let (token, want) = (token.take(), want.clone());
            let name = name.clone();
            async move {
                let token = match token {
                    Some(t) => t,
                    None => self
                        .get(cx, rec)
                        .await?
                        .and_then(|o| o.lock_token().map(str::to_owned))
                        .unwrap_or_default(),
                };
                cx.aws
                    .wafv2_edge
                    .update_web_acl()
                    .name(&name)
                    .scope(Scope::Cloudfront)
                    .id(&rec.id)
                    .lock_token(token)
                    .default_action(Self::default_action())
                    .set_rules(Some(want))
                    .visibility_config(visibility(metric(&name, "all"))?)
                    .send()
                    .await
                    .aws("UpdateWebACL")
                    .map(|_| ())
                    .map_err(|e| stale_lock(e, "UpdateWebACL"))
            }
        })
        .await?;
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // A distribution deleted a moment ago may still name the ACL for a
        // while (WAFAssociatedItemException): retried as "in use".
        wait::delete(Backoff::DRAIN, || async {
            let Some(live) = self.get(cx, rec).await? else {
                return Ok(());
            };
            cx.aws
                .wafv2_edge
                .delete_web_acl()
                .name(web_acl_name(cx))
                .scope(Scope::Cloudfront)
                .id(&rec.id)
                .lock_token(live.lock_token().unwrap_or_default())
                .send()
                .await
                .aws("DeleteWebACL")
                .map(|_| ())
                .map_err(|e| stale_lock(e, "DeleteWebACL"))
        })
        .await?;
        cx.inventory.invalidate(WEB_ACLS);
        Ok(())
    }
}
