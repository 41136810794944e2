"""Waiting for another thread or process (a receiver, rtmidi's thread, a camera, a kiosk) without
reading the clock: polls, counted, up to a guard that only bounds a broken run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, guard_s: float = 30.0, poll_s: float = 0.005) -> T:
    """Poll ``condition`` until it returns something true, and return that; AssertionError after
    about ``guard_s`` of polls (a busy machine may take long, a broken run takes forever). What is
    waited for usually takes milliseconds: nothing asserts on how long it took."""
    pause = threading.Event()
    for _ in range(max(1, round(guard_s / poll_s))):
        value = condition()
        if value:
            return value
        pause.wait(poll_s)
    value = condition()
    assert value, f"never happened: {what}"
    return value
