//! Traffic: the internet-facing Application Load Balancer, its access-log
//! bucket, the blue and green target groups ECS native blue/green switches
//! between, the listeners, and the one production listener rule.
//!
//! Discovery is batched through the inventory: one `DescribeLoadBalancers`
//! (by name), one `DescribeTargetGroups` (both names), one
//! `DescribeListeners` (for the load balancer) and one `DescribeRules` (for
//! the production listener), whichever step asks first.

use super::network::{subnet_steps, Tier, APP_PORT};
use super::{build_err, waiter_err, Ctx, Dep, Step, StepRef, StepResult, Timing};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, NotFoundExt};
use crate::config::Settings;
use crate::state::Record;
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::client::Waiters;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig, Listener as ElbListener,
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum, Matcher,
    PathPatternConditionConfig, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum, Rule, RuleCondition,
    Tag, TargetGroupAttribute, TargetGroupTuple, TargetTypeEnum,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The paths the production rule forwards; everything else gets a 404.
pub const RULE_PATHS: [&str; 2] = ["/api/*", "/health"];
pub const RULE_PRIORITY: i32 = 10;
pub const HEALTH_PATH: &str = "/health";
/// TLS 1.3 and 1.2 with post-quantum key exchange, no legacy ciphers.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";
/// Seconds a draining target keeps its connections (ALB default is 300).
pub const DEREGISTRATION_DELAY: i32 = 30;
/// Days the access logs are kept.
pub const LOG_EXPIRY_DAYS: i32 = 90;
/// Key prefix of the access logs in the bucket.
pub const LOG_PREFIX: &str = "alb";
const NOT_FOUND_BODY: &str = r#"{"error":"not found"}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Blue,
    Green,
}

impl Color {
    pub fn name(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
    pub fn step(self) -> &'static str {
        match self {
            Color::Blue => "tg-blue",
            Color::Green => "tg-green",
        }
    }
}

pub fn steps(settings: &Settings) -> Vec<StepRef> {
    let mut s: Vec<StepRef> = vec![
        Arc::new(LogBucket),
        Arc::new(Alb),
        Arc::new(TargetGroup { color: Color::Blue }),
        Arc::new(TargetGroup { color: Color::Green }),
        Arc::new(Listener { https: false }),
    ];
    if settings.certificate_arn.is_some() {
        s.push(Arc::new(Listener { https: true }));
    }
    s.push(Arc::new(ApiRule {
        listener: production_listener(settings),
    }));
    s
}

/// The listener that carries the production rule: 443 with a certificate,
/// 80 without.
pub fn production_listener(settings: &Settings) -> &'static str {
    if settings.certificate_arn.is_some() {
        "listener-https"
    } else {
        "listener-http"
    }
}

pub fn alb_name(cx: &Ctx) -> String {
    cx.name("alb", "api")
}

pub fn tg_name(cx: &Ctx, color: Color) -> String {
    cx.name("tg", color.name())
}

/// `app/alb-api-x/0123…` from a load balancer ARN (CloudWatch's dimension).
pub fn lb_dimension(arn: &str) -> String {
    arn.split_once(":loadbalancer/")
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default()
}

/// `targetgroup/tg-blue-x/0123…` from a target group ARN.
pub fn tg_dimension(arn: &str) -> String {
    arn.rsplit_once(':').map(|(_, s)| s.to_owned()).unwrap_or_default()
}

