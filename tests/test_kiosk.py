"""The kiosk supervisor. End to end on the bundled demo clip, headless: after a SIGKILL and after a
hang a runtime shows frames again (the first rendered frame, as the health file says, not just a
process started), its children die with it, and a runtime that keeps failing the same way is given
up with the reason in the health file. The restart decisions themselves run on an injected clock.
Times are measured in benchmarks/restart.py, never asserted here."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from installation.health import Heartbeat
from installation.lifeline import Lifeline, Turn
from installation.restart_policy import HeartbeatWatch, RestartPolicy, RestartSettings, backoff_s
from installation.supervisor import Supervisor, SupervisorSettings, describe_exit
from tests.helpers.kiosk import logged_pids, read_json, standby_ready, start_kiosk, wait_for

ROOT = Path(__file__).resolve().parents[1]
GUARD_S = 120.0  # a hang guard only: a busy machine may take long, a broken kiosk takes forever
RUN_ARGS = ["--source", "demo", "--loop", "--headless", "--realtime", "--size", "64x36", "--no-paint",
            "--osc-in", "127.0.0.1:0"]


def showing(health: Path, pid: int):
    """The health record once runtime ``pid`` has rendered a frame (written at its first frame)."""
    return lambda: (h := read_json(health)) and h.get("pid") == pid and h["frames"] >= 1 and h


def alive(pid: int) -> bool:
    """Running or stopped, not gone and not a zombie (an orphan's reaper may be slow)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP and /proc: Linux")
def test_a_killed_and_a_hung_runtime_show_frames_again_and_die_with_the_kiosk(tmp_path):
    health, logs = tmp_path / "health.json", tmp_path / "logs"
    log = logs / "kiosk.log"
    kiosk = start_kiosk(health, logs, 2, RUN_ARGS)
    try:
        first = wait_for(lambda: (h := read_json(health)) and h["frames"] >= 1 and h, "a first frame")
        standby = wait_for(standby_ready(log, set()), "a warm standby")

        os.kill(first["pid"], signal.SIGKILL)
        second = wait_for(showing(health, standby), "the standby's first frame after the SIGKILL")
        assert second["restarts"] == 1 and second["last_restart_reason"] == "exited with signal SIGKILL"
        assert f"runtime pid {standby} told to go (warm standby)" in log.read_text()

        next_standby = wait_for(standby_ready(log, {standby}), "a new standby")
        os.kill(standby, signal.SIGSTOP)  # frozen: no more frames, no more heartbeat
        third = wait_for(showing(health, next_standby), "a first frame after the hang")
        assert third["restarts"] == 2 and third["last_restart_reason"] == "hung (no heartbeat for 2 s)"
        assert not alive(standby)  # the frozen one was killed, not left behind

        children = set(logged_pids(log, r"runtime pid (\d+) started"))
        os.kill(kiosk.pid, signal.SIGKILL)  # the supervisor dies without a word: its runtimes follow it
        kiosk.wait()
        wait_for(lambda: not any(alive(pid) for pid in children), "the orphans ending")
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait()
        for pid in logged_pids(log, r"runtime pid (\d+) started"):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text()
    assert "hung (no heartbeat for 2 s): killing pid" in text and "showing frames" in text


def test_a_runtime_that_keeps_failing_the_same_way_is_given_up_and_the_health_file_says_why(tmp_path):
    health = tmp_path / "health.json"
    settings = SupervisorSettings(log_dir=tmp_path / "logs", health=health,
                                  restart=RestartSettings(first_backoff_s=0.05, give_up_after=3))
    supervisor = Supervisor(["--source", str(tmp_path / "missing.mp4"), "--headless", "--no-paint"], settings)
    assert supervisor.run() == 2  # the runtime's own exit code: a configuration error
    assert supervisor.reasons == ["exited with code 2"] * 3
    record = read_json(health)
    assert record["state"] == "given up" and record["exit_code"] == 2
    assert record["reason"].startswith("exited with code 2 3 times in a row without showing a frame")
    assert "video file not found" in record["reason"]  # the runtime's own one-line error
    assert "giving up" in (tmp_path / "logs" / "kiosk.log").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_STATE_HOME: the Linux default")
def test_a_runtime_that_quits_cleanly_ends_the_kiosk_whose_logs_stay_out_of_the_checkout(tmp_path):
    state, work = tmp_path / "state", tmp_path / "work"
    work.mkdir()
    kiosk = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "kiosk", "--source", "demo", "--headless", "--frames", "3",
         "--no-paint", "--osc-in", "127.0.0.1:0"],
        cwd=work, env=dict(os.environ, SDL_VIDEODRIVER="dummy", XDG_STATE_HOME=str(state)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=GUARD_S,
    )
    assert kiosk.returncode == 0
    log = (state / "installation" / "logs" / "kiosk.log").read_text()  # the user's state folder, by default
    assert "ended by itself" in log and "restart #" not in log  # its loop's closing was not taken for a hang
    assert list(work.iterdir()) == []  # no logs/ where it was started


