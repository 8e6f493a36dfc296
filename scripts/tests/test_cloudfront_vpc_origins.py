"""CloudFront VPC origins, which the proxy emulates (moto has none): their answers, tags,
If-Match, lifecycle, and the network interfaces they hold in the load balancer's subnets.
"""

from __future__ import annotations

import contextlib
import functools
import time

from botocore.exceptions import ClientError
from cloudfront_helpers import cloudfront, disable_and_delete, distribution_config, vpc_origin
from helpers import ACCOUNT, client, control, error_of, internal_alb, realism, violations
from proxy.cloudfront.common import CfRequest
from proxy.cloudfront.emulator import CloudFront
from proxy.cloudfront.xmlcodec import document, parse
from proxy.realism.config import RealismConfig
from proxy.realism.mode import Realism


def endpoint(alb: dict, name: str, **more) -> dict:
    return {
        "Name": name,
        "Arn": alb["arn"],
        "HTTPPort": 80,
        "HTTPSPort": 443,
        "OriginProtocolPolicy": "http-only",
        "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
    } | more


@contextlib.contextmanager
def gone_afterwards(cf, *ids_holder: list[str]):
    """Delete what the test left of its VPC origins (whatever their ETag is by then)."""
    try:
        yield
    finally:
        for ids in ids_holder:
            for ident in ids:
                with contextlib.suppress(ClientError):
                    etag = cf.get_vpc_origin(Id=ident)["ETag"]
                    cf.delete_vpc_origin(Id=ident, IfMatch=etag)


def test_vpc_origin_lifecycle_tags_and_if_match(proxy):
    cf = cloudfront(proxy)
    realism(proxy, lifecycle_seconds=1.5)
    made: list[str] = []
    with internal_alb(proxy, "cf-vo-life", 70) as alb, gone_afterwards(cf, made):
        out = cf.create_vpc_origin(
            VpcOriginEndpointConfig=endpoint(alb, "vo-life"),
            Tags={"Items": [{"Key": "EnvironmentSuffix", "Value": "t1"}]},
        )
        vo = out["VpcOrigin"]
        made.append(vo["Id"])
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert vo["Id"].startswith("vo_") and len(vo["Id"]) == 25
        assert vo["Arn"] == f"arn:aws:cloudfront::{ACCOUNT}:vpcorigin/{vo['Id']}"
        assert vo["Status"] == "Deploying"
        assert vo["VpcOriginEndpointConfig"] == endpoint(alb, "vo-life")
        assert out["Location"].endswith(f"/2020-05-31/vpc-origin/{vo['Id']}")
        first = out["ETag"]

        got = cf.get_vpc_origin(Id=vo["Id"])
        assert (got["VpcOrigin"]["Status"], got["ETag"]) == ("Deploying", first)
        listing = cf.list_vpc_origins()["VpcOriginList"]
        assert (listing["Quantity"], listing["IsTruncated"]) == (1, False)
        (summary,) = listing["Items"]
        assert summary["Name"] == "vo-life"
        assert summary["OriginEndpointArn"] == alb["arn"]
        assert summary["Arn"] == vo["Arn"]

        again = functools.partial(
            cf.create_vpc_origin, VpcOriginEndpointConfig=endpoint(alb, "vo-life")
        )
        assert error_of(again) == ("EntityAlreadyExists", 409)
        update = functools.partial(
            cf.update_vpc_origin,
            Id=vo["Id"],
            VpcOriginEndpointConfig=endpoint(alb, "vo-life", HTTPPort=8080),
        )
        assert error_of(lambda: update(IfMatch="")) == ("InvalidIfMatchVersion", 400)
        assert error_of(lambda: update(IfMatch="ESTALE")) == ("PreconditionFailed", 412)
        updated = update(IfMatch=first)
        assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert updated["ETag"] != first
        assert updated["VpcOrigin"]["VpcOriginEndpointConfig"]["HTTPPort"] == 8080

        tags = functools.partial(cf.list_tags_for_resource, Resource=vo["Arn"])
        assert tags()["Tags"]["Items"] == [{"Key": "EnvironmentSuffix", "Value": "t1"}]
        cf.tag_resource(Resource=vo["Arn"], Tags={"Items": [{"Key": "team", "Value": "edge"}]})
        cf.untag_resource(Resource=vo["Arn"], TagKeys={"Items": ["EnvironmentSuffix"]})
        assert tags()["Tags"]["Items"] == [{"Key": "team", "Value": "edge"}]
        missing = f"arn:aws:cloudfront::{ACCOUNT}:vpcorigin/vo_missing"
        assert error_of(lambda: cf.list_tags_for_resource(Resource=missing)) == (
            "NoSuchResource",
            404,
        )

        time.sleep(1.6)
        assert cf.get_vpc_origin(Id=vo["Id"])["VpcOrigin"]["Status"] == "Deployed"
        delete = functools.partial(cf.delete_vpc_origin, Id=vo["Id"])
        assert error_of(lambda: delete(IfMatch=first)) == ("PreconditionFailed", 412)
        deleted = delete(IfMatch=updated["ETag"])
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert deleted["VpcOrigin"]["Status"] == "Deleting"
        assert cf.get_vpc_origin(Id=vo["Id"])["VpcOrigin"]["Status"] == "Deleting"
        time.sleep(1.6)
        assert error_of(lambda: cf.get_vpc_origin(Id=vo["Id"])) == ("EntityNotFound", 404)
        assert cf.list_vpc_origins()["VpcOriginList"]["Quantity"] == 0

        # A load balancer moto does not know is refused.
        unknown = endpoint(alb, "vo-nowhere", Arn=alb["arn"].replace("/cf-vo-life/", "/nope/"))
        assert error_of(lambda: cf.create_vpc_origin(VpcOriginEndpointConfig=unknown)) == (
            "InvalidArgument",
            400,
        )
    stats = control(proxy, "stats")
    assert stats["calls"]["CreateVpcOrigin"] == 3
    assert stats["by_service"]["cloudfront:GetVpcOrigin"] >= 4


