#!/usr/bin/env python3
"""Probe which AWS operations used by `provision` work on moto, and how.

Runs every operation the provisioner uses with boto3 against a moto server and
prints a Markdown table: operation -> works / differs / not implemented / error,
with what moto returned (dropped fields, ignored filters, error codes).

Usage (from the repo root; the venv comes from scripts/moto.sh install):

    .venv-moto/bin/python scripts/moto_probe.py                # own moto (MOTO_INSTANCE=probe)
    .venv-moto/bin/python scripts/moto_probe.py --endpoint http://127.0.0.1:5000
    .venv-moto/bin/python scripts/moto_probe.py --markdown table.md

Without --endpoint (or MOTO_PROBE_ENDPOINT) it starts a fresh server with
``MOTO_INSTANCE=probe scripts/moto.sh start`` and stops it afterwards. All
resources get a random suffix, so it can run against a shared server.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

SCRIPTS = Path(__file__).resolve().parent
REGION = "ap-southeast-2"
ACCOUNT = "123456789012"

# Service -> moto module, used to tell "not implemented" from "moto crashed".
MOTO_MODULES = {
    "ec2": "ec2",
    "logs": "logs",
    "ecr": "ecr",
    "rds": "rds",
    "secretsmanager": "secretsmanager",
    "iam": "iam",
    "sts": "sts",
    "s3": "s3",
    "elbv2": "elbv2",
    "ecs": "ecs",
    "application-autoscaling": "applicationautoscaling",
    "cloudwatch": "cloudwatch",
    "sns": "sns",
    "resourcegroupstaggingapi": "resourcegroupstaggingapi",
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("d_b_", "db_")


def moto_implements(service: str, operation: str) -> bool | None:
    module = MOTO_MODULES.get(service)
    if not module:
        return None
    try:
        mod = importlib.import_module(f"moto.{module}.responses")
    except ImportError:
        return None
    wanted = {snake(operation), operation}
    for _, cls in inspect.getmembers(mod, inspect.isclass):
        if cls.__module__.startswith(f"moto.{module}") and any(hasattr(cls, w) for w in wanted):
            return True
    return False


@dataclass
class Row:
    service: str
    operation: str
    status: str = "works"
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def differs(self, text: str) -> None:
        if self.status == "works":
            self.status = "differs"
        self.notes.append(text)

    def missing(self, text: str) -> None:
        self.status = "not implemented"
        self.notes.append(text)

    def check(self, cond: bool, ok: str, bad: str) -> bool:
        if cond:
            self.note(ok)
        else:
            self.differs(bad)
        return cond


class Skip(Exception):
    pass


class Probe:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.rows: list[Row] = []
        self.suffix = uuid.uuid4().hex[:6]
        self.tag = {"Key": "EnvironmentSuffix", "Value": self.suffix}
        self.ctx: dict[str, Any] = {}
        cfg = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
        self._cfg = cfg
        self.last_op = "?"

    def c(self, service: str):
        client = boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=self._cfg,
        )
        client.meta.events.register("before-call.*.*", self._remember_op)
        return client

    def _remember_op(self, model=None, **_kwargs) -> None:
        if model is not None:
            self.last_op = model.name

    def need(self, *keys: str) -> list[Any]:
        missing = [k for k in keys if self.ctx.get(k) is None]
        if missing:
            raise Skip(f"skipped: needs {', '.join(missing)} from an earlier step")
        return [self.ctx[k] for k in keys]

    @contextlib.contextmanager
    def row(self, service: str, operation: str):
        r = Row(service, operation)
        self.rows.append(r)
        try:
            yield r
        except Skip as exc:
            r.status = "skipped"
            r.notes.append(str(exc))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "?")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            msg = (err.get("Message") or "").strip()
            if status == 500 and msg.startswith("<!doctype html>"):
                op = exc.operation_name
                impl = moto_implements(service, op)
                if impl is False:
                    r.missing(f"`{op}`: HTTP 500 HTML page (moto: action not implemented)")
                else:
                    r.status = "error"
                    r.notes.append(f"`{op}`: HTTP 500 HTML page (moto crashed on this input)")
            else:
                r.status = "error"
                r.notes.append(f"`{exc.operation_name}` -> {code} (HTTP {status}): {msg[:160]}")
        except ResponseParserError as exc:
            op = self.last_op
            if "500 Internal Server Error" in str(exc) and moto_implements(service, op) is False:
                r.missing(f"`{op}`: HTTP 500 HTML page (moto: action not implemented)")
            else:
                r.status = "error"
                r.notes.append(f"`{op}`: unparsable response: {str(exc)[:160]}")
        except Exception as exc:
            r.status = "error"
            r.notes.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            if os.environ.get("MOTO_PROBE_DEBUG"):
                traceback.print_exc()

    def optional(self, r: Row, label: str, fn, **kwargs) -> Any:
        """Run a secondary call; a failure becomes a note instead of failing the row."""
        try:
            return fn(**kwargs)
        except ClientError as exc:
            status = exc.response["ResponseMetadata"].get("HTTPStatusCode")
            msg = exc.response["Error"].get("Message") or ""
            if status == 500 and msg.startswith("<!doctype html>"):
                r.differs(f"{label}: NOT IMPLEMENTED (HTTP 500)")
            else:
                r.note(f"{label} -> `{exc.response['Error'].get('Code')}` (HTTP {status})")
        except ResponseParserError:
            r.differs(f"{label}: NOT IMPLEMENTED (HTTP 500)")
        return None

    def expect_error(self, r: Row, label: str, fn, *args, **kwargs) -> str | None:
        """Run a call that should fail; note its error code and status."""
        try:
            res = fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response["Error"].get("Code")
            status = exc.response["ResponseMetadata"].get("HTTPStatusCode")
            r.note(f"{label} -> `{code}` (HTTP {status})")
            return code
        meta = res.pop("ResponseMetadata", None) if isinstance(res, dict) else None
        del meta
        r.differs(f"{label} -> no error (returned {short(res)})")
        return None

    # ================================================================ EC2 ==
    def ec2(self) -> None:
        ec2 = self.c("ec2")
        tagspec = lambda kind: [{"ResourceType": kind, "Tags": [self.tag]}]  # noqa: E731
        with self.row("ec2", "DescribeAvailabilityZones") as r:
            azs = ec2.describe_availability_zones(
                Filters=[{"Name": "state", "Values": ["available"]}]
            )["AvailabilityZones"]
            names = [a["ZoneName"] for a in azs]
            self.ctx["azs"] = names
            r.note(f"{REGION}: {', '.join(names)}; ZoneId {azs[0].get('ZoneId')}")

        with self.row("ec2", "CreateVpc (TagSpecifications)") as r:
            vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=tagspec("vpc"))["Vpc"]
            self.ctx["vpc"] = vpc["VpcId"]
            r.check(
                self.tag in vpc.get("Tags", []),
                "tags returned in the CreateVpc response",
                "tags NOT in the CreateVpc response",
            )
            r.note(f"State in response: {vpc.get('State')}")

        with self.row("ec2", "ModifyVpcAttribute (DNS hostnames/support)") as r:
            (vpc_id,) = self.need("vpc")
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
            got = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
            r.check(
                got["EnableDnsHostnames"]["Value"] is True,
                "DescribeVpcAttribute reflects it",
                "not reflected by DescribeVpcAttribute",
            )

        with self.row("ec2", "DescribeVpcs (tag:EnvironmentSuffix filter)") as r:
            (vpc_id,) = self.need("vpc")
            hit = ec2.describe_vpcs(
                Filters=[{"Name": "tag:EnvironmentSuffix", "Values": [self.suffix]}]
            )["Vpcs"]
            miss = ec2.describe_vpcs(
                Filters=[{"Name": "tag:EnvironmentSuffix", "Values": ["nope-" + self.suffix]}]
            )["Vpcs"]
            tagkey = ec2.describe_vpcs(
                Filters=[{"Name": "tag-key", "Values": ["EnvironmentSuffix"]}]
            )
            r.check(
                [v["VpcId"] for v in hit] == [vpc_id] and not miss,
                "tag filter honoured (match and non-match)",
                f"tag filter not honoured: hit={len(hit)} miss={len(miss)}",
            )
            r.note(f"tag-key filter returns {len(tagkey['Vpcs'])} VPC(s)")
            r.note(
                f"default VPC present: {any(v.get('IsDefault') for v in ec2.describe_vpcs()['Vpcs'])}"
            )
            self.expect_error(
                r, "DescribeVpcs unknown id", ec2.describe_vpcs, VpcIds=["vpc-0000dead"]
            )

        with self.row("ec2", "CreateSubnet (TagSpecifications, AZ)") as r:
            vpc_id, azs = self.need("vpc", "azs")
            subnets = []
            for i, cidr in enumerate(
                ["10.42.0.0/24", "10.42.1.0/24", "10.42.10.0/24", "10.42.11.0/24"]
            ):
                sn = ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=cidr,
                    AvailabilityZone=azs[i % 2],
                    TagSpecifications=tagspec("subnet"),
                )["Subnet"]
                subnets.append(sn["SubnetId"])
            self.ctx["public_subnets"] = subnets[:2]
            self.ctx["private_subnets"] = subnets[2:]
            ec2.modify_subnet_attribute(SubnetId=subnets[0], MapPublicIpOnLaunch={"Value": True})
            d = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
            r.check(len(d) == 4, "vpc-id filter honoured", f"vpc-id filter returned {len(d)}")
            r.check(
                all(self.tag in s.get("Tags", []) for s in d),
                "tags stored",
                "tags missing on DescribeSubnets",
            )
            mp = next(s for s in d if s["SubnetId"] == subnets[0])["MapPublicIpOnLaunch"]
            r.note(f"ModifySubnetAttribute MapPublicIpOnLaunch -> {mp}")
            r.note(f"State: {sn.get('State')}")

        with self.row("ec2", "CreateInternetGateway + AttachInternetGateway") as r:
            (vpc_id,) = self.need("vpc")
            igw = ec2.create_internet_gateway(TagSpecifications=tagspec("internet-gateway"))
            igw_id = igw["InternetGateway"]["InternetGatewayId"]
            self.ctx["igw"] = igw_id
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
            d = ec2.describe_internet_gateways(
                Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
            )["InternetGateways"]
            r.check(
                [g["InternetGatewayId"] for g in d] == [igw_id],
                "attachment.vpc-id filter honoured",
                "attachment.vpc-id filter not honoured",
            )
            r.note(f"attachment state: {d[0]['Attachments'][0]['State'] if d else '-'}")
            r.check(
                self.tag in igw["InternetGateway"].get("Tags", []),
                "tags in response",
                "tags not in response",
            )

        with self.row("ec2", "AllocateAddress (Domain=vpc, TagSpecifications)") as r:
            eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tagspec("elastic-ip"))
            self.ctx["eip"] = eip["AllocationId"]
            d = ec2.describe_addresses(
                Filters=[{"Name": "tag:EnvironmentSuffix", "Values": [self.suffix]}]
            )["Addresses"]
            r.check(
                [a["AllocationId"] for a in d] == [eip["AllocationId"]],
                "tags stored; tag filter on DescribeAddresses works",
                f"tag filter on DescribeAddresses returned {len(d)}",
            )
            r.note(f"PublicIp {eip.get('PublicIp')}")

        with self.row("ec2", "CreateNatGateway (ClientToken, TagSpecifications)") as r:
            eip_id, pub = self.need("eip", "public_subnets")
            token = f"nat-{self.suffix}"
            nat1 = ec2.create_nat_gateway(
                SubnetId=pub[0],
                AllocationId=eip_id,
                ClientToken=token,
                TagSpecifications=tagspec("natgateway"),
            )["NatGateway"]
            self.ctx["nat"] = nat1["NatGatewayId"]
            r.note(f"state in response: `{nat1.get('State')}`")
            try:
                nat2 = ec2.create_nat_gateway(
                    SubnetId=pub[0],
                    AllocationId=eip_id,
                    ClientToken=token,
                    TagSpecifications=tagspec("natgateway"),
                )["NatGateway"]
                same = nat2["NatGatewayId"] == nat1["NatGatewayId"]
                r.note(f"retry with same ClientToken + same EIP -> {'same' if same else 'NEW'} NAT")
            except ClientError as exc:
                r.differs(
                    "ClientToken NOT idempotent: an identical retry (same token, same EIP) fails "
                    f"with `{exc.response['Error']['Code']}` (AWS returns the existing NAT)"
                )
            eip2 = ec2.allocate_address(Domain="vpc")["AllocationId"]
            self.ctx["eip2"] = eip2
            nat3 = ec2.create_nat_gateway(SubnetId=pub[0], AllocationId=eip2, ClientToken=token)[
                "NatGateway"
            ]
            if nat3["NatGatewayId"] != nat1["NatGatewayId"]:
                self.ctx["nat_dup"] = nat3["NatGatewayId"]
                r.differs(
                    "same ClientToken with another EIP -> a second NAT gateway is created "
                    "(token ignored entirely)"
                )
            else:
                r.note("same ClientToken with another EIP -> same NAT returned")
            r.check(
                self.tag in nat1.get("Tags", []),
                "tags in response",
                "tags NOT in response",
            )
            eip_assoc = ec2.describe_addresses(AllocationIds=[eip_id])["Addresses"][0]
            r.note(f"EIP AssociationId after NAT create: {eip_assoc.get('AssociationId')}")

        with self.row("ec2", "DescribeNatGateways (filters)") as r:
            nat_id, vpc_id, pub = self.need("nat", "vpc", "public_subnets")
            all_nats = ec2.describe_nat_gateways()["NatGateways"]
            by_tag = ec2.describe_nat_gateways(
                Filter=[{"Name": "tag:EnvironmentSuffix", "Values": [self.suffix]}]
            )["NatGateways"]
            by_tag_miss = ec2.describe_nat_gateways(
                Filter=[{"Name": "tag:EnvironmentSuffix", "Values": ["zz" + self.suffix]}]
            )["NatGateways"]
            by_state = ec2.describe_nat_gateways(
                Filter=[{"Name": "state", "Values": ["available"]}]
            )["NatGateways"]
            by_state_pending = ec2.describe_nat_gateways(
                Filter=[{"Name": "state", "Values": ["pending"]}]
            )["NatGateways"]
            by_vpc = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])
            by_subnet = ec2.describe_nat_gateways(
                Filter=[{"Name": "subnet-id", "Values": [pub[0]]}]
            )["NatGateways"]
            ours = {n["NatGatewayId"] for n in all_nats if n.get("VpcId") == vpc_id}
            r.note(f"states seen: {sorted({n['State'] for n in all_nats})}")
            r.check(
                {n["NatGatewayId"] for n in by_tag} == ours and not by_tag_miss,
                "`Filter` with tag:EnvironmentSuffix honoured",
                f"tag:EnvironmentSuffix filter IGNORED (non-matching value still returns "
                f"{len(by_tag_miss)} NAT(s)); moto filters NATs only by nat-gateway-id, vpc-id, "
                "subnet-id, state",
            )
            tags_back = [n.get("Tags") for n in all_nats if n["NatGatewayId"] == nat_id]
            r.note(
                f"Tags returned on DescribeNatGateways: {tags_back and self.tag in (tags_back[0] or [])}"
            )
            r.note(
                f"state=available -> {len(by_state)}, state=pending -> {len(by_state_pending)} "
                f"(of {len(all_nats)})"
            )
            r.note(
                f"vpc-id filter -> {len(by_vpc['NatGateways'])}, subnet-id -> {len(by_subnet)} "
                "(NB boto3 param is `Filter`, not `Filters`)"
            )
            self.expect_error(
                r,
                "DescribeNatGateways unknown id",
                ec2.describe_nat_gateways,
                NatGatewayIds=["nat-0000000000dead"],
            )

        with self.row("ec2", "CreateRouteTable / CreateRoute / AssociateRouteTable") as r:
            vpc_id, igw_id, nat_id, pub, priv = self.need(
                "vpc", "igw", "nat", "public_subnets", "private_subnets"
            )
            rt_pub = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tagspec("route-table"))
            rt_pub = rt_pub["RouteTable"]["RouteTableId"]
            rt_priv = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tagspec("route-table"))
            rt_priv = rt_priv["RouteTable"]["RouteTableId"]
            self.ctx["rts"] = [rt_pub, rt_priv]
            ec2.create_route(
                RouteTableId=rt_pub, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id
            )
            ec2.create_route(
                RouteTableId=rt_priv, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id
            )
            assoc = ec2.associate_route_table(RouteTableId=rt_pub, SubnetId=pub[0])
            ec2.associate_route_table(RouteTableId=rt_priv, SubnetId=priv[0])
            r.note(f"AssociationState: {assoc.get('AssociationState')}")
            self.expect_error(
                r,
                "CreateRoute duplicate destination",
                ec2.create_route,
                RouteTableId=rt_pub,
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=igw_id,
            )
            rt = ec2.describe_route_tables(RouteTableIds=[rt_priv])["RouteTables"][0]
            nat_routes = [x for x in rt["Routes"] if x.get("NatGatewayId") == nat_id]
            r.check(bool(nat_routes), "NAT route stored", "NAT route not stored")

        with self.row("ec2", "DescribeRouteTables (tag / association filters)") as r:
            rts, priv, vpc_id = self.need("rts", "private_subnets", "vpc")
            d = ec2.describe_route_tables(
                Filters=[{"Name": "tag:EnvironmentSuffix", "Values": [self.suffix]}]
            )["RouteTables"]
            r.check(
                sorted(x["RouteTableId"] for x in d) == sorted(rts),
                "tag filter honoured (main route table not tagged, not returned)",
                f"tag filter returned {len(d)}",
            )
            a = ec2.describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": [priv[0]]}]
            )["RouteTables"]
            r.check(
                [x["RouteTableId"] for x in a] == [rts[1]],
                "association.subnet-id filter honoured",
                f"association.subnet-id filter returned {len(a)}",
            )
            main = ec2.describe_route_tables(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "association.main", "Values": ["true"]},
                ]
            )["RouteTables"]
            r.note(f"association.main=true -> {len(main)} table(s)")

        with self.row("ec2", "CreateSecurityGroup / Authorize / Revoke (SG references)") as r:
            (vpc_id,) = self.need("vpc")
            alb_sg = ec2.create_security_group(
                GroupName=f"alb-{self.suffix}",
                Description="alb",
                VpcId=vpc_id,
                TagSpecifications=tagspec("security-group"),
            )["GroupId"]
            app_sg = ec2.create_security_group(
                GroupName=f"app-{self.suffix}",
                Description="app",
                VpcId=vpc_id,
                TagSpecifications=tagspec("security-group"),
            )["GroupId"]
            db_sg = ec2.create_security_group(
                GroupName=f"db-{self.suffix}", Description="db", VpcId=vpc_id
            )["GroupId"]
            self.ctx["sgs"] = {"alb": alb_sg, "app": app_sg, "db": db_sg}
            ec2.authorize_security_group_ingress(
                GroupId=alb_sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
                    }
                ],
            )
            res = ec2.authorize_security_group_ingress(
                GroupId=app_sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 8080,
                        "ToPort": 8080,
                        "UserIdGroupPairs": [{"GroupId": alb_sg, "Description": "from alb"}],
                    }
                ],
                TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [self.tag]}],
            )
            r.note(
                f"Authorize returns SecurityGroupRules: {len(res.get('SecurityGroupRules', []))}"
            )
            ec2.authorize_security_group_ingress(
                GroupId=db_sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 5432,
                        "ToPort": 5432,
                        "UserIdGroupPairs": [{"GroupId": app_sg}],
                    }
                ],
            )
            self.expect_error(
                r,
                "Authorize duplicate rule",
                ec2.authorize_security_group_ingress,
                GroupId=db_sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 5432,
                        "ToPort": 5432,
                        "UserIdGroupPairs": [{"GroupId": app_sg}],
                    }
                ],
            )
            g = ec2.describe_security_groups(GroupIds=[app_sg])["SecurityGroups"][0]
            pair = g["IpPermissions"][0]["UserIdGroupPairs"][0]
            r.check(
                pair.get("GroupId") == alb_sg and pair.get("Description") == "from alb",
                "referenced-group rule stored with description",
                f"referenced rule stored as {pair}",
            )
            r.note(f"default egress rules on new SG: {len(g.get('IpPermissionsEgress', []))}")
            rules = ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [app_sg]}]
            )["SecurityGroupRules"]
            r.note(f"DescribeSecurityGroupRules group-id filter -> {len(rules)} rules")
            ec2.revoke_security_group_ingress(
                GroupId=alb_sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                ],
            )
            g = ec2.describe_security_groups(GroupIds=[alb_sg])["SecurityGroups"][0]
            r.check(not g["IpPermissions"], "revoke removes the rule", "revoke left the rule")
            self.expect_error(
                r,
                "Revoke a rule that does not exist",
                ec2.revoke_security_group_ingress,
                GroupId=alb_sg,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                ],
            )
            self.expect_error(
                r,
                "CreateSecurityGroup duplicate name",
                ec2.create_security_group,
                GroupName=f"db-{self.suffix}",
                Description="db",
                VpcId=vpc_id,
            )
            f = ec2.describe_security_groups(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "group-name", "Values": [f"app-{self.suffix}"]},
                ]
            )["SecurityGroups"]
            r.note(f"group-name + vpc-id filter -> {len(f)}")

        with self.row("ec2", "CreateFlowLogs (cloud-watch-logs, DeliverLogsPermissionArn)") as r:
            (vpc_id,) = self.need("vpc")
            fl = ec2.create_flow_logs(
                ResourceIds=[vpc_id],
                ResourceType="VPC",
                TrafficType="ALL",
                LogDestinationType="cloud-watch-logs",
                LogGroupName=f"/provision/{self.suffix}/vpc-flow-logs",
                DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flowlogs-{self.suffix}",
                TagSpecifications=tagspec("vpc-flow-log"),
                MaxAggregationInterval=60,
            )
            self.ctx["flowlogs"] = fl["FlowLogIds"]
            r.note(
                f"FlowLogIds={len(fl['FlowLogIds'])} Unsuccessful={len(fl.get('Unsuccessful', []))}"
                " (log group need not exist; role ARN not validated)"
            )

        with self.row("ec2", "DescribeFlowLogs (tag / resource-id filters)") as r:
            (ids,) = self.need("flowlogs")
            (vpc_id,) = self.need("vpc")
            d = ec2.describe_flow_logs(
                Filters=[{"Name": "tag:EnvironmentSuffix", "Values": [self.suffix]}]
            )["FlowLogs"]
            d2 = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])
            r.check(
                [x["FlowLogId"] for x in d] == ids,
                "tag filter honoured",
                f"tag filter returned {len(d)}",
            )
            r.note(f"resource-id filter -> {len(d2['FlowLogs'])}")
            if d:
                x = d[0]
                r.note(
                    f"fields: DeliverLogsPermissionArn={'yes' if x.get('DeliverLogsPermissionArn') else 'no'}, "
                    f"LogGroupName={x.get('LogGroupName')!r}, MaxAggregationInterval="
                    f"{x.get('MaxAggregationInterval')}, FlowLogStatus={x.get('FlowLogStatus')}"
                )
                r.check(self.tag in x.get("Tags", []), "tags returned", "tags NOT returned")

        with self.row("ec2", "DeleteVpc / DeleteInternetGateway with dependencies") as r:
            (vpc_id,) = self.need("vpc")
            self.expect_error(r, "DeleteVpc while subnets exist", ec2.delete_vpc, VpcId=vpc_id)
            igw_id = self.need("igw")[0]
            self.expect_error(
                r,
                "DeleteInternetGateway while attached",
                ec2.delete_internet_gateway,
                InternetGatewayId=igw_id,
            )
            self.expect_error(r, "DeleteSubnet unknown", ec2.delete_subnet, SubnetId="subnet-0dead")
            self.expect_error(
                r, "DeleteSecurityGroup unknown", ec2.delete_security_group, GroupId="sg-0000dead"
            )

    # ============================================================== LOGS ==
    def logs(self) -> None:
        logs = self.c("logs")
        name = f"/provision/{self.suffix}/app"
        with self.row("logs", "CreateLogGroup (tags)") as r:
            logs.create_log_group(logGroupName=name, tags={"EnvironmentSuffix": self.suffix})
            self.ctx["log_group"] = name
            self.expect_error(r, "CreateLogGroup again", logs.create_log_group, logGroupName=name)

        with self.row("logs", "PutRetentionPolicy") as r:
            (name,) = self.need("log_group")
            logs.put_retention_policy(logGroupName=name, retentionInDays=30)
            self.expect_error(
                r,
                "retentionInDays=31 (invalid)",
                logs.put_retention_policy,
                logGroupName=name,
                retentionInDays=31,
            )
            logs.put_retention_policy(logGroupName=name, retentionInDays=30)

        with self.row("logs", "DescribeLogGroups (logGroupNamePrefix)") as r:
            (name,) = self.need("log_group")
            d = logs.describe_log_groups(logGroupNamePrefix=f"/provision/{self.suffix}/")
            groups = d["logGroups"]
            r.check(
                [g["logGroupName"] for g in groups] == [name],
                "prefix honoured",
                f"prefix returned {len(groups)}",
            )
            if groups:
                g = groups[0]
                r.check(
                    g.get("retentionInDays") == 30,
                    "retentionInDays=30 returned",
                    f"retentionInDays={g.get('retentionInDays')}",
                )
                r.note(f"arn={g.get('arn')!r} logGroupArn={g.get('logGroupArn')!r}")
                self.ctx["log_group_arn"] = g.get("logGroupArn") or g["arn"].removesuffix(":*")
            none = logs.describe_log_groups(logGroupNamePrefix=f"/nothing-{self.suffix}")
            r.note(f"unknown prefix -> {len(none['logGroups'])} groups, no error")

        with self.row("logs", "ListTagsForResource / ListTagsLogGroup") as r:
            (arn,) = self.need("log_group_arn")
            t = logs.list_tags_for_resource(resourceArn=arn)["tags"]
            r.check(
                t == {"EnvironmentSuffix": self.suffix},
                "ListTagsForResource(logGroupArn without :*) returns the tags",
                f"ListTagsForResource -> {t}",
            )
            old = logs.list_tags_log_group(logGroupName=self.ctx["log_group"])["tags"]
            r.note(f"ListTagsLogGroup -> {old}")
            self.expect_error(
                r,
                "DeleteLogGroup unknown",
                logs.delete_log_group,
                logGroupName=f"/nothing-{self.suffix}",
            )

    # =============================================================== ECR ==
    def ecr(self) -> None:
        ecr = self.c("ecr")
        name = f"provision-{self.suffix}/api"
        with self.row("ecr", "CreateRepository (encryption, scanOnPush, tags)") as r:
            repo = ecr.create_repository(
                repositoryName=name,
                imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration={"encryptionType": "AES256"},
                tags=[self.tag],
            )["repository"]
            self.ctx["ecr"] = repo
            r.note(f"repositoryUri={repo['repositoryUri']}")
            r.check(
                repo.get("imageScanningConfiguration") == {"scanOnPush": True}
                and repo.get("imageTagMutability") == "IMMUTABLE"
                and repo.get("encryptionConfiguration", {}).get("encryptionType") == "AES256",
                "scanOnPush / IMMUTABLE / AES256 echoed",
                f"echo: {short(repo)}",
            )
            t = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
            r.check(t == [self.tag], "tags stored", f"tags: {t}")
            self.expect_error(
                r, "CreateRepository again", ecr.create_repository, repositoryName=name
            )
            self.expect_error(
                r,
                "DescribeRepositories unknown",
                ecr.describe_repositories,
                repositoryNames=[f"nothing-{self.suffix}"],
            )

        with self.row("ecr", "PutLifecyclePolicy / GetLifecyclePolicy") as r:
            self.need("ecr")
            policy = {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "keep 10",
                        "selection": {
                            "tagStatus": "any",
                            "countType": "imageCountMoreThan",
                            "countNumber": 10,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
            got = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
            r.check(got == policy, "policy round-trips", f"policy came back as {got}")

        with self.row("ecr", "DescribeImages") as r:
            self.need("ecr")
            imgs = ecr.describe_images(repositoryName=name)["imageDetails"]
            r.note(f"empty repo -> {len(imgs)} images")
            self.expect_error(
                r,
                "DescribeImages unknown tag",
                ecr.describe_images,
                repositoryName=name,
                imageIds=[{"imageTag": "v0"}],
            )
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {
                        "mediaType": "application/vnd.docker.container.image.v1+json",
                        "size": 2,
                        "digest": "sha256:" + "0" * 64,
                    },
                    "layers": [],
                }
            )
            ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag="v1")
            imgs = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": "v1"}])
            r.note(f"after PutImage tag v1 -> {len(imgs['imageDetails'])} image(s)")

    def ecr_teardown(self) -> None:
        ecr = self.c("ecr")
        name = f"provision-{self.suffix}/api"
        with self.row("ecr", "DeleteRepository (force)") as r:
            self.need("ecr")
            self.expect_error(
                r,
                "DeleteRepository non-empty without force",
                ecr.delete_repository,
                repositoryName=name,
            )
            ecr.delete_repository(repositoryName=name, force=True)
            self.expect_error(
                r, "DeleteRepository again", ecr.delete_repository, repositoryName=name
            )

    # =============================================================== RDS ==
    def rds(self) -> None:
        rds = self.c("rds")
        sm = self.c("secretsmanager")
        cid = f"provision-{self.suffix}-db"
        with self.row("rds", "DescribeDBEngineVersions (aurora-postgresql)") as r:
            v = rds.describe_db_engine_versions(Engine="aurora-postgresql")["DBEngineVersions"]
            versions = [x["EngineVersion"] for x in v]
            r.note(
                f"{len(versions)} versions: {', '.join(versions[:12])}{' ...' if len(versions) > 12 else ''}"
            )
            fams = sorted(
                {x.get("DBParameterGroupFamily") for x in v if x.get("DBParameterGroupFamily")}
            )
            r.note(f"families: {', '.join(fams) or '(none)'}")
            d = rds.describe_db_engine_versions(Engine="aurora-postgresql", DefaultOnly=True)
            r.note(f"DefaultOnly -> {[x['EngineVersion'] for x in d['DBEngineVersions']]}")
            f = rds.describe_db_engine_versions(Engine="aurora-postgresql", EngineVersion="16.4")
            r.note(f"EngineVersion=16.4 -> {len(f['DBEngineVersions'])}")
            sv2 = [x["EngineVersion"] for x in v if x.get("SupportsServerlessV2") is not None]
            r.note(f"entries with SupportsServerlessV2 field: {len(sv2)}")
            self.ctx["pg_version"] = "16.4"

        with self.row("rds", "CreateDBSubnetGroup") as r:
            (priv,) = self.need("private_subnets")
            g = rds.create_db_subnet_group(
                DBSubnetGroupName=f"provision-{self.suffix}",
                DBSubnetGroupDescription="db",
                SubnetIds=priv,
                Tags=[self.tag],
            )["DBSubnetGroup"]
            self.ctx["db_subnet_group"] = g["DBSubnetGroupName"]
            r.note(
                f"SubnetGroupStatus={g.get('SubnetGroupStatus')}, VpcId set: {bool(g.get('VpcId'))}"
            )
            self.expect_error(
                r,
                "DescribeDBSubnetGroups unknown",
                rds.describe_db_subnet_groups,
                DBSubnetGroupName=f"nothing-{self.suffix}",
            )

        with self.row("rds", "CreateDBClusterParameterGroup + Modify rds.force_ssl") as r:
            pg = rds.create_db_cluster_parameter_group(
                DBClusterParameterGroupName=f"provision-{self.suffix}",
                DBParameterGroupFamily="aurora-postgresql16",
                Description="pg",
                Tags=[self.tag],
            )["DBClusterParameterGroup"]
            self.ctx["db_cpg"] = pg["DBClusterParameterGroupName"]
            rds.modify_db_cluster_parameter_group(
                DBClusterParameterGroupName=pg["DBClusterParameterGroupName"],
                Parameters=[
                    {
                        "ParameterName": "rds.force_ssl",
                        "ParameterValue": "1",
                        "ApplyMethod": "pending-reboot",
                    }
                ],
            )
            params = rds.describe_db_cluster_parameters(
                DBClusterParameterGroupName=pg["DBClusterParameterGroupName"]
            )["Parameters"]
            ssl = [p for p in params if p["ParameterName"] == "rds.force_ssl"]
            r.check(
                bool(ssl) and ssl[0].get("ParameterValue") == "1",
                "DescribeDBClusterParameters shows rds.force_ssl=1",
                f"rds.force_ssl after modify: {ssl} ({len(params)} params listed)",
            )
            r.note(f"DescribeDBClusterParameters lists {len(params)} parameter(s) (only user-set)")
            self.expect_error(
                r,
                "DescribeDBClusterParameterGroups unknown",
                rds.describe_db_cluster_parameter_groups,
                DBClusterParameterGroupName=f"nothing-{self.suffix}",
            )

        with self.row("rds", "CreateDBCluster (ManageMasterUserPassword, ServerlessV2, logs)") as r:
            sgn, cpg = self.need("db_subnet_group", "db_cpg")
            (sgs,) = self.need("sgs")
            c = rds.create_db_cluster(
                DBClusterIdentifier=cid,
                Engine="aurora-postgresql",
                EngineVersion="16.4",
                EngineMode="provisioned",
                MasterUsername="catalog_admin",
                ManageMasterUserPassword=True,
                DatabaseName="catalog",
                DBSubnetGroupName=sgn,
                DBClusterParameterGroupName=cpg,
                VpcSecurityGroupIds=[sgs["db"]],
                ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 4},
                EnableCloudwatchLogsExports=["postgresql"],
                StorageEncrypted=True,
                BackupRetentionPeriod=7,
                DeletionProtection=False,
                CopyTagsToSnapshot=True,
                Tags=[self.tag],
            )["DBCluster"]
            self.ctx["cluster"] = c
            r.note(f"Status in response: `{c.get('Status')}`")
            mus = c.get("MasterUserSecret")
            r.check(
                bool(mus and mus.get("SecretArn")),
                f"MasterUserSecret = {json.dumps(mus)}",
                "no MasterUserSecret in response",
            )
            r.check(
                c.get("ServerlessV2ScalingConfiguration", {}).get("MaxCapacity") == 4,
                f"ServerlessV2ScalingConfiguration kept: {c.get('ServerlessV2ScalingConfiguration')}",
                f"ServerlessV2ScalingConfiguration dropped: {c.get('ServerlessV2ScalingConfiguration')}",
            )
            r.check(
                c.get("EnabledCloudwatchLogsExports") == ["postgresql"],
                "EnabledCloudwatchLogsExports kept",
                f"EnabledCloudwatchLogsExports={c.get('EnabledCloudwatchLogsExports')}",
            )
            r.note(
                f"Endpoint={c.get('Endpoint')!r} ReaderEndpoint={c.get('ReaderEndpoint')!r} "
                f"Port={c.get('Port')} DBClusterParameterGroup={c.get('DBClusterParameterGroup')!r} "
                f"StorageEncrypted={c.get('StorageEncrypted')} KmsKeyId={'set' if c.get('KmsKeyId') else 'unset'}"
            )
            r.note(f"TagList in response: {c.get('TagList') == [self.tag]}")
            dup = f"{cid}-dup"
            rds.create_db_cluster(
                DBClusterIdentifier=dup,
                Engine="aurora-postgresql",
                EngineVersion="16.4",
                MasterUsername="first",
                MasterUserPassword="Passw0rd-1234",
                Tags=[self.tag],
            )
            code = self.expect_error(
                r,
                "CreateDBCluster with an existing id",
                rds.create_db_cluster,
                DBClusterIdentifier=dup,
                Engine="aurora-postgresql",
                MasterUsername="second",
                MasterUserPassword="Passw0rd-1234",
            )
            after = rds.describe_db_clusters(DBClusterIdentifier=dup)["DBClusters"][0]
            if after["MasterUsername"] != "first":
                r.differs(
                    f"...and the existing cluster was REPLACED anyway (MasterUsername="
                    f"{after['MasterUsername']!r}, EngineVersion={after['EngineVersion']}, "
                    f"TagList={after.get('TagList')}); the error comes from moto's automatic "
                    f"snapshot name clash (AWS: DBClusterAlreadyExistsFault, cluster untouched)"
                    if code
                    else "...no error: the existing cluster was silently REPLACED"
                )
            rds.delete_db_cluster(DBClusterIdentifier=dup, SkipFinalSnapshot=True)

        with self.row("secretsmanager", "RDS-managed master secret (MasterUserSecret)") as r:
            (c,) = self.need("cluster")
            arn = (c.get("MasterUserSecret") or {}).get("SecretArn")
            if not arn:
                raise Skip("skipped: no MasterUserSecret.SecretArn")
            d = sm.describe_secret(SecretId=arn)
            r.note(f"secret exists in secretsmanager: name={d['Name']!r}")
            r.note(f"tags={d.get('Tags')}, OwningService={d.get('OwningService')}")
            v = sm.get_secret_value(SecretId=arn)
            raw = v.get("SecretString", "")
            try:
                parsed = json.loads(raw)
                shape = {k: ("<redacted>" if k == "password" else val) for k, val in parsed.items()}
                r.note(f"SecretString JSON: {shape}")
                if parsed.get("username") != c.get("MasterUsername"):
                    r.differs(
                        f"secret username {parsed.get('username')!r} != cluster MasterUsername "
                        f"{c.get('MasterUsername')!r} (moto always writes 'admin')"
                    )
                r.note(
                    f"MasterUserSecret.SecretStatus on a later DescribeDBClusters: "
                    f"{self.c('rds').describe_db_clusters(DBClusterIdentifier=c['DBClusterIdentifier'])['DBClusters'][0].get('MasterUserSecret', {}).get('SecretStatus')}"
                )
            except ValueError:
                r.differs(f"SecretString is not JSON: {raw[:60]!r}")

        with self.row("rds", "CreateDBInstance (db.serverless in cluster)") as r:
            self.need("cluster")
            i = rds.create_db_instance(
                DBInstanceIdentifier=f"{cid}-1",
                DBInstanceClass="db.serverless",
                Engine="aurora-postgresql",
                DBClusterIdentifier=cid,
                PubliclyAccessible=False,
                Tags=[self.tag],
            )["DBInstance"]
            self.ctx["instance"] = i["DBInstanceIdentifier"]
            r.note(f"DBInstanceStatus in response: `{i.get('DBInstanceStatus')}`")
            r.note(f"EngineVersion inherited: {i.get('EngineVersion')}")
            cl = rds.describe_db_clusters(DBClusterIdentifier=cid)["DBClusters"][0]
            r.check(
                [m["DBInstanceIdentifier"] for m in cl.get("DBClusterMembers", [])] == [f"{cid}-1"],
                "cluster DBClusterMembers lists the instance",
                f"DBClusterMembers={cl.get('DBClusterMembers')}",
            )

        with self.row("rds", "DescribeDBClusters / DescribeDBInstances (filters, not-found)") as r:
            self.need("cluster", "instance")
            f = rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": [cid]}])
            r.check(
                len(f["DBClusters"]) == 1,
                "db-cluster-id filter honoured",
                f"{len(f['DBClusters'])}",
            )
            fi = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cid]}])
            r.check(
                [x["DBInstanceIdentifier"] for x in fi["DBInstances"]] == [f"{cid}-1"],
                "DescribeDBInstances db-cluster-id filter honoured",
                f"DescribeDBInstances db-cluster-id -> {len(fi['DBInstances'])}",
            )
            fm = rds.describe_db_clusters(
                Filters=[{"Name": "db-cluster-id", "Values": [f"nothing-{self.suffix}"]}]
            )
            r.note(f"filter with unknown id -> {len(fm['DBClusters'])} clusters, no error")
            cl = rds.describe_db_clusters(DBClusterIdentifier=cid)["DBClusters"][0]
            r.note(
                f"cluster Status on describe: `{cl['Status']}`; instance: "
                f"`{rds.describe_db_instances(DBInstanceIdentifier=f'{cid}-1')['DBInstances'][0]['DBInstanceStatus']}`"
            )
            self.expect_error(
                r,
                "DescribeDBClusters unknown id",
                rds.describe_db_clusters,
                DBClusterIdentifier=f"nothing-{self.suffix}",
            )
            self.expect_error(
                r,
                "DescribeDBInstances unknown id",
                rds.describe_db_instances,
                DBInstanceIdentifier=f"nothing-{self.suffix}",
            )
            t = rds.list_tags_for_resource(ResourceName=cl["DBClusterArn"])["TagList"]
            r.note(f"ListTagsForResource(cluster) -> {t == [self.tag]}")

    def rds_teardown(self) -> None:
        rds = self.c("rds")
        sm = self.c("secretsmanager")
        cid = f"provision-{self.suffix}-db"
        with self.row("rds", "DeleteDBInstance / DeleteDBCluster (SkipFinalSnapshot)") as r:
            (c,) = self.need("cluster")
            self.expect_error(
                r,
                "DeleteDBCluster while an instance exists",
                rds.delete_db_cluster,
                DBClusterIdentifier=cid,
                SkipFinalSnapshot=True,
            )
            i = rds.delete_db_instance(DBInstanceIdentifier=f"{cid}-1", SkipFinalSnapshot=True)
            r.note(f"DeleteDBInstance status: `{i['DBInstance'].get('DBInstanceStatus')}`")
            after = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cid]}])
            r.note(f"instances right after delete: {len(after['DBInstances'])}")
            d = rds.delete_db_cluster(DBClusterIdentifier=cid, SkipFinalSnapshot=True)
            r.note(f"DeleteDBCluster status: `{d['DBCluster'].get('Status')}`")
            gone = self.expect_error(
                r,
                "DescribeDBClusters after delete",
                rds.describe_db_clusters,
                DBClusterIdentifier=cid,
            )
            del gone
            snaps = rds.describe_db_cluster_snapshots(DBClusterIdentifier=cid)["DBClusterSnapshots"]
            r.note(
                f"cluster snapshots left after delete: {[x['DBClusterSnapshotIdentifier'] for x in snaps]} "
                "(moto takes an automated snapshot at CreateDBCluster)"
            )
            arn = (c.get("MasterUserSecret") or {}).get("SecretArn")
            if arn:
                try:
                    sm.describe_secret(SecretId=arn)
                    r.note("managed master secret still exists after cluster delete")
                except ClientError as exc:
                    r.note(
                        f"managed master secret removed with cluster ({exc.response['Error']['Code']})"
                    )
            rds.delete_db_subnet_group(DBSubnetGroupName=self.ctx["db_subnet_group"])
            rds.delete_db_cluster_parameter_group(DBClusterParameterGroupName=self.ctx["db_cpg"])
            r.note("DeleteDBSubnetGroup / DeleteDBClusterParameterGroup ok")

    # ==================================================== SECRETS MANAGER ==
    def secrets(self) -> None:
        sm = self.c("secretsmanager")
        name = f"provision/{self.suffix}/app"
        with self.row("secretsmanager", "CreateSecret (tags) / GetSecretValue") as r:
            s = sm.create_secret(
                Name=name,
                SecretString=json.dumps({"k": "v"}),
                Tags=[self.tag],
                Description="probe",
            )
            self.ctx["secret"] = s["ARN"]
            r.note(f"ARN suffix random 6 chars: {bool(re.search(r'-[A-Za-z0-9]{6}$', s['ARN']))}")
            v = sm.get_secret_value(SecretId=name)
            r.check(
                json.loads(v["SecretString"]) == {"k": "v"}, "value round-trips", "value differs"
            )
            self.expect_error(
                r, "CreateSecret same name", sm.create_secret, Name=name, SecretString="x"
            )
            self.expect_error(
                r, "GetSecretValue unknown", sm.get_secret_value, SecretId=f"nothing-{self.suffix}"
            )

        with self.row("secretsmanager", "ListSecrets (tag-key / tag-value / name filters)") as r:
            self.need("secret")
            both = sm.list_secrets(
                Filters=[
                    {"Key": "tag-key", "Values": ["EnvironmentSuffix"]},
                    {"Key": "tag-value", "Values": [self.suffix]},
                ]
            )["SecretList"]
            miss = sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["zz" + self.suffix]}])
            byname = sm.list_secrets(
                Filters=[{"Key": "name", "Values": [f"provision/{self.suffix}"]}]
            )
            names = sorted(x["Name"] for x in both)
            r.check(
                name in names and not miss["SecretList"],
                f"tag filters honoured ({len(names)} hit(s), incl. RDS-managed secret: "
                f"{any(n.startswith('rds!') for n in names)})",
                f"tag filters: hit={names} miss={len(miss['SecretList'])}",
            )
            r.note(f"name prefix filter -> {[x['Name'] for x in byname['SecretList']]}")

    def secrets_teardown(self) -> None:
        sm = self.c("secretsmanager")
        name = f"provision/{self.suffix}/app"
        with self.row("secretsmanager", "DeleteSecret (ForceDeleteWithoutRecovery)") as r:
            self.need("secret")
            d = sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            r.note(f"DeletionDate returned: {bool(d.get('DeletionDate'))}")
            self.expect_error(
                r, "GetSecretValue after force delete", sm.get_secret_value, SecretId=name
            )
            sm.create_secret(Name=name, SecretString="again")
            r.note("re-create with same name right after force delete: ok")
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            self.expect_error(
                r,
                "DeleteSecret unknown",
                sm.delete_secret,
                SecretId=f"nothing-{self.suffix}",
                ForceDeleteWithoutRecovery=True,
            )

    # =============================================================== IAM ==
    def iam(self) -> None:
        iam = self.c("iam")
        path = f"/provision/{self.suffix}/"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        with self.row("iam", "CreateRole (Path, Tags)") as r:
            role = iam.create_role(
                RoleName=f"provision-{self.suffix}-task",
                Path=path,
                AssumeRolePolicyDocument=json.dumps(trust),
                Tags=[self.tag],
                Description="probe",
                MaxSessionDuration=3600,
            )["Role"]
            self.ctx["role"] = role["RoleName"]
            self.ctx["role_arn"] = role["Arn"]
            r.note(f"Arn={role['Arn']}")
            r.check(role.get("Tags") == [self.tag], "tags in response", f"Tags={role.get('Tags')}")
            doc = role["AssumeRolePolicyDocument"]
            r.note(f"AssumeRolePolicyDocument returned as {type(doc).__name__} (boto3 decodes)")
            self.expect_error(
                r,
                "CreateRole same name",
                iam.create_role,
                RoleName=role["RoleName"],
                AssumeRolePolicyDocument=json.dumps(trust),
            )
            self.expect_error(r, "GetRole unknown", iam.get_role, RoleName=f"nothing-{self.suffix}")

        with self.row("iam", "ListRoles (PathPrefix)") as r:
            (rn,) = self.need("role")
            lr = iam.list_roles(PathPrefix=path)["Roles"]
            r.check([x["RoleName"] for x in lr] == [rn], "PathPrefix honoured", f"{len(lr)} roles")
            r.note(f"ListRoles entries carry Tags: {'Tags' in lr[0] if lr else '-'}")

        with self.row("iam", "PutRolePolicy / GetRolePolicy") as r:
            (rn,) = self.need("role")
            pol = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
                ],
            }
            iam.put_role_policy(RoleName=rn, PolicyName="inline", PolicyDocument=json.dumps(pol))
            got = iam.get_role_policy(RoleName=rn, PolicyName="inline")["PolicyDocument"]
            r.check(got == pol, "document round-trips", f"document came back as {got}")
            self.expect_error(
                r, "GetRolePolicy unknown", iam.get_role_policy, RoleName=rn, PolicyName="nothing"
            )

        with self.row("iam", "AttachRolePolicy (AWS managed policies)") as r:
            (rn,) = self.need("role")
            for name in [
                "AmazonECSInfrastructureRolePolicyForLoadBalancers",
                "service-role/AmazonECSTaskExecutionRolePolicy",
                "AmazonECSTaskExecutionRolePolicy",
            ]:
                arn = f"arn:aws:iam::aws:policy/{name}"
                try:
                    iam.attach_role_policy(RoleName=rn, PolicyArn=arn)
                    r.note(f"`{name}`: attached")
                except ClientError as exc:
                    r.note(f"`{name}`: {exc.response['Error']['Code']}")
            att = iam.list_attached_role_policies(RoleName=rn)["AttachedPolicies"]
            r.note(f"ListAttachedRolePolicies -> {[a['PolicyName'] for a in att]}")
            try:
                iam.get_policy(
                    PolicyArn="arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
                )
                r.note("GetPolicy(AmazonECSInfrastructureRolePolicyForLoadBalancers) works")
            except ClientError as exc:
                r.differs(f"GetPolicy managed -> {exc.response['Error']['Code']}")

        with self.row("sts", "GetCallerIdentity") as r:
            ident = self.c("sts").get_caller_identity()
            r.note(f"Account={ident['Account']} Arn={ident['Arn']}")

    def iam_teardown(self) -> None:
        iam = self.c("iam")
        with self.row("iam", "DeleteRole with policies attached") as r:
            (rn,) = self.need("role")
            self.expect_error(
                r, "DeleteRole with attached + inline policies", iam.delete_role, RoleName=rn
            )
            for a in iam.list_attached_role_policies(RoleName=rn)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=rn, PolicyArn=a["PolicyArn"])
            self.expect_error(
                r, "DeleteRole with only an inline policy", iam.delete_role, RoleName=rn
            )
            iam.delete_role_policy(RoleName=rn, PolicyName="inline")
            iam.delete_role(RoleName=rn)
            r.note("DeleteRole after detaching/deleting policies: ok")
            self.ctx["role"] = None

    # ================================================================ S3 ==
    def s3(self) -> None:
        s3 = self.c("s3")
        bucket = f"provision-{self.suffix}-alb-logs"
        with self.row("s3", "CreateBucket (LocationConstraint ap-southeast-2)") as r:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            self.ctx["bucket"] = bucket
            loc = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"]
            r.note(f"GetBucketLocation -> {loc}")
            self.expect_error(
                r,
                "CreateBucket without LocationConstraint in ap-southeast-2",
                s3.create_bucket,
                Bucket=f"{bucket}-x",
            )
            code = self.expect_error(
                r,
                "CreateBucket again (same owner)",
                s3.create_bucket,
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": REGION},
            )
            del code
            self.expect_error(
                r, "HeadBucket unknown", s3.head_bucket, Bucket=f"nothing-{self.suffix}"
            )

        with self.row("s3", "PutBucketEncryption / PutPublicAccessBlock / OwnershipControls") as r:
            self.need("bucket")
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
            r.note(
                f"GetBucketEncryption -> {enc['Rules'][0]['ApplyServerSideEncryptionByDefault']}"
            )
            pab = {
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            }
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=pab)
            got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            r.check(got == pab, "public access block round-trips", f"got {got}")
            s3.put_bucket_ownership_controls(
                Bucket=bucket,
                OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            )
            r.note("PutBucketOwnershipControls ok")

        with self.row("s3", "PutBucketLifecycleConfiguration") as r:
            self.need("bucket")
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "expire",
                            "Status": "Enabled",
                            "Filter": {"Prefix": "alb/"},
                            "Expiration": {"Days": 90},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    ]
                },
            )
            rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
            r.note(
                f"GetBucketLifecycleConfiguration -> {rules[0].get('Expiration')} filter={rules[0].get('Filter')}"
            )

        with self.row("s3", "PutBucketPolicy (ELB log delivery)") as r:
            self.need("bucket")
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/alb/AWSLogs/{ACCOUNT}/*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::783225319266:root"},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/alb/AWSLogs/{ACCOUNT}/*",
                    },
                ],
            }
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
            got = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            r.check(got == policy, "policy round-trips (not validated)", "policy changed")
            bad = self.expect_error(
                r,
                "PutBucketPolicy with invalid JSON",
                s3.put_bucket_policy,
                Bucket=bucket,
                Policy="{not json",
            )
            if bad is None:
                try:
                    s3.put_object(Bucket=bucket, Key="probe", Body=b"x")
                    r.note("PutObject after invalid policy ok")
                except ClientError as exc:
                    r.differs(
                        f"...after which PutObject fails: HTTP "
                        f"{exc.response['ResponseMetadata']['HTTPStatusCode']} (moto crashes "
                        "parsing the stored policy)"
                    )
                s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

        with self.row("s3", "PutBucketTagging / GetBucketTagging") as r:
            self.need("bucket")
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [self.tag]})
            got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
            r.check(got == [self.tag], "tags round-trip", f"got {got}")

        with self.row("s3", "DeleteBucket non-empty") as r:
            self.need("bucket")
            s3.put_object(Bucket=bucket, Key="alb/x.log", Body=b"x")
            self.expect_error(r, "DeleteBucket non-empty", s3.delete_bucket, Bucket=bucket)

    def s3_teardown(self) -> None:
        s3 = self.c("s3")
        bucket = self.ctx.get("bucket")
        if bucket:
            with contextlib.suppress(ClientError):
                for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=o["Key"])
                s3.delete_bucket(Bucket=bucket)

    # ============================================================== ELBv2 ==
    def elbv2(self) -> None:
        elb = self.c("elbv2")
        lb_name = f"prov-{self.suffix}-alb"
        with self.row("elbv2", "CreateLoadBalancer (tags)") as r:
            pub, sgs = self.need("public_subnets", "sgs")
            lb = elb.create_load_balancer(
                Name=lb_name,
                Subnets=pub,
                SecurityGroups=[sgs["alb"]],
                Scheme="internet-facing",
                Type="application",
                IpAddressType="ipv4",
                Tags=[self.tag],
            )["LoadBalancers"][0]
            self.ctx["lb"] = lb["LoadBalancerArn"]
            r.note(f"State={lb['State']['Code']} DNSName={lb.get('DNSName')}")
            r.note(f"CanonicalHostedZoneId={lb.get('CanonicalHostedZoneId')}")
            again = elb.create_load_balancer(
                Name=lb_name, Subnets=pub, SecurityGroups=[sgs["alb"]], Tags=[self.tag]
            )["LoadBalancers"][0]
            if again["LoadBalancerArn"] == lb["LoadBalancerArn"]:
                r.note("CreateLoadBalancer same name again -> same ARN (idempotent, as AWS)")
            else:
                self.ctx["lb_dup"] = again["LoadBalancerArn"]
                r.differs(
                    "CreateLoadBalancer same name again -> a SECOND load balancer with a new "
                    "ARN (AWS returns the existing one)"
                )

        with self.row(
            "elbv2", "ModifyLoadBalancerAttributes (drop_invalid_header_fields, access_logs)"
        ) as r:
            (lb_arn,) = self.need("lb")
            attrs = {
                "routing.http.drop_invalid_header_fields.enabled": "true",
                "access_logs.s3.enabled": "true",
                "access_logs.s3.bucket": self.ctx.get("bucket") or "x",
                "access_logs.s3.prefix": "alb",
                "idle_timeout.timeout_seconds": "60",
                "deletion_protection.enabled": "false",
            }
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=lb_arn,
                Attributes=[{"Key": k, "Value": v} for k, v in attrs.items()],
            )
            got = {
                a["Key"]: a["Value"]
                for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]
            }
            bad = {k: got.get(k) for k, v in attrs.items() if got.get(k) != v}
            r.check(not bad, "all attributes stored and returned", f"not reflected: {bad}")
            self.expect_error(
                r,
                "unknown attribute key",
                elb.modify_load_balancer_attributes,
                LoadBalancerArn=lb_arn,
                Attributes=[{"Key": "bogus.key", "Value": "1"}],
            )

        with self.row("elbv2", "DescribeLoadBalancers (Names with a missing name)") as r:
            self.need("lb")
            self.expect_error(
                r, "Names=[missing]", elb.describe_load_balancers, Names=[f"nothing-{self.suffix}"]
            )
            self.expect_error(
                r,
                "Names=[existing, missing]",
                elb.describe_load_balancers,
                Names=[lb_name, f"nothing-{self.suffix}"],
            )
            self.expect_error(
                r,
                "LoadBalancerArns=[unknown arn]",
                elb.describe_load_balancers,
                LoadBalancerArns=[self.ctx["lb"].replace(self.ctx["lb"][-16:], "0123456789abcdef")],
            )

        with self.row("elbv2", "CreateTargetGroup (ip, health checks)") as r:
            (vpc_id,) = self.need("vpc")
            tgs = []
            for color in ("blue", "green"):
                tg = elb.create_target_group(
                    Name=f"prov-{self.suffix}-{color}",
                    Protocol="HTTP",
                    Port=8080,
                    VpcId=vpc_id,
                    TargetType="ip",
                    HealthCheckEnabled=True,
                    HealthCheckProtocol="HTTP",
                    HealthCheckPath="/health",
                    HealthCheckIntervalSeconds=15,
                    HealthCheckTimeoutSeconds=5,
                    HealthyThresholdCount=2,
                    UnhealthyThresholdCount=3,
                    Matcher={"HttpCode": "200-299"},
                    Tags=[self.tag],
                )["TargetGroups"][0]
                tgs.append(tg["TargetGroupArn"])
            self.ctx["tgs"] = tgs
            r.check(
                tg.get("HealthCheckPath") == "/health"
                and tg.get("Matcher") == {"HttpCode": "200-299"}
                and tg.get("TargetType") == "ip",
                "health check settings / TargetType echoed",
                f"echo: {short(tg)}",
            )

        with self.row("elbv2", "DescribeTargetGroups (Names with a missing one)") as r:
            (tgs,) = self.need("tgs")
            ok = elb.describe_target_groups(Names=[f"prov-{self.suffix}-blue"])["TargetGroups"]
            r.check(len(ok) == 1, "Names lookup works", "Names lookup failed")
            self.expect_error(
                r,
                "Names=[existing, missing]",
                elb.describe_target_groups,
                Names=[f"prov-{self.suffix}-blue", f"nothing-{self.suffix}"],
            )
            self.expect_error(
                r, "Names=[missing]", elb.describe_target_groups, Names=[f"nothing-{self.suffix}"]
            )
            if self.ctx.get("lb"):
                lbf = self.optional(
                    r,
                    "DescribeTargetGroups(LoadBalancerArn) with no TG attached",
                    elb.describe_target_groups,
                    LoadBalancerArn=self.ctx["lb"],
                )
                if lbf is not None:
                    r.note(
                        f"LoadBalancerArn filter before any listener -> {len(lbf['TargetGroups'])}"
                    )

        with self.row("elbv2", "ModifyTargetGroupAttributes (deregistration_delay)") as r:
            (tgs,) = self.need("tgs")
            elb.modify_target_group_attributes(
                TargetGroupArn=tgs[0],
                Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
            )
            got = {
                a["Key"]: a["Value"]
                for a in elb.describe_target_group_attributes(TargetGroupArn=tgs[0])["Attributes"]
            }
            r.check(
                got.get("deregistration_delay.timeout_seconds") == "30",
                "stored and returned",
                f"deregistration_delay.timeout_seconds={got.get('deregistration_delay.timeout_seconds')}",
            )

        with self.row("elbv2", "CreateListener (fixed-response default action)") as r:
            lb_arn, tgs = self.need("lb", "tgs")
            ln = elb.create_listener(
                LoadBalancerArn=lb_arn,
                Protocol="HTTP",
                Port=80,
                DefaultActions=[
                    {
                        "Type": "fixed-response",
                        "FixedResponseConfig": {
                            "StatusCode": "404",
                            "ContentType": "application/json",
                            "MessageBody": '{"error":"not found"}',
                        },
                    }
                ],
                Tags=[self.tag],
            )["Listeners"][0]
            self.ctx["listener"] = ln["ListenerArn"]
            r.check(
                ln["DefaultActions"][0].get("FixedResponseConfig", {}).get("StatusCode") == "404",
                "fixed-response echoed",
                f"DefaultActions={ln['DefaultActions']}",
            )
            code = self.expect_error(
                r,
                "CreateListener same port again (different action)",
                elb.create_listener,
                LoadBalancerArn=lb_arn,
                Protocol="HTTP",
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs[0]}],
            )
            if code is None:
                lst = elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
                r.note(
                    f"...listeners now: {len(lst)}; default action of ours: "
                    f"{[x['DefaultActions'][0]['Type'] for x in lst if x['ListenerArn'] == ln['ListenerArn']]}"
                )
                elb.modify_listener(
                    ListenerArn=ln["ListenerArn"], DefaultActions=ln["DefaultActions"]
                )

        with self.row("elbv2", "CreateRule (path-pattern + weighted ForwardConfig)") as r:
            ln_arn, tgs = self.need("listener", "tgs")
            rule = elb.create_rule(
                ListenerArn=ln_arn,
                Priority=10,
                Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
                Actions=[
                    {
                        "Type": "forward",
                        "ForwardConfig": {
                            "TargetGroups": [
                                {"TargetGroupArn": tgs[0], "Weight": 100},
                                {"TargetGroupArn": tgs[1], "Weight": 0},
                            ],
                            "TargetGroupStickinessConfig": {"Enabled": False},
                        },
                    }
                ],
                Tags=[self.tag],
            )["Rules"][0]
            self.ctx["rule"] = rule["RuleArn"]
            fc = rule["Actions"][0].get("ForwardConfig", {})
            weights = [
                (t["TargetGroupArn"] == tgs[0], t.get("Weight")) for t in fc.get("TargetGroups", [])
            ]
            r.check(weights == [(True, 100), (False, 0)], "weights echoed", f"ForwardConfig={fc}")
            cond = rule["Conditions"][0]
            r.note(
                f"condition echoed: PathPatternConfig={cond.get('PathPatternConfig')} Values={cond.get('Values')}"
            )
            self.expect_error(
                r,
                "CreateRule duplicate priority",
                elb.create_rule,
                ListenerArn=ln_arn,
                Priority=10,
                Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/x/*"]}}],
                Actions=[{"Type": "forward", "TargetGroupArn": tgs[0]}],
            )

        with self.row("elbv2", "DescribeRules / ModifyRule (swap weights)") as r:
            ln_arn, rule_arn, tgs = self.need("listener", "rule", "tgs")
            rules = elb.describe_rules(ListenerArn=ln_arn)["Rules"]
            r.note(f"rules: {[(x['Priority'], x['IsDefault']) for x in rules]}")
            ours = next(x for x in rules if x["RuleArn"] == rule_arn)
            fc = ours["Actions"][0].get("ForwardConfig", {})
            r.check(
                [t.get("Weight") for t in fc.get("TargetGroups", [])] == [100, 0],
                "ForwardConfig weights kept on DescribeRules",
                f"DescribeRules ForwardConfig={fc}",
            )
            elb.modify_rule(
                RuleArn=rule_arn,
                Actions=[
                    {
                        "Type": "forward",
                        "ForwardConfig": {
                            "TargetGroups": [
                                {"TargetGroupArn": tgs[0], "Weight": 0},
                                {"TargetGroupArn": tgs[1], "Weight": 100},
                            ]
                        },
                    }
                ],
            )
            m = elb.describe_rules(RuleArns=[rule_arn])["Rules"][0]["Actions"][0]["ForwardConfig"]
            r.check(
                [t["Weight"] for t in m["TargetGroups"]] == [0, 100],
                "ModifyRule weights kept",
                f"after ModifyRule: {m}",
            )
            self.expect_error(
                r,
                "DescribeRules unknown rule arn",
                elb.describe_rules,
                RuleArns=[rule_arn[:-4] + "ffff"],
            )

        with self.row("elbv2", "DescribeTags (lb, tg, listener, rule)") as r:
            lb_arn, tgs, ln_arn, rule_arn = self.need("lb", "tgs", "listener", "rule")
            d = elb.describe_tags(ResourceArns=[lb_arn, tgs[0], ln_arn, rule_arn])[
                "TagDescriptions"
            ]
            have = {x["ResourceArn"].split(":")[5].split("/")[0]: x["Tags"] for x in d}
            r.check(
                all(v == [self.tag] for v in have.values()) and len(have) == 4,
                "tags for all 4 resource kinds",
                f"tags: {have}",
            )

        with self.row("elbv2", "RegisterTargets / DescribeTargetHealth") as r:
            (tgs,) = self.need("tgs")
            h0 = elb.describe_target_health(TargetGroupArn=tgs[0])["TargetHealthDescriptions"]
            r.note(f"no targets -> {len(h0)} descriptions")
            elb.register_targets(
                TargetGroupArn=tgs[0], Targets=[{"Id": "10.42.10.10", "Port": 8080}]
            )
            h = elb.describe_target_health(TargetGroupArn=tgs[0])["TargetHealthDescriptions"]
            r.note(f"after RegisterTargets ip: state={[x['TargetHealth']['State'] for x in h]}")
            if self.ctx.get("lb"):
                lbf = elb.describe_target_groups(LoadBalancerArn=self.ctx["lb"])["TargetGroups"]
                r.note(
                    f"DescribeTargetGroups(LoadBalancerArn) once used by a rule -> {len(lbf)}; "
                    f"LoadBalancerArns on tg: {[len(t['LoadBalancerArns']) for t in lbf]}"
                )
            elb.deregister_targets(
                TargetGroupArn=tgs[0], Targets=[{"Id": "10.42.10.10", "Port": 8080}]
            )
            self.expect_error(
                r,
                "DeleteTargetGroup in use by a rule",
                elb.delete_target_group,
                TargetGroupArn=tgs[1],
            )

    def elbv2_teardown(self) -> None:
        elb = self.c("elbv2")
        with self.row(
            "elbv2", "DeleteRule / DeleteListener / DeleteLoadBalancer / DeleteTargetGroup"
        ) as r:
            lb_arn, tgs, ln_arn, rule_arn = self.need("lb", "tgs", "listener", "rule")
            elb.delete_rule(RuleArn=rule_arn)
            elb.delete_listener(ListenerArn=ln_arn)
            elb.delete_load_balancer(LoadBalancerArn=lb_arn)
            if self.ctx.get("lb_dup"):
                elb.delete_load_balancer(LoadBalancerArn=self.ctx["lb_dup"])
            for t in tgs:
                elb.delete_target_group(TargetGroupArn=t)
            r.note("all deletes ok")
            elb.delete_load_balancer(LoadBalancerArn=lb_arn)
            r.note("DeleteLoadBalancer again (already gone) -> no error")
            self.expect_error(
                r, "DeleteTargetGroup again", elb.delete_target_group, TargetGroupArn=tgs[0]
            )

    # =============================================================== ECS ==
    def ecs(self) -> None:
        ecs = self.c("ecs")
        cname = f"provision-{self.suffix}"
        with self.row(
            "ecs", "CreateCluster (containerInsights=enhanced, capacity providers, tags)"
        ) as r:
            c = ecs.create_cluster(
                clusterName=cname,
                settings=[{"name": "containerInsights", "value": "enhanced"}],
                capacityProviders=["FARGATE", "FARGATE_SPOT"],
                defaultCapacityProviderStrategy=[
                    {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 3},
                ],
                tags=[{"key": "EnvironmentSuffix", "value": self.suffix}],
            )["cluster"]
            self.ctx["cluster_arn"] = c["clusterArn"]
            r.note(f"status={c.get('status')}")
            for k in ("settings", "capacityProviders", "defaultCapacityProviderStrategy", "tags"):
                r.note(f"response `{k}`: {c.get(k)}")

        with self.row("ecs", "DescribeClusters (include TAGS, SETTINGS)") as r:
            self.need("cluster_arn")
            d = ecs.describe_clusters(clusters=[cname], include=["TAGS", "SETTINGS"])
            c = d["clusters"][0]
            r.check(
                c.get("settings") == [{"name": "containerInsights", "value": "enhanced"}],
                "settings kept",
                f"settings={c.get('settings')}",
            )
            r.check(
                c.get("tags") == [{"key": "EnvironmentSuffix", "value": self.suffix}],
                "tags returned with include=TAGS",
                f"tags={c.get('tags')}",
            )
            r.check(
                c.get("capacityProviders") == ["FARGATE", "FARGATE_SPOT"],
                "capacityProviders kept",
                f"capacityProviders={c.get('capacityProviders')}",
            )
            r.check(
                bool(c.get("defaultCapacityProviderStrategy")),
                f"defaultCapacityProviderStrategy kept: {c.get('defaultCapacityProviderStrategy')}",
                f"defaultCapacityProviderStrategy={c.get('defaultCapacityProviderStrategy')}",
            )
            miss = ecs.describe_clusters(clusters=[f"nothing-{self.suffix}"])
            r.note(
                f"unknown cluster -> clusters={len(miss['clusters'])} failures={miss['failures']}"
            )
            notags = ecs.describe_clusters(clusters=[cname])["clusters"][0]
            r.note(
                f"without include: tags key present={'tags' in notags}, settings present={'settings' in notags}"
            )
            ecs.create_cluster(clusterName=cname)
            again = ecs.describe_clusters(clusters=[cname], include=["TAGS", "SETTINGS"])[
                "clusters"
            ][0]
            r.check(
                again.get("settings") == c.get("settings") and again.get("tags") == c.get("tags"),
                "CreateCluster again with the same name keeps the existing cluster",
                "CreateCluster again with the same name (no settings/tags) REPLACES the cluster: "
                f"settings={again.get('settings')} tags={again.get('tags')} "
                f"capacityProviders={again.get('capacityProviders')}",
            )
            ecs.create_cluster(
                clusterName=cname,
                settings=[{"name": "containerInsights", "value": "enhanced"}],
                capacityProviders=["FARGATE", "FARGATE_SPOT"],
                defaultCapacityProviderStrategy=[
                    {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 3},
                ],
                tags=[{"key": "EnvironmentSuffix", "value": self.suffix}],
            )

        with self.row("ecs", "RegisterTaskDefinition (secrets, healthCheck, stopTimeout)") as r:
            secret_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-x-AbCdEf"
            td_in = {
                "family": f"provision-{self.suffix}-api",
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "512",
                "memory": "1024",
                "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/exec",
                "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/task",
                "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
                "containerDefinitions": [
                    {
                        "name": "api",
                        "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/provision/api:v1",
                        "essential": True,
                        "portMappings": [
                            {"containerPort": 8080, "protocol": "tcp", "name": "http"}
                        ],
                        "environment": [{"name": "PORT", "value": "8080"}],
                        "secrets": [
                            {"name": "DB_USER", "valueFrom": f"{secret_arn}:username::"},
                            {"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password::"},
                        ],
                        "healthCheck": {
                            "command": [
                                "CMD-SHELL",
                                "curl -f http://localhost:8080/health || exit 1",
                            ],
                            "interval": 15,
                            "timeout": 5,
                            "retries": 3,
                            "startPeriod": 30,
                        },
                        "stopTimeout": 30,
                        "readonlyRootFilesystem": True,
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": f"/provision/{self.suffix}/app",
                                "awslogs-region": REGION,
                                "awslogs-stream-prefix": "api",
                            },
                        },
                    }
                ],
                "tags": [{"key": "EnvironmentSuffix", "value": self.suffix}],
            }
            td = ecs.register_task_definition(**td_in)
            out = td["taskDefinition"]
            self.ctx["td"] = out["taskDefinitionArn"]
            self.ctx["td_in"] = td_in
            cd = out["containerDefinitions"][0]
            diffs = diff(td_in["containerDefinitions"][0], cd)
            r.check(
                not diffs,
                "containerDefinition (secrets/healthCheck/stopTimeout/...) kept verbatim",
                f"containerDefinition differs: {diffs}",
            )
            top = {k: v for k, v in td_in.items() if k not in ("containerDefinitions", "tags")}
            tdiff = diff(top, out)
            r.check(not tdiff, "task-level fields kept", f"task-level differs: {tdiff}")
            r.note(
                f"revision={out['revision']} status={out['status']} response tags={td.get('tags')}"
            )
            d = ecs.describe_task_definition(
                taskDefinition=out["taskDefinitionArn"], include=["TAGS"]
            )
            r.note(f"DescribeTaskDefinition include=TAGS -> tags={d.get('tags')}")

        with self.row(
            "ecs", "ListTaskDefinitions (familyPrefix) / Deregister / DeleteTaskDefinitions"
        ) as r:
            (td_arn,) = self.need("td")
            td_in = self.ctx["td_in"]
            td2 = ecs.register_task_definition(**td_in)["taskDefinition"]["taskDefinitionArn"]
            self.ctx["td2"] = td2
            fam = td_in["family"]
            l1 = ecs.list_task_definitions(familyPrefix=fam)["taskDefinitionArns"]
            r.check(l1 == [td_arn, td2], "familyPrefix honoured (2 revisions)", f"-> {l1}")
            lp = ecs.list_task_definitions(familyPrefix=fam[:-2])["taskDefinitionArns"]
            r.note(f"familyPrefix with a *truncated* family -> {len(lp)} (AWS: exact family match)")
            dereg = ecs.deregister_task_definition(taskDefinition=td_arn)["taskDefinition"]
            r.note(f"Deregister -> status={dereg['status']}")
            act = ecs.list_task_definitions(familyPrefix=fam, status="ACTIVE")["taskDefinitionArns"]
            ina = ecs.list_task_definitions(familyPrefix=fam, status="INACTIVE")[
                "taskDefinitionArns"
            ]
            r.note(f"status=ACTIVE -> {len(act)}, status=INACTIVE -> {len(ina)}")
            dl = ecs.delete_task_definitions(taskDefinitions=[td_arn])
            r.note(
                f"DeleteTaskDefinitions -> taskDefinitions={len(dl['taskDefinitions'])} "
                f"status={[t.get('status') for t in dl['taskDefinitions']]} failures={dl['failures']}"
            )
            try:
                after = ecs.describe_task_definition(taskDefinition=td_arn)["taskDefinition"][
                    "status"
                ]
                r.note(f"DescribeTaskDefinition after delete -> status={after}")
            except ClientError as exc:
                r.note(f"DescribeTaskDefinition after delete -> {exc.response['Error']['Code']}")
            self.expect_error(
                r,
                "DescribeTaskDefinition unknown",
                ecs.describe_task_definition,
                taskDefinition=f"nothing-{self.suffix}:1",
            )

        with self.row(
            "ecs", "CreateService (capacityProviderStrategy, BLUE_GREEN, advancedConfiguration)"
        ) as r:
            td2, tgs, rule_arn, priv, sgs = self.need(
                "td2", "tgs", "rule", "private_subnets", "sgs"
            )
            role_arn = f"arn:aws:iam::{ACCOUNT}:role/ecs-infra-{self.suffix}"
            svc_in = {
                "cluster": cname,
                "serviceName": "api",
                "taskDefinition": td2,
                "desiredCount": 2,
                "capacityProviderStrategy": [
                    {"capacityProvider": "FARGATE", "weight": 1, "base": 1}
                ],
                "platformVersion": "LATEST",
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "subnets": priv,
                        "securityGroups": [sgs["app"]],
                        "assignPublicIp": "DISABLED",
                    }
                },
                "loadBalancers": [
                    {
                        "targetGroupArn": tgs[0],
                        "containerName": "api",
                        "containerPort": 8080,
                        "advancedConfiguration": {
                            "alternateTargetGroupArn": tgs[1],
                            "productionListenerRule": rule_arn,
                            "roleArn": role_arn,
                        },
                    }
                ],
                "deploymentController": {"type": "ECS"},
                "deploymentConfiguration": {
                    "strategy": "BLUE_GREEN",
                    "bakeTimeInMinutes": 5,
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100,
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                    "alarms": {"alarmNames": ["x"], "enable": False, "rollback": False},
                },
                "healthCheckGracePeriodSeconds": 60,
                "propagateTags": "SERVICE",
                "enableECSManagedTags": True,
                "enableExecuteCommand": False,
                "tags": [{"key": "EnvironmentSuffix", "value": self.suffix}],
            }
            svc = ecs.create_service(**svc_in)["service"]
            self.ctx["service"] = svc["serviceArn"]
            req = {k: v for k, v in svc_in.items() if k not in ("cluster",)}
            d = diff(req, svc)
            r.check(not d, "every request field echoed", "dropped/changed: " + "; ".join(d))
            kept = [k for k in req if not diff({k: req[k]}, svc)]
            r.note(f"kept verbatim: {', '.join(kept)}")
            described = ecs.describe_services(cluster=cname, services=["api"], include=["TAGS"])
            d2 = diff(req, described["services"][0])
            r.note("DescribeServices drops the same: " + str(sorted(d2) == sorted(d)))
            r.note(
                f"status={svc.get('status')} runningCount={svc.get('runningCount')} "
                f"pendingCount={svc.get('pendingCount')} launchType={svc.get('launchType')!r} "
                f"deployments={[(x.get('status'), x.get('rolloutState')) for x in svc.get('deployments', [])]}"
            )
            self.ctx["svc_in"] = svc_in

        with self.row("ecs", "DescribeServices (include TAGS)") as r:
            self.need("service")
            d = ecs.describe_services(cluster=cname, services=["api"], include=["TAGS"])
            s = d["services"][0]
            r.check(
                s.get("tags") == [{"key": "EnvironmentSuffix", "value": self.suffix}],
                "tags returned",
                f"tags={s.get('tags')}",
            )
            r.note(
                f"runningCount={s.get('runningCount')} desiredCount={s.get('desiredCount')} "
                f"deployments={len(s.get('deployments', []))} events={len(s.get('events', []))}"
            )
            m = ecs.describe_services(cluster=cname, services=[f"nothing-{self.suffix}"])
            r.note(f"unknown service -> services={len(m['services'])} failures={m['failures']}")
            self.expect_error(
                r,
                "DescribeServices unknown cluster",
                ecs.describe_services,
                cluster=f"nothing-{self.suffix}",
                services=["api"],
            )
            ls = ecs.list_services(cluster=cname)["serviceArns"]
            r.note(f"ListServices -> {len(ls)}")
            code = self.expect_error(
                r,
                "CreateService same name again",
                ecs.create_service,
                cluster=cname,
                serviceName="api",
                taskDefinition=self.ctx["td2"],
                desiredCount=1,
            )
            if code is None:
                s2 = ecs.describe_services(cluster=cname, services=["api"], include=["TAGS"])
                s2 = s2["services"][0]
                r.differs(
                    f"...it REPLACES the service: desiredCount={s2['desiredCount']} "
                    f"tags={s2.get('tags')} loadBalancers={len(s2.get('loadBalancers', []))}"
                )
                ecs.delete_service(cluster=cname, service="api", force=True)
                ecs.create_service(**self.ctx["svc_in"])

        with self.row("ecs", "UpdateService (new task definition, desiredCount)") as r:
            td_arn, _ = self.need("td2", "service")
            u = ecs.update_service(
                cluster=cname,
                service="api",
                taskDefinition=td_arn,
                desiredCount=3,
                forceNewDeployment=True,
                deploymentConfiguration={
                    "strategy": "BLUE_GREEN",
                    "bakeTimeInMinutes": 1,
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                },
            )["service"]
            r.note(
                f"desiredCount={u['desiredCount']} deployments={[(x.get('status'), x.get('taskDefinition', '').rsplit(':', 1)[-1]) for x in u.get('deployments', [])]}"
            )
            r.note(f"deploymentConfiguration after update: {u.get('deploymentConfiguration')}")

        with self.row("ecs", "ListServiceDeployments / DescribeServiceDeployments") as r:
            (_svc_arn,) = self.need("service")
            lsd = ecs.list_service_deployments(cluster=cname, service="api")
            r.note(f"ListServiceDeployments -> {lsd.get('serviceDeployments')}")
            arns = [x["serviceDeploymentArn"] for x in lsd.get("serviceDeployments", [])]
            if arns:
                dsd = ecs.describe_service_deployments(serviceDeploymentArns=arns[:1])
                r.note(f"DescribeServiceDeployments -> {short(dsd.get('serviceDeployments'))}")

    def ecs_teardown(self) -> None:
        ecs = self.c("ecs")
        cname = f"provision-{self.suffix}"
        with self.row("ecs", "DeleteService (force) / DeleteCluster") as r:
            self.need("service")
            self.expect_error(
                r, "DeleteCluster with an ACTIVE service", ecs.delete_cluster, cluster=cname
            )
            self.expect_error(
                r,
                "DeleteService without force, desiredCount>0",
                ecs.delete_service,
                cluster=cname,
                service="api",
            )
            d = ecs.delete_service(cluster=cname, service="api", force=True)["service"]
            r.note(f"DeleteService force -> status={d['status']}")
            after = ecs.describe_services(cluster=cname, services=["api"])
            r.note(
                f"DescribeServices after delete -> {[s['status'] for s in after['services']]} "
                f"failures={after['failures']}"
            )
            r.note(
                f"ListServices after delete -> {len(ecs.list_services(cluster=cname)['serviceArns'])}"
            )
            self.expect_error(
                r,
                "DeleteService again",
                ecs.delete_service,
                cluster=cname,
                service="api",
                force=True,
            )
            c = ecs.delete_cluster(cluster=cname)["cluster"]
            r.note(f"DeleteCluster -> status={c['status']}")
            after = ecs.describe_clusters(clusters=[cname])
            r.note(
                f"DescribeClusters after delete -> {[x['status'] for x in after['clusters']]} "
                f"failures={after['failures']}"
            )
            self.ctx["service"] = None

    # ========================================= APPLICATION AUTO SCALING ==
    def autoscaling(self) -> None:
        aas = self.c("application-autoscaling")
        cw = self.c("cloudwatch")
        rid = f"service/provision-{self.suffix}/api"
        with self.row("application-autoscaling", "RegisterScalableTarget") as r:
            t = aas.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=rid,
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=2,
                MaxCapacity=10,
                Tags={"EnvironmentSuffix": self.suffix},
            )
            self.ctx["scalable"] = rid
            r.note(f"ScalableTargetARN returned: {bool(t.get('ScalableTargetARN'))}")
            self.expect_error(
                r,
                "RegisterScalableTarget for a non-existent ECS service",
                aas.register_scalable_target,
                ServiceNamespace="ecs",
                ResourceId=f"service/provision-{self.suffix}/nothing",
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=1,
                MaxCapacity=2,
            )
            aas.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=rid,
                ScalableDimension="ecs:service:DesiredCount",
                MaxCapacity=12,
            )
            r.note("re-register (update MaxCapacity only) ok")

        with self.row("application-autoscaling", "PutScalingPolicy (TargetTrackingScaling)") as r:
            self.need("scalable")
            p = aas.put_scaling_policy(
                PolicyName=f"cpu-{self.suffix}",
                ServiceNamespace="ecs",
                ResourceId=rid,
                ScalableDimension="ecs:service:DesiredCount",
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 60.0,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "ScaleInCooldown": 120,
                    "ScaleOutCooldown": 60,
                    "DisableScaleIn": False,
                },
            )
            r.note(
                f"PolicyARN returned: {bool(p.get('PolicyARN'))}; Alarms={[a['AlarmName'] for a in p.get('Alarms', [])]}"
            )
            alarms = cw.describe_alarms(AlarmNamePrefix="TargetTracking-")["MetricAlarms"]
            r.note(f"CloudWatch TargetTracking-* alarms created by moto: {len(alarms)}")
            self.expect_error(
                r,
                "PutScalingPolicy for unregistered target",
                aas.put_scaling_policy,
                PolicyName="x",
                ServiceNamespace="ecs",
                ResourceId=f"service/nothing-{self.suffix}/api",
                ScalableDimension="ecs:service:DesiredCount",
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 60.0,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                },
            )

        with self.row(
            "application-autoscaling", "DescribeScalableTargets / DescribeScalingPolicies"
        ) as r:
            self.need("scalable")
            t = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[rid])[
                "ScalableTargets"
            ]
            r.check(
                len(t) == 1 and t[0]["MinCapacity"] == 2 and t[0]["MaxCapacity"] == 12,
                "ResourceIds filter + values ok (Min kept when re-registering with Max only)",
                f"targets={short(t)}",
            )
            p = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=rid)[
                "ScalingPolicies"
            ]
            r.note(
                f"policies={[x['PolicyName'] for x in p]} "
                f"TargetValue={p[0]['TargetTrackingScalingPolicyConfiguration']['TargetValue'] if p else '-'}"
            )
            if t and t[0].get("ScalableTargetARN"):
                tags = self.optional(
                    r,
                    "ListTagsForResource",
                    aas.list_tags_for_resource,
                    ResourceARN=t[0]["ScalableTargetARN"],
                )
                if tags is not None:
                    r.note(f"ListTagsForResource -> {tags['Tags']}")

    def autoscaling_teardown(self) -> None:
        aas = self.c("application-autoscaling")
        cw = self.c("cloudwatch")
        rid = f"service/provision-{self.suffix}/api"
        with self.row(
            "application-autoscaling", "DeleteScalingPolicy / DeregisterScalableTarget"
        ) as r:
            self.need("scalable")
            aas.delete_scaling_policy(
                PolicyName=f"cpu-{self.suffix}",
                ServiceNamespace="ecs",
                ResourceId=rid,
                ScalableDimension="ecs:service:DesiredCount",
            )
            aas.deregister_scalable_target(
                ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount"
            )
            self.expect_error(
                r,
                "DeregisterScalableTarget again",
                aas.deregister_scalable_target,
                ServiceNamespace="ecs",
                ResourceId=rid,
                ScalableDimension="ecs:service:DesiredCount",
            )
            self.expect_error(
                r,
                "DeleteScalingPolicy unknown",
                aas.delete_scaling_policy,
                PolicyName="nothing",
                ServiceNamespace="ecs",
                ResourceId=rid,
                ScalableDimension="ecs:service:DesiredCount",
            )
            alarms = cw.describe_alarms(AlarmNamePrefix="TargetTracking-")["MetricAlarms"]
            if alarms:
                r.differs(
                    f"{len(alarms)} TargetTracking-* alarms left after DeleteScalingPolicy (AWS deletes them)"
                )
                cw.delete_alarms(AlarmNames=[a["AlarmName"] for a in alarms])

    # ======================================================== CLOUDWATCH ==
    def cloudwatch(self) -> None:
        cw = self.c("cloudwatch")
        name = f"provision-{self.suffix}-cpu-high"
        with self.row(
            "cloudwatch", "smithy-rpc-v2-cbor wire protocol (what aws-sdk-rust sends)"
        ) as r:
            status, ctype, body = raw_cbor_call(self.endpoint, "DescribeAlarms")
            if status == 404 and "html" in ctype:
                r.missing(
                    "POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms -> "
                    "HTTP 404 HTML: moto has no rpc-v2-cbor support (query + JSON 1.0 only). "
                    "Route CloudWatch through scripts/fault_proxy.py (CBOR<->JSON bridge)."
                )
            else:
                r.note(f"HTTP {status} {ctype}: {body[:80]!r}")

        with (
            self.row(
                "cloudwatch", "rpc-v2-cbor via scripts/fault_proxy.py (CBOR<->JSON bridge)"
            ) as r,
            fault_proxy(self.endpoint) as proxy_url,
        ):
            cb = cbor_cloudwatch_client(proxy_url, self._cfg)
            cb.put_metric_alarm(
                AlarmName=f"cbor-{self.suffix}",
                Namespace="AWS/ECS",
                MetricName="CPUUtilization",
                Statistic="Average",
                Period=60,
                EvaluationPeriods=1,
                Threshold=80,
                ComparisonOperator="GreaterThanThreshold",
                Tags=[self.tag],
            )
            got = cb.describe_alarms(AlarmNamePrefix=f"cbor-{self.suffix}")["MetricAlarms"]
            cb.delete_alarms(AlarmNames=[f"cbor-{self.suffix}"])
            r.check(
                len(got) == 1 and got[0]["Threshold"] == 80.0,
                "PutMetricAlarm/DescribeAlarms/DeleteAlarms over CBOR work through the proxy",
                f"bridge returned {short(got)}",
            )

        with self.row("cloudwatch", "PutMetricAlarm (tags, dimensions, actions)") as r:
            topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:provision-{self.suffix}-alarms"
            cw.put_metric_alarm(
                AlarmName=name,
                AlarmDescription="cpu",
                Namespace="AWS/ECS",
                MetricName="CPUUtilization",
                Dimensions=[
                    {"Name": "ClusterName", "Value": "c"},
                    {"Name": "ServiceName", "Value": "api"},
                ],
                Statistic="Average",
                Period=60,
                EvaluationPeriods=3,
                DatapointsToAlarm=2,
                Threshold=80.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
                AlarmActions=[topic],
                OKActions=[topic],
                Tags=[self.tag],
            )
            cw.put_metric_alarm(
                AlarmName=f"{name}-math",
                EvaluationPeriods=1,
                Threshold=5,
                ComparisonOperator="GreaterThanThreshold",
                Metrics=[
                    {"Id": "e", "Expression": "100*m/1", "Label": "pct", "ReturnData": True},
                    {
                        "Id": "m",
                        "ReturnData": False,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/ApplicationELB",
                                "MetricName": "HTTPCode_Target_5XX_Count",
                                "Dimensions": [{"Name": "LoadBalancer", "Value": "app/x/y"}],
                            },
                            "Period": 60,
                            "Stat": "Sum",
                        },
                    },
                ],
            )
            self.ctx["alarm"] = name
            a = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
            r.note(
                f"StateValue={a['StateValue']} TreatMissingData={a.get('TreatMissingData')} "
                f"DatapointsToAlarm={a.get('DatapointsToAlarm')} AlarmActions kept={a.get('AlarmActions') == [topic]}"
            )
            t = cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
            r.check(t == [self.tag], "tags stored (ListTagsForResource)", f"tags={t}")
            cw.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/ECS",
                MetricName="CPUUtilization",
                Statistic="Average",
                Period=60,
                EvaluationPeriods=3,
                Threshold=90.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
            t2 = cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
            r.note(f"PutMetricAlarm again (update, no Tags) -> tags kept: {t2 == [self.tag]}")

        with self.row("cloudwatch", "DescribeAlarms (AlarmNamePrefix)") as r:
            self.need("alarm")
            d = cw.describe_alarms(AlarmNamePrefix=f"provision-{self.suffix}-")["MetricAlarms"]
            r.check(
                sorted(x["AlarmName"] for x in d) == [name, f"{name}-math"],
                "prefix honoured",
                f"-> {[x['AlarmName'] for x in d]}",
            )
            m = [x for x in d if x["AlarmName"].endswith("-math")]
            r.note(f"metric-math alarm Metrics kept: {len(m[0].get('Metrics', [])) if m else '-'}")
            none = cw.describe_alarms(AlarmNames=[f"nothing-{self.suffix}"])["MetricAlarms"]
            r.note(f"unknown AlarmNames -> {len(none)} alarms, no error")

        with self.row("cloudwatch", "PutDashboard / ListDashboards (prefix) / GetDashboard") as r:
            body = json.dumps(
                {
                    "widgets": [
                        {
                            "type": "metric",
                            "x": 0,
                            "y": 0,
                            "width": 12,
                            "height": 6,
                            "properties": {
                                "metrics": [["AWS/ECS", "CPUUtilization"]],
                                "region": REGION,
                                "title": "cpu",
                            },
                        }
                    ]
                }
            )
            p = cw.put_dashboard(DashboardName=f"provision-{self.suffix}", DashboardBody=body)
            r.note(f"DashboardValidationMessages={p.get('DashboardValidationMessages')}")
            ld = cw.list_dashboards(DashboardNamePrefix=f"provision-{self.suffix}")[
                "DashboardEntries"
            ]
            r.check(len(ld) == 1, "prefix honoured", f"-> {len(ld)}")
            g = cw.get_dashboard(DashboardName=f"provision-{self.suffix}")
            r.check(g["DashboardBody"] == body, "body round-trips verbatim", "body changed")
            self.expect_error(
                r, "GetDashboard unknown", cw.get_dashboard, DashboardName=f"nothing-{self.suffix}"
            )
            self.expect_error(
                r,
                "PutDashboard invalid JSON body",
                cw.put_dashboard,
                DashboardName=f"bad-{self.suffix}",
                DashboardBody="{nope",
            )

    def cloudwatch_teardown(self) -> None:
        cw = self.c("cloudwatch")
        name = f"provision-{self.suffix}-cpu-high"
        with self.row("cloudwatch", "DeleteAlarms / DeleteDashboards") as r:
            self.need("alarm")
            cw.delete_alarms(AlarmNames=[name, f"{name}-math"])
            cw.delete_dashboards(DashboardNames=[f"provision-{self.suffix}"])
            r.note("ok")
            try:
                cw.delete_alarms(AlarmNames=[f"nothing-{self.suffix}"])
                r.note("DeleteAlarms unknown name -> no error")
            except ClientError as exc:
                r.note(f"DeleteAlarms unknown name -> {exc.response['Error']['Code']}")
            self.expect_error(
                r,
                "DeleteDashboards unknown name",
                cw.delete_dashboards,
                DashboardNames=[f"nothing-{self.suffix}"],
            )

    # =============================================================== SNS ==
    def sns(self) -> None:
        sns = self.c("sns")
        with self.row("sns", "CreateTopic (tags) / GetTopicAttributes") as r:
            t = sns.create_topic(
                Name=f"provision-{self.suffix}-alarms",
                Tags=[self.tag],
                Attributes={"DisplayName": "alarms"},
            )
            arn = t["TopicArn"]
            self.ctx["topic"] = arn
            a = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            r.note(f"attributes: {sorted(a)}")
            tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
            r.check(tags == [self.tag], "tags stored", f"tags={tags}")
            again = sns.create_topic(Name=f"provision-{self.suffix}-alarms", Tags=[self.tag])
            r.note(f"CreateTopic again -> same ARN: {again['TopicArn'] == arn}")
            self.expect_error(
                r,
                "GetTopicAttributes unknown",
                sns.get_topic_attributes,
                TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:nothing-{self.suffix}",
            )

        with self.row("sns", "Subscribe (email)") as r:
            (arn,) = self.need("topic")
            s = sns.subscribe(
                TopicArn=arn,
                Protocol="email",
                Endpoint="ops@example.com",
                ReturnSubscriptionArn=True,
            )
            r.note(f"SubscriptionArn={s['SubscriptionArn'][-40:]!r}")
            lst = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
            r.note(
                f"ListSubscriptionsByTopic -> {[(x['Protocol'], x['SubscriptionArn'][-12:]) for x in lst]}"
            )
            s2 = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
            r.note(
                f"Subscribe again (without ReturnSubscriptionArn) -> {s2['SubscriptionArn'][-20:]!r}, "
                f"same arn: {s2['SubscriptionArn'] == s['SubscriptionArn']}"
            )
            attrs = sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])[
                "Attributes"
            ]
            r.note(f"PendingConfirmation={attrs.get('PendingConfirmation')}")

    def sns_teardown(self) -> None:
        sns = self.c("sns")
        with self.row("sns", "DeleteTopic") as r:
            (arn,) = self.need("topic")
            sns.delete_topic(TopicArn=arn)
            self.expect_error(
                r, "GetTopicAttributes after delete", sns.get_topic_attributes, TopicArn=arn
            )
            sns.delete_topic(TopicArn=arn)
            r.note("DeleteTopic again -> no error")
            subs = [x for x in sns.list_subscriptions()["Subscriptions"] if x["TopicArn"] == arn]
            r.note(f"subscriptions left for deleted topic: {len(subs)}")

    # ============================================ RESOURCE GROUPS TAGGING ==
    def tagging(self) -> None:
        rgt = self.c("resourcegroupstaggingapi")
        with self.row("resourcegroupstaggingapi", "GetResources (TagFilters)") as r:
            res = []
            token = ""
            while True:
                kw = {"TagFilters": [{"Key": "EnvironmentSuffix", "Values": [self.suffix]}]}
                if token:
                    kw["PaginationToken"] = token
                page = rgt.get_resources(**kw)
                res += page["ResourceTagMappingList"]
                token = page.get("PaginationToken")
                if not token:
                    break
            kinds: dict[str, int] = {}
            for x in res:
                parts = x["ResourceARN"].split(":")
                sub = parts[5].split("/")[0] if len(parts) > 5 else ""
                key = (
                    f"{parts[2]}:{sub}"
                    if sub and parts[2] not in ("s3", "sns", "logs")
                    else parts[2]
                )
                if parts[2] == "logs":
                    key = "logs:log-group"
                kinds[key] = kinds.get(key, 0) + 1
            r.note(
                f"{len(res)} resources: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
            )
            expected = {
                "ec2:vpc",
                "ec2:subnet",
                "ec2:internet-gateway",
                "ec2:elastic-ip",
                "ec2:natgateway",
                "ec2:route-table",
                "ec2:security-group",
                "ec2:flow-logs",
                "logs:log-group",
                "ecr:repository",
                "rds:cluster",
                "rds:db",
                "rds:subgrp",
                "rds:cluster-pg",
                "secretsmanager:secret",
                "iam:role",
                "s3",
                "elasticloadbalancing:loadbalancer",
                "elasticloadbalancing:targetgroup",
                "elasticloadbalancing:listener",
                "elasticloadbalancing:listener-rule",
                "ecs:cluster",
                "ecs:task-definition",
                "ecs:service",
                "cloudwatch:alarm",
                "sns",
                "application-autoscaling:scalable-target",
            }
            r.note(
                "NOT returned (tagged but absent): "
                + (", ".join(sorted(expected - set(kinds))) or "none")
            )
            r.note("(all of them exist when this runs: it runs before teardown)")
            rds_arns = [
                x["ResourceARN"].split(":", 5)[5] for x in res if ":rds:" in x["ResourceARN"]
            ]
            r.note(f"rds ARNs returned: {rds_arns}")
            rt = rgt.get_resources(
                ResourceTypeFilters=["ec2:vpc"],
                TagFilters=[{"Key": "EnvironmentSuffix", "Values": [self.suffix]}],
            )
            r.note(f"ResourceTypeFilters=['ec2:vpc'] -> {len(rt['ResourceTagMappingList'])}")
            keys = rgt.get_tag_keys()["TagKeys"]
            r.note(f"GetTagKeys includes EnvironmentSuffix: {'EnvironmentSuffix' in keys}")

    # ========================================================= EC2 TEARDOWN ==
    def ec2_teardown(self) -> None:
        ec2 = self.c("ec2")
        with self.row("ec2", "Delete with dependencies (SG referenced, subnet with NAT)") as r:
            sgs, pub = self.need("sgs", "public_subnets")
            code = self.expect_error(
                r,
                "DeleteSecurityGroup referenced by another SG's rule",
                ec2.delete_security_group,
                GroupId=sgs["app"],
            )
            if code is None:
                sgs.pop("app")
                r.note("(the referencing rule in the db SG is left dangling)")
            code = self.expect_error(
                r, "DeleteSubnet that holds a NAT gateway", ec2.delete_subnet, SubnetId=pub[0]
            )
            if code is None:
                self.ctx["public_subnets"] = pub[1:]

        with self.row("ec2", "DeleteNatGateway (state) / full teardown") as r:
            nat, vpc_id = self.need("nat", "vpc")
            d = ec2.delete_nat_gateway(NatGatewayId=nat)
            r.note(f"DeleteNatGateway returns {sorted(k for k in d if k != 'ResponseMetadata')}")
            n = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"]
            r.note(
                f"DescribeNatGateways after delete -> {[x['State'] for x in n]} (still listed, "
                "immediately; no `deleting` phase)"
            )
            if self.ctx.get("nat_dup"):
                ec2.delete_nat_gateway(NatGatewayId=self.ctx["nat_dup"])
            a = ec2.describe_addresses(AllocationIds=[self.ctx["eip"]])["Addresses"][0]
            r.note(f"EIP still associated after NAT delete: {bool(a.get('AssociationId'))}")
            problems: list[str] = []

            def attempt(label: str, fn, **kw) -> None:
                try:
                    fn(**kw)
                except ClientError as exc:
                    problems.append(f"{label}: {exc.response['Error']['Code']}")

            for fl in self.ctx.get("flowlogs") or []:
                attempt("DeleteFlowLogs", ec2.delete_flow_logs, FlowLogIds=[fl])
            attempt(
                "DetachInternetGateway",
                ec2.detach_internet_gateway,
                InternetGatewayId=self.ctx["igw"],
                VpcId=vpc_id,
            )
            attempt(
                "DeleteInternetGateway",
                ec2.delete_internet_gateway,
                InternetGatewayId=self.ctx["igw"],
            )
            for rt in self.ctx.get("rts") or []:
                t = ec2.describe_route_tables(RouteTableIds=[rt])["RouteTables"][0]
                for assoc in t.get("Associations", []):
                    attempt(
                        "DisassociateRouteTable",
                        ec2.disassociate_route_table,
                        AssociationId=assoc["RouteTableAssociationId"],
                    )
                attempt("DeleteRouteTable", ec2.delete_route_table, RouteTableId=rt)
            for key in ("eip", "eip2"):
                if self.ctx.get(key):
                    attempt("ReleaseAddress", ec2.release_address, AllocationId=self.ctx[key])
            sgs = self.ctx.get("sgs") or {}
            for gid in sgs.values():
                g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
                if g["IpPermissions"]:
                    attempt(
                        "RevokeSecurityGroupIngress (rule referencing the deleted SG)",
                        ec2.revoke_security_group_ingress,
                        GroupId=gid,
                        IpPermissions=g["IpPermissions"],
                    )
            for gid in sgs.values():
                attempt("DeleteSecurityGroup", ec2.delete_security_group, GroupId=gid)
            for sn in (self.ctx.get("public_subnets") or []) + (
                self.ctx.get("private_subnets") or []
            ):
                attempt("DeleteSubnet", ec2.delete_subnet, SubnetId=sn)
            attempt("DeleteVpc", ec2.delete_vpc, VpcId=vpc_id)
            if problems:
                r.differs("teardown problems: " + "; ".join(problems))
            else:
                r.note("teardown (flow logs, IGW, route tables, EIPs, SGs, subnets, VPC) ok")
            self.expect_error(r, "DescribeVpcs after delete", ec2.describe_vpcs, VpcIds=[vpc_id])

    def logs_teardown(self) -> None:
        logs = self.c("logs")
        if self.ctx.get("log_group"):
            with contextlib.suppress(ClientError):
                logs.delete_log_group(logGroupName=self.ctx["log_group"])

    # ============================================================== RUN ==
    def run(self) -> None:
        steps = [
            # create / inspect
            self.ec2,
            self.logs,
            self.ecr,
            self.secrets,
            self.iam,
            self.s3,
            self.rds,
            self.elbv2,
            self.ecs,
            self.autoscaling,
            self.sns,
            self.cloudwatch,
            # everything tagged is alive now
            self.tagging,
            # teardown
            self.autoscaling_teardown,
            self.ecs_teardown,
            self.cloudwatch_teardown,
            self.rds_teardown,
            self.elbv2_teardown,
            self.sns_teardown,
            self.s3_teardown,
            self.secrets_teardown,
            self.iam_teardown,
            self.ecr_teardown,
            self.logs_teardown,
            self.ec2_teardown,
        ]
        for step in steps:
            try:
                step()
            except Exception:  # a bug in the probe itself; keep going
                traceback.print_exc()


# ------------------------------------------------------------- helpers -----
def short(value: Any, limit: int = 220) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Fields of `expected` that `actual` drops or changes (extra fields ignored)."""
    out: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'} is {type(actual).__name__}"]
        for k, v in expected.items():
            p = f"{path}.{k}" if path else k
            if k not in actual:
                out.append(f"`{p}` dropped")
            else:
                out += diff(v, actual[k], p)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            out.append(f"`{path}` = {short(actual, 120)}")
        else:
            for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
                out += diff(e, a, f"{path}[{i}]")
    elif expected != actual:
        out.append(f"`{path}` = {short(actual, 80)} (sent {short(expected, 60)})")
    return out


