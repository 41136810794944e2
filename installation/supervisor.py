"""The kiosk supervisor: runs the installation as a child process and restarts it when it
crashes or hangs, with backoff, logging why. ``python main.py kiosk [run options]``.

A child is hung when its heartbeat file (touched while frames are shown) has not changed for
``hang_timeout_s`` (after ``start_grace_s`` for loading models). The child's output and the
supervisor's own lines go to a rotating log, so weeks of logs never fill the disk.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from installation.health import RESTART_REASON_ENV, RESTARTS_ENV

log = logging.getLogger(__name__)

MAIN = Path(__file__).resolve().parents[1] / "main.py"


@dataclass(frozen=True)
class SupervisorSettings:
    hang_timeout_s: float = 15.0
    start_grace_s: float = 60.0  # a child has this long to show its first frame
    first_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    healthy_after_s: float = 60.0  # a child up this long resets the backoff
    log_dir: Path = Path("logs")
    log_bytes: int = 5_000_000
    log_files: int = 5


class Supervisor:
    """Starts ``main.py run <run_args>`` and keeps it running. ``run`` returns the exit code."""

    def __init__(self, run_args: list[str], settings: SupervisorSettings = SupervisorSettings()) -> None:
        self.run_args, self.settings = run_args, settings
        self.restarts = 0
        self.reasons: list[str] = []
        self.child: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._heartbeat = Path(tempfile.mkdtemp(prefix="installation-")) / "heartbeat"
        self._output = _rotating_logger(settings)

    def request_stop(self, *_: object) -> None:
        """Stop supervising: the child gets SIGTERM (it stops cleanly) and is not restarted."""
        self._stop.set()

    def run(self, max_restarts: int | None = None) -> int:
        backoff, reason = 0.0, None
        while not self._stop.is_set():
            started = time.monotonic()
            self._start_child(reason)
            reason = self._watch(started)
            if reason is None:  # the child ended by itself, cleanly (quit key, end of media)
                return 0
            if self._stop.is_set():
                break
            self.restarts += 1
            self.reasons.append(reason)
            if max_restarts is not None and self.restarts > max_restarts:
                self._note(f"giving up after {max_restarts} restarts (last: {reason})")
                return 1
            up_for = time.monotonic() - started
            backoff = 0.0 if up_for >= self.settings.healthy_after_s else _next_backoff(backoff, self.settings)
            self._note(f"runtime {reason}; restart #{self.restarts} in {backoff:.1f} s")
            self._stop.wait(backoff)
        self._terminate_child()
        return 0

    def _start_child(self, reason: str | None) -> None:
        self._heartbeat.unlink(missing_ok=True)
        env = dict(os.environ, **{RESTARTS_ENV: str(self.restarts), RESTART_REASON_ENV: reason or ""})
        command = [sys.executable, str(MAIN), "run", *self.run_args, "--heartbeat", str(self._heartbeat)]
        self.child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      errors="backslashreplace")
        threading.Thread(target=self._copy_output, args=(self.child,), daemon=True).start()
        self._note(f"runtime started (pid {self.child.pid})")

    def _watch(self, started: float) -> str | None:
        """Wait for the child to end or hang; returns why it must be restarted, or None."""
        while not self._stop.is_set():
            code = self.child.poll()
            if code is not None:
                return None if code == 0 else f"exited with {_describe_exit(code)}"
            if self._hung(started):
                self._note(f"no heartbeat for {self.settings.hang_timeout_s:.0f} s: killing pid {self.child.pid}")
                self.child.kill()
                self.child.wait()
                return "hung (heartbeat stopped)"
            self._stop.wait(0.2)
        return "stopped"

    def _hung(self, started: float) -> bool:
        try:
            last = self._heartbeat.stat().st_mtime
        except FileNotFoundError:  # no frame shown yet: allow for loading models
            return time.monotonic() - started > self.settings.start_grace_s
        return time.time() - last > self.settings.hang_timeout_s

    def _terminate_child(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.send_signal(signal.SIGTERM)
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self._note("runtime stopped")

    def _copy_output(self, child: subprocess.Popen) -> None:
        for line in child.stdout:
            self._output.info("[%d] %s", child.pid, line.rstrip())

    def _note(self, message: str) -> None:
        log.info(message)
        self._output.info("[supervisor] %s", message)


def _next_backoff(previous: float, settings: SupervisorSettings) -> float:
    return settings.first_backoff_s if previous <= 0 else min(previous * 2.0, settings.max_backoff_s)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _rotating_logger(settings: SupervisorSettings) -> logging.Logger:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"installation.kiosk.{id(settings)}")
    logger.propagate = False
    handler = logging.handlers.RotatingFileHandler(settings.log_dir / "kiosk.log", maxBytes=settings.log_bytes,
                                                   backupCount=settings.log_files, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger
