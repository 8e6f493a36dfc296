//! What a stack is asked to be: [`StackRequest`] (the values as given, with
//! their defaults) and [`Settings`] (the same, validated), free of any
//! command-line library. The command line, the stack file
//! ([`stack_file`]) and the recorded settings each give some of the values;
//! [`layers`] stacks them (flags over the file over the record over the
//! defaults) into one `StackRequest`, and `validate` is the one gate every
//! value passes before the first AWS call.

pub mod app_env;
pub mod changes;
mod edge;
pub use edge::{covers, domain_problem};
pub mod layers;
pub mod stack_file;

use crate::naming::{Suffix, SuffixError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The AWS region used when neither `--region` nor the AWS configuration
/// chain names one.
pub const DEFAULT_REGION: &str = "ap-southeast-2";

/// Attempts per call unless `AWS_MAX_ATTEMPTS` says otherwise: enough that a
/// storm throttling one call in five still converges (0.2^8 ≈ 3e-6 per call),
/// while a healthy call still succeeds on its first attempt.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The stack's settings as requested, before validation. `Default` holds the
/// documented defaults (the command line's defaults are these). Its serde
/// form (kebab-case keys, as the flags are named) is what the stack file
/// declares and what the state bucket records; the suffix is the key under
/// which both keep it, not a setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StackRequest {
    #[serde(skip)]
    pub suffix: String,
    pub vpc_cidr: String,
    pub log_retention_days: i32,
    pub image: Option<String>,
    pub image_tag: String,
    pub immutable_tags: bool,
    pub kms_key_arn: Option<String>,
    pub db_major: u32,
    pub db_engine_version: Option<String>,
    pub db_min_acu: f64,
    pub db_max_acu: f64,
    pub db_secret_arn: Option<String>,
    pub protect_data: bool,
    pub certificate_arn: Option<String>,
    pub alarm_email: Option<String>,
    pub spot_percent: u32,
    pub enable_exec: bool,
    pub task_cpu: u32,
    pub task_memory: u32,
    /// Minutes a blue/green deployment keeps the old revision ready after
    /// the shift, while the deployment alarms can still roll it back.
    pub bake_minutes: u32,
    /// A CloudFront distribution in front of an internal load balancer.
    pub edge: bool,
    /// A WAF web ACL on the distribution (with `edge`).
    pub waf: bool,
    /// Requests one client IP may make in 5 minutes before the WAF blocks it.
    pub rate_limit: u32,
    /// The API's own domain name on the distribution (with `edge-certificate-arn`).
    pub domain: Option<String>,
    /// ACM certificate in us-east-1 covering `domain`, for the distribution.
    pub edge_certificate_arn: Option<String>,
    /// Environment variables of the API container (`--env KEY=VALUE`).
    pub env: BTreeMap<String, String>,
    /// Secrets injected into the API container by ECS, by reference only
    /// (`--secret KEY=SECRET_ARN[:json-key]`): the tool never reads them.
    pub secrets: BTreeMap<String, String>,
}

impl Default for StackRequest {
    fn default() -> Self {
        StackRequest {
            suffix: String::new(),
            vpc_cidr: "10.0.0.0/16".into(),
            log_retention_days: 30,
            image: None,
            image_tag: "latest".into(),
            immutable_tags: false,
            kms_key_arn: None,
            db_major: 16,
            db_engine_version: None,
            db_min_acu: 0.5,
            db_max_acu: 4.0,
            db_secret_arn: None,
            protect_data: false,
            certificate_arn: None,
            alarm_email: None,
            spot_percent: 70,
            enable_exec: false,
            task_cpu: 512,
            task_memory: 1024,
            bake_minutes: DEFAULT_BAKE_MINUTES,
            edge: true,
            waf: true,
            rate_limit: DEFAULT_RATE_LIMIT,
            domain: None,
            edge_certificate_arn: None,
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

/// Invalid input, found before anything touched AWS. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Suffix(#[from] SuffixError),
    #[error("invalid --{flag} {value:?}: {reason}\n  hint: {hint}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
        hint: &'static str,
    },
    /// A setting from the stack file or the record that is not valid.
    #[error("invalid setting `{key}` (from the {source_name}): {reason}\n  hint: {hint}")]
    Setting {
        key: String,
        source_name: String,
        reason: String,
        hint: String,
    },
    /// The stack file cannot be used.
    #[error("cannot use the stack file {path}: {reason}\n  hint: {hint}")]
    StackFile { path: String, reason: String, hint: String },
}

pub fn flag_err(flag: &'static str, value: impl ToString, reason: impl Into<String>, hint: &'static str) -> InputError {
    InputError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.into(),
        hint,
    }
}

