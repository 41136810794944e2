"""OSC over real UDP on loopback: every control address takes effect at the next frame, the
per-frame bundles arrive in order with the documented layout, queries are answered, and bad
input is dropped and counted."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket
from pythonosc.udp_client import SimpleUDPClient

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import OscConfig, load_config, override
from installation.control import CommandInbox
from installation.display import HeadlessDisplay, NullSink
from installation.feature_specs import FEATURE_SPECS
from installation.file_sources import VideoFileSource
from installation.osc import OscBridge
from installation.osc.addresses import ACCEPTED, DOCS_PATH, OscArgumentError, docs_markdown, validate
from installation.osc.policy import ReceiverPolicy
from installation.osc.receiver import OscReceiver
from installation.runtime import Runtime
from tests.helpers.waiting import wait_for


def test_docs_match_the_address_table():
    assert DOCS_PATH.read_text(encoding="utf-8") == docs_markdown()


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/tempo", ["fast"], "/tempo: bpm = 'fast': expected bpm:float 0..400"),
        ("/tempo", [900.0], "expected bpm:float 0..400"),
        ("/scene/set", [], "/scene/set takes 1..2 arguments, got 0"),
        ("/blackout", ["maybe"], "expected state:switch"),
        ("/latent/seed", [1.5], "expected seed:int"),
        ("/wek/outputs", [], "takes 1..64 arguments, got 0"),
    ],
)
def test_validation_names_the_address_and_what_is_expected(path, params, message):
    with pytest.raises(OscArgumentError) as error:
        validate(ACCEPTED[path], params)
    assert message in str(error.value)


def test_validation_converts_what_max_and_pd_send():
    assert validate(ACCEPTED["/tempo"], [120]) == (120.0,)
    assert validate(ACCEPTED["/blackout"], [1]) == (True,)
    assert validate(ACCEPTED["/blackout"], ["toggle"]) == ("toggle",)
    assert validate(ACCEPTED["/wek/outputs"], [1, 0.5]) == (1.0, 0.5)


class Listener:
    """A UDP socket on loopback that collects what arrives."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def messages(self) -> list[tuple[str, list, int]]:
        """(address, params, datagram number from 1) of everything queued now. What the loop
        sent is all here: on loopback a datagram is in this socket's queue when ``sendto`` returns."""
        found, number = [], 0
        while True:
            try:
                data = self.socket.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return found
            number += 1
            found += read(data, number)

    def messages_until(self, address: str, params: list, guard_s: float = 30.0) -> list[tuple[str, list, int]]:
        """Everything up to and including the message ``address params``: for replies another
        thread sends. The guard only bounds a broken run."""
        found: list[tuple[str, list, int]] = []
        self.socket.settimeout(guard_s)
        while (address, params) not in [(a, p) for a, p, _ in found]:
            found += read(self.socket.recv(65536), found[-1][2] + 1 if found else 1)
        return found


def read(data: bytes, number: int) -> list[tuple[str, list, int]]:
    return [(m.message.address, list(m.message.params), number) for m in OscPacket(data).messages]


