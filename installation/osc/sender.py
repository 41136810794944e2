"""OSC out: one bundle per rendered frame to every target, plus the Wekinator and mediapipe-osc
profiles. A frame listener: it runs on the loop's thread, so it only builds bytes and calls
``sendto`` (non-blocking UDP); a target that fails is counted and skipped, never raised."""

from __future__ import annotations

import collections
import logging
import socket
import time
from typing import Any

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from installation.audience.crowd import OscSlots
from installation.clock import wall_s
from installation.config import OscConfig
from installation.contracts import Side
from installation.feature_specs import FEATURE_SPECS
from installation.osc.faceosc import faceosc_datagram
from installation.osc.profiles import mapped_messages, mediapipe_osc_datagrams, wekinator_inputs_datagram
from installation.osc.receiver import parse_endpoint
from installation.report import FrameReport

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, (float, np.floating)) else value


def message(path: str, values: Any = ()) -> OscMessageBuilder:
    """A message whose numbers are all sent as 32-bit floats unless they are Python ints."""
    builder = OscMessageBuilder(address=path)
    for value in values:
        if isinstance(value, (bool, np.bool_)):
            builder.add_arg(bool(value))
        elif isinstance(value, (int, np.integer)):
            builder.add_arg(int(value), "i")
        elif isinstance(value, str):
            builder.add_arg(value, "s")
        else:
            builder.add_arg(float(value), "f")
    return builder


