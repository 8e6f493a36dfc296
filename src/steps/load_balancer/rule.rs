//! The production listener rule: `/api/*` and `/health` forwarded to the
//! blue and green target groups with weights ECS moves on deployments.
//! APIs: `CreateRule`, `ModifyRule`, `DeleteRule`.

use super::discovery::{listener_arn, rules};
use super::listener::{action_key, forward_weights};
use super::{RULE_PATHS, RULE_PRIORITY};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, PathPatternConditionConfig, Rule, RuleCondition, TargetGroupTuple,
};

/// Forward to blue and green with the given weights.
pub fn forward_action(blue: &str, green: &str, weights: (i32, i32)) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(blue)
                        .weight(weights.0)
                        .build(),
                )
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(green)
                        .weight(weights.1)
                        .build(),
                )
                .build(),
        )
        .build()
}

pub fn path_condition() -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(RULE_PATHS.iter().map(|s| s.to_string()).collect()))
                .build(),
        )
        .build()
}

/// The paths a rule matches, from either form AWS may return.
fn rule_paths(r: &Rule) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for c in r.conditions() {
        if c.field() == Some("path-pattern") {
            match c.path_pattern_config() {
                Some(p) if !p.values().is_empty() => paths.extend(p.values().iter().cloned()),
                _ => paths.extend(c.values().iter().cloned()),
            }
        } else {
            paths.push(format!("<{} condition>", c.field().unwrap_or("?")));
        }
    }
    paths.sort();
    paths
}

/// What is wrong with the production rule, and the weights to keep when
/// repairing it. ECS moves the weights between blue and green on every
/// deployment, so weights are not drift as long as they send all traffic
/// to one of the two groups (or are mid-shift); only the conditions, the
/// action type and the set of target groups are.
pub fn rule_drift(rule: &Rule, blue: &str, green: &str) -> (Vec<String>, (i32, i32)) {
    let mut drift = Vec::new();
    let mut want_paths: Vec<String> = RULE_PATHS.iter().map(|s| s.to_string()).collect();
    want_paths.sort();
    let paths = rule_paths(rule);
    if paths != want_paths {
        drift.push(format!("conditions are {paths:?} (wants path-pattern {want_paths:?})"));
    }
    let mut weights = (100, 0);
    match rule.actions() {
        [a] if a.r#type() == Some(&ActionTypeEnum::Forward) => {
            let fw = forward_weights(a);
            let b = fw.iter().find(|(t, _)| t == blue).map(|(_, w)| *w);
            let g = fw.iter().find(|(t, _)| t == green).map(|(_, w)| *w);
            match (b, g) {
                (Some(b), Some(g)) if fw.len() == 2 && b >= 0 && g >= 0 && b + g > 0 => weights = (b, g),
                _ => drift.push(format!("forwards to {fw:?} (wants blue and green, all traffic to one)")),
            }
        }
        actions => drift.push(format!(
            "actions are {:?} (wants one weighted forward to blue and green)",
            actions.iter().map(action_key).collect::<Vec<_>>()
        )),
    }
    (drift, weights)
}

pub struct ApiRule {
    /// The step id of the listener that carries the rule.
    pub listener: &'static str,
}