@pytest.fixture
def live(media, tmp_path):
    """A runtime on a real clip, stepped by hand, with OSC in on a free port and out to a listener.
    This machine is trusted with recording, and scene switches are not held back between frames."""
    out = Listener()
    config = override(load_config(), "record", folder=str(tmp_path / "sessions"))
    config = override(config, "osc", allow=("127.0.0.1",), privileged=("/record/*",), scene_switch_rate=1000.0)
    shown = []

    class Keep(HeadlessDisplay):
        def show(self, image, hud, recording=False):
            shown.append((image.copy(), hud))
            return super().show(image, hud, recording)

    stages = build_stages(config, VideoFileSource(media / "video" / "intel_asl" / "please.mkv"),
                          Keep((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    bridge = OscBridge(config.osc, runtime.inbox, listen="127.0.0.1:0", targets=(f"127.0.0.1:{out.port}",))
    stages.listeners.append(bridge)
    runtime.stages.generator.warm_up()
    runtime.step()
    client = SimpleUDPClient("127.0.0.1", bridge.receiver.port)
    yield runtime, bridge, client, out, shown
    runtime.close()
    out.socket.close()


def send_and_step(runtime, bridge, client, path, *args):
    before = bridge.receiver.counters["accepted"]
    client.send_message(path, list(args))
    wait_for(lambda: bridge.receiver.counters["accepted"] != before, f"{path} accepted")
    assert bridge.receiver.counters["accepted"] == before + 1, f"{path} was not accepted"
    runtime.step()


def test_every_control_address_takes_effect_at_the_next_frame(live):
    runtime, bridge, client, out, shown = live
    scenes = runtime.stages.scenes

    send_and_step(runtime, bridge, client, "/scene/set", "dream_drift")
    assert scenes.scene.name == "dream_drift"
    send_and_step(runtime, bridge, client, "/scene/next")
    assert scenes.scene.name == "face_mirror"  # in name order: ... dream_drift, face_mirror, style_mirror, themes
    send_and_step(runtime, bridge, client, "/scene/previous")
    assert scenes.scene.name == "dream_drift"
    send_and_step(runtime, bridge, client, "/scene/param", "pulse", 1.5)
    assert scenes.scene.params["pulse"] == 1.5
    anchor = scenes.scene.anchors.copy()
    send_and_step(runtime, bridge, client, "/latent/seed", 42)
    assert scenes.seed == 42 and not np.array_equal(anchor, scenes.scene.anchors)
    assert scenes.scene.params["pulse"] == 1.5  # re-seeding keeps the parameters

    send_and_step(runtime, bridge, client, "/blackout", True)
    assert shown[-1][0].max() == 0
    send_and_step(runtime, bridge, client, "/blackout", False)
    assert shown[-1][0].max() > 0
    send_and_step(runtime, bridge, client, "/freeze", 1)
    send_and_step(runtime, bridge, client, "/scene/param", "pulse", 0.5)
    assert np.array_equal(shown[-1][0], shown[-2][0])
    send_and_step(runtime, bridge, client, "/freeze", "off")
    assert not np.array_equal(shown[-1][0], shown[-2][0])
    send_and_step(runtime, bridge, client, "/overlay", "on")
    assert shown[-1][1] is not None and runtime.show.overlay

    send_and_step(runtime, bridge, client, "/record/start")
    assert runtime.stages.recorder.recording
    session = runtime.stages.recorder.session
    send_and_step(runtime, bridge, client, "/record/stop")
    assert not runtime.stages.recorder.recording
    assert len((session / "observations.jsonl").read_text().splitlines()) == 1  # the frame it recorded

    send_and_step(runtime, bridge, client, "/tempo", 120)
    send_and_step(runtime, bridge, client, "/beat")
    assert runtime.show.tempo_bpm == 120.0 and runtime.show.beat_phase(runtime.clock.now()) == 0.0
    send_and_step(runtime, bridge, client, "/wek/outputs", 0.25, 0.75)
    assert runtime.show.external == (0.25, 0.75)

    leader_z = [float(v) for v in np.linspace(-1, 1, 16)]
    send_and_step(runtime, bridge, client, "/follow/latent", *leader_z)
    latent = [params for address, params, _ in out.messages() if address == "/latent"][-1]
    assert latent[0] == pytest.approx(np.linalg.norm(leader_z), abs=1e-4)  # norm, then the head
    assert latent[1:] == pytest.approx(leader_z[:4], abs=1e-6)
    send_and_step(runtime, bridge, client, "/follow/scene", "body_latent")
    assert scenes.scene.name == "body_latent"
    send_and_step(runtime, bridge, client, "/follow/beat", 0.25)
    assert runtime.show.beat_phase(runtime.clock.now()) == 0.25
    assert runtime.telemetry.errors["rejected_commands"] == 0


def test_bad_scene_and_out_of_range_parameters_are_rejected_and_counted(live):
    runtime, bridge, client, _, _ = live
    send_and_step(runtime, bridge, client, "/scene/set", "no_such_scene")
    send_and_step(runtime, bridge, client, "/scene/param", "gain", 99.0)
    assert runtime.stages.scenes.scene.name == "body_latent"
    assert runtime.telemetry.errors["rejected_commands"] == 2


def test_bundles_arrive_once_per_frame_in_order_with_the_documented_layout(live):
    runtime, bridge, client, out, _ = live
    out.messages()  # drop the first frame's bundle
    for _ in range(6):
        runtime.step()
    messages = out.messages()
    frames = [params for address, params, _ in messages if address == "/frame"]
    assert len(frames) == 6
    render_indices = [params[0] for params in frames]
    assert render_indices == sorted(render_indices) and len(set(render_indices)) == 6
    source_frames = [params[1] for params in frames]
    assert source_frames == list(range(source_frames[0], source_frames[0] + 6))
    first_bundle = [(address, params) for address, params, number in messages if number == 1]
    addresses = [address for address, _ in first_bundle]
    assert addresses[0] == "/frame"
    layout = dict(first_bundle)
    assert len(layout["/pose"]) == 132
    assert len(layout["/features"]) == len(FEATURE_SPECS)
    assert layout["/scene"] == ["body_latent"]
    assert all(f"/feature/{spec.name}" in layout for spec in FEATURE_SPECS)
    assert layout["/presence"][0] == pytest.approx(1.0)


def test_queries_are_answered_to_the_sender(live):
    runtime, bridge, _, _, _ = live
    runtime.step()
    asker = Listener()
    target = ("127.0.0.1", bridge.receiver.port)
    for path, args in (("/ping", ["hello"]), ("/status", []), ("/osc/list", []), ("/ping", ["done"])):
        asker.socket.sendto(build(path, *args), target)
    replies = asker.messages_until("/pong", ["done"])  # answered in order, on the receiver's thread
    asker.socket.close()
    assert ("/pong", ["hello"]) in [(a, p) for a, p, _ in replies]
    status = next(p for a, p, _ in replies if a == "/status")
    values = dict(zip(status[::2], status[1::2]))
    assert values["frames"] >= 2 and "fps" in values and "osc_malformed" in values
    assert next(p for a, p, _ in replies if a == "/status/scene") == ["body_latent"]
    listed = [p[0] for a, p, _ in replies if a == "/osc/address"]
    assert "/scene/set" in listed and "/pose" in listed


def build(path: str, *args) -> bytes:
    builder = OscMessageBuilder(address=path)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def receiver(clock=lambda: 0.0, **policy) -> tuple[OscReceiver, CommandInbox]:
    inbox = CommandInbox(capacity=100_000)
    return OscReceiver("127.0.0.1", 0, inbox, lambda: None, ReceiverPolicy(**policy), clock), inbox


def test_garbage_unknown_addresses_and_wrong_arguments_are_dropped_and_counted():
    handler, inbox = receiver()
    sender = ("127.0.0.1", 5555)
    handler.handle_datagram(b"\x00\x01garbage", sender)
    handler.handle_datagram(b"/tempo\x00\x00,ii\x00\x00\x00\x00\x01", sender)  # truncated int
    handler.handle_datagram(build("/nope", 1.0), sender)
    handler.handle_datagram(build("/tempo", "fast"), sender)
    handler.handle_datagram(build("/tempo", 120.0), sender)
    assert handler.counters["malformed"] == 2
    assert handler.counters["unknown_address"] == 1
    assert handler.counters["bad_arguments"] == 1
    assert [c.name for c in inbox.drain()] == ["tempo"]


def test_allow_list_and_per_sender_rate_limit():
    from installation.osc.receiver import parse_allow_list

    now = [0.0]
    handler, inbox = receiver(allow=tuple(parse_allow_list(("10.0.0.0/8",))), sender_rate=10.0, clock=lambda: now[0])
    beat = b"/beat\x00\x00\x00,\x00\x00\x00"
    handler.handle_datagram(beat, ("192.168.1.5", 1))
    assert handler.counters["not_allowed"] == 1
    for _ in range(100):  # 100 at once from one sender: the burst (20) passes
        handler.handle_datagram(beat, ("10.1.2.3", 1))
    assert handler.counters["accepted"] == 20 and handler.counters["rate_limited"] == 80
    for _ in range(100):  # another sender has its own budget
        handler.handle_datagram(beat, ("10.9.9.9", 1))
    assert handler.counters["accepted"] == 40
    now[0] = 1.0  # a second later the first sender may send 10 more
    for _ in range(15):
        handler.handle_datagram(beat, ("10.1.2.3", 1))
    assert handler.counters["accepted"] == 50


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_no_datagram_can_raise(data):
    handler, _ = receiver()
    handler.handle_datagram(data, ("127.0.0.1", 1))
    handler.handle_datagram(b"/scene/param\x00\x00\x00\x00" + data, ("127.0.0.1", 1))
    handler.handle_datagram(b"#bundle\x00" + data, ("127.0.0.1", 1))


def test_osc_config_addresses_are_checked():
    from installation.osc.receiver import OscError, parse_allow_list, parse_endpoint

    with pytest.raises(OscError, match="expected \\[HOST:\\]PORT with a port in 1..65535"):
        parse_endpoint("localhost:99999")
    with pytest.raises(OscError, match="osc.allow: 'lan' is not an IP address"):
        parse_allow_list(("lan",))
    assert parse_endpoint("9000") == ("127.0.0.1", 9000)
    assert OscConfig().listen == "127.0.0.1:9000"


def test_wekinator_outputs_steer_the_body_latent_scene(live):
    runtime, bridge, client, out, _ = live
    scene = runtime.stages.scenes.scene
    from scenes.base import SceneInputs

    features = runtime.stages.features.update(runtime.body)
    plain = scene.mapping.target(np.zeros(len(scene._names)), 0.0, 1.0)
    offset = scene._external_offset(SceneInputs(features, 1.0, 0.0, external=(1.0, 0.0)))
    assert offset is not None and np.linalg.norm(offset) > 0.5
    assert scene._external_offset(SceneInputs(features, 1.0, 0.0)) is None
    assert plain.shape == offset.shape


def test_gesture_events_appear_in_the_osc_output_once_per_performed_gesture(media):
    out = Listener()
    config = override(load_config(), "osc", listen="")
    clip = media / "video" / "tfjs_pose_squats.mp4"  # three squats
    source = VideoFileSource(clip, mirror=config.source.mirror)
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    bridge = OscBridge(config.osc, runtime.inbox, targets=(f"127.0.0.1:{out.port}",))
    stages.listeners.insert(0, bridge)
    received = []
    runtime.stages.generator.warm_up()
    while runtime.running:
        runtime.step()
        received += out.messages()
    runtime.close()
    received += out.messages()
    out.socket.close()
    crouches = [params for address, params, _ in received if address == "/gesture" and params[0] == "crouch"]
    assert [params[1] for params in crouches if params[1] == "start"] == ["start"] * 3
    assert [params[1] for params in crouches if params[1] == "end"] == ["end"] * 2  # the clip ends mid-squat