/// A VPC CIDR that leaves room for 3 tiers of 3 /24 subnets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        const HINT: &str = "give an IPv4 network from /16 to /19, e.g. 10.0.0.0/16";
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| flag_err("vpc-cidr", s, "no /prefix", HINT))?;
        let base: Ipv4Addr = ip
            .parse()
            .map_err(|_| flag_err("vpc-cidr", s, "not an IPv4 address", HINT))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| flag_err("vpc-cidr", s, "the prefix is not a number", HINT))?;
        if !(16..=19).contains(&prefix) {
            return Err(flag_err("vpc-cidr", s, "the prefix must be 16 to 19", HINT));
        }
        let mask = u32::MAX << (32 - prefix);
        if u32::from(base) & !mask != 0 {
            return Err(flag_err("vpc-cidr", s, "host bits are set", HINT));
        }
        Ok(Cidr { base, prefix })
    }

    /// The `index`-th /24 inside the VPC.
    pub fn subnet24(&self, index: u32) -> String {
        let ip = Ipv4Addr::from(u32::from(self.base) + (index << 8));
        format!("{ip}/24")
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Everything the steps need to know about the desired stack, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub suffix: Suffix,
    pub vpc_cidr: Cidr,
    pub log_retention_days: i32,
    pub image: Option<String>,
    pub image_tag: String,
    pub immutable_tags: bool,
    pub kms_key_arn: Option<String>,
    pub db_major: u32,
    pub db_engine_version: Option<String>,
    pub db_min_acu: f64,
    pub db_max_acu: f64,
    pub db_secret_arn: Option<String>,
    pub protect_data: bool,
    pub certificate_arn: Option<String>,
    pub alarm_email: Option<String>,
    pub spot_percent: u32,
    pub enable_exec: bool,
    pub task_cpu: u32,
    pub task_memory: u32,
    pub bake_minutes: u32,
    pub edge: bool,
    pub waf: bool,
    pub rate_limit: u32,
    pub domain: Option<String>,
    pub edge_certificate_arn: Option<String>,
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, app_env::SecretRef>,
}

/// ECS DeploymentConfiguration `bakeTimeInMinutes`: 5 minutes by default
/// (0 to 1440, ECS API Reference).
pub const DEFAULT_BAKE_MINUTES: u32 = 5;

/// Requests per client IP per 5 minutes before the WAF blocks it: about 7 a
/// second sustained, well above a person browsing a catalog (most of whose
/// reads CloudFront answers from its cache) and far below a scraper.
pub const DEFAULT_RATE_LIMIT: u32 = 2000;

/// CloudWatch Logs accepts only these retention values.
const RETENTION_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/// Fargate's valid CPU/memory pairs (MiB), for the sizes this API uses.
fn fargate_memory_ok(cpu: u32, memory: u32) -> bool {
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1024..=4096).contains(&memory) && memory.is_multiple_of(1024),
        1024 => (2048..=8192).contains(&memory) && memory.is_multiple_of(1024),
        2048 => (4096..=16384).contains(&memory) && memory.is_multiple_of(1024),
        4096 => (8192..=30720).contains(&memory) && memory.is_multiple_of(1024),
        _ => false,
    }
}

