"""The realism mode's request rules: refusals in each protocol, values the provisioner
sends passing, the stricter-than-AWS alarm rule, and the rule table and request
locators on their own.
"""

from __future__ import annotations

import functools

import pytest
from helpers import (
    ACCOUNT,
    ALARM,
    REGION,
    cbor_cloudwatch,
    client,
    control,
    error_of,
    realism,
    violations,
)
from proxy.protocols import credential_scope
from proxy.realism.call import Call
from proxy.realism.mode import RULES
from proxy.realism.s3 import s3_create_bucket_name


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
        lambda c: c.put_metric_alarm(AlarmName="a", **ALARM | {"Period": 90}),
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
    try:
        cw.put_metric_alarm(AlarmName="realism-a1", AlarmActions=[managed["TopicArn"]], **ALARM)
        realism(proxy, rules=True)
        put = functools.partial(
            cw.put_metric_alarm, AlarmName="realism-a2", OKActions=[managed["TopicArn"]], **ALARM
        )
        assert error_of(put) == ("ValidationError", 400)  # over rpc-v2-cbor, as the Rust SDK
        (v,) = violations(proxy)
        assert v["rule"] == "cloudwatch.PutMetricAlarm.sns-aws-managed-key"
        assert "AWS managed key" in v["message"]
        cw.put_metric_alarm(AlarmName="realism-a3", AlarmActions=[customer["TopicArn"]], **ALARM)
        # Moving the topic to a customer managed key makes it usable.
        sns.set_topic_attributes(
            TopicArn=managed["TopicArn"],
            AttributeName="KmsMasterKeyId",
            AttributeValue=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5678",
        )
        cw.put_metric_alarm(AlarmName="realism-a2", OKActions=[managed["TopicArn"]], **ALARM)
    finally:
        cw.delete_alarms(AlarmNames=["realism-a1", "realism-a2", "realism-a3"])
        for topic in (managed, customer):
            sns.delete_topic(TopicArn=topic["TopicArn"])


# ------------------------------------------------------------- realism unit --
def test_rule_table_is_complete_and_cited():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.citation.strip(), rule.id
        assert rule.code, rule.id
        assert rule.operations, rule.id
    covered = {(r.service, op) for r in RULES for op in r.operations}
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
    put = Call("s3", "s3", "S3:PUT", method="PUT", path="/Bad_Bucket")
    assert s3_create_bucket_name(put) == "Bad_Bucket"
    put.query = {"policy": ""}  # PutBucketPolicy on an existing bucket is not a create
    assert s3_create_bucket_name(put) is None
    put.query = {"x-id": "CreateBucket"}
    assert s3_create_bucket_name(put) == "Bad_Bucket"
    assert credential_scope(
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/ap-southeast-2/ecs/aws4_request, Sig=1"
    ) == ("AKID", "ap-southeast-2", "ecs")
