"""Product-catalog API (Flask + psycopg 3)."""

from __future__ import annotations

__version__ = "1.0.0"

from app.factory import create_app

__all__ = ["__version__", "create_app"]
