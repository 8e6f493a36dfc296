"""Tests for scripts/fault_proxy.py against a real moto_server.

moto is started with ``MOTO_INSTANCE=proxytest scripts/moto.sh start`` (and
stopped again afterwards if this module started it). Run via
``scripts/test-scripts.sh`` or ``.venv-moto/bin/python -m pytest scripts/tests``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import http.client
import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker

SCRIPTS = Path(__file__).resolve().parents[1]
MOTO_SH = SCRIPTS / "moto.sh"
PROXY = SCRIPTS / "fault_proxy.py"
INSTANCE = "proxytest"
REGION = "ap-southeast-2"
THROTTLE_CODES = set(ThrottledRetryableChecker()._throttled_error_codes)

_spec = importlib.util.spec_from_file_location("fault_proxy", PROXY)
assert _spec is not None and _spec.loader is not None
fault_proxy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fault_proxy)


# ------------------------------------------------------------------ fixtures --
def _moto(cmd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOTO_INSTANCE": INSTANCE}
    return subprocess.run(
        [str(MOTO_SH), cmd], env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="session")
def moto_url():
    was_running = _moto("status").returncode == 0
    started = _moto("start")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:")
    yield url
    if not was_running:
        _moto("stop")


def _start_proxy(moto_url: str, *extra: str) -> tuple[subprocess.Popen[str], int, Path]:
    port_file = Path(tempfile.mkdtemp(prefix="fault-proxy-")) / "port"
    proc = subprocess.Popen(
        [sys.executable, str(PROXY), "--upstream", moto_url, "--port-file", str(port_file), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited early: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("proxy did not write its port file")
        time.sleep(0.05)
    return proc, int(port_file.read_text().strip()), port_file


@pytest.fixture(scope="session")
def proxy(moto_url):
    proc, port, _ = _start_proxy(moto_url)
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def control(base: str, name: str, body: dict | None = None, method: str | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{base}/__proxy/{name}", data=data, method=method or ("GET" if data is None else "POST")
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture(autouse=True)
def clean_proxy(request):
    if "proxy" not in request.fixturenames:
        yield
        return
    base = request.getfixturevalue("proxy")
    control(
        base,
        "config",
        {"latency_ms": 0, "throttle_rate": 0, "seed": 0, "fail": [], "realism": False},
    )
    control(base, "reset", {})
    yield
    control(base, "config", {"latency_ms": 0, "throttle_rate": 0, "fail": [], "realism": False})


NO_RETRY = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})


def client(base: str, service: str, config: botocore.config.Config = NO_RETRY):
    return boto3.client(
        service,
        endpoint_url=base,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def cbor_cloudwatch(base: str, config: botocore.config.Config = NO_RETRY):
    """A CloudWatch client that speaks smithy-rpc-v2-cbor, like aws-sdk-rust does."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    data_dir = Path(tempfile.mkdtemp(prefix="cw-cbor-model-"))
    target = data_dir / "cloudwatch" / model["metadata"]["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(data_dir))
    return boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=base,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


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


def test_cbor_cloudwatch_is_bridged_and_throttled(proxy):
    cw = cbor_cloudwatch(proxy)
    cw.put_metric_alarm(
        AlarmName="proxy-cbor-alarm",
        MetricName="CPUUtilization",
        Namespace="AWS/ECS",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=80,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "EnvironmentSuffix", "Value": "t1"}],
    )
    alarms = cw.describe_alarms(AlarmNamePrefix="proxy-cbor")["MetricAlarms"]
    assert [a["AlarmName"] for a in alarms] == ["proxy-cbor-alarm"]
    assert alarms[0]["Threshold"] == 80.0
    assert isinstance(alarms[0]["StateUpdatedTimestamp"], datetime.datetime)
    cw.put_dashboard(DashboardName="proxy-cbor-dash", DashboardBody='{"widgets": []}')
    entries = cw.list_dashboards(DashboardNamePrefix="proxy-cbor")["DashboardEntries"]
    assert entries[0]["DashboardName"] == "proxy-cbor-dash"
    assert isinstance(entries[0]["LastModified"], datetime.datetime)
    assert error_of(lambda: cw.get_dashboard(DashboardName="missing")) == ("ResourceNotFound", 404)

    stats = control(proxy, "stats")
    assert stats["calls"]["PutMetricAlarm"] == 1
    assert stats["by_service"]["monitoring:DescribeAlarms"] == 1

    control(proxy, "config", {"throttle_rate": 1})
    code, status = error_of(cw.describe_alarms)
    assert code in THROTTLE_CODES
    assert status == 400
    control(proxy, "config", {"throttle_rate": 0})
    cw.delete_alarms(AlarmNames=["proxy-cbor-alarm"])
    cw.delete_dashboards(DashboardNames=["proxy-cbor-dash"])


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