def test_vpc_origin_without_realism_is_deployed_at_once_and_gone_at_once(proxy):
    cf = cloudfront(proxy)
    with internal_alb(proxy, "cf-vo-plain", 71) as alb:
        out = cf.create_vpc_origin(VpcOriginEndpointConfig=endpoint(alb, "vo-plain"))
        ident = out["VpcOrigin"]["Id"]
        assert out["VpcOrigin"]["Status"] == "Deploying"  # the Create answer, as on AWS
        assert cf.get_vpc_origin(Id=ident)["VpcOrigin"]["Status"] == "Deployed"
        # Without the realism mode the subnets can go while the VPC origin exists.
        ec2 = client(proxy, "ec2")
        assert cf.delete_vpc_origin(Id=ident, IfMatch=out["ETag"])["VpcOrigin"]["Status"] == (
            "Deleting"
        )
        assert error_of(lambda: cf.get_vpc_origin(Id=ident)) == ("EntityNotFound", 404)
        assert error_of(lambda: cf.delete_vpc_origin(Id=ident, IfMatch=out["ETag"])) == (
            "EntityNotFound",
            404,
        )
        client(proxy, "elbv2").delete_load_balancer(LoadBalancerArn=alb["arn"])
        ec2.delete_subnet(SubnetId=alb["subnets"][0])


def test_vpc_origin_holds_the_load_balancer_subnets_until_it_is_gone(proxy):
    cf, ec2, elb = cloudfront(proxy), client(proxy, "ec2"), client(proxy, "elbv2")
    realism(proxy, rules=True, lifecycle_seconds=1.5)
    with internal_alb(proxy, "cf-vo-eni", 72) as alb:
        out = cf.create_vpc_origin(VpcOriginEndpointConfig=endpoint(alb, "vo-eni"))
        ident, etag = out["VpcOrigin"]["Id"], out["ETag"]
        elb.delete_load_balancer(LoadBalancerArn=alb["arn"])  # moto lets the ALB go first

        def deletes() -> list[tuple[str, int]]:
            got = []
            for call in (
                lambda: ec2.delete_subnet(SubnetId=alb["subnets"][0]),
                lambda: ec2.delete_security_group(GroupId=alb["group"]),
                lambda: ec2.delete_vpc(VpcId=alb["vpc"]),
            ):
                try:
                    call()
                    got.append(("ok", 200))
                except ClientError as exc:
                    got.append(
                        (
                            exc.response["Error"]["Code"],
                            exc.response["ResponseMetadata"]["HTTPStatusCode"],
                        )
                    )
            return got

        assert deletes() == [("DependencyViolation", 400)] * 3
        time.sleep(1.6)  # Deployed now: still there
        assert deletes() == [("DependencyViolation", 400)] * 3
        cf.delete_vpc_origin(Id=ident, IfMatch=etag)
        assert deletes() == [("DependencyViolation", 400)] * 3  # Deleting: still there
        rules = {v["rule"] for v in violations(proxy)}
        assert rules == {"ec2.DependencyViolation.vpc-origin"}
        time.sleep(1.6)
        # Gone: the subnet and the group go; the VPC still has the other subnet.
        assert deletes() == [("ok", 200), ("ok", 200), ("DependencyViolation", 400)]
        assert len(violations(proxy)) == 9


