//! The alarm topic, alarms and the dashboard (compute layer).
//!
//! Five alarms, all named `alarm-{purpose}-{suffix}` and found with one
//! `DescribeAlarms` call by their names; each notifies the topic on ALARM
//! and on OK. One dashboard shows the service, the load balancer and the
//! database side by side.

use super::load_balancer::Color;
use super::{Ctx, Dep, Step, StepRef, StepResult};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, NotFoundExt};
use crate::config::Settings;
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The AWS-managed SNS key, used unless `--kms-key-arn` names a customer key.
pub const SNS_MANAGED_KEY: &str = "alias/aws/sns";

/// The alarm purposes, in the order the steps are declared.
pub const ALARMS: [&str; 5] = ["cpu", "tasks", "5xx", "unhealthy", "db-cpu"];

pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    let mut s: Vec<StepRef> = vec![Arc::new(Topic)];
    for purpose in ALARMS {
        s.push(Arc::new(Alarm { purpose }));
    }
    s.push(Arc::new(Dashboard));
    s
}

pub fn topic_name(cx: &Ctx) -> String {
    cx.name("sns", "alarms")
}

pub fn alarm_name(purpose: &str, suffix: &str) -> String {
    format!("alarm-{purpose}-{suffix}")
}

pub fn dashboard_name(cx: &Ctx) -> String {
    cx.name("dashboard", "api")
}

pub fn dashboard_url(region: &str, name: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}")
}

// ---------------------------------------------------------------- topic

/// The publishers allowed: this account, and CloudWatch alarms of this
/// account; never over plain HTTP.
pub fn topic_policy(topic_arn: &str, account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerManages",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                    "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"
                ],
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}}
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }
        ]
    })
}

pub struct Topic;

impl Topic {
    fn key(cx: &Ctx) -> String {
        cx.settings
            .kms_key_arn
            .clone()
            .unwrap_or_else(|| SNS_MANAGED_KEY.to_owned())
    }

    async fn arn(cx: &Ctx) -> StepResult<String> {
        cx.arn("sns", &topic_name(cx)).await
    }

