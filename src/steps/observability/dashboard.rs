//! The CloudWatch dashboard: the service, traffic and the database side
//! by side. APIs: `PutDashboard`, `GetDashboard`, `DeleteDashboards`.

use super::alarm_spec::{Dims, EdgeDims};
use super::dashboard_name;
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::{json, Value};

fn widget(title: &str, region: &str, metrics: Value, stat: &str, x: i32, y: i32) -> Value {
    json!({
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "stacked": false,
            "period": 60,
            "stat": stat,
            "metrics": metrics,
        }
    })
}

/// The dashboard body: the service, traffic and the database.
pub fn dashboard_body(d: &Dims) -> Value {
    let r = d.region.as_str();
    let svc = |ns: &str, name: &str| json!([ns, name, "ClusterName", d.cluster, "ServiceName", d.service]);
    let alb = |name: &str| json!(["AWS/ApplicationELB", name, "LoadBalancer", d.lb]);
    let tg = |name: &str, t: &str, label: &str| json!(["AWS/ApplicationELB", name, "LoadBalancer", d.lb, "TargetGroup", t, {"label": label}]);
    let db = |name: &str| json!(["AWS/RDS", name, "DBClusterIdentifier", d.db_cluster]);
    let widgets = vec![
        widget(
            "Service CPU and memory (%)",
            r,
            json!([svc("AWS/ECS", "CPUUtilization"), svc("AWS/ECS", "MemoryUtilization")]),
            "Average",
            0,
            0,
        ),
        widget(
            "Running tasks",
            r,
            json!([
                svc("ECS/ContainerInsights", "RunningTaskCount"),
                svc("ECS/ContainerInsights", "DesiredTaskCount")
            ]),
            "Average",
            12,
            0,
        ),
        widget("ALB requests", r, json!([alb("RequestCount")]), "Sum", 0, 6),
        widget(
            "Target response time (s)",
            r,
            json!([
                ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", d.lb, {"stat": "p50", "label": "p50"}],
                ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", d.lb, {"stat": "p99", "label": "p99"}]
            ]),
            "p50",
            12,
            6,
        ),
        widget(
            "5xx responses",
            r,
            json!([alb("HTTPCode_ELB_5XX_Count"), alb("HTTPCode_Target_5XX_Count")]),
            "Sum",
            0,
            12,
        ),
        widget(
            "Healthy hosts per target group",
            r,
            json!([
                tg("HealthyHostCount", &d.tg_blue, "healthy (blue)"),
                tg("HealthyHostCount", &d.tg_green, "healthy (green)"),
                tg("UnHealthyHostCount", &d.tg_blue, "unhealthy (blue)"),
                tg("UnHealthyHostCount", &d.tg_green, "unhealthy (green)")
            ]),
            "Maximum",
            12,
            12,
        ),
        widget("Aurora CPU (%)", r, json!([db("CPUUtilization")]), "Average", 0, 18),
        widget(
            "Aurora connections",
            r,
            json!([db("DatabaseConnections")]),
            "Average",
            12,
            18,
        ),
    ];
    let mut widgets = widgets;
    let ddb = |name: &str, label: &str| json!(["AWS/DynamoDB", name, "TableName", d.table, {"label": label}]);
    let latency = |op: &str| json!(["AWS/DynamoDB", "SuccessfulRequestLatency", "TableName", d.table, "Operation", op, {"label": op}]);
    widgets.push(widget(
        "Idempotency table throttles",
        r,
        json!([ddb("ReadThrottleEvents", "reads"), ddb("WriteThrottleEvents", "writes")]),
        "Sum",
        0,
        36,
    ));
    widgets.push(widget(
        "Idempotency table latency (ms)",
        r,
        json!([latency("GetItem"), latency("PutItem"), latency("UpdateItem")]),
        "Average",
        12,
        36,
    ));
    if let Some(e) = &d.edge {
        widgets.extend(edge_widgets(e));
    }
    json!({"widgets": widgets})
}

/// The edge's row: CloudFront's metrics (dimensions `DistributionId` and
/// `Region=Global`) and WAF's (`WebACL`, `Rule=ALL`), both published in
/// us-east-1 whatever the stack's region.
fn edge_widgets(e: &EdgeDims) -> Vec<Value> {
    let r = crate::aws::EDGE_REGION;
    let cf = |name: &str, label: &str| json!(["AWS/CloudFront", name, "Region", "Global", "DistributionId", e.distribution, {"label": label}]);
    let mut w = vec![
        widget("Edge requests", r, json!([cf("Requests", "requests")]), "Sum", 0, 24),
        widget(
            "Edge cache hit rate (%)",
            r,
            json!([cf("CacheHitRate", "cache hit rate")]),
            "Average",
            12,
            24,
        ),
        widget(
            "Edge error rates (%)",
            r,
            json!([cf("4xxErrorRate", "4xx"), cf("5xxErrorRate", "5xx")]),
            "Average",
            0,
            30,
        ),
    ];
    if let Some(acl) = &e.web_acl {
        w.push(widget(
            "Requests blocked by the WAF",
            r,
            json!([
                ["AWS/WAFV2", "BlockedRequests", "WebACL", acl, "Rule", "ALL", {"label": "blocked"}],
                ["AWS/WAFV2", "AllowedRequests", "WebACL", acl, "Rule", "ALL", {"label": "allowed"}]
            ]),
            "Sum",
            12,
            30,
        ));
    }
    w
}

