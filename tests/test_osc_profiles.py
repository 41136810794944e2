"""The OSC profiles made true: golden datagrams written from the peers' own documented layouts
(cansik/mediapipe-osc's README "Format" and pose.py / hands.py; Wekinator's /wek/inputs and
wekimini's OSCControlReceiver), follow mode when the leader stops, and taught mappings reaching
the piece (/mapped/* out, body_latent reading them, the model's meaningful directions)."""

from __future__ import annotations

import socket
import struct

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from installation.config import OscConfig
from installation.contracts import LatentState, TrackedBody
from installation.control import CommandInbox, ControlCommand
from installation.feature_specs import FEATURE_SPECS, Features
from installation.osc import OscBridge
from installation.osc.addresses import ACCEPTED
from installation.osc.policy import ReceiverPolicy
from installation.osc.profiles import mediapipe_osc_datagrams, wekinator_inputs_datagram
from installation.osc.receiver import OscReceiver
from installation.osc.sender import OscSender
from installation.report import FrameReport
from installation.show import FOLLOW_TIMEOUT_S, ShowControl, ShowState
from scenes.base import SceneInputs, SceneTools
from scenes.body_latent import DIRECTION_PRIORITY, BodyLatentScene
from tests.helpers.waiting import wait_for


def osc_string(text: str) -> bytes:
    """An OSC string: ASCII, NUL-terminated, padded to a multiple of 4 bytes (OSC 1.0 spec)."""
    raw = text.encode("ascii") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def golden(address: str, ints: list[int], floats: list[float]) -> bytes:
    """A message written by hand from the spec: address, type tags, big-endian int32 / float32."""
    tags = "," + "i" * len(ints) + "f" * len(floats)
    return (osc_string(address) + osc_string(tags) + b"".join(struct.pack(">i", v) for v in ints)
            + b"".join(struct.pack(">f", v) for v in floats))


def body_with(pose: bool, left: bool, right: bool) -> TrackedBody:
    rng = np.random.default_rng(3)
    return TrackedBody(
        0.0,
        rng.random((33, 4), dtype=np.float32) if pose else np.zeros((0, 4), np.float32),
        rng.random((21, 3), dtype=np.float32) if left else np.zeros((0, 3), np.float32),
        rng.random((21, 3), dtype=np.float32) if right else np.zeros((0, 3), np.float32),
        float(pose), float(left), float(right))


# mediapipe-osc: "/mediapipe/pose [count, x, y, z, visibility, ...]", count 0 alone when nobody
def test_mediapipe_osc_pose_and_hands_match_the_documented_layout_byte_for_byte():
    body = body_with(pose=True, left=True, right=True)
    pose, hands = mediapipe_osc_datagrams(body)
    assert pose == golden("/mediapipe/pose", [1], body.pose.reshape(-1).tolist())
    with_visibility = [[*point, 0.0] for hand in (body.left_hand, body.right_hand) for point in hand.tolist()]
    assert hands == golden("/mediapipe/hands", [2], [v for point in with_visibility for v in point])
    assert len(pose) == 16 + 136 + 4 + 33 * 4 * 4  # address, tags (",i" + 132 "f", padded), count, values


def test_mediapipe_osc_sends_count_zero_alone_when_nobody_is_there():
    pose, hands = mediapipe_osc_datagrams(TrackedBody.nobody(0.0))
    assert pose == b"/mediapipe/pose\x00,i\x00\x00\x00\x00\x00\x00"
    assert hands == golden("/mediapipe/hands", [0], [])
    pose, hands = mediapipe_osc_datagrams(body_with(pose=False, left=False, right=True))
    assert pose == golden("/mediapipe/pose", [0], [])
    assert hands[:len(golden("/mediapipe/hands", [1], []))].startswith(b"/mediapipe/hands\x00\x00\x00\x00,if")


