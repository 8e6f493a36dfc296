"""Tests for scripts/fault_proxy.py against a real moto_server.

moto is started with ``MOTO_INSTANCE=proxytest scripts/moto.sh start`` (and
stopped again afterwards if this module started it). Run via
``scripts/test-scripts.sh`` or ``.venv-moto/bin/python -m pytest scripts/tests``.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import importlib.util
import json
import os
import signal
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
    control(base, "config", {"latency_ms": 0, "throttle_rate": 0, "seed": 0, "fail": []})
    control(base, "reset", {})
    yield
    control(base, "config", {"latency_ms": 0, "throttle_rate": 0, "fail": []})


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

    for bad in ({"throttle_rate": 2}, {"latency_ms": -1}, {"bogus": 1}, {"fail": ["nocount"]}):
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
    value = {"a": [1, -5, 2.5, "x", b"\x00\x01", True, None], "n": 2**40, "m": {}}
    assert fault_proxy.cbor_decode(fault_proxy.cbor_encode(value)) == value
    # Indefinite-length map / array as aws-smithy-cbor writes them.
    indefinite = bytes([0xBF, 0x61, 0x6B, 0x9F, 0x01, 0xFF, 0xFF])
    assert fault_proxy.cbor_decode(indefinite) == {"k": [1]}
    # Tag 1 timestamps decode to their number and encode back as tag 1.
    ts = fault_proxy.json_to_cbor_typed({"Timestamp": 1700000000, "Threshold": 80, "Period": 60})
    encoded = fault_proxy.cbor_encode(ts)
    assert b"\xc1\x1a" in encoded  # tag 1 + uint32
    assert fault_proxy.cbor_decode(encoded) == {
        "Timestamp": 1700000000,
        "Threshold": 80.0,
        "Period": 60,
    }
    # Dimension values are strings even though "Value" is also a double member.
    assert fault_proxy.json_to_cbor_typed({"Value": "abc"}) == {"Value": "abc"}


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
