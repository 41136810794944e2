"""The kiosk supervisor on a real clip: a SIGKILLed runtime is running again within 5 seconds, a
hung one (its heartbeat stops) is restarted, the health file says why, logs rotate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from installation.supervisor import Supervisor, SupervisorSettings, _describe_exit, _next_backoff

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate, timeout_s: float = 90.0, step_s: float = 0.1):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError("condition not met in time")


def health_of(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def started_lines(log: Path) -> list[tuple[float, int]]:
    """(time, pid) of every 'runtime started' line of the kiosk log."""
    found = []
    for line in log.read_text().splitlines():
        if "runtime started (pid" in line:
            stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
            found.append((stamp, int(line.split("pid ")[1].rstrip(")"))))
    return found


def test_the_supervisor_restarts_a_killed_and_a_hung_runtime(tmp_path, media):
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text().replace('listen = "127.0.0.1:9000"', 'listen = ""'))
    health, logs = tmp_path / "health.json", tmp_path / "logs"
    kiosk = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "kiosk", "--config", str(config), "--source",
         str(media / "video" / "intel_asl" / "yes.mkv"), "--loop", "--headless", "--realtime", "--size", "64x36",
         "--health", str(health), "--hang-timeout", "3", "--log-dir", str(logs)],
        env=dict(os.environ, SDL_VIDEODRIVER="dummy"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        first = wait_for(lambda: health_of(health))
        os.kill(first["pid"], signal.SIGKILL)
        killed_at = time.time()
        second = wait_for(lambda: (h := health_of(health)) and h["pid"] != first["pid"] and h)
        assert second["restarts"] == 1 and second["last_restart_reason"] == "exited with signal SIGKILL"
        restarts = started_lines(logs / "kiosk.log")
        assert restarts[1][1] == second["pid"]
        assert restarts[1][0] - killed_at < 5.0  # running again within 5 s of the kill

        os.kill(second["pid"], signal.SIGSTOP)  # frozen: no more frames, no more heartbeat
        third = wait_for(lambda: (h := health_of(health)) and h["pid"] not in (first["pid"], second["pid"]) and h)
        assert third["restarts"] == 2 and third["last_restart_reason"] == "hung (heartbeat stopped)"
        assert third["frames"] >= 1 and "errors" in third
    finally:
        kiosk.send_signal(signal.SIGTERM)
        assert kiosk.wait(timeout=30) == 0
    log_text = (logs / "kiosk.log").read_text()
    assert "no heartbeat for 3 s" in log_text and "runtime stopped" in log_text


def test_a_runtime_that_quits_cleanly_is_not_restarted(tmp_path, media):
    settings = SupervisorSettings(log_dir=tmp_path / "logs")
    supervisor = Supervisor(["--config", str(ROOT / "config.toml"), "--source", str(media / "video" / "intel_asl" / "yes.mkv"),
                             "--headless", "--frames", "3", "--osc-in", "127.0.0.1:0"], settings)
    assert supervisor.run() == 0
    assert supervisor.restarts == 0


def test_a_runtime_that_keeps_failing_is_given_up_with_growing_backoff(tmp_path):
    settings = SupervisorSettings(log_dir=tmp_path / "logs", first_backoff_s=0.05)
    supervisor = Supervisor(["--source", str(tmp_path / "missing.mp4"), "--headless"], settings)
    assert supervisor.run(max_restarts=2) == 1
    assert supervisor.reasons == ["exited with code 2"] * 3
    log_text = (tmp_path / "logs" / "kiosk.log").read_text()
    assert "video file not found" in log_text  # the child's own one-line error, kept in the log
    assert "giving up after 2 restarts" in log_text


def test_backoff_and_exit_descriptions():
    settings = SupervisorSettings(first_backoff_s=0.5, max_backoff_s=4.0)
    steps, value = [], 0.0
    for _ in range(6):
        value = _next_backoff(value, settings)
        steps.append(value)
    assert steps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert _describe_exit(-9) == "signal SIGKILL" and _describe_exit(3) == "code 3"
