//! The command line: clap definitions only. Each command's flags become a
//! [`StackRequest`] (see [`crate::config`]), validated there before the
//! first AWS call.

use crate::config::{flag_err, InputError, StackRequest};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    /// Put the service back on the task definition revision it ran before (or `--to` one).
    Rollback(RollbackArgs),
    /// Print the stack's log events (app, otel, db or flow), or follow them.
    Logs(LogsArgs),
    /// Run a one-off task from the service's task definition with another command.
    Run(RunTaskArgs),
    /// Open a shell (or run a command) in a running task of the service with ECS Exec.
    Exec(ExecArgs),
    /// Print the stack's flat outputs (KEY=VALUE, or a JSON object).
    Outputs(OutputsArgs),
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
    /// Build and push `--context` first (tagged with the git commit unless --image-tag is given).
    #[arg(long, conflicts_with = "image")]
    pub build: bool,
    /// Directory to build with --build (contains the Dockerfile).
    #[arg(long, default_value = "container", requires = "build")]
    pub context: PathBuf,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The revision to go back to: a number, or the full ARN of a revision of the stack's family
    /// (default: the highest ACTIVE revision below the one the service runs).
    #[arg(long, value_name = "REVISION")]
    pub to: Option<String>,
    /// How long to wait for the deployment, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// The result as a JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Whose log: app, otel (the collector sidecar), db (Aurora PostgreSQL) or flow (VPC flow logs).
    #[arg(long, default_value = "app")]
    pub container: String,
    /// From when: a duration back from now (30s, 10m, 2h, 1d) or an RFC 3339 time.
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// A CloudWatch Logs filter pattern (plain terms match events containing all of them).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// One JSON object per event on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunTaskArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the task ARN and return instead of waiting for the task to stop.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the task to stop (30s, 10m, 2h).
    #[arg(long, default_value = "10m")]
    pub timeout: String,
    /// The result as a JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// The command for the app container, after `--` (e.g. `-- flask db upgrade`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The container to run the command in: app or otel.
    #[arg(long, default_value = "app")]
    pub container: String,
    /// The task (id or ARN); default: the service's first RUNNING task.
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// The command, after `--` (default /bin/sh).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OutputsArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The outputs as one JSON object.
    #[arg(long)]
    pub json: bool,
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

impl RunArgs {
    pub fn validate(&self) -> Result<usize, InputError> {
        if !(1..=64).contains(&self.parallelism) {
            return Err(flag_err("parallelism", self.parallelism, "out of range", "1 to 64"));
        }
        Ok(self.parallelism)
    }
}

impl StackArgs {
    /// The flags as a request (validated by [`StackRequest::validate`]).
    pub fn request(&self) -> StackRequest {
        StackRequest {
            suffix: self.suffix.clone(),
            vpc_cidr: self.vpc_cidr.clone(),
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
        }
    }

    pub fn validate(&self) -> Result<crate::config::Settings, InputError> {
        self.request().validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_defaults_are_the_documented_defaults() {
        let cli = Cli::try_parse_from(["provision", "plan", "--suffix", "dev1"]).unwrap();
        let Command::Plan(p) = cli.command else { unreachable!() };
        let want = StackRequest {
            suffix: "dev1".into(),
            ..StackRequest::default()
        };
        assert_eq!(p.stack.request(), want);
    }
}
