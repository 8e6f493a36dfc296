"""The wire protocol, service and operation of a request, and errors in that protocol.

The SDK calls that reach the proxy come in six wire protocols, each with its
own error shape (the throttling answer the proxy gives is shown):

==========  ===========================================  ==============================
protocol    how it is recognised                         throttling answer
==========  ===========================================  ==============================
ec2         ``Action=`` + signing service ``ec2``        503 ``<Response><Errors><Error>``
            (or ``Version=2016-11-15``)                  ``RequestLimitExceeded``
query       ``Action=`` (RDS, ELBv2, IAM, SNS, STS,      400 ``<ErrorResponse>`` ``Throttling``
            ...)
json        ``X-Amz-Target`` header (ECS, ECR, Logs,     400 ``{"__type":"ThrottlingException"}``
            Secrets Manager, App Auto Scaling, WAFv2)
cbor        ``/service/<svc>/operation/<Op>`` path with  400 CBOR ``{"__type": ...}`` plus
            ``Smithy-Protocol: rpc-v2-cbor``             ``x-amzn-query-error: Throttling;Sender``
            (CloudWatch in current SDKs)
cloudfront  signing service ``cloudfront`` (REST-XML     400 ``<ErrorResponse xmlns=...>``
            under ``/2020-05-31/``)                      ``Throttling``
s3          anything else (REST-XML)                     503 ``<Error><Code>SlowDown``
==========  ===========================================  ==============================

Operation names used for counters and ``--fail`` rules: the ``Action`` form
field (query protocols), the part of ``X-Amz-Target`` after the last dot (JSON),
the last path segment (rpc-v2-cbor), the CloudFront operation whose method and
URI match (:mod:`proxy.cloudfront.routes`; ``CloudFront:<METHOD>`` if none does)
and ``S3:<METHOD>`` for S3.  A rule may also be written ``<service>:<Operation>``
(service = SigV4 signing name, e.g. ``ec2:CreateVpc``) or ``*`` for every
operation.
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
import uuid
import zlib
from typing import Any

from proxy.cbor_bridge import cbor_encode
from proxy.cloudfront.routes import API as CLOUDFRONT_API
from proxy.cloudfront.routes import cloudfront_operation
from proxy.cloudfront.xmlcodec import NS as CLOUDFRONT_NS

EC2_API_VERSION = "2016-11-15"


# ---------------------------------------------------------- classification --
def credential_scope(
    authorization: str | None, presigned: str | None = None
) -> tuple[str, str, str] | None:
    """(access key, region, signing service) of a SigV4 credential.

    Read from the ``Authorization`` header or, without one, from a presigned
    URL's ``X-Amz-Credential`` (``presigned``).
    """
    cred = None
    if authorization and "Credential=" in authorization:
        cred = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
    elif presigned:
        cred = presigned
    if cred:
        parts = cred.split("/")
        if len(parts) >= 5:
            return parts[0], parts[-3], parts[-2]
    return None


def decode_body_for_parsing(headers: Any, body: bytes) -> bytes:
    """The body without its gzip / deflate ``Content-Encoding`` (empty if broken)."""
    enc = (headers.get("Content-Encoding") or "").lower()
    try:
        if "gzip" in enc:
            return gzip.decompress(body)
        if "deflate" in enc:
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError):
        return b""
    return body


def classify(method: str, path: str, headers: Any, body: bytes) -> tuple[str, str, str]:
    """Return (protocol, service, operation) for a request."""
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    scope = credential_scope(headers.get("Authorization"), query.get("X-Amz-Credential", [None])[0])
    service = scope[2] if scope else None

    segments = [s for s in parsed.path.split("/") if s]
    smithy_proto = (headers.get("Smithy-Protocol") or "").lower()
    ctype = (headers.get("Content-Type") or "").lower()
    if (
        len(segments) >= 4
        and segments[0] == "service"
        and segments[-2] == "operation"
        and (smithy_proto.startswith("rpc-v2") or "cbor" in ctype or method == "POST")
    ):
        svc = service or segments[1]
        return "cbor", svc, segments[-1]

    target = headers.get("X-Amz-Target")
    if target:
        prefix, _, op = target.rpartition(".")
        return "json", service or prefix or "unknown", op or target

    action = query.get("Action", [None])[0]
    version = query.get("Version", [None])[0]
    if action is None and method == "POST" and "x-www-form-urlencoded" in ctype:
        form = urllib.parse.parse_qs(
            decode_body_for_parsing(headers, body).decode("utf-8", "replace"),
            keep_blank_values=True,
        )
        action = form.get("Action", [None])[0]
        version = version or form.get("Version", [None])[0]
    if action:
        is_ec2 = service == "ec2" or (service is None and version == EC2_API_VERSION)
        return ("ec2" if is_ec2 else "query"), service or ("ec2" if is_ec2 else "unknown"), action

    if service == "cloudfront" or (service is None and parsed.path.startswith(CLOUDFRONT_API)):
        op = cloudfront_operation(method, parsed.path, query)
        if op is not None or service == "cloudfront":
            return "cloudfront", "cloudfront", op or f"CloudFront:{method}"

    return "s3", service or "s3", f"S3:{method}"


# ---------------------------------------------------------------- errors ---
def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def build_error(
    protocol: str, service: str, code: str, status: int, message: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Error response (status, headers, body) in the wire protocol of the call."""
    rid = str(uuid.uuid4())
    fault = "Sender" if status < 500 else "Receiver"
    code_x, msg_x = _xml_escape(code), _xml_escape(message)
    headers = [("x-amzn-RequestId", rid)]
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code_x}</Code><Message>{msg_x}</Message>"
            f"</Error></Errors><RequestID>{rid}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
    elif protocol in ("query", "cloudfront"):
        xmlns = f' xmlns="{CLOUDFRONT_NS}"' if protocol == "cloudfront" else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<ErrorResponse{xmlns}><Error><Type>{fault}</Type><Code>{code_x}</Code>"
            f"<Message>{msg_x}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif protocol == "cbor":
        # CloudWatch is awsQueryCompatible: SDKs take the error code from
        # x-amzn-query-error ("Code;Sender|Receiver"), falling back to __type.
        body_code = "ThrottlingException" if code == "Throttling" else code
        body = cbor_encode({"__type": body_code, "message": message})
        headers += [
            ("Content-Type", "application/cbor"),
            ("Smithy-Protocol", "rpc-v2-cbor"),
            ("x-amzn-query-error", f"{code};{fault}"),
        ]
    else:  # s3
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code_x}</Code><Message>{msg_x}</Message>"
            f"<RequestId>{rid}</RequestId><HostId>fault-proxy</HostId></Error>"
        ).encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
    return status, headers, body
