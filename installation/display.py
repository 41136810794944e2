"""Display back-ends behind one interface: a pygame window (windowed or full screen) and a
headless one that writes the very same composed frames to PNG files, an MP4, or nowhere.

Both compose a frame the same way (``Compositor``): the generated image scaled to the output
(cover, contain or stretch) and, when on, the overlay. ``show`` returns the user's commands
(keys), which the loop applies like any other ``ControlCommand``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Protocol

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402

from installation.config import DisplayConfig  # noqa: E402
from installation.control import ControlCommand  # noqa: E402
from installation.errors import InstallationError  # noqa: E402
from installation.overlay import Hud, OverlayPainter  # noqa: E402

log = logging.getLogger(__name__)


class DisplayError(InstallationError):
    """No window can be opened, or an output file cannot be written."""


QUIT = ControlCommand("quit", origin="key")
TOGGLE_OVERLAY = ControlCommand("overlay", ("toggle",), origin="key")
TOGGLE_RECORD = ControlCommand("record", ("toggle",), origin="key")


class Display(Protocol):
    def show(self, image_rgb: np.ndarray, hud: Hud | None, recording: bool = False) -> list[ControlCommand]: ...

    def pace(self, idle: Callable[[float], None], wall: Callable[[], float]) -> None: ...

    def close(self) -> None: ...


class Pacer:
    """Frames at most ``fps`` a second. ``wait`` hands the time until the next one is due to
    ``idle(seconds)``, which may return early (the loop's is woken by a new observation: new
    content is drawn at once, and the next frame is due a whole period after it). ``wall`` is
    the loop's clock (``Clock.wall``), so a test drives the pacing without real waits."""

    def __init__(self, fps: float) -> None:
        self.period_s = 1.0 / fps
        self._last: float | None = None

    def wait(self, idle: Callable[[float], None], wall: Callable[[], float]) -> None:
        if self._last is not None:
            remaining = self._last + self.period_s - wall()
            if remaining > 0:
                idle(remaining)
        self._last = wall()


