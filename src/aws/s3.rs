//! What the stack's two buckets (the ALB's log bucket and the account's
//! state bucket) ask of S3 alike: default encryption with S3-managed keys,
//! every public access blocked, one lifecycle rule, and deleting object
//! versions in batches.

use super::{build_err, AwsError, AwsResultExt};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, Delete, LifecycleRule, ObjectIdentifier, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

/// `DeleteObjects` takes at most 1,000 keys per request (S3 API Reference).
const DELETE_BATCH: usize = 1000;

/// Default encryption with S3-managed keys (SSE-S3, AES-256), the bucket
/// encryption an ALB's access-log bucket must use (ELB user guide, "Enable
/// access logs for your Application Load Balancer", bucket requirements).
pub fn sse_s3() -> Result<ServerSideEncryptionConfiguration, AwsError> {
    let default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(build_err)?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .build();
    ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(build_err)
}

/// All four public-access switches on: no public ACL or policy is accepted
/// or honoured.
pub fn no_public_access() -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build()
}

/// Whether a bucket's public access block has all four switches on.
pub fn blocks_all_public_access(c: &PublicAccessBlockConfiguration) -> bool {
    [
        c.block_public_acls(),
        c.ignore_public_acls(),
        c.block_public_policy(),
        c.restrict_public_buckets(),
    ]
    .iter()
    .all(|on| *on == Some(true))
}

/// Makes `rule` the bucket's whole lifecycle configuration.
pub async fn put_lifecycle(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: Option<&str>,
    rule: LifecycleRule,
) -> Result<(), AwsError> {
    let config = BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(build_err)?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .set_expected_bucket_owner(owner.map(str::to_owned))
        .lifecycle_configuration(config)
        .send()
        .await
        .aws("PutBucketLifecycleConfiguration")?;
    Ok(())
}

/// One object version (or delete marker) of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub key: String,
    pub version_id: Option<String>,
    /// The current version of its key (never true for a delete marker).
    pub latest: bool,
}

/// Every object version and delete marker under `prefix` (the whole bucket
/// for `None`). `ListObjectVersions` pages by key and version-id markers;
/// the SDK generates no paginator for it.
pub async fn versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: Option<&str>,
) -> Result<Vec<Version>, AwsError> {
    let mut all = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .set_prefix(prefix.map(str::to_owned))
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .aws("ListObjectVersions")?;
        all.extend(page.versions().iter().map(|v| Version {
            key: v.key().unwrap_or_default().to_owned(),
            version_id: v.version_id().map(str::to_owned),
            latest: v.is_latest() == Some(true),
        }));
        all.extend(page.delete_markers().iter().map(|m| Version {
            key: m.key().unwrap_or_default().to_owned(),
            version_id: m.version_id().map(str::to_owned),
            latest: false,
        }));
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if page.is_truncated() != Some(true) || key_marker.is_none() {
            return Ok(all);
        }
    }
}

/// Deletes these versions, 1,000 per request. `DeleteObjects` answers 200
/// even when some keys could not be deleted and lists those in `Errors`
/// (S3 API Reference), so each answer is checked: the first failed key is
/// the error.
pub async fn delete(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: Option<&str>,
    versions: &[Version],
) -> Result<(), AwsError> {
    for chunk in versions.chunks(DELETE_BATCH) {
        let objects = chunk
            .iter()
            .map(|v| {
                // The version "null" is what an unversioned bucket (and
                // moto) lists; such an object is deleted by its key alone.
                let id = v.version_id.as_deref().filter(|id| *id != "null");
                ObjectIdentifier::builder()
                    .key(&v.key)
                    .set_version_id(id.map(str::to_owned))
                    .build()
                    .map_err(build_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .set_expected_bucket_owner(owner.map(str::to_owned))
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
        if let Some(e) = out.errors().first() {
            return Err(AwsError::custom(
                "DeleteObjects",
                e.code().unwrap_or("DeleteFailed"),
                format!(
                    "{} of {} object(s) of bucket {bucket} were not deleted; the first, {}: {}",
                    out.errors().len(),
                    chunk.len(),
                    e.key().unwrap_or_default(),
                    e.message().unwrap_or("no message")
                ),
            ));
        }
    }
    Ok(())
}
