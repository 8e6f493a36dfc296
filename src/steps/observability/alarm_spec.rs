//! The alarms as data: what each of the five watches (metric or metric
//! math), its thresholds, and the comparable documents that tell drift
//! between a wanted alarm and one `DescribeAlarms` returns. No API calls.

use crate::steps::ecs;
use crate::steps::load_balancer::Color;
use crate::steps::{ids, Ctx, StepResult};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat};
use serde_json::{json, Value};

/// The names CloudWatch dimensions need, from the other steps.
#[derive(Debug, Clone)]
pub struct Dims {
    pub region: String,
    pub cluster: String,
    pub service: String,
    /// `app/alb-api-x/…`
    pub lb: String,
    /// `targetgroup/tg-blue-x/…`
    pub tg_blue: String,
    pub tg_green: String,
    pub db_cluster: String,
    /// The API's idempotency table.
    pub table: String,
    /// The distribution and its web ACL (with the edge): their metrics are
    /// published in us-east-1.
    pub edge: Option<EdgeDims>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeDims {
    pub distribution: String,
    /// The web ACL's name, its metrics' `WebACL` dimension.
    pub web_acl: Option<String>,
}

impl Dims {
    pub(super) fn from_ctx(cx: &Ctx) -> StepResult<Self> {
        let dim = |step: &str| cx.attr(step, "dimension");
        Ok(Dims {
            region: cx.region().to_owned(),
            cluster: ecs::cluster_name(cx),
            service: ecs::service_name(cx),
            lb: dim(ids::ALB)?,
            tg_blue: dim(Color::Blue.step())?,
            tg_green: dim(Color::Green.step())?,
            db_cluster: cx.id_of(ids::DB_CLUSTER)?,
            table: crate::steps::store::table_name(cx),
            // Only the dashboard shows the edge, and only it waits for the
            // distribution (the alarms do not): read it if it is there.
            edge: match (cx.settings.edge, cx.id_of(ids::DISTRIBUTION)) {
                (true, Ok(distribution)) => Some(EdgeDims {
                    distribution,
                    web_acl: cx.settings.waf.then(|| crate::steps::edge::web_acl_name(cx)),
                }),
                _ => None,
            },
        })
    }
}

/// One metric, as `namespace`, `name`, dimensions and statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct M {
    pub namespace: &'static str,
    pub name: &'static str,
    pub dims: Vec<(&'static str, String)>,
    pub stat: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Metric(M),
    /// A metric-math expression over `m1`, `m2`, ….
    Math {
        expression: &'static str,
        label: &'static str,
        metrics: Vec<M>,
    },
}

/// A desired alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub purpose: &'static str,
    pub description: &'static str,
    pub source: Source,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints: i32,
    pub threshold: f64,
    pub comparison: ComparisonOperator,
    pub treat_missing: &'static str,
}

