"""Where the staff page's figures come from: one interface, two sources.

- ``installation.staff.runtime_source.RuntimeSource``: the runtime in this process (``main.py run``);
- ``installation.staff.supervised_source.SupervisedSource``: the kiosk supervisor, which reads its
  child's health and heartbeat files and so keeps answering while the runtime restarts.

The server (``installation.staff.server``) knows only ``StatusSource``. A snapshot is a JSON-ready
dict with the keys of ``EMPTY_SNAPSHOT``; a source may leave out what it cannot know (the
supervisor has no thumbnail of its child).
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Protocol

import numpy as np

from installation.control import ControlCommand

HISTORY_S = 3600  # the charts' span: the last hour, one sample a second
LOG_LINES = 40
STATES = ("running", "attract", "asleep", "fallback", "starting", "restarting", "given up")

EMPTY_SNAPSHOT: dict = {
    "state": "starting",  # one of STATES
    "uptime_s": 0.0,  # of the runtime showing now
    "restarts": 0,
    "last_restart_reason": None,
    "fps": 0.0,
    "latency_ms": {"p50": 0.0, "p95": 0.0},  # end to end, capture -> shown, over the last few seconds
    "perception_ms": 0.0,
    "stage_ms": {},  # the newest time of each stage of the loop
    "frames": 0,
    "dropped_frames": 0,
    "scene": "",
    "scenes": [],  # what "set scene" offers
    "style": None,  # the painting's style, None without painting
    "styles": [],
    "model": "",
    "presence": 0.0,
    "visitors": 0,
    "errors": {},
    "switches": {},  # blackout, freeze, sleep, test_pattern: on or off
    "controls": [],  # the actions this source can carry out (installation.staff.controls)
    "log": [],  # the last log lines, oldest first
    "source": "",
    "sample": None,  # the newest chart sample [unix time, fps, latency ms, perception ms]
}


class StatusSource(Protocol):
    """What the staff server reads and steers; every method is called from the server's thread."""

    def snapshot(self) -> dict:
        """The newest figures (keys of ``EMPTY_SNAPSHOT``); cheap: built ahead, not per request."""
        ...

    def history(self) -> list[list[float]]:
        """Chart samples of the last hour, oldest first: [unix time, fps, latency ms, perception ms]."""
        ...

    def thumbnail(self) -> tuple[int, np.ndarray | None]:
        """(sequence number, (H, W, 3) RGB uint8 picture or None). Asking says someone watches:
        a source only makes thumbnails while they are asked for."""
        ...

    def send(self, command: ControlCommand) -> str | None:
        """Hand a validated command to the runtime; None when taken, else why not (one line)."""
        ...

    def restart(self, who: str) -> str | None:
        """Restart the runtime; None when done, else why it cannot (one line)."""
        ...

    def close(self) -> None: ...


class History:
    """One chart sample a second for the last hour, in a bounded deque (weeks of uptime, same memory)."""

    def __init__(self, span_s: int = HISTORY_S) -> None:
        self._samples: collections.deque[list[float]] = collections.deque(maxlen=span_s)
        self._lock = threading.Lock()  # the loop adds, the server's thread copies

    def add(self, sample: list[float]) -> None:
        with self._lock:
            self._samples.append(sample)

    def samples(self) -> list[list[float]]:
        with self._lock:
            return list(self._samples)


class LogTail(logging.Handler):
    """The last ``LOG_LINES`` log lines, for the page; attached to a logger while a source lives."""

    def __init__(self, lines: int = LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:  # logging's own rule: a handler never raises into the code that logged
            self.handleError(record)

    def lines(self) -> list[str]:
        return list(self._lines)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` (0..1) quantile of ``values`` by nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])
