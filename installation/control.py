"""Commands from outside the loop (keys, and later OSC), applied only at frame boundaries.

Producers on any thread ``put`` commands into a bounded inbox; the loop ``drain``s it once per
frame, before it takes the next frame, so a command never lands half-way through a frame. A
command with a ``key`` replaces a waiting one with the same key ("latest wins"), so a flood of
``/scene/set`` or parameter messages costs the loop one command a frame, not one per message.
"""

from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ControlCommand:
    """``name`` says what to do (see ``Runtime.apply``); ``args`` its arguments; ``origin`` who
    sent it, for logs (``key``, ``osc 10.0.0.5:9000``); ``key``, when set, makes it replace a
    waiting command with the same key (only the latest value matters)."""

    name: str
    args: tuple[Any, ...] = ()
    origin: str = ""
    key: str | None = None


class CommandInbox:
    """A bounded, thread-safe queue of commands. When full, new commands are refused and counted
    (a flooding sender cannot grow memory or stall the loop); a keyed command replaces the
    waiting one with its key (counted in ``replaced``) and takes its turn at the end."""

    def __init__(self, capacity: int = 256) -> None:
        # keyed commands under their key, the others under a serial number: order is arrival order
        self._items: collections.OrderedDict[object, ControlCommand] = collections.OrderedDict()
        self._serial = itertools.count()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.refused = 0
        self.replaced = 0

    def put(self, command: ControlCommand) -> bool:
        """Returns False if the inbox is full and the command was refused."""
        with self._lock:
            if command.key is not None and command.key in self._items:
                del self._items[command.key]  # at the end now: after any command that came between
                self.replaced += 1
            elif len(self._items) >= self._capacity:
                self.refused += 1
                return False
            self._items[command.key if command.key is not None else next(self._serial)] = command
            return True

    def drain(self) -> list[ControlCommand]:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
            return items
