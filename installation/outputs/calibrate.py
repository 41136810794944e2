"""``python main.py calibrate outputs VENUE``: align several projectors by eye.

Every output shows the test pattern (installation/test_pattern.py) through its own crop, blend and
warp, in the same spanning window the show uses. Keys:

    Tab            next output                 1 2 3 4   corner: top-left, top-right, bottom-right, bottom-left
    arrows         move the corner 1 pixel     Shift+arrows  10 pixels
    S              save the corners into the venue file     Esc   quit (unsaved moves are lost)

``CornerEditor`` is the logic without a window; ``--keys`` feeds it a list of key names headless
(tests, or a scripted nudge: ``--keys tab,2,right,right,s``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from calibration.venue import Venue, load_venue, save_venue
from installation.outputs.layout import Layout
from installation.test_pattern import alignment_grid

log = logging.getLogger(__name__)

STEPS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
SHIFT_STEP_PX = 10
MARKER = (255, 220, 0)  # the selected corner's ring


class CornerEditor:
    """The venue's outputs with one output and one corner selected; keys move the corner."""

    def __init__(self, venue: Venue) -> None:
        if not venue.outputs:
            raise ValueError("the venue has no [[outputs]] tables")
        self.venue, self.output, self.corner = venue, 0, 0
        self.layout = Layout(venue.outputs)
        self.saved = True

    def press(self, key: str, shift: bool = False) -> bool:
        """Apply one key ("tab", "1".."4", "left", "right", "up", "down"); returns whether the corners moved."""
        if key == "tab":
            self.output = (self.output + 1) % len(self.venue.outputs)
        elif key in ("1", "2", "3", "4"):
            self.corner = int(key) - 1
        elif key in STEPS:
            self._move(STEPS[key], SHIFT_STEP_PX if shift else 1)
            return True
        return False

    def _move(self, direction: tuple[int, int], pixels: int) -> None:
        spec = self.venue.outputs[self.output]
        corners = [list(c) for c in spec.corners]
        corners[self.corner][0] += direction[0] * pixels / spec.size[0]
        corners[self.corner][1] += direction[1] * pixels / spec.size[1]
        outputs = list(self.venue.outputs)
        outputs[self.output] = replace(spec, corners=tuple(tuple(c) for c in corners))
        self.venue = replace(self.venue, outputs=tuple(outputs))
        self.layout = Layout(self.venue.outputs)  # warp maps rebuilt: a key press, not a frame
        self.saved = False

    def frames(self) -> list[np.ndarray]:
        """Each output's frame of the test pattern, the selected corner ringed."""
        width, height = self.layout.picture_size
        pattern = cv2.resize(alignment_grid(max(width, height)), (width, height), interpolation=cv2.INTER_AREA)
        frames = [frame.copy() for frame in self.layout.render(pattern)]
        spec = self.venue.outputs[self.output]
        x, y = spec.corners[self.corner]
        centre = (round(x * spec.size[0]), round(y * spec.size[1]))
        cv2.circle(frames[self.output], centre, max(8, spec.size[1] // 40), MARKER, 2)
        return frames


def run_calibration(path: Path, keys: list[str] | None = None) -> Venue:
    """Align the outputs of the venue file at ``path``; with ``keys``, headless. Returns the venue
    as last saved. Raises CalibrationError for a bad file, DisplayError when no window opens."""
    editor = CornerEditor(load_venue(path))
    if keys is not None:
        for key in keys:
            if key == "s":
                save_venue(editor.venue, path)
                editor.saved = True
            else:
                editor.press(key.removeprefix("shift+"), shift=key.startswith("shift+"))
        editor.frames()  # the same rendering the window shows, so a bad warp fails here too
        return load_venue(path)
    return _interactive(editor, path)


def _interactive(editor: CornerEditor, path: Path) -> Venue:
    import pygame

    from installation.config import DisplayConfig
    from installation.outputs.multi_display import LayoutWindow

    window = LayoutWindow(DisplayConfig(title="calibrate outputs"), editor.layout.window_size)
    canvas = np.zeros((editor.layout.window_size[1], editor.layout.window_size[0], 3), np.uint8)
    names = {pygame.K_TAB: "tab", pygame.K_LEFT: "left", pygame.K_RIGHT: "right", pygame.K_UP: "up",
             pygame.K_DOWN: "down", pygame.K_1: "1", pygame.K_2: "2", pygame.K_3: "3", pygame.K_4: "4"}
    try:
        while True:
            window.present(editor.layout.compose_window(editor.frames(), canvas), [])
            event = pygame.event.wait()
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                if not editor.saved:
                    log.warning("quit without saving the moved corners")
                return load_venue(path)
            if event.type == pygame.KEYDOWN and event.key == pygame.K_s:
                save_venue(editor.venue, path)
                editor.saved = True
            elif event.type == pygame.KEYDOWN and event.key in names:
                editor.press(names[event.key], shift=bool(event.mod & pygame.KMOD_SHIFT))
    finally:
        window.close()
