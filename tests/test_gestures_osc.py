"""Teaching gestures over OSC while the piece runs (record / stop / train / run, and Wekinator's
control addresses), then recognising the taught movement in a later replay."""

from __future__ import annotations

import json

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.app import RunOptions, build_stages, run
from installation.clock import FixedStepClock
from installation.config import PROJECT_ROOT, load_config, override
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.gestures.live import LiveTeacher
from installation.osc import OscBridge
from installation.runtime import Runtime


def teaching_runtime(media, folder, clip):
    config = override(load_config(), "gestures", folder=str(folder))
    config = override(config, "osc", listen="", allow=("127.0.0.1",),  # teaching writes files: trusted senders only
                      privileged=("/gestures/*", "/wekinator/control/*"))
    source = VideoFileSource(media / "video" / "intel_asl" / clip, mirror=config.source.mirror)
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    teacher = stages.teacher  # built with the stages, as a run builds it
    assert isinstance(teacher, LiveTeacher) and runtime.control.teacher is teacher
    bridge = OscBridge(config.osc, runtime.inbox, listen="127.0.0.1:0")
    stages.listeners.insert(0, bridge)
    return runtime, teacher, bridge, 50000  # the sender's port


def send(bridge, sender_port, path, *args):
    """One OSC message from a trusted local sender, through the receiver's own datagram handling
    (what its thread runs for each datagram), synchronously: no waiting on a thread or a clock."""
    before = bridge.receiver.counters["accepted"]
    builder = OscMessageBuilder(address=path)
    for value in args:
        builder.add_arg(value)
    bridge.receiver.handle_datagram(builder.build().dgram, ("127.0.0.1", sender_port))
    assert bridge.receiver.counters["accepted"] == before + 1, f"{path} {args} was not accepted"


def test_a_movement_taught_over_osc_is_recognised_in_a_later_replay(media, tmp_path):
    folder = tmp_path / "gestures"
    runtime, teacher, bridge, sender_port = teaching_runtime(media, folder, "night.mkv")
    runtime.stages.generator.warm_up()
    send(bridge, sender_port, "/gestures/record", "night_sign", "dynamic")
    while runtime.running:
        runtime.step()
    send(bridge, sender_port, "/gestures/stop")
    send(bridge, sender_port, "/gestures/train")
    for command in runtime.inbox.drain():  # the clip has ended: apply them as the next frame would
        runtime.apply(command)
    runtime.close()
    assert len(list((folder / "examples").rglob("*.npz"))) == 1
    assert (folder / "model.npz").is_file()
    assert [t.name for t in teacher.recognizer.trained.templates] == ["night_sign"]

    # a new run loads the taught gesture at start-up and fires it once on the same sign
    config = tmp_path / "config.toml"
    config.write_text((PROJECT_ROOT / "config.toml").read_text()
                      .replace('folder = "gestures"', f'folder = "{folder}"')
                      .replace('listen = "127.0.0.1:9000"', 'listen = ""'))
    trace = tmp_path / "trace.jsonl"
    run(RunOptions(config_path=config, source=str(media / "video" / "intel_asl" / "night.mkv"), headless=True,
                   trace=trace, size=(64, 36)))
    events = [g for line in trace.read_text().splitlines() for g in json.loads(line)["gestures"]]
    assert [e[1] for e in events if e[0] == "night_sign"].count("start") == 1


def test_wekinator_style_mapping_taught_over_osc(media, tmp_path):
    folder = tmp_path / "gestures"
    runtime, teacher, bridge, sender_port = teaching_runtime(media, folder, "yes.mkv")
    runtime.stages.generator.warm_up()
    runtime.step()
    send(bridge, sender_port, "/wekinator/control/outputs", 0.2, 0.8)
    send(bridge, sender_port, "/wekinator/control/startRecording")
    for _ in range(15):
        runtime.step()
    send(bridge, sender_port, "/wekinator/control/stopRecording")
    send(bridge, sender_port, "/wekinator/control/train")
    runtime.step()
    mapped = runtime.stages.gestures.mapped(runtime.stages.features.update(runtime.body).as_dict())
    assert set(mapped) == {"wekinator"}
    assert np.allclose([mapped["wekinator"]["out0"], mapped["wekinator"]["out1"]], [0.2, 0.8], atol=0.05)
    send(bridge, sender_port, "/wekinator/control/stopRunning")
    runtime.step()
    assert not runtime.stages.gestures.learned_enabled
    send(bridge, sender_port, "/gestures/run", True)
    runtime.step()
    assert runtime.stages.gestures.learned_enabled
    assert runtime.telemetry.errors["rejected_commands"] == 0
    runtime.close()