impl StackRequest {
    /// Checks every value and turns the request into [`Settings`].
    pub fn validate(&self) -> Result<Settings, InputError> {
        let suffix = Suffix::parse(&self.suffix)?;
        let vpc_cidr = Cidr::parse(&self.vpc_cidr)?;
        if !RETENTION_DAYS.contains(&self.log_retention_days) {
            return Err(flag_err(
                "log-retention-days",
                self.log_retention_days,
                "CloudWatch Logs does not offer that retention",
                "use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
            ));
        }
        if let Some(image) = &self.image {
            if image.is_empty() || image.contains(char::is_whitespace) || !image.contains('/') {
                return Err(flag_err(
                    "image",
                    image,
                    "not an image URI",
                    "give REGISTRY/REPOSITORY:TAG or @sha256:DIGEST",
                ));
            }
        }
        let tag_ok = !self.image_tag.is_empty()
            && self.image_tag.len() <= 128
            && self
                .image_tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !self.image_tag.starts_with(['.', '-']);
        if !tag_ok {
            return Err(flag_err(
                "image-tag",
                &self.image_tag,
                "not a valid image tag",
                "1-128 of A-Z a-z 0-9 . _ -, not starting with . or -",
            ));
        }
        for (flag, v, service) in [
            ("kms-key-arn", &self.kms_key_arn, ":kms:"),
            ("certificate-arn", &self.certificate_arn, ":acm:"),
        ] {
            if let Some(v) = v {
                if !v.starts_with("arn:") || !v.contains(service) {
                    return Err(flag_err(
                        flag,
                        v,
                        "not an ARN of the right service",
                        "give the full ARN, e.g. arn:aws:kms:REGION:ACCOUNT:key/ID",
                    ));
                }
            }
        }
        // A key ARN, never an alias: CloudWatch Logs takes "the Amazon
        // Resource Name (ARN) of the KMS key to use when encrypting log data"
        // (CloudWatch Logs API Reference, CreateLogGroup `kmsKeyId`;
        // AssociateKmsKey adds "This must be a symmetric KMS key"), and "to
        // specify a KMS key in an IAM policy statement, you must use its key
        // ARN. You cannot use a key id, alias name, or alias ARN" (AWS KMS
        // Developer Guide, "Specifying KMS keys in IAM policy statements"):
        // the task execution role's `kms:Decrypt` statement names this key.
        if let Some(k) = &self.kms_key_arn {
            const HINT: &str = "give the key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; for an alias, \
                 `aws kms describe-key --key-id alias/NAME --query KeyMetadata.Arn --output text` prints it";
            let parts: Vec<&str> = k.splitn(6, ':').collect();
            let resource = parts.get(5).copied().unwrap_or_default();
            if resource.starts_with("alias/") {
                return Err(flag_err(
                    "kms-key-arn",
                    k,
                    format!(
                        "this is the ARN of the alias {resource}, not of a key: CloudWatch Logs (CreateLogGroup) and \
                         the IAM policy of the task execution role only take a key ARN"
                    ),
                    HINT,
                ));
            }
            let key_id = resource.strip_prefix("key/").unwrap_or_default();
            if parts.len() != 6 || parts[2] != "kms" || parts[3].is_empty() || parts[4].is_empty() || key_id.is_empty()
            {
                return Err(flag_err("kms-key-arn", k, "not the ARN of a KMS key", HINT));
            }
        }
        if !(11..=99).contains(&self.db_major) {
            return Err(flag_err(
                "db-major",
                self.db_major,
                "not an Aurora PostgreSQL major version",
                "e.g. 15, 16 or 17",
            ));
        }
        if let Some(v) = &self.db_engine_version {
            let ok = v.split('.').count() >= 2
                && v.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(flag_err("db-engine-version", v, "not a version number", "e.g. 16.4"));
            }
        }
        let acu_ok = |v: f64| (0.0..=256.0).contains(&v) && (v * 2.0).fract() == 0.0;
        if !acu_ok(self.db_min_acu)
            || !acu_ok(self.db_max_acu)
            || self.db_min_acu > self.db_max_acu
            || self.db_max_acu < 1.0
        {
            return Err(flag_err(
                "db-max-acu",
                format!("{}-{}", self.db_min_acu, self.db_max_acu),
                "not a valid Serverless v2 capacity range",
                "steps of 0.5 ACU from 0 to 256, minimum <= maximum, maximum at least 1",
            ));
        }
        if let Some(s) = &self.db_secret_arn {
            if s.is_empty() || s.len() > 2048 {
                return Err(flag_err(
                    "db-secret-arn",
                    s,
                    "empty or too long",
                    "give the secret's ARN or name",
                ));
            }
        }
        if let Some(e) = &self.alarm_email {
            let ok = e
                .split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.starts_with('.'))
                && !e.contains(char::is_whitespace);
            if !ok {
                return Err(flag_err(
                    "alarm-email",
                    e,
                    "not an e-mail address",
                    "e.g. oncall@example.com",
                ));
            }
        }
        if self.spot_percent > 100 {
            return Err(flag_err("spot-percent", self.spot_percent, "more than 100", "0 to 100"));
        }
        if !fargate_memory_ok(self.task_cpu, self.task_memory) {
            return Err(flag_err(
                "task-memory",
                format!("cpu {} / memory {}", self.task_cpu, self.task_memory),
                "not a Fargate CPU/memory combination",
                "e.g. 256/512, 512/1024, 1024/2048, 2048/4096",
            ));
        }
        if self.bake_minutes > 1440 {
            return Err(flag_err(
                "bake-minutes",
                self.bake_minutes,
                "ECS takes a bake time of 0 to 1440 minutes",
                "e.g. --bake-minutes 10 (0: no bake time)",
            ));
        }
        edge::validate(self)?;
        Ok(Settings {
            suffix,
            vpc_cidr,
            log_retention_days: self.log_retention_days,
            image: self.image.clone(),
            image_tag: self.image_tag.clone(),
            immutable_tags: self.immutable_tags,
            kms_key_arn: self.kms_key_arn.clone(),
            db_major: self.db_major,
            db_engine_version: self.db_engine_version.clone(),
            db_min_acu: self.db_min_acu,
            db_max_acu: self.db_max_acu,
            db_secret_arn: self.db_secret_arn.clone(),
            protect_data: self.protect_data,
            certificate_arn: self.certificate_arn.clone(),
            alarm_email: self.alarm_email.clone(),
            spot_percent: self.spot_percent,
            enable_exec: self.enable_exec,
            task_cpu: self.task_cpu,
            task_memory: self.task_memory,
            bake_minutes: self.bake_minutes,
            edge: self.edge,
            waf: self.waf && self.edge,
            rate_limit: self.rate_limit,
            domain: self.domain.clone(),
            edge_certificate_arn: self.edge_certificate_arn.clone(),
            env: app_env::validate_env(&self.env)?,
            secrets: app_env::validate_secrets(&self.secrets, &self.env)?,
        })
    }
}

