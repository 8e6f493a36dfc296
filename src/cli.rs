//! The command line: clap definitions, and their validation into
//! [`Settings`] before the first AWS call.

use crate::naming::{Suffix, SuffixError};
use clap::{Args, Parser, Subcommand};
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub const DEFAULT_REGION: &str = "ap-southeast-2";

#[derive(Debug, Parser)]
#[command(
    name = "provision",
    version,
    about = "Stands up, inspects, repairs and tears down the AWS stack of the product-catalog API",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// AWS region (default: the AWS config chain, else ap-southeast-2).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,

    /// Where state files and locks live.
    #[arg(long, global = true, default_value = "state", env = "PROVISION_STATE_DIR")]
    pub state_dir: PathBuf,

    /// More log detail on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only the result: no progress, warnings and errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create what is missing, repair drift, leave the rest; report what it did.
    Up(UpArgs),
    /// Delete everything that belongs to the suffix, in reverse dependency order.
    Down(DownArgs),
    /// For each step: present, missing or drifted, with ids. Exits 1 unless all present.
    Status(StatusArgs),
    /// The ordered step graph and what `up` would create, change or leave alone.
    Plan(PlanArgs),
    /// Run one step (or undo it): an operator's ad hoc repair.
    Step(StepArgs),
    /// Register a new task definition revision and roll it out blue/green.
    Deploy(DeployArgs),
    /// Container image commands.
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build container/ and push it to the stack's ECR repository.
    Push(PushArgs),
}

/// How the stack should look: shared by every command that compares the
/// stack in AWS with what it should be.
#[derive(Debug, Args, Clone)]
pub struct StackArgs {
    /// Environment suffix that names and tags every resource (1-12 of a-z 0-9 -).
    #[arg(long, env = "PROVISION_SUFFIX")]
    pub suffix: String,

    /// IPv4 CIDR of the VPC (/16 to /19).
    #[arg(long, default_value = "10.0.0.0/16")]
    pub vpc_cidr: String,

    /// Retention of every log group, in days.
    #[arg(long, default_value_t = 30)]
    pub log_retention_days: i32,

    /// Full image URI for the service (an image pushed elsewhere).
    #[arg(long, conflicts_with = "image_tag")]
    pub image: Option<String>,

    /// Tag of the image in the stack's ECR repository.
    #[arg(long, default_value = "latest")]
    pub image_tag: String,

    /// Make ECR image tags immutable.
    #[arg(long)]
    pub immutable_tags: bool,

    /// Customer-managed KMS key for ECR, Aurora, secrets and logs (default: AWS-managed keys).
    #[arg(long)]
    pub kms_key_arn: Option<String>,

    /// Aurora PostgreSQL major version; the newest minor is resolved at run time.
    #[arg(long, default_value_t = 16)]
    pub db_major: u32,

    /// Pin an exact Aurora PostgreSQL engine version (e.g. 16.4).
    #[arg(long)]
    pub db_engine_version: Option<String>,

    /// Serverless v2 minimum capacity (ACU).
    #[arg(long, default_value_t = 0.5)]
    pub db_min_acu: f64,

    /// Serverless v2 maximum capacity (ACU).
    #[arg(long, default_value_t = 4.0)]
    pub db_max_acu: f64,

    /// Use this existing credentials secret (ARN or name) instead of the RDS-managed one.
    #[arg(long)]
    pub db_secret_arn: Option<String>,

    /// Deletion protection and a final snapshot for the database.
    #[arg(long)]
    pub protect_data: bool,

    /// ACM certificate: adds an HTTPS listener and redirects HTTP to it.
    #[arg(long)]
    pub certificate_arn: Option<String>,

    /// Subscribe this address to the alarm topic.
    #[arg(long)]
    pub alarm_email: Option<String>,

    /// Share of tasks on Fargate Spot, in percent.
    #[arg(long, default_value_t = 70)]
    pub spot_percent: u32,

    /// Enable ECS Exec on the service.
    #[arg(long)]
    pub enable_exec: bool,

    /// Task CPU units.
    #[arg(long, default_value_t = 512)]
    pub task_cpu: u32,

    /// Task memory (MiB).
    #[arg(long, default_value_t = 1024)]
    pub task_memory: u32,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How many steps may run at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,

    /// One JSON object per step transition on stdout (for CI pipelines).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Where to write the flat outputs JSON.
    #[arg(long, default_value = "cfn-outputs/flat-outputs.json")]
    pub outputs: PathBuf,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Really delete. Without it, `down` lists what it would delete and exits 2.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// A machine-readable document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

#[derive(Debug, Args)]
pub struct StepArgs {
    /// The step id, as `plan` lists it (e.g. nat-a).
    pub name: String,
    #[command(flatten)]
    pub stack: StackArgs,
    /// Delete the step's resource instead of creating it.
    #[arg(long)]
    pub undo: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// How long to wait for the deployment, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Image tag to push.
    #[arg(long, default_value = "latest")]
    pub tag: String,
    /// Directory to build (contains the Dockerfile).
    #[arg(long, default_value = "container")]
    pub context: PathBuf,
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
}

fn flag_err(flag: &'static str, value: impl ToString, reason: impl Into<String>, hint: &'static str) -> InputError {
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
}

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

impl StackArgs {
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
        })
    }
}

impl RunArgs {
    pub fn validate(&self) -> Result<usize, InputError> {
        if !(1..=64).contains(&self.parallelism) {
            return Err(flag_err("parallelism", self.parallelism, "out of range", "1 to 64"));
        }
        Ok(self.parallelism)
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
        Err(_) => Ok(crate::aws::DEFAULT_MAX_ATTEMPTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(suffix: &str) -> StackArgs {
        let cli = Cli::try_parse_from(["provision", "plan", "--suffix", suffix]).unwrap();
        match cli.command {
            Command::Plan(p) => p.stack,
            _ => unreachable!(),
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
}