class OscSender:
    """Sends what happened in each frame. Built from ``[osc]``; ``targets`` override the config."""

    def __init__(self, config: OscConfig, targets: tuple[str, ...] | None = None, person_slots: int = 0) -> None:
        """``person_slots``: with several visitors, the fixed ``/person/<slot>`` slots of each bundle."""
        self.config = config
        self.targets = [parse_endpoint(t) for t in (config.targets if targets is None else targets)]
        self.wekinator = parse_endpoint(config.wekinator) if config.wekinator else None
        self.mediapipe_osc = parse_endpoint(config.mediapipe_osc) if config.mediapipe_osc else None
        self.faceosc = parse_endpoint(config.faceosc) if config.faceosc else None
        self.counters: collections.Counter = collections.Counter()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # broadcast targets
        self._socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # multicast stays local
        self._socket.setblocking(False)
        self._min_interval = 1.0 / config.max_rate_hz
        self._last_sent_t = -float("inf")
        self._pending_gestures: list = []
        self._pending_zone_events: list = []
        self._slots = OscSlots(person_slots) if person_slots else None  # a visitor keeps a slot while tracked
        self.last_messages: list[list] = []  # [address, *values] of the last frame's bundle (recorder)

    def on_frame(self, report: FrameReport) -> None:
        self._pending_gestures.extend(getattr(report, "gestures", ()))
        self._pending_zone_events.extend(report.zone_events)
        self.last_messages = []
        if report.t - self._last_sent_t < self._min_interval - 1e-9:
            self.counters["frames_skipped"] += 1  # over the rate limit; gestures wait for the next bundle
            return
        self._last_sent_t = report.t
        if self.targets:
            bundle = self.bundle(report)
            for target in self.targets:
                self._send(bundle, target)
        if self.wekinator is not None:
            self._send(wekinator_inputs_datagram(report.features.as_vector()), self.wekinator)
        if self.mediapipe_osc is not None:
            for datagram in mediapipe_osc_datagrams(report.body):
                self._send(datagram, self.mediapipe_osc)
        face = getattr(report.observation, "face", None)
        if self.faceosc is not None and face is not None:  # FaceOSC: one bundle per camera frame read
            self._send(faceosc_datagram(face), self.faceosc)
        self._pending_gestures.clear()
        self._pending_zone_events.clear()

    def bundle(self, report: FrameReport) -> bytes:
        """The frame's bundle, time-tagged with the capture time of the frame behind it."""
        observation = report.observation
        builder = OscBundleBuilder(self._time_tag(report))
        render_index = report.status.frames - 1 if report.status is not None else -1
        source = observation.frame_index if observation is not None else -1
        capture = observation.timestamp_s if observation is not None else report.t
        for part in self._messages(report, render_index, source, capture):
            builder.add_content(part.build())
            self.last_messages.append([part.address, *(_plain(value) for _, value in part.args)])
        self.counters["bundles"] += 1
        return builder.build().dgram

    def _messages(self, report: FrameReport, render_index: int, source: int, capture: float) -> list[OscMessageBuilder]:
        config, body = self.config, report.body
        parts = [message("/frame", (render_index, source, report.t, capture))]
        if config.send_presence:
            parts.append(message("/presence", (report.features.presence, persons_tracked(report))))
        if config.send_pose and body.pose.shape[0]:
            parts.append(message("/pose", body.pose.reshape(-1)))
        if config.send_hands:
            for side in Side:
                hand = body.hand(side)
                if hand.shape[0]:
                    parts.append(message(f"/hand/{side.value}", (body.hand_presence(side), *hand.reshape(-1))))
        if config.send_features:
            values = report.features.as_vector()
            parts += [message(f"/feature/{spec.name}", (value,)) for spec, value in zip(FEATURE_SPECS, values)]
            parts.append(message("/features", values))
        if config.send_gestures:
            for event in self._pending_gestures:
                side = event.side.value if event.side is not None else ""
                parts.append(message("/gesture", (event.name, event.phase.value, side, event.confidence)))
        if config.send_presence:
            parts += [message("/zone", (e.zone, e.person_id, e.kind)) for e in self._pending_zone_events]
            parts += self._person_slots(report.audience)
        face = getattr(report.observation, "face", None)
        if config.send_face and face is not None:
            parts.append(message("/face", (int(face.found), face.x, face.y, face.size, face.mouth_open, face.smile,
                                           face.brows_raised, face.eyes_open, face.yaw, face.pitch, face.roll)))
        if config.send_scene:
            parts.append(message("/scene", (report.scene,)))
        if config.send_latent:
            z = report.state.z.astype(np.float64)
            parts.append(message("/latent", (float(np.linalg.norm(z)), *np.resize(z, 4))))
        if config.send_mapped:
            parts += [message(path, (value,)) for path, value in mapped_messages(report.mapped)]
        if config.send_beat and report.beat_phase is not None:
            parts.append(message("/beat", (report.beat_phase, report.tempo_bpm or 0.0)))
        if config.send_audio and report.audio is not None:
            parts += audio_messages(report.audio)
        if config.lead:
            parts.append(message("/follow/scene", (report.scene,)))
            parts.append(message("/follow/latent", report.state.z))
            parts.append(message("/follow/beat", (report.beat_phase if report.beat_phase is not None else -1.0,)))
        return parts

    def _person_slots(self, audience: object | None) -> list[OscMessageBuilder]:
        if audience is None or self._slots is None:
            return []
        return [message(address, values) for address, values in self._slots.messages(audience)]

    @staticmethod
    def _time_tag(report: FrameReport) -> float:
        """Capture time on the system clock (seconds since the epoch), as OSC time tags expect."""
        if report.observation is None:
            return IMMEDIATELY
        return time.time() - (wall_s() - report.observation.wall_s)

    def _send(self, datagram: bytes, target: tuple[str, int]) -> None:
        try:
            self._socket.sendto(datagram, target)
            self.counters["datagrams_sent"] += 1
        except OSError as error:  # unreachable host, full buffer: count it, the show goes on
            self.counters["send_failed"] += 1
            if self.counters["send_failed"] in (1, 10, 100) or self.counters["send_failed"] % 1000 == 0:
                log.warning("OSC to %s:%d failed: %s", target[0], target[1], error)

    def close(self) -> None:
        self._socket.close()


def persons_tracked(report: FrameReport) -> int:
    """The people tracked at this frame: everyone with an id in the audience when several visitors
    are followed, else 1 while the visitor's pose is seen (``/presence``'s second value)."""
    people = getattr(report.audience, "people", None)
    if people is not None:
        return sum(1 for person in people if person.confirmed)
    return int(report.body.pose.shape[0] > 0)


def audio_messages(audio: object) -> list[OscMessageBuilder]:
    """/audio/* for one frame's AudioFeatures: level and bands always, onset and tempo when there."""
    parts = [message("/audio/level", (audio.level,)), message("/audio/bands", audio.bands)]
    if audio.onset:
        parts.append(message("/audio/onset", (audio.onset_strength,)))
    if audio.tempo_bpm is not None:
        parts.append(message("/audio/tempo", (audio.tempo_bpm,)))
    return parts
