"""Interoperability with an OSC implementation that is not python-osc: liblo's command-line
tools `oscsend` (control in) and `oscdump` (the per-frame output), from Debian's liblo-tools.

`.ci/run` installs liblo-tools and sets INSTALLATION_REQUIRE_LIBLO=1, so CI fails rather than
skips if they are missing."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading

import pytest
from helpers.udp import free_udp_port
from helpers.waiting import wait_for

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import load_config
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.osc import OscBridge
from installation.runtime import Runtime

if not (shutil.which("oscsend") and shutil.which("oscdump")):
    if os.environ.get("INSTALLATION_REQUIRE_LIBLO"):
        raise RuntimeError("liblo-tools (oscsend, oscdump) are required: apt-get install liblo-tools")
    pytest.skip("liblo-tools not installed (apt-get install liblo-tools)", allow_module_level=True)


@pytest.fixture
def runtime_with_osc(media):
    dump = Dump()
    dump.wait_until_listening()
    config = load_config()
    stages = build_stages(config, VideoFileSource(media / "video" / "intel_asl" / "sorry.mkv"),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    bridge = OscBridge(config.osc, runtime.inbox, listen="127.0.0.1:0", targets=(f"127.0.0.1:{dump.port}",))
    stages.listeners.append(bridge)
    runtime.stages.generator.warm_up()
    yield runtime, bridge, dump
    runtime.close()
    dump.close()


class Dump:
    """oscdump on a free port, its printed lines collected by a thread as they come."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self.process = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True).start()

    def send(self, path: str) -> None:
        subprocess.run(["oscsend", "localhost", str(self.port), path, ""], check=True)

    def lines_until(self, marker: str, guard_s: float = 30.0) -> list[str]:
        """The lines up to and including the first one naming ``marker``. The guard only bounds a
        broken run; nothing here depends on how long oscdump takes."""
        lines = [self.lines.get(timeout=guard_s)]
        while marker not in lines[-1]:
            lines.append(self.lines.get(timeout=guard_s))
        return lines

    def wait_until_listening(self) -> None:
        """Knock until oscdump prints a knock: then it has bound its port, and nothing sent after
        is lost. Knocks still in flight are dropped from what a test reads."""
        for _ in range(300):
            self.send("/knock")
            try:
                self.lines_until("/knock", guard_s=0.1)
                return
            except queue.Empty:
                continue
        raise AssertionError("oscdump never printed a knock")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def oscsend(bridge: OscBridge, path: str, types: str, *values: str) -> None:
    before = bridge.receiver.counters["accepted"]
    subprocess.run(["oscsend", "localhost", str(bridge.receiver.port), path, types, *values], check=True)
    wait_for(lambda: bridge.receiver.counters["accepted"] != before, f"{path} accepted")
    assert bridge.receiver.counters["accepted"] == before + 1


def test_liblo_control_messages_take_effect(runtime_with_osc):
    runtime, bridge, _ = runtime_with_osc
    runtime.step()
    oscsend(bridge, "/scene/set", "s", "dream_drift")
    oscsend(bridge, "/tempo", "f", "96")
    oscsend(bridge, "/blackout", "T")
    runtime.step()
    assert runtime.stages.scenes.scene.name == "dream_drift"
    assert runtime.show.tempo_bpm == 96.0 and runtime.show.blackout
    oscsend(bridge, "/blackout", "i", "0")
    runtime.step()
    assert not runtime.show.blackout


def test_liblo_receives_the_per_frame_bundles(runtime_with_osc):
    runtime, _, dump = runtime_with_osc
    for _ in range(5):
        runtime.step()
    # a last datagram after the bundles: loopback delivers to oscdump's one socket in order
    dump.send("/done")
    lines = [line for line in dump.lines_until("/done") if "/knock" not in line]
    frames = [line.split() for line in lines if " /frame " in line]
    assert len(frames) == 5
    assert [fields[2] for fields in frames] == ["iiff"] * 5
    assert [int(fields[3]) for fields in frames] == [0, 1, 2, 3, 4]  # render index
    assert [int(fields[4]) for fields in frames] == [0, 1, 2, 3, 4]  # source frame
    pose = [line.split() for line in lines if " /pose " in line]
    assert pose and len(pose[0][3:]) == 132 and pose[0][2] == "f" * 132
    # every message of a bundle carries the bundle's time tag: the /frame's tag marks its frame
    first_tag = frames[0][0]
    assert any(" /scene " in line and line.startswith(first_tag) for line in lines)
