"""The interactive camera-to-screen picker (``calibrate screen --interactive``).

The window (full screen, on the display the piece uses) shows the live camera picture, dimmed,
and one bright marker at a time at a known place on the screen. The camera sees the screen, so
the marker also appears somewhere in the camera picture: the operator clicks it there. Each click
is a pair (camera point, screen point); after the last marker the pairs are fitted.

Keys: Backspace takes back the last click, Enter finishes early (with 4 or more pairs), Esc
cancels. The pure parts (marker places, window -> camera coordinates, pair collection) are
separate from the pygame shell ``pick_pairs`` so they are tested without a screen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

import cv2
import numpy as np

from calibration.errors import CalibrationError
from calibration.screen import MIN_PAIRS, ScreenFit, fit_homography

log = logging.getLogger(__name__)

Point = tuple[float, float]
DIM = 0.45  # the camera picture's brightness: the marker must be the brightest thing the camera sees


def marker_positions(grid: tuple[int, int] = (3, 3), margin: float = 0.1) -> tuple[Point, ...]:
    """Normalised screen places of ``grid`` (columns, rows) markers, row by row, ``margin`` from
    the edges. Raises CalibrationError for fewer than 4 markers or a margin outside 0..0.45."""
    cols, rows = grid
    if cols < 2 or rows < 2:
        raise CalibrationError(f"marker grid {cols}x{rows}: expected at least 2x2 (a homography needs 4 pairs)")
    if not 0.0 <= margin <= 0.45:
        raise CalibrationError(f"marker margin {margin!r}: expected 0..0.45 of the screen")
    xs = np.linspace(margin, 1.0 - margin, cols)
    ys = np.linspace(margin, 1.0 - margin, rows)
    return tuple((float(x), float(y)) for y in ys for x in xs)


def letterbox(frame_size: tuple[int, int], window_size: tuple[int, int]) -> tuple[float, int, int]:
    """How a frame fits the window, aspect kept: (scale, left, top) of the shown picture."""
    scale = min(window_size[0] / frame_size[0], window_size[1] / frame_size[1])
    left = (window_size[0] - round(frame_size[0] * scale)) // 2
    top = (window_size[1] - round(frame_size[1] * scale)) // 2
    return scale, left, top


def window_to_camera(pos: tuple[int, int], frame_size: tuple[int, int],
                     window_size: tuple[int, int]) -> Point | None:
    """A click at window pixel ``pos`` as a normalised camera point; None outside the picture."""
    scale, left, top = letterbox(frame_size, window_size)
    x = (pos[0] + 0.5 - left) / (frame_size[0] * scale)  # the click is the pixel's centre
    y = (pos[1] + 0.5 - top) / (frame_size[1] * scale)
    return (x, y) if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 else None


def camera_to_window(point: Point, frame_size: tuple[int, int], window_size: tuple[int, int]) -> tuple[int, int]:
    """The window pixel showing normalised camera ``point`` (the inverse of ``window_to_camera``)."""
    scale, left, top = letterbox(frame_size, window_size)
    return (int(left + point[0] * frame_size[0] * scale), int(top + point[1] * frame_size[1] * scale))


class PairCollector:
    """Pairs clicked so far: one camera point per marker, in marker order."""

    def __init__(self, markers: Iterable[Point]) -> None:
        self.markers = tuple(markers)
        self.clicks: list[Point] = []

    @property
    def current(self) -> Point | None:
        """The screen place of the marker to click next; None when every marker has its click."""
        return self.markers[len(self.clicks)] if len(self.clicks) < len(self.markers) else None

    @property
    def done(self) -> bool:
        return self.current is None

    def click(self, camera_point: Point) -> None:
        """Record where the current marker appears in the camera picture (ignored when done)."""
        if not self.done:
            self.clicks.append((float(camera_point[0]), float(camera_point[1])))

    def undo(self) -> None:
        """Forget the last click."""
        if self.clicks:
            self.clicks.pop()

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(camera, screen) points clicked so far, (N, 2) each, normalised."""
        count = len(self.clicks)
        return np.array(self.clicks, dtype=np.float64).reshape(count, 2), \
            np.array(self.markers[:count], dtype=np.float64).reshape(count, 2)

    def fit(self, screen_size: tuple[int, int], **mapping: object) -> ScreenFit:
        """Fit the clicked pairs (see ``fit_homography``; ``mapping`` passes mirror, flip, crop)."""
        camera, screen = self.pairs()
        return fit_homography(camera, screen, screen_size, **mapping)