# ----------------------------------------------------------------- bodies ---
def test_bodies_are_forwarded_faithfully(proxy):
    s3 = client(proxy, "s3")
    bucket = "proxy-body-bucket"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    payload = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=bucket, Key="blob", Body=payload)
    assert s3.get_object(Bucket=bucket, Key="blob")["Body"].read() == payload
    assert s3.head_object(Bucket=bucket, Key="blob")["ContentLength"] == len(payload)

    # A chunked request body is de-chunked and forwarded with Content-Length.
    host, port = proxy.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("PUT", f"/{bucket}/chunked")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for part in (b"hello ", b"chunked ", b"world"):
        conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 200
    conn.close()
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"hello chunked world"

    for key in ("blob", "chunked"):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def test_gzip_request_body_is_forwarded(proxy):
    cfg = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        request_min_compression_size_bytes=1,
    )
    cw = client(proxy, "cloudwatch", cfg)
    cw.put_metric_data(
        Namespace="ProxyGzip",
        MetricData=[{"MetricName": "m", "Value": 1.0, "Unit": "Count"}],
    )
    metrics = cw.list_metrics(Namespace="ProxyGzip")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["m"]
    assert control(proxy, "stats")["calls"]["PutMetricData"] == 1


# ---------------------------------------------------------------- process ---
def test_sigterm_exits_cleanly_and_removes_port_file(moto_url):
    proc, port, port_file = _start_proxy(moto_url, "--latency-ms", "5")
    client(f"http://127.0.0.1:{port}", "sts").get_caller_identity()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not port_file.exists()
    out = proc.stdout.read() if proc.stdout else ""
    assert f"listening on http://127.0.0.1:{port}" in out


