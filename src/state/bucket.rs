//! The account's state bucket, `provision-state-{account}-{region}`: where
//! every machine finds a stack's recorded settings, state and lock, under
//! `stacks/{suffix}/`. Made on first use: versioned (every change of the
//! settings can be looked at and restored), encrypted (SSE-S3), public
//! access blocked, bucket-owner enforced (no ACLs), TLS only, and old
//! versions expire after 90 days.
//!
//! Every request names the expected bucket owner, so a bucket of that name
//! in someone else's account is refused instead of written to.

use crate::aws::{build_err, s3, AwsError, AwsResultExt};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectOwnership, ServerSideEncryption, Tagging,
    VersioningConfiguration,
};

/// How long S3 keeps a replaced version of a state object.
pub const NONCURRENT_DAYS: i32 = 90;

/// The state bucket of `account` in `region`. S3 bucket names are 3-63 of
/// a-z 0-9 . - ("General purpose bucket naming rules", S3 user guide):
/// 14 + 12 + 1 + a region name of at most 14 characters fits.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("provision-state-{account}-{region}")
}

/// A condition on a write, evaluated by S3 atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Write whatever is there.
    None,
    /// Only if there is no such object (`If-None-Match: *`).
    Absent,
    /// Only if the object is still this version (`If-Match: ETAG`).
    Matches(String),
}

/// An object read back: its body and its ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// What a conditional write or delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Done; the new ETag (empty for a delete).
    Done(String),
    /// The condition did not hold: someone else wrote (or deleted) first.
    Conflict,
}

/// The few object operations the record and the lock need, so that the
/// lock's protocol can be tested against an in-memory store with a paused
/// clock.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Object>, AwsError>;
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<Written, AwsError>;
    /// Deletes the current version, if it is still `if_match` when given.
    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<Written, AwsError>;
}

/// The account's state bucket.
#[derive(Clone, Debug)]
pub struct StateBucket {
    s3: aws_sdk_s3::Client,
    plain_http: bool,
    pub name: String,
    account: String,
    region: String,
}

/// `PreconditionFailed` (412) when an `If-None-Match`/`If-Match` condition
/// fails; `ConditionalRequestConflict` (409) when a concurrent write
/// to the same key won the race ("Conditional writes", S3 user guide).
fn is_conflict(e: &AwsError) -> bool {
    e.code_is("PreconditionFailed") || e.code_is("ConditionalRequestConflict") || e.status == Some(412)
}

