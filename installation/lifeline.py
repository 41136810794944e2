"""The supervised runtime's side of the kiosk: wait as a warm standby for its turn, and never
outlive the supervisor.

The supervisor starts every runtime as ``main.py run ... --standby SUPERVISOR_PID``. The child
does the slow part of starting (imports, configuration, loading and warming the model), says
``ready`` in its heartbeat file, and waits on its stdin for one line, the supervisor's go (a
``Turn``), before it takes what only one runtime can hold: the camera, the window, the OSC port.
So the supervisor keeps one waiting, and a runtime that dies is replaced by one that has only
those left to open.

Stdin is also the lifeline: its end of file means the supervisor is gone, and an orphan must not
keep the camera and the screen. Linux says so sooner and more surely with ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from installation.health import RESTART_REASON_ENV, RESTARTS_ENV

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 10.0  # an orphan gets this long to stop cleanly (close its recording) before it is ended
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Turn:
    """The supervisor's go: which restart this runtime is, and why the one before it ended."""

    restarts: int = 0
    reason: str | None = None

    def to_line(self) -> str:
        return json.dumps({"restarts": self.restarts, "reason": self.reason}) + "\n"

    @classmethod
    def from_line(cls, line: bytes | str) -> Turn:
        """Parses a go line. Raises ValueError for anything else."""
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get("restarts"), int):
            raise ValueError(f"not a go line from the kiosk supervisor: {line!r}")
        reason = record.get("reason")
        return cls(record["restarts"], reason if isinstance(reason, str) else None)


def _stop_orphan() -> None:
    """SIGTERM ends the run cleanly (main.py turns it into KeyboardInterrupt); if the loop is
    stuck and cannot, end the process anyway after a grace."""
    log.warning("the kiosk supervisor is gone: stopping")
    timer = threading.Timer(ORPHAN_GRACE_S, os._exit, args=(1,))
    timer.daemon = True
    timer.start()
    os.kill(os.getpid(), signal.SIGTERM)


class Lifeline:
    """A supervised child's link to its supervisor (process ``supervisor_pid``)."""

    def __init__(self, supervisor_pid: int, stream: BinaryIO, ready_file: Path | None = None,
                 on_orphaned: Callable[[], None] = _stop_orphan) -> None:
        self.supervisor_pid, self.stream, self.ready_file = supervisor_pid, stream, ready_file
        self.on_orphaned = on_orphaned

    @classmethod
    def on_stdin(cls, supervisor_pid: int, ready_file: Path | None = None) -> Lifeline:
        """The lifeline on this process's stdin, read unbuffered through a copy of its descriptor:
        a daemon thread blocked in ``sys.stdin.buffer.readline`` holds that reader's lock, and
        CPython aborts (SIGABRT, exit -6 instead of ours) when it closes stdin at shutdown."""
        return cls(supervisor_pid, open(os.dup(sys.stdin.fileno()), "rb", buffering=0), ready_file)

    def die_with_supervisor(self) -> None:
        """Linux: have the kernel send SIGTERM when the supervisor dies, with no thread of ours
        having to notice (SIGTERM so a recording is closed; a loop too stuck to stop on it is
        ended by the stdin watch's ``ORPHAN_GRACE_S``). Then check it did not die before we
        asked. Elsewhere the stdin watch started by ``wait_for_turn`` does it alone."""
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
                    log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
            except (OSError, AttributeError) as error:
                log.warning("cannot ask to die with the supervisor: %s", error)
        if os.getppid() != self.supervisor_pid:
            self.on_orphaned()

    def wait_for_turn(self) -> Turn:
        """Say ready, block until the supervisor's go, then keep watching stdin for its end.
        Returns the turn (also put where the health file reads it). Raises SystemExit when the
        supervisor went away first, or sent something other than a go line."""
        if self.ready_file is not None:
            try:
                self.ready_file.write_text("ready\n", encoding="utf-8")
            except OSError as error:  # the supervisor only logs readiness; the go still comes
                log.warning("cannot write %s: %s", self.ready_file, error)
        line = self.stream.readline()
        if not line:
            raise SystemExit(0)  # the supervisor is gone before our turn came
        try:
            turn = Turn.from_line(line)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        os.environ[RESTARTS_ENV] = str(turn.restarts)  # the health file says which restart this is, and why
        os.environ[RESTART_REASON_ENV] = turn.reason or ""
        threading.Thread(target=self._watch, name="lifeline", daemon=True).start()
        return turn

    def _watch(self) -> None:
        while self.stream.readline():  # the supervisor sends nothing after the go: this waits for EOF
            pass
        self.on_orphaned()
