"""WSGI entry point (``python -m app.serve`` serves ``wsgi:app`` with granian)."""

from app import create_app

app = create_app()
