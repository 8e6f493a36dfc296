"""The realism rules of the smaller services: CloudWatch Logs (log groups, log deliveries),
Secrets Manager, ECR, Application Auto Scaling and DynamoDB (each citing its API reference)."""

from __future__ import annotations

from proxy.realism.checks import Rule, all_of, each, length, min_le_max, one_of, pattern

LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731}
    | {1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

DELIVERY_NAME = pattern(r"[\w-]*", "may contain only letters, digits, '_' and '-'")

DYNAMODB_REF = "Amazon DynamoDB API Reference"
DYNAMODB_TABLE_OPS = (
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "DescribeTable",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
)

#: The documented request constraints of these services checked in ``rules`` mode.
RULES: list[Rule] = [
    # ---- DynamoDB ----------------------------------------------------------
    Rule(
        "dynamodb.TableName",
        "dynamodb",
        DYNAMODB_TABLE_OPS,
        "TableName",
        each(
            "TableName",
            length(3, 255),
            pattern(r"[a-zA-Z0-9_.-]+", "may contain only a-z, A-Z, 0-9, '_', '-' and '.'"),
        ),
        "ValidationException",
        f"{DYNAMODB_REF}, CreateTable: TableName - Length Constraints: Minimum length of 3. "
        "Maximum length of 255. Pattern: [a-zA-Z0-9_.-]+",
    ),
    Rule(
        "dynamodb.UpdateTimeToLive.AttributeName",
        "dynamodb",
        ("UpdateTimeToLive",),
        "TimeToLiveSpecification.AttributeName",
        each("TimeToLiveSpecification.AttributeName", length(1, 255)),
        "ValidationException",
        f"{DYNAMODB_REF}, TimeToLiveSpecification: AttributeName - Length Constraints: "
        "Minimum length of 1. Maximum length of 255.",
    ),
    # ---- CloudWatch Logs ---------------------------------------------------
    Rule(
        "logs.logGroupName",
        "logs",
        ("CreateLogGroup", "PutRetentionPolicy", "DeleteLogGroup"),
        "logGroupName",
        each(
            "logGroupName",
            length(1, 512),
            pattern(
                r"[\.\-_/#A-Za-z0-9]+", "may contain only a-z, A-Z, 0-9, '_', '-', '/', '.' and '#'"
            ),
        ),
        "InvalidParameterException",
        "Amazon CloudWatch Logs API Reference, CreateLogGroup: logGroupName - Length "
        r"Constraints: Minimum length of 1. Maximum length of 512. Pattern: [\.\-_/#A-Za-z0-9]+",
    ),
    Rule(
        "logs.PutRetentionPolicy.retentionInDays",
        "logs",
        ("PutRetentionPolicy",),
        "retentionInDays",
        each(
            "retentionInDays",
            one_of(
                LOG_RETENTION_DAYS,
                "possible values are " + ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS)),
            ),
        ),
        "InvalidParameterException",
        "Amazon CloudWatch Logs API Reference, PutRetentionPolicy: retentionInDays - Possible "
        "values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
        "2192, 2557, 2922, 3288, and 3653.",
    ),
    Rule(
        "logs.delivery.names",
        "logs",
        (
            "PutDeliverySource",
            "GetDeliverySource",
            "DeleteDeliverySource",
            "PutDeliveryDestination",
            "GetDeliveryDestination",
            "DeleteDeliveryDestination",
            "CreateDelivery",
        ),
        "name, deliverySourceName",
        all_of(
            each("name", length(1, 60), DELIVERY_NAME),
            each("deliverySourceName", length(1, 60), DELIVERY_NAME),
        ),
        "ValidationException",
        "Amazon CloudWatch Logs API Reference, PutDeliverySource / PutDeliveryDestination (and "
        "Get/Delete of both; CreateDelivery: deliverySourceName): name - Length Constraints: "
        r"Minimum length of 1. Maximum length of 60. Pattern: [\w-]*",
    ),
    # ---- Secrets Manager ---------------------------------------------------
    Rule(
        "secretsmanager.CreateSecret.Name",
        "secretsmanager",
        ("CreateSecret",),
        "Name",
        each(
            "Name",
            length(1, 512),
            pattern(
                r"[A-Za-z0-9/_+=.@-]+",
                "The secret name can "
                "contain ASCII letters, numbers, and the following characters: /_+=.@-",
            ),
        ),
        "ValidationException",
        "AWS Secrets Manager API Reference, CreateSecret: Name - The secret name can contain "
        "ASCII letters, numbers, and the following characters: /_+=.@- ... Length Constraints: "
        "Minimum length of 1. Maximum length of 512.",
    ),
    Rule(
        "secretsmanager.ClientRequestToken",
        "secretsmanager",
        ("CreateSecret", "PutSecretValue", "UpdateSecret"),
        "ClientRequestToken",
        each("ClientRequestToken", length(32, 64)),
        "ValidationException",
        "AWS Secrets Manager API Reference, CreateSecret / PutSecretValue: ClientRequestToken - "
        "Length Constraints: Minimum length of 32. Maximum length of 64.",
    ),
    # ---- ECR ---------------------------------------------------------------
    Rule(
        "ecr.CreateRepository.repositoryName",
        "ecr",
        ("CreateRepository",),
        "repositoryName",
        each(
            "repositoryName",
            length(2, 256),
            pattern(
                r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
                "must be lowercase letters, digits and ._-/ separators",
            ),
        ),
        "InvalidParameterException",
        "Amazon ECR API Reference, CreateRepository: repositoryName - Length Constraints: "
        "Minimum length of 2. Maximum length of 256. Pattern: "
        "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
    ),
    # ---- Application Auto Scaling -----------------------------------------
    Rule(
        "application-autoscaling.RegisterScalableTarget.min-le-max",
        "application-autoscaling",
        ("RegisterScalableTarget",),
        "MinCapacity <= MaxCapacity",
        min_le_max(
            "MinCapacity",
            "MaxCapacity",
            "Minimum capacity ({lo:g}) cannot be greater than maximum capacity ({hi:g})",
        ),
        "ValidationException",
        "Application Auto Scaling API Reference, RegisterScalableTarget: MinCapacity - The "
        "minimum value that you plan to scale in to; MaxCapacity - the maximum value that you "
        "plan to scale out to (a range whose minimum exceeds its maximum is rejected).",
    ),
]
