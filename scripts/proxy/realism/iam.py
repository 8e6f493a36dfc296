"""IAM request rules of the realism mode (IAM API Reference): role names, paths, policy names."""

from __future__ import annotations

from proxy.realism.checks import Rule, each, length, pattern

IAM_REF = "IAM API Reference"
IAM_NAME = r"[\w+=,.@-]+"
IAM_PATH = r"/|/[\u0021-\u007e]+/"

#: The documented IAM request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "iam.RoleName",
        "iam",
        (
            "CreateRole",
            "PutRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "DeleteRolePolicy",
            "UpdateRole",
            "GetRole",
            "DeleteRole",
        ),
        "RoleName",
        each("RoleName", length(1, 64), pattern(IAM_NAME, r"must match [\w+=,.@-]+")),
        "ValidationError",
        f"{IAM_REF}, CreateRole: RoleName - Length Constraints: Minimum length of 1. Maximum "
        r"length of 64. Pattern: [\w+=,.@-]+",
    ),
    Rule(
        "iam.CreateRole.Path",
        "iam",
        ("CreateRole",),
        "Path",
        each(
            "Path",
            length(1, 512),
            pattern(
                IAM_PATH,
                "must be / or begin and end with / and contain only printable ASCII (! through ~)",
            ),
        ),
        "ValidationError",
        f"{IAM_REF}, CreateRole: Path - Length Constraints: Minimum length of 1. Maximum "
        r"length of 512. Pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
    ),
    Rule(
        "iam.PolicyName",
        "iam",
        ("PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy"),
        "PolicyName",
        each("PolicyName", length(1, 128), pattern(IAM_NAME, r"must match [\w+=,.@-]+")),
        "ValidationError",
        f"{IAM_REF}, PutRolePolicy: PolicyName - Length Constraints: Minimum length of 1. "
        r"Maximum length of 128. Pattern: [\w+=,.@-]+",
    ),
]
