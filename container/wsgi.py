"""WSGI entry point: ``python -m app.serve`` serves ``wsgi:app`` with granian."""

import os
import signal


def _exit_while_booting(signum, frame):
    # A worker that is told to stop while still importing the app has nothing in
    # flight: leave at once. (Until granian installs its own handlers, a freshly
    # forked worker would run the master's inherited handler, which cannot stop
    # it, and the worker would then serve until the kill timeout.) granian
    # replaces this handler with its graceful one before serving a request.
    # (Other servers, e.g. gunicorn, install their handlers before importing the
    # app, so the guard is only set up under granian.)
    os._exit(0)


if os.environ.get("CATALOG_SERVER") == "granian":  # set by app.serve
    try:
        signal.signal(signal.SIGTERM, _exit_while_booting)
        signal.signal(signal.SIGINT, _exit_while_booting)
    except ValueError:  # not the main thread: nothing to guard
        pass

from app.factory import create_app  # noqa: E402

app = create_app()
