"""Fault injection through the proxy: call counts, latency, throttling, ``--fail`` rules
and the run-time configuration, against a real moto_server.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import botocore.config
import pytest
from botocore.exceptions import ClientError
from helpers import REGION, THROTTLE_CODES, client, control, error_of


# ----------------------------------------------------------------- counting --
def test_counts_calls_per_operation(proxy):
    ec2 = client(proxy, "ec2")
    ec2.describe_vpcs()
    ec2.describe_vpcs()
    ec2.describe_availability_zones()
    client(proxy, "rds").describe_db_clusters()
    client(proxy, "ecs").list_clusters()
    client(proxy, "sts").get_caller_identity()
    s3 = client(proxy, "s3")
    s3.create_bucket(
        Bucket="proxy-count-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.list_buckets()
    s3.delete_bucket(Bucket="proxy-count-bucket")

    stats = control(proxy, "stats")
    calls = stats["calls"]
    assert calls["DescribeVpcs"] == 2
    assert calls["DescribeAvailabilityZones"] == 1
    assert calls["DescribeDBClusters"] == 1
    assert calls["ListClusters"] == 1
    assert calls["GetCallerIdentity"] == 1
    assert calls["S3:PUT"] == 1
    assert calls["S3:GET"] == 1
    assert calls["S3:DELETE"] == 1
    assert stats["total"] == sum(calls.values()) == 9
    assert stats["by_service"]["ec2:DescribeVpcs"] == 2
    assert stats["by_service"]["rds:DescribeDBClusters"] == 1
    assert stats["by_service"]["ecs:ListClusters"] == 1
    assert stats["forwarded"] == calls

    control(proxy, "reset", {})
    assert control(proxy, "stats")["total"] == 0


def test_concurrent_requests_are_all_counted(proxy):
    errors: list[BaseException] = []

    def worker():
        try:
            ecs = client(proxy, "ecs")
            for _ in range(10):
                ecs.list_clusters()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert control(proxy, "stats")["calls"]["ListClusters"] == 80


# ------------------------------------------------------------------ latency --
def test_latency_is_added(proxy):
    sts = client(proxy, "sts")
    sts.get_caller_identity()  # warm up the connection
    start = time.monotonic()
    sts.get_caller_identity()
    baseline = time.monotonic() - start

    control(proxy, "config", {"latency_ms": 400})
    start = time.monotonic()
    sts.get_caller_identity()
    delayed = time.monotonic() - start
    assert delayed >= 0.4
    assert delayed >= baseline + 0.3


# --------------------------------------------------------------- throttling --
def test_throttle_fraction_is_roughly_right_and_seeded(proxy):
    ecs = client(proxy, "ecs")

    def run(n: int) -> list[bool]:
        pattern = []
        for _ in range(n):
            try:
                ecs.list_clusters()
                pattern.append(False)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ThrottlingException"
                pattern.append(True)
        return pattern

    control(proxy, "config", {"throttle_rate": 0.3, "seed": 42})
    first = run(200)
    rate = sum(first) / len(first)
    assert 0.2 <= rate <= 0.4, rate
    stats = control(proxy, "stats")
    assert stats["throttled"]["ListClusters"] == sum(first)
    assert stats["forwarded"]["ListClusters"] == len(first) - sum(first)

    control(proxy, "config", {"seed": 42})  # same seed -> same sequence
    assert run(200) == first

    control(proxy, "config", {"throttle_rate": 0})
    assert not any(run(20))


THROTTLE_CASES = [
    ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),
    ("rds", lambda c: c.describe_db_clusters(), "Throttling", 400),
    ("elbv2", lambda c: c.describe_load_balancers(), "Throttling", 400),
    ("iam", lambda c: c.list_roles(), "Throttling", 400),
    ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),
    ("sns", lambda c: c.list_topics(), "Throttling", 400),
    ("ecs", lambda c: c.list_clusters(), "ThrottlingException", 400),
    ("ecr", lambda c: c.describe_repositories(), "ThrottlingException", 400),
    ("logs", lambda c: c.describe_log_groups(), "ThrottlingException", 400),
    ("secretsmanager", lambda c: c.list_secrets(), "ThrottlingException", 400),
    (
        "application-autoscaling",
        lambda c: c.describe_scalable_targets(ServiceNamespace="ecs"),
        "ThrottlingException",
        400,
    ),
    ("cloudwatch", lambda c: c.describe_alarms(), "ThrottlingException", 400),
    ("s3", lambda c: c.list_buckets(), "SlowDown", 503),
]


@pytest.mark.parametrize(
    ("service", "call", "code", "status"), THROTTLE_CASES, ids=[c[0] for c in THROTTLE_CASES]
)
def test_throttling_error_shape_per_protocol(proxy, service, call, code, status):
    c = client(proxy, service)
    call(c)  # passes through while throttling is off
    control(proxy, "config", {"throttle_rate": 1})
    got_code, got_status = error_of(lambda: call(c))
    assert (got_code, got_status) == (code, status)
    assert got_code in THROTTLE_CODES  # botocore's retry logic treats it as throttling


def test_throttling_is_retried_by_boto3(proxy):
    """With retries on, boto3 classifies the error as retryable and tries again."""
    cfg = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 2})
    for service, call in [
        ("ec2", lambda c: c.describe_vpcs()),
        ("rds", lambda c: c.describe_db_clusters()),
        ("ecs", lambda c: c.list_clusters()),
        ("s3", lambda c: c.list_buckets()),
    ]:
        c = client(proxy, service, cfg)
        control(proxy, "config", {"throttle_rate": 1})
        with pytest.raises(ClientError) as info:
            call(c)
        assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1, service
        control(proxy, "config", {"throttle_rate": 0})


# ------------------------------------------------------------------ failing --
def test_fail_n_times_then_success(proxy):
    ec2 = client(proxy, "ec2")
    control(proxy, "config", {"fail": ["CreateVpc:2"]})
    assert error_of(lambda: ec2.create_vpc(CidrBlock="10.9.0.0/16")) == ("InternalError", 500)
    assert error_of(lambda: ec2.create_vpc(CidrBlock="10.9.0.0/16")) == ("InternalError", 500)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.delete_vpc(VpcId=vpc)
    stats = control(proxy, "stats")
    assert stats["failed"]["CreateVpc"] == 2
    assert stats["forwarded"]["CreateVpc"] == 1
    assert control(proxy, "config")["fail"][0]["remaining"] == 0


def test_fail_with_custom_code_and_default_codes_per_protocol(proxy):
    rds, ecs, s3 = client(proxy, "rds"), client(proxy, "ecs"), client(proxy, "s3")
    control(
        proxy,
        "config",
        {
            "fail": [
                "DescribeDBClusters:1:DBClusterNotFoundFault:404",
                "ListClusters:1",
                "ecs:ListServices:1:ClusterNotFoundException",
                {"operation": "S3:GET", "count": 1, "code": "AccessDenied"},
            ]
        },
    )
    assert error_of(rds.describe_db_clusters) == ("DBClusterNotFoundFault", 404)
    rds.describe_db_clusters()
    assert error_of(ecs.list_clusters) == ("InternalFailure", 500)
    assert error_of(lambda: ecs.list_services(cluster="x")) == ("ClusterNotFoundException", 400)
    assert error_of(s3.list_buckets) == ("AccessDenied", 403)
    s3.list_buckets()


def test_fail_always_until_config_changes(proxy):
    sts = client(proxy, "sts")
    control(proxy, "config", {"fail": ["GetCallerIdentity:-1"]})
    for _ in range(5):
        assert error_of(sts.get_caller_identity) == ("InternalFailure", 500)
    control(proxy, "config", {"fail": []})
    assert sts.get_caller_identity()["Account"]


# ------------------------------------------------------------------- config --
def test_config_at_runtime(proxy):
    cfg = control(proxy, "config")
    assert cfg == {
        "latency_ms": 0.0,
        "throttle_rate": 0.0,
        "seed": 0,
        "throttle_operations": None,
        "fail": [],
        "realism": {
            "rules": False,
            "eventual_consistency_seconds": 0.0,
            "lifecycle_seconds": 0.0,
            "image_pulls": False,
            "deployment_alarm": None,
        },
    }
    cfg = control(
        proxy,
        "config",
        {"throttle_rate": 1, "throttle_operations": ["DescribeVpcs"], "fail": ["A:1"]},
    )
    assert cfg["throttle_operations"] == ["DescribeVpcs"]
    cfg = control(proxy, "config", {"add_fail": [{"operation": "B", "count": -1}]})
    assert [r["operation"] for r in cfg["fail"]] == ["A", "B"]

    ec2 = client(proxy, "ec2")
    assert error_of(ec2.describe_vpcs)[0] == "RequestLimitExceeded"
    ec2.describe_availability_zones()  # not in throttle_operations

    for bad in (
        {"throttle_rate": 2},
        {"latency_ms": -1},
        {"bogus": 1},
        {"fail": ["nocount"]},
        {"realism": {"bogus": True}},
        {"realism": {"lifecycle_seconds": -1}},
        {"realism": {"rules": "yes"}},
        {"realism": "on"},
    ):
        req = urllib.request.Request(
            f"{proxy}/__proxy/config", data=json.dumps(bad).encode(), method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 400
    # A rejected update leaves the configuration untouched.
    assert control(proxy, "config")["throttle_rate"] == 1.0
    assert control(proxy, "health")["ok"] is True
