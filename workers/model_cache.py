"""An LRU cache of loaded checkpoints, keyed by checkpoint key, one per worker process."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ModelCache:
    """Keeps the `size` most recently used values; `loader(key)` makes a missing one.

    Thread-safe: the sampling worker runs requests in threads. Loads happen under the lock, so
    concurrent requests for one key load it once (and Keras never loads two models at a time).
    """

    def __init__(self, size: int, loader: Callable[[str], Any]):
        self.size = max(1, size)
        self.loader = loader
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> Any:
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key]
            self.misses += 1
            value = self.loader(key)
            log.info("model cache: loaded %s", key)
            self._items[key] = value
            while len(self._items) > self.size:
                evicted, _ = self._items.popitem(last=False)
                log.info("model cache: evicted %s", evicted)
            return value

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
