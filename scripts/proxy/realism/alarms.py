"""SNS and CloudWatch alarms in the realism mode: their request rules and topic keys.

Rules: SNS topic names (Amazon SNS API Reference), CloudWatch alarm names and
periods (Amazon CloudWatch API Reference), and alarms whose actions name a topic
encrypted with the AWS managed key ``alias/aws/sns``, which CloudWatch cannot
publish to (stricter than AWS on purpose: AWS accepts the alarm and drops its
notifications). For that last rule :class:`SnsRealism` remembers the key each
topic was created (or set) with, even while the realism mode is off.
"""

from __future__ import annotations

from proxy.realism.base import RealismBase
from proxy.realism.call import Call
from proxy.realism.checks import Rule, RuleState, each, length, number, pattern

SNS_AWS_MANAGED_KEY = "alias/aws/sns"


def _is_aws_managed_sns_key(key: str) -> bool:
    return key == SNS_AWS_MANAGED_KEY or key.endswith(":" + SNS_AWS_MANAGED_KEY)


def alarm_topic_encryption(call: Call, state: RuleState) -> str | None:
    for locator in ("AlarmActions[]", "OKActions[]", "InsufficientDataActions[]"):
        for action in call.values(locator):
            text = str(action)
            if not text.startswith("arn:") or ":sns:" not in text:
                continue
            key = state.topic_keys.get(text.rsplit(":", 1)[-1])
            if key and _is_aws_managed_sns_key(key):
                return (
                    f"{locator.removesuffix('[]')} names SNS topic {text}, which is encrypted with "
                    f"the AWS managed key {key}: CloudWatch cannot publish to a topic encrypted "
                    "with the AWS managed key (its key policy cannot be changed to let "
                    "cloudwatch.amazonaws.com use it); use a customer managed KMS key. Real AWS "
                    "accepts the alarm and silently drops its notifications; fault_proxy refuses "
                    "it so that the mistake is visible."
                )
    return None


def alarm_period(call: Call, _state: RuleState) -> str | None:
    n = number(call.first("Period"))
    if n is not None and not (n in (10, 20, 30) or (n >= 60 and n % 60 == 0)):
        return f"Period {n:g} is invalid: valid values are 10, 20, 30 and any multiple of 60"
    return None


#: The documented SNS and CloudWatch request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    # ---- SNS ---------------------------------------------------------------
    Rule(
        "sns.CreateTopic.Name",
        "sns",
        ("CreateTopic",),
        "Name",
        each(
            "Name",
            length(1, 256),
            pattern(
                r"[A-Za-z0-9_-]+(\.fifo)?",
                "must be ASCII "
                "letters, numbers, underscores and hyphens (and .fifo for a FIFO topic)",
            ),
        ),
        "InvalidParameter",
        "Amazon SNS API Reference, CreateTopic: Name - Constraints: Topic names must be made up "
        "of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and "
        "must be between 1 and 256 characters long. For a FIFO topic, the name must end with "
        "the .fifo suffix.",
    ),
    # ---- CloudWatch --------------------------------------------------------
    Rule(
        "cloudwatch.PutMetricAlarm.sns-aws-managed-key",
        "monitoring",
        ("PutMetricAlarm",),
        "AlarmActions / OKActions / InsufficientDataActions",
        alarm_topic_encryption,
        "ValidationError",
        "Amazon SNS Developer Guide, 'Managing Amazon SNS encryption keys and costs' / 'Enable "
        "compatibility between event sources from AWS services and encrypted topics': AWS "
        "services that publish to encrypted topics (CloudWatch alarms among them) need a "
        "customer managed key whose key policy lets the service use it; the AWS managed key "
        "alias/aws/sns cannot be given that permission. (AWS itself accepts the alarm and drops "
        "the notifications; the proxy refuses the call to make it visible.)",
    ),
    Rule(
        "cloudwatch.PutMetricAlarm.Period",
        "monitoring",
        ("PutMetricAlarm",),
        "Period",
        alarm_period,
        "ValidationError",
        "Amazon CloudWatch API Reference, PutMetricAlarm: Period - Valid values are 10, 20, 30, "
        "and any multiple of 60.",
    ),
    Rule(
        "cloudwatch.PutMetricAlarm.AlarmName",
        "monitoring",
        ("PutMetricAlarm",),
        "AlarmName",
        each("AlarmName", length(1, 255)),
        "ValidationError",
        "Amazon CloudWatch API Reference, PutMetricAlarm: AlarmName - Length Constraints: "
        "Minimum length of 1. Maximum length of 255.",
    ),
]


class SnsRealism(RealismBase):
    """Records which KMS key each SNS topic uses (for the alarm rule)."""

    def _sns(self, call: Call) -> None:
        """Remember which key each topic was created with."""
        name = None
        key = None
        if call.operation == "CreateTopic":
            name = call.first("Name")
            key = call.flat_map("Attributes").get("KmsMasterKeyId")
        elif call.operation == "SetTopicAttributes" and call.first("AttributeName") == (
            "KmsMasterKeyId"
        ):
            name = str(call.first("TopicArn") or "").rsplit(":", 1)[-1]
            key = call.first("AttributeValue") or ""
        if name:
            with self.lock:
                if key:
                    self.rule_state.topic_keys[name] = key
                elif call.operation == "SetTopicAttributes":
                    self.rule_state.topic_keys.pop(name, None)
        if call.operation == "DeleteTopic":
            with self.lock:
                self.rule_state.topic_keys.pop(
                    str(call.first("TopicArn") or "").rsplit(":", 1)[-1], None
                )