def test_wekinator_inputs_are_plain_float32s():
    values = np.linspace(0.0, 1.0, len(FEATURE_SPECS), dtype=np.float32)
    assert wekinator_inputs_datagram(values) == golden("/wek/inputs", [], values.tolist())


# Wekinator: /wek/outputs arrive on 12000; every /wekinator/control/* message of wekimini is known
WEKIMINI_CONTROL = ("startRecording", "stopRecording", "startDtwRecording", "stopDtwRecording", "train",
                    "cancelTrain", "startRunning", "stopRunning", "deleteAllExamples", "deleteExamplesForOutput",
                    "enableModelRecording", "disableModelRecording", "enableModelRunning", "disableModelRunning",
                    "setInputNames", "setOutputNames", "selectInputsForOutput", "outputs")


def test_every_wekinator_control_message_is_in_the_address_table():
    missing = [name for name in WEKIMINI_CONTROL if f"/wekinator/control/{name}" not in ACCEPTED]
    assert missing == []
    assert OscConfig().wekinator_listen == "127.0.0.1:12000"


def test_the_wekinator_profile_listens_for_its_outputs_and_control():
    inbox = CommandInbox()
    config = OscConfig(listen="", wekinator="127.0.0.1:6448", wekinator_listen="127.0.0.1:0")
    bridge = OscBridge(config, inbox)
    try:
        assert bridge.receiver is None and bridge.wekinator_receiver is not None
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        port = bridge.wekinator_receiver.port
        for path, args in (("/wek/outputs", [0.25, 0.75]), ("/wekinator/control/disableModelRunning", [2]),
                           ("/wekinator/control/setOutputNames", ["hue", "size"])):
            builder = OscMessageBuilder(address=path)
            for arg in args:
                builder.add_arg(arg)
            client.sendto(builder.build().dgram, ("127.0.0.1", port))
        wait_for(lambda: bridge.wekinator_receiver.counters["accepted"] >= 3, "three accepted")  # the receive thread's turn
        client.close()
        commands = inbox.drain()
        assert [(c.name, c.args) for c in commands] == [
            ("external", (0.25, 0.75)), ("wekinator_run_outputs", (False, 2)), ("wekinator_output_names", ("hue", "size"))]
        assert bridge.counters()["osc_unknown_address"] == 0
    finally:
        bridge.close()


# follow mode
class FakeScenes:
    """The SceneSlot surface ShowControl uses for following."""

    latent_dim = 4

    def __init__(self, name: str) -> None:
        self.scene = type("Scene", (), {"name": name})()

    def switch(self, name: str, fade: bool = True) -> None:
        self.scene = type("Scene", (), {"name": name})()


def test_a_follower_returns_to_its_own_scene_and_beat_when_the_leader_stops():
    state, scenes = ShowState(tempo_bpm=60.0), FakeScenes("body_latent")
    control = ShowControl(state, scenes, scene_switch_interval_s=0.0)
    t = 0.0
    while t < 2.0:  # the leader's bundle each frame, 20 frames a second
        control.apply(ControlCommand("follow_scene", ("dream_drift",)), t)
        control.apply(ControlCommand("follow_latent", (1.0, 2.0, 3.0, 4.0)), t)
        control.apply(ControlCommand("follow_beat", (0.25,)), t)
        control.apply_waiting(t)
        t += 0.05
    assert scenes.scene.name == "dream_drift" and state.beat_phase(t) == 0.25
    assert state.followed_latent(t) is not None
    for _ in range(int(FOLLOW_TIMEOUT_S / 0.05) + 2):  # the leader stops
        control.apply_waiting(t)
        t += 0.05
    assert scenes.scene.name == "body_latent"
    assert state.followed_latent(t) is None
    assert state.beat_phase(t) == ((t - state.beat_origin_s) * 60.0 / 60.0) % 1.0  # our own tempo again
    assert control.errors["rejected_commands"] == 0


