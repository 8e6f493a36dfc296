"""CloudFront VPC origins, emulated by the proxy (moto 5.2.5 has none).

The answers follow the CloudFront API reference and botocore's service model:
``CreateVpcOrigin`` (``POST /2020-05-31/vpc-origin``, 202, ``ETag`` and
``Location``), ``GetVpcOrigin``, ``ListVpcOrigins`` (``VpcOriginList`` of
``VpcOriginSummary``), ``UpdateVpcOrigin`` and ``DeleteVpcOrigin`` (both need
``If-Match``: missing -> ``InvalidIfMatchVersion`` 400, not the current ETag ->
``PreconditionFailed`` 412), and the tags of a VPC origin's ARN
(``arn:aws:cloudfront::<account>:vpcorigin/<Id>``) through
``ListTagsForResource`` / ``TagResource`` / ``UntagResource``.

Always enforced (this is the only implementation there is): a name is unique
in the account (``EntityAlreadyExists`` 409), ``Quantity`` matches ``Items``
(``InconsistentQuantities``), the endpoint ARN names a load balancer moto knows
(``InvalidArgument``), and a VPC origin that a distribution's
``VpcOriginConfig`` names cannot be deleted (``CannotDeleteEntityWhileInUse``
409). With realism ``rules`` on, it cannot be updated either
(``CannotUpdateEntityWhileInUse`` 409).

Status: the Create / Update answers say ``Deploying``, the Delete answer
``Deleting``. With realism ``lifecycle_seconds`` at L, a VPC origin stays
``Deploying`` for L seconds after a create or update, and after a delete it is
``Deleting`` for L seconds, then gone (``EntityNotFound`` 404); with L = 0 it is
``Deployed`` at once and gone at once. L is read when the change starts, so
changing it later does not move a window already running. From create until it is gone it holds
network interfaces in the load balancer's subnets (learned from moto's
DescribeLoadBalancers), so the realism mode refuses deleting those subnets, the
load balancer's security groups and the VPC (:mod:`proxy.realism.in_use`).
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxy.cloudfront.common import (
    Answer,
    CfRequest,
    Refusal,
    account_of,
    empty_answer,
    error,
    new_etag,
    new_vpc_origin_id,
    quantities_match,
    xml_answer,
)
from proxy.cloudfront.xmlcodec import XmlError, parse

if TYPE_CHECKING:
    from proxy.cloudfront.emulator import CloudFront

LOCATION = "https://cloudfront.amazonaws.com/2020-05-31/vpc-origin/"
REQUIRED = ("Name", "Arn", "HTTPPort", "HTTPSPort", "OriginProtocolPolicy")
#: VpcOriginEndpointConfig members in the service model's order.
CONFIG_ORDER = (*REQUIRED, "OriginSslProtocols", "IpAddressType")
NOT_FOUND = ("EntityNotFound", 404, "The specified VPC origin does not exist.")


@dataclass
class VpcOrigin:
    id: str
    arn: str
    account: str
    config: dict[str, Any]
    etag: str
    created: datetime.datetime
    modified: datetime.datetime
    deployed_at: float  # clock time it is Deployed (the last create or update + lifecycle)
    tags: dict[str, str] = field(default_factory=dict)
    gone_at: float | None = None  # clock time it is gone (delete + lifecycle), once deleted


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ordered(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: config[k] for k in CONFIG_ORDER if k in config}
    return out | {k: v for k, v in config.items() if k not in out}


def _tags(node: Any) -> dict[str, str]:
    items = node.get("Items") if isinstance(node, dict) else None
    return {
        str(t.get("Key")): str(t.get("Value", ""))
        for t in items or []
        if isinstance(t, dict) and t.get("Key")
    }


class VpcOrigins:
    """The emulated VPC origins of every account (thread-safe)."""

    def __init__(self, host: CloudFront):
        self.host = host
        self.lock = threading.Lock()  # the table
        self.writes = threading.Lock()  # one create / update / delete at a time (names unique)
        self.items: dict[str, VpcOrigin] = {}

    # ------------------------------------------------------------ state --
    def status(self, vo: VpcOrigin) -> str | None:
        """``Deploying`` / ``Deployed`` / ``Deleting``, or None once it is gone."""
        now = self.host.now()
        if vo.gone_at is not None:
            return "Deleting" if now < vo.gone_at else None
        return "Deploying" if now < vo.deployed_at else "Deployed"

    def live(self) -> list[VpcOrigin]:
        """The VPC origins that are not gone, oldest first (gone ones are forgotten)."""
        with self.lock:
            items = list(self.items.values())
        alive = []
        for vo in items:
            if self.status(vo) is None:
                with self.lock:
                    self.items.pop(vo.id, None)
            else:
                alive.append(vo)
        return sorted(alive, key=lambda v: v.created)

    def find(self, ident: str) -> VpcOrigin | None:
        return next((vo for vo in self.live() if vo.id == ident), None)

    def by_arn(self, arn: str) -> VpcOrigin | None:
        return next((vo for vo in self.live() if vo.arn == arn), None)

    def _body(self, vo: VpcOrigin, status: str | None = None) -> dict[str, Any]:
        return {
            "Id": vo.id,
            "Arn": vo.arn,
            "AccountId": vo.account,
            "Status": status or self.status(vo) or "Deleting",
            "CreatedTime": vo.created,
            "LastModifiedTime": vo.modified,
            "VpcOriginEndpointConfig": _ordered(vo.config),
        }

    # -------------------------------------------------------- dispatch --
    def handle(self, req: CfRequest) -> Answer:
        reads = ("GetVpcOrigin", "ListVpcOrigins")
        try:
            if req.operation in reads:
                return self._handle(req)
            with self.writes:
                return self._handle(req)
        except Refusal as refusal:
            return refusal.answer

    def _handle(self, req: CfRequest) -> Answer:
        op = req.operation
        if op == "ListVpcOrigins":
            return self._list(req)
        if op == "CreateVpcOrigin":
            return self._create(req)
        vo = self.find(req.ids[0]) if req.ids else None
        if vo is None or (op != "GetVpcOrigin" and vo.gone_at is not None):
            return error(*NOT_FOUND)
        if op == "GetVpcOrigin":
            return xml_answer(200, "VpcOrigin", self._body(vo), etag=vo.etag)
        self._if_match(req, vo)
        if op == "UpdateVpcOrigin":
            return self._update(req, vo)
        return self._delete(req, vo)

    def _if_match(self, req: CfRequest, vo: VpcOrigin) -> None:
        if req.if_match is None:
            raise Refusal(
                "InvalidIfMatchVersion",
                400,
                "The If-Match version is missing or not valid for the resource.",
            )
        if req.if_match != vo.etag:
            raise Refusal(
                "PreconditionFailed",
                412,
                "The precondition given in one or more of the request-header fields evaluated "
                "to false.",
            )

    def _config(self, req: CfRequest, root: str) -> tuple[dict[str, Any], Any]:
        """(VpcOriginEndpointConfig, the whole request); Refusal if it is not a valid one."""
        try:
            tag, doc = parse(req.body)
        except XmlError as exc:
            raise Refusal(
                "MalformedXML", 400, f"The XML you provided was not well-formed: {exc}"
            ) from exc
        config = doc if tag == "VpcOriginEndpointConfig" else doc.get("VpcOriginEndpointConfig")
        if tag != root or not isinstance(config, dict):
            raise Refusal("MissingBody", 400, "This operation requires a body.")
        missing = [k for k in REQUIRED if not str(config.get(k) or "").strip()]
        if missing:
            raise Refusal("InvalidArgument", 400, f"The parameter {missing[0]} is required.")
        if not quantities_match(doc):
            raise Refusal(
                "InconsistentQuantities",
                400,
                "The value of Quantity and the size of Items don't match.",
            )
        return config, doc

    def _name_free(self, name: str, other_than: str | None = None) -> None:
        if any(vo.config.get("Name") == name and vo.id != other_than for vo in self.live()):
            raise Refusal("EntityAlreadyExists", 409, f"A VPC origin named {name} already exists.")

    def _network(self, vo: VpcOrigin, req: CfRequest) -> None:
        """Learn the load balancer's subnets and groups; Refusal if moto has no such one."""
        found = self.host.load_balancer(str(vo.config["Arn"]), req.access_key)
        if found is False:
            raise Refusal(
                "InvalidArgument",
                400,
                f"The VPC origin endpoint {vo.config['Arn']} does not exist.",
            )
        if found is not None:
            subnets, groups, vpc = found
            what = f"CloudFront VPC origin {vo.id}"
            self.host.realism.hold_network(vo.id, what, subnets, groups, vpc)

    # ------------------------------------------------------ operations --
    def _create(self, req: CfRequest) -> Answer:
        config, doc = self._config(req, "CreateVpcOriginRequest")
        self._name_free(str(config["Name"]))
        ident = new_vpc_origin_id()
        account = account_of(str(config["Arn"]))
        now = _utcnow()
        vo = VpcOrigin(
            ident,
            f"arn:aws:cloudfront::{account}:vpcorigin/{ident}",
            account,
            config,
            new_etag(),
            now,
            now,
            self.host.settles_at(),
            _tags(doc.get("Tags")),
        )
        self._network(vo, req)
        with self.lock:
            self.items[ident] = vo
        body = self._body(vo, "Deploying")
        return xml_answer(202, "VpcOrigin", body, etag=vo.etag, location=LOCATION + ident)

    def _update(self, req: CfRequest, vo: VpcOrigin) -> Answer:
        config, _doc = self._config(req, "VpcOriginEndpointConfig")
        users = self.host.vpc_origin_users(vo.id, req.access_key)
        if users and self.host.rules_on():
            return self.host.reject(
                req,
                "cloudfront.UpdateVpcOrigin.not-in-use",
                "CannotUpdateEntityWhileInUse",
                409,
                f"The VPC origin {vo.id} is in use by distribution {users[0]}.",
            )
        self._name_free(str(config["Name"]), vo.id)
        previous = vo.config
        vo.config = config
        if config.get("Arn") != previous.get("Arn"):
            try:
                self._network(vo, req)
            except Refusal:
                vo.config = previous
                raise
        vo.etag, vo.modified, vo.deployed_at = new_etag(), _utcnow(), self.host.settles_at()
        return xml_answer(202, "VpcOrigin", self._body(vo, "Deploying"), etag=vo.etag)

    def _delete(self, req: CfRequest, vo: VpcOrigin) -> Answer:
        users = self.host.vpc_origin_users(vo.id, req.access_key)
        if users:
            raise Refusal(
                "CannotDeleteEntityWhileInUse",
                409,
                f"The VPC origin {vo.id} is in use by distribution {users[0]}; remove it from "
                "the distribution's origins first.",
            )
        vo.gone_at = self.host.settles_at()
        vo.etag, vo.modified = new_etag(), _utcnow()
        self.host.realism.release_network(vo.id, vo.gone_at)
        return xml_answer(202, "VpcOrigin", self._body(vo, "Deleting"), etag=vo.etag)

    def _list(self, req: CfRequest) -> Answer:
        items = self.live()
        marker = req.arg("Marker") or ""
        try:
            max_items = max(1, min(int(req.arg("MaxItems") or 100), 100))
        except ValueError:
            raise Refusal("InvalidArgument", 400, "MaxItems must be a number.") from None
        start = next((i for i, vo in enumerate(items) if vo.id == marker), 0) if marker else 0
        page, rest = items[start : start + max_items], items[start + max_items :]
        listing: dict[str, Any] = {"Marker": marker}
        if rest:
            listing["NextMarker"] = rest[0].id
        listing |= {"MaxItems": max_items, "IsTruncated": bool(rest), "Quantity": len(page)}
        if page:
            listing["Items"] = [
                {
                    "Id": vo.id,
                    "Name": vo.config.get("Name"),
                    "Status": self.status(vo),
                    "CreatedTime": vo.created,
                    "LastModifiedTime": vo.modified,
                    "Arn": vo.arn,
                    "AccountId": vo.account,
                    "OriginEndpointArn": vo.config.get("Arn"),
                }
                for vo in page
            ]
        return xml_answer(200, "VpcOriginList", listing)

    # ------------------------------------------------------------ tags --
    def tagging(self, req: CfRequest, vo: VpcOrigin | None) -> Answer:
        if vo is None:
            return error("NoSuchResource", 404, "The specified resource does not exist.")
        if req.operation == "ListTagsForResource":
            items = [{"Key": k, "Value": v} for k, v in vo.tags.items()]
            return xml_answer(200, "Tags", {"Items": items})
        try:
            tag, doc = parse(req.body)
        except XmlError as exc:
            return error("MalformedXML", 400, f"The XML you provided was not well-formed: {exc}")
        if req.operation == "TagResource" and tag == "Tags":
            vo.tags.update(_tags(doc))
        elif req.operation == "UntagResource" and tag == "TagKeys":
            for key in doc.get("Items") or [] if isinstance(doc, dict) else []:
                vo.tags.pop(str(key), None)
        else:
            return error("InvalidTagging", 400, "The tagging specified is not valid.")
        return empty_answer(204)
