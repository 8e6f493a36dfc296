//! The HTTP listener (and the HTTPS one with `--certificate-arn`): a JSON
//! 404 by default, or a redirect to HTTPS. APIs: `CreateListener`,
//! `ModifyListener`, `DeleteListener`.

use super::discovery::{lb_arn, listeners};
use super::TLS_POLICY;
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt};
use crate::config::Settings;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};

const NOT_FOUND_BODY: &str = r#"{"error":"not found"}"#;

/// The 404 every request not matched by the production rule gets.
pub fn not_found_action() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("404")
                .content_type("application/json")
                .message_body(NOT_FOUND_BODY)
                .build(),
        )
        .build()
}

pub fn redirect_to_https_action() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port("443")
                .host("#{host}")
                .path("/#{path}")
                .query("#{query}")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build()
}

/// A comparable summary of an action (what matters, not the defaults AWS
/// fills in).
pub fn action_key(a: &Action) -> String {
    match a.r#type() {
        Some(ActionTypeEnum::FixedResponse) => {
            let f = a.fixed_response_config();
            format!(
                "fixed-response:{}:{}:{}",
                f.and_then(|f| f.status_code()).unwrap_or_default(),
                f.and_then(|f| f.content_type()).unwrap_or_default(),
                f.and_then(|f| f.message_body()).unwrap_or_default()
            )
        }
        Some(ActionTypeEnum::Redirect) => {
            let r = a.redirect_config();
            format!(
                "redirect:{}:{}:{}",
                r.and_then(|r| r.protocol()).unwrap_or_default(),
                r.and_then(|r| r.port()).unwrap_or_default(),
                r.and_then(|r| r.status_code()).map(|s| s.as_str()).unwrap_or_default()
            )
        }
        Some(ActionTypeEnum::Forward) => {
            let mut tgs: Vec<String> = forward_weights(a).into_iter().map(|(t, _)| t).collect();
            tgs.sort();
            format!("forward:{}", tgs.join(","))
        }
        other => format!("{other:?}"),
    }
}

/// The target groups (and weights) a forward action sends to.
pub fn forward_weights(a: &Action) -> Vec<(String, i32)> {
    match a.forward_config() {
        Some(f) if !f.target_groups().is_empty() => f
            .target_groups()
            .iter()
            .map(|t| {
                (
                    t.target_group_arn().unwrap_or_default().to_owned(),
                    t.weight().unwrap_or(1),
                )
            })
            .collect(),
        _ => a
            .target_group_arn()
            .map(|t| vec![(t.to_owned(), 1)])
            .unwrap_or_default(),
    }
}

pub struct Listener {
    pub https: bool,
}

impl Listener {
    fn port(&self) -> i32 {
        if self.https {
            443
        } else {
            80
        }
    }

    fn default_action(&self, settings: &Settings) -> Action {
        if !self.https && settings.certificate_arn.is_some() {
            redirect_to_https_action()
        } else {
            not_found_action()
        }
    }
}

#[async_trait]
impl Step for Listener {
    fn id(&self) -> &str {
        if self.https {
            "listener-https"
        } else {
            "listener-http"
        }
    }
    fn kind(&self) -> &'static str {
        "listener"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![ids::ALB.into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let Some(lb) = lb_arn(cx).await? else { return Ok(None) };
        Ok(listeners(cx, &lb)
            .await?
            .iter()
            .find(|l| l.port() == Some(self.port()))
            .map(|l| {
                let mut r = Record::new(l.listener_arn().unwrap_or_default()).with("port", self.port().to_string());
                if let Some(a) = l.default_actions().first() {
                    r = r.with("default_action", action_key(a));
                }
                if let Some(p) = l.ssl_policy() {
                    r = r.with("ssl_policy", p);
                }
                if let Some(c) = l.certificates().first().and_then(|c| c.certificate_arn()) {
                    r = r.with("certificate", c);
                }
                r
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let lb = cx.id_of(ids::ALB)?;
        let name = cx.name("listener", &self.port().to_string());
        let action = self.default_action(&cx.settings);
        let mut req = cx
            .aws
            .elb
            .create_listener()
            .load_balancer_arn(&lb)
            .port(self.port())
            .default_actions(action.clone())
            .set_tags(Some(tags::elb(cx.tags(&name, self.id()))));
        if self.https {
            let cert = cx.settings.certificate_arn.clone().unwrap_or_default();
            req = req
                .protocol(ProtocolEnum::Https)
                .ssl_policy(TLS_POLICY)
                .certificates(Certificate::builder().certificate_arn(cert).build());
        } else {
            req = req.protocol(ProtocolEnum::Http);
        }
        let out = req.send().await.aws("CreateListener")?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default();
        let mut r = Record::new(arn)
            .with("port", self.port().to_string())
            .with("default_action", action_key(&action));
        if self.https {
            r = r
                .with("ssl_policy", TLS_POLICY)
                .with("certificate", cx.settings.certificate_arn.clone().unwrap_or_default());
        }
        Ok(r)
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want = self.default_action(&cx.settings);
        let want_key = action_key(&want);
        if rec.attr("default_action") != Some(want_key.as_str()) {
            drift.push(format!(
                "default action is {} (wants {want_key})",
                rec.attr("default_action").unwrap_or("none")
            ));
        }
        let cert = cx.settings.certificate_arn.clone().unwrap_or_default();
        if self.https && (rec.attr("ssl_policy") != Some(TLS_POLICY) || rec.attr("certificate") != Some(cert.as_str()))
        {
            drift.push(format!(
                "TLS policy {} / certificate {} (wants {TLS_POLICY} / {cert})",
                rec.attr("ssl_policy").unwrap_or("none"),
                rec.attr("certificate").unwrap_or("none")
            ));
        }
        if fix && !drift.is_empty() {
            let mut req = cx.aws.elb.modify_listener().listener_arn(&rec.id).default_actions(want);
            if self.https {
                req = req
                    .ssl_policy(TLS_POLICY)
                    .certificates(Certificate::builder().certificate_arn(cert).build());
            }
            req.send().await.aws("ModifyListener")?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .elb
                .delete_listener()
                .listener_arn(&rec.id)
                .send()
                .await
                .aws("DeleteListener")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_actions_are_a_json_404_or_a_permanent_redirect() {
        let a = not_found_action();
        let f = a.fixed_response_config().unwrap();
        assert_eq!(f.status_code(), Some("404"));
        assert_eq!(f.content_type(), Some("application/json"));
        assert!(serde_json::from_str::<serde_json::Value>(f.message_body().unwrap()).is_ok());
        let r = redirect_to_https_action();
        assert_eq!(action_key(&r), "redirect:HTTPS:443:HTTP_301");
        let mut s = crate::testing::settings(&[]);
        assert_eq!(
            action_key(&Listener { https: false }.default_action(&s)),
            action_key(&not_found_action())
        );
        s.certificate_arn = Some("arn:aws:acm:ap-southeast-2:123456789012:certificate/x".into());
        assert_eq!(
            action_key(&Listener { https: false }.default_action(&s)),
            action_key(&r)
        );
        assert_eq!(
            action_key(&Listener { https: true }.default_action(&s)),
            action_key(&not_found_action())
        );
    }
}
