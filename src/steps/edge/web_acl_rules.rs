//! What the web ACL must contain, as pure data: the AWS managed rule
//! groups (common exploits, known bad inputs, IP reputation) and a
//! per-client rate limit, each with its CloudWatch metric, and a
//! comparable summary of live rules for drift.

use crate::steps::StepResult;
use aws_sdk_wafv2::types::{
    BlockAction, ManagedRuleGroupStatement, NoneAction, OverrideAction, RateBasedStatement,
    RateBasedStatementAggregateKeyType, Rule, RuleAction, Statement, VisibilityConfig,
};

/// The AWS managed rule groups, in evaluation order (AWS WAF Developer
/// Guide, "AWS Managed Rules rule groups list"): IP reputation first (25
/// WCU, cheapest, drops known bad sources), then the core rule set (700
/// WCU) and known bad inputs (200 WCU): 925 of the web ACL's 1,500 WCU
/// before extra charges.
pub const RULE_GROUPS: [(&str, &str); 3] = [
    ("AWSManagedRulesAmazonIpReputationList", "ip-reputation"),
    ("AWSManagedRulesCommonRuleSet", "common"),
    ("AWSManagedRulesKnownBadInputsRuleSet", "bad-inputs"),
];

/// The rate-based rule's window: 5 minutes, the one `--rate-limit` counts in.
pub const RATE_WINDOW_SECS: i64 = 300;

/// A metric name: `MetricName` is 1-255 of `[\w#:.\-/]` with no spaces.
pub fn metric(acl_name: &str, rule: &str) -> String {
    format!("{acl_name}-{rule}")
}

pub fn visibility(metric_name: String) -> StepResult<VisibilityConfig> {
    VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric_name)
        .build()
        .map_err(crate::aws::build_err)
}

/// The rules of the web ACL `acl_name` with a rate limit of `limit`
/// requests per client IP per 5 minutes.
pub fn wanted_rules(acl_name: &str, limit: u32) -> StepResult<Vec<Rule>> {
    let mut rules = Vec::new();
    for (priority, (group, short)) in RULE_GROUPS.iter().enumerate() {
        let statement = Statement::builder()
            .managed_rule_group_statement(
                ManagedRuleGroupStatement::builder()
                    .vendor_name("AWS")
                    .name(*group)
                    .build()
                    .map_err(crate::aws::build_err)?,
            )
            .build();
        rules.push(
            Rule::builder()
                .name(format!("AWS-{group}"))
                .priority(priority as i32)
                .statement(statement)
                .override_action(OverrideAction::builder().none(NoneAction::builder().build()).build())
                .visibility_config(visibility(metric(acl_name, short))?)
                .build()
                .map_err(crate::aws::build_err)?,
        );
    }
    let rate = Statement::builder()
        .rate_based_statement(
            RateBasedStatement::builder()
                .limit(i64::from(limit))
                .aggregate_key_type(RateBasedStatementAggregateKeyType::Ip)
                .evaluation_window_sec(RATE_WINDOW_SECS)
                .build()
                .map_err(crate::aws::build_err)?,
        )
        .build();
    rules.push(
        Rule::builder()
            .name("rate-limit-per-ip")
            .priority(RULE_GROUPS.len() as i32)
            .statement(rate)
            .action(RuleAction::builder().block(BlockAction::builder().build()).build())
            .visibility_config(visibility(metric(acl_name, "rate-limit"))?)
            .build()
            .map_err(crate::aws::build_err)?,
    );
    Ok(rules)
}

/// One comparable line per rule: priority, name, what it matches and what
/// it does. Two rule lists with the same summaries behave the same.
pub fn summary(rules: &[Rule]) -> Vec<String> {
    let mut out: Vec<String> = rules
        .iter()
        .map(|r| {
            let what = match r.statement() {
                Some(s) if s.managed_rule_group_statement().is_some() => {
                    let m = s.managed_rule_group_statement().unwrap();
                    format!("managed {}/{}", m.vendor_name(), m.name())
                }
                Some(s) if s.rate_based_statement().is_some() => {
                    let rb = s.rate_based_statement().unwrap();
                    format!(
                        "rate {} per {}s by {}",
                        rb.limit(),
                        rb.evaluation_window_sec(),
                        rb.aggregate_key_type().as_str()
                    )
                }
                _ => "other".to_string(),
            };
            let action = match (r.action(), r.override_action()) {
                (Some(a), _) if a.block().is_some() => "block",
                (Some(a), _) if a.count().is_some() => "count",
                (Some(_), _) => "allow",
                (None, Some(o)) if o.none().is_some() => "as the group says",
                (None, Some(_)) => "count only",
                (None, None) => "none",
            };
            let metrics = r
                .visibility_config()
                .map(|v| v.cloud_watch_metrics_enabled())
                .unwrap_or(false);
            format!(
                "{} {}: {what}, {action}{}",
                r.priority(),
                r.name(),
                if metrics { "" } else { ", no metrics" }
            )
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managed_groups_come_first_and_the_rate_limit_blocks() {
        let rules = wanted_rules("waf-api-x", 2000).unwrap();
        assert_eq!(rules.len(), 4);
        let s = summary(&rules);
        assert!(
            s[0].starts_with("0 AWS-AWSManagedRulesAmazonIpReputationList: managed AWS/"),
            "{s:?}"
        );
        assert!(s[3].contains("rate 2000 per 300s by IP, block"), "{s:?}");
        assert!(s.iter().all(|l| !l.contains("no metrics")), "{s:?}");
        // A changed limit or a removed rule shows up as drift.
        assert_ne!(summary(&wanted_rules("waf-api-x", 100).unwrap()), s);
        assert_ne!(summary(&rules[1..]), s);
    }

    #[test]
    fn metric_names_fit_the_api_reference() {
        for r in wanted_rules("waf-api-abcdefghij-1", 10).unwrap() {
            let m = r.visibility_config().unwrap().metric_name();
            assert!(m.len() <= 255 && !m.contains(' '), "{m}");
            assert!(m.chars().all(|c| c.is_alphanumeric() || "_#:.-/".contains(c)), "{m}");
        }
    }
}
