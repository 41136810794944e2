"""The peers' own message layouts: what a tool written for cansik/mediapipe-osc or for Wekinator
expects to read, byte for byte (tests/test_osc_profiles.py holds golden datagrams of each).

- cansik/mediapipe-osc (README "Format", pose.py, hands.py): every frame ``/mediapipe/pose`` is
  ``count`` (int32, 0 or 1) followed by 33 × (x, y, z, visibility) float32; with nobody there the
  message is the single int ``0``. ``/mediapipe/hands`` likewise: ``count`` then 21 × (x, y, z,
  visibility) per hand. MediaPipe Hands leaves a hand landmark's visibility at 0.0, so we send 0.0.
- Wekinator: ``/wek/inputs`` float32 × inputs to port 6448; its outputs come back as
  ``/wek/outputs`` float32 × outputs on port 12000 (see ``osc.wekinator_listen``).
"""

from __future__ import annotations

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.contracts import Side, TrackedBody

MEDIAPIPE_POSE, MEDIAPIPE_HANDS = "/mediapipe/pose", "/mediapipe/hands"
WEKINATOR_INPUTS = "/wek/inputs"


def _floats(path: str, head: tuple[int, ...], values: np.ndarray) -> bytes:
    """One message: ``head`` as int32s, then ``values`` as float32s."""
    builder = OscMessageBuilder(address=path)
    for count in head:
        builder.add_arg(int(count), "i")
    for value in np.asarray(values, np.float32).reshape(-1):
        builder.add_arg(float(value), "f")
    return builder.build().dgram


def mediapipe_osc_datagrams(body: TrackedBody) -> list[bytes]:
    """This frame's ``/mediapipe/pose`` and ``/mediapipe/hands`` datagrams, as mediapipe-osc sends
    them (both every frame, ``0`` alone when nothing is seen)."""
    pose = body.pose  # (33, 4) x y z visibility, or (0, 4)
    datagrams = [_floats(MEDIAPIPE_POSE, (1,), pose) if pose.shape[0] else _floats(MEDIAPIPE_POSE, (0,), np.empty(0))]
    hands = [body.hand(side) for side in Side if body.hand(side).shape[0]]  # each (21, 3)
    with_visibility = [np.concatenate([hand, np.zeros((hand.shape[0], 1), np.float32)], axis=1) for hand in hands]
    values = np.concatenate(with_visibility) if hands else np.empty(0, np.float32)
    datagrams.append(_floats(MEDIAPIPE_HANDS, (len(hands),), values))
    return datagrams


def wekinator_inputs_datagram(features: np.ndarray) -> bytes:
    """``/wek/inputs`` with the feature vector as float32s, as Wekinator's example inputs send it."""
    return _floats(WEKINATOR_INPUTS, (), features)


def mapped_messages(mapped: dict[str, dict[str, float]]) -> list[tuple[str, float]]:
    """(``/mapped/<name>/<output>``, value) for every taught mapping's outputs, names in sorted
    order so that a receiver sees the same order every frame."""
    return [(f"/mapped/{name}/{output}", float(value))
            for name in sorted(mapped) for output, value in mapped[name].items()]
