"""Interoperability with an OSC implementation that is not python-osc: liblo's command-line
tools `oscsend` (control in) and `oscdump` (the per-frame output), from Debian's liblo-tools.

`.ci/run` installs liblo-tools and sets INSTALLATION_REQUIRE_LIBLO=1, so CI fails rather than
skips if they are missing."""

from __future__ import annotations

import os
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
    time.sleep(0.3)  # let oscdump bind before the first bundle
    config = load_config()
    stages = build_stages(config, VideoFileSource(media / "video" / "intel_asl" / "sorry.mkv"),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    bridge = OscBridge(config.osc, runtime.inbox, listen="127.0.0.1:0", targets=(f"127.0.0.1:{dump_port}",))
    stages.listeners.append(bridge)
    runtime.stages.generator.warm_up()
    yield runtime, bridge, dump
    runtime.close()
    dump.kill()


def oscsend(bridge: OscBridge, path: str, types: str, *values: str) -> None:
    before = bridge.receiver.counters["accepted"]
    subprocess.run(["oscsend", "localhost", str(bridge.receiver.port), path, types, *values], check=True)
    deadline = time.time() + 5.0
    while bridge.receiver.counters["accepted"] == before and time.time() < deadline:
        time.sleep(0.005)
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
    time.sleep(0.5)
    dump.kill()
    lines = dump.stdout.read().splitlines()
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
