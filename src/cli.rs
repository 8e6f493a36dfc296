//! The command line: clap definitions only. Each command's flags become a
//! [`StackRequest`](crate::config::StackRequest) (see [`crate::config`]), validated there before the
//! first AWS call.

use crate::config::layers::{merge, Source, Values};
use crate::config::{flag_err, InputError};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::Value;
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

    /// AWS region (default: the stack file's region, else the AWS config chain, else ap-southeast-2).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,

    /// Where the local cache of the stack's state lives (safe to delete: the
    /// stack's settings, state and lock are kept in the account's state bucket).
    #[arg(long, global = true, default_value = "state", env = "PROVISION_STATE_DIR")]
    pub state_dir: PathBuf,

    /// The stack file: one table of settings per suffix (default: provision.toml, if present).
    #[arg(long, global = true, env = "PROVISION_STACK_FILE", value_name = "PATH")]
    pub stack_file: Option<PathBuf>,

    /// How long to wait for another run's lock on the stack (0s, 30s, 10m): 0 fails at once, naming the holder.
    #[arg(long, global = true, default_value = "0s", value_name = "DURATION")]
    pub lock_timeout: String,

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
    /// For each step: present, missing or drifted, with ids. Exits 3 unless converged.
    Status(StatusArgs),
    /// Settings and their sources, then the ordered step graph and what `up` would change. Exits 3 if anything.
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
    /// Print the settings recorded with the stack, and where each value of the next run comes from.
    Settings(SettingsArgs),
    /// Remove the stack's lock (after a run that crashed on another machine).
    Unlock(UnlockArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build container/ and push it to the stack's ECR repository.
    Push(PushArgs),
}

