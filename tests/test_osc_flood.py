"""Floods of OSC: a headless replay completes under one and counts every datagram as what it
was; and in injected time, the frame loop renders as many frames under a /scene/set flood, the
hostile corpus or 100 spoofed senders as without (within a tenth). The real frame rates are
measured in benchmarks/osc_hostile.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.osc_hostile import hostile_corpus
from helpers.udp import free_udp_port, port_in_use
from helpers.waiting import wait_for
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.app import RunOptions, build_stages, run
from installation.config import load_config, override
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.osc.policy import ReceiverPolicy
from installation.osc.receiver import OscReceiver
from installation.runtime import Runtime
from tests.helpers.stand_ins import NoPerception

ROOT = Path(__file__).resolve().parents[1]
FLOOD = ROOT / "tests" / "helpers" / "osc_flood.py"


def test_replay_completes_under_a_flood_and_counts_every_datagram(tmp_path, media):
    config = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text()  # no rate limits: every datagram is read and counted as what it is
    text = text.replace("sender_rate = 500.0", "sender_rate = 1000000.0").replace("total_rate = 2000.0", "total_rate = 1000000.0")
    config.write_text(text)
    port = free_udp_port()
    sent: dict = {}

    def flood() -> None:
        wait_for(lambda: port_in_use(port), "the replay to listen (models load first)", guard_s=120.0, poll_s=0.05)
        result = subprocess.run([sys.executable, str(FLOOD), "127.0.0.1", str(port), "30000", "1000"],
                                capture_output=True, text=True, timeout=120, check=True)
        sent.update(json.loads(result.stdout))

    flooder = threading.Thread(target=flood)
    flooder.start()
    clip = media / "video" / "intel_asl" / "book.mkv"  # 109 frames: the flood lands mid-replay
    stats = run(RunOptions(config_path=config, source=str(clip), headless=True, osc_in=f"127.0.0.1:{port}",
                           size=(64, 36)))
    flooder.join()
    assert stats.frames == stats.rendered_frames == 109  # the replay completed, every frame
    errors = stats.errors
    assert sent == {"garbage": 10000, "unknown": 10000, "valid": 10000}
    assert errors["osc_malformed"] == sent["garbage"]
    assert errors["osc_unknown_address"] == sent["unknown"]
    assert errors["osc_bad_arguments"] == errors["osc_rate_limited"] == errors["osc_rate_limited_total"] == 0


# The frame loop under a flood, in injected time. Frames rendered in LOOP_S of loop time are
# counted with and without a flood; the loop's time advances by what each frame cost under the
# model below (its constants measured on this 2-core machine), never by the wall clock. What the
# flood can add to a frame: the scene switches it caused, the commands applied, and the datagrams
# the receive thread read meanwhile (it holds the GIL the loop needs).
FRAME_S = 1 / 30  # a frame's own work, headless
SCENE_SWITCH_S = 0.0015  # a scene switch between scenes of one model: 1.3 ms measured
COMMAND_S = 0.0001  # applying one command
READ_S = 0.000015  # reading and checking one datagram: 11-15 µs measured (handle_datagram)
LOOP_S = 5.0  # loop time each run gets


class LoopTime:
    """The loop's clock in the model: the test moves it on by each frame's cost."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def advance_to(self, timestamp_s: float) -> None:
        """Lockstep would follow the clip's timestamps; here the model's time leads."""


class CommandsApplied:
    """A frame listener: how many commands the last frame applied."""

    last = 0

    def on_frame(self, report) -> None:
        self.last = len(report.commands)

    def close(self) -> None:
        pass


class NoReplies:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple]] = []

    def sendto(self, data: bytes, target: tuple) -> None:
        self.sent.append((data, target))


def osc(path: str, *args) -> bytes:
    builder = OscMessageBuilder(address=path)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