fn elb_tags(cx: &Ctx, name: &str, step: &str) -> Vec<Tag> {
    cx.tags(name, step)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

// ---------------------------------------------------------------- inventory

async fn lbs(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>>> {
    cx.inventory
        .get("elb:lbs", || async {
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

async fn target_groups(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>>> {
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
async fn lb_arn(cx: &Ctx) -> StepResult<Option<String>> {
    if let Ok(r) = cx.rec("alb") {
        return Ok(Some(r.id));
    }
    Ok(lbs(cx)
        .await?
        .first()
        .and_then(|l| l.load_balancer_arn())
        .map(str::to_owned))
}

async fn listeners(cx: &Ctx, lb: &str) -> StepResult<Arc<Vec<ElbListener>>> {
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

async fn listener_arn(cx: &Ctx, step: &str, port: i32) -> StepResult<Option<String>> {
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

async fn rules(cx: &Ctx, listener: &str) -> StepResult<Arc<Vec<Rule>>> {
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

// ---------------------------------------------------------------- access-log bucket

/// `s3-alblogs-{suffix}-{account}`: globally unique, at most 36 characters.
pub fn bucket_name(suffix: &str, account: &str) -> String {
    format!("s3-alblogs-{suffix}-{account}")
}

/// The account ELB writes access logs from, in regions that predate the
/// log-delivery service principal.
pub fn elb_log_account(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "127311923021",
        "us-east-2" => "033677994240",
        "us-west-1" => "027434742980",
        "us-west-2" => "797873946194",
        "af-south-1" => "098369216593",
        "ap-east-1" => "754344448648",
        "ap-southeast-3" => "589379963580",
        "ap-south-1" => "718504428378",
        "ap-northeast-3" => "383597477331",
        "ap-northeast-2" => "600734575887",
        "ap-southeast-1" => "114774131450",
        "ap-southeast-2" => "783225319266",
        "ap-northeast-1" => "582318560864",
        "ca-central-1" => "985666609251",
        "eu-central-1" => "054676820928",
        "eu-west-1" => "156460612806",
        "eu-west-2" => "652711504416",
        "eu-south-1" => "635631232127",
        "eu-west-3" => "009996457667",
        "eu-north-1" => "897822967062",
        "me-south-1" => "076674570225",
        "sa-east-1" => "507241528517",
        "us-gov-west-1" => "048591011584",
        "us-gov-east-1" => "190560391635",
        "cn-north-1" => "638102146993",
        "cn-northwest-1" => "037604701340",
        _ => return None,
    })
}

/// TLS only, and ELB may put access logs under `alb/AWSLogs/{account}/`.
pub fn bucket_policy(bucket: &str, account: &str, region: &str) -> Value {
    let p = crate::aws::partition(region);
    let bucket_arn = format!("arn:{p}:s3:::{bucket}");
    let principal = match elb_log_account(region) {
        Some(elb) => json!({"AWS": format!("arn:{p}:iam::{elb}:root")}),
        None => json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn.clone(), format!("{bucket_arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "AllowElbLogDelivery",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": format!("{bucket_arn}/{LOG_PREFIX}/AWSLogs/{account}/*")
            }
        ]
    })
}

pub struct LogBucket;

impl LogBucket {
    async fn name(cx: &Ctx) -> StepResult<String> {
        Ok(bucket_name(cx.suffix().as_str(), &cx.account_id().await?))
    }

    /// The fingerprint of the configuration [`Self::configure`] applies.
    async fn fingerprint(cx: &Ctx, bucket: &str) -> StepResult<String> {
        let account = cx.account_id().await?;
        Ok(crate::naming::fingerprint(&format!(
            "AES256;public-access-block:all;expire:{LOG_EXPIRY_DAYS};{}",
            bucket_policy(bucket, &account, cx.region())
        )))
    }

    /// Encryption, public access block, ownership, lifecycle, policy, tags:
    /// all idempotent puts.
    async fn configure(cx: &Ctx, bucket: &str) -> StepResult<()> {
        use aws_sdk_s3::types::*;
        let s3 = &cx.aws.s3;
        let sse = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::Aes256)
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            )
            .build()
            .map_err(build_err)?;
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(sse)
            .send()
            .await
            .aws("PutBucketEncryption")?;
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .aws("PutPublicAccessBlock")?;
        s3.put_bucket_ownership_controls()
            .bucket(bucket)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .map_err(build_err)?,
                    )
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .aws("PutBucketOwnershipControls")?;
        let rule = LifecycleRule::builder()
            .id("expire-access-logs")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(format!("{LOG_PREFIX}/")).build())
            .expiration(LifecycleExpiration::builder().days(LOG_EXPIRY_DAYS).build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(7)
                    .build(),
            )
            .build()
            .map_err(build_err)?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .aws("PutBucketLifecycleConfiguration")?;
        let account = cx.account_id().await?;
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(bucket_policy(bucket, &account, cx.region()).to_string())
            .send()
            .await
            .aws("PutBucketPolicy")?;
        // Tagged last: the fingerprint says every put above went through.
        let mut tags = cx.tags(bucket, "alb-logs");
        tags.push((
            crate::naming::TAG_CONFIGURED.into(),
            Self::fingerprint(cx, bucket).await?,
        ));
        let tags: Vec<aws_sdk_s3::types::Tag> = tags
            .into_iter()
            .filter_map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
        s3.put_bucket_tagging()
            .bucket(bucket)
            .tagging(Tagging::builder().set_tag_set(Some(tags)).build().map_err(build_err)?)
            .send()
            .await
            .aws("PutBucketTagging")?;
        Ok(())
    }

    /// Deletes every object (and version) in the bucket.
    async fn empty(cx: &Ctx, bucket: &str) -> StepResult<()> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        loop {
            let page = cx
                .aws
                .s3
                .list_object_versions()
                .bucket(bucket)
                .send()
                .await
                .aws("ListObjectVersions")?;
            let mut ids = Vec::new();
            for v in page.versions() {
                ids.push((
                    v.key().unwrap_or_default().to_owned(),
                    v.version_id().map(str::to_owned),
                ));
            }
            for m in page.delete_markers() {
                ids.push((
                    m.key().unwrap_or_default().to_owned(),
                    m.version_id().map(str::to_owned),
                ));
            }
            if ids.is_empty() {
                return Ok(());
            }
            for chunk in ids.chunks(1000) {
                let objects = chunk
                    .iter()
                    .map(|(k, v)| {
                        let mut b = ObjectIdentifier::builder().key(k);
                        // moto and unversioned buckets report version "null".
                        if let Some(v) = v.as_deref().filter(|v| *v != "null") {
                            b = b.version_id(v);
                        }
                        b.build().map_err(build_err)
                    })
                    .collect::<StepResult<Vec<_>>>()?;
                cx.aws
                    .s3
                    .delete_objects()
                    .bucket(bucket)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(objects))
                            .quiet(true)
                            .build()
                            .map_err(build_err)?,
                    )
                    .send()
                    .await
                    .aws("DeleteObjects")?;
            }
        }
    }
}