/// Validates `--region` and `AWS_MAX_ATTEMPTS`.
pub fn validate_env(region: Option<&str>) -> Result<u32, InputError> {
    if let Some(r) = region {
        let ok = r.split('-').count() >= 3
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(flag_err("region", r, "not an AWS region name", "e.g. ap-southeast-2"));
        }
    }
    match std::env::var("AWS_MAX_ATTEMPTS") {
        Ok(v) => match v.parse::<u32>() {
            Ok(n) if (1..=20).contains(&n) => Ok(n),
            _ => Err(flag_err(
                "AWS_MAX_ATTEMPTS (environment)",
                v,
                "not a number from 1 to 20",
                "unset it for the default of 8",
            )),
        },
        Err(_) => Ok(DEFAULT_MAX_ATTEMPTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(suffix: &str) -> StackRequest {
        StackRequest {
            suffix: suffix.into(),
            ..StackRequest::default()
        }
    }

    #[test]
    fn defaults_validate() {
        let s = stack("dev1").validate().unwrap();
        assert_eq!(s.vpc_cidr.to_string(), "10.0.0.0/16");
        assert_eq!(s.spot_percent, 70);
        assert_eq!(s.db_major, 16);
    }

    #[test]
    fn cidr_rules() {
        assert_eq!(Cidr::parse("10.1.0.0/16").unwrap().subnet24(21), "10.1.21.0/24");
        for bad in ["10.0.0.0", "10.0.0.0/8", "10.0.0.0/24", "10.0.0.1/16", "x/16"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_flags_are_rejected_with_hints() {
        let mut s = stack("dev1");
        s.log_retention_days = 31;
        assert!(s.validate().unwrap_err().to_string().contains("hint:"));
        let mut s = stack("dev1");
        s.task_memory = 100;
        assert!(s.validate().is_err());
        let mut s = stack("dev1");
        s.alarm_email = Some("nope".into());
        assert!(s.validate().is_err());
        let mut s = stack("dev1");
        s.db_min_acu = 5.0;
        assert!(s.validate().is_err());
    }

    #[test]
    fn kms_key_arn_must_be_a_key_arn_not_an_alias() {
        let key = "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut s = stack("dev1");
        s.kms_key_arn = Some(key.into());
        assert_eq!(s.validate().unwrap().kms_key_arn.as_deref(), Some(key));

        s.kms_key_arn = Some("arn:aws:kms:ap-southeast-2:123456789012:alias/provision".into());
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("--kms-key-arn") && e.contains("alias/provision"), "{e}");
        assert!(e.contains("key ARN") && e.contains("CloudWatch Logs"), "{e}");
        assert!(
            e.contains("hint: give the key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"),
            "{e}"
        );
        assert!(
            e.contains("aws kms describe-key --key-id alias/NAME --query KeyMetadata.Arn"),
            "{e}"
        );

        for bad in [
            "arn:aws:kms:ap-southeast-2:123456789012:key/",
            "arn:aws:kms:ap-southeast-2:123456789012:1234abcd",
            "arn:aws:kms:ap-southeast-2::key/1234abcd",
            "arn:aws:kms:::key/1234abcd",
            "arn:aws:s3:::bucket:kms:key/1",
        ] {
            s.kms_key_arn = Some(bad.into());
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains("--kms-key-arn") && e.contains("hint:"), "{bad}: {e}");
        }
        s.kms_key_arn = Some("arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd".into());
        assert!(s.validate().is_ok(), "other partitions");
    }
}
