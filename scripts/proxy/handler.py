"""The proxy's HTTP request handler: control endpoints, fault decision, forwarding.

Every request is either a control call (``/__proxy/...``, never forwarded) or
an AWS call. For an AWS call the fault injection (latency, throttling,
``--fail``) is decided first; a call it lets through is then checked by the
realism mode, bridged to JSON if it is rpc-v2-cbor, handed to
:mod:`proxy.cloudfront` if it is CloudFront (which answers what moto lacks and
mends moto's answers), answered from :mod:`proxy.canned` (the Price List
Query API from :mod:`proxy.price_list`) if moto lacks the operation, or else
forwarded to moto unchanged (its answer passing the realism mode's response
hooks). Before the realism check, ECS deployments that the
realism mode's ``deployment_alarm`` rolls back and whose window is over are
rolled back in moto, so that no answer shows an earlier state. Calls answered
by the proxy itself count as forwarded in the stats, but for realism refusals.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from proxy.canned import GAP_FILLERS
from proxy.cbor_bridge import (
    CborError,
    cbor_decode,
    cbor_request_as_json,
    cbor_to_json_compatible,
    json_answer_as_cbor,
)
from proxy.cloudfront.common import CfRequest
from proxy.faults import THROTTLE_ERRORS, fail_answer
from proxy.price_list import answer as price_list_answer
from proxy.price_list import handles as is_price_list
from proxy.protocols import build_error, classify, decode_body_for_parsing
from proxy.realism.call import Call
from proxy.realism.mode import ALWAYS_OBSERVED
from proxy.realism.s3 import is_conditional_write

if TYPE_CHECKING:
    from proxy.server import FaultProxyServer

CONTROL_PREFIX = "/__proxy/"

# Headers that describe one hop and must not be forwarded verbatim.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}

# Request headers a CBOR call does not pass on as JSON 1.0 (the bridge sets its own).
CBOR_REQUEST_SKIP = HOP_BY_HOP | {
    "content-length",
    "content-type",
    "content-encoding",
    "smithy-protocol",
    "accept",
    "x-amz-target",
}

# moto's answer headers that a bridged CBOR answer keeps.
CBOR_ANSWER_KEEP = ("x-amzn-requestid", "x-amzn-query-error", "x-amzn-errortype")


def passable_headers(
    headers: list[tuple[str, str]], keep_length: bool = False
) -> list[tuple[str, str]]:
    """Upstream answer headers without the hop-by-hop ones (and Content-Length)."""
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in HOP_BY_HOP and (keep_length or name.lower() != "content-length")
    ]


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy/1.0"
    timeout = 300  # idle keep-alive connections are dropped after this

    # Set on the server instance.
    server: FaultProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"fault_proxy: {self.address_string()} {format % args}\n")

    # Every method goes through the same path.
    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed during chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        return b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                has_length = True
            self.send_header(name, value)
        if not has_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304) and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, data: Any) -> None:
        body = json.dumps(data, indent=1, sort_keys=True).encode()
        self._send(status, [("Content-Type", "application/json")], body)

    def _control(self, body: bytes) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        name = path[len(CONTROL_PREFIX) :].strip("/")
        try:
            if name == "stats" and self.command == "GET":
                self._send_json(200, state.stats_json())
            elif name == "reset" and self.command == "POST":
                state.reset_counters()
                self._send_json(200, {"ok": True})
            elif name == "config" and self.command == "GET":
                self._send_json(200, state.config_json())
            elif name == "config" and self.command in ("POST", "PUT"):
                cfg = json.loads(body.decode() or "{}")
                state.update(cfg)
                self._send_json(200, state.config_json())
            elif name == "realism/violations" and self.command == "GET":
                self._send_json(200, state.realism.violations_json())
            elif name == "realism/rules" and self.command == "GET":
                self._send_json(200, state.realism.rules_json())
            elif name == "health":
                self._send_json(200, {"ok": True, "upstream": self.server.upstream_url})
            else:
                self._send_json(404, {"error": f"unknown control endpoint {self.command} {path}"})
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            self._send_json(400, {"error": str(exc)})

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            return
        if self.path.startswith(CONTROL_PREFIX):
            self._control(body)
            return

        protocol, service, operation = classify(self.command, self.path, self.headers, body)
        action, rule, latency_ms = self.server.state.decide(service, operation)
        if latency_ms > 0:
            time.sleep(latency_ms / 1000.0)

        if action == "throttle":
            self._send(*build_error(protocol, service, *THROTTLE_ERRORS[protocol]))
            return
        if action == "fail" and rule is not None:
            self._send(*build_error(protocol, service, *fail_answer(protocol, rule)))
            return
        call = None
        realism = self.server.state.realism
        # Rollbacks due (deployment_alarm) happen in moto before this call is answered.
        realism.settle_deployments()
        if realism.config.active or operation in ALWAYS_OBSERVED:
            call = self._realism_call(protocol, service, operation, body)
            rejection = realism.check_request(call)
            if rejection is not None:
                self.server.state.unforward(operation)
                self._send(
                    *build_error(
                        protocol, service, rejection.code, rejection.status, rejection.message
                    )
                )
                return
        if protocol == "cbor" and self.server.cbor_bridge:
            self._forward_cbor_as_json(body, operation)
            return
        if protocol == "cloudfront" and self.server.cbor_bridge:
            self._cloudfront(body, operation)
            return
        if is_price_list(self.headers.get("X-Amz-Target")) and self.server.cbor_bridge:
            decoded = decode_body_for_parsing(self.headers, body)
            self._send(*price_list_answer(operation, decoded))
            return
        if operation in GAP_FILLERS and self.server.cbor_bridge:
            self._send(200, [("Content-Type", "text/xml")], GAP_FILLERS[operation]())
            return
        if realism.config.active and is_conditional_write(self.command, self.headers):
            with self.server.conditional_writes:
                self._forward(body, operation, call)
            return
        self._forward(body, operation, call)

    def _realism_call(self, protocol: str, service: str, operation: str, body: bytes) -> Call:
        decoded = decode_body_for_parsing(self.headers, body)
        doc = None
        if protocol == "cbor":
            try:
                doc = cbor_to_json_compatible(cbor_decode(decoded))
            except CborError:
                doc = {}
        return Call.parse(
            protocol, service, operation, self.command, self.path, self.headers, decoded, doc
        )

    def _upstream_call(
        self,
        operation: str,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> tuple[int, list[tuple[str, str]], bytes] | Exception:
        """One call to moto, counted in the stats; the exception if it failed."""
        try:
            status, up_headers, data = self.server.upstream_call(method, path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            self.server.state.record_upstream(operation, None)
            return exc
        self.server.state.record_upstream(operation, status)
        return status, up_headers, data

    def _forward_cbor_as_json(self, body: bytes, operation: str) -> None:
        """Bridge smithy-rpc-v2-cbor -> AWS JSON 1.0 (moto has no CBOR support)."""
        segments = [seg for seg in urllib.parse.urlsplit(self.path).path.split("/") if seg]
        try:
            json_body = cbor_request_as_json(decode_body_for_parsing(self.headers, body))
        except (CborError, ValueError, UnicodeDecodeError) as exc:
            self._send(*build_error("cbor", "", "SerializationException", 400, f"bad CBOR: {exc}"))
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in CBOR_REQUEST_SKIP]
        headers += [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", f"{segments[1]}.{operation}"),
        ]
        answer = self._upstream_call(operation, "POST", "/", headers, json_body)
        if isinstance(answer, Exception):
            msg = f"fault_proxy: upstream failed: {answer}"
            self._send(*build_error("cbor", "", "ServiceUnavailable", 503, msg))
            return
        status, up_headers, data = answer
        try:
            payload = json.loads(data.decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            # Not JSON (e.g. a moto 404 page): pass it on as it came.
            self._send(status, passable_headers(up_headers), data)
            return
        out_headers = [(k, v) for k, v in up_headers if k.lower() in CBOR_ANSWER_KEEP]
        out_headers += [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")]
        self._send(status, out_headers, json_answer_as_cbor(status, payload))

    def _forward_as_is(
        self, body: bytes, operation: str
    ) -> tuple[int, list[tuple[str, str]], bytes] | Exception:
        """The request, unchanged, to moto (the upstream's answer or the exception)."""
        headers = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
        ]
        has_body = (
            body
            or self.headers.get("Content-Length") is not None
            or ("chunked" in (self.headers.get("Transfer-Encoding") or "").lower())
        )
        return self._upstream_call(
            operation, self.command, self.path, headers, body if has_body else None
        )

    def _cloudfront(self, body: bytes, operation: str) -> None:
        """CloudFront: emulated where moto lacks it, moto's answers mended (proxy.cloudfront)."""
        req = CfRequest.parse(
            self.command,
            self.path,
            self.headers,
            decode_body_for_parsing(self.headers, body),
            operation,
        )

        def forward() -> tuple[int, list[tuple[str, str]], bytes] | None:
            answer = self._forward_as_is(body, operation)
            return None if isinstance(answer, Exception) else answer

        status, headers, data = self.server.state.cloudfront.handle(req, forward)
        if req.realism_refused:
            self.server.state.unforward(operation)
        self._send(status, passable_headers(headers), data)

    def _forward(self, body: bytes, operation: str, call: Call | None = None) -> None:
        answer = self._forward_as_is(body, operation)
        if isinstance(answer, Exception):
            host, port = self.server.upstream
            msg = f"fault_proxy: upstream {host}:{port} failed: {answer}".encode()
            self._send(502, [("Content-Type", "text/plain")], msg)
            return
        status, up_headers, data = answer
        # Keep the upstream Content-Length for HEAD (e.g. S3 HeadObject sizes).
        out_headers = passable_headers(up_headers, keep_length=self.command == "HEAD")
        encoded = any(k.lower() == "content-encoding" for k, _ in out_headers)
        if call is not None and not encoded and self.command != "HEAD":
            data = self.server.state.realism.on_response(call, status, data)
        self._send(status, out_headers, data)
