"""moto's CloudFront distributions as AWS shows them, and monitoring subscriptions.

What moto 5.2.5 gets wrong and the proxy mends in every answer of
CreateDistribution(WithTags), GetDistribution, GetDistributionConfig,
UpdateDistribution, ListDistributions and ListDistributionsByWebACLId:

* An origin's ``VpcOriginConfig`` is dropped: the proxy keeps the one each
  Create / Update request sent (per distribution and origin id) and puts it
  back, with the documented defaults (``OriginReadTimeout`` 30,
  ``OriginKeepaliveTimeout`` 5) where the request left them out.
* A cache behaviour with a ``CachePolicyId`` gets ``ForwardedValues`` and
  ``MinTTL`` / ``DefaultTTL`` / ``MaxTTL`` added, and unset policy ids and
  ``RealtimeLogConfigArn`` come back as empty strings: the proxy removes what
  the request did not send. The same for the viewer certificate's empty
  ``IAMCertificateId`` / ``ACMCertificateArn`` / ``Certificate``, and the
  ``SSLSupportMethod`` ``sni-only`` moto gives the CloudFront default
  certificate (AWS answers ``CertificateSource`` ``cloudfront`` there).
* The ETag never changes: the proxy gives each distribution its own, new after
  every UpdateDistribution, and rewrites the ``ETag`` headers (and a summary's
  ``ETag``) and ``LastModifiedTime``.
* ``Status`` is ``Deployed`` from the first read on: with realism
  ``lifecycle_seconds`` at L the answers say ``InProgress`` for L seconds after
  each create and update.

With realism ``rules`` on, UpdateDistribution / DeleteDistribution whose
``If-Match`` is not the current ETag get ``PreconditionFailed`` (412; moto
only refuses a missing one), and DeleteDistribution of a distribution that is
enabled, or not yet ``Deployed``, gets ``DistributionNotDisabled`` (409).

Monitoring subscriptions (additional metrics; moto has none) are kept here:
CreateMonitoringSubscription stores or replaces one (it enables or disables the
metrics), Get answers ``NoSuchMonitoringSubscription`` (404) when there is none,
Delete removes it; all answer ``NoSuchDistribution`` for a distribution moto
does not have.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from proxy.cloudfront.common import Answer, CfRequest, Refusal, error, new_etag, xml_answer
from proxy.cloudfront.xmlcodec import XmlError, parse, timestamp

if TYPE_CHECKING:
    from proxy.cloudfront.emulator import CloudFront

#: Answers that carry distributions (configs or summaries) and are mended.
MENDED = frozenset(
    {
        "CreateDistribution",
        "CreateDistributionWithTags",
        "GetDistribution",
        "GetDistributionConfig",
        "UpdateDistribution",
        "ListDistributions",
        "ListDistributionsByWebACLId",
    }
)
WRITES = ("CreateDistribution", "CreateDistributionWithTags", "UpdateDistribution")
#: Added by moto to a behaviour that uses a cache policy.
LEGACY_FIELDS = ("ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL")
#: Sent back by moto as empty strings when unset.
EMPTY_FIELDS = (
    "CachePolicyId",
    "OriginRequestPolicyId",
    "ResponseHeadersPolicyId",
    "RealtimeLogConfigArn",
)
VPC_ORIGIN_DEFAULTS = {"OriginReadTimeout": "30", "OriginKeepaliveTimeout": "5"}
VPC_CONFIG_ORDER = ("VpcOriginId", "OwnerAccountId", "OriginReadTimeout", "OriginKeepaliveTimeout")


@dataclass
class Sent:
    """What a Create / Update request said that moto forgets."""

    vpc_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # origin id -> config
    behaviour_keys: dict[str, set[str]] = field(default_factory=dict)  # PathPattern or ""
    certificate_keys: set[str] | None = None  # the ViewerCertificate members sent


@dataclass
class Tracked:
    etag: str | None = None
    deployed_at: float | None = None  # clock time the last create / update is Deployed
    modified: datetime.datetime | None = None
    sent: Sent | None = None


def _elements(node: minidom.Node, name: str) -> list[minidom.Element]:
    return [c for c in node.childNodes if isinstance(c, minidom.Element) and c.tagName == name]


def _child(node: minidom.Node | None, name: str) -> minidom.Element | None:
    if node is None:
        return None
    found = _elements(node, name)
    return found[0] if found else None


def _text(node: minidom.Element | None) -> str:
    if node is None:
        return ""
    return "".join(c.data for c in node.childNodes if isinstance(c, minidom.Text)).strip()


def _set_text(node: minidom.Element, value: str) -> None:
    for c in list(node.childNodes):
        node.removeChild(c)
    node.appendChild(node.ownerDocument.createTextNode(value))


def _items(node: minidom.Element | None, member: str) -> list[minidom.Element]:
    return _elements(_child(node, "Items") or minidom.Element("none"), member)


def sent_of(config: Any) -> Sent:
    """The parts of a DistributionConfig (as parsed) that moto does not keep."""
    sent = Sent()
    if not isinstance(config, dict):
        return sent
    for origin in (config.get("Origins") or {}).get("Items") or []:
        if isinstance(origin, dict) and isinstance(origin.get("VpcOriginConfig"), dict):
            sent.vpc_configs[str(origin.get("Id"))] = origin["VpcOriginConfig"]
    default = config.get("DefaultCacheBehavior")
    if isinstance(default, dict):
        sent.behaviour_keys[""] = set(default)
    for beh in (config.get("CacheBehaviors") or {}).get("Items") or []:
        if isinstance(beh, dict):
            sent.behaviour_keys[str(beh.get("PathPattern"))] = set(beh)
    if isinstance(config.get("ViewerCertificate"), dict):
        sent.certificate_keys = set(config["ViewerCertificate"])
    return sent


class Distributions:
    """The proxy's knowledge of moto's distributions (thread-safe)."""

    def __init__(self, host: CloudFront):
        self.host = host
        self.lock = threading.Lock()
        self.items: dict[str, Tracked] = {}
        self.monitoring: dict[str, str] = {}  # distribution id -> Enabled / Disabled

    # ------------------------------------------------------------ state --
    def tracked(self, dist_id: str) -> Tracked:
        with self.lock:
            return self.items.setdefault(dist_id, Tracked())

    def in_progress(self, dist_id: str) -> bool:
        with self.lock:
            tracked = self.items.get(dist_id)
        deployed = tracked.deployed_at if tracked else None
        return deployed is not None and self.host.now() < deployed

    def users_of(self, vpc_origin_id: str) -> list[str]:
        with self.lock:
            return [
                dist_id
                for dist_id, t in self.items.items()
                if t.sent
                and any(c.get("VpcOriginId") == vpc_origin_id for c in t.sent.vpc_configs.values())
            ]

    def forget(self, dist_id: str) -> None:
        with self.lock:
            self.items.pop(dist_id, None)
            self.monitoring.pop(dist_id, None)

    def current_etag(self, dist_id: str, access_key: str | None) -> str | None:
        """The proxy's ETag of a distribution (moto's, the first time the proxy asks)."""
        tracked = self.tracked(dist_id)
        if tracked.etag is None:
            got = self.host.moto_get(f"/2020-05-31/distribution/{dist_id}/config", access_key)
            if got is not None and got[0] == 200:
                tracked.etag = dict((k.lower(), v) for k, v in got[1]).get("etag")
        return tracked.etag

    # ---------------------------------------------------- request side --
    def sent(self, req: CfRequest) -> Sent | None:
        if req.operation not in WRITES:
            return None
        try:
            root, doc = parse(req.body)
        except XmlError:
            return None
        config = doc.get("DistributionConfig") if root == "DistributionConfigWithTags" else doc
        return sent_of(config)

    def refuse(self, req: CfRequest) -> Answer | None:
        """The realism refusals of UpdateDistribution / DeleteDistribution (``rules`` only)."""
        op = req.operation
        if op not in ("UpdateDistribution", "DeleteDistribution") or not req.ids:
            return None
        if not self.host.rules_on() or req.if_match is None:
            return None  # moto itself refuses a missing If-Match
        dist_id = req.ids[0]
        current = self.current_etag(dist_id, req.access_key)
        if current is not None and req.if_match != current:
            return self.host.reject(
                req,
                "cloudfront.IfMatch.current",
                "PreconditionFailed",
                412,
                f"The If-Match version {req.if_match} is not the distribution's current ETag.",
            )
        if op == "UpdateDistribution":
            return None
        got = self.host.moto_get(f"/2020-05-31/distribution/{dist_id}/config", req.access_key)
        if got is None or got[0] != 200:
            return None
        try:
            enabled = _text(_child(minidom.parseString(got[2]).documentElement, "Enabled"))
        except ExpatError:
            return None
        if enabled == "true":
            why = "The distribution you are trying to delete has not been disabled."
        elif self.in_progress(dist_id):
            why = "The distribution you are trying to delete has not been deployed yet."
        else:
            return None
        return self.host.reject(
            req,
            "cloudfront.DeleteDistribution.disabled-and-deployed",
            "DistributionNotDisabled",
            409,
            why,
        )

    # ----------------------------------------------------- answer side --
    def mend(self, req: CfRequest, answer: Answer, sent: Sent | None) -> Answer:
        status, headers, body = answer
        op = req.operation
        if not 200 <= status < 300:
            return answer
        if op == "DeleteDistribution" and req.ids:
            self.forget(req.ids[0])
            return answer
        if op not in MENDED:
            return answer
        try:
            dom = minidom.parseString(body)
        except ExpatError:
            return answer
        root = dom.documentElement
        if root.tagName == "DistributionList":
            units = [(_text(_child(s, "Id")), s) for s in _items(root, "DistributionSummary")]
            dist_id = ""
        else:
            dist_id = req.ids[0] if req.ids else _text(_child(root, "Id"))
            units = [(dist_id, root)]
            if op in WRITES and dist_id:
                self._record(dist_id, op, sent, headers)
        if dist_id:
            tracked = self.tracked(dist_id)
            moto_etag = dict((k.lower(), v) for k, v in headers).get("etag")
            if tracked.etag is None:
                tracked.etag = moto_etag  # a distribution the proxy had not seen yet
            elif moto_etag is not None:
                headers = [(k, tracked.etag if k.lower() == "etag" else v) for k, v in headers]
        rewrote = False
        for unit_id, unit in units:
            rewrote |= self._mend_unit(unit_id, unit)
        if rewrote:
            self.host.realism._bump(op)
        return status, headers, dom.toxml(encoding="utf-8")

    def _record(self, dist_id: str, op: str, sent: Sent | None, headers: Any) -> None:
        tracked = self.tracked(dist_id)
        moto_etag = dict((k.lower(), v) for k, v in headers).get("etag")
        tracked.etag = moto_etag if op != "UpdateDistribution" and moto_etag else new_etag()
        tracked.deployed_at = self.host.settles_at()
        tracked.modified = datetime.datetime.now(datetime.UTC)
        tracked.sent = sent

    def _mend_unit(self, dist_id: str, unit: minidom.Element) -> bool:
        """Mend one Distribution / DistributionConfig / DistributionSummary element."""
        with self.lock:
            tracked = self.items.get(dist_id)
        sent = tracked.sent if tracked else None
        config = unit if _child(unit, "Origins") is not None else _child(unit, "DistributionConfig")
        if config is not None:
            for origin in _items(_child(config, "Origins"), "Origin"):
                vpc = sent.vpc_configs.get(_text(_child(origin, "Id"))) if sent else None
                if vpc is not None and _child(origin, "VpcOriginConfig") is None:
                    self._insert_vpc_config(origin, vpc)
            keys = sent.behaviour_keys if sent else {}
            default = _child(config, "DefaultCacheBehavior")
            if default is not None:
                self._mend_behaviour(default, keys.get(""))
            for beh in _items(_child(config, "CacheBehaviors"), "CacheBehavior"):
                self._mend_behaviour(beh, keys.get(_text(_child(beh, "PathPattern"))))
            certificate = _child(config, "ViewerCertificate")
            if certificate is not None:
                self._mend_certificate(certificate, sent.certificate_keys if sent else None)
        if tracked is None:
            return False
        state = _child(unit, "Status")
        if tracked.etag and _child(unit, "ETag") is not None:
            _set_text(_child(unit, "ETag"), tracked.etag)  # type: ignore[arg-type]
        modified = _child(unit, "LastModifiedTime")
        if modified is not None and tracked.modified is not None:
            _set_text(modified, timestamp(tracked.modified))
        if state is not None and _text(state) != "InProgress" and self.in_progress(dist_id):
            _set_text(state, "InProgress")
            return True
        return False

    @staticmethod
    def _insert_vpc_config(origin: minidom.Element, sent: dict[str, Any]) -> None:
        dom = origin.ownerDocument
        values = VPC_ORIGIN_DEFAULTS | {k: str(v) for k, v in sent.items()}
        element = dom.createElement("VpcOriginConfig")
        for key in (*VPC_CONFIG_ORDER, *(k for k in values if k not in VPC_CONFIG_ORDER)):
            if key in values:
                sub = dom.createElement(key)
                sub.appendChild(dom.createTextNode(values[key]))
                element.appendChild(sub)
        before = next(
            (
                _child(origin, n)
                for n in ("ConnectionAttempts", "ConnectionTimeout", "OriginShield")
                if _child(origin, n) is not None
            ),
            None,
        )
        if before is not None:
            origin.insertBefore(element, before)
        else:
            origin.appendChild(element)

    @staticmethod
    def _mend_behaviour(beh: minidom.Element, sent_keys: set[str] | None) -> None:
        def unsent(name: str) -> bool:
            return sent_keys is None or name not in sent_keys

        policy = _text(_child(beh, "CachePolicyId"))
        for name in LEGACY_FIELDS:
            node = _child(beh, name)
            if node is not None and policy and unsent(name):
                beh.removeChild(node)
        for name in EMPTY_FIELDS:
            node = _child(beh, name)
            if node is not None and not _text(node) and unsent(name):
                beh.removeChild(node)

    @staticmethod
    def _mend_certificate(cert: minidom.Element, sent_keys: set[str] | None) -> None:
        """moto answers empty IAMCertificateId / ACMCertificateArn / Certificate, and
        SSLSupportMethod sni-only with the default certificate; AWS leaves those out."""

        def unsent(name: str) -> bool:
            return sent_keys is None or name not in sent_keys

        for name in ("IAMCertificateId", "ACMCertificateArn", "Certificate"):
            node = _child(cert, name)
            if node is not None and not _text(node) and unsent(name):
                cert.removeChild(node)
        method = _child(cert, "SSLSupportMethod")
        default = _text(_child(cert, "CloudFrontDefaultCertificate")) == "true"
        if default and method is not None and unsent("SSLSupportMethod"):
            cert.removeChild(method)

    # ------------------------------------------------ emulated answers --
    def monitoring_answer(self, req: CfRequest) -> Answer:
        dist_id = req.ids[0] if req.ids else ""
        got = self.host.moto_get(f"/2020-05-31/distribution/{dist_id}", req.access_key)
        if got is not None and got[0] == 404:
            return error("NoSuchDistribution", 404, "The specified distribution does not exist.")
        op = req.operation
        with self.lock:
            current = self.monitoring.get(dist_id)
        if op == "CreateMonitoringSubscription":
            try:
                root, doc = parse(req.body)
            except XmlError as exc:
                raise Refusal("MalformedXML", 400, f"The XML was not well-formed: {exc}") from exc
            config = doc.get("RealtimeMetricsSubscriptionConfig") if root else None
            state = config.get("RealtimeMetricsSubscriptionStatus") if config else None
            if root != "MonitoringSubscription" or state not in ("Enabled", "Disabled"):
                raise Refusal(
                    "InvalidArgument",
                    400,
                    "RealtimeMetricsSubscriptionStatus must be Enabled or Disabled.",
                )
            with self.lock:
                self.monitoring[dist_id] = state
            current = state
        elif current is None:
            return error(
                "NoSuchMonitoringSubscription",
                404,
                "A monitoring subscription does not exist for the specified distribution.",
            )
        if op == "DeleteMonitoringSubscription":
            with self.lock:
                self.monitoring.pop(dist_id, None)
            return 200, [], b""
        body = {"RealtimeMetricsSubscriptionConfig": {"RealtimeMetricsSubscriptionStatus": current}}
        return xml_answer(200, "MonitoringSubscription", body)

    def by_web_acl(self, req: CfRequest) -> Answer:
        """ListDistributionsByWebACLId, from moto's ListDistributions (moto has no such call)."""
        acl = req.ids[0] if req.ids else ""
        got = self.host.moto_get("/2020-05-31/distribution?MaxItems=1000", req.access_key)
        if got is None or got[0] != 200:
            return error("ServiceUnavailable", 503, "The distributions could not be listed.")
        dom = minidom.parseString(got[2])
        root = dom.documentElement
        kept = 0
        for summary in _items(root, "DistributionSummary"):
            if _text(_child(summary, "WebACLId")) == acl:
                kept += 1
            else:
                summary.parentNode.removeChild(summary)
        for name, value in (("Quantity", str(kept)), ("IsTruncated", "false")):
            node = _child(root, name)
            if node is not None:
                _set_text(node, value)
        for name in ("NextMarker",):
            node = _child(root, name)
            if node is not None:
                root.removeChild(node)
        answer = (200, [("Content-Type", "text/xml")], dom.toxml(encoding="utf-8"))
        return self.mend(req, answer, None)
