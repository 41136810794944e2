"""The staff page's view of a kiosk: what the supervisor knows of its child runtime.

The supervisor outlives its children, so the page served from it stays up through restarts and
says "restarting" meanwhile. Its figures come from the child's health file (rewritten every two
seconds when ``--health`` is given) and the supervisor's own state; its controls reach the child
the way any OSC tool's do, as OSC messages to ``osc.listen`` (the same validated inbox), and a
restart is the supervisor's: the child is killed and the warm standby takes over.

The child draws the picture, so there is no thumbnail here (a limitation noted in docs/kiosk.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pythonosc.udp_client import SimpleUDPClient

from installation.config import PROJECT_ROOT, Config
from installation.control import ControlCommand
from installation.staff.status import EMPTY_SNAPSHOT, History, LogTail

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0
SCENES = PROJECT_ROOT / "scenes"
HEALTH_FRESH_S = 10.0  # an older health file is a runtime that is not writing it any more
OSC_FOR = {  # ControlCommand name and first argument -> the OSC address that makes the child send it
    ("scene", "next"): "/scene/next",
    ("scene", "previous"): "/scene/previous",
    ("scene", "set"): "/scene/set",
    ("style_set", None): "/style/set",
    ("blackout", None): "/blackout",
    ("freeze", None): "/freeze",
}
CONTROLS = ("scene_next", "scene_previous", "scene_set", "style_set", "blackout", "freeze", "restart")


class SupervisedSource:
    """``StatusSource`` for an ``installation.supervisor.Supervisor`` (read from the server's thread)."""

    def __init__(self, supervisor, config: Config, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.supervisor, self.config, self.clock, self.wall = supervisor, config, clock, wall
        self._history = History()
        self._log = LogTail()
        logging.getLogger("installation.supervisor").addHandler(self._log)
        self._snapshot = dict(EMPTY_SNAPSHOT, controls=list(CONTROLS))
        self._next_read = 0.0
        self._health_stamp: float | None = None
        host, _, port = config.osc.listen.rpartition(":")
        self._osc = SimpleUDPClient(host or "127.0.0.1", int(port)) if config.osc.listen else None
        self._scenes = _scene_names(config)

    def snapshot(self) -> dict:
        now = self.clock()
        if now >= self._next_read:
            self._next_read = now + READ_EVERY_S
            self._snapshot = self._build()
        return self._snapshot

    def history(self) -> list[list[float]]:
        return self._history.samples()

    def thumbnail(self) -> tuple[int, np.ndarray | None]:
        return 0, None

    def send(self, command: ControlCommand) -> str | None:
        if self._osc is None:
            return "OSC control is off (osc.listen = \"\"): the kiosk cannot reach its runtime"
        first = command.args[0] if command.args else None
        address = OSC_FOR.get((command.name, first)) or OSC_FOR.get((command.name, None))
        if address is None:
            return f"{command.name} is not available under the kiosk"
        args = list(command.args[1:]) if (command.name, first) in OSC_FOR else list(command.args)
        self._osc.send_message(address, args)
        return None

    def restart(self, who: str) -> str | None:
        child = self.supervisor.active
        if child is None:
            return "no runtime is running: the supervisor is already starting one"
        log.warning("restart of runtime pid %d asked for by %s", child.pid, who)
        child.popen.kill()  # the supervisor sees the exit at its next look and lets the standby go
        return None

    def close(self) -> None:
        logging.getLogger("installation.supervisor").removeHandler(self._log)

    def _build(self) -> dict:
        supervisor, health = self.supervisor, self._read_health()
        child = supervisor.active
        if getattr(supervisor, "_given_up", None) is not None:
            state = "given up"
        elif child is None:
            state = "restarting"
        elif child.watch.first_frame_at is None:
            state = "starting"
        else:
            state = health.get("state", "running") if health else "running"
        lines = list(child.last_lines) if child is not None else []
        snapshot = dict(self._snapshot, state=state, restarts=supervisor.restarts,
                        last_restart_reason=supervisor.reasons[-1] if supervisor.reasons else None,
                        scenes=self._scenes, log=(self._log.lines() + lines)[-40:])
        if health and state not in ("restarting", "given up"):
            latency = float(health.get("latency_ms", 0.0))
            snapshot.update(uptime_s=health.get("uptime_s", 0.0), fps=health.get("fps", 0.0),
                            latency_ms={"p50": latency, "p95": latency}, frames=health.get("frames", 0),
                            scene=health.get("scene", ""), presence=health.get("presence", 0.0),
                            errors=health.get("errors", {}), source=f"kiosk, runtime pid {health.get('pid')}",
                            model=self.config.generator.model)
        else:
            snapshot.update(fps=0.0, presence=0.0, visitors=0)
        return snapshot

    def _read_health(self) -> dict | None:
        """The child's health record when it is fresh; a new one adds a chart sample."""
        path: Path | None = self.supervisor.settings.health
        if path is None:
            return None
        try:
            stamp = path.stat().st_mtime
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # not written yet, or mid-rename on a system without atomic replace
            return None
        if self.wall() - stamp > HEALTH_FRESH_S or "fps" not in record:
            return None
        if stamp != self._health_stamp:
            self._health_stamp = stamp
            self._history.add([round(stamp, 1), record["fps"], record.get("latency_ms", 0.0), 0.0])
        return record


def _scene_names(config: Config) -> list[str]:
    """The scene files' names, as ``scenes.SceneLibrary`` finds them, without importing the scenes
    (that would load torch into the supervisor, which stays small on purpose)."""
    folders = [SCENES, *(Path(folder).expanduser() for folder in config.scene.folders)]
    folders = [folder if folder.is_absolute() else PROJECT_ROOT / folder for folder in folders]
    return sorted({path.stem for folder in folders if folder.is_dir() for path in folder.glob("*.py")
                   if not path.stem.startswith("_") and path.stem != "base"})
