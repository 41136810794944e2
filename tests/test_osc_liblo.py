"""Interoperability with an OSC implementation that is not python-osc: liblo's command-line
tools `oscsend` (control in) and `oscdump` (the per-frame output), from Debian's liblo-tools.

`.ci/run` installs liblo-tools and sets INSTALLATION_REQUIRE_LIBLO=1, so CI fails rather than
skips if they are missing."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

import pytest
from helpers.udp import free_udp_port

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
    dump_port = free_udp_port()
    dump = subprocess.Popen(["oscdump", "-L", str(dump_port)], stdout=subprocess.PIPE, text=True)
    wait_until_listening(dump, dump_port)
    config = load_config()
    stages = build_stages(config, VideoFileSource(media / "video" / "intel_asl" / "sorry.mkv"),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    bridge = OscBridge(config.osc, runtime.inbox, listen="127.0.0.1:0", targets=(f"127.0.0.1:{dump_port}",))
    stages.listeners.append(bridge)
    runtime.stages.generator.warm_up()
    yield runtime, bridge, dump, dump_port
    runtime.close()
    dump.kill()


def lines_until(dump: subprocess.Popen, marker: str, guard_s: float = 30.0) -> list[str]:
    """oscdump's lines up to and including the first one naming ``marker``. The guard only
    bounds a broken run; nothing here depends on how long oscdump takes."""
    lines = []
    while not lines or marker not in lines[-1]:
        ready, _, _ = select.select([dump.stdout], [], [], guard_s)
        assert ready, f"oscdump printed no {marker} in {guard_s:g} s"
        lines.append(dump.stdout.readline())
    return lines


def wait_until_listening(dump: subprocess.Popen, port: int) -> None:
    """Knock until oscdump prints a knock: then it has bound its port, and nothing sent after is lost."""
    for _ in range(300):
        subprocess.run(["oscsend", "localhost", str(port), "/knock", ""], check=True)
        ready, _, _ = select.select([dump.stdout], [], [], 0.1)
        if ready:
            lines_until(dump, "/knock")
            while select.select([dump.stdout], [], [], 0.0)[0]:  # knocks still in flight
                dump.stdout.readline()
            return
    raise AssertionError("oscdump never printed a knock")


def oscsend(bridge: OscBridge, path: str, types: str, *values: str) -> None:
    before = bridge.receiver.counters["accepted"]
    subprocess.run(["oscsend", "localhost", str(bridge.receiver.port), path, types, *values], check=True)
    deadline = time.time() + 5.0
    while bridge.receiver.counters["accepted"] == before and time.time() < deadline:
        time.sleep(0.005)
    assert bridge.receiver.counters["accepted"] == before + 1


def test_liblo_control_messages_take_effect(runtime_with_osc):
    runtime, bridge, _, _ = runtime_with_osc
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
    runtime, _, dump, dump_port = runtime_with_osc
    for _ in range(5):
        runtime.step()
    # a last datagram after the bundles: loopback delivers to oscdump's one socket in order
    subprocess.run(["oscsend", "localhost", str(dump_port), "/done", ""], check=True)
    lines = [line for line in lines_until(dump, "/done") if "/knock" not in line]
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
