"""What the proxy forwards and translates: request bodies (large, chunked, gzip),
CloudWatch's rpc-v2-cbor bridged to moto's JSON, canned answers for operations moto
lacks, and the CBOR codec and request classification on their own.
"""

from __future__ import annotations

import datetime
import http.client
import os
import struct

import botocore.config
import pytest
from helpers import ALARM, REGION, THROTTLE_CODES, cbor_cloudwatch, client, control, error_of
from proxy import cbor_bridge
from proxy.cbor_bridge import (
    CborError,
    cbor_decode,
    cbor_encode,
    cbor_to_json_compatible,
    json_to_cbor_typed,
)
from proxy.protocols import classify


def test_cbor_cloudwatch_is_bridged_and_throttled(proxy):
    cw = cbor_cloudwatch(proxy)
    cw.put_metric_alarm(
        AlarmName="proxy-cbor-alarm",
        **ALARM | {"EvaluationPeriods": 2},
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


# -------------------------------------------------------------------- unit --
def test_cbor_round_trip():
    assert cbor_bridge.cbor2 is not None  # the codec is the pinned cbor2 package
    value = {"a": [1, -5, 2.5, "x", b"\x00\x01", True, None], "n": 2**40, "m": {}}
    assert cbor_decode(cbor_encode(value)) == value
    assert cbor_encode(2.5) == b"\xfb" + struct.pack(">d", 2.5)  # doubles stay 64-bit
    # Indefinite-length map / array as aws-smithy-cbor writes them.
    indefinite = bytes([0xBF, 0x61, 0x6B, 0x9F, 0x01, 0xFF, 0xFF])
    assert cbor_decode(indefinite) == {"k": [1]}
    assert cbor_decode(b"") == {}
    for broken in (b"\x9f\x01", b"\x01\x02", b"\x1c"):  # truncated, trailing bytes, bad info
        with pytest.raises(CborError):
            cbor_decode(broken)
    # Timestamps are encoded as tag 1 (whole seconds as an integer, else a float) ...
    ts = json_to_cbor_typed(
        {"Timestamp": 1700000000, "StartDate": "2023-11-14T22:13:20.5Z", "Threshold": 80}
    )
    encoded = cbor_encode(ts)
    assert b"\xc1\x1a" in encoded  # tag 1 + uint32
    assert b"\xc1\xfb" in encoded  # tag 1 + float64
    # ... and tag 1 from the SDK reaches moto as epoch seconds.
    assert cbor_to_json_compatible(cbor_decode(encoded)) == {
        "Timestamp": 1700000000,
        "StartDate": 1700000000.5,
        "Threshold": 80.0,
    }
    # Dimension values are strings even though "Value" is also a double member.
    assert json_to_cbor_typed({"Value": "abc"}) == {"Value": "abc"}
    # Tags other than timestamps keep their content; blobs become base64.
    assert cbor_to_json_compatible(cbor_decode(bytes.fromhex("a2616ad82063616263616242beef"))) == {
        "j": "abc",
        "b": "vu8=",
    }


def test_classify():
    auth = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20250101/ap-southeast-2/ec2/aws4_request"
    }
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    ec2 = b"Action=CreateVpc&Version=2016-11-15"
    rds = b"Action=DescribeDBClusters&Version=2014-10-31"
    cbor = "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm"
    smithy = {"Smithy-Protocol": "rpc-v2-cbor"}
    for request, want in [
        (("POST", "/", auth | form, ec2), ("ec2", "ec2", "CreateVpc")),
        (("POST", "/", form, rds), ("query", "unknown", "DescribeDBClusters")),
        (("POST", cbor, smithy, b""), ("cbor", "GraniteServiceVersion20100801", "PutMetricAlarm")),
        (("HEAD", "/bucket/key", {}, b""), ("s3", "s3", "S3:HEAD")),
    ]:
        assert classify(*request) == want, request
    target = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.X"}
    assert classify("POST", "/", target, b"")[2] == "X"