impl StateBucket {
    pub fn new(clients: &crate::aws::Clients, account: &str, region: &str) -> Self {
        StateBucket {
            s3: clients.s3.clone(),
            plain_http: clients.plain_http,
            name: bucket_name(account, region),
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    /// Whether the bucket exists in this account (`HeadBucket`: 404 when it
    /// does not; 403 when the name belongs to another account).
    pub async fn exists(&self) -> Result<bool, AwsError> {
        match self
            .s3
            .head_bucket()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account)
            .send()
            .await
            .aws("HeadBucket")
        {
            Ok(_) => Ok(true),
            Err(e) if e.status == Some(404) || e.code_is("NotFound") || e.code_is("NoSuchBucket") => Ok(false),
            Err(e) if e.status == Some(403) => Err(AwsError::custom(
                "HeadBucket",
                "AccessDenied",
                format!(
                    "the state bucket {} is not this account's ({}), or these credentials may not use it: {}",
                    self.name, self.account, e.message
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// Makes the bucket if it is not there, with its protections.
    pub async fn ensure(&self) -> Result<(), AwsError> {
        if self.exists().await? {
            return Ok(());
        }
        tracing::info!(bucket = %self.name, "creating the state bucket");
        let mut create = self
            .s3
            .create_bucket()
            .bucket(&self.name)
            // "BucketOwnerEnforced - ACLs are disabled" (CreateBucket,
            // x-amz-object-ownership); the default since April 2023, set
            // explicitly for older partitions.
            .object_ownership(ObjectOwnership::BucketOwnerEnforced);
        // CreateBucket: outside us-east-1 the LocationConstraint must name
        // the region; in us-east-1 it must be left out.
        if self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match create.send().await.aws("CreateBucket") {
            Ok(_) => {}
            // Another first run made it a moment ago.
            Err(e) if e.code_is("BucketAlreadyOwnedByYou") => {}
            Err(e) if e.code_is("BucketAlreadyExists") => {
                return Err(AwsError::custom(
                    "CreateBucket",
                    "BucketAlreadyExists",
                    format!("the state bucket name {} is taken by another account", self.name),
                ))
            }
            Err(e) => return Err(e),
        }
        self.protect().await
    }

    /// Versioning, encryption, no public access, TLS only, expiry of old
    /// versions, tags. Each call is idempotent.
    async fn protect(&self) -> Result<(), AwsError> {
        let (b, owner) = (&self.name, &self.account);
        self.s3
            .put_public_access_block()
            .bucket(b)
            .expected_bucket_owner(owner)
            .public_access_block_configuration(s3::no_public_access())
            .send()
            .await
            .aws("PutPublicAccessBlock")?;
        self.s3
            .put_bucket_versioning()
            .bucket(b)
            .expected_bucket_owner(owner)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .aws("PutBucketVersioning")?;
        self.s3
            .put_bucket_encryption()
            .bucket(b)
            .expected_bucket_owner(owner)
            .server_side_encryption_configuration(s3::sse_s3()?)
            .send()
            .await
            .aws("PutBucketEncryption")?;
        if self.plain_http {
            // Requests to this endpoint are not TLS: a TLS-only policy would
            // lock this tool out of its own bucket (emulators evaluate it).
            tracing::warn!(bucket = %b, "the endpoint is plain HTTP: the state bucket gets no TLS-only policy");
            return self.lifecycle_and_tags().await;
        }
        let partition = crate::aws::partition(&self.region);
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [format!("arn:{partition}:s3:::{b}"), format!("arn:{partition}:s3:::{b}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }]
        });
        self.s3
            .put_bucket_policy()
            .bucket(b)
            .expected_bucket_owner(owner)
            .policy(policy.to_string())
            .send()
            .await
            .aws("PutBucketPolicy")?;
        self.lifecycle_and_tags().await
    }

    /// Old versions expire; the bucket is tagged as this tool's.
    async fn lifecycle_and_tags(&self) -> Result<(), AwsError> {
        let (b, owner) = (&self.name, &self.account);
        let rule = LifecycleRule::builder()
            .id("expire-old-versions")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(NONCURRENT_DAYS)
                    .build(),
            )
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .build()
            .map_err(build_err)?;
        s3::put_lifecycle(&self.s3, b, Some(owner), rule).await?;
        let pairs = vec![
            ("project".to_owned(), crate::naming::PROJECT.to_owned()),
            ("purpose".to_owned(), "provision-state".to_owned()),
        ];
        let tagging = Tagging::builder()
            .set_tag_set(Some(crate::aws::tags::s3(pairs)?))
            .build()
            .map_err(build_err)?;
        self.s3
            .put_bucket_tagging()
            .bucket(b)
            .expected_bucket_owner(owner)
            .tagging(tagging)
            .send()
            .await
            .aws("PutBucketTagging")?;
        Ok(())
    }

    /// Deletes every version of every object under `prefix` except the
    /// current version of `keep` (the lock of the run doing it).
    pub async fn purge(&self, prefix: &str, keep: &str) -> Result<usize, AwsError> {
        let owner = Some(self.account.as_str());
        let mut versions = s3::versions(&self.s3, &self.name, owner, Some(prefix)).await?;
        versions.retain(|v| !(v.key == keep && v.latest));
        s3::delete(&self.s3, &self.name, owner, &versions).await?;
        Ok(versions.len())
    }
}

#[async_trait]
impl ObjectStore for StateBucket {
    async fn get(&self, key: &str) -> Result<Option<Object>, AwsError> {
        let r = self
            .s3
            .get_object()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account)
            .key(key)
            .send()
            .await
            .aws("GetObject");
        let out = match r {
            Ok(o) => o,
            Err(e) if e.code_is("NoSuchKey") || e.code_is("NoSuchBucket") || e.status == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::custom("GetObject", "ReadBody", e.to_string()))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object { body, etag }))
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<Written, AwsError> {
        let mut req = self
            .s3
            .put_object()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account)
            .key(key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body));
        req = match condition {
            Condition::None => req,
            // PutObject: "If-None-Match: Uploads the object only if the
            // object key name does not already exist … Expects the '*'
            // character" (S3 API Reference).
            Condition::Absent => req.if_none_match("*"),
            Condition::Matches(etag) => req.if_match(etag),
        };
        match req.send().await.aws("PutObject") {
            Ok(o) => Ok(Written::Done(o.e_tag().unwrap_or_default().to_owned())),
            Err(e) if is_conflict(&e) => Ok(Written::Conflict),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<Written, AwsError> {
        let mut req = self
            .s3
            .delete_object()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account)
            .key(key);
        // DeleteObject `If-Match` (conditional deletes, general purpose
        // buckets since 2025-09): 412 when the ETag no longer matches.
        if let Some(etag) = if_match {
            req = req.if_match(etag);
        }
        match req.send().await.aws("DeleteObject") {
            Ok(_) => Ok(Written::Done(String::new())),
            Err(e) if is_conflict(&e) || e.code_is("NoSuchKey") || e.status == Some(404) => Ok(Written::Conflict),
            Err(e) => Err(e),
        }
    }
}