    /// Subscribes `--alarm-email` if it is not subscribed yet, and removes
    /// other (confirmed) email subscriptions. Without the flag, existing
    /// subscriptions are left alone.
    async fn email_drift(cx: &Ctx, topic: &str, fix: bool) -> StepResult<Vec<String>> {
        let Some(email) = cx.settings.alarm_email.as_deref() else {
            return Ok(vec![]);
        };
        let mut subs = Vec::new();
        let mut token = None;
        loop {
            let page = cx
                .aws
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(topic)
                .set_next_token(token)
                .send()
                .await
                .aws("ListSubscriptionsByTopic")?;
            subs.extend(page.subscriptions().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let emails: Vec<_> = subs.iter().filter(|s| s.protocol() == Some("email")).collect();
        let mut drift = Vec::new();
        if !emails
            .iter()
            .any(|s| s.endpoint().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        {
            drift.push(format!("{email} is not subscribed"));
            if fix {
                cx.aws
                    .sns
                    .subscribe()
                    .topic_arn(topic)
                    .protocol("email")
                    .endpoint(email)
                    .return_subscription_arn(true)
                    .send()
                    .await
                    .aws("Subscribe")?;
            }
        }
        for s in emails
            .iter()
            .filter(|s| s.endpoint().is_some_and(|e| !e.eq_ignore_ascii_case(email)))
        {
            let endpoint = s.endpoint().unwrap_or_default();
            drift.push(format!("{endpoint} is subscribed but --alarm-email is {email}"));
            // A pending subscription has no ARN yet and cannot be removed.
            if let Some(arn) = s.subscription_arn().filter(|a| a.starts_with("arn:")) {
                if fix {
                    cx.aws
                        .sns
                        .unsubscribe()
                        .subscription_arn(arn)
                        .send()
                        .await
                        .aws("Unsubscribe")
                        .or_not_found()?;
                }
            }
        }
        Ok(drift)
    }
}

#[async_trait]
impl Step for Topic {
    fn id(&self) -> &str {
        "sns-alarms"
    }
    fn kind(&self) -> &'static str {
        "sns-topic"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let arn = Self::arn(cx).await?;
        let out = cx
            .aws
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .aws("GetTopicAttributes")
            .or_not_found()?;
        Ok(out.map(|o| {
            let attrs = o.attributes().cloned().unwrap_or_default();
            let mut r = Record::new(&arn).with("arn", &arn);
            if let Some(k) = attrs.get("KmsMasterKeyId") {
                r = r.with("kms", k);
            }
            if let Some(p) = attrs.get("Policy") {
                r = r.with("policy", p);
            }
            r
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = topic_name(cx);
        let arn = Self::arn(cx).await?;
        let account = cx.account_id().await?;
        let policy = topic_policy(&arn, &account).to_string();
        let tags: Vec<aws_sdk_sns::types::Tag> = cx
            .tags(&name, "sns-alarms")
            .into_iter()
            .filter_map(|(k, v)| aws_sdk_sns::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
        let out = cx
            .aws
            .sns
            .create_topic()
            .name(&name)
            .attributes("KmsMasterKeyId", Self::key(cx))
            .attributes("Policy", &policy)
            .set_tags(Some(tags))
            .send()
            .await
            .aws("CreateTopic")?;
        let arn = out.topic_arn().unwrap_or(&arn).to_owned();
        Self::email_drift(cx, &arn, true).await?;
        Ok(Record::new(&arn)
            .with("arn", &arn)
            .with("kms", Self::key(cx))
            .with("policy", policy))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let key = Self::key(cx);
        if rec.attr("kms") != Some(key.as_str()) {
            drift.push(format!(
                "encryption key {} (wants {key})",
                rec.attr("kms").unwrap_or("none")
            ));
            if fix {
                cx.aws
                    .sns
                    .set_topic_attributes()
                    .topic_arn(&rec.id)
                    .attribute_name("KmsMasterKeyId")
                    .attribute_value(&key)
                    .send()
                    .await
                    .aws("SetTopicAttributes")?;
            }
        }
        let account = cx.account_id().await?;
        let want = topic_policy(&rec.id, &account);
        let have: Option<Value> = rec.attr("policy").and_then(|p| serde_json::from_str(p).ok());
        if have.as_ref() != Some(&want) {
            drift.push("topic policy differs".into());
            if fix {
                cx.aws
                    .sns
                    .set_topic_attributes()
                    .topic_arn(&rec.id)
                    .attribute_name("Policy")
                    .attribute_value(want.to_string())
                    .send()
                    .await
                    .aws("SetTopicAttributes")?;
            }
        }
        drift.extend(Self::email_drift(cx, &rec.id, fix).await?);
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .sns
                .delete_topic()
                .topic_arn(&rec.id)
                .send()
                .await
                .aws("DeleteTopic")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- alarms

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
}

impl Dims {
    fn from_ctx(cx: &Ctx) -> StepResult<Self> {
        let dim = |step: &str| -> StepResult<String> {
            Ok(cx.rec(step)?.attr("dimension").map(str::to_owned).unwrap_or_default())
        };
        Ok(Dims {
            region: cx.region().to_owned(),
            cluster: super::ecs::cluster_name(cx),
            service: super::ecs::service_name(cx),
            lb: dim("alb")?,
            tg_blue: dim(Color::Blue.step())?,
            tg_green: dim(Color::Green.step())?,
            db_cluster: cx.id_of("db-cluster")?,
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

fn metric(m: &M) -> Metric {
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

fn queries(spec: &AlarmSpec) -> Vec<MetricDataQuery> {
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
fn doc_diff(have: &Value, want: &Value) -> Vec<String> {
    match (have.as_object(), want.as_object()) {
        (Some(h), Some(w)) => w
            .iter()
            .filter(|(k, v)| h.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} is {} (wants {v})", h.get(k).unwrap_or(&Value::Null)))
            .collect(),
        _ => vec!["differs".into()],
    }
}

async fn alarms(cx: &Ctx) -> StepResult<Arc<Vec<MetricAlarm>>> {
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

pub struct Alarm {
    pub purpose: &'static str,
}

impl Alarm {
    fn name(&self, cx: &Ctx) -> String {
        alarm_name(self.purpose, cx.suffix().as_str())
    }

    fn spec(&self, cx: &Ctx) -> StepResult<AlarmSpec> {
        alarm_spec(self.purpose, &Dims::from_ctx(cx)?)
            .ok_or_else(|| AwsError::custom("PutMetricAlarm", "UnknownAlarm", format!("no alarm `{}`", self.purpose)))
    }

    async fn put(&self, cx: &Ctx) -> StepResult<()> {
        let spec = self.spec(cx)?;
        let topic = cx.id_of("sns-alarms")?;
        let name = self.name(cx);
        let mut req = cx
            .aws
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&name)
            .alarm_description(spec.description)
            .actions_enabled(true)
            .alarm_actions(&topic)
            .ok_actions(&topic)
            .evaluation_periods(spec.evaluation_periods)
            .datapoints_to_alarm(spec.datapoints)
            .threshold(spec.threshold)
            .comparison_operator(spec.comparison.clone())
            .treat_missing_data(spec.treat_missing)
            .set_tags(Some(
                cx.tags(&name, &format!("alarm-{}", self.purpose))
                    .into_iter()
                    .map(|(k, v)| aws_sdk_cloudwatch::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ));
        req = match &spec.source {
            Source::Metric(m) => req
                .namespace(m.namespace)
                .metric_name(m.name)
                .set_dimensions(metric(m).dimensions.clone())
                .statistic(aws_sdk_cloudwatch::types::Statistic::from(m.stat))
                .period(spec.period),
            Source::Math { .. } => req.set_metrics(Some(queries(&spec))),
        };
        req.send().await.aws("PutMetricAlarm")?;
        Ok(())
    }
}

#[async_trait]
impl Step for Alarm {
    fn id(&self) -> &str {
        match self.purpose {
            "cpu" => "alarm-cpu",
            "tasks" => "alarm-tasks",
            "5xx" => "alarm-5xx",
            "unhealthy" => "alarm-unhealthy",
            _ => "alarm-db-cpu",
        }
    }
    fn kind(&self) -> &'static str {
        "cloudwatch-alarm"
    }
    fn deps(&self) -> Vec<Dep> {
        // Every alarm reads the dimensions of all of them (Dims), so each
        // depends on the same named steps; none needs them usable.
        ["sns-alarms", "alb", "tg-blue", "tg-green", "db-cluster", "ecs-service"]
            .map(Dep::id)
            .to_vec()
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = self.name(cx);
        Ok(alarms(cx)
            .await?
            .iter()
            .find(|a| a.alarm_name() == Some(name.as_str()))
            .map(|a| Record::new(&name).with("arn", a.alarm_arn().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        self.put(cx).await?;
        let name = self.name(cx);
        let arn = cx.arn("cloudwatch", &format!("alarm:{name}")).await?;
        Ok(Record::new(&name).with("arn", arn))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(a) = alarms(cx)
            .await?
            .iter()
            .find(|a| a.alarm_name() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let want = spec_doc(&self.spec(cx)?, &cx.id_of("sns-alarms")?);
        let drift = doc_diff(&alarm_doc(&a), &want);
        if fix && !drift.is_empty() {
            self.put(cx).await?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        cx.aws
            .cloudwatch
            .delete_alarms()
            .alarm_names(&rec.id)
            .send()
            .await
            .aws("DeleteAlarms")
            .or_not_found()?;
        Ok(())
    }
}

// ---------------------------------------------------------------- dashboard

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
    json!({"widgets": widgets})
}

pub struct Dashboard;

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
        "dashboard"
    }
    fn kind(&self) -> &'static str {
        "dashboard"
    }
    fn deps(&self) -> Vec<Dep> {
        ["alb", "tg-blue", "tg-green", "db-cluster", "ecs-service"]
            .map(Dep::id)
            .to_vec()
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

/// Adds this family's entries to the flat outputs.
pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Ok(name) = cx.id_of("dashboard") {
        out.insert("CloudWatchDashboardUrl".into(), dashboard_url(cx.region(), &name));
    }
    if let Ok(topic) = cx.id_of("sns-alarms") {
        out.insert("AlarmTopicArn".into(), topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims() -> Dims {
        Dims {
            region: "ap-southeast-2".into(),
            cluster: "ecs-api-dev1".into(),
            service: "svc-api-dev1".into(),
            lb: "app/alb-api-dev1/50dc6c495c0c9188".into(),
            tg_blue: "targetgroup/tg-blue-dev1/1".into(),
            tg_green: "targetgroup/tg-green-dev1/2".into(),
            db_cluster: "aurora-catalog-dev1".into(),
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

    #[test]
    fn the_dashboard_has_every_widget_with_its_region() {
        let body = dashboard_body(&dims());
        let widgets = body["widgets"].as_array().unwrap();
        assert!(widgets.iter().all(|w| w["properties"]["region"] == "ap-southeast-2"));
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
        ] {
            assert!(all.contains(needle), "{needle}");
        }
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

    #[test]
    fn the_topic_policy_lets_cloudwatch_publish_over_tls_only() {
        let p = topic_policy(TOPIC, "123456789012");
        let st = p["Statement"].as_array().unwrap();
        assert!(st
            .iter()
            .any(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                && s["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"));
        assert!(st
            .iter()
            .any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));
    }
}
