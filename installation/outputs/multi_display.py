"""The display stage for several outputs: the picture composed once at the layout's size (as
the single window composes it), cut into each output's blended, warped frame, then shown in one
borderless window spanning the displays (each output at its ``at``) or, headless, handed to one
sink per output. The two back-ends share everything but the last step, so tests run the kiosk's code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pygame

from installation.config import DisplayConfig
from installation.control import ControlCommand
from installation.display import QUIT, TOGGLE_OVERLAY, TOGGLE_RECORD, Compositor, DisplayError, FrameSink, Pacer, open_sink
from installation.outputs.layout import Layout
from installation.overlay import Hud

log = logging.getLogger(__name__)


def surface_pixels(surface: pygame.Surface) -> np.ndarray:
    """A (H, W, 3) RGB copy of ``surface``."""
    width, height = surface.get_size()
    return np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8).reshape(height, width, 3)


class LayoutWindow:
    """Back-end: one borderless window as large as all outputs together, placed at the top-left
    of the desktop (SDL_VIDEO_WINDOW_POS), so that output ``at`` = (1920, 0) lands on the display
    right of the first one. One window rather than one per display: pygame opens only one, and
    a spanning window keeps the outputs on the same vsync."""

    def __init__(self, config: DisplayConfig, size: tuple[int, int]) -> None:
        os.environ.setdefault("SDL_VIDEO_WINDOW_POS", "0,0")
        try:
            pygame.display.init()
            self.screen = pygame.display.set_mode(size, pygame.NOFRAME)
        except pygame.error as error:
            raise DisplayError(f"no display available for a {size[0]}x{size[1]} spanning window ({error})") from None
        pygame.display.set_caption(config.title)
        pygame.mouse.set_visible(False)
        self.quit_key = config.quit_key

    def present(self, window_rgb: np.ndarray, frames: list[np.ndarray]) -> list[ControlCommand]:
        pygame.surfarray.blit_array(self.screen, window_rgb.swapaxes(0, 1))  # surfarray is (W, H, 3)
        pygame.display.flip()
        commands = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                                             and self.quit_key):
                commands.append(QUIT)
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_h:
                commands.append(TOGGLE_OVERLAY)
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_r:
                commands.append(TOGGLE_RECORD)
        return commands

    def close(self) -> None:
        pygame.display.quit()


class LayoutSinks:
    """Headless back-end: each output's frames to its own sink (``out/<name>/`` PNGs, or
    ``out/<name>.mp4`` when ``out`` ends in .mp4), or nowhere. Keeps the last frames for tests."""

    def __init__(self, layout: Layout, out: str | None, fps: float) -> None:
        self.sinks: list[FrameSink] = []
        for spec in layout.specs:
            target = None
            if out is not None:
                base = Path(out)
                target = str(base.with_name(f"{base.stem}_{spec.name}.mp4")) if base.suffix == ".mp4" \
                    else str(base / spec.name)
            self.sinks.append(open_sink(target, spec.size, fps))
        self.last_frames: list[np.ndarray] = []

    def present(self, window_rgb: np.ndarray, frames: list[np.ndarray]) -> list[ControlCommand]:
        for sink, frame in zip(self.sinks, frames):
            sink.write(frame)
        self.last_frames = frames
        return []

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


class LayoutDisplay:
    """A Display (see installation/display.py) that feeds every output of ``layout``."""

    def __init__(self, layout: Layout, fit: str, backend: LayoutWindow | LayoutSinks,
                 pace_fps: float | None = None) -> None:
        pygame.font.init()
        self.layout, self.backend = layout, backend
        self.compositor = Compositor(layout.picture_size, fit)  # the picture at the size the outputs want
        self._window = np.zeros((layout.window_size[1], layout.window_size[0], 3), np.uint8)
        self._pacer = Pacer(pace_fps) if pace_fps else None
        self.picture: np.ndarray | None = None  # the last composed picture, before cutting

    def show(self, image_rgb: np.ndarray, hud: Hud | None, recording: bool = False) -> list[ControlCommand]:
        self.picture = surface_pixels(self.compositor.compose(image_rgb, hud, recording))
        frames = self.layout.render(self.picture)
        window = self.layout.compose_window(frames, self._window) if isinstance(self.backend, LayoutWindow) else None
        return self.backend.present(window, frames)

    def pace(self, idle: Callable[[float], None], wall: Callable[[], float]) -> None:
        if self._pacer is not None:
            self._pacer.wait(idle, wall)

    def close(self) -> None:
        self.backend.close()