def test_the_leaders_bundle_is_understood_not_counted_as_errors():
    inbox = CommandInbox()
    handler = OscReceiver("127.0.0.1", 0, inbox, lambda: None, ReceiverPolicy(), lambda: 0.0)
    report = FrameReport(1.0, None, body_with(True, True, False), Features.neutral(),
                         LatentState(np.arange(4, dtype=np.float32), {}), "dream_drift", 0.5, 120.0,
                         mapped={"wekinator": {"out0": 0.3}})
    leader = OscSender(OscConfig(lead=True), targets=())
    datagram = leader.bundle(report)
    leader.close()
    handler.handle_datagram(datagram, ("127.0.0.1", 5555))
    errors = {k: handler.counters[k] for k in ("unknown_address", "bad_arguments", "malformed", "rate_limited")}
    assert errors == {"unknown_address": 0, "bad_arguments": 0, "malformed": 0, "rate_limited": 0}
    assert handler.counters["set_aside"] > 10
    assert [c.name for c in inbox.drain()] == ["follow_scene", "follow_latent", "follow_beat"]


# taught mappings reach the piece
def test_taught_mappings_are_sent_as_mapped_name_output():
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5.0)
    sender = OscSender(OscConfig(), targets=(f"127.0.0.1:{listener.getsockname()[1]}",))
    report = FrameReport(0.0, None, TrackedBody.nobody(0.0), Features.neutral(),
                         LatentState(np.zeros(4, np.float32), {}), "body_latent",
                         mapped={"wekinator": {"out0": 0.2, "out1": 0.8}, "arms": {"spread": 0.5}})
    sender.on_frame(report)
    data, _ = listener.recvfrom(65536)
    sender.close()
    listener.close()
    messages = [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
    mapped = [(address, params) for address, params in messages if address.startswith("/mapped/")]
    assert [address for address, _ in mapped] == ["/mapped/arms/spread", "/mapped/wekinator/out0", "/mapped/wekinator/out1"]
    assert np.allclose([p[0] for _, p in mapped], [0.5, 0.2, 0.8])


def test_muted_outputs_do_not_reach_the_piece():
    state = ShowState(muted_outputs=frozenset({"out1"}))
    assert state.unmuted({"wekinator": {"out0": 0.2, "out1": 0.8}}) == {"wekinator": {"out0": 0.2}}


def test_body_latent_reads_taught_mappings_like_wekinator_outputs():
    scene = BodyLatentScene()
    scene.setup(8, seed=1)
    features = Features.neutral()
    assert scene._external_offset(SceneInputs(features, 1.0, 0.0)) is None
    taught = scene._external_offset(SceneInputs(features, 1.0, 0.0, mapped={"wekinator": {"out0": 1.0, "out1": 0.0}}))
    wekinator = scene._external_offset(SceneInputs(features, 1.0, 0.0, external=(1.0, 0.0)))
    assert taught is not None and np.allclose(taught, wekinator)  # the same values push the same way


def test_body_latent_moves_along_the_models_meaningful_directions_by_default():
    basis = np.eye(16, dtype=np.float32)[::-1].copy()  # (16, 16): stand-in GANSpace directions
    tools = SceneTools(latent_dim=16, resolution=32, directions=lambda k: basis[:k])
    meaningful, random = BodyLatentScene(), BodyLatentScene()
    meaningful.setup(16, seed=1, tools=tools)
    random.set_param("meaningful_directions", 0.0)
    random.setup(16, seed=1, tools=tools)
    order = [meaningful._names.index(name) for name in DIRECTION_PRIORITY]
    columns = meaningful.mapping.directions.matrix[:, order]  # (D, F): feature order[k] gets direction k
    assert np.allclose((columns / np.linalg.norm(columns, axis=0, keepdims=True)).T, basis)
    assert meaningful._names[order[0]] == "left_hand_height"  # raising a hand: the most visible change
    others = random.mapping.directions.matrix[:, order]
    assert not np.allclose((others / np.linalg.norm(others, axis=0, keepdims=True)).T, basis)
