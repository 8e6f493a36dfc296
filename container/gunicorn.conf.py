"""gunicorn settings (read by `gunicorn --config gunicorn.conf.py wsgi:app`).

Every value can be overridden from the environment; see README.md.
"""

from __future__ import annotations

import os

from app.config import effective_cpu_count
from app.logs import gunicorn_logconfig

_cpus = effective_cpu_count()

bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"]

# Threaded workers: requests mostly wait on PostgreSQL, so a few threads per
# process overlap that wait, while one process per core sidesteps the GIL.
# See README.md ("Benchmark") for the measurements behind these defaults.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "app.gunicorn_worker.GracefulThreadWorker")
workers = int(os.environ.get("WEB_CONCURRENCY", str(_cpus * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Each worker's pool is sized to its threads (Settings.from_env reads GUNICORN_THREADS).
os.environ.setdefault("GUNICORN_THREADS", str(threads))

# The app is imported in each worker after the fork (no preload): the pool, the
# migrator thread and the OpenTelemetry exporter must not cross a fork.
preload_app = False

# Keep-alive above the ALB idle timeout (60 s) so the ALB closes first (no 502s).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "65"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# SIGTERM: stop accepting, finish in-flight requests, exit. Must stay below the
# ECS stopTimeout (120 s) so gunicorn exits cleanly before a SIGKILL.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "90"))

# Heartbeat files on tmpfs (a container's /tmp may be a slow overlay).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The app writes one JSON access line per request; gunicorn's own log is JSON too.
accesslog = None
errorlog = "-"
logconfig_dict = gunicorn_logconfig()
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
capture_output = False

# No runtime control socket (it would need a writable $HOME; ECS has exec for that).
control_socket_disable = True

# Header / request-line limits (defaults, stated for clarity).
limit_request_line = 8190
limit_request_fields = 100


def worker_exit(server, worker):
    """Close the pool and flush spans when a worker stops."""
    app = getattr(worker, "wsgi", None)
    db = getattr(app, "extensions", {}).get("catalog.db") if app is not None else None
    if db is not None:
        db.close(timeout=5.0)
    from app import telemetry

    telemetry.shutdown_tracing()
