"""A bounded LRU of opened sources (moviepy clips, readers): what it evicts is closed.

Each worker keeps one per thread (a moviepy reader serves one thread at a
time), so the number of open files and reader processes per worker stays
bounded whatever the number of scenes (``--clip-cache``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable


class ClipCache:
    """A bounded LRU of opened sources (clips, readers); what it evicts is closed.

    Keeps the number of open files and reader processes per worker bounded,
    whatever the number of scenes.
    """

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, opener: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = opener()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            evicted = []
            while len(self._items) > self.capacity:
                evicted.append(self._items.popitem(last=False)[1])
        for item in evicted:
            _close(item)
        return value

    def clear(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), OrderedDict()
        for item in items:
            _close(item)

    def __len__(self) -> int:
        return len(self._items)


def _close(item: Any) -> None:
    close = getattr(item, "close", None)
    if callable(close):
        close()
