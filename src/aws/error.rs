//! Turning SDK errors into something an operator can act on.
//!
//! Every AWS call in the provisioner goes through [`AwsError::from_sdk`]
//! (usually via the [`Ctx`](crate::AwsResultExt) extension), which keeps the
//! operation name, the service's error code and its message, and classifies
//! the code once so callers ask questions (`is_not_found`, `is_in_use`)
//! instead of matching strings.

use aws_smithy_runtime_api::client::result::SdkError;
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

/// One failed AWS call: which operation, the service's code and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {}{message}", .code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    /// The API operation, e.g. `CreateNatGateway`, so the operator knows
    /// which call to look for in CloudTrail.
    pub operation: &'static str,
    /// The service's error code (`DependencyViolation`, ...), when it sent one.
    pub code: Option<String>,
    /// The service's message, or the transport failure.
    pub message: String,
}

impl AwsError {
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                AwsError {
                    operation,
                    code: e.code().map(str::to_owned),
                    message: e.message().map(str::to_owned).unwrap_or_else(|| e.to_string()),
                }
            }
            _ => AwsError {
                operation,
                code: None,
                message: DisplayErrorContext(&err).to_string(),
            },
        }
    }

    /// An error for a situation the provisioner detected itself.
    pub fn custom(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: Some(code.to_owned()),
            message: message.into(),
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

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
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
}