pub struct Dashboard {
    /// With the edge: its row of widgets, and the distribution as a dependency.
    pub edge: bool,
    pub waf: bool,
}

impl Dashboard {
    async fn put(cx: &Ctx) -> StepResult<()> {
        let body = dashboard_body(&Dims::from_ctx(cx)?).to_string();
        let out = cx
            .aws
            .cloudwatch
            .put_dashboard()
            .dashboard_name(dashboard_name(cx))
            .dashboard_body(body)
            .send()
            .await
            .aws("PutDashboard")?;
        if let Some(m) = out.dashboard_validation_messages().first() {
            tracing::warn!(message = m.message().unwrap_or_default(), "dashboard validation");
        }
        Ok(())
    }
}

#[async_trait]
impl Step for Dashboard {
    fn id(&self) -> &str {
        ids::DASHBOARD
    }
    fn kind(&self) -> &'static str {
        "dashboard"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = [ids::ALB, ids::TG_BLUE, ids::TG_GREEN, ids::DB_CLUSTER, ids::ECS_SERVICE]
            .map(Dep::id)
            .to_vec();
        if self.edge {
            d.push(Dep::id(ids::DISTRIBUTION));
        }
        if self.waf {
            d.push(Dep::id(ids::WEB_ACL));
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = dashboard_name(cx);
        let out = cx
            .aws
            .cloudwatch
            .get_dashboard()
            .dashboard_name(&name)
            .send()
            .await
            .aws("GetDashboard")
            .or_not_found()?;
        Ok(out.map(|o| {
            Record::new(&name)
                .with("arn", o.dashboard_arn().unwrap_or_default())
                .with("body", o.dashboard_body().unwrap_or_default())
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        Self::put(cx).await?;
        let name = dashboard_name(cx);
        let body = dashboard_body(&Dims::from_ctx(cx)?).to_string();
        Ok(Record::new(&name).with("body", body))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let want = dashboard_body(&Dims::from_ctx(cx)?);
        let have: Option<Value> = rec.attr("body").and_then(|b| serde_json::from_str(b).ok());
        if have.as_ref() == Some(&want) {
            return Ok(vec![]);
        }
        if fix {
            Self::put(cx).await?;
        }
        Ok(vec!["dashboard body differs".into()])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        cx.aws
            .cloudwatch
            .delete_dashboards()
            .dashboard_names(&rec.id)
            .send()
            .await
            .aws("DeleteDashboards")
            .or_not_found()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::observability::alarm_spec::tests::dims;
    use crate::steps::observability::dashboard_url;

    #[test]
    fn the_dashboard_has_every_widget_with_its_region() {
        let body = dashboard_body(&dims());
        let widgets = body["widgets"].as_array().unwrap();
        let (edge, stack): (Vec<&Value>, Vec<&Value>) = widgets.iter().partition(|w| {
            w["properties"]["title"].as_str().unwrap().contains("Edge")
                || w["properties"]["title"].as_str().unwrap().contains("WAF")
        });
        assert!(stack.iter().all(|w| w["properties"]["region"] == "ap-southeast-2"));
        assert_eq!(edge.len(), 4);
        assert!(
            edge.iter().all(|w| w["properties"]["region"] == "us-east-1"),
            "CloudFront and WAF publish there"
        );
        let all = body.to_string();
        for needle in [
            "CPUUtilization",
            "MemoryUtilization",
            "RunningTaskCount",
            "RequestCount",
            "\"p50\"",
            "\"p99\"",
            "HTTPCode_ELB_5XX_Count",
            "HealthyHostCount",
            "targetgroup/tg-blue-dev1/1",
            "targetgroup/tg-green-dev1/2",
            "DatabaseConnections",
            "aurora-catalog-dev1",
            "CacheHitRate",
            "5xxErrorRate",
            "E2QWRUHEXAMPLE",
            "BlockedRequests",
            "waf-api-dev1",
            "WriteThrottleEvents",
            "SuccessfulRequestLatency",
            "ddb-idempotency-dev1",
        ] {
            assert!(all.contains(needle), "{needle}");
        }
        let mut no_edge = dims();
        no_edge.edge = None;
        assert!(!dashboard_body(&no_edge).to_string().contains("CloudFront"));
        // No two widgets overlap.
        let mut cells = std::collections::BTreeSet::new();
        for w in widgets {
            assert!(cells.insert((w["x"].as_i64(), w["y"].as_i64())));
        }
        assert_eq!(
            dashboard_url("ap-southeast-2", "dashboard-api-dev1"),
            "https://ap-southeast-2.console.aws.amazon.com/cloudwatch/home?region=ap-southeast-2#dashboards:name=dashboard-api-dev1"
        );
    }
}
