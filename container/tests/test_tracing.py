"""OpenTelemetry: a real server exports OTLP spans with X-Ray trace ids to a local collector."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app import telemetry


class _Collector(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[dict, object]] = []


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.server.spans.append((resource, span))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def collector():
    server = _Collector()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _attrs(span) -> dict:
    out = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value or v.int_value
    return out


def test_spans_reach_the_otlp_endpoint_with_xray_ids(database, app, start_server, collector):
    srv = start_server(
        database,
        OTEL_SDK_DISABLED="false",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}",
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_SERVICE_NAME="catalog-under-test",
    )
    srv.wait_health("/health/ready")
    # 1. No incoming trace: the id generator makes an X-Ray-compatible id
    #    (the first 32 bits are the epoch second).
    assert requests.get(srv.url + "/api/products/1", timeout=10).status_code in (200, 404)
    # 2. An incoming X-Ray header (what the ALB adds) is continued.
    xray_root = "1-5759e988-bd862e3fe1be46a994272793"
    headers = {"X-Amzn-Trace-Id": f"Root={xray_root};Parent=53995c3f42cd8ad8;Sampled=1"}
    assert requests.get(srv.url + "/api/products?limit=1", headers=headers, timeout=10).ok

    def server_spans():
        return [(r, s) for r, s in collector.spans if s.kind == s.SPAN_KIND_SERVER]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(server_spans()) < 2:
        time.sleep(0.2)
    spans = server_spans()
    assert len(spans) >= 2, collector.spans

    resource, first = next(
        (r, s) for r, s in spans if _attrs(s).get("http.route", "").endswith("<int:product_id>")
    )
    assert resource["service.name"] == "catalog-under-test"
    epoch = int(first.trace_id.hex()[:8], 16)
    assert abs(epoch - time.time()) < 600

    continued = [s for _, s in spans if s.trace_id.hex() == xray_root[2:].replace("-", "")]
    assert continued, "the X-Ray trace header was not propagated"
    # The database calls are spans of the same trace (psycopg instrumentation).
    trace_id = continued[0].trace_id
    db_spans = [
        s
        for _, s in collector.spans
        if s.trace_id == trace_id and _attrs(s).get("db.system") == "postgresql"
    ]
    assert db_spans
    # /health is excluded from tracing (ALB health checks would drown the traces).
    requests.get(srv.url + "/health", timeout=5)
    assert srv.stop() == 0  # flushes the exporter
    paths = [s.name.split(" ", 1)[-1] for _, s in server_spans()]
    assert any(p and p.startswith("/api/products") for p in paths), paths
    assert not any(p and p.startswith("/health") for p in paths), paths


def test_disabled_means_nothing_is_set_up(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert telemetry.tracing_disabled()
    assert telemetry.setup_tracing(object(), "svc", "1") is False
    assert telemetry.current_trace_id() is None
