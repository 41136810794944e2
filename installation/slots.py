"""A bounded hand-off between threads where the newest item wins.

A producer that is faster than its consumer overwrites the waiting item instead of queueing it,
so a slow consumer always gets fresh data and memory never grows.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class NewestSlot(Generic[T]):
    """Holds at most one item. ``put`` replaces it; ``take`` empties it."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()
        self.overwritten = 0  # items replaced before anyone took them (dropped frames)
        self._closed = False

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.overwritten += 1
            self._item = item
            self._cond.notify_all()

    def take(self, timeout_s: float | None = 0.0) -> T | None:
        """Return and clear the item; wait up to ``timeout_s`` (None = forever) if empty.

        Returns None when nothing arrived in time or the slot was closed.
        """
        with self._cond:
            if self._item is None and timeout_s != 0.0:
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            item, self._item = self._item, None
            return item

    def wait_for_item(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until an item is there (without taking it); returns whether one is."""
        with self._cond:
            return self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s) and self._item is not None

    @property
    def holds_item(self) -> bool:
        with self._cond:
            return self._item is not None

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
