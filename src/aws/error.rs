//! Turning SDK errors into something an operator can act on.
//!
//! Every AWS call in the provisioner goes through [`AwsError::from_sdk`]
//! (usually via the [`AwsResultExt`](crate::aws::AwsResultExt) extension), which keeps the
//! operation name, the service's error code and its message, and classifies
//! the code once so callers ask questions (`is_not_found`, `is_in_use`)
//! instead of matching strings.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS error code stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The resource is not there (success for a delete).
    NotFound,
    /// Refused because something still uses the resource; retried on delete
    /// while dependencies drain (ENIs, attachments, associations).
    InUse,
    /// The caller lacks permission: never retried, always reported.
    AccessDenied,
    /// The request itself was wrong.
    Invalid,
    /// A newly created IAM role or policy is not visible everywhere yet.
    NotYetPropagated,
    /// Anything else (including throttling the SDK gave up on).
    Other,
}

/// One failed AWS call: which operation, the HTTP status, the service's code
/// and message. Its `Display` is what an operator sees: never a Rust debug
/// dump, never the SDK's bare "unhandled error".
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed{}: {}{message}", .status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(), .code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    /// The API operation, e.g. `CreateNatGateway`, so the operator knows
    /// which call to look for in CloudTrail.
    pub operation: &'static str,
    /// The service's error code (`DependencyViolation`, ...), when it sent one.
    pub code: Option<String>,
    /// The service's message, what the endpoint answered when it could not
    /// be parsed, or the transport failure.
    pub message: String,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
}

/// How much of an unparseable answer an error quotes.
const BODY_EXCERPT: usize = 200;

/// The first bytes of an answer, printable and on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT)]);
    let mut one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if body.len() > BODY_EXCERPT {
        one_line.push('…');
    }
    one_line
}

/// What the endpoint answered, for an error the SDK could not parse.
fn unparsed(status: u16, body: Option<&[u8]>) -> String {
    match body {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => {
            format!(
                "the endpoint answered a body that is not an AWS error: {:?}",
                excerpt(b)
            )
        }
        Some(_) => "the endpoint answered with an empty body".to_owned(),
        None => format!("the endpoint answered HTTP {status} (body not readable)"),
    }
}

/// The first line of a transport failure, without the SDK's nesting: the
/// innermost cause is what explains it (connection refused, a timeout, no
/// credentials).
fn transport_message<E: std::error::Error>(err: &E) -> String {
    let mut source: Option<&dyn std::error::Error> = err.source();
    let mut last = err.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

impl AwsError {
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let raw = service.raw();
                let status = raw.status().as_u16();
                let code = e.code().map(str::to_owned);
                let message = match (e.message(), &code) {
                    (Some(m), _) => m.to_owned(),
                    // A code without a message is still the service's word.
                    (None, Some(_)) => String::new(),
                    (None, None) => unparsed(status, raw.body().bytes()),
                };
                AwsError {
                    operation,
                    code,
                    message,
                    status: Some(status),
                }
            }
            SdkError::ResponseError(r) => {
                let raw = r.raw();
                let status = raw.status().as_u16();
                AwsError {
                    operation,
                    code: None,
                    message: unparsed(status, raw.body().bytes()),
                    status: Some(status),
                }
            }
            SdkError::TimeoutError(_) => AwsError {
                operation,
                code: Some("Timeout".into()),
                message: "no answer from the endpoint in time".into(),
                status: None,
            },
            SdkError::DispatchFailure(_) if transport_message(&err).contains("no credentials") => AwsError {
                operation,
                code: Some("NoCredentials".into()),
                // The SDK lists every provider it tried, one per line; the
                // operator needs the verdict, not the chain.
                message:
                    "no AWS credentials found (environment, profile, SSO, web identity, container or instance role)"
                        .into(),
                status: None,
            },
            SdkError::DispatchFailure(d) => {
                let why = transport_message(&err);
                let why = why.lines().next().unwrap_or_default().to_owned();
                let message = if d.is_timeout() {
                    format!("could not reach the endpoint in time ({why})")
                } else if d.is_io() {
                    format!("could not connect to the endpoint ({why})")
                } else {
                    why
                };
                AwsError {
                    operation,
                    code: Some("EndpointUnreachable".into()),
                    message,
                    status: None,
                }
            }
            SdkError::ConstructionFailure(_) => AwsError {
                operation,
                code: Some("RequestNotSent".into()),
                message: transport_message(&err),
                status: None,
            },
            _ => AwsError {
                operation,
                code: None,
                message: DisplayErrorContext(&err).to_string(),
                status: None,
            },
        }
    }

    /// An error for a situation the provisioner detected itself.
    pub fn custom(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: Some(code.to_owned()),
            message: message.into(),
            status: None,
        }
    }

    pub fn class(&self) -> ErrorClass {
        classify(self.code.as_deref().unwrap_or(""), &self.message)
    }

    pub fn is_not_found(&self) -> bool {
        self.class() == ErrorClass::NotFound
    }

    pub fn is_in_use(&self) -> bool {
        self.class() == ErrorClass::InUse
    }

    /// The service is busy (each service's own throttling code): worth
    /// retrying with backoff, unlike a missing endpoint or credentials.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "Throttling"
                    | "ThrottlingException"
                    | "ThrottledException"
                    | "RequestLimitExceeded"
                    | "TooManyRequestsException"
                    | "RequestThrottled"
                    | "RequestThrottledException"
                    | "SlowDown"
                    | "ProvisionedThroughputExceededException"
            )
        )
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// A request builder refused its input (a required field left unset).
pub fn build_err(e: impl std::fmt::Display) -> AwsError {
    AwsError::custom("BuildRequest", "InvalidRequest", e.to_string())
}

