"""An LRU cache of sampling models (fused numpy weights, shared read-only by the sampling threads),
keyed by checkpoint key, one per worker process."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ModelCache:
    """Keeps the `size` most recently used values; `loader(key)` makes a missing one.

    Thread-safe, and loads per key: concurrent requests for one key load it once, while requests
    for another key load at the same time (a checkpoint download retrying through a storage outage
    blocks only the requests that wait for that checkpoint)."""

    def __init__(self, size: int, loader: Callable[[str], Any], name: str = "model cache"):
        self.size = max(1, size)
        self.name = name  # in its log lines
        self.loader = loader
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()  # guards _items, _loading and the counters; never held while loading
        self._loading: dict[str, threading.Lock] = {}
        self.hits = self.misses = 0

    def _cached(self, key: str) -> tuple[bool, Any]:
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return True, self._items[key]
            return False, self._loading.setdefault(key, threading.Lock())

    def get(self, key: str) -> Any:
        found, value = self._cached(key)
        if found:
            return value
        with value:  # the key's own lock: one load per key at a time
            found, cached = self._cached(key)
            if found:  # loaded by the request we waited for
                return cached
            with self._lock:
                self.misses += 1
            try:
                loaded = self.loader(key)
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            log.info("%s: loaded %s", self.name, key)
            with self._lock:
                self._items[key] = loaded
                self._loading.pop(key, None)
                while len(self._items) > self.size:
                    evicted, _ = self._items.popitem(last=False)
                    log.info("%s: evicted %s", self.name, evicted)
        return loaded

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
