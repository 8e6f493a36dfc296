"""A tiny TCP proxy in front of PostgreSQL, to take the database away and back for real.

``stop()`` closes the listening socket and cuts every open connection (what a
database restart or failover looks like to the app); ``start()`` listens again
on the same port.

``PasswordCheckingProxy`` also makes every client log in with a password,
checked against the role's real verifier: the local server trusts 127.0.0.1,
so without it a password (and its rotation) would never matter.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import socket
import struct
import threading
from collections.abc import Callable

import psycopg


class PgProxy:
    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port or _free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST = 80877103, 80877104, 80877102
_SCRAM_RE = re.compile(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$")


class PasswordCheckingProxy(PgProxy):
    """A PgProxy that authenticates every client itself, the way PostgreSQL would.

    It answers the client's startup message with AuthenticationCleartextPassword,
    checks the password against the role's SCRAM-SHA-256 (or md5) verifier in
    ``pg_authid`` (read as ``admin_user``), so ``ALTER ROLE ... PASSWORD`` takes
    effect at once, as on Aurora. A wrong password gets the server's own
    ``FATAL 28P01 password authentication failed for user "..."``; a right one
    has its startup message forwarded to the (trusting) server, whose
    AuthenticationOk and the rest go back to the client, and the session is
    piped as by PgProxy. ``check`` replaces the verifier check (user, password ->
    bool). ``attempts`` records (user, accepted) per login.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        admin_user: str = "postgres",
        port: int = 0,
        check: Callable[[str, str], bool] | None = None,
    ) -> None:
        super().__init__(target_host, target_port, port)
        self.admin_user = admin_user
        self.check = check or self._check_verifier
        self.attempts: list[tuple[str, bool]] = []

    def rejected(self, user: str) -> int:
        return sum(1 for u, ok in self.attempts if u == user and not ok)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._login, args=(client,), daemon=True).start()

    def _login(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            while True:
                head = _recv_exact(client, 8)
                length, code = struct.unpack("!ii", head)
                packet = head + _recv_exact(client, length - 8)
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    client.sendall(b"N")  # no encryption here; the client goes on in clear
                    continue
                if code == _CANCEL_REQUEST:
                    with socket.create_connection(self.target, timeout=5) as upstream:
                        upstream.sendall(packet)
                    client.close()
                    return
                break
            fields = packet[8:].split(b"\0")
            params = dict(zip(fields[0::2], fields[1::2], strict=False))
            user = params.get(b"user", b"").decode()
            client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            if _recv_exact(client, 1) != b"p":
                raise OSError("expected a password message")
            (length,) = struct.unpack("!i", _recv_exact(client, 4))
            password = _recv_exact(client, length - 4).rstrip(b"\0").decode()
            accepted = self.check(user, password)
            self.attempts.append((user, accepted))
            if not accepted:
                client.sendall(_error("28P01", f'password authentication failed for user "{user}"'))
                client.close()
                return
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            client.settimeout(None)
            upstream.sendall(packet)
        except (OSError, ValueError, struct.error):
            client.close()
            return
        with self._lock:
            self._conns += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _check_verifier(self, user: str, password: str) -> bool:
        with psycopg.connect(
            host=self.target[0], port=self.target[1], user=self.admin_user, dbname="postgres"
        ) as conn:
            row = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s AND rolcanlogin"
                " AND (rolvaliduntil IS NULL OR rolvaliduntil > now())",
                (user,),
            ).fetchone()
        return bool(row and row[0]) and password_matches(row[0], user, password)


def password_matches(verifier: str, user: str, password: str) -> bool:
    """Check a password against a pg_authid verifier (SCRAM-SHA-256 or md5)."""
    if m := _SCRAM_RE.match(verifier):
        iterations, salt, stored_key = int(m[1]), base64.b64decode(m[2]), base64.b64decode(m[3])
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)
    if verifier.startswith("md5"):
        digest = "md5" + hashlib.md5((password + user).encode()).hexdigest()
        return hmac.compare_digest(digest, verifier)
    return False


def _error(sqlstate: str, message: str) -> bytes:
    body = b"".join(
        [b"SFATAL\0", b"VFATAL\0", b"C" + sqlstate.encode() + b"\0", b"M" + message.encode()]
    )
    body += b"\0\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


free_port = _free_port
