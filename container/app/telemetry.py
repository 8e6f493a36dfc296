"""OpenTelemetry tracing: OTLP to the ADOT sidecar, X-Ray trace ids and propagation.

Off (nothing imported, nothing patched) when OTEL_SDK_DISABLED=true.
Call ``setup_tracing`` in each worker process (after gunicorn forks), never in the
master: the batch exporter's thread and gRPC channels do not survive a fork.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("app.telemetry")

_provider: Any = None


def tracing_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def instrument_psycopg() -> None:
    """Must run before the pool opens its first connection."""
    if tracing_disabled():
        return
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    instrumentor = PsycopgInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(enable_commenter=False, skip_dep_check=True)


def setup_tracing(app: Any, service_name: str, version: str) -> bool:
    global _provider
    if tracing_disabled():
        log.info("tracing disabled (OTEL_SDK_DISABLED=true)")
        return False

    from opentelemetry import propagate, trace
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if _provider is None:
        resource = Resource.create(
            {
                "service.name": service_name,
                "service.version": version,
                "deployment.environment": os.environ.get("APP_ENV", "development"),
                "cloud.provider": "aws",
                "cloud.region": os.environ.get("AWS_REGION", "unknown"),
            }
        )
        provider = TracerProvider(id_generator=AwsXRayIdGenerator(), resource=resource)
        provider.add_span_processor(BatchSpanProcessor(_exporter()))
        trace.set_tracer_provider(provider)
        # W3C for everything OTel, X-Ray's header for the ALB and AWS services.
        propagate.set_global_textmap(
            CompositePropagator(
                [TraceContextTextMapPropagator(), W3CBaggagePropagator(), AwsXRayPropagator()]
            )
        )
        _provider = provider
    instrument_psycopg()
    FlaskInstrumentor().instrument_app(app, excluded_urls="/health,/health/ready")
    log.info(
        "tracing enabled",
        extra={
            "otlp_endpoint": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "(default)"),
            "otlp_protocol": _protocol(),
        },
    )
    return True


def _protocol() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()


def _exporter() -> Any:
    # Endpoint, headers and timeout come from the standard OTEL_EXPORTER_OTLP_* variables.
    if _protocol().startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )

    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")
    return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))


def current_trace_id() -> str | None:
    """The active trace id in X-Ray form (1-<epoch>-<random>), for log correlation."""
    if _provider is None:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    hex_id = f"{ctx.trace_id:032x}"
    return f"1-{hex_id[:8]}-{hex_id[8:]}"


def shutdown_tracing() -> None:
    if _provider is not None:
        try:
            _provider.shutdown()
        except Exception:  # never block shutdown on the exporter
            log.warning("tracer provider shutdown failed", exc_info=True)
