"""Canned answers for operations moto does not implement but the provisioner needs.

moto answers them with HTTP 500; the proxy answers them itself, the way AWS
does (unless run with ``--no-cbor-bridge``). Kept deliberately tiny.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

#: The Aurora PostgreSQL versions the emulated region "offers" (newest 16.x: 16.6).
AURORA_POSTGRES_VERSIONS = [
    ("15.10", "available"),
    ("16.2", "available"),
    ("16.4", "available"),
    ("16.6", "available"),
    ("16.8", "deprecated"),
    ("17.2", "available"),
]


def describe_db_engine_versions() -> bytes:
    entries = "".join(
        "<DBEngineVersion><Engine>aurora-postgresql</Engine>"
        f"<EngineVersion>{v}</EngineVersion>"
        f"<MajorEngineVersion>{v.split('.')[0]}</MajorEngineVersion>"
        f"<DBParameterGroupFamily>aurora-postgresql{v.split('.')[0]}</DBParameterGroupFamily>"
        f"<Status>{status}</Status></DBEngineVersion>"
        for v, status in AURORA_POSTGRES_VERSIONS
    )
    return (
        '<DescribeDBEngineVersionsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">'
        f"<DescribeDBEngineVersionsResult><DBEngineVersions>{entries}</DBEngineVersions>"
        "</DescribeDBEngineVersionsResult><ResponseMetadata>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</DescribeDBEngineVersionsResponse>"
    ).encode()


#: Operation -> function returning the body of its (text/xml) answer.
GAP_FILLERS: dict[str, Callable[[], bytes]] = {
    "DescribeDBEngineVersions": describe_db_engine_versions
}
