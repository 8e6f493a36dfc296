"""Per-process cache of serialised list pages, keyed by the catalog version.

Correctness across workers and tasks: every change to ``products`` bumps
``catalog_state.version`` in the same transaction (a statement trigger). A list
request first reads that version (one indexed single-row read), then serves a
page cached under exactly that version, or builds and caches it. A page can
therefore never be served after the transaction that changed it committed, in
any worker of any task: no TTL and no cross-process messaging are involved.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class VersionedCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, version: int, key: Hashable) -> bytes | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            if version != self._version:
                self.misses += 1
                return None
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, version: int, key: Hashable, body: bytes) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            if self._version is not None and version < self._version:
                return  # built from an older snapshot than what is cached now
            if version != self._version:
                self._entries.clear()
                self._version = version
            self._entries[key] = body
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
