"""The kiosk supervisor: runs the installation as a child process and brings it back within
about a second when it crashes or hangs. ``python main.py kiosk [run options]``.

- A warm standby: besides the runtime showing frames, the supervisor keeps a second one that
  has imported, configured and loaded its model and waits for its turn
  (``installation.lifeline``). When the runtime dies the standby is told to go; it only has
  the camera, the window and the OSC port left to open. A new standby starts once the promoted
  runtime shows frames, so the two don't compete for the CPU while the screen is empty.
- Hangs: the frame loop rewrites a heartbeat file every tick or so; a runtime whose heartbeat
  stops for ``hang_timeout_s`` after its first frame (or that shows no frame within
  ``start_grace_s`` of its go) is killed and replaced.
- Restarts: at once after a healthy run, then with a doubling backoff while it keeps failing;
  a runtime that keeps failing the same way before any frame (a bad configuration, a port in
  use) is given up: the reason goes to the health file and the kiosk exits with its code
  (``installation.restart_policy``).
- The children die with the supervisor: stdin is their lifeline, and on Linux the kernel sends
  them SIGTERM when it goes (``PR_SET_PDEATHSIG``).

The children's output and the supervisor's own lines go to a rotating log, so weeks of logs
never fill the disk.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from installation.lifeline import Turn
from installation.restart_policy import HeartbeatWatch, RestartPolicy, RestartSettings

log = logging.getLogger(__name__)

MAIN = Path(__file__).resolve().parents[1] / "main.py"
STOP_TIMEOUT_S = 10.0  # a runtime told to stop has this long to close its recording before it is killed


def default_log_dir() -> Path:
    """The user's own state folder, never the project's checkout: a kiosk runs for weeks."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "installation" / "logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "installation"
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "installation" / "logs"


@dataclass(frozen=True)
class SupervisorSettings:
    hang_timeout_s: float = 4.0  # no heartbeat this long after the first frame: hung
    start_grace_s: float = 60.0  # a runtime has this long from its go to show its first frame
    standby: bool = True  # keep a warm standby (costs a second runtime's memory, no CPU while it waits)
    restart: RestartSettings = field(default_factory=RestartSettings)
    health: Path | None = None  # the runtime's health file: when the kiosk gives up, it says why there
    log_dir: Path = field(default_factory=default_log_dir)
    log_bytes: int = 5_000_000
    log_files: int = 5
    poll_s: float = 0.05  # how often the children are looked at