@contextlib.contextmanager
def fault_proxy(upstream: str):
    """Run scripts/fault_proxy.py in front of `upstream`; yields its URL."""
    import tempfile

    port_file = Path(tempfile.mkdtemp(prefix="probe-proxy-")) / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPTS / "fault_proxy.py"),
            "--upstream",
            upstream,
            "--port-file",
            str(port_file),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fault_proxy did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cbor_cloudwatch_client(endpoint: str, config: botocore.config.Config):
    """boto3 CloudWatch client forced onto smithy-rpc-v2-cbor (as aws-sdk-rust uses)."""
    import tempfile

    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    data_dir = Path(tempfile.mkdtemp(prefix="cw-cbor-"))
    target = data_dir / "cloudwatch" / model["metadata"]["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(data_dir))
    return boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def raw_cbor_call(endpoint: str, operation: str) -> tuple[int, str, bytes]:
    u = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(
            "POST",
            f"/service/GraniteServiceVersion20100801/operation/{operation}",
            body=bytes([0xA0]),
            headers={
                "Smithy-Protocol": "rpc-v2-cbor",
                "Content-Type": "application/cbor",
                "Accept": "application/cbor",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/"
                f"{REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def markdown(rows: list[Row]) -> str:
    lines = ["| service | operation | result | details |", "|---|---|---|---|"]
    for r in rows:
        notes = "; ".join(r.notes).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r.service} | {r.operation} | **{r.status}** | {notes} |")
    return "\n".join(lines) + "\n"


def start_own_moto() -> tuple[str, dict[str, str]]:
    env = {**os.environ, "MOTO_INSTANCE": os.environ.get("MOTO_PROBE_INSTANCE", "probe")}
    res = subprocess.run(
        [str(SCRIPTS / "moto.sh"), "start"], env=env, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        sys.exit(f"moto_probe: could not start moto:\n{res.stderr}")
    return res.stdout.strip().splitlines()[-1], env


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--endpoint",
        default=os.environ.get("MOTO_PROBE_ENDPOINT"),
        help="moto URL (default: start MOTO_INSTANCE=probe via scripts/moto.sh)",
    )
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args()

    own_env = None
    endpoint = args.endpoint
    if not endpoint:
        endpoint, own_env = start_own_moto()
    try:
        import moto

        version = moto.__version__
    except ImportError:
        version = "?"
    started = time.monotonic()
    probe = Probe(endpoint)
    try:
        probe.run()
    finally:
        if own_env is not None:
            subprocess.run(
                [str(SCRIPTS / "moto.sh"), "stop"], env=own_env, capture_output=True, check=False
            )
    table = markdown(probe.rows)
    header = (
        f"moto {version} at {endpoint}, boto3 {boto3.__version__}, suffix {probe.suffix}, "
        f"{time.monotonic() - started:.1f}s\n\n"
    )
    print(header + table)
    counts: dict[str, int] = {}
    for r in probe.rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    print("summary: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    if args.markdown:
        Path(args.markdown).write_text(header + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