class Compositor:
    """Scales the generated image onto an output surface of fixed size, then draws the overlay."""

    def __init__(self, size: tuple[int, int], fit: str) -> None:
        self.size, self.fit = size, fit
        self.surface = pygame.Surface(size)  # allocated once, redrawn every frame
        self.painter = OverlayPainter(size)

    def resize(self, size: tuple[int, int]) -> None:
        if size != self.size:
            self.size, self.surface, self.painter = size, pygame.Surface(size), OverlayPainter(size)

    def compose(self, image_rgb: np.ndarray, hud: Hud | None, recording: bool = False) -> pygame.Surface:
        width, height = self.size
        cropped = _crop_for(image_rgb, width / height) if self.fit == "cover" else image_rgb
        if self.fit == "contain":
            scale = min(width / image_rgb.shape[1], height / image_rgb.shape[0])
            target = (max(1, round(image_rgb.shape[1] * scale)), max(1, round(image_rgb.shape[0] * scale)))
        else:
            target = (width, height)
        enlarging = target[0] > cropped.shape[1]  # bicubic: a painting enlarged keeps crisper strokes, at linear's cost
        scaled = cv2.resize(cropped, target, interpolation=cv2.INTER_CUBIC if enlarging else cv2.INTER_AREA)  # (h, w, 3) RGB
        self.surface.fill((0, 0, 0))
        picture = pygame.image.frombuffer(scaled.tobytes(), target, "RGB")
        self.surface.blit(picture, ((width - target[0]) // 2, (height - target[1]) // 2))
        if hud is not None:
            self.painter.draw(self.surface, hud)
        if recording:  # the visitor's right to know: a red dot while the camera is recorded
            radius = max(6, height // 60)
            pygame.draw.circle(self.surface, (220, 30, 30), (width - 3 * radius, 3 * radius), radius)
        return self.surface


def _crop_for(image: np.ndarray, aspect: float) -> np.ndarray:
    """The centred region of ``image`` with width/height = ``aspect``."""
    height, width = image.shape[:2]
    if width / height > aspect:
        new_width = max(1, round(height * aspect))
        left = (width - new_width) // 2
        return image[:, left : left + new_width]
    new_height = max(1, round(width / aspect))
    top = (height - new_height) // 2
    return image[top : top + new_height]


class WindowDisplay:
    """A pygame window. Keys: F full screen, H overlay, R record, Esc quit (unless ``quit_key``
    is off).

    Full screen goes on display ``display_index`` at that display's own resolution, with the
    cursor hidden. ``show`` paces the loop to ``target_fps``.
    """

    def __init__(self, config: DisplayConfig, fullscreen: bool) -> None:
        self.config = config
        try:
            pygame.display.init()
            self._screen = self._open(fullscreen)
        except pygame.error as error:
            raise DisplayError(f"no display available ({error})") from None
        pygame.display.set_caption(config.title)
        self.compositor = Compositor(self._screen.get_size(), config.fit)
        self._pacer = Pacer(config.target_fps)

    def _open(self, fullscreen: bool) -> pygame.Surface:
        self.fullscreen = fullscreen
        pygame.mouse.set_visible(not fullscreen)
        if fullscreen:
            return pygame.display.set_mode((0, 0), pygame.FULLSCREEN, display=self.config.display_index)
        size = (self.config.width, self.config.height)
        return pygame.display.set_mode(size, pygame.RESIZABLE, display=self.config.display_index)

    def show(self, image_rgb: np.ndarray, hud: Hud | None, recording: bool = False) -> list[ControlCommand]:
        commands = self._handle_events()
        self.compositor.resize(self._screen.get_size())
        self._screen.blit(self.compositor.compose(image_rgb, hud, recording), (0, 0))
        pygame.display.flip()
        return commands

    def pace(self, idle: Callable[[float], None], wall: Callable[[], float]) -> None:
        """Wait until the next frame is due (``display.target_fps``), in ``idle``."""
        self._pacer.wait(idle, wall)

    def _handle_events(self) -> list[ControlCommand]:
        commands = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                commands.append(QUIT)
            elif event.type == pygame.KEYDOWN:
                if event.key == pygame.K_ESCAPE and self.config.quit_key:
                    commands.append(QUIT)
                elif event.key == pygame.K_h:
                    commands.append(TOGGLE_OVERLAY)
                elif event.key == pygame.K_r:
                    commands.append(TOGGLE_RECORD)
                elif event.key == pygame.K_f:
                    self._screen = self._open(not self.fullscreen)
        return commands

    def screenshot(self, path: Path) -> None:
        pygame.image.save(self._screen, str(path))

    def close(self) -> None:
        pygame.display.quit()


class FrameSink(Protocol):
    def write(self, image_rgb: np.ndarray) -> None: ...

    def close(self) -> None: ...


class PngFolderSink:
    """Numbered PNG files ``frame_000000.png`` ... in a folder (made if missing)."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DisplayError(f"cannot create output folder {folder}: {error.strerror}") from None
        self.folder, self.count = folder, 0

    def write(self, image_rgb: np.ndarray) -> None:
        path = self.folder / f"frame_{self.count:06d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)):
            raise DisplayError(f"cannot write {path}")
        self.count += 1

    def close(self) -> None:
        pass


class Mp4Sink:
    """An H.264 video (yuv420p, +faststart) at a fixed frame rate, which browsers, phones and
    media players all play; written by PyAV's bundled FFmpeg (libx264). OpenCV's own writer can
    only make MPEG-4 part 2 (``mp4v``), which browsers refuse."""

    QUALITY = {"crf": "18", "preset": "fast"}  # visually lossless for generated art; a few ms a frame

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        if not path.parent.is_dir():
            raise DisplayError(f"output folder does not exist: {path.parent}")
        self.path = path
        try:
            self._container = av.open(str(path), mode="w", options={"movflags": "+faststart"})
        except OSError as error:
            raise DisplayError(f"cannot write video {path}: {error.strerror or error}") from None
        # yuv420p halves chroma, so the coded size must be even: odd sizes are padded by one pixel
        self._even = (size[0] + size[0] % 2, size[1] + size[1] % 2)
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = self._even
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = dict(self.QUALITY)

    def write(self, image_rgb: np.ndarray) -> None:
        height, width = image_rgb.shape[:2]
        pad = ((0, self._even[1] - height), (0, self._even[0] - width), (0, 0))
        frame = av.VideoFrame.from_ndarray(np.pad(image_rgb, pad, mode="edge"), format="rgb24")
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))  # flush the encoder's delayed frames
        self._container.close()


class NullSink:
    def write(self, image_rgb: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


def open_sink(out: str | None, size: tuple[int, int], fps: float) -> FrameSink:
    """``None`` -> nowhere; ``*.mp4`` -> a video; anything else -> a folder of PNGs."""
    if out is None:
        return NullSink()
    path = Path(out)
    if path.suffix.lower() == ".mp4":
        return Mp4Sink(path, size, fps)
    return PngFolderSink(path)


class HeadlessDisplay:
    """The same composition as the window, written to a sink. ``pace_fps`` (live runs without a
    screen) sleeps to that rate; replay runs as fast as it can."""

    def __init__(self, size: tuple[int, int], fit: str, sink: FrameSink, pace_fps: float | None = None) -> None:
        pygame.font.init()
        self.compositor = Compositor(size, fit)
        self.sink = sink
        self._pacer = Pacer(pace_fps) if pace_fps else None

    def show(self, image_rgb: np.ndarray, hud: Hud | None, recording: bool = False) -> list[ControlCommand]:
        surface = self.compositor.compose(image_rgb, hud, recording)
        if not isinstance(self.sink, NullSink):
            width, height = surface.get_size()
            pixels = np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8).reshape(height, width, 3)
            self.sink.write(pixels)
        return []

    def pace(self, idle: Callable[[float], None], wall: Callable[[], float]) -> None:
        """Live runs: wait until the next frame is due, in ``idle``; replay runs as fast as it can."""
        if self._pacer is not None:
            self._pacer.wait(idle, wall)

    def close(self) -> None:
        self.sink.close()
