//! The AWS side: one shared SDK configuration, the clients built from it,
//! error classification ([`error`]) and bounded waiting ([`wait`]).

pub mod error;
pub mod pricing;
pub mod s3;
pub mod tags;
pub mod wait;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use std::time::Duration;

pub use error::{build_err, AwsError, ErrorClass};

/// How long a connection to an endpoint may take before the attempt fails
/// (and is retried): an unreachable endpoint fails fast instead of hanging.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one attempt of one call may take, answer included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Who the credentials belong to, from `sts:GetCallerIdentity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// Every client the provisioner uses, built once from one configuration so
/// retries, credentials, region and endpoint are configured in one place.
#[derive(Clone, Debug)]
pub struct Clients {
    pub region: String,
    /// The endpoint is reached over plain HTTP (an emulator named by
    /// `AWS_ENDPOINT_URL=http://…`); AWS's own endpoints are HTTPS.
    pub plain_http: bool,
    pub ec2: aws_sdk_ec2::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// CloudFront is global; its API is signed for us-east-1.
    pub cloudfront: aws_sdk_cloudfront::Client,
    /// AWS WAF in the CLOUDFRONT scope, which lives in us-east-1.
    pub wafv2_edge: aws_sdk_wafv2::Client,
    /// CloudWatch Logs in us-east-1: CloudFront's access-log delivery source
    /// must be made there, and its log group lives there.
    pub logs_edge: aws_sdk_cloudwatchlogs::Client,
    /// ACM in us-east-1, where CloudFront's certificates live.
    pub acm_edge: aws_sdk_acm::Client,
    /// The Price List Query API (us-east-1), with its own short retries
    /// and timeouts ([`crate::aws::pricing`]).
    pub pricing: aws_sdk_pricing::Client,
}

/// The region of CloudFront-scoped services (WAF for CloudFront, the log
/// delivery source of a distribution, CloudFront's metrics).
pub const EDGE_REGION: &str = "us-east-1";

impl Clients {
    /// Loads the standard AWS configuration chain (environment, profile,
    /// SSO, IMDS; `AWS_ENDPOINT_URL` included) with our retry policy.
    pub async fn load(region: Option<&str>, max_attempts: u32) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(max_attempts)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_owned()));
        }
        let mut shared = loader.load().await;
        if shared.region().is_none() {
            shared = shared
                .into_builder()
                .region(Region::from_static(crate::config::DEFAULT_REGION))
                .build();
        }
        Self::from_conf(&shared)
    }

    /// The first call of every command: one `GetCallerIdentity` with at most
    /// two attempts, so missing credentials or an unreachable endpoint fail
    /// within seconds, with the cause, before anything else is asked.
    pub async fn first_contact(&self) -> Result<Identity, AwsError> {
        let quick = self
            .sts
            .config()
            .to_builder()
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        let first = aws_sdk_sts::Client::from_conf(quick)
            .get_caller_identity()
            .send()
            .await
            .aws("GetCallerIdentity");
        let out = match first {
            // Throttled is reachable and authorized, only busy: the full
            // retry policy (AWS_MAX_ATTEMPTS, backing off) takes over.
            Err(e) if e.is_throttling() => self.sts.get_caller_identity().send().await.aws("GetCallerIdentity")?,
            r => r?,
        };
        Ok(Identity {
            account: out.account().unwrap_or_default().to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }

    pub fn from_conf(shared: &aws_types::SdkConfig) -> Self {
        let s3_conf = aws_sdk_s3::config::Builder::from(shared)
            // Bucket names in the host only work against real S3 endpoints.
            .force_path_style(shared.endpoint_url().is_some())
            .build();
        Clients {
            region: shared
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| crate::config::DEFAULT_REGION.into()),
            plain_http: shared.endpoint_url().is_some_and(|u| u.starts_with("http://")),
            ec2: aws_sdk_ec2::Client::new(shared),
            logs: aws_sdk_cloudwatchlogs::Client::new(shared),
            iam: aws_sdk_iam::Client::new(shared),
            sts: aws_sdk_sts::Client::new(shared),
            ecr: aws_sdk_ecr::Client::new(shared),
            rds: aws_sdk_rds::Client::new(shared),
            secrets: aws_sdk_secretsmanager::Client::new(shared),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(shared),
            ecs: aws_sdk_ecs::Client::new(shared),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(shared),
            cloudwatch: aws_sdk_cloudwatch::Client::new(shared),
            sns: aws_sdk_sns::Client::new(shared),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            kms: aws_sdk_kms::Client::new(shared),
            dynamodb: aws_sdk_dynamodb::Client::new(shared),
            cloudfront: aws_sdk_cloudfront::Client::from_conf(
                aws_sdk_cloudfront::config::Builder::from(shared)
                    .region(Region::from_static(EDGE_REGION))
                    .build(),
            ),
            wafv2_edge: aws_sdk_wafv2::Client::from_conf(
                aws_sdk_wafv2::config::Builder::from(shared)
                    .region(Region::from_static(EDGE_REGION))
                    .build(),
            ),
            acm_edge: aws_sdk_acm::Client::from_conf(
                aws_sdk_acm::config::Builder::from(shared)
                    .region(Region::from_static(EDGE_REGION))
                    .build(),
            ),
            logs_edge: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(shared)
                    .region(Region::from_static(EDGE_REGION))
                    .build(),
            ),
            pricing: pricing::client(shared),
        }
    }
}

/// The ARN partition for a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Extension for SDK results: `.aws("CreateVpc")?` keeps the operation name.
pub trait AwsResultExt<T> {
    fn aws(self, operation: &'static str) -> Result<T, AwsError>;
}

impl<T, E> AwsResultExt<T>
    for Result<T, aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn aws(self, operation: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| AwsError::from_sdk(operation, e))
    }
}

/// `Ok(None)` for a not-found error: lookups by name use this.
pub trait NotFoundExt<T> {
    fn or_not_found(self) -> Result<Option<T>, AwsError>;
}

impl<T> NotFoundExt<T> for Result<T, AwsError> {
    fn or_not_found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
