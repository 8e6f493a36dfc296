"""RDS in the realism mode: its request rules and DB instances / clusters ``creating``.

Rules: cluster / instance / parameter group / subnet group names, the
Serverless v2 capacity range and backup retention (Amazon RDS API Reference).
Lifecycle: for ``lifecycle_seconds`` after a create, DB instances and clusters
show ``creating`` in Create/DescribeDBInstances and Create/DescribeDBClusters.
"""

from __future__ import annotations

from typing import Any
from xml.dom import minidom

from proxy.realism.base import RealismBase, child, text
from proxy.realism.call import Call
from proxy.realism.checks import Check, Rule, all_of, each, in_range, length, min_le_max, pattern

RDS_REF = "Amazon RDS API Reference"
LETTER_DIGIT_HYPHEN_ID = r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)"


def rds_identifier(locator: str, longest: int, what: str) -> Check:
    """1 to ``longest`` letters, digits or hyphens, starting with a letter, not
    ending with a hyphen, without two consecutive hyphens."""
    return each(locator, length(1, longest), pattern(LETTER_DIGIT_HYPHEN_ID, what))


IDENTIFIER_PROBLEM = (
    "must contain only letters, digits and hyphens, start with a letter, not end "
    "with a hyphen and not contain two consecutive hyphens"
)

