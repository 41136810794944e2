"""The event layer and the built-in gestures on synthetic sequences: a held gesture fires once,
flicker and one-frame dropouts do not restart it, and each built-in movement and pose fires
once when performed, mirrored or not. Time is the synthetic frame time; nothing is timed."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from installation.contracts import PoseLandmark, Side, TrackedBody
from installation.gestures import GestureRecognizer, GesturesConfig, Phase
from installation.gestures.events import EventGate, EventLayer, GateSettings
from installation.gestures.hand_shapes import HandShape, best_shape
from installation.gestures.motion import Movement

FPS = 30.0
ASPECT = 4 / 3
SHOULDER_WIDTH = 0.3  # image heights
SHOULDER_MID = np.array([0.5 * ASPECT, 0.4])  # isotropic image units

# --- the event layer ------------------------------------------------------------------------


def run_gate(confidences: list[float], settings: GateSettings = GateSettings()) -> list[tuple[Phase, float]]:
    gate = EventGate(settings)
    return [(phase, i / FPS) for i, c in enumerate(confidences) for phase in gate.step(c, i / FPS)]


def test_a_held_gesture_starts_once_holds_and_ends_once():
    events = run_gate([0.9] * 60 + [0.0] * 30, GateSettings(hold_interval_s=0.5))
    phases = [phase for phase, _ in events]
    assert phases.count(Phase.START) == 1 and phases.count(Phase.END) == 1
    assert phases[0] is Phase.START and phases[-1] is Phase.END
    assert phases.count(Phase.HOLD) == 3  # at 0.5, 1.0, 1.5 s of a 2 s hold
    start, end = events[0][1], events[-1][1]
    assert start == 0.0 and 2.0 <= end <= 2.0 + 0.15 + 1.5 / FPS


def test_a_confidence_wobbling_between_the_thresholds_does_not_restart():
    wobble = [0.9] * 10 + [0.45, 0.55] * 30 + [0.9] * 10  # between off (0.4) and on (0.6)
    phases = [phase for phase, _ in run_gate(wobble + [0.0] * 10)]
    assert phases.count(Phase.START) == 1 and phases.count(Phase.END) == 1


def test_one_frame_dropouts_do_not_end_a_held_gesture():
    flicker = ([0.9] * 5 + [0.0]) * 12  # the tracker loses the hand one frame in six
    phases = [phase for phase, _ in run_gate(flicker + [0.0] * 10)]
    assert phases.count(Phase.START) == 1 and phases.count(Phase.END) == 1


def test_refractory_time_swallows_a_restart_just_after_the_end():
    settings = GateSettings(release_s=0.0, refractory_s=0.5)
    quick_again = [0.9] * 10 + [0.0] * 3 + [0.9] * 10 + [0.0] * 30  # back after 0.1 s: ignored
    assert [p for p, _ in run_gate(quick_again, settings)].count(Phase.START) == 1
    later = [0.9] * 10 + [0.0] * 30 + [0.9] * 10 + [0.0] * 5  # back after 1 s: a new gesture
    assert [p for p, _ in run_gate(later, settings)].count(Phase.START) == 2


def test_min_on_time_ignores_blips():
    settings = GateSettings(min_on_s=0.1)
    assert run_gate([0.0, 0.9, 0.9, 0.0, 0.0] * 10, settings) == []  # 2 frames = 67 ms
    assert [p for p, _ in run_gate([0.9] * 10, settings)] == [Phase.START]


def test_event_layer_keys_gestures_by_name_and_side():
    layer = EventLayer(GateSettings())
    events = layer.step({("fist", Side.LEFT): 0.9, ("fist", Side.RIGHT): 0.9, ("clap", None): 0.2}, 0.0)
    assert [(e.name, e.side, e.phase) for e in events] == [
        ("fist", Side.LEFT, Phase.START), ("fist", Side.RIGHT, Phase.START)
    ]
    assert layer.step({}, 1.0) == []  # gone, but release_s (0.15 s) not yet over
    ended = {(e.name, e.side, e.phase) for e in layer.step({}, 1.2)}
    assert ended == {("fist", Side.LEFT, Phase.END), ("fist", Side.RIGHT, Phase.END)}


# --- synthetic bodies -----------------------------------------------------------------------

REST = {  # body coordinates (u right, v up, shoulder widths) of a visitor standing at rest
    PoseLandmark.NOSE: (0.0, 0.6), PoseLandmark.LEFT_SHOULDER: (-0.5, 0.0), PoseLandmark.RIGHT_SHOULDER: (0.5, 0.0),
    PoseLandmark.LEFT_ELBOW: (-0.6, -0.8), PoseLandmark.RIGHT_ELBOW: (0.6, -0.8),
    PoseLandmark.LEFT_WRIST: (-0.6, -1.6), PoseLandmark.RIGHT_WRIST: (0.6, -1.6),
    PoseLandmark.LEFT_HIP: (-0.35, -1.5), PoseLandmark.RIGHT_HIP: (0.35, -1.5),
    PoseLandmark.LEFT_KNEE: (-0.35, -2.7), PoseLandmark.RIGHT_KNEE: (0.35, -2.7),
}


def to_image(u: float, v: float, mirrored: bool) -> tuple[float, float]:
    """Body coordinates -> normalised image coordinates of a visitor facing the camera."""
    sign = 1.0 if mirrored else -1.0  # unmirrored: the visitor's right is the image's left
    x = SHOULDER_MID[0] + sign * u * SHOULDER_WIDTH
    y = SHOULDER_MID[1] - v * SHOULDER_WIDTH
    return x / ASPECT, y


def body(t: float, mirrored: bool = False, hands: dict[Side, np.ndarray] | None = None, **joints) -> TrackedBody:
    """A TrackedBody at time t: REST with some joints moved (name=(u, v)), and hands given as
    (21, 2) keypoint rows placed at their wrists."""
    places = {**REST, **{PoseLandmark[name.upper()]: uv for name, uv in joints.items()}}
    pose = np.zeros((33, 4))
    pose[:, :2] = to_image(0.0, 0.3, mirrored)
    pose[:, 3] = 1.0
    for landmark, (u, v) in places.items():
        pose[landmark, :2] = to_image(u, v, mirrored)
    parts = {}
    for side, row in (hands or {}).items():
        wrist = pose[PoseLandmark.LEFT_WRIST if side is Side.LEFT else PoseLandmark.RIGHT_WRIST, :2]
        hand = np.zeros((21, 3))
        hand[:, 0] = wrist[0] + row[:, 0] * 0.12 / ASPECT
        hand[:, 1] = wrist[1] + row[:, 1] * 0.12
        parts[side] = hand
    empty = np.zeros((0, 3))
    return TrackedBody(t, pose, parts.get(Side.LEFT, empty), parts.get(Side.RIGHT, empty), 1.0,
                       float(Side.LEFT in parts), float(Side.RIGHT in parts))


@pytest.fixture(scope="module")
def shapes(media) -> dict[str, np.ndarray]:
    """A real hand (21, 2) of each keypoint.csv class that the built-in rules read confidently."""
    rows = np.loadtxt(media / "gestures" / "keypoint.csv", delimiter=",")
    wanted = {0: HandShape.OPEN_PALM, 1: HandShape.FIST, 2: HandShape.POINTING}
    found = {}
    for row in rows:
        shape = wanted.get(int(row[0]))
        hand = row[1:].reshape(21, 2)
        if shape is not None and shape.value not in found and best_shape(hand) == (shape, 1.0):
            found[shape.value] = hand
    return found


def recognise(bodies: list[TrackedBody], mirrored: bool = False, **settings) -> list:
    recognizer = GestureRecognizer(replace(GesturesConfig(), **settings), ASPECT, mirrored)
    return [event for b in bodies for event in recognizer.update(b, b.timestamp_s)]


def starts(events: list) -> list[tuple[str, Side | None]]:
    return [(e.name, e.side) for e in events if e.phase is Phase.START]


def test_a_held_open_palm_fires_once_through_tracker_dropouts(shapes):
    frames = []
    for i in range(90):  # 3 s; the hand tracker loses the hand every 7th frame
        seen = i % 7 != 3
        frames.append(body(i / FPS, right_wrist=(0.7, 0.2), right_elbow=(0.7, -0.6),
                           hands={Side.RIGHT: shapes["open_palm"]} if seen else {}))
    frames += [body((90 + i) / FPS) for i in range(15)]
    events = recognise(frames)
    palm = [e for e in events if e.name == "open_palm"]
    assert [e.phase for e in palm if e.phase is not Phase.HOLD] == [Phase.START, Phase.END]
    assert palm[0].side is Side.RIGHT
    assert sum(e.phase is Phase.HOLD for e in palm) >= 4


def test_changing_hand_shape_ends_one_gesture_and_starts_the_next(shapes):
    frames = [body(i / FPS, left_wrist=(-0.7, 0.2), hands={Side.LEFT: shapes["fist"]}) for i in range(30)]
    frames += [body((30 + i) / FPS, left_wrist=(-0.7, 0.2), hands={Side.LEFT: shapes["pointing"]}) for i in range(30)]
    events = [(e.name, e.phase) for e in recognise(frames) if e.phase is not Phase.HOLD]
    # the new shape may start (after min_on_s) just before the old one ends (after release_s)
    assert events[0] == ("fist", Phase.START)
    assert sorted(events[1:]) == [("fist", Phase.END), ("pointing", Phase.START)]


def movement(path, seconds: float, mirrored: bool, side: str = "right", still_s: float = 1.0) -> list[TrackedBody]:
    """Bodies whose ``side`` wrist follows path(s) -> (u, v) for s in [0, 1] over ``seconds``,
    then stays still for ``still_s``."""
    frames = []
    total = int((seconds + still_s) * FPS)
    for i in range(total):
        s = min(i / (seconds * FPS), 1.0)
        u, v = path(s)
        frames.append(body(i / FPS, mirrored, **{f"{side}_wrist": (u, v), f"{side}_elbow": (u * 0.6, v * 0.5 - 0.4)}))
    return frames


DYNAMIC = {movement.value for movement in Movement}


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize(
    ("expected", "path"),
    [
        ("swipe_right", lambda s: (0.2 + 1.3 * s, -0.2)),
        ("swipe_left", lambda s: (1.5 - 1.3 * s, -0.2)),
        ("swipe_up", lambda s: (0.8, -0.6 + 1.6 * s)),
        ("swipe_down", lambda s: (0.8, 1.0 - 1.6 * s)),
    ],
)
def test_a_swipe_fires_once_in_the_visitors_own_direction(expected, path, mirrored):
    events = recognise(movement(path, 0.3, mirrored), mirrored)
    assert [(name, side) for name, side in starts(events) if name in DYNAMIC] == [(expected, Side.RIGHT)]


def test_lowering_the_arm_to_rest_is_not_a_swipe():
    events = recognise(movement(lambda s: (0.6, 0.9 - 2.5 * s), 0.4, False))
    assert not [name for name, _ in starts(events) if name.startswith("swipe")]


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize(("expected", "direction"), [("circle_clockwise", -1.0), ("circle_anticlockwise", 1.0)])
def test_a_circle_fires_once_with_its_direction_as_the_visitor_sees_it(expected, direction, mirrored):
    def path(s: float) -> tuple[float, float]:
        angle = direction * 2.0 * math.pi * 1.5 * s  # one and a half turns
        return 0.8 + 0.35 * math.cos(angle), 0.1 + 0.35 * math.sin(angle)

    events = recognise(movement(path, 1.5, mirrored), mirrored)
    assert [name for name, _ in starts(events) if name in DYNAMIC] == [expected]


def test_a_wave_fires_once_and_no_swipes():
    events = recognise(movement(lambda s: (0.8 + 0.3 * math.sin(2.0 * math.pi * 4.0 * s), 0.4), 2.0, False))
    assert [name for name, _ in starts(events) if name in DYNAMIC] == ["wave"]


def test_a_clap_fires_once():
    frames = []
    for i in range(int(1.2 * FPS)):
        s = min(i / (0.25 * FPS), 1.0)
        u = 0.9 - 0.82 * s
        frames.append(body(i / FPS, left_wrist=(-u, -0.4), right_wrist=(u, -0.4),
                           left_elbow=(-0.7, -0.7), right_elbow=(0.7, -0.7)))
    events = recognise(frames)
    assert [name for name, _ in starts(events) if name in DYNAMIC] == ["clap"]
    assert ("clap", None) in starts(events) and ("hands_together", None) in starts(events)


POSES = {
    "arms_up": dict(left_wrist=(-0.6, 1.4), right_wrist=(0.6, 1.4), left_elbow=(-0.6, 0.7), right_elbow=(0.6, 0.7)),
    "t_pose": dict(left_wrist=(-1.9, 0.0), right_wrist=(1.9, 0.0), left_elbow=(-1.2, 0.0), right_elbow=(1.2, 0.0)),
    "hands_together": dict(left_wrist=(-0.05, -0.5), right_wrist=(0.05, -0.5),
                           left_elbow=(-0.5, -0.8), right_elbow=(0.5, -0.8)),
    "crouch": dict(left_knee=(-0.4, -1.6), right_knee=(0.4, -1.6)),
}


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("pose", sorted(POSES))
def test_a_held_body_pose_fires_once(pose, mirrored):
    frames = [body(i / FPS, mirrored) for i in range(15)]
    frames += [body((15 + i) / FPS, mirrored, **POSES[pose]) for i in range(60)]
    frames += [body((75 + i) / FPS, mirrored) for i in range(30)]
    events = [e for e in recognise(frames, mirrored) if e.name in POSES]
    assert [(e.name, e.phase) for e in events if e.phase is not Phase.HOLD] == [
        (pose, Phase.START), (pose, Phase.END)
    ]


def test_standing_at_rest_or_nobody_fires_nothing():
    frames = [body(i / FPS) for i in range(60)] + [TrackedBody.nobody((60 + i) / FPS) for i in range(30)]
    assert recognise(frames) == []


def test_disabled_recogniser_and_time_passed_in():
    frames = [body(i / FPS, **POSES["arms_up"]) for i in range(30)]
    assert recognise(frames, enabled=False) == []
    events = recognise(frames)
    assert events and all(e.t in {b.timestamp_s for b in frames} for e in events)
