"""Load N products through the API (POST /api/products), concurrently, over keep-alive.

    python bench/load_products.py http://127.0.0.1:5000 10000 [threads]

Prints one JSON line: {"loaded": N, "seconds": s, "rps": r}.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

CATEGORIES = [f"category-{i:02d}" for i in range(20)]
WORDS = ["steel", "oak", "cotton", "glass", "carbon", "linen", "copper", "wool"]


def product(i: int) -> dict:
    return {
        "name": f"{WORDS[i % len(WORDS)].title()} item {i:05d}",
        "description": f"Benchmark product number {i}, made of {WORDS[(i * 7) % len(WORDS)]}.",
        "price": f"{(i * 37) % 100000 / 100:.2f}",
        "currency": "USD",
        "category": CATEGORIES[i % len(CATEGORIES)],
        "sku": f"BENCH-{i:06d}",
        "stock": (i * 13) % 1000,
    }


def main() -> None:
    base, total = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    url = urlsplit(base)
    counter = iter(range(1, total + 1))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            conn.request(
                "POST",
                "/api/products",
                body=json.dumps(product(i)),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 201:
                errors.append(f"{resp.status} {body[:200]!r}")
                break
        conn.close()

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        sys.exit(f"load failed: {errors[:3]}")
    result = {"loaded": total, "seconds": round(elapsed, 2), "rps": round(total / elapsed)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