def test_refuses_non_loopback_upstream():
    proc = subprocess.run(
        [sys.executable, str(PROXY), "--upstream", "http://10.1.2.3:5000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "loopback" in proc.stderr


def test_cli_fail_rules_and_bad_rules(moto_url):
    proc, port, _ = _start_proxy(moto_url, "--fail", "GetCallerIdentity:1:Throttling")
    try:
        sts = client(f"http://127.0.0.1:{port}", "sts")
        assert error_of(sts.get_caller_identity) == ("Throttling", 400)
        sts.get_caller_identity()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    bad = subprocess.run(
        [sys.executable, str(PROXY), "--upstream", moto_url, "--fail", "Nope"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2


# -------------------------------------------------------------------- unit --
def test_cbor_round_trip():
    assert fault_proxy.cbor2 is not None  # the codec is the pinned cbor2 package
    value = {"a": [1, -5, 2.5, "x", b"\x00\x01", True, None], "n": 2**40, "m": {}}
    assert fault_proxy.cbor_decode(fault_proxy.cbor_encode(value)) == value
    assert fault_proxy.cbor_encode(2.5) == b"\xfb" + struct.pack(">d", 2.5)  # doubles stay 64-bit
    # Indefinite-length map / array as aws-smithy-cbor writes them.
    indefinite = bytes([0xBF, 0x61, 0x6B, 0x9F, 0x01, 0xFF, 0xFF])
    assert fault_proxy.cbor_decode(indefinite) == {"k": [1]}
    assert fault_proxy.cbor_decode(b"") == {}
    for broken in (b"\x9f\x01", b"\x01\x02", b"\x1c"):  # truncated, trailing bytes, bad info
        with pytest.raises(fault_proxy.CborError):
            fault_proxy.cbor_decode(broken)
    # Timestamps are encoded as tag 1 (whole seconds as an integer, else a float) ...
    ts = fault_proxy.json_to_cbor_typed(
        {"Timestamp": 1700000000, "StartDate": "2023-11-14T22:13:20.5Z", "Threshold": 80}
    )
    encoded = fault_proxy.cbor_encode(ts)
    assert b"\xc1\x1a" in encoded  # tag 1 + uint32
    assert b"\xc1\xfb" in encoded  # tag 1 + float64
    # ... and tag 1 from the SDK reaches moto as epoch seconds.
    assert fault_proxy.cbor_to_json_compatible(fault_proxy.cbor_decode(encoded)) == {
        "Timestamp": 1700000000,
        "StartDate": 1700000000.5,
        "Threshold": 80.0,
    }
    # Dimension values are strings even though "Value" is also a double member.
    assert fault_proxy.json_to_cbor_typed({"Value": "abc"}) == {"Value": "abc"}
    # Tags other than timestamps keep their content; blobs become base64.
    assert fault_proxy.cbor_to_json_compatible(
        fault_proxy.cbor_decode(bytes.fromhex("a2616ad82063616263616242beef"))
    ) == {"j": "abc", "b": "vu8="}


def test_classify():
    classify = fault_proxy.classify
    auth = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20250101/ap-southeast-2/ec2/aws4_request"
    }
    body = b"Action=CreateVpc&Version=2016-11-15"
    headers = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    assert classify("POST", "/", headers, body) == ("ec2", "ec2", "CreateVpc")
    assert classify(
        "POST",
        "/",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"Action=DescribeDBClusters&Version=2014-10-31",
    ) == ("query", "unknown", "DescribeDBClusters")
    assert (
        classify("POST", "/", {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.X"}, b"")[2]
        == "X"
    )
    assert classify(
        "POST",
        "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm",
        {"Smithy-Protocol": "rpc-v2-cbor"},
        b"",
    ) == ("cbor", "GraniteServiceVersion20100801", "PutMetricAlarm")
    assert classify("HEAD", "/bucket/key", {}, b"") == ("s3", "s3", "S3:HEAD")


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(SystemExit):
        sys.exit(pytest.main([__file__, "-v"]))


def test_describe_db_engine_versions_is_answered_for_moto(proxy):
    rds = client(proxy, "rds")
    out = rds.describe_db_engine_versions(Engine="aurora-postgresql")
    versions = {v["EngineVersion"]: v["Status"] for v in out["DBEngineVersions"]}
    assert versions["16.6"] == "available"
    assert versions["16.8"] == "deprecated"
    assert all(
        v["DBParameterGroupFamily"].startswith("aurora-postgresql") for v in out["DBEngineVersions"]
    )
    assert control(proxy, "stats")["calls"]["DescribeDBEngineVersions"] == 1


def test_exit_with_parent_stops_the_proxy(moto_url):
    # A parent shell starts the proxy and exits; the proxy must follow.
    script = (
        f"{sys.executable} {PROXY} --upstream {moto_url} --port 0 --exit-with-parent "
        ">/dev/null 2>&1 & echo $!; sleep 2"
    )
    pid = int(
        subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the proxy outlived its parent")


# ------------------------------------------------------------------ realism --
aws_realism = fault_proxy.aws_realism
ACCOUNT = "123456789012"


def realism(base: str, **parts) -> dict:
    spec = {"rules": False, "eventual_consistency_seconds": 0, "lifecycle_seconds": 0}
    spec |= {"image_pulls": False} | parts
    return control(base, "config", {"realism": spec})["realism"]


def violations(base: str) -> list[dict]:
    return control(base, "realism/violations")["violations"]


def test_realism_rule_sg_group_name(proxy):
    ec2 = client(proxy, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    try:
        # moto alone accepts a name AWS refuses ...
        sg = ec2.create_security_group(GroupName="sg-x", Description="d", VpcId=vpc)["GroupId"]
        ec2.delete_security_group(GroupId=sg)
        assert violations(proxy) == []
        # ... the rules part refuses it the way EC2 does.
        realism(proxy, rules=True)
        for name, description in [("sg-x", "d"), ("g" * 256, "d"), ("ok", "ä")]:
            create = functools.partial(
                ec2.create_security_group, GroupName=name, Description=description, VpcId=vpc
            )
            assert error_of(create) == ("InvalidParameterValue", 400), name
        sg = ec2.create_security_group(GroupName="app-x", Description="App: from ALB", VpcId=vpc)
        ec2.delete_security_group(GroupId=sg["GroupId"])

        stats = control(proxy, "stats")
        rules = [r["rule"] for r in stats["realism_rejections"]]
        assert rules == [
            "ec2.CreateSecurityGroup.GroupName",
            "ec2.CreateSecurityGroup.GroupName",
            "ec2.CreateSecurityGroup.GroupDescription",
        ]
        assert {r["operation"] for r in stats["realism_rejections"]} == {"CreateSecurityGroup"}
        assert "sg-" in stats["realism_rejections"][0]["message"]
        assert stats["forwarded"]["CreateSecurityGroup"] == 2  # the refused calls never left
        assert control(proxy, "realism/violations")["count"] == 3
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_realism_rule_modify_vpc_attribute_one_at_a_time(proxy):
    ec2 = client(proxy, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    both = {"EnableDnsSupport": {"Value": True}, "EnableDnsHostnames": {"Value": True}}
    try:
        ec2.modify_vpc_attribute(VpcId=vpc, **both)  # moto takes both at once
        realism(proxy, rules=True)
        code = error_of(lambda: ec2.modify_vpc_attribute(VpcId=vpc, **both))
        assert code == ("InvalidParameterCombination", 400)
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        assert [v["rule"] for v in violations(proxy)] == ["ec2.ModifyVpcAttribute.one-attribute"]
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_realism_rule_ecs_client_token(proxy):
    ecs = client(proxy, "ecs")
    ecs.create_cluster(clusterName="realism-token")
    ecs.register_task_definition(
        family="realism-token",
        containerDefinitions=[{"name": "c", "image": "busybox", "memory": 128}],
    )
    common = {"cluster": "realism-token", "taskDefinition": "realism-token", "desiredCount": 0}
    try:
        ecs.create_service(serviceName="long", clientToken="t" * 45, **common)  # moto: fine
        realism(proxy, rules=True)
        code = error_of(
            lambda: ecs.create_service(serviceName="long2", clientToken="t" * 45, **common)
        )
        assert code == ("InvalidParameterException", 400)
        ecs.create_service(serviceName="short", clientToken="t" * 36, **common)
        (v,) = violations(proxy)
        assert v["rule"] == "ecs.CreateService.clientToken"
        assert v["operation"] == "CreateService"
    finally:
        for name in ("long", "short"):
            ecs.delete_service(cluster="realism-token", service=name, force=True)
        ecs.delete_cluster(cluster="realism-token")


FARGATE_TD = {
    "family": "realism-td",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "containerDefinitions": [{"name": "app", "image": "busybox", "stopTimeout": 30}],
}
RULE_CASES = [
    # (service, call, error code, rule id): one per protocol and family of rules
    (
        "ec2",
        lambda c: c.create_nat_gateway(SubnetId="subnet-1", AllocationId="a", ClientToken="c" * 65),
        "InvalidParameterValue",
        "ec2.ClientToken",
    ),
    (
        "ecs",
        lambda c: c.register_task_definition(**FARGATE_TD, cpu="256", memory="4096"),
        "ClientException",
        "ecs.RegisterTaskDefinition.fargate-cpu-memory",
    ),
    (
        "ecs",
        lambda c: c.register_task_definition(
            **(
                FARGATE_TD
                | {"containerDefinitions": [{"name": "a", "image": "b", "stopTimeout": 121}]}
            ),
            cpu="1 vCPU",
            memory="2 GB",
        ),
        "ClientException",
        "ecs.RegisterTaskDefinition.stopTimeout",
    ),
    (
        "ecs",
        lambda c: c.register_task_definition(
            family="bad family", containerDefinitions=[{"name": "a", "image": "b"}]
        ),
        "ClientException",
        "ecs.RegisterTaskDefinition.family",
    ),
    (
        "rds",
        lambda c: c.create_db_cluster(DBClusterIdentifier="1db", Engine="aurora-postgresql"),
        "InvalidParameterValue",
        "rds.DBClusterIdentifier",
    ),
    (
        "rds",
        lambda c: c.create_db_instance(
            DBInstanceIdentifier="db--1",
            DBInstanceClass="db.serverless",
            Engine="aurora-postgresql",
        ),
        "InvalidParameterValue",
        "rds.DBInstanceIdentifier",
    ),
    (
        "rds",
        lambda c: c.create_db_cluster_parameter_group(
            DBClusterParameterGroupName="params-", DBParameterGroupFamily="f", Description="d"
        ),
        "InvalidParameterValue",
        "rds.DBClusterParameterGroupName",
    ),
    (
        "rds",
        lambda c: c.create_db_subnet_group(
            DBSubnetGroupName="1subnets", DBSubnetGroupDescription="d", SubnetIds=["subnet-1"]
        ),
        "InvalidParameterValue",
        "rds.DBSubnetGroupName",
    ),
    (
        "rds",
        lambda c: c.modify_db_cluster(
            DBClusterIdentifier="db",
            ServerlessV2ScalingConfiguration={"MinCapacity": 300, "MaxCapacity": 301},
        ),
        "InvalidParameterValue",
        "rds.ServerlessV2ScalingConfiguration.range",
    ),
    (
        "rds",
        lambda c: c.modify_db_cluster(
            DBClusterIdentifier="db",
            ServerlessV2ScalingConfiguration={"MinCapacity": 8, "MaxCapacity": 2},
        ),
        "InvalidParameterCombination",
        "rds.ServerlessV2ScalingConfiguration.min-le-max",
    ),
    (
        "elbv2",
        lambda c: c.create_load_balancer(Name="-alb", Subnets=["subnet-1"]),
        "ValidationError",
        "elbv2.CreateLoadBalancer.Name",
    ),
    (
        "elbv2",
        lambda c: c.create_target_group(Name="t" * 33, Protocol="HTTP", Port=80, VpcId="vpc-1"),
        "ValidationError",
        "elbv2.CreateTargetGroup.Name",
    ),
    (
        "elbv2",
        lambda c: c.create_target_group(
            Name="tg", Protocol="HTTP", Port=80, VpcId="vpc-1", HealthCheckIntervalSeconds=301
        ),
        "ValidationError",
        "elbv2.HealthCheck.ranges",
    ),
    (
        "elbv2",
        lambda c: c.modify_target_group(
            TargetGroupArn="arn:x", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=10
        ),
        "ValidationError",
        "elbv2.HealthCheck.timeout-below-interval",
    ),
    (
        "elbv2",
        lambda c: c.modify_target_group_attributes(
            TargetGroupArn="arn:x", Attributes=[{"Key": f"k{i}", "Value": "v"} for i in range(21)]
        ),
        "ValidationError",
        "elbv2.Attributes.max-20",
    ),
    (
        "iam",
        lambda c: c.create_role(RoleName="r" * 65, AssumeRolePolicyDocument="{}"),
        "ValidationError",
        "iam.RoleName",
    ),
    (
        "iam",
        lambda c: c.create_role(RoleName="r", Path="provision/", AssumeRolePolicyDocument="{}"),
        "ValidationError",
        "iam.CreateRole.Path",
    ),
    (
        "iam",
        lambda c: c.put_role_policy(RoleName="r", PolicyName="p" * 129, PolicyDocument="{}"),
        "ValidationError",
        "iam.PolicyName",
    ),
    (
        "s3",
        lambda c: c.create_bucket(
            Bucket="Realism_Bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
        ),
        "InvalidBucketName",
        "s3.CreateBucket.Bucket",
    ),
    ("sns", lambda c: c.create_topic(Name="alarms.v2"), "InvalidParameter", "sns.CreateTopic.Name"),
    (
        "logs",
        lambda c: c.create_log_group(logGroupName="/app/logs:1"),
        "InvalidParameterException",
        "logs.logGroupName",
    ),
    (
        "logs",
        lambda c: c.put_retention_policy(logGroupName="/app", retentionInDays=31),
        "InvalidParameterException",
        "logs.PutRetentionPolicy.retentionInDays",
    ),
    (
        "secretsmanager",
        lambda c: c.create_secret(Name="db connection", SecretString="x"),
        "ValidationException",
        "secretsmanager.CreateSecret.Name",
    ),
    (
        "ecr",
        lambda c: c.create_repository(repositoryName="Provision/API"),
        "InvalidParameterException",
        "ecr.CreateRepository.repositoryName",
    ),
    (
        "cloudwatch",
        lambda c: c.put_metric_alarm(
            AlarmName="a",
            MetricName="m",
            Namespace="n",
            Statistic="Average",
            Period=90,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        ),
        "ValidationError",
        "cloudwatch.PutMetricAlarm.Period",
    ),
    (
        "application-autoscaling",
        lambda c: c.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId="service/c/s",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=5,
            MaxCapacity=2,
        ),
        "ValidationException",
        "application-autoscaling.RegisterScalableTarget.min-le-max",
    ),
]


@pytest.mark.parametrize(
    ("service", "call", "code", "rule"), RULE_CASES, ids=[c[3] for c in RULE_CASES]
)
def test_realism_rules_answer_in_each_protocol(proxy, service, call, code, rule):
    realism(proxy, rules=True)
    assert error_of(lambda: call(client(proxy, service))) == (code, 400)
    (v,) = control(proxy, "stats")["realism_rejections"]
    assert v["rule"] == rule
    assert v["message"]


def test_realism_rules_accept_what_the_provisioner_sends(proxy):
    """Valid values (the shapes provision uses) pass every rule."""
    realism(proxy, rules=True)
    ecs = client(proxy, "ecs")
    td = ecs.register_task_definition(
        **FARGATE_TD | {"family": "task-api-dev1"}, cpu="512", memory="1024"
    )["taskDefinition"]
    ecs.deregister_task_definition(taskDefinition=td["taskDefinitionArn"])
    logs = client(proxy, "logs")
    logs.create_log_group(logGroupName="/provision/dev1/vpc-flow-logs")
    logs.put_retention_policy(logGroupName="/provision/dev1/vpc-flow-logs", retentionInDays=30)
    logs.delete_log_group(logGroupName="/provision/dev1/vpc-flow-logs")
    iam = client(proxy, "iam")
    iam.create_role(
        RoleName="role-task-dev1", Path="/provision/dev1/", AssumeRolePolicyDocument="{}"
    )
    iam.delete_role(RoleName="role-task-dev1")
    s3 = client(proxy, "s3")
    bucket = f"s3-alblogs-dev1-{ACCOUNT}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="Upper_Case/key", Body=b"x")  # only CreateBucket is checked
    s3.delete_object(Bucket=bucket, Key="Upper_Case/key")
    s3.delete_bucket(Bucket=bucket)
    assert violations(proxy) == []


def test_realism_rule_alarm_on_topic_with_aws_managed_key(proxy):
    sns, cw = client(proxy, "sns"), cbor_cloudwatch(proxy)
    managed = sns.create_topic(
        Name="realism-managed", Attributes={"KmsMasterKeyId": "alias/aws/sns"}
    )
    customer = sns.create_topic(
        Name="realism-cmk",
        Attributes={"KmsMasterKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd"},
    )
    alarm = {
        "MetricName": "CPUUtilization",
        "Namespace": "AWS/ECS",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 80,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    try:
        cw.put_metric_alarm(AlarmName="realism-a1", AlarmActions=[managed["TopicArn"]], **alarm)
        realism(proxy, rules=True)
        put = functools.partial(
            cw.put_metric_alarm, AlarmName="realism-a2", OKActions=[managed["TopicArn"]], **alarm
        )
        assert error_of(put) == ("ValidationError", 400)  # over rpc-v2-cbor, as the Rust SDK
        (v,) = violations(proxy)
        assert v["rule"] == "cloudwatch.PutMetricAlarm.sns-aws-managed-key"
        assert "AWS managed key" in v["message"]
        cw.put_metric_alarm(AlarmName="realism-a3", AlarmActions=[customer["TopicArn"]], **alarm)
        # Moving the topic to a customer managed key makes it usable.
        sns.set_topic_attributes(
            TopicArn=managed["TopicArn"],
            AttributeName="KmsMasterKeyId",
            AttributeValue=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5678",
        )
        cw.put_metric_alarm(AlarmName="realism-a2", OKActions=[managed["TopicArn"]], **alarm)
    finally:
        cw.delete_alarms(AlarmNames=["realism-a1", "realism-a2", "realism-a3"])
        for topic in (managed, customer):
            sns.delete_topic(TopicArn=topic["TopicArn"])


def test_realism_eventual_consistency(proxy):
    ec2 = client(proxy, "ec2")
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    realism(proxy, eventual_consistency_seconds=2.0)
    vpc = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    try:
        subnet = functools.partial(ec2.create_subnet, VpcId=vpc, CidrBlock="10.63.1.0/24")
        assert error_of(subnet) == ("InvalidVpcID.NotFound", 400)
        tags = functools.partial(
            ec2.create_tags, Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}]
        )
        assert error_of(tags) == ("InvalidVpcID.NotFound", 400)
        assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]  # describes are not affected
        time.sleep(2.1)
        sub = subnet()["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="realism-ec", Description="d", VpcId=vpc)
        rule = {
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        }
        ingress = functools.partial(
            ec2.authorize_security_group_ingress, GroupId=sg["GroupId"], IpPermissions=[rule]
        )
        assert error_of(ingress) == ("InvalidGroup.NotFound", 400)
        nat = functools.partial(ec2.create_nat_gateway, SubnetId=sub, AllocationId=eip)
        assert error_of(nat) == ("InvalidSubnetID.NotFound", 400)  # the EIP is old enough
        time.sleep(2.1)
        ingress()
        nat_id = nat()["NatGateway"]["NatGatewayId"]

        stats = control(proxy, "stats")
        got = [(r["operation"], r["code"]) for r in stats["eventual_consistency_rejections"]]
        assert got == [
            ("CreateSubnet", "InvalidVpcID.NotFound"),
            ("CreateTags", "InvalidVpcID.NotFound"),
            ("AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound"),
            ("CreateNatGateway", "InvalidSubnetID.NotFound"),
        ]
        assert stats["eventual_consistency_rejections"][0]["resource"] == vpc
        assert violations(proxy) == []  # not a rule violation: the call was fine
        ec2.delete_nat_gateway(NatGatewayId=nat_id)
        ec2.delete_security_group(GroupId=sg["GroupId"])
        ec2.delete_subnet(SubnetId=sub)
    finally:
        ec2.delete_vpc(VpcId=vpc)
        with contextlib.suppress(ClientError):
            ec2.release_address(AllocationId=eip)


def test_realism_lifecycle_nat_gateway(proxy):
    ec2 = client(proxy, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.64.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.64.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    realism(proxy, lifecycle_seconds=1.5)

    def state(nat_id: str) -> str:
        return ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]["State"]

    try:
        created = ec2.create_nat_gateway(SubnetId=sub, AllocationId=eip)["NatGateway"]
        nat_id = created["NatGatewayId"]
        assert created["State"] == "pending"
        assert state(nat_id) == "pending"
        time.sleep(1.6)
        assert state(nat_id) == "available"
        ec2.delete_nat_gateway(NatGatewayId=nat_id)
        assert state(nat_id) == "deleting"
        time.sleep(1.6)
        assert state(nat_id) == "deleted"
        rewrites = control(proxy, "stats")["lifecycle_rewrites"]
        assert rewrites == {"CreateNatGateway": 1, "DescribeNatGateways": 2}
    finally:
        with contextlib.suppress(ClientError):
            ec2.release_address(AllocationId=eip)
        ec2.delete_subnet(SubnetId=sub)
        ec2.delete_vpc(VpcId=vpc)


def test_realism_lifecycle_load_balancer_database_and_service(proxy):
    ec2, elb, rds, ecs = (client(proxy, s) for s in ("ec2", "elbv2", "rds", "ecs"))
    vpc = ec2.create_vpc(CidrBlock="10.65.0.0/16")["Vpc"]["VpcId"]
    subs = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.65.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    ecs.create_cluster(clusterName="realism-life")
    ecs.register_task_definition(
        family="realism-life",
        containerDefinitions=[{"name": "c", "image": "busybox", "memory": 128}],
    )
    realism(proxy, lifecycle_seconds=3.0)
    try:
        lb = elb.create_load_balancer(Name="realism-life", Subnets=subs)["LoadBalancers"][0]
        arn = lb["LoadBalancerArn"]
        rds.create_db_cluster(
            DBClusterIdentifier="realism-life",
            Engine="aurora-postgresql",
            MasterUsername="app",
            MasterUserPassword="password-1",
        )
        inst = rds.create_db_instance(
            DBInstanceIdentifier="realism-life-1",
            DBClusterIdentifier="realism-life",
            DBInstanceClass="db.serverless",
            Engine="aurora-postgresql",
        )["DBInstance"]
        svc = ecs.create_service(
            cluster="realism-life", serviceName="api", taskDefinition="realism-life", desiredCount=2
        )["service"]
        settled = time.monotonic() + 3.1  # every window (counted from its create) is over

        def now() -> tuple:
            (d,) = ecs.describe_services(cluster="realism-life", services=["api"])["services"]
            return (
                elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"][
                    "Code"
                ],
                rds.describe_db_instances(DBInstanceIdentifier="realism-life-1")["DBInstances"][0][
                    "DBInstanceStatus"
                ],
                rds.describe_db_clusters(DBClusterIdentifier="realism-life")["DBClusters"][0][
                    "Status"
                ],
                d["deployments"][0]["rolloutState"],
                d["runningCount"],
            )

        assert inst["DBInstanceStatus"] == "creating"
        assert svc["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        assert now() == ("provisioning", "creating", "creating", "IN_PROGRESS", 0)
        time.sleep(max(0.0, settled - time.monotonic()))
        assert now() == ("active", "available", "available", "COMPLETED", 2)
    finally:
        ecs.delete_service(cluster="realism-life", service="api", force=True)
        ecs.delete_cluster(cluster="realism-life")
        rds.delete_db_instance(DBInstanceIdentifier="realism-life-1", SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier="realism-life", SkipFinalSnapshot=True)
        for lb in elb.describe_load_balancers(Names=["realism-life"])["LoadBalancers"]:
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        for sub in subs:
            ec2.delete_subnet(SubnetId=sub)
        ec2.delete_vpc(VpcId=vpc)


def test_realism_image_pulls(proxy):
    ecr, ecs = client(proxy, "ecr"), client(proxy, "ecs")
    uri = ecr.create_repository(repositoryName="realism/api")["repository"]["repositoryUri"]
    assert uri == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/realism/api"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "x", "size": 1, "digest": "sha256:" + "a" * 64},
        "layers": [],
    }
    ecr.put_image(repositoryName="realism/api", imageManifest=json.dumps(manifest), imageTag="v1")
    ecs.create_cluster(clusterName="realism-pull")

    def task_def(image: str) -> str:
        return ecs.register_task_definition(
            family="realism-pull",
            containerDefinitions=[
                {"name": "app", "image": image, "memory": 128},
                {"name": "sidecar", "image": "public.ecr.aws/aws-observability/x:v1", "memory": 64},
            ],
        )["taskDefinition"]["taskDefinitionArn"]

    def primary(name: str) -> tuple[dict, dict]:
        (svc,) = ecs.describe_services(cluster="realism-pull", services=[name])["services"]
        return svc, next(d for d in svc["deployments"] if d["status"] == "PRIMARY")

    good, missing = task_def(f"{uri}:v1"), task_def(f"{uri}:v2-not-pushed")
    realism(proxy, image_pulls=True)
    try:
        ecs.create_service(
            cluster="realism-pull", serviceName="bad", taskDefinition=missing, desiredCount=1
        )
        ecs.create_service(
            cluster="realism-pull", serviceName="good", taskDefinition=good, desiredCount=1
        )
        ecs.create_service(
            cluster="realism-pull", serviceName="idle", taskDefinition=missing, desiredCount=0
        )
        svc, dep = primary("bad")
        assert dep["rolloutState"] == "FAILED"
        assert "CannotPullContainerError" in dep["rolloutStateReason"]
        assert f"{uri}:v2-not-pushed" in dep["rolloutStateReason"]
        assert (svc["runningCount"], dep["runningCount"]) == (0, 0)
        assert "CannotPullContainerError" in svc["events"][0]["message"]
        assert primary("good")[1]["rolloutState"] == "COMPLETED"
        assert primary("idle")[1]["rolloutState"] == "COMPLETED"
        (failure,) = control(proxy, "stats")["image_pull_failures"]
        assert failure["image"] == f"{uri}:v2-not-pushed"
        assert failure["service"].endswith("service/realism-pull/bad")

        # A deployment of an image that is there clears it.
        ecs.update_service(cluster="realism-pull", service="bad", taskDefinition=good)
        assert primary("bad")[1]["rolloutState"] == "COMPLETED"
    finally:
        for name in ("bad", "good", "idle"):
            ecs.delete_service(cluster="realism-pull", service=name, force=True)
        ecs.delete_cluster(cluster="realism-pull")
        ecr.delete_repository(repositoryName="realism/api", force=True)


def test_realism_config_and_cli_flags(proxy, moto_url):
    assert control(proxy, "config", {"realism": True})["realism"] == {
        "rules": True,
        "eventual_consistency_seconds": aws_realism.DEFAULT_EC_SECONDS,
        "lifecycle_seconds": aws_realism.DEFAULT_LIFECYCLE_SECONDS,
        "image_pulls": True,
    }
    cfg = control(proxy, "config", {"realism": {"lifecycle_seconds": 0, "image_pulls": False}})
    assert cfg["realism"] == {
        "rules": True,
        "eventual_consistency_seconds": 1.5,
        "lifecycle_seconds": 0.0,
        "image_pulls": False,
    }
    rules = control(proxy, "realism/rules")
    assert len(rules) == len(aws_realism.RULES)
    assert all(r["citation"] and r["code"] for r in rules)

    for args, want in [
        (["--aws-realism"], {"rules": True, "ec": 1.5, "life": 2.0, "pulls": True}),
        (
            ["--aws-realism", "--realism-ec-seconds", "3", "--realism-lifecycle-seconds", "0"],
            {"rules": True, "ec": 3.0, "life": 0.0, "pulls": True},
        ),
        (
            ["--realism-lifecycle-seconds", "4"],
            {"rules": False, "ec": 0.0, "life": 4.0, "pulls": False},
        ),
    ]:
        proc, port, _ = _start_proxy(moto_url, *args)
        try:
            got = control(f"http://127.0.0.1:{port}", "config")["realism"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        assert got == {
            "rules": want["rules"],
            "eventual_consistency_seconds": want["ec"],
            "lifecycle_seconds": want["life"],
            "image_pulls": want["pulls"],
        }, args
    bad = subprocess.run(
        [sys.executable, str(PROXY), "--upstream", moto_url, "--realism-ec-seconds", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2


def test_proxy_without_cbor2_says_so(moto_url):
    # Run the proxy with cbor2 hidden, as a python3 without the venv would.
    code = (
        "import runpy, sys; sys.modules['cbor2'] = None; "
        f"sys.argv = ['fault_proxy.py', '--upstream', {moto_url!r}]; "
        f"sys.exit(runpy.run_path({str(PROXY)!r}, run_name='__main__'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 2
    assert "cbor2" in proc.stderr
    assert ".venv-moto/bin/python" in proc.stderr


# ------------------------------------------------------------- realism unit --
def test_rule_table_is_complete_and_cited():
    ids = [r.id for r in aws_realism.RULES]
    assert len(ids) == len(set(ids))
    for rule in aws_realism.RULES:
        assert rule.citation.strip(), rule.id
        assert rule.code, rule.id
        assert rule.operations, rule.id
    covered = {(r.service, op) for r in aws_realism.RULES for op in r.operations}
    for needed in [
        ("ec2", "CreateSecurityGroup"),
        ("ec2", "ModifyVpcAttribute"),
        ("ecs", "CreateService"),
        ("ecs", "RegisterTaskDefinition"),
        ("rds", "CreateDBCluster"),
        ("rds", "CreateDBInstance"),
        ("rds", "CreateDBSubnetGroup"),
        ("rds", "CreateDBClusterParameterGroup"),
        ("elasticloadbalancing", "CreateLoadBalancer"),
        ("elasticloadbalancing", "CreateTargetGroup"),
        ("elasticloadbalancing", "ModifyLoadBalancerAttributes"),
        ("iam", "CreateRole"),
        ("iam", "PutRolePolicy"),
        ("s3", "S3:PUT"),
        ("sns", "CreateTopic"),
        ("monitoring", "PutMetricAlarm"),
        ("logs", "CreateLogGroup"),
        ("logs", "PutRetentionPolicy"),
        ("secretsmanager", "CreateSecret"),
    ]:
        assert needed in covered, needed


def test_call_locators_read_every_protocol():
    Call = aws_realism.Call
    flat = Call(
        "query",
        "elasticloadbalancing",
        "ModifyLoadBalancerAttributes",
        flat={
            "Attributes.member.1.Key": "a",
            "Attributes.member.1.Value": "1",
            "Attributes.member.2.Key": "b",
            "IpPermissions.1.IpRanges.2.Description": "d",
            "Attributes.entry.1.key": "KmsMasterKeyId",
            "Attributes.entry.1.value": "alias/aws/sns",
        },
    )
    assert flat.values("Attributes[].Key") == ["a", "b"]
    assert flat.count("Attributes[]") == 2
    assert flat.values("IpPermissions[].IpRanges[].Description") == ["d"]
    assert flat.flat_map("Attributes") == {"KmsMasterKeyId": "alias/aws/sns"}
    doc = Call(
        "json",
        "ecs",
        "RegisterTaskDefinition",
        doc={"containerDefinitions": [{"stopTimeout": 1}, {"name": "x"}], "cpu": "256"},
    )
    assert doc.values("containerDefinitions[].stopTimeout") == [1]
    assert doc.first("cpu") == "256"
    assert doc.count("containerDefinitions[]") == 2
    assert doc.values("AlarmActions[]") == []
    put = aws_realism.Call("s3", "s3", "S3:PUT", method="PUT", path="/Bad_Bucket")
    assert aws_realism.s3_create_bucket_name(put) == "Bad_Bucket"
    put.query = {"policy": ""}  # PutBucketPolicy on an existing bucket is not a create
    assert aws_realism.s3_create_bucket_name(put) is None
    put.query = {"x-id": "CreateBucket"}
    assert aws_realism.s3_create_bucket_name(put) == "Bad_Bucket"
    assert aws_realism.credential_scope(
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/ap-southeast-2/ecs/aws4_request, Sig=1"
    ) == ("AKID", "ap-southeast-2")


def test_run_task_with_missing_image_stops_its_tasks():
    """RunTask (which moto cannot run on Fargate) with a fake upstream for ECR."""
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/api:gone"
    calls = []

    def upstream(method, path, headers, body):
        target = dict(headers)["X-Amz-Target"]
        calls.append((target, json.loads(body)))
        if target.endswith("DescribeTaskDefinition"):
            td = {"taskDefinitionArn": "arn:td", "containerDefinitions": [{"image": image}]}
            return 200, [], json.dumps({"taskDefinition": td}).encode()
        return 400, [], json.dumps({"__type": "ImageNotFoundException"}).encode()

    real = aws_realism.Realism(aws_realism.RealismConfig(image_pulls=True), upstream=upstream)
    td_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:3"
    call = aws_realism.Call("json", "ecs", "RunTask", doc={"taskDefinition": "api:3"})
    task = {"taskArn": "arn:task/1", "taskDefinitionArn": td_arn, "lastStatus": "PROVISIONING"}
    real.on_response(call, 200, json.dumps({"tasks": [task]}).encode())
    assert [c[0].rsplit(".", 1)[1] for c in calls] == ["DescribeTaskDefinition", "DescribeImages"]
    assert calls[1][1] == {
        "registryId": ACCOUNT,
        "repositoryName": "api",
        "imageIds": [{"imageTag": "gone"}],
    }
    describe = aws_realism.Call("json", "ecs", "DescribeTasks", doc={"tasks": ["arn:task/1"]})
    out = json.loads(real.on_response(describe, 200, json.dumps({"tasks": [task]}).encode()))
    (got,) = out["tasks"]
    assert (got["lastStatus"], got["stopCode"]) == ("STOPPED", "TaskFailedToStart")
    assert got["stoppedReason"].startswith("CannotPullContainerError")


def test_realism_clock_windows():
    """Eventual consistency ends exactly when the window does (fake clock)."""
    now = [100.0]
    real = aws_realism.Realism(
        aws_realism.RealismConfig(eventual_consistency_seconds=2.0), clock=lambda: now[0]
    )
    create = aws_realism.Call("ec2", "ec2", "CreateVpc")
    real.on_response(create, 200, b"<CreateVpcResponse><vpc><vpcId>vpc-1</vpcId></vpc>")
    modify = aws_realism.Call(
        "ec2",
        "ec2",
        "ModifyVpcAttribute",
        flat={"VpcId": "vpc-1", "EnableDnsSupport.Value": "true"},
    )
    rejection = real.check_request(modify)
    assert rejection is not None
    assert (rejection.code, rejection.status) == ("InvalidVpcID.NotFound", 400)
    describe = aws_realism.Call("ec2", "ec2", "DescribeVpcs", flat={"VpcId.1": "vpc-1"})
    assert real.check_request(describe) is None
    now[0] += 2.0
    assert real.check_request(modify) is None
