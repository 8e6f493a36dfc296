"""Helpers of the proxy tests: the proxy's control API, boto3 clients through it, starting one.

The ``moto_url`` / ``proxy`` fixtures built from these are in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
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
ACCOUNT = "123456789012"
THROTTLE_CODES = set(ThrottledRetryableChecker()._throttled_error_codes)
#: A valid PutMetricAlarm, but for its name (and any actions).
ALARM = {
    "MetricName": "CPUUtilization",
    "Namespace": "AWS/ECS",
    "Statistic": "Average",
    "Period": 60,
    "EvaluationPeriods": 1,
    "Threshold": 80,
    "ComparisonOperator": "GreaterThanThreshold",
}


def moto(cmd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOTO_INSTANCE": INSTANCE}
    return subprocess.run(
        [str(MOTO_SH), cmd], env=env, capture_output=True, text=True, timeout=900, check=False
    )


def start_proxy(moto_url: str, *extra: str) -> tuple[subprocess.Popen[str], int, Path]:
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


def run_proxy(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the proxy to the end (for command lines it refuses), its output captured."""
    return subprocess.run(
        [sys.executable, str(PROXY), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def control(base: str, name: str, body: dict | None = None, method: str | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{base}/__proxy/{name}", data=data, method=method or ("GET" if data is None else "POST")
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


NO_RETRY = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})


def client(
    base: str, service: str, config: botocore.config.Config = NO_RETRY, region: str = REGION
):
    return boto3.client(
        service,
        endpoint_url=base,
        region_name=region,
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


def realism(base: str, **parts) -> dict:
    spec = {"rules": False, "eventual_consistency_seconds": 0, "lifecycle_seconds": 0}
    spec |= {"image_pulls": False, "deployment_alarm": None} | parts
    return control(base, "config", {"realism": spec})["realism"]


def violations(base: str) -> list[dict]:
    return control(base, "realism/violations")["violations"]


@contextlib.contextmanager
def internal_alb(base: str, name: str, octet: int) -> Iterator[dict]:
    """A VPC (10.<octet>.0.0/16), two subnets, a security group and an internal ALB in
    them, all deleted again afterwards (whatever of them is still there)."""
    ec2, elb = client(base, "ec2"), client(base, "elbv2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{octet}.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName=f"{name}-alb", Description="alb", VpcId=vpc)
    lb = elb.create_load_balancer(
        Name=name, Subnets=subnets, SecurityGroups=[group["GroupId"]], Scheme="internal"
    )["LoadBalancers"][0]
    try:
        yield {
            "vpc": vpc,
            "subnets": subnets,
            "group": group["GroupId"],
            "arn": lb["LoadBalancerArn"],
            "dns": lb["DNSName"],
        }
    finally:
        with contextlib.suppress(ClientError):
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        for cleanup in (
            lambda: ec2.delete_security_group(GroupId=group["GroupId"]),
            *(lambda s=s: ec2.delete_subnet(SubnetId=s) for s in subnets),
            lambda: ec2.delete_vpc(VpcId=vpc),
        ):
            with contextlib.suppress(ClientError):
                cleanup()
