"""A busy neighbour: one CPU-bound process beside a benchmark, as a kiosk's browser or another job
on the machine would be, started and stopped by the benchmark itself (issue 22).

    with BusyNeighbour() as neighbour:
        ...                      # the runs measured beside it
    neighbour.record()           # its CPU seconds: proof that it really ran

``Conditions`` runs a block idle or beside a fresh neighbour and keeps every neighbour's record, so
a benchmark can interleave the two conditions round by round (idle, loaded, idle, loaded ...) and
a drifting machine hits both alike.

Nothing of the project is imported here: a benchmark imports it as cheaply as ``common``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

BUSY = "while True: pass"  # one core's worth of work that never blocks: the worst steady neighbour
CONDITIONS = ("idle", "loaded")
STOP_TIMEOUT_S = 5.0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used (``/proc/<pid>/stat``); None where unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces or ")"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (the line's 14th, 15th)


class BusyNeighbour:
    """One CPU-bound child process for the length of a ``with`` block, stopped on the way out
    (terminate, then kill if it lingers) whether the block ends normally or by an error.

    It runs at the benchmark's own priority (nice 0 when the benchmark runs at 0, as a kiosk's
    browser does: not nicer, or the scheduler would hand it only what the loop leaves) and may run
    on any core the benchmark may, even when started from a pinned thread (a child inherits the
    thread's cores)."""

    def __init__(self) -> None:
        self.cpu_s: float | None = None
        self.wall_s = 0.0
        self.nice: int | None = None
        self.cores: list[int] = []
        self.ran_throughout = False  # still running when stopped: it never died mid-block
        self._child: subprocess.Popen | None = None
        self._started = 0.0

    def __enter__(self) -> BusyNeighbour:
        self._child = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._started = time.perf_counter()
        try:
            pid = self._child.pid
            with contextlib.suppress(OSError):  # the kernel keeps the cores a cpuset allows; none allowed: as inherited
                os.sched_setaffinity(pid, range(os.cpu_count() or 1))
            self.cores = sorted(os.sched_getaffinity(pid))
            self.nice = os.getpriority(os.PRIO_PROCESS, pid)
        except BaseException:
            self._stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return None if self._child is None else self._child.pid

    def __exit__(self, *exc_info) -> None:
        self._stop()

    def _stop(self) -> None:
        child = self._child
        if child is None:
            return
        self.wall_s = time.perf_counter() - self._started
        self.ran_throughout = child.poll() is None
        self.cpu_s = cpu_seconds(child.pid)  # read before it is reaped: then its /proc entry is gone
        child.terminate()
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        self._child = None

    def record(self) -> dict:
        return {"wall_s": round(self.wall_s, 3), "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 3),
                "nice": self.nice, "cores": self.cores, "ran_throughout": self.ran_throughout}


class Conditions:
    """The two conditions runs are measured in: ``during("idle")`` adds nothing, ``during("loaded")``
    is a fresh BusyNeighbour; every neighbour's record is kept for ``summary``."""

    def __init__(self) -> None:
        self.neighbours: list[BusyNeighbour] = []

    def during(self, condition: str) -> contextlib.AbstractContextManager:
        if condition == "idle":
            return contextlib.nullcontext()
        if condition != "loaded":
            raise ValueError(f"unknown condition {condition!r}: one of {CONDITIONS}")
        neighbour = BusyNeighbour()
        self.neighbours.append(neighbour)
        return neighbour

    def summary(self) -> dict:
        """What the neighbours did, together: started how often, CPU seconds used over the seconds
        they ran (a share near 1 is a core kept busy), each one's record."""
        records = [neighbour.record() for neighbour in self.neighbours]
        wall = sum(record["wall_s"] for record in records)
        cpu = sum(record["cpu_s"] or 0.0 for record in records)
        return {"command": [Path(sys.executable).name, "-c", BUSY], "starts": len(records), "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3), "cpu_share": round(cpu / wall, 3) if wall > 0 else 0.0,
                "nice": sorted({record["nice"] for record in records if record["nice"] is not None}),
                "cores": sorted({core for record in records for core in record["cores"]}),
                "ran_throughout": all(record["ran_throughout"] for record in records), "runs": records}