# --- the decisions, on injected time -------------------------------------------------------------

def test_backoff_starts_at_once_doubles_and_resets_after_a_healthy_run():
    settings = RestartSettings(first_backoff_s=0.5, max_backoff_s=4.0, healthy_after_s=30.0)
    assert [backoff_s(n, settings) for n in range(1, 8)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    policy = RestartPolicy(settings)
    delays = [policy.failed("exited with signal SIGSEGV", showed_frames_s=5.0).delay_s for _ in range(4)]
    assert delays == [0.0, 0.5, 1.0, 2.0]  # each showed frames, but not for long: crashing in a loop
    assert policy.failed("exited with signal SIGSEGV", showed_frames_s=31.0).delay_s == 0.0  # after a healthy run
    assert policy.failed("exited with signal SIGSEGV", showed_frames_s=1.0).delay_s == 0.5


def test_giving_up_takes_the_same_failure_before_any_frame_each_time():
    policy = RestartPolicy(RestartSettings(give_up_after=3))
    assert not policy.failed("exited with code 2", None).give_up
    assert not policy.failed("exited with code 2", None).give_up
    assert not policy.failed("exited with code 1", None).give_up  # another way of failing: counting again
    assert not policy.failed("exited with code 1", None).give_up
    assert not policy.failed("exited with code 1", showed_frames_s=0.5).give_up  # it showed something
    decisions = [policy.failed("exited with code 1", None) for _ in range(3)]
    assert [d.give_up for d in decisions] == [False, False, True] and decisions[-1].same_failures == 3


def test_the_heartbeat_watch_allows_loading_then_wants_beats():
    watch = HeartbeatWatch(hang_timeout_s=4.0, start_grace_s=60.0)
    watch.update("ready\n", now=1.0)
    assert watch.ready and not watch.hung(now=50.0, went_at=0.0)  # loading: the grace holds
    assert watch.hung(now=61.0, went_at=0.0)
    watch.update("1 0\n", now=2.0)
    watch.update("2 1\n", now=2.5)
    assert watch.first_frame_at == 2.5 and watch.showed_frames_s(now=12.5) == 10.0
    watch.update("3 5\n", now=3.0)
    watch.update("3 5\n", now=6.0)  # the same content again is no beat
    watch.update("3 ", now=6.5)  # caught half written: ignored
    assert not watch.hung(now=7.0, went_at=0.0) and watch.hung(now=7.1, went_at=0.0)
    watch.update("ending 5\n", now=7.0)  # the loop ended: closing its outputs is no hang ...
    assert not watch.hung(now=16.0, went_at=0.0)
    assert watch.hung(now=17.1, went_at=0.0)  # ... for stop_grace_s (10 s)


def test_a_runtime_whose_osc_receiver_stays_down_is_restarted():
    watch = HeartbeatWatch(hang_timeout_s=4.0, start_grace_s=60.0)
    watch.update("1 1\n", now=1.0)
    watch.update("2 9 osc-down\n", now=2.0)  # beating, but deaf to control
    watch.update("3 20 osc-down\n", now=5.0)
    assert watch.frames == 20 and not watch.hung(now=6.0, went_at=0.0)
    watch.update("4 30\n", now=6.0)  # its own watchdog brought the receiver back: all is forgiven
    watch.update("5 40 osc-down\n", now=7.0)
    watch.update("6 50 osc-down\n", now=10.0)
    assert not watch.osc_deaf(now=11.0) and watch.osc_deaf(now=11.1) and watch.hung(now=11.1, went_at=0.0)


def test_the_heartbeat_says_when_osc_control_is_down(tmp_path):
    alive = [True]
    heartbeat = Heartbeat(tmp_path / "beat", interval_s=0.0, osc_alive=lambda: alive[0])
    heartbeat.beat(3)
    assert (tmp_path / "beat").read_text().split() == ["1", "3"]
    alive[0] = False
    heartbeat.beat(4)
    assert (tmp_path / "beat").read_text().split() == ["2", "4", "osc-down"]


class FakeChild:
    """A runtime for the supervisor's loop: its heartbeat and exit set by the test's script."""

    pids = iter(range(100, 200))

    def __init__(self, clock, events: list) -> None:
        self.pid, self.events, self.clock = next(self.pids), events, clock
        self.watch = HeartbeatWatch(hang_timeout_s=4.0, start_grace_s=60.0)
        self.started_at, self.went_at, self.announced = clock(), None, False
        self.text, self.code, self.turn = "ready", None, None
        events.append((clock(), "launch", self.pid))

    def go(self, turn: Turn, now: float) -> None:
        self.went_at, self.turn = now, turn
        self.events.append((now, "go", self.pid))

    def refresh(self, now: float) -> None:
        self.watch.update(self.text, now)

    def poll(self):
        return self.code

    def kill(self) -> None:
        self.code = -9
        self.events.append((self.clock(), "kill", self.pid))

    def stop(self) -> None:
        pass

    def last_error(self):
        return None


def test_the_supervisor_promotes_its_standby_and_kills_a_silent_runtime_on_its_own_clock(tmp_path):
    now, events, children = [0.0], [], []

    def launch():
        children.append(FakeChild(lambda: now[0], events))
        return children[-1]

    def wait(seconds: float) -> None:  # the script: what the runtimes do as time goes by
        now[0] = round(now[0] + seconds, 6)
        first, later = children[0], children[1:]
        if now[0] == 1.0:
            first.text = "1 1"  # the first runtime shows a frame: a standby may start now
        if now[0] == 2.0:
            first.code = -9  # SIGKILLed
        if now[0] == 2.5:
            later[0].text = "5 40"  # the promoted standby shows frames, then beats no more
        if now[0] == 20.0:
            supervisor.request_stop()

    supervisor = Supervisor([], SupervisorSettings(log_dir=tmp_path / "logs", poll_s=0.5), clock=lambda: now[0],
                            wait=wait, launch=launch)
    assert supervisor.run() == 0
    first, second, third = children[0].pid, children[1].pid, children[2].pid
    assert events[:4] == [(0.0, "launch", first), (0.0, "go", first), (1.0, "launch", second),
                          (2.0, "go", second)]  # promoted at once after the first failure
    assert (2.5, "launch", third) in events  # the next standby, once the promoted one shows frames
    assert (7.0, "kill", second) in events  # 4 s after its last beat
    assert (7.5, "go", third) in events  # the second failure in a row waits 0.5 s
    assert children[2].turn == Turn(2, "hung (no heartbeat for 4 s)")
    assert supervisor.reasons == ["exited with signal SIGKILL", "hung (no heartbeat for 4 s)"]


def test_the_lifeline_waits_for_the_go_then_watches_for_the_supervisor_going(monkeypatch):
    monkeypatch.setenv("INSTALLATION_RESTARTS", "0")
    orphaned = threading.Event()
    stream = io.BytesIO(Turn(3, "exited with signal SIGKILL").to_line().encode())  # then end of file
    turn = Lifeline(os.getppid(), stream, on_orphaned=orphaned.set).wait_for_turn()
    assert turn == Turn(3, "exited with signal SIGKILL")
    assert os.environ["INSTALLATION_RESTARTS"] == "3"
    assert orphaned.wait(GUARD_S)  # stdin ended: the supervisor is gone
    with pytest.raises(SystemExit):  # gone before our turn came
        Lifeline(os.getppid(), io.BytesIO(b""), on_orphaned=orphaned.set).wait_for_turn()


def test_kiosk_options_stay_with_the_kiosk_and_exits_are_described():
    from main import _without_kiosk_options

    argv = ["--source", "demo", "--hang-timeout", "3", "--no-standby", "--log-dir=/tmp/x", "--give-up-after", "2",
            "--health", "h.json"]
    assert _without_kiosk_options(argv) == ["--source", "demo", "--health", "h.json"]
    assert describe_exit(-9) == "signal SIGKILL" and describe_exit(3) == "code 3"
