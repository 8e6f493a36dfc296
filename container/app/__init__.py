"""Product-catalog API (Flask + psycopg 3, served by granian).

Kept import-free so that ``python -m app.serve`` starts (and can handle SIGTERM)
before the heavy web and database libraries load; use ``app.factory.create_app``.
"""

__version__ = "1.0.0"