/// How the stack should look: shared by every command that compares the
/// stack in AWS with what it should be. Every setting is optional here: a
/// flag that is not given keeps the value of the stack file, else the one
/// recorded with the stack, else the default shown (see
/// [`crate::config::layers`]). An empty value (`--certificate-arn ""`) sets
/// an optional setting back to none.
#[derive(Debug, Args, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct StackArgs {
    /// Environment suffix that names and tags every resource (1-12 of a-z 0-9 -).
    #[arg(long, env = "PROVISION_SUFFIX")]
    #[serde(skip)]
    pub suffix: String,

    /// IPv4 CIDR of the VPC, /16 to /19 [default: 10.0.0.0/16].
    #[arg(long)]
    pub vpc_cidr: Option<String>,

    /// Retention of every log group, in days [default: 30].
    #[arg(long)]
    pub log_retention_days: Option<i32>,

    /// Full image URI for the service (an image pushed elsewhere).
    #[arg(long, conflicts_with = "image_tag")]
    pub image: Option<String>,

    /// Tag of the image in the stack's ECR repository [default: latest; then what `deploy` last rolled out].
    #[arg(long)]
    pub image_tag: Option<String>,

    /// Make ECR image tags immutable.
    #[arg(long, conflicts_with = "no_immutable_tags")]
    #[serde(skip)]
    pub immutable_tags: bool,
    /// Make ECR image tags mutable again (the default).
    #[arg(long)]
    #[serde(skip)]
    pub no_immutable_tags: bool,

    /// Customer-managed KMS key for ECR, Aurora, secrets and logs (default: AWS-managed keys).
    #[arg(long)]
    pub kms_key_arn: Option<String>,

    /// Aurora PostgreSQL major version; the newest minor is resolved at run time [default: 16].
    #[arg(long)]
    pub db_major: Option<u32>,

    /// Pin an exact Aurora PostgreSQL engine version (e.g. 16.4).
    #[arg(long)]
    pub db_engine_version: Option<String>,

    /// Serverless v2 minimum capacity, ACU [default: 0.5].
    #[arg(long)]
    pub db_min_acu: Option<f64>,

    /// Serverless v2 maximum capacity, ACU [default: 4].
    #[arg(long)]
    pub db_max_acu: Option<f64>,

    /// Use this existing credentials secret (ARN or name) instead of the RDS-managed one.
    #[arg(long)]
    pub db_secret_arn: Option<String>,

    /// Deletion protection and a final snapshot for the database.
    #[arg(long, conflicts_with = "no_protect_data")]
    #[serde(skip)]
    pub protect_data: bool,
    /// Turn deletion protection off (a destructive change: asks, or needs --yes).
    #[arg(long)]
    #[serde(skip)]
    pub no_protect_data: bool,

    /// ACM certificate: adds an HTTPS listener and redirects HTTP to it.
    #[arg(long)]
    pub certificate_arn: Option<String>,

    /// Subscribe this address to the alarm topic.
    #[arg(long)]
    pub alarm_email: Option<String>,

    /// Share of tasks on Fargate Spot, in percent [default: 70].
    #[arg(long)]
    pub spot_percent: Option<u32>,

    /// Enable ECS Exec on the service.
    #[arg(long, conflicts_with = "no_enable_exec")]
    #[serde(skip)]
    pub enable_exec: bool,
    /// Disable ECS Exec (the default).
    #[arg(long)]
    #[serde(skip)]
    pub no_enable_exec: bool,

    /// Task CPU units [default: 512].
    #[arg(long)]
    pub task_cpu: Option<u32>,

    /// Task memory, MiB [default: 1024].
    #[arg(long)]
    pub task_memory: Option<u32>,

    /// Minutes a blue/green deployment keeps the old revision ready while the deployment alarms may still roll it back [default: 5].
    #[arg(long)]
    pub bake_minutes: Option<u32>,

    /// Serve the API through CloudFront (HTTPS on its own domain), the load balancer internal (the default).
    #[arg(long, conflicts_with = "no_edge")]
    #[serde(skip)]
    pub edge: bool,
    /// No CloudFront: an internet-facing load balancer (replaces the load balancer of an edge stack).
    #[arg(long)]
    #[serde(skip)]
    pub no_edge: bool,

    /// A WAF web ACL on the distribution: AWS managed rules and a per-client rate limit (the default).
    #[arg(long, conflicts_with = "no_waf")]
    #[serde(skip)]
    pub waf: bool,
    /// No WAF web ACL on the distribution.
    #[arg(long)]
    #[serde(skip)]
    pub no_waf: bool,

    /// Requests one client IP may make in 5 minutes before the WAF blocks it [default: 2000].
    #[arg(long)]
    pub rate_limit: Option<u32>,

    /// The API's own domain on the distribution (needs --edge-certificate-arn).
    #[arg(long)]
    pub domain: Option<String>,

    /// ACM certificate in us-east-1 covering --domain, for CloudFront.
    #[arg(long)]
    pub edge_certificate_arn: Option<String>,

    /// Set an environment variable of the API container (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    #[serde(skip)]
    pub env: Vec<String>,
    /// Remove an environment variable set with --env (repeatable).
    #[arg(long = "no-env", value_name = "KEY")]
    #[serde(skip)]
    pub no_env: Vec<String>,

    /// Give the API container a Secrets Manager secret as a variable (repeatable; the value is never read here).
    #[arg(long = "secret", value_name = "KEY=SECRET_ARN[:json-key]")]
    #[serde(skip)]
    pub secret: Vec<String>,
    /// Remove a secret set with --secret (repeatable).
    #[arg(long = "no-secret", value_name = "KEY")]
    #[serde(skip)]
    pub no_secret: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How many steps may run at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,

    /// One JSON object per step transition on stdout (for CI pipelines).
    #[arg(long)]
    pub json: bool,

    /// Stop at the first failed step: start nothing new and let running
    /// steps finish. Without it, every step that does not depend on a
    /// failed one still runs, and all failures are reported at the end.
    #[arg(long)]
    pub fail_fast: bool,
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
    /// Make destructive setting changes (marked `!` by `plan`) without asking.
    #[arg(long)]
    pub yes: bool,
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
    /// The plan as one JSON document on stdout: the settings' changes, each
    /// step's action, the duration estimate and the monthly cost.
    #[arg(long)]
    pub json: bool,
    /// How many steps `up` would run at once (for the duration estimate).
    #[arg(long, default_value_t = 8)]
    pub parallelism: usize,
    /// Usage assumptions for the monthly cost, `key=value[,key=value…]`
    /// (e.g. `rps=50,log-gb=20`); `plan` prints every one it used.
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub traffic: Option<String>,
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
    /// Make destructive setting changes (marked `!` by `plan`) without asking.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The record (settings, binding, deployed image and its history) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Environment suffix of the stack.
    #[arg(long, env = "PROVISION_SUFFIX")]
    pub suffix: String,
    /// Remove the lock even if its holder renewed it within its lease (it may still be running).
    #[arg(long)]
    pub force: bool,
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
    /// Whose log: app, otel (the collector sidecar), db (Aurora PostgreSQL), flow (VPC flow logs) or edge (CloudFront).
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
    /// The settings the flags give (and only those), as a layer over the
    /// stack file and the recorded settings.
    pub fn layer(&self) -> Result<Values, InputError> {
        let mut out = Values::new();
        let given = match serde_json::to_value(self).expect("flags serialize") {
            Value::Object(m) => m,
            _ => unreachable!("a struct serializes to an object"),
        };
        for (k, v) in given {
            match v {
                Value::Null => {}
                // An empty value sets an optional setting back to none.
                Value::String(s) if s.is_empty() => {
                    out.insert(k, Value::Null);
                }
                v => {
                    out.insert(k, v);
                }
            }
        }
        // A tag of the stack's repository replaces an image from elsewhere.
        if self.image_tag.is_some() && self.image.is_none() {
            out.insert("image".into(), Value::Null);
        }
        for (key, on, off) in [
            ("immutable-tags", self.immutable_tags, self.no_immutable_tags),
            ("protect-data", self.protect_data, self.no_protect_data),
            ("enable-exec", self.enable_exec, self.no_enable_exec),
            ("edge", self.edge, self.no_edge),
            ("waf", self.waf, self.no_waf),
        ] {
            if on || off {
                out.insert(key.into(), Value::Bool(on));
            }
        }
        for (key, flag, set, unset) in [
            ("env", "env", &self.env, &self.no_env),
            ("secrets", "secret", &self.secret, &self.no_secret),
        ] {
            let mut table = Values::new();
            for pair in set {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    flag_err(
                        flag,
                        pair,
                        "not KEY=VALUE",
                        "e.g. --env FEATURE_FLAGS=search, or --secret STRIPE_KEY=arn:aws:secretsmanager:…:secret:NAME:api_key",
                    )
                })?;
                table.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            for k in unset {
                table.insert(k.clone(), Value::Null);
            }
            if !table.is_empty() {
                out.insert(key.into(), Value::Object(table));
            }
        }
        Ok(out)
    }

    /// The flags over the defaults alone: how every flag is checked before
    /// any AWS call (the record and the file are checked when read).
    pub fn validate(&self) -> Result<crate::config::Settings, InputError> {
        let flags = self.layer()?;
        merge(&self.suffix, &[(Source::Flag, &flags)])?.request.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StackRequest;

    fn plan(flags: &[&str]) -> StackArgs {
        let mut argv = vec!["provision", "plan", "--suffix", "dev1"];
        argv.extend_from_slice(flags);
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Plan(p) = cli.command else { unreachable!() };
        p.stack
    }

    #[test]
    fn no_flags_give_no_settings_and_validate_to_the_defaults() {
        let s = plan(&[]);
        assert!(s.layer().unwrap().is_empty());
        let want = StackRequest {
            suffix: "dev1".into(),
            ..StackRequest::default()
        };
        let got = merge("dev1", &[(Source::Flag, &s.layer().unwrap())]).unwrap().request;
        assert_eq!(got, want);
    }

    #[test]
    fn given_flags_negations_empties_and_tables_become_the_flag_layer() {
        let s = plan(&[
            "--spot-percent",
            "50",
            "--no-protect-data",
            "--certificate-arn",
            "",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--no-env",
            "C",
            "--image-tag",
            "v2",
        ]);
        let l = s.layer().unwrap();
        assert_eq!(l["spot-percent"], serde_json::json!(50));
        assert_eq!(l["protect-data"], serde_json::json!(false));
        assert_eq!(l["certificate-arn"], Value::Null);
        assert_eq!(l["env"], serde_json::json!({"A": "1", "B": "x=y", "C": null}));
        assert_eq!(l["image-tag"], serde_json::json!("v2"));
        assert_eq!(l["image"], Value::Null);
        assert!(!l.contains_key("enable-exec"));
        let e = plan(&["--env", "NOEQUALS"]).layer().unwrap_err().to_string();
        assert!(e.contains("--env") && e.contains("KEY=VALUE"), "{e}");
        assert!(Cli::try_parse_from([
            "provision",
            "plan",
            "--suffix",
            "d",
            "--protect-data",
            "--no-protect-data"
        ])
        .is_err());
    }
}