/// Classifies an AWS error code. The table is deliberately explicit: a code
/// that is not listed is `Other`, which is never silently swallowed.
pub fn classify(code: &str, message: &str) -> ErrorClass {
    const NOT_FOUND: &[&str] = &[
        "NoSuchEntity",
        "NoSuchBucket",
        "NoSuchBucketPolicy",
        "NoSuchLifecycleConfiguration",
        "NoSuchPublicAccessBlockConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
        "NoSuchTagSet",
        "OwnershipControlsNotFoundError",
        "ResourceNotFoundException",
        "RepositoryNotFoundException",
        "LifecyclePolicyNotFoundException",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "ServiceNotActiveException",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "ListenerNotFound",
        "RuleNotFound",
        "DBClusterNotFoundFault",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "DBSubnetGroupNotFoundFault",
        "DBClusterParameterGroupNotFound",
        "DBClusterParameterGroupNotFoundFault",
        "DBParameterGroupNotFound",
        "NotFound",
        "NotFoundException",
        "ObjectNotFoundException",
        "Gateway.NotAttached",
        "ResourceNotFound",
        "ResourceNotFoundFault",
        "NatGatewayNotFound",
        "NoSuchDistribution",
        "EntityNotFound",
        "NoSuchMonitoringSubscription",
        "NoSuchResource",
        "WAFNonexistentItemException",
    ];
    const IN_USE: &[&str] = &[
        "DependencyViolation",
        "InvalidGroup.InUse",
        "ResourceInUse",
        "ResourceInUseException",
        "ResourceInUseFault",
        "InvalidDBClusterStateFault",
        "InvalidDBInstanceState",
        "InvalidDBInstanceStateFault",
        "InvalidDBSubnetGroupStateFault",
        "InvalidDBParameterGroupState",
        "DeleteConflict",
        "ClusterContainsServicesException",
        "ClusterContainsTasksException",
        "ClusterContainsContainerInstancesException",
        "InvalidIPAddress.InUse",
        "AuthFailure.AddressInUse",
        "InvalidNetworkInterface.InUse",
        "BucketNotEmpty",
        "OperationAborted",
        "ConcurrentModificationException",
        "IncorrectInstanceState",
        "InvalidParameterException.InUse",
        "UpdateInProgressException",
        "CannotDeleteEntityWhileInUse",
        "WAFAssociatedItemException",
    ];
    if code.ends_with(".NotFound") || code.ends_with(".Malformed.NotFound") || NOT_FOUND.contains(&code) {
        return ErrorClass::NotFound;
    }
    if IN_USE.contains(&code) {
        return ErrorClass::InUse;
    }
    if code == "AccessDenied"
        || code == "AccessDeniedException"
        || code == "UnauthorizedOperation"
        || code == "AuthFailure"
    {
        return ErrorClass::AccessDenied;
    }
    // IAM's eventual consistency shows up as "role cannot be assumed" or
    // "invalid principal" on the services that use a brand-new role.
    let m = message.to_ascii_lowercase();
    if (code.starts_with("InvalidParameter") || code == "ClientException" || code == "ValidationError")
        && (m.contains("assume") || m.contains("role") && m.contains("not") && m.contains("valid"))
    {
        return ErrorClass::NotYetPropagated;
    }
    if code == "MalformedPolicyDocument" && m.contains("invalid principal") {
        return ErrorClass::NotYetPropagated;
    }
    if code.starts_with("Invalid")
        || code.starts_with("Validation")
        || code.ends_with("Exception") && code.contains("Invalid")
    {
        return ErrorClass::Invalid;
    }
    ErrorClass::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify("InvalidNatGatewayID.NotFound", ""), ErrorClass::NotFound);
        assert_eq!(classify("InvalidVpcID.NotFound", ""), ErrorClass::NotFound);
        assert_eq!(classify("DBClusterNotFoundFault", ""), ErrorClass::NotFound);
        assert_eq!(classify("NoSuchEntity", ""), ErrorClass::NotFound);
        assert_eq!(classify("DependencyViolation", ""), ErrorClass::InUse);
        assert_eq!(classify("InvalidGroup.InUse", ""), ErrorClass::InUse);
        assert_eq!(classify("ResourceInUseException", ""), ErrorClass::InUse);
        assert!(AwsError::custom("GetCallerIdentity", "Throttling", "Rate exceeded").is_throttling());
        assert!(!AwsError::custom("GetCallerIdentity", "ExpiredToken", "x").is_throttling());
        assert_eq!(classify("AccessDenied", ""), ErrorClass::AccessDenied);
        assert_eq!(
            classify("InvalidParameterValue", "the role cannot be assumed by the service"),
            ErrorClass::NotYetPropagated
        );
        assert_eq!(classify("InvalidParameterValue", "CIDR overlaps"), ErrorClass::Invalid);
        assert_eq!(classify("SomethingNew", ""), ErrorClass::Other);
    }

    #[test]
    fn display_names_operation_code_and_message() {
        let e = AwsError::custom("DeleteVpc", "DependencyViolation", "has dependencies");
        assert_eq!(e.to_string(), "DeleteVpc failed: DependencyViolation: has dependencies");
        assert!(e.is_in_use());
    }

    /// A client whose every answer is `status` with `body`, no retries.
    fn answering(
        status: u16,
        content_type: &'static str,
        body: &'static str,
    ) -> aws_sdk_applicationautoscaling::Client {
        let http = aws_smithy_http_client::test_util::infallible_client_fn(move |_req| {
            http::Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(body)
                .unwrap()
        });
        let conf = aws_sdk_applicationautoscaling::Config::builder()
            .behavior_version(aws_sdk_applicationautoscaling::config::BehaviorVersion::latest())
            .region(aws_sdk_applicationautoscaling::config::Region::new("ap-southeast-2"))
            .credentials_provider(aws_sdk_applicationautoscaling::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .http_client(http)
            .build();
        aws_sdk_applicationautoscaling::Client::from_conf(conf)
    }

    async fn error_for(status: u16, content_type: &'static str, body: &'static str) -> AwsError {
        answering(status, content_type, body)
            .describe_scalable_targets()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeScalableTargets", e))
            .unwrap_err()
    }

    #[tokio::test]
    async fn an_empty_error_body_names_the_operation_and_the_status() {
        let text = error_for(400, "application/x-amz-json-1.1", "").await.to_string();
        assert!(text.starts_with("DescribeScalableTargets failed (HTTP 400)"), "{text}");
        assert!(text.contains("empty body"), "{text}");
        assert!(!text.contains("unhandled"), "{text}");
    }

    #[tokio::test]
    async fn an_html_error_body_is_quoted_on_one_line() {
        let body = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>corporate proxy</body></html>";
        let err = error_for(502, "text/html", body).await;
        let text = err.to_string();
        assert_eq!(err.status, Some(502));
        assert!(text.starts_with("DescribeScalableTargets failed (HTTP 502)"), "{text}");
        assert!(text.contains("502 Bad Gateway"), "{text}");
        assert!(text.contains("corporate proxy"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(!text.contains("unhandled"), "{text}");
    }

    #[tokio::test]
    async fn a_service_error_keeps_its_code_and_message() {
        let body = r#"{"__type":"ValidationException","message":"bad namespace"}"#;
        let err = error_for(400, "application/x-amz-json-1.1", body).await;
        assert_eq!(err.code.as_deref(), Some("ValidationException"));
        assert_eq!(
            err.to_string(),
            "DescribeScalableTargets failed (HTTP 400): ValidationException: bad namespace"
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let long = "x".repeat(1000);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), BODY_EXCERPT + 1);
    }
}