#[async_trait]
impl Step for LogBucket {
    fn id(&self) -> &str {
        "alb-logs"
    }
    fn kind(&self) -> &'static str {
        "s3-bucket"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = Self::name(cx).await?;
        let tagging = cx
            .aws
            .s3
            .get_bucket_tagging()
            .bucket(&name)
            .send()
            .await
            .aws("GetBucketTagging");
        // One call tells both whether the bucket exists and, through the
        // fingerprint tag, whether it is configured as wanted.
        let configured = match tagging {
            Ok(t) => t
                .tag_set()
                .iter()
                .find(|t| t.key() == crate::naming::TAG_CONFIGURED)
                .map(|t| t.value().to_owned())
                .unwrap_or_default(),
            Err(e) if e.code_is("NoSuchTagSet") => String::new(),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            Record::new(&name)
                .with("arn", format!("arn:{}:s3:::{name}", crate::aws::partition(cx.region())))
                .with("configured", configured),
        ))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let name = Self::name(cx).await?;
        let mut req = cx.aws.s3.create_bucket().bucket(&name);
        if cx.region() != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(cx.region()))
                    .build(),
            );
        }
        match req.send().await.aws("CreateBucket") {
            // Created by a run that stopped before configuring it.
            Err(e) if e.code_is("BucketAlreadyOwnedByYou") => {}
            Err(e) if e.code_is("BucketAlreadyExists") => {
                return Err(AwsError::custom(
                    "CreateBucket",
                    "BucketAlreadyExists",
                    format!("the bucket name {name} belongs to another account; hint: pick another --suffix"),
                ))
            }
            r => {
                r?;
            }
        }
        Self::configure(cx, &name).await?;
        Ok(Record::new(&name).with("arn", format!("arn:{}:s3:::{name}", crate::aws::partition(cx.region()))))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let s3 = &cx.aws.s3;
        let b = rec.id.as_str();
        if rec.attr("configured") == Some(Self::fingerprint(cx, b).await?.as_str()) {
            return Ok(vec![]);
        }
        let mut drift = Vec::new();
        let pab = s3
            .get_public_access_block()
            .bucket(b)
            .send()
            .await
            .aws("GetPublicAccessBlock")
            .or_not_found()?;
        let all_on = pab
            .as_ref()
            .and_then(|o| o.public_access_block_configuration())
            .is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            });
        if !all_on {
            drift.push("public access block is not fully on".into());
        }
        let enc = s3
            .get_bucket_encryption()
            .bucket(b)
            .send()
            .await
            .aws("GetBucketEncryption")
            .or_not_found()?;
        if enc
            .as_ref()
            .and_then(|o| o.server_side_encryption_configuration())
            .is_none_or(|c| c.rules().is_empty())
        {
            drift.push("default encryption missing".into());
        }
        let account = cx.account_id().await?;
        let want = bucket_policy(b, &account, cx.region());
        let have = s3
            .get_bucket_policy()
            .bucket(b)
            .send()
            .await
            .aws("GetBucketPolicy")
            .or_not_found()?;
        let have: Option<Value> = have.and_then(|o| o.policy().and_then(|p| serde_json::from_str(p).ok()));
        if have.as_ref() != Some(&want) {
            drift.push("bucket policy differs".into());
        }
        let lc = s3
            .get_bucket_lifecycle_configuration()
            .bucket(b)
            .send()
            .await
            .aws("GetBucketLifecycleConfiguration")
            .or_not_found();
        let expires = match lc {
            Ok(o) => o.is_some_and(|o| {
                o.rules()
                    .iter()
                    .any(|r| r.expiration().and_then(|e| e.days()) == Some(LOG_EXPIRY_DAYS))
            }),
            Err(e) if e.code_is("NoSuchLifecycleConfiguration") => false,
            Err(e) => return Err(e),
        };
        if !expires {
            drift.push(format!("lifecycle expiry of {LOG_EXPIRY_DAYS} days missing"));
        }
        if fix {
            // Also when nothing differs: the fingerprint tag makes the next
            // run's check free.
            Self::configure(cx, b).await?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // The load balancer may still flush a last log file: empty and
        // delete until the bucket stays empty.
        wait::delete(Backoff::DRAIN.with_timeout(Duration::from_secs(300)), || async {
            if Self::empty(cx, &rec.id).await.or_not_found()?.is_none() {
                return Ok(());
            }
            cx.aws
                .s3
                .delete_bucket()
                .bucket(&rec.id)
                .send()
                .await
                .aws("DeleteBucket")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- load balancer

/// The attributes the load balancer must have.
pub fn alb_attributes(bucket: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("routing.http.drop_invalid_header_fields.enabled", "true".to_string()),
        ("access_logs.s3.enabled", "true".to_string()),
        ("access_logs.s3.bucket", bucket.to_string()),
        ("access_logs.s3.prefix", LOG_PREFIX.to_string()),
    ])
}

pub struct Alb;

impl Alb {
    async fn set_attributes(&self, cx: &Ctx, arn: &str) -> StepResult<()> {
        let bucket = cx.id_of("alb-logs")?;
        let attrs: Vec<LoadBalancerAttribute> = alb_attributes(&bucket)
            .into_iter()
            .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build())
            .collect();
        // ELB checks it may write to the bucket; a fresh bucket policy can
        // take a few seconds to be seen.
        let backoff = Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(10),
            timeout: Duration::from_secs(90),
        };
        wait::poll("the load balancer to accept the access-log bucket", backoff, || async {
            let r = cx
                .aws
                .elb
                .modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .set_attributes(Some(attrs.clone()))
                .send()
                .await
                .aws("ModifyLoadBalancerAttributes");
            match r {
                Ok(_) => Ok(Some(())),
                Err(e)
                    if e.code_is("InvalidConfigurationRequest")
                        && e.message.to_ascii_lowercase().contains("access denied") =>
                {
                    tracing::debug!(error = %e, "access-log bucket not writable yet");
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    fn record(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> Record {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let r = Record::new(arn)
            .with("dns", lb.dns_name().unwrap_or_default())
            .with("name", lb.load_balancer_name().unwrap_or_default())
            .with("dimension", lb_dimension(arn))
            .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default());
        if lb.state().and_then(|s| s.code()) == Some(&LoadBalancerStateEnum::Active) {
            r
        } else {
            r.pending()
        }
    }
}

#[async_trait]
impl Step for Alb {
    fn id(&self) -> &str {
        "alb"
    }
    fn kind(&self) -> &'static str {
        "load-balancer"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = subnet_steps(Tier::Public).into_iter().map(Dep::id).collect();
        // An internet-facing load balancer needs the VPC's internet gateway.
        d.extend(["sg-alb", "igw", "alb-logs"].map(Dep::id));
        d
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 150, 30)
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(lbs(cx).await?.first().map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = alb_name(cx);
        let subnets = subnet_steps(Tier::Public)
            .iter()
            .map(|s| cx.id_of(s))
            .collect::<StepResult<Vec<_>>>()?;
        let out = cx
            .aws
            .elb
            .create_load_balancer()
            .name(&name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(subnets))
            .security_groups(cx.id_of("sg-alb")?)
            .set_tags(Some(elb_tags(cx, &name, "alb")))
            .send()
            .await
            .aws("CreateLoadBalancer")?;
        let lb = out.load_balancers().first().cloned().ok_or_else(|| {
            AwsError::custom(
                "CreateLoadBalancer",
                "EmptyResponse",
                "no load balancer in the response",
            )
        })?;
        let rec = Self::record(&lb);
        self.set_attributes(cx, &rec.id).await?;
        Ok(rec.pending())
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let bucket = cx.id_of("alb-logs")?;
        let have = cx
            .aws
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(&rec.id)
            .send()
            .await
            .aws("DescribeLoadBalancerAttributes")?;
        let have: BTreeMap<&str, &str> = have
            .attributes()
            .iter()
            .filter_map(|a| Some((a.key()?, a.value().unwrap_or_default())))
            .collect();
        for (k, v) in alb_attributes(&bucket) {
            if have.get(k).copied() != Some(v.as_str()) {
                drift.push(format!("{k} is {} (wants {v})", have.get(k).unwrap_or(&"unset")));
            }
        }
        if fix && !drift.is_empty() {
            self.set_attributes(cx, &rec.id).await?;
        }
        if let Some(lb) = lbs(cx)
            .await?
            .iter()
            .find(|l| l.load_balancer_arn() == Some(rec.id.as_str()))
        {
            let sg = cx.id_of("sg-alb")?;
            if lb.security_groups() != [sg.clone()] {
                drift.push(format!("security groups are {:?} (wants [{sg}])", lb.security_groups()));
                if fix {
                    cx.aws
                        .elb
                        .set_security_groups()
                        .load_balancer_arn(&rec.id)
                        .security_groups(&sg)
                        .send()
                        .await
                        .aws("SetSecurityGroups")?;
                }
            }
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting("alb", "load balancer to become active");
        // Polled with backoff from 1 s to 15 s rather than the SDK waiter's
        // fixed 15 s first delay: an ALB that is active in seconds is not
        // waited on for 15.
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(15),
            timeout: Duration::from_secs(15 * 60),
        };
        wait::poll("the load balancer to become active", backoff, || async {
            let out = cx
                .aws
                .elb
                .describe_load_balancers()
                .load_balancer_arns(&rec.id)
                .send()
                .await
                .aws("DescribeLoadBalancers")?;
            let state = out
                .load_balancers()
                .first()
                .and_then(|l| l.state())
                .and_then(|s| s.code());
            match state.map(|c| c.as_str()) {
                Some("active") => Ok(Some(())),
                Some("failed") => Err(AwsError::custom(
                    "DescribeLoadBalancers",
                    "LoadBalancerFailed",
                    "the load balancer failed to provision",
                )),
                _ => Ok(None),
            }
        })
        .await?;
        Ok(rec.clone())
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if cx
            .aws
            .elb
            .delete_load_balancer()
            .load_balancer_arn(&rec.id)
            .send()
            .await
            .aws("DeleteLoadBalancer")
            .or_not_found()?
            .is_none()
        {
            return Ok(());
        }
        cx.waiting("alb", "load balancer to be deleted");
        cx.aws
            .elb
            .wait_until_load_balancers_deleted()
            .load_balancer_arns(&rec.id)
            .wait(Duration::from_secs(10 * 60))
            .await
            .map_err(|e| waiter_err("WaitLoadBalancersDeleted", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- target groups

pub struct TargetGroup {
    pub color: Color,
}

/// Health check and target settings both target groups share.
#[derive(Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: &'static str,
    pub interval: i32,
    pub timeout: i32,
    pub healthy: i32,
    pub unhealthy: i32,
    pub matcher: &'static str,
}

pub const HEALTH_CHECK: HealthCheck = HealthCheck {
    path: HEALTH_PATH,
    interval: 30,
    timeout: 5,
    healthy: 2,
    unhealthy: 3,
    matcher: "200",
};

fn health_drift(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> Vec<String> {
    let h = &HEALTH_CHECK;
    let mut d = Vec::new();
    let mut check = |what: &str, have: Option<String>, want: String| {
        if have.as_deref() != Some(want.as_str()) {
            d.push(format!(
                "{what} is {} (wants {want})",
                have.unwrap_or_else(|| "unset".into())
            ));
        }
    };
    check(
        "health check path",
        tg.health_check_path().map(str::to_owned),
        h.path.into(),
    );
    check(
        "health check protocol",
        tg.health_check_protocol().map(|p| p.as_str().to_owned()),
        "HTTP".into(),
    );
    check(
        "health check interval",
        tg.health_check_interval_seconds().map(|v| v.to_string()),
        h.interval.to_string(),
    );
    check(
        "health check timeout",
        tg.health_check_timeout_seconds().map(|v| v.to_string()),
        h.timeout.to_string(),
    );
    check(
        "healthy threshold",
        tg.healthy_threshold_count().map(|v| v.to_string()),
        h.healthy.to_string(),
    );
    check(
        "unhealthy threshold",
        tg.unhealthy_threshold_count().map(|v| v.to_string()),
        h.unhealthy.to_string(),
    );
    check(
        "success codes",
        tg.matcher().and_then(|m| m.http_code()).map(str::to_owned),
        h.matcher.into(),
    );
    d
}

impl TargetGroup {
    async fn set_attributes(&self, cx: &Ctx, arn: &str) -> StepResult<()> {
        cx.aws
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(DEREGISTRATION_DELAY.to_string())
                    .build(),
            )
            .send()
            .await
            .aws("ModifyTargetGroupAttributes")?;
        Ok(())
    }

    fn record(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> Record {
        let arn = tg.target_group_arn().unwrap_or_default();
        Record::new(arn)
            .with("name", tg.target_group_name().unwrap_or_default())
            .with("dimension", tg_dimension(arn))
    }
}

#[async_trait]
impl Step for TargetGroup {
    fn id(&self) -> &str {
        self.color.step()
    }
    fn kind(&self) -> &'static str {
        "target-group"
    }
    fn deps(&self) -> Vec<Dep> {
        vec!["vpc".into()]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = tg_name(cx, self.color);
        Ok(target_groups(cx)
            .await?
            .iter()
            .find(|t| t.target_group_name() == Some(name.as_str()))
            .map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = tg_name(cx, self.color);
        let h = &HEALTH_CHECK;
        let out = cx
            .aws
            .elb
            .create_target_group()
            .name(&name)
            .protocol(ProtocolEnum::Http)
            .port(APP_PORT)
            .vpc_id(cx.id_of("vpc")?)
            .target_type(TargetTypeEnum::Ip)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(h.path)
            .health_check_interval_seconds(h.interval)
            .health_check_timeout_seconds(h.timeout)
            .healthy_threshold_count(h.healthy)
            .unhealthy_threshold_count(h.unhealthy)
            .matcher(Matcher::builder().http_code(h.matcher).build())
            .set_tags(Some(elb_tags(cx, &name, self.color.step())))
            .send()
            .await
            .aws("CreateTargetGroup")?;
        let tg =
            out.target_groups().first().cloned().ok_or_else(|| {
                AwsError::custom("CreateTargetGroup", "EmptyResponse", "no target group in the response")
            })?;
        let rec = Self::record(&tg);
        self.set_attributes(cx, &rec.id).await?;
        Ok(rec)
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        if let Some(tg) = target_groups(cx)
            .await?
            .iter()
            .find(|t| t.target_group_arn() == Some(rec.id.as_str()))
        {
            let d = health_drift(tg);
            if fix && !d.is_empty() {
                let h = &HEALTH_CHECK;
                cx.aws
                    .elb
                    .modify_target_group()
                    .target_group_arn(&rec.id)
                    .health_check_enabled(true)
                    .health_check_protocol(ProtocolEnum::Http)
                    .health_check_path(h.path)
                    .health_check_interval_seconds(h.interval)
                    .health_check_timeout_seconds(h.timeout)
                    .healthy_threshold_count(h.healthy)
                    .unhealthy_threshold_count(h.unhealthy)
                    .matcher(Matcher::builder().http_code(h.matcher).build())
                    .send()
                    .await
                    .aws("ModifyTargetGroup")?;
            }
            drift.extend(d);
        }
        let attrs = cx
            .aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(&rec.id)
            .send()
            .await
            .aws("DescribeTargetGroupAttributes")?;
        let delay = attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .and_then(|v| v.parse::<i32>().ok());
        if delay.is_none_or(|d| d > DEREGISTRATION_DELAY) {
            drift.push(format!(
                "deregistration delay is {}s (wants at most {DEREGISTRATION_DELAY}s)",
                delay.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
            ));
            if fix {
                self.set_attributes(cx, &rec.id).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Refused while a rule or a service still uses it.
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .elb
                .delete_target_group()
                .target_group_arn(&rec.id)
                .send()
                .await
                .aws("DeleteTargetGroup")
                .map(|_| ())
        })
        .await
    }
}

// ---------------------------------------------------------------- listeners

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
        vec!["alb".into()]
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
        let lb = cx.id_of("alb")?;
        let name = cx.name("listener", &self.port().to_string());
        let action = self.default_action(&cx.settings);
        let mut req = cx
            .aws
            .elb
            .create_listener()
            .load_balancer_arn(&lb)
            .port(self.port())
            .default_actions(action.clone())
            .set_tags(Some(elb_tags(cx, &name, self.id())));
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

// ---------------------------------------------------------------- the production rule

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
        "rule-api"
    }
    fn kind(&self) -> &'static str {
        "listener-rule"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![self.listener.into(), "tg-blue".into(), "tg-green".into()]
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
        let (blue, green) = (cx.id_of("tg-blue")?, cx.id_of("tg-green")?);
        let name = cx.name("rule", "api");
        let out = cx
            .aws
            .elb
            .create_rule()
            .listener_arn(&listener)
            .priority(RULE_PRIORITY)
            .conditions(path_condition())
            .actions(forward_action(&blue, &green, (100, 0)))
            .set_tags(Some(elb_tags(cx, &name, "rule-api")))
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
        let (blue, green) = (cx.id_of("tg-blue")?, cx.id_of("tg-green")?);
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

// ---------------------------------------------------------------- outputs and status

pub fn outputs(cx: &Ctx, out: &mut BTreeMap<String, String>) {
    if let Some(dns) = cx.rec("alb").ok().and_then(|r| r.attr("dns").map(str::to_owned)) {
        out.insert("ALBDnsName".into(), dns);
    }
}

/// Target health per target group: `{"tg-blue": {"healthy": 2}, ...}`.
pub async fn details(cx: &Ctx, out: &mut BTreeMap<String, Value>) {
    let mut health = serde_json::Map::new();
    for color in [Color::Blue, Color::Green] {
        let Ok(rec) = cx.rec(color.step()) else { continue };
        let r = cx
            .aws
            .elb
            .describe_target_health()
            .target_group_arn(&rec.id)
            .send()
            .await
            .aws("DescribeTargetHealth");
        let v = match r {
            Ok(o) => {
                let mut counts: BTreeMap<String, u32> = BTreeMap::new();
                for d in o.target_health_descriptions() {
                    let s = d
                        .target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "unknown".into());
                    *counts.entry(s).or_default() += 1;
                }
                json!(counts)
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        health.insert(color.step().to_owned(), v);
    }
    if !health.is_empty() {
        out.insert("target_health".into(), Value::Object(health));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn listener_actions_are_a_json_404_or_a_permanent_redirect() {
        let a = not_found_action();
        let f = a.fixed_response_config().unwrap();
        assert_eq!(f.status_code(), Some("404"));
        assert_eq!(f.content_type(), Some("application/json"));
        assert!(serde_json::from_str::<Value>(f.message_body().unwrap()).is_ok());
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

    #[test]
    fn bucket_policy_is_tls_only_and_lets_elb_write_logs() {
        let p = bucket_policy("s3-alblogs-dev1-123456789012", "123456789012", "ap-southeast-2");
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st[0]["Effect"], "Deny");
        assert_eq!(st[0]["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(st[1]["Principal"]["AWS"], "arn:aws:iam::783225319266:root");
        assert_eq!(
            st[1]["Resource"],
            "arn:aws:s3:::s3-alblogs-dev1-123456789012/alb/AWSLogs/123456789012/*"
        );
        let newer = bucket_policy("b", "123456789012", "ap-southeast-5");
        assert_eq!(
            newer["Statement"][1]["Principal"]["Service"],
            "logdelivery.elasticloadbalancing.amazonaws.com"
        );
        assert!(bucket_name("abcdefghijkl", "123456789012").len() <= 63);
    }

    #[test]
    fn dimensions_come_from_arns() {
        assert_eq!(
            lb_dimension("arn:aws:elasticloadbalancing:ap-southeast-2:1:loadbalancer/app/alb-api-x/50dc6c495c0c9188"),
            "app/alb-api-x/50dc6c495c0c9188"
        );
        assert_eq!(
            tg_dimension("arn:aws:elasticloadbalancing:ap-southeast-2:1:targetgroup/tg-blue-x/73e2d6bc24d8a067"),
            "targetgroup/tg-blue-x/73e2d6bc24d8a067"
        );
    }
}
