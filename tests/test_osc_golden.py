"""Golden datagrams: the exact bytes of a known frame's OSC bundle, written out by hand from the
OSC 1.0 specification (as python-osc's own tests do), so that any change to what the sound
system receives (an address, a type, an order, a padding) shows here as a failing byte."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from installation.config import load_config
from installation.contracts import LatentState, Observation, TrackedBody
from installation.feature_specs import Features
from installation.osc.sender import OscSender
from installation.report import FrameReport, RuntimeStatus


def padded(text: str) -> bytes:
    """An OSC-string: ASCII, NUL-terminated, padded with NULs to a multiple of 4 bytes."""
    raw = text.encode("ascii") + b"\0"
    return raw + b"\0" * (-len(raw) % 4)


def osc_message(address: str, *args: int | float | str) -> bytes:
    tags = "," + "".join("i" if isinstance(a, int) else "s" if isinstance(a, str) else "f" for a in args)
    body = b"".join(struct.pack(">i", a) if isinstance(a, int) else padded(a) if isinstance(a, str)
                    else struct.pack(">f", a) for a in args)
    return padded(address) + padded(tags) + body


def osc_bundle(time_tag: bytes, *elements: bytes) -> bytes:
    """"#bundle", the 64-bit time tag, then each element preceded by its int32 size."""
    return padded("#bundle") + time_tag + b"".join(struct.pack(">i", len(e)) + e for e in elements)


IMMEDIATELY = struct.pack(">Q", 1)  # the time tag "now": seconds 0, fraction 1

KNOWN_Z = np.array([0.5, -1.0, 2.0, 0.25, 3.0], np.float32)  # five values: /latent carries the norm and four


def known_frame(**changes) -> FrameReport:
    report = FrameReport(
        t=2.5, observation=None, body=TrackedBody.nobody(2.5), features=Features.neutral(),
        state=LatentState(z=KNOWN_Z), scene="dream_drift", beat_phase=0.5, tempo_bpm=120.0,
        status=RuntimeStatus(30.0, 40.0, "dream_drift", 0.0, 10.0, 7, {}),
    )
    return dataclasses.replace(report, **changes)


def sender(**send) -> OscSender:
    config = dataclasses.replace(load_config().osc, send_features=False, **send)
    return OscSender(config, targets=())


def test_a_known_frame_makes_exactly_these_bytes() -> None:
    norm = float(np.linalg.norm(KNOWN_Z.astype(np.float64)))
    expected = osc_bundle(
        IMMEDIATELY,  # no observation behind this frame: no capture time to tag it with
        osc_message("/frame", 6, -1, 2.5, 2.5),  # render index, source frame (none), media time, capture time
        osc_message("/presence", 0.0, 0),
        osc_message("/scene", "dream_drift"),
        osc_message("/latent", norm, 0.5, -1.0, 2.0, 0.25),
        osc_message("/beat", 0.5, 120.0),
    )
    assert sender().bundle(known_frame()) == expected


def test_taught_outputs_and_the_follow_messages_have_their_own_exact_bytes() -> None:
    frame = known_frame(mapped={"arms": {"out0": 0.25}}, beat_phase=None)
    got = sender(send_presence=False, send_scene=False, send_latent=False, lead=True).bundle(frame)
    expected = osc_bundle(
        IMMEDIATELY,
        osc_message("/frame", 6, -1, 2.5, 2.5),
        osc_message("/mapped/arms/out0", 0.25),  # no /beat while no tempo phase is known
        osc_message("/follow/scene", "dream_drift"),
        osc_message("/follow/latent", *(float(v) for v in KNOWN_Z)),
        osc_message("/follow/beat", -1.0),
    )
    assert got == expected


def test_a_frame_with_an_observation_is_tagged_with_its_capture_and_source_frame() -> None:
    observation = Observation(frame_index=41, timestamp_s=2.4, wall_s=0.0, pose=np.zeros((0, 4), np.float32),
                              hands=())
    got = sender(send_presence=False, send_scene=False, send_latent=False, send_beat=False).bundle(
        known_frame(observation=observation))
    assert got[:8] == padded("#bundle") and got[8:16] != IMMEDIATELY  # a real time tag
    assert got[16:] == struct.pack(">i", 32) + osc_message("/frame", 6, 41, 2.5, 2.4)