def test_vpc_origin_windows_on_a_fake_clock():
    """The Deploying / Deleting windows are fixed when the change starts (fake clock, no moto)."""
    now = [100.0]
    real = Realism(RealismConfig(lifecycle_seconds=10), clock=lambda: now[0])
    cf = CloudFront(real)

    def call(method: str, path: str, op: str, body: bytes = b"", if_match: str = ""):
        headers = {"If-Match": if_match} if if_match else {}
        req = CfRequest.parse(method, f"/2020-05-31/vpc-origin{path}", headers, body, op)
        status, answer_headers, data = cf.handle(req, lambda: None)
        return status, dict(answer_headers), parse(data)[1] if data else None

    config = {
        "Name": "vo-clock",
        "Arn": f"arn:aws:elasticloadbalancing:ap-southeast-2:{ACCOUNT}:loadbalancer/app/a/1",
        "HTTPPort": 80,
        "HTTPSPort": 443,
        "OriginProtocolPolicy": "http-only",
    }
    body = document("CreateVpcOriginRequest", {"VpcOriginEndpointConfig": config})
    status, headers, created = call("POST", "", "CreateVpcOrigin", body)
    assert (status, created["Status"]) == (202, "Deploying")
    ident = created["Id"]
    now[0] += 9.9
    assert call("GET", f"/{ident}", "GetVpcOrigin")[2]["Status"] == "Deploying"
    now[0] += 0.1
    assert call("GET", f"/{ident}", "GetVpcOrigin")[2]["Status"] == "Deployed"
    status, _, deleted = call("DELETE", f"/{ident}", "DeleteVpcOrigin", if_match=headers["ETag"])
    assert (status, deleted["Status"]) == (202, "Deleting")
    real.configure(RealismConfig())  # a shorter window later does not end this one
    now[0] += 9.9
    assert call("GET", f"/{ident}", "GetVpcOrigin")[2]["Status"] == "Deleting"
    now[0] += 0.1
    status, _, answer = call("GET", f"/{ident}", "GetVpcOrigin")
    assert (status, answer["Error"]["Code"]) == (404, "EntityNotFound")


def test_distribution_may_use_only_a_deployed_vpc_origin(proxy):
    cf = cloudfront(proxy)
    realism(proxy, rules=True, lifecycle_seconds=1.5)
    with internal_alb(proxy, "cf-vo-use", 75) as alb:
        out = cf.create_vpc_origin(VpcOriginEndpointConfig=endpoint(alb, "vo-use"))
        ident = out["VpcOrigin"]["Id"]

        def create(vpc_origin_id: str, ref: str):
            config = distribution_config(ref, vpc_origin(alb["dns"], vpc_origin_id))
            return cf.create_distribution(DistributionConfig=config)

        assert error_of(lambda: create(ident, "use-1")) == ("InvalidArgument", 400)  # Deploying
        assert error_of(lambda: create("vo_missing", "use-1")) == ("EntityNotFound", 404)
        time.sleep(1.6)
        created = create(ident, "use-1")
        dist_id = created["Distribution"]["Id"]
        update = functools.partial(
            cf.update_vpc_origin,
            Id=ident,
            IfMatch=out["ETag"],
            VpcOriginEndpointConfig=endpoint(alb, "vo-use", HTTPPort=8080),
        )
        assert error_of(update) == ("CannotUpdateEntityWhileInUse", 409)
        assert [v["rule"] for v in violations(proxy)] == [
            "cloudfront.VpcOriginConfig.deployed",
            "cloudfront.VpcOriginConfig.deployed",
            "cloudfront.UpdateVpcOrigin.not-in-use",
        ]
        realism(proxy)
        disable_and_delete(cf, dist_id)
        update()  # no longer in use
        etag = cf.get_vpc_origin(Id=ident)["ETag"]
        cf.delete_vpc_origin(Id=ident, IfMatch=etag)
