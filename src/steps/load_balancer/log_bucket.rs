//! The S3 bucket the load balancer writes its access logs to: TLS-only
//! policy, public access block, bucket-owner ownership, AES-256 default
//! encryption, expiry. APIs: `CreateBucket`, `GetBucketTagging`,
//! `PutBucketEncryption`, `PutPublicAccessBlock`,
//! `PutBucketOwnershipControls`, `PutBucketLifecycleConfiguration`,
//! `PutBucketPolicy`, `PutBucketTagging`, their `Get*` for drift,
//! `ListObjectVersions`, `DeleteObjects`, `DeleteBucket`.

use super::{LOG_EXPIRY_DAYS, LOG_PREFIX};
use crate::aws::wait::{self, Backoff};
use crate::aws::{s3 as aws_s3, tags, AwsError, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{build_err, ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

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
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(aws_s3::sse_s3()?)
            .send()
            .await
            .aws("PutBucketEncryption")?;
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(aws_s3::no_public_access())
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
        aws_s3::put_lifecycle(s3, bucket, None, rule).await?;
        let account = cx.account_id().await?;
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(bucket_policy(bucket, &account, cx.region()).to_string())
            .send()
            .await
            .aws("PutBucketPolicy")?;
        // Tagged last: the fingerprint says every put above went through.
        let mut tags = cx.tags(bucket, ids::ALB_LOGS);
        tags.push((
            crate::naming::TAG_CONFIGURED.into(),
            Self::fingerprint(cx, bucket).await?,
        ));
        s3.put_bucket_tagging()
            .bucket(bucket)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(tags::s3(tags)?))
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .aws("PutBucketTagging")?;
        Ok(())
    }

    /// Deletes every object (and version) in the bucket, listing again
    /// until none is left.
    async fn empty(cx: &Ctx, bucket: &str) -> StepResult<()> {
        loop {
            let versions = aws_s3::versions(&cx.aws.s3, bucket, None, None).await?;
            if versions.is_empty() {
                return Ok(());
            }
            aws_s3::delete(&cx.aws.s3, bucket, None, &versions).await?;
        }
    }
}

#[async_trait]
impl Step for LogBucket {
    fn id(&self) -> &str {
        ids::ALB_LOGS
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
            .is_some_and(aws_s3::blocks_all_public_access);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
