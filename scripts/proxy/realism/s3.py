"""S3 in the realism mode: bucket names, and one conditional write at a time.

The rule checks CreateBucket's bucket name (Amazon S3 User Guide, "General
purpose bucket naming rules"). :func:`is_conditional_write` tells the proxy
which writes to serialise so that moto, like S3, lets only one of concurrent
conditional writes to a key succeed.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from proxy.realism.call import Call
from proxy.realism.checks import Rule, RuleState

S3_BUCKET = r"[a-z0-9][a-z0-9.-]*[a-z0-9]"


def bucket_name(call: Call, _state: RuleState) -> str | None:
    bucket = s3_create_bucket_name(call)
    if bucket is None:
        return None
    problems = [
        (not 3 <= len(bucket) <= 63, "must be 3 to 63 characters long"),
        (
            not re.fullmatch(S3_BUCKET, bucket),
            "may contain only lowercase letters, digits, dots and hyphens, and must begin "
            "and end with a letter or digit",
        ),
        (".." in bucket, "must not contain two adjacent periods"),
        (bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket)), "must not look like an IP address"),
        (bucket.startswith(("xn--", "sthree-")), "must not start with xn-- or sthree-"),
        (bucket.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")), "has a reserved suffix"),
    ]
    for bad, why in problems:
        if bad:
            return f"The specified bucket {bucket!r} is not valid: it {why}"
    return None


def s3_create_bucket_name(call: Call) -> str | None:
    """The bucket of a path-style CreateBucket (``PUT /bucket`` without a subresource)."""
    if call.protocol != "s3" or call.method != "PUT":
        return None
    segments = [s for s in call.path.split("/") if s]
    subresources = set(call.query) - {"x-id"}
    if (
        len(segments) != 1
        or subresources
        or call.query.get("x-id", "CreateBucket") != "CreateBucket"
    ):
        return None
    return urllib.parse.unquote(segments[0])


#: The documented S3 request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "s3.CreateBucket.Bucket",
        "s3",
        ("S3:PUT",),
        "Bucket (CreateBucket)",
        bucket_name,
        "InvalidBucketName",
        "Amazon S3 User Guide, 'General purpose bucket naming rules': Bucket names must be "
        "between 3 (min) and 63 (max) characters long. Bucket names can consist only of "
        "lowercase letters, numbers, periods (.), and hyphens (-). Bucket names must begin and "
        "end with a letter or number. Bucket names must not contain two adjacent periods, must "
        "not be formatted as an IP address, must not start with xn-- or sthree-, and must not "
        "end with -s3alias, --ol-s3, .mrap or --x-s3.",
    ),
]


def is_conditional_write(method: str, headers: Any) -> bool:
    """An S3 PutObject or DeleteObject with If-None-Match or If-Match.

    S3 evaluates the condition and the write as one step: of concurrent
    conditional writes to one key, one succeeds and the others get
    412 Precondition Failed (S3 user guide, "Add preconditions to S3
    operations with conditional requests"). moto reads the key, compares,
    then writes, without a lock, so two threads can both succeed; the proxy
    lets one such request through at a time.
    """
    if method not in ("PUT", "DELETE"):
        return False
    return bool(headers.get("If-None-Match") or headers.get("If-Match"))
