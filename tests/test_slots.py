"""The newest-wins hand-off between threads."""

from __future__ import annotations

import threading

from installation.slots import NewestSlot


def test_newest_item_wins_and_overwrites_are_counted():
    slot: NewestSlot[int] = NewestSlot()
    for item in range(5):
        slot.put(item)
    assert slot.take() == 4
    assert slot.overwritten == 4
    assert slot.take() is None


def test_take_waits_for_a_producer_thread():
    slot: NewestSlot[str] = NewestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    assert slot.take(timeout_s=5.0) == "frame"


def test_close_wakes_a_waiting_consumer():
    slot: NewestSlot[str] = NewestSlot()
    threading.Timer(0.05, slot.close).start()
    assert slot.take(timeout_s=None) is None
