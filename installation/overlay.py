"""The H overlay: a small camera inset with the skeleton and hand landmarks, the venue's zones and
the visitors' ids (the primary participant highlighted), and the numbers an installer needs (fps,
per-stage times, end-to-end latency)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import pygame

from installation.contracts import HandLandmark as H
from installation.contracts import PoseLandmark as P
from installation.contracts import TrackedBody

POSE_BONES = (
    (P.LEFT_SHOULDER, P.RIGHT_SHOULDER), (P.LEFT_SHOULDER, P.LEFT_ELBOW), (P.LEFT_ELBOW, P.LEFT_WRIST),
    (P.RIGHT_SHOULDER, P.RIGHT_ELBOW), (P.RIGHT_ELBOW, P.RIGHT_WRIST), (P.LEFT_SHOULDER, P.LEFT_HIP),
    (P.RIGHT_SHOULDER, P.RIGHT_HIP), (P.LEFT_HIP, P.RIGHT_HIP), (P.LEFT_HIP, P.LEFT_KNEE),
    (P.LEFT_KNEE, P.LEFT_ANKLE), (P.RIGHT_HIP, P.RIGHT_KNEE), (P.RIGHT_KNEE, P.RIGHT_ANKLE),
    (P.NOSE, P.LEFT_EYE), (P.NOSE, P.RIGHT_EYE), (P.LEFT_EYE, P.LEFT_EAR), (P.RIGHT_EYE, P.RIGHT_EAR),
)
HAND_BONES = tuple(
    (a, b)
    for finger in (
        (H.WRIST, H.THUMB_CMC, H.THUMB_MCP, H.THUMB_IP, H.THUMB_TIP),
        (H.WRIST, H.INDEX_MCP, H.INDEX_PIP, H.INDEX_DIP, H.INDEX_TIP),
        (H.MIDDLE_MCP, H.MIDDLE_PIP, H.MIDDLE_DIP, H.MIDDLE_TIP),
        (H.RING_MCP, H.RING_PIP, H.RING_DIP, H.RING_TIP),
        (H.WRIST, H.PINKY_MCP, H.PINKY_PIP, H.PINKY_DIP, H.PINKY_TIP),
        (H.INDEX_MCP, H.MIDDLE_MCP, H.RING_MCP, H.PINKY_MCP),
    )
    for a, b in zip(finger, finger[1:])
)
POSE_COLOUR, LEFT_COLOUR, RIGHT_COLOUR = (255, 255, 255), (80, 220, 255), (255, 140, 60)
ZONE_COLOURS = {"interaction": (90, 230, 120), "event": (240, 210, 80)}
PERSON_COLOUR, PRIMARY_COLOUR = (200, 200, 200), (255, 80, 200)
MIN_VISIBILITY = 0.5


@dataclass(frozen=True)
class Hud:
    """What the overlay shows for one rendered frame."""

    camera_bgr: np.ndarray | None  # the newest perceived frame, or None before the first
    body: TrackedBody
    fps: float
    latency_ms: float
    stage_ms: dict[str, float] = field(default_factory=dict)
    source: str = ""
    zones: tuple = ()  # the venue's zones (calibration.zones.Zone), in camera coordinates
    audience: object | None = None  # with several visitors: the newest Audience (boxes, ids, primary)
    to_camera: Callable[[np.ndarray], np.ndarray] | None = None  # body landmarks in screen coordinates -> camera


class OverlayPainter:
    """Draws a Hud onto a surface. Fonts are loaded once, at set-up."""

    def __init__(self, surface_size: tuple[int, int]) -> None:
        pygame.font.init()
        width, _ = surface_size
        self.inset_width = max(96, width // 4)
        self.font = pygame.font.Font(None, max(14, width // 60))

    def draw(self, target: pygame.Surface, hud: Hud) -> None:
        if hud.camera_bgr is not None:
            self._draw_inset(target, hud)
        self._draw_text(target, hud)

    def _draw_inset(self, target: pygame.Surface, hud: Hud) -> None:
        height, width = hud.camera_bgr.shape[:2]
        inset_w = self.inset_width
        inset_h = max(1, round(height * inset_w / width))
        small = cv2.cvtColor(cv2.resize(hud.camera_bgr, (inset_w, inset_h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        inset = pygame.image.frombuffer(small.tobytes(), (inset_w, inset_h), "RGB")
        origin = (8, target.get_height() - inset_h - 8)
        target.blit(inset, origin)
        rect = pygame.Rect(origin, (inset_w, inset_h))
        pygame.draw.rect(target, (255, 255, 255), rect, 1)
        self._draw_zones(target, rect, hud.zones)
        self._draw_people(target, rect, hud.audience)
        self._draw_skeleton(target, rect, hud.body, hud.to_camera)

    def _draw_zones(self, target: pygame.Surface, rect: pygame.Rect, zones: tuple) -> None:
        for zone in zones:
            colour = ZONE_COLOURS.get(zone.role, ZONE_COLOURS["event"])
            corners = [(rect.x + int(x * rect.w), rect.y + int(y * rect.h)) for x, y in zone.points]
            pygame.draw.polygon(target, colour, corners, 1)
            target.blit(self.font.render(zone.name, True, colour), corners[0])

    def _draw_people(self, target: pygame.Surface, rect: pygame.Rect, audience: object | None) -> None:
        if audience is None:
            return
        for person in audience.people:
            x0, y0, x1, y1 = (float(v) for v in person.box)
            colour = PRIMARY_COLOUR if person.id == audience.primary_id else PERSON_COLOUR
            box = pygame.Rect(rect.x + int(x0 * rect.w), rect.y + int(y0 * rect.h),
                              max(1, int((x1 - x0) * rect.w)), max(1, int((y1 - y0) * rect.h)))
            pygame.draw.rect(target, colour, box, 2 if person.id == audience.primary_id else 1)
            target.blit(self.font.render(str(person.id), True, colour), (box.x + 2, box.y + 2))

    def _draw_skeleton(self, target: pygame.Surface, rect: pygame.Rect, body: TrackedBody,
                       to_camera: Callable[[np.ndarray], np.ndarray] | None) -> None:
        def to_px(point: np.ndarray) -> tuple[int, int]:
            return (rect.x + int(point[0] * rect.w), rect.y + int(point[1] * rect.h))

        if to_camera is not None:  # the body is in screen coordinates: draw it where the camera saw it
            body = dataclasses.replace(body, pose=_mapped(body.pose, to_camera),
                                       left_hand=_mapped(body.left_hand, to_camera),
                                       right_hand=_mapped(body.right_hand, to_camera))

        if body.pose.shape[0]:
            for a, b in POSE_BONES:
                if body.pose[a, 3] >= MIN_VISIBILITY and body.pose[b, 3] >= MIN_VISIBILITY:
                    pygame.draw.line(target, POSE_COLOUR, to_px(body.pose[a]), to_px(body.pose[b]), 2)
        for hand, colour in ((body.left_hand, LEFT_COLOUR), (body.right_hand, RIGHT_COLOUR)):
            if hand.shape[0]:
                for a, b in HAND_BONES:
                    pygame.draw.line(target, colour, to_px(hand[a]), to_px(hand[b]), 1)
                for point in hand:
                    pygame.draw.circle(target, colour, to_px(point), 2)

    def _draw_text(self, target: pygame.Surface, hud: Hud) -> None:
        lines = [
            f"{hud.fps:5.1f} fps   latency {hud.latency_ms:5.1f} ms   presence {hud.body.pose_presence:.2f}",
            "  ".join(f"{name} {ms:.1f}" for name, ms in hud.stage_ms.items()) + "  (ms)",
            hud.source,
        ]
        y = 8
        for line in lines:
            text = self.font.render(line, True, (255, 255, 255), (0, 0, 0))
            target.blit(text, (8, y))
            y += text.get_height() + 2


def _mapped(points: np.ndarray, to_camera: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return to_camera(points) if points.shape[0] else points