def pick_pairs(source: object, collector: PairCollector, window_size: tuple[int, int] | None = None,
               script: Callable[[int], list] | None = None, max_frames: int | None = None) -> bool:
    """Run the picker window until every marker is clicked (or Enter with 4+); returns True then,
    False when cancelled (Esc, closing the window, ``max_frames`` reached or the source ending).

    ``source`` is an installation source (``latest()`` gives frames); ``window_size`` None means
    full screen. ``script(frame_number)`` returns pygame events to post first (tests).
    """
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame  # only the interactive tool needs a display

    pygame.display.init()  # not pygame.init(): no sound device is wanted
    pygame.font.init()
    try:
        flags = pygame.FULLSCREEN if window_size is None else 0
        window = pygame.display.set_mode(window_size or (0, 0), flags)
        pygame.display.set_caption("calibrate screen: click each marker where the camera sees it")
        font = pygame.font.Font(None, 32)
        clock = pygame.time.Clock()
        frame, number = None, 0
        while max_frames is None or number < max_frames:
            for event in script(number) if script else ():
                pygame.event.post(event)
            newest = source.latest()
            frame = newest.image_bgr if newest is not None else frame
            outcome = _handle_events(pygame, collector, frame, window.get_size())
            if outcome is not None:
                return outcome
            _draw(pygame, window, font, frame, collector)
            pygame.display.flip()
            clock.tick(30)
            number += 1
        return False
    finally:
        pygame.quit()


def _handle_events(pygame: object, collector: PairCollector, frame: np.ndarray | None,
                   window_size: tuple[int, int]) -> bool | None:
    """Apply the queued events; True = finished, False = cancelled, None = go on."""
    for event in pygame.event.get():
        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
            return False
        if event.type == pygame.KEYDOWN and event.key == pygame.K_BACKSPACE:
            collector.undo()
        elif event.type == pygame.KEYDOWN and event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            if len(collector.clicks) >= MIN_PAIRS:
                return True
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and frame is not None:
            point = window_to_camera(event.pos, (frame.shape[1], frame.shape[0]), window_size)
            if point is not None:
                collector.click(point)
                log.info("marker %d: camera (%.4f, %.4f)", len(collector.clicks), *point)
        if collector.done:
            return True
    return None


def _draw(pygame: object, window: object, font: object, frame: np.ndarray | None, collector: PairCollector) -> None:
    width, height = window.get_size()
    window.fill((0, 0, 0))
    if frame is not None:
        frame_size = (frame.shape[1], frame.shape[0])
        scale, left, top = letterbox(frame_size, (width, height))
        shown = cv2.resize(frame, (round(frame_size[0] * scale), round(frame_size[1] * scale)))
        rgb = cv2.cvtColor((shown * DIM).astype(np.uint8), cv2.COLOR_BGR2RGB)
        window.blit(pygame.image.frombuffer(rgb.tobytes(), (rgb.shape[1], rgb.shape[0]), "RGB"), (left, top))
        for click in collector.clicks:
            pygame.draw.circle(window, (0, 200, 0), camera_to_window(click, frame_size, (width, height)), 5)
    if collector.current is not None:
        centre = (int(collector.current[0] * width), int(collector.current[1] * height))
        radius = max(12, min(width, height) // 30)
        pygame.draw.circle(window, (255, 255, 255), centre, radius)
        pygame.draw.line(window, (0, 0, 0), (centre[0] - radius, centre[1]), (centre[0] + radius, centre[1]), 2)
        pygame.draw.line(window, (0, 0, 0), (centre[0], centre[1] - radius), (centre[0], centre[1] + radius), 2)
    text = (f"marker {len(collector.clicks) + 1} of {len(collector.markers)}: click it in the camera picture"
            "   Backspace: undo   Enter: finish (4+)   Esc: cancel")
    window.blit(font.render(text, True, (255, 255, 0)), (10, height - 30))