#: The documented RDS request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "rds.DBClusterIdentifier",
        "rds",
        ("CreateDBCluster",),
        "DBClusterIdentifier",
        rds_identifier("DBClusterIdentifier", 63, IDENTIFIER_PROBLEM),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBCluster: DBClusterIdentifier - Constraints: Must contain from 1 to "
        "63 (for Aurora DB clusters) letters, numbers, or hyphens. First character must be a "
        "letter. Can't end with a hyphen or contain two consecutive hyphens.",
    ),
    Rule(
        "rds.DBInstanceIdentifier",
        "rds",
        ("CreateDBInstance",),
        "DBInstanceIdentifier",
        rds_identifier("DBInstanceIdentifier", 63, IDENTIFIER_PROBLEM),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBInstance: DBInstanceIdentifier - Constraints: Must contain from 1 "
        "to 63 letters, numbers, or hyphens. First character must be a letter. Can't end with "
        "a hyphen or contain two consecutive hyphens.",
    ),
    Rule(
        "rds.DBClusterParameterGroupName",
        "rds",
        ("CreateDBClusterParameterGroup",),  # not CreateDBCluster: it may name default.<family>
        "DBClusterParameterGroupName",
        rds_identifier(
            "DBClusterParameterGroupName",
            255,
            (
                "must be letters, digits or hyphens, start with a letter, not end with a hyphen "
                "and not contain two consecutive hyphens"
            ),
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, DBClusterParameterGroupName (of a new group; stated with the "
        "DBClusterParameterGroup actions and CreateDBCluster) - Constraints: Must be 1 to 255 "
        "letters, numbers, or hyphens. First character must be a letter. Can't end with a "
        "hyphen or contain two consecutive hyphens.",
    ),
    Rule(
        "rds.DBSubnetGroupName",
        "rds",
        ("CreateDBSubnetGroup",),
        "DBSubnetGroupName",
        each(
            "DBSubnetGroupName",
            length(1, 255),
            pattern(
                r"[A-Za-z][A-Za-z0-9._ -]*",
                "must be letters, numbers, periods, "
                "underscores, spaces or hyphens, and start with a letter",
            ),
            lambda v: "must not be default" if str(v).lower() == "default" else None,
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBSubnetGroup: DBSubnetGroupName - Constraints: Must contain no more "
        "than 255 letters, numbers, periods, underscores, spaces, or hyphens. Must not be "
        "default. First character must be a letter.",
    ),
    Rule(
        "rds.ServerlessV2ScalingConfiguration.range",
        "rds",
        ("CreateDBCluster", "ModifyDBCluster"),
        "ServerlessV2ScalingConfiguration.MinCapacity / MaxCapacity",
        all_of(
            each("ServerlessV2ScalingConfiguration.MinCapacity", in_range(0, 256, 0.5)),
            each("ServerlessV2ScalingConfiguration.MaxCapacity", in_range(1, 256, 0.5)),
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, ServerlessV2ScalingConfiguration: MinCapacity - You can specify ACU values "
        "in half-step increments ... the smallest value that you can use is 0 (0.5 without "
        "auto-pause); MaxCapacity - half-step increments; the largest value is 256 (128 for "
        "older versions); the maximum capacity must be higher than 0.5 ACUs.",
    ),
    Rule(
        "rds.ServerlessV2ScalingConfiguration.min-le-max",
        "rds",
        ("CreateDBCluster", "ModifyDBCluster"),
        "ServerlessV2ScalingConfiguration.MinCapacity <= MaxCapacity",
        min_le_max(
            "ServerlessV2ScalingConfiguration.MinCapacity",
            "ServerlessV2ScalingConfiguration.MaxCapacity",
            "MinCapacity ({lo:g}) must not be greater than MaxCapacity ({hi:g})",
        ),
        "InvalidParameterCombination",
        f"{RDS_REF}, ServerlessV2ScalingConfiguration (MinCapacity is the minimum and "
        "MaxCapacity the maximum number of ACUs of the capacity range)",
    ),
    Rule(
        "rds.BackupRetentionPeriod",
        "rds",
        ("CreateDBCluster", "ModifyDBCluster"),
        "BackupRetentionPeriod",
        each("BackupRetentionPeriod", in_range(1, 35, 1)),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBCluster: BackupRetentionPeriod - Constraints: Must be a value from "
        "1 to 35.",
    ),
]

#: Operation -> (element, identifier element, status element) of the DB answers.
DB_ANSWERS = {
    "CreateDBInstance": ("DBInstance", "DBInstanceIdentifier", "DBInstanceStatus"),
    "DescribeDBInstances": ("DBInstance", "DBInstanceIdentifier", "DBInstanceStatus"),
    "CreateDBCluster": ("DBCluster", "DBClusterIdentifier", "Status"),
    "DescribeDBClusters": ("DBCluster", "DBClusterIdentifier", "Status"),
}


#: The Performance Insights fields moto 5.2.5 accepts and drops: request
#: parameter -> the ``DBInstance`` element DescribeDBInstances answers with.
INSIGHTS_FIELDS = {
    "EnablePerformanceInsights": "PerformanceInsightsEnabled",
    "PerformanceInsightsKMSKeyId": "PerformanceInsightsKMSKeyId",
    "PerformanceInsightsRetentionPeriod": "PerformanceInsightsRetentionPeriod",
}


class RdsRealism(RealismBase):
    """Records created DB instances and clusters; shows young ones ``creating``.

    Also, whether or not the realism mode is on, keeps the Performance
    Insights settings of Create/ModifyDBInstance (which moto drops) and puts
    them back into DescribeDBInstances, as RDS answers them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.db_instances: dict[str, float] = {}  # lower-case identifier
        self.db_clusters: dict[str, float] = {}
        self.insights: dict[str, dict[str, str]] = {}  # lower-case identifier

    def _insights(self, call: Call, body: bytes) -> bytes:
        op = call.operation
        if op in ("CreateDBInstance", "ModifyDBInstance"):
            ident = str(call.first("DBInstanceIdentifier") or "").lower()
            given = {
                element: str(call.first(param))
                for param, element in INSIGHTS_FIELDS.items()
                if call.first(param) is not None
            }
            if ident and given:
                with self.lock:
                    self.insights.setdefault(ident, {}).update(given)
            return body
        if op != "DescribeDBInstances" or not self.insights:
            return body
        dom = minidom.parseString(body)
        changed = False
        for node in dom.getElementsByTagName("DBInstance"):
            ident = (text(child(node, "DBInstanceIdentifier")) or "").lower()
            with self.lock:
                fields = dict(self.insights.get(ident, {}))
            for element, value in fields.items():
                existing = child(node, element)
                if existing is not None:
                    node.removeChild(existing)
                el = dom.createElement(element)
                el.appendChild(dom.createTextNode(value))
                node.appendChild(el)
                changed = True
        return dom.toxml(encoding="utf-8") if changed else body

    def _rds(self, call: Call, body: bytes) -> bytes:
        body = self._insights(call, body)
        if not self.config.active:
            return body
        op = call.operation
        if op in ("CreateDBInstance", "CreateDBCluster"):
            ident = call.first(
                "DBInstanceIdentifier" if op == "CreateDBInstance" else "DBClusterIdentifier"
            )
            if ident:
                table = self.db_instances if op == "CreateDBInstance" else self.db_clusters
                with self.lock:
                    table[str(ident).lower()] = self.clock()
        if op not in DB_ANSWERS or self.config.lifecycle_seconds <= 0:
            return body
        element, id_tag, status_tag = DB_ANSWERS[op]
        table = self.db_instances if element == "DBInstance" else self.db_clusters

        def states(dom: minidom.Document) -> list[tuple[str | None, minidom.Element | None]]:
            return [
                ((text(child(node, id_tag)) or "").lower(), child(node, status_tag))
                for node in dom.getElementsByTagName(element)
            ]

        return self._rewrite_states(op, body, states, [("available", "creating", table)])