#[async_trait]
impl Step for ApiRule {
    fn id(&self) -> &str {
        ids::RULE_API
    }
    fn kind(&self) -> &'static str {
        "listener-rule"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![self.listener.into(), ids::TG_BLUE.into(), ids::TG_GREEN.into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let port = if self.listener == "listener-https" { 443 } else { 80 };
        let Some(listener) = listener_arn(cx, self.listener, port).await? else {
            return Ok(None);
        };
        let prio = RULE_PRIORITY.to_string();
        Ok(rules(cx, &listener)
            .await?
            .iter()
            .find(|r| !r.is_default().unwrap_or(false) && r.priority() == Some(prio.as_str()))
            .map(|r| Record::new(r.rule_arn().unwrap_or_default()).with("listener", &listener)))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let listener = cx.id_of(self.listener)?;
        let (blue, green) = (cx.id_of(ids::TG_BLUE)?, cx.id_of(ids::TG_GREEN)?);
        let name = cx.name("rule", "api");
        let out = cx
            .aws
            .elb
            .create_rule()
            .listener_arn(&listener)
            .priority(RULE_PRIORITY)
            .conditions(path_condition())
            .actions(forward_action(&blue, &green, (100, 0)))
            .set_tags(Some(tags::elb(cx.tags(&name, ids::RULE_API))))
            .send()
            .await
            .aws("CreateRule")?;
        let arn = out.rules().first().and_then(|r| r.rule_arn()).unwrap_or_default();
        Ok(Record::new(arn).with("listener", listener))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(listener) = rec.attr("listener") else {
            return Ok(vec![]);
        };
        let Some(rule) = rules(cx, listener)
            .await?
            .iter()
            .find(|r| r.rule_arn() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let (blue, green) = (cx.id_of(ids::TG_BLUE)?, cx.id_of(ids::TG_GREEN)?);
        let (drift, weights) = rule_drift(&rule, &blue, &green);
        if fix && !drift.is_empty() {
            cx.aws
                .elb
                .modify_rule()
                .rule_arn(&rec.id)
                .conditions(path_condition())
                .actions(forward_action(&blue, &green, weights))
                .send()
                .await
                .aws("ModifyRule")?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .elb
                .delete_rule()
                .rule_arn(&rec.id)
                .send()
                .await
                .aws("DeleteRule")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::load_balancer::not_found_action;

    fn rule_with(conditions: Vec<RuleCondition>, actions: Vec<Action>) -> Rule {
        Rule::builder()
            .rule_arn("arn:rule")
            .priority("10")
            .set_conditions(Some(conditions))
            .set_actions(Some(actions))
            .build()
    }

    #[test]
    fn the_production_rule_matches_both_paths_and_forwards_blue_100_green_0() {
        let c = path_condition();
        assert_eq!(c.field(), Some("path-pattern"));
        assert_eq!(c.path_pattern_config().unwrap().values(), ["/api/*", "/health"]);
        let a = forward_action("arn:blue", "arn:green", (100, 0));
        assert_eq!(a.r#type(), Some(&ActionTypeEnum::Forward));
        assert_eq!(
            forward_weights(&a),
            vec![("arn:blue".to_string(), 100), ("arn:green".to_string(), 0)]
        );
        let (drift, w) = rule_drift(&rule_with(vec![c], vec![a]), "arn:blue", "arn:green");
        assert!(drift.is_empty(), "{drift:?}");
        assert_eq!(w, (100, 0));
    }

    #[test]
    fn a_deployment_that_flipped_the_weights_is_not_drift_but_changed_paths_are() {
        let flipped = forward_action("arn:blue", "arn:green", (0, 100));
        let (drift, w) = rule_drift(
            &rule_with(vec![path_condition()], vec![flipped.clone()]),
            "arn:blue",
            "arn:green",
        );
        assert!(drift.is_empty(), "{drift:?}");
        assert_eq!(w, (0, 100), "repair keeps the live weights");

        let only_api = RuleCondition::builder()
            .field("path-pattern")
            .path_pattern_config(PathPatternConditionConfig::builder().values("/api/*").build())
            .build();
        let (drift, w) = rule_drift(&rule_with(vec![only_api], vec![flipped]), "arn:blue", "arn:green");
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert_eq!(w, (0, 100));
    }

    #[test]
    fn forwarding_elsewhere_or_a_fixed_response_is_drift() {
        let other = forward_action("arn:blue", "arn:other", (100, 0));
        let (drift, w) = rule_drift(&rule_with(vec![path_condition()], vec![other]), "arn:blue", "arn:green");
        assert_eq!(drift.len(), 1);
        assert_eq!(w, (100, 0));
        let (drift, _) = rule_drift(
            &rule_with(vec![path_condition()], vec![not_found_action()]),
            "arn:blue",
            "arn:green",
        );
        assert_eq!(drift.len(), 1);
        let zero = forward_action("arn:blue", "arn:green", (0, 0));
        assert_eq!(
            rule_drift(&rule_with(vec![path_condition()], vec![zero]), "arn:blue", "arn:green")
                .0
                .len(),
            1
        );
    }
}
