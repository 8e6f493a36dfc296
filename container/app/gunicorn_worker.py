"""gunicorn's threaded worker, with JSON protocol errors and a stricter SIGTERM.

1. Errors gunicorn answers itself, before the app sees a request (request line
   too long -> 414, headers too large -> 431, malformed HTTP -> 400), are JSON
   ``{"error": ..., "detail": ...}`` like every other error, never an HTML page.
2. Stock gthread stops calling accept() on SIGTERM but keeps its copy of the
   listening socket open until it exits, so the kernel keeps completing handshakes
   for connections nobody will serve; they are reset when the worker exits. This
   worker closes its copy as soon as shutdown starts (the master has already
   closed its own), so new connections are refused at once (the client or load
   balancer can go elsewhere) while in-flight requests run to completion within
   ``graceful_timeout``.
"""

from __future__ import annotations

from typing import Any

import orjson
from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    detail = reason if status_int >= 500 or not mesg else f"{reason}: {mesg}"[:500]
    body = orjson.dumps({"error": _CODES.get(status_int, "bad_request"), "detail": detail})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_json_error


class GracefulThreadWorker(ThreadWorker):
    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                listener.close()
