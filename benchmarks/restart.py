"""Restart-to-frame and hang-to-frame: how long the kiosk's screen stays without a new frame
after its runtime is SIGKILLed or frozen (SIGSTOP), and what a runtime's start-up spends.

    .venv/bin/python benchmarks/restart.py [--rounds 3] [--hang-timeout 4]

Runs ``main.py kiosk`` on the bundled demo clip (headless, realtime, looped) with a health file,
then in each round:

- **restart_to_frame_s**: SIGKILL the runtime showing frames, once the warm standby is ready
  and the runtime has run for 30 s (a crash in a healthy show: restarted at once, where a crash
  loop is backed off); seconds until the health file names a new pid with a rendered frame (it is written at a
  runtime's first frame). Target <= 3 s.
- **hang_to_frame_s**: SIGSTOP it instead: the same, now including the hang timeout. Target:
  the hang detected <= 5 s after the last beat (``hang_timeout_s`` + a poll).
- **fresh_restart_to_frame_s** (``--no-standby``): SIGKILL with no standby, a runtime started
  from nothing: what the standby saves.

And a start-up breakdown of one runtime, started as the kiosk starts them: ``import_s``
(``installation.app`` and what it imports), ``ready_s`` (launch -> its warm standby is ready:
imports, configuration, the model loaded and warmed, MediaPipe imported) and ``go_to_frame_s``
(its go -> its first rendered frame: the camera or clip, the window, perception's models,
the OSC port). Writes results/restart.json and results/restart.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, write_results  # first: puts the project on sys.path

from tests.helpers import kiosk as launcher  # noqa: E402

MAIN = ROOT / "main.py"
RUN_ARGS = ["--source", "demo", "--loop", "--headless", "--realtime", "--osc-in", "127.0.0.1:0"]
GUARD_S = 180.0  # a failure guard only
POLL_S = 0.01
HEALTHY_S = 31.0  # the supervisor's healthy_after_s, and a second: each outage is the first after a healthy run
ENV = dict(os.environ, SDL_VIDEODRIVER="dummy", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))


def wait_for(predicate, what: str):
    """Poll ``predicate`` every POLL_S until it returns something true; returns it. Raises after GUARD_S."""
    return launcher.wait_for(predicate, what, GUARD_S, POLL_S)


class Kiosk:
    """A ``main.py kiosk`` run in a scratch folder, read through its health file and log."""

    def __init__(self, folder: Path, hang_timeout_s: float, standby: bool) -> None:
        self.health, self.log = folder / "health.json", folder / "logs" / "kiosk.log"
        self.process = launcher.start_kiosk(self.health, folder / "logs", hang_timeout_s, RUN_ARGS, standby, ENV)
        self.used: set[int] = set()  # runtimes that have shown frames: no longer standbys

    def showing(self, not_pid: int | None = None) -> dict | None:
        record = launcher.read_json(self.health)
        if record and record.get("frames", 0) >= 1 and record.get("pid") != not_pid:
            return record
        return None

    def ready_standby(self) -> int | None:
        """A standby that is ready now (loaded, waiting for its turn), else None."""
        return launcher.standby_ready(self.log, self.used)()

    def hang_detected_at(self, pid: int) -> float | None:
        """The wall time the supervisor logged killing hung runtime ``pid``, else None."""
        text = self.log.read_text() if self.log.exists() else ""
        found = re.search(rf"^(\S+ \S+) \[supervisor\] hung .*: killing pid {pid}$", text, re.MULTILINE)
        if found is None:
            return None
        stamp = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
        return stamp.timestamp()

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def outage(kiosk: Kiosk, how: signal.Signals, standby: bool) -> tuple[float, float | None]:
    """Kill or freeze the runtime showing frames. Returns the seconds until another one shows a
    frame, and for a freeze the seconds until the supervisor killed it as hung."""
    pid = wait_for(kiosk.showing, "a runtime showing frames")["pid"]
    kiosk.used.add(pid)
    if standby:  # measure the standby's promotion, not a race with its own start-up
        wait_for(kiosk.ready_standby, "a warm standby")
    # A crash in a healthy show, restarted at once: sooner, it would be a crash loop's, backed off.
    wait_for(lambda: (record := launcher.read_json(kiosk.health)) and record.get("uptime_s", 0) >= HEALTHY_S,
             "a healthy run")
    started, started_wall = time.monotonic(), time.time()
    os.kill(pid, how)
    wait_for(lambda: kiosk.showing(not_pid=pid), "a new runtime's first frame")
    to_frame = time.monotonic() - started
    detected = kiosk.hang_detected_at(pid) if how == signal.SIGSTOP else None
    return round(to_frame, 3), None if detected is None else round(detected - started_wall, 3)


def kiosk_rounds(rounds: int, hang_timeout_s: float, how: signal.Signals, standby: bool) -> list[tuple]:
    with tempfile.TemporaryDirectory(prefix="restart-bench-") as folder:
        kiosk = Kiosk(Path(folder), hang_timeout_s, standby)
        try:
            return [outage(kiosk, how, standby) for _ in range(rounds)]
        finally:
            kiosk.close()


def import_s() -> float:
    """Seconds a fresh interpreter spends importing installation.app (torch, cv2, pygame, ...)."""
    code = "import time; t = time.perf_counter(); import installation.app; print(time.perf_counter() - t)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            check=True)
    return float(result.stdout.strip().splitlines()[-1])


def start_up() -> dict:
    """One runtime started as the kiosk starts it: launch -> ready, then go -> first frame."""
    with tempfile.TemporaryDirectory(prefix="restart-bench-") as folder:
        heartbeat = Path(folder) / "heartbeat"
        launched = time.monotonic()
        child = subprocess.Popen([sys.executable, str(MAIN), "run", *RUN_ARGS, "--heartbeat", str(heartbeat),
                                  "--standby", str(os.getpid())], env=ENV, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            text = lambda: heartbeat.read_text() if heartbeat.exists() else ""  # noqa: E731
            wait_for(lambda: text().startswith("ready") or child.poll() is not None, "ready")
            ready = time.monotonic() - launched
            time.sleep(1.0)
            went = time.monotonic()
            child.stdin.write(b'{"restarts": 0, "reason": null}\n')
            child.stdin.flush()
            wait_for(lambda: (parts := text().split()) and parts[-1].isdigit() and int(parts[-1]) > 0
                     or child.poll() is not None, "a first frame")
            return {"ready_s": round(ready, 3), "go_to_frame_s": round(time.monotonic() - went, 3)}
        finally:
            child.terminate()
            child.wait(timeout=30)


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3), "runs": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hang-timeout", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "restart.json")
    args = parser.parse_args()
    load = [round(value, 2) for value in os.getloadavg()]
    startups = [start_up() for _ in range(args.rounds)]
    hangs = kiosk_rounds(args.rounds, args.hang_timeout, signal.SIGSTOP, True)
    results = {
        "restart_to_frame_s": summary([s for s, _ in kiosk_rounds(args.rounds, args.hang_timeout, signal.SIGKILL,
                                                                   True)]),
        "hang_detected_s": summary([d for _, d in hangs]),
        "hang_to_frame_s": summary([s for s, _ in hangs]),
        "fresh_restart_to_frame_s": summary([s for s, _ in kiosk_rounds(args.rounds, args.hang_timeout,
                                                                         signal.SIGKILL, False)]),
        "start_up": {
            "import_s": summary([round(import_s(), 3) for _ in range(args.rounds)]),
            "ready_s": summary([s["ready_s"] for s in startups]),
            "go_to_frame_s": summary([s["go_to_frame_s"] for s in startups]),
        },
        "hang_timeout_s": args.hang_timeout,
        "targets": {"restart_to_frame_s": 3.0, "hang_detected_s": 5.0},
        "machine": {"cores": os.cpu_count(), "load_average_at_start": load,
                    "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
                    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")},
    }
    write_results(args.out, results, markdown(results))


def markdown(results: dict) -> str:
    rows = [("restart after SIGKILL, warm standby", results["restart_to_frame_s"]),
            (f"hang (SIGSTOP) -> killed as hung (timeout {results['hang_timeout_s']:g} s)",
             results["hang_detected_s"]),
            ("restart after a hang (SIGSTOP)", results["hang_to_frame_s"]),
            ("restart after SIGKILL, no standby (--no-standby)", results["fresh_restart_to_frame_s"]),
            ("start-up: import installation.app", results["start_up"]["import_s"]),
            ("start-up: launch -> standby ready", results["start_up"]["ready_s"]),
            ("start-up: go -> first frame", results["start_up"]["go_to_frame_s"])]
    machine = results["machine"]
    lines = ["# Kiosk restarts (benchmarks/restart.py)", "",
             f"{machine['date']}, {machine['cores']} cores, load average {machine['load_average_at_start']} at start,"
             f" {machine['load_average_at_end']} at end.", "",
             "| seconds to a new rendered frame | median | max | runs |", "|---|---|---|---|"]
    lines += [f"| {name} | {row['median']} | {row['max']} | {', '.join(map(str, row['runs']))} |"
              for name, row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
