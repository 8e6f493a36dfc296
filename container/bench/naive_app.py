"""Benchmark baseline: Flask's built-in development server, hard-coded list.

This is deliberately naive: no database, no pool, no production server. It is
what the real service is measured against in ``scripts/bench-app.sh``.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify

app = Flask(__name__)

_PRODUCTS = [
    {
        "id": 1,
        "name": "Widget",
        "description": "A widget",
        "price": "9.99",
        "currency": "USD",
        "category": "tools",
        "sku": "WID-1",
        "stock": 10,
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "2024-01-01T00:00:00+00:00",
    },
    {
        "id": 2,
        "name": "Gadget",
        "description": "A gadget",
        "price": "19.99",
        "currency": "USD",
        "category": "tools",
        "sku": "GAD-2",
        "stock": 5,
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "2024-01-01T00:00:00+00:00",
    },
]


@app.get("/api/products")
def list_products():
    return jsonify({"products": _PRODUCTS, "count": len(_PRODUCTS)})


if __name__ == "__main__":
    # Flask's development server (threaded, the default since Flask 1.0).
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5099")), debug=False)