pub fn alarm_spec(purpose: &str, d: &Dims) -> Option<AlarmSpec> {
    let svc = vec![("ClusterName", d.cluster.clone()), ("ServiceName", d.service.clone())];
    let lb = vec![("LoadBalancer", d.lb.clone())];
    let tg = |t: &str| vec![("LoadBalancer", d.lb.clone()), ("TargetGroup", t.to_owned())];
    Some(match purpose {
        "cpu" => AlarmSpec {
            purpose: "cpu",
            description: "The API service's average CPU is above 80% (auto scaling targets 70%)",
            source: Source::Metric(M {
                namespace: "AWS/ECS",
                name: "CPUUtilization",
                dims: svc,
                stat: "Average",
            }),
            period: 60,
            evaluation_periods: 2,
            datapoints: 2,
            threshold: 80.0,
            comparison: ComparisonOperator::GreaterThanThreshold,
            treat_missing: "notBreaching",
        },
        "tasks" => AlarmSpec {
            purpose: "tasks",
            description: "Fewer than 2 API tasks are running (no data counts as none)",
            source: Source::Metric(M {
                namespace: "ECS/ContainerInsights",
                name: "RunningTaskCount",
                dims: svc,
                stat: "Minimum",
            }),
            period: 60,
            evaluation_periods: 2,
            datapoints: 2,
            threshold: 2.0,
            comparison: ComparisonOperator::LessThanThreshold,
            treat_missing: "breaching",
        },
        "5xx" => AlarmSpec {
            purpose: "5xx",
            description: "The load balancer and the API answered 10 or more 5xx responses a minute",
            source: Source::Math {
                expression: "FILL(m1, 0) + FILL(m2, 0)",
                label: "5xx responses (ELB + targets)",
                metrics: vec![
                    M {
                        namespace: "AWS/ApplicationELB",
                        name: "HTTPCode_ELB_5XX_Count",
                        dims: lb.clone(),
                        stat: "Sum",
                    },
                    M {
                        namespace: "AWS/ApplicationELB",
                        name: "HTTPCode_Target_5XX_Count",
                        dims: lb,
                        stat: "Sum",
                    },
                ],
            },
            period: 60,
            evaluation_periods: 3,
            datapoints: 2,
            threshold: 10.0,
            comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing: "notBreaching",
        },
        "unhealthy" => AlarmSpec {
            purpose: "unhealthy",
            description: "A target of the blue or green target group is unhealthy",
            source: Source::Math {
                expression: "MAX([FILL(m1, 0), FILL(m2, 0)])",
                label: "Unhealthy targets (worst target group)",
                metrics: vec![
                    M {
                        namespace: "AWS/ApplicationELB",
                        name: "UnHealthyHostCount",
                        dims: tg(&d.tg_blue),
                        stat: "Maximum",
                    },
                    M {
                        namespace: "AWS/ApplicationELB",
                        name: "UnHealthyHostCount",
                        dims: tg(&d.tg_green),
                        stat: "Maximum",
                    },
                ],
            },
            period: 60,
            evaluation_periods: 2,
            datapoints: 2,
            threshold: 1.0,
            comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing: "notBreaching",
        },
        "db-cpu" => AlarmSpec {
            purpose: "db-cpu",
            description: "The Aurora cluster's CPU is above 80%",
            source: Source::Metric(M {
                namespace: "AWS/RDS",
                name: "CPUUtilization",
                dims: vec![("DBClusterIdentifier", d.db_cluster.clone())],
                stat: "Average",
            }),
            period: 60,
            evaluation_periods: 5,
            datapoints: 3,
            threshold: 80.0,
            comparison: ComparisonOperator::GreaterThanThreshold,
            treat_missing: "notBreaching",
        },
        _ => return None,
    })
}

pub(super) fn metric(m: &M) -> Metric {
    Metric::builder()
        .namespace(m.namespace)
        .metric_name(m.name)
        .set_dimensions(Some(
            m.dims
                .iter()
                .map(|(k, v)| Dimension::builder().name(*k).value(v).build())
                .collect(),
        ))
        .build()
}

pub(super) fn queries(spec: &AlarmSpec) -> Vec<MetricDataQuery> {
    let Source::Math {
        expression,
        label,
        metrics,
    } = &spec.source
    else {
        return vec![];
    };
    let mut q = vec![MetricDataQuery::builder()
        .id("e1")
        .expression(*expression)
        .label(*label)
        .return_data(true)
        .build()];
    for (i, m) in metrics.iter().enumerate() {
        q.push(
            MetricDataQuery::builder()
                .id(format!("m{}", i + 1))
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric(m))
                        .period(spec.period)
                        .stat(m.stat)
                        .build(),
                )
                .return_data(false)
                .build(),
        );
    }
    q
}

fn dims_doc(dims: &[(String, String)]) -> Value {
    let mut d: Vec<&(String, String)> = dims.iter().collect();
    d.sort();
    json!(d)
}

