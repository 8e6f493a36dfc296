//! The state bucket of the emulator's account (a stack's objects and its
//! lock), and images in a stack's ECR repository.

use super::REGION;

/// A minimal Docker image manifest (schema 2), different per tag.
pub fn image_manifest(tag: &str) -> String {
    let hex = |seed: &str| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        format!("{h:016x}").repeat(4)
    };
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1470, "digest": format!("sha256:{}", hex(tag))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2819, "digest": format!("sha256:{}", hex(&format!("{tag}-layer")))}],
    })
    .to_string()
}

/// Puts an image tagged `tag` into ECR repository `repo` (`PutImage` with
/// [`image_manifest`]), so a deploy of that tag finds it in the registry.
pub async fn put_image(aws: &provision::aws::Clients, repo: &str, tag: &str) {
    aws.ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(image_manifest(tag))
        .image_tag(tag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutImage {repo}:{tag}: {e:?}"));
}

/// The state bucket of the emulator's account in [`REGION`].
pub fn state_bucket() -> String {
    format!("provision-state-123456789012-{REGION}")
}

/// The key of a stack's object `name` in the state bucket: everything of
/// the stack `suffix` is under `stacks/{suffix}/` (`lock.json`,
/// `settings.json`, `state.json`).
pub fn stack_key(suffix: &str, name: &str) -> String {
    format!("stacks/{suffix}/{name}")
}

/// Whether the lock object of `suffix` is in the state bucket.
pub async fn lock_held(aws: &provision::aws::Clients, suffix: &str) -> bool {
    aws.s3
        .head_object()
        .bucket(state_bucket())
        .key(stack_key(suffix, "lock.json"))
        .send()
        .await
        .is_ok()
}

/// A lock holder as the lock object names it.
pub struct LockHolder<'a> {
    pub host: &'a str,
    pub pid: u32,
    pub proc_start: Option<u64>,
    /// When it last renewed the lock (epoch seconds), and its lease.
    pub renewed: u64,
    pub lease_seconds: u64,
}

impl LockHolder<'_> {
    /// `up` run by ana on her laptop, renewed at `renewed`, lease 60 s.
    pub fn elsewhere(renewed: u64) -> Self {
        LockHolder {
            host: "laptop-of-ana",
            pid: 4242,
            proc_start: None,
            renewed,
            lease_seconds: 60,
        }
    }
}

/// Writes the lock object of `suffix` as `h` holds it.
pub async fn put_lock(aws: &provision::aws::Clients, suffix: &str, h: LockHolder<'_>) {
    let body = serde_json::json!({
        "user": "ana", "host": h.host, "pid": h.pid, "proc_start": h.proc_start, "command": "up",
        "started": h.renewed, "renewed": h.renewed, "lease_seconds": h.lease_seconds
    });
    aws.s3
        .put_object()
        .bucket(state_bucket())
        .key(stack_key(suffix, "lock.json"))
        .body(body.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
}

/// Now, in seconds since the epoch.
pub fn epoch_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