class Child:
    """One runtime process: started waiting for its turn, then told to go, watched by its heartbeat."""

    def __init__(self, popen: subprocess.Popen, heartbeat: Path, watch: HeartbeatWatch, started_at: float,
                 output: logging.Logger) -> None:
        self.popen, self.heartbeat, self.watch = popen, heartbeat, watch
        self.started_at = started_at
        self.went_at: float | None = None
        self.announced = False  # "ready" or "showing frames" logged
        self.last_lines: deque[str] = deque(maxlen=20)
        self._copier = threading.Thread(target=self._copy_output, args=(output,), daemon=True)
        self._copier.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def go(self, turn: Turn, now: float) -> None:
        self.went_at = now
        try:
            self.popen.stdin.write(turn.to_line())
            self.popen.stdin.flush()
        except OSError:  # it died meanwhile: the next poll sees its exit
            pass

    def refresh(self, now: float) -> None:
        try:
            text = self.heartbeat.read_text(encoding="utf-8")
        except OSError:
            text = None
        self.watch.update(text, now)

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait()

    def stop(self) -> None:
        """SIGTERM (a clean stop, recording closed), then SIGKILL if it doesn't end in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def last_error(self) -> str | None:
        """Its last ``error: ...`` line (main.py's one-line reason for exit code 2), else its last line."""
        self._copier.join(timeout=1.0)  # the lines it wrote just before it ended
        lines = list(self.last_lines)
        errors = [line for line in lines if line.startswith("error:")]
        return errors[-1] if errors else (lines[-1] if lines else None)

    def _close(self) -> None:
        if self.popen.stdin is not None:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        self.heartbeat.unlink(missing_ok=True)

    def _copy_output(self, output: logging.Logger) -> None:
        for line in self.popen.stdout:
            line = line.rstrip()
            self.last_lines.append(line)
            output.info("[%d] %s", self.pid, line)


class Supervisor:
    """Starts ``main.py run <run_args>`` and keeps it showing frames. ``run`` returns the exit code.

    ``clock`` (seconds, monotonic), ``wait`` (sleep, woken by ``request_stop``) and ``launch``
    (start a child) are parameters so that tests drive the loop's time.
    """

    def __init__(self, run_args: list[str], settings: SupervisorSettings = SupervisorSettings(),
                 clock: Callable[[], float] = time.monotonic, wait: Callable[[float], object] | None = None,
                 launch: Callable[[], Child] | None = None) -> None:
        self.run_args, self.settings = run_args, settings
        self.clock = clock
        self._stop = threading.Event()
        self.wait = wait if wait is not None else self._stop.wait
        self.launch = launch if launch is not None else self._launch
        self.policy = RestartPolicy(settings.restart)
        self.restarts = 0
        self.reasons: list[str] = []  # why each runtime that was showing (or told to go) ended
        self.active: Child | None = None
        self.standby: Child | None = None
        self._next_go_at = 0.0  # backoff: the next runtime goes no sooner
        self._next_standby_at = 0.0  # backoff after a standby failed
        self._last_reason: str | None = None
        self._given_up: tuple[int, str] | None = None  # exit code, why
        self._spawned = 0
        self._folder: Path | None = None  # the children's heartbeat files, made by run
        self._output = _rotating_logger(settings)

    def request_stop(self, *_: object) -> None:
        """Stop supervising: the runtimes get SIGTERM (they stop cleanly) and are not restarted."""
        self._stop.set()

    def run(self) -> int:
        """Supervise until stopped, a runtime's clean exit, or giving up. Returns the kiosk's exit
        code: 0, or when it gave up the failing runtime's own code (1 for a signal)."""
        self._folder = Path(tempfile.mkdtemp(prefix="installation-kiosk-"))
        try:
            self._go(self.clock())  # the first runtime is started and told to go at once
            while not self._stop.is_set():
                code = self._tick(self.clock())
                if code is not None:
                    return code
                self.wait(self.settings.poll_s)
            return 0
        finally:
            self._shut_down()

    def _tick(self, now: float) -> int | None:
        """Look at both children once; returns the kiosk's exit code when it must end."""
        if self.standby is not None:
            self._check_standby(now)
        if self.active is not None:
            code = self._check_active(now)
            if code is not None:
                return code
        if self.active is None:
            if self._given_up is not None:
                return self._give_up(*self._given_up)
            if now >= self._next_go_at:
                self._go(now)
        elif self._wants_standby(now):
            self.standby = self.launch()
        return None

    def _check_active(self, now: float) -> int | None:
        child = self.active
        child.refresh(now)
        if child.watch.first_frame_at is not None and not child.announced:
            child.announced = True
            self._note(f"runtime pid {child.pid} showing frames {now - child.went_at:.2f} s after its go")
        code = child.poll()
        if code == 0:
            self._note(f"runtime pid {child.pid} ended by itself")
            return 0  # it ended cleanly (quit key, end of the media): so does the kiosk
        if code is not None:
            reason = f"exited with {describe_exit(code)}"
        elif child.watch.hung(now, child.went_at):
            reason = self._hang_reason(child)
            self._note(f"{reason}: killing pid {child.pid}")
            child.kill()
        else:
            return None
        self._lost(child, reason, now)
        return None

    def _hang_reason(self, child: Child) -> str:
        if child.watch.ending_at is not None:
            return f"hung while stopping (not gone {child.watch.stop_grace_s:g} s after its loop ended)"
        if child.watch.osc_deaf(self.clock()):
            return f"OSC receiver down for {self.settings.hang_timeout_s:g} s"
        if child.watch.first_frame_at is None:
            return f"no frame {self.settings.start_grace_s:g} s after its go"
        return f"hung (no heartbeat for {self.settings.hang_timeout_s:g} s)"

    def _lost(self, child: Child, reason: str, now: float) -> None:
        """The showing runtime ended badly: decide when the next one goes, or to give up."""
        self.active = None
        child.stop()
        decision = self.policy.failed(reason, child.watch.showed_frames_s(now))
        self.restarts += 1
        self.reasons.append(reason)
        self._last_reason = reason
        self._next_go_at = now + decision.delay_s
        if decision.give_up:
            exit_code, said = child.poll(), child.last_error()
            why = f"{reason} {decision.same_failures} times in a row without showing a frame"
            self._given_up = (exit_code if exit_code is not None and exit_code > 0 else 1,
                              f"{why}; it said: {said}" if said else why)
            return
        wait = f"in {decision.delay_s:g} s" if decision.delay_s > 0 else "at once"
        self._note(f"runtime pid {child.pid} {reason}; restart #{self.restarts} {wait}")

    def _check_standby(self, now: float) -> None:
        child = self.standby
        child.refresh(now)
        if child.watch.ready and not child.announced:
            child.announced = True
            self._note(f"standby pid {child.pid} ready {now - child.started_at:.2f} s after its start")
        code = child.poll()
        if code is None:
            return
        self.standby = None
        reason = f"exited with {describe_exit(code)}"
        child.stop()
        decision = self.policy.failed(reason, None)  # counts towards giving up, once nothing is showing
        self._next_standby_at = now + decision.delay_s
        self._note(f"standby pid {child.pid} {reason} before its turn: {child.last_error() or 'no output'}")

    def _wants_standby(self, now: float) -> bool:
        """A standby starts once the runtime shows frames: until then it would slow that one down."""
        return (self.settings.standby and self.standby is None and not self._stop.is_set()
                and self.active.watch.first_frame_at is not None and now >= self._next_standby_at)

    def _go(self, now: float) -> None:
        if self.standby is not None:
            child, self.standby, how = self.standby, None, "warm standby"
        else:
            child, how = self.launch(), "fresh start"
        child.announced = False
        child.go(Turn(self.restarts, self._last_reason), now)
        self.active = child
        self._note(f"runtime pid {child.pid} told to go ({how})")

    def _give_up(self, code: int, why: str) -> int:
        self._note(f"giving up: {why}")
        if self.settings.health is not None:
            _write_json(self.settings.health, {
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "state": "given up",
                "reason": why,
                "exit_code": code,
                "supervisor_pid": os.getpid(),
                "restarts": self.restarts,
                "last_restart_reason": self._last_reason,
            })
        return code

    def _launch(self) -> Child:
        self._spawned += 1
        heartbeat = self._folder / f"heartbeat-{self._spawned}"
        command = [sys.executable, str(MAIN), "run", *self.run_args, "--heartbeat", str(heartbeat),
                   "--standby", str(os.getpid())]
        # Started from the supervisor's own thread, never a helper thread: Linux's PR_SET_PDEATHSIG
        # fires when the thread that started the child ends, not only the process.
        popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="backslashreplace")
        watch = HeartbeatWatch(self.settings.hang_timeout_s, self.settings.start_grace_s, STOP_TIMEOUT_S)
        self._note(f"runtime pid {popen.pid} started, waiting for its turn")
        return Child(popen, heartbeat, watch, self.clock(), self._output)

    def _shut_down(self) -> None:
        for child in (self.active, self.standby):
            if child is not None:
                child.stop()
        if self.active is not None:
            self._note("runtime stopped")
        self.active = self.standby = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        for handler in self._output.handlers[:]:
            handler.close()
            self._output.removeHandler(handler)

    def _note(self, message: str) -> None:
        log.info(message)
        self._output.info("[supervisor] %s", message)


def describe_exit(code: int) -> str:
    """"code 2", or "signal SIGKILL" for a negative return code."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _write_json(path: Path, record: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:  # write then rename: a reader never sees half a file
        temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        log.error("cannot write health file %s: %s", path, error)


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