SCENES = (osc("/scene/set", "dream_drift"), osc("/scene/set", "body_latent"))
HOSTILE = list(hostile_corpus().values())
FLOODS = {  # name -> (datagrams per second, the n-th datagram and its sender)
    "scene_set_500_per_s": (500.0, lambda n: (SCENES[n % 2], ("127.0.0.1", 4000))),
    "hostile_corpus_2000_per_s": (2000.0, lambda n: (HOSTILE[n % len(HOSTILE)], ("127.0.0.1", 4000))),
    "100_spoofed_senders_10000_per_s": (10_000.0, lambda n: ((SCENES[n % 2], osc("/scene/param", "gain", 0.5))[n // 2 % 2],
                                                              (f"10.0.{n % 100}.1", 4000))),
}


@dataclass
class FloodRun:
    frames: int
    loop_s: float = 0.0  # the loop's time at the end
    sent: int = 0
    left_to_the_system: int = 0  # arrived while the receiver paused over the total rate
    scene_switches: int = 0
    receiver: OscReceiver | None = None


def run_loop(media, flood: str | None) -> FloodRun:
    """The loop for LOOP_S of model time, with ``flood`` fed to a receiver (not started: the test
    reads for it) as the datagrams arrive."""
    config = override(load_config(), "osc", listen="")
    stages = build_stages(config, VideoFileSource(media / "video" / "intel_asl" / "please.mkv", loop=True),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    stages.perception.close()
    stages.perception = NoPerception()
    applied = CommandsApplied()
    stages.listeners.append(applied)
    clock, arrival = LoopTime(), [0.0]
    runtime = Runtime(stages, clock, lockstep=True)
    receiver = OscReceiver("127.0.0.1", 0, runtime.inbox, runtime.status, ReceiverPolicy.from_config(config.osc),
                           clock=lambda: arrival[0])
    receiver._socket = NoReplies()
    rate, datagram = FLOODS[flood] if flood else (0.0, None)
    result = FloodRun(0, receiver=receiver)
    stages.generator.warm_up()
    try:
        while clock.t < LOOP_S:
            showing = stages.scenes.scene
            runtime.step()
            switched = stages.scenes.scene is not showing
            result.scene_switches += switched
            end = clock.t + FRAME_S + SCENE_SWITCH_S * switched + COMMAND_S * applied.last
            while datagram is not None and result.sent < rate * end:  # what arrived during the frame
                arrival[0] = result.sent / rate
                if receiver.reading_paused_s(arrival[0]) > 0:
                    result.left_to_the_system += 1
                else:
                    receiver.handle_datagram(*datagram(result.sent))
                    end += READ_S
                result.sent += 1
            clock.t = end
    finally:
        result.loop_s = clock.t
        runtime.close()
    result.frames = runtime.telemetry.rendered_frames
    return result


@pytest.fixture(scope="module")
def quiet_frames(media) -> int:
    return run_loop(media, None).frames


@pytest.mark.parametrize("flood", sorted(FLOODS))
def test_a_flood_costs_the_loop_under_a_tenth_of_its_frames(media, quiet_frames, flood):
    run = run_loop(media, flood)
    receiver = run.receiver
    assert run.frames / quiet_frames >= 0.9, f"{run.frames} frames under the flood, {quiet_frames} without"
    assert receiver.counters["datagrams"] + run.left_to_the_system == run.sent  # each one read or left, none lost
    assert run.scene_switches <= 4.0 * LOOP_S + 1  # osc.scene_switch_rate
    if flood.startswith("hostile"):
        assert receiver.counters["malformed"] == receiver.counters["datagrams"] - receiver.counters["rate_limited"]
    if flood.startswith("100_spoofed"):  # many addresses do not add up past the total rate
        assert receiver.counters["accepted"] <= 2000.0 * (run.loop_s + 2.0)  # osc.total_rate and its burst
        assert run.left_to_the_system > 0
    arrival = run.sent / FLOODS[flood][0] + 1.0  # a second after the flood (during it, a flood over
    receiver.clock = lambda: arrival  # osc.total_rate shuts out everyone: docs/osc.md says so)
    receiver.handle_datagram(osc("/ping", "still here"), ("127.0.0.2", 4001))  # control answers again
    assert receiver._socket.sent[-1] == (osc("/pong", "still here"), ("127.0.0.2", 4001))
