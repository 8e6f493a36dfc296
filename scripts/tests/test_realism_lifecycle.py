"""The realism mode's timing and deployment parts: EC2 eventual consistency, pending
lifecycles, failed image pulls, and how the mode is configured (run time and flags).
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import time

from botocore.exceptions import ClientError
from helpers import (
    ACCOUNT,
    REGION,
    client,
    control,
    error_of,
    realism,
    run_proxy,
    start_proxy,
    violations,
)
from proxy.realism.call import Call
from proxy.realism.config import DEFAULT_EC_SECONDS, DEFAULT_LIFECYCLE_SECONDS, RealismConfig
from proxy.realism.in_use import STATE_RULES
from proxy.realism.mode import RULES, Realism


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
        "eventual_consistency_seconds": DEFAULT_EC_SECONDS,
        "lifecycle_seconds": DEFAULT_LIFECYCLE_SECONDS,
        "image_pulls": True,
        "deployment_alarm": None,
    }
    cfg = control(proxy, "config", {"realism": {"lifecycle_seconds": 0, "image_pulls": False}})
    assert cfg["realism"] == {
        "rules": True,
        "eventual_consistency_seconds": 1.5,
        "lifecycle_seconds": 0.0,
        "image_pulls": False,
        "deployment_alarm": None,
    }
    rules = control(proxy, "realism/rules")
    assert len(rules) == len(RULES) + len(STATE_RULES)
    assert [r["kind"] for r in rules] == ["request"] * len(RULES) + ["state"] * len(STATE_RULES)
    assert all(r["citation"] and r["code"] for r in rules)
    assert len({r["id"] for r in rules}) == len(rules)

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
        proc, port, _ = start_proxy(moto_url, *args)
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
            "deployment_alarm": None,
        }, args
    bad = run_proxy("--upstream", moto_url, "--realism-ec-seconds", "-1")
    assert bad.returncode == 2


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

    real = Realism(RealismConfig(image_pulls=True), upstream=upstream)
    td_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:3"
    call = Call("json", "ecs", "RunTask", doc={"taskDefinition": "api:3"})
    task = {"taskArn": "arn:task/1", "taskDefinitionArn": td_arn, "lastStatus": "PROVISIONING"}
    real.on_response(call, 200, json.dumps({"tasks": [task]}).encode())
    assert [c[0].rsplit(".", 1)[1] for c in calls] == ["DescribeTaskDefinition", "DescribeImages"]
    assert calls[1][1] == {
        "registryId": ACCOUNT,
        "repositoryName": "api",
        "imageIds": [{"imageTag": "gone"}],
    }
    describe = Call("json", "ecs", "DescribeTasks", doc={"tasks": ["arn:task/1"]})
    out = json.loads(real.on_response(describe, 200, json.dumps({"tasks": [task]}).encode()))
    (got,) = out["tasks"]
    assert (got["lastStatus"], got["stopCode"]) == ("STOPPED", "TaskFailedToStart")
    assert got["stoppedReason"].startswith("CannotPullContainerError")


def test_realism_clock_windows():
    """Eventual consistency ends exactly when the window does (fake clock)."""
    now = [100.0]
    real = Realism(RealismConfig(eventual_consistency_seconds=2.0), clock=lambda: now[0])
    create = Call("ec2", "ec2", "CreateVpc")
    real.on_response(create, 200, b"<CreateVpcResponse><vpc><vpcId>vpc-1</vpcId></vpc>")
    modify = Call(
        "ec2",
        "ec2",
        "ModifyVpcAttribute",
        flat={"VpcId": "vpc-1", "EnableDnsSupport.Value": "true"},
    )
    rejection = real.check_request(modify)
    assert rejection is not None
    assert (rejection.code, rejection.status) == ("InvalidVpcID.NotFound", 400)
    describe = Call("ec2", "ec2", "DescribeVpcs", flat={"VpcId.1": "vpc-1"})
    assert real.check_request(describe) is None
    now[0] += 2.0
    assert real.check_request(modify) is None
