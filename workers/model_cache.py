"""An LRU cache of loaded checkpoints, keyed by checkpoint key, one per worker process."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ModelCache:
    """Keeps the `size` most recently used values; `loader(key)` makes a missing one.

    Not thread-safe: a prefork worker process runs one task at a time.
    """

    def __init__(self, size: int, loader: Callable[[str], Any]):
        self.size = max(1, size)
        self.loader = loader
        self._items: OrderedDict[str, Any] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: str) -> Any:
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = self.loader(key)
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
