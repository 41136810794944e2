"""Commands from outside the loop (keys, and later OSC), applied only at frame boundaries.

Producers on any thread ``put`` commands into a bounded inbox; the loop ``drain``s it once per
frame, before it takes the next frame, so a command never lands half-way through a frame.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ControlCommand:
    """``name`` says what to do (see ``Runtime.apply``); ``args`` its arguments; ``origin`` who
    sent it, for logs (``key``, ``osc 10.0.0.5:9000``)."""

    name: str
    args: tuple[Any, ...] = ()
    origin: str = ""


class CommandInbox:
    """A bounded, thread-safe queue of commands. When full, new commands are refused and counted
    (a flooding sender cannot grow memory or stall the loop)."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: collections.deque[ControlCommand] = collections.deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.refused = 0

    def put(self, command: ControlCommand) -> bool:
        with self._lock:
            if len(self._items) >= self._capacity:
                self.refused += 1
                return False
            self._items.append(command)
            return True

    def drain(self) -> list[ControlCommand]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items
