"""The proxy's threading HTTP server: where moto is, and one call to it."""

from __future__ import annotations

import http.client
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from proxy.handler import ProxyHandler
from proxy.state import ProxyState


class FaultProxyServer(ThreadingHTTPServer):
    """Listens on 127.0.0.1:``port`` and hands each request to a ProxyHandler thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        upstream: tuple[str, int],
        state: ProxyState,
        upstream_timeout: float = 120.0,
        verbose: bool = False,
        cbor_bridge: bool = True,
    ):
        self.cbor_bridge = cbor_bridge
        self.upstream = upstream
        self.upstream_url = f"http://{upstream[0]}:{upstream[1]}"
        self.state = state
        self.upstream_timeout = upstream_timeout
        self.verbose = verbose
        # One conditional S3 write at a time (see proxy.realism.s3.is_conditional_write).
        self.conditional_writes = threading.Lock()
        state.realism.upstream = self.upstream_call
        super().__init__(("127.0.0.1", port), ProxyHandler)

    def upstream_call(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request to moto (forwarded calls, the CBOR bridge and the realism mode)."""
        host, port = self.upstream
        conn = http.client.HTTPConnection(host, port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if not any(name.lower() == "host" for name, _ in headers):
                conn.putheader("Host", f"{host}:{port}")
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, BrokenPipeError)):
            return  # client went away; nothing to report
        super().handle_error(request, client_address)