/// The managed settings of an alarm as a comparable document.
pub fn spec_doc(spec: &AlarmSpec, topic: &str) -> Value {
    let metric_doc = |m: &M| {
        let dims: Vec<(String, String)> = m.dims.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        json!({"namespace": m.namespace, "name": m.name, "dims": dims_doc(&dims), "stat": m.stat})
    };
    let source = match &spec.source {
        Source::Metric(m) => json!({"metric": metric_doc(m)}),
        Source::Math {
            expression, metrics, ..
        } => {
            json!({"expression": expression, "metrics": metrics.iter().map(metric_doc).collect::<Vec<_>>()})
        }
    };
    json!({
        "source": source,
        "period": spec.period,
        "evaluation_periods": spec.evaluation_periods,
        "datapoints": spec.datapoints,
        "threshold": spec.threshold,
        "comparison": spec.comparison.as_str(),
        "treat_missing": spec.treat_missing,
        "alarm_actions": [topic],
        "ok_actions": [topic],
        "description": spec.description,
    })
}

/// The same document for an alarm as DescribeAlarms returns it.
pub fn alarm_doc(a: &MetricAlarm) -> Value {
    let dims = |ds: &[Dimension]| -> Vec<(String, String)> {
        ds.iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_owned(),
                    d.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let (source, period) = if a.metrics().is_empty() {
        let m = json!({
            "namespace": a.namespace(),
            "name": a.metric_name(),
            "dims": dims_doc(&dims(a.dimensions())),
            "stat": a.statistic().map(|s| s.as_str()),
        });
        (json!({"metric": m}), a.period())
    } else {
        let expr = a.metrics().iter().find_map(|q| q.expression());
        let mut ms: Vec<(&str, Value, Option<i32>)> = a
            .metrics()
            .iter()
            .filter_map(|q| {
                let s = q.metric_stat()?;
                let m = s.metric()?;
                Some((
                    q.id().unwrap_or_default(),
                    json!({
                        "namespace": m.namespace(),
                        "name": m.metric_name(),
                        "dims": dims_doc(&dims(m.dimensions())),
                        "stat": s.stat(),
                    }),
                    s.period(),
                ))
            })
            .collect();
        ms.sort_by(|x, y| x.0.cmp(y.0));
        let period = ms.first().and_then(|m| m.2);
        (
            json!({"expression": expr, "metrics": ms.into_iter().map(|m| m.1).collect::<Vec<_>>()}),
            period,
        )
    };
    json!({
        "source": source,
        "period": period,
        "evaluation_periods": a.evaluation_periods(),
        "datapoints": a.datapoints_to_alarm().or(a.evaluation_periods()),
        "threshold": a.threshold(),
        "comparison": a.comparison_operator().map(|c| c.as_str()),
        "treat_missing": a.treat_missing_data().unwrap_or("missing"),
        "alarm_actions": a.alarm_actions(),
        "ok_actions": a.ok_actions(),
        "description": a.alarm_description(),
    })
}

/// Field names whose values differ between two documents.
pub(super) fn doc_diff(have: &Value, want: &Value) -> Vec<String> {
    match (have.as_object(), want.as_object()) {
        (Some(h), Some(w)) => w
            .iter()
            .filter(|(k, v)| h.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} is {} (wants {v})", h.get(k).unwrap_or(&Value::Null)))
            .collect(),
        _ => vec!["differs".into()],
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::steps::observability::{alarm_name, ALARMS};

    pub(in crate::steps::observability) fn dims() -> Dims {
        Dims {
            region: "ap-southeast-2".into(),
            cluster: "ecs-api-dev1".into(),
            service: "svc-api-dev1".into(),
            lb: "app/alb-api-dev1/50dc6c495c0c9188".into(),
            tg_blue: "targetgroup/tg-blue-dev1/1".into(),
            tg_green: "targetgroup/tg-green-dev1/2".into(),
            db_cluster: "aurora-catalog-dev1".into(),
            table: "ddb-idempotency-dev1".into(),
            edge: Some(EdgeDims {
                distribution: "E2QWRUHEXAMPLE".into(),
                web_acl: Some("waf-api-dev1".into()),
            }),
        }
    }

    const TOPIC: &str = "arn:aws:sns:ap-southeast-2:123456789012:sns-alarms-dev1";

    /// What DescribeAlarms would return for an alarm put from `spec`.
    fn as_described(spec: &AlarmSpec) -> MetricAlarm {
        let mut b = MetricAlarm::builder()
            .alarm_name(alarm_name(spec.purpose, "dev1"))
            .alarm_description(spec.description)
            .alarm_actions(TOPIC)
            .ok_actions(TOPIC)
            .evaluation_periods(spec.evaluation_periods)
            .datapoints_to_alarm(spec.datapoints)
            .threshold(spec.threshold)
            .comparison_operator(spec.comparison.clone())
            .treat_missing_data(spec.treat_missing);
        b = match &spec.source {
            Source::Metric(m) => b
                .namespace(m.namespace)
                .metric_name(m.name)
                // AWS may return dimensions in another order.
                .set_dimensions(metric(m).dimensions.map(|mut d| {
                    d.reverse();
                    d
                }))
                .statistic(aws_sdk_cloudwatch::types::Statistic::from(m.stat))
                .period(spec.period),
            Source::Math { .. } => b.set_metrics(Some(queries(spec).into_iter().rev().collect())),
        };
        b.build()
    }

    #[test]
    fn every_alarm_notifies_the_topic_and_round_trips_without_drift() {
        for p in ALARMS {
            let spec = alarm_spec(p, &dims()).unwrap();
            let want = spec_doc(&spec, TOPIC);
            assert_eq!(want["alarm_actions"], json!([TOPIC]));
            assert_eq!(want["ok_actions"], json!([TOPIC]));
            let have = alarm_doc(&as_described(&spec));
            assert_eq!(doc_diff(&have, &want), Vec::<String>::new(), "{p}");
        }
        assert!(alarm_spec("nope", &dims()).is_none());
    }

    #[test]
    fn alarms_watch_the_metrics_the_issue_names() {
        let d = dims();
        let cpu = alarm_spec("cpu", &d).unwrap();
        assert_eq!(
            (cpu.threshold, cpu.period, cpu.evaluation_periods, cpu.datapoints),
            (80.0, 60, 2, 2)
        );
        assert_eq!(cpu.comparison, ComparisonOperator::GreaterThanThreshold);
        assert!(
            matches!(&cpu.source, Source::Metric(m) if m.namespace == "AWS/ECS" && m.name == "CPUUtilization"
            && m.dims == vec![("ClusterName", "ecs-api-dev1".to_string()), ("ServiceName", "svc-api-dev1".to_string())])
        );
        let tasks = alarm_spec("tasks", &d).unwrap();
        assert_eq!(tasks.treat_missing, "breaching");
        assert_eq!(tasks.comparison, ComparisonOperator::LessThanThreshold);
        assert_eq!(tasks.threshold, 2.0);
        assert!(
            matches!(&tasks.source, Source::Metric(m) if m.namespace == "ECS/ContainerInsights" && m.name == "RunningTaskCount")
        );
        let unhealthy = alarm_spec("unhealthy", &d).unwrap();
        let Source::Math { metrics, .. } = &unhealthy.source else {
            panic!("math")
        };
        assert_eq!(metrics.len(), 2);
        assert!(metrics
            .iter()
            .all(|m| m.name == "UnHealthyHostCount" && m.dims[0].0 == "LoadBalancer" && m.dims[1].0 == "TargetGroup"));
        let q = queries(&unhealthy);
        assert_eq!(
            q.iter().filter(|q| q.return_data() == Some(true)).count(),
            1,
            "one expression returns data"
        );
        let db = alarm_spec("db-cpu", &d).unwrap();
        assert!(
            matches!(&db.source, Source::Metric(m) if m.namespace == "AWS/RDS" && m.dims[0] == ("DBClusterIdentifier", "aurora-catalog-dev1".to_string()))
        );
        let five = alarm_spec("5xx", &d).unwrap();
        assert!(
            matches!(&five.source, Source::Math { metrics, .. } if metrics.iter().any(|m| m.name == "HTTPCode_ELB_5XX_Count"))
        );
    }

    #[test]
    fn a_changed_threshold_is_drift() {
        let spec = alarm_spec("cpu", &dims()).unwrap();
        let mut changed = spec.clone();
        changed.threshold = 95.0;
        let drift = doc_diff(&alarm_doc(&as_described(&changed)), &spec_doc(&spec, TOPIC));
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].starts_with("threshold"), "{drift:?}");
    }
}
