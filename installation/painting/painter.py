"""The painting stage: the picture, painted in a chosen artwork's style, steady, at screen shape.

Between the generator (or the scene's composition) and the display. For each shown frame:

1. **content**: the picture cropped to the screen's shape (with ``display.fit = "cover"``, so no
   painted pixel is thrown away) and scaled so its long side is the painting size;
2. **paint**: the style network paints it (``models.style_networks``) in the current style: one
   style, a weighted mix, or a point a scene chose along ``paint.styles``; then strength (a blend
   with the unpainted picture) and colour preservation (the painting's light, the content's colours);
3. **steady**: ``FlowCarry`` carries the shown painting along the content's motion and blends in
   the new one where the flow is trustworthy, so the texture sticks to the body.

Two schedules. **Inline** (replays: deterministic): a new painting every ``replay_every`` frames,
carried along the flow in between, or, replaying a recorded session, exactly the paintings the
live run showed, at the frames it showed them (``follow``, ``installation.decisions``).
**Threaded** (live runs): a painter thread paints the newest
content at its own rate while the loop shows the newest painting carried to the current frame; the
painting size adapts (``AdaptiveQuality``) to hold ``paint.target_fps`` paintings a second, and
no more are made, so painting's share of the CPU is what was planned. A
failing network is logged and counted, and the frame is shown unpainted: the show goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from installation.config import PaintConfig
from installation.painting.steady import FlowCarry
from installation.painting.styles import StyleError, StyleLibrary, glide_weights
from installation.quality import AdaptiveQuality
from installation.slots import NewestSlot
from models.style_networks import SIDE_MULTIPLE, StyleCode

log = logging.getLogger(__name__)

STYLE_POSITION = "style_position"  # LatentState.params key: a scene's point along paint.styles
PAINTER_NICE = 10  # the painter thread's nice value above the loop's: it yields the core to the loop


def lower_priority(nice: int) -> None:
    """Lower the calling thread's scheduling priority by ``nice`` (Linux threads have their own
    nice value); elsewhere, or where it is not allowed, leave it (logged)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + nice)
    except (AttributeError, OSError) as error:
        log.info("painter thread keeps the loop's priority: %s", error)


@dataclass(frozen=True)
class PaintJob:
    content: np.ndarray  # (H, W, 3) uint8 RGB at the painting size
    code: StyleCode
    strength: float
    preserve_colors: bool
    frame: int = 0  # the painter's count of painted frames when it was asked for


@dataclass(frozen=True)
class Painting:
    image: np.ndarray  # (H, W, 3) uint8 RGB, the painted content
    grey: np.ndarray  # the small grey copy of the content it paints (for carrying it along the flow)
    milliseconds: float
    frame: int = 0  # its job's frame
    cpu_ms: float = 0.0  # the painting thread's CPU time for it (a niced thread's wall time overstates it;
    # with paint.threads > 1, onnxruntime's other pool threads are not in it)


@dataclass(frozen=True)
class PaintStep:
    """What the painter did at one painted frame: the live decisions a session records, because a
    replay must show the same paintings at the same frames (``installation.decisions``)."""

    frame: int  # the painter's own count of painted frames (0 = the first)
    size: int  # the painting size the content was scaled to (live: adapted by the painter thread)
    shown: int | None  # the frame whose painting arrived fresh at this one; None: the last one carried


class PaintPlan(Protocol):
    """A replay's painting schedule: the recorded sizes and paintings (``decisions.RecordedPainting``)."""

    def size(self, frame: int, current: int) -> int: ...

    def fresh(self, job: PaintJob, paint: Callable[[PaintJob], Painting | None]) -> Painting | None: ...


def content_shape(height: int, width: int, aspect: float | None, long_side: int) -> tuple[int, int, int, int, int, int]:
    """Where to crop a (height, width) picture for a screen of ``aspect`` (None: keep it) and the
    painted size: (top, left, crop_h, crop_w, paint_h, paint_w), painted sides multiples of 4."""
    crop_h, crop_w = height, width
    if aspect is not None and abs(width / height - aspect) > 1e-3:
        if width / height > aspect:
            crop_w = max(1, round(height * aspect))
        else:
            crop_h = max(1, round(width / aspect))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    scale = long_side / max(crop_h, crop_w)
    paint_h = max(SIDE_MULTIPLE, int(round(crop_h * scale / SIDE_MULTIPLE)) * SIDE_MULTIPLE)
    paint_w = max(SIDE_MULTIPLE, int(round(crop_w * scale / SIDE_MULTIPLE)) * SIDE_MULTIPLE)
    return top, left, crop_h, crop_w, paint_h, paint_w


def finish(painted: np.ndarray, content: np.ndarray, strength: float, preserve_colors: bool) -> np.ndarray:
    """Colour preservation (the painting's luma, the content's chroma) and strength (a blend with
    the content: 0 = unpainted, 1 = painted only). RGB uint8 in and out."""
    if preserve_colors:
        luma = cv2.cvtColor(painted, cv2.COLOR_RGB2YCrCb)
        luma[..., 1:] = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)[..., 1:]
        painted = cv2.cvtColor(luma, cv2.COLOR_YCrCb2RGB)
    if strength >= 1.0:
        return painted
    return cv2.addWeighted(painted, strength, content, 1.0 - strength, 0.0)


class Painter:
    """Paints the loop's pictures (see the module's docstring). ``aspect``: the screen's width /
    height to crop to (None keeps the picture's shape). ``threaded``: paint on a thread of its own.
    ``screen_side``: the output's long side; nothing is painted larger (None: no limit).
    ``cores``: the CPU cores the painter thread runs on (the loop's, leaving MediaPipe its own)."""

    def __init__(self, config: PaintConfig, library: StyleLibrary, aspect: float | None, threaded: bool,
                 screen_side: int | None = None, cores: frozenset[int] | None = None) -> None:
        """Raises StyleError when the configured style is unusable (``build_painter`` checks
        ``paint.styles`` before the networks load)."""
        self.config, self.library, self.aspect = config, library, aspect
        self.max_side = min(config.size, screen_side) if screen_side else config.size
        self.strength, self.preserve_colors = config.strength, config.preserve_colors
        self.style = config.style
        self._code = library.code_for(config.style)
        self._glide: tuple[float, StyleCode] | None = None  # the last position a scene chose, and its code
        self.size = self.max_side
        self.paintings = 0  # new paintings made
        self.errors = 0  # paintings that failed (shown unpainted)
        self._carry = FlowCarry(config.steady)
        self._latest: Painting | None = None
        self._frames = 0
        self._plan: PaintPlan | None = None  # a replay that follows a recorded session's paintings
        self.last_step: PaintStep | None = None  # this frame's, None when it was not painted
        self._threaded = threaded
        self._cores = cores
        # a new painting asked for every this many frames (live: the load scheduler's choice)
        self.paint_every = 1 if threaded else config.replay_every
        self._asked: int | None = None  # the frame of the last painting asked for
        self.painted_ms: float | None = None  # CPU ms of the painting that arrived at this frame; None: none did
        if threaded:
            self._jobs: NewestSlot[PaintJob] = NewestSlot()
            self._done: NewestSlot[Painting] = NewestSlot()
            self._quality = (AdaptiveQuality(config.target_fps, self.size, config.min_size, self.size)
                             if config.adaptive else None)
            self._running = True
            self._stop = threading.Event()  # set by close: ends the wait between paintings
            self._thread = threading.Thread(target=self._work, name="painter", daemon=True)
            self._thread.start()

    # the performer's controls (OSC, keys): each raises StyleError and keeps the style on a bad one
    def set_style(self, spec: str) -> None:
        self._code, self.style, self._glide = self.library.code_for(spec), spec, None
        log.info("painting style: %s", spec)

    def set_mix(self, weights: dict[str, float]) -> None:
        self._code = self.library.code_for_mix(weights)
        self.style, self._glide = " + ".join(f"{spec}:{w:g}" for spec, w in weights.items()), None
        log.info("painting style mix: %s", self.style)

    def set_strength(self, strength: float) -> None:
        if not 0.0 <= strength <= 1.0:
            raise StyleError(f"painting strength {strength}: expected 0..1")
        self.strength = float(strength)

    def code(self, position: float | None) -> StyleCode:
        """The style to paint with: the point ``position`` along ``paint.styles`` (a scene's choice),
        counted from the style set last when it is on that list, else the style or mix set last."""
        styles = self.config.styles
        if position is None or not styles:
            return self._code
        start = styles.index(self.style) if self.style in styles else 0
        position = round(start + float(position), 3)  # a glide changes the code at most a thousand times per style
        if self._glide is None or self._glide[0] != position:
            self._glide = (position, self.library.code_for_mix(glide_weights(self.config.styles, position)))
        return self._glide[1]

    @property
    def threaded(self) -> bool:
        return self._threaded

    def set_paint_every(self, frames: int) -> None:
        """Ask for a new painting every ``frames`` frames only (``installation.load_scheduler``):
        between them the last painting is carried along the flow. Threaded, the loop never waits
        for one; inline, the frame that paints does."""
        self.paint_every = max(1, int(frames))

    def follow(self, plan: PaintPlan) -> None:
        """Replays: paint at the recorded sizes, and show each painting where the live run showed it."""
        self._plan = plan

    def paint(self, picture: np.ndarray, position: float | None = None) -> np.ndarray:
        """``picture`` (H, W, 3) uint8 RGB painted and carried: (h, w, 3) uint8 at the painting
        size, cropped to the screen's shape."""
        if self._plan is not None:
            self.size = self._plan.size(self._frames, self.size)
        size = self.size  # read once: the painter thread may change it meanwhile
        content = self._content(picture, size)
        job = PaintJob(content, self.code(position), self.strength, self.preserve_colors, self._frames)
        fresh = self._fresh(job)
        self.last_step = PaintStep(self._frames, size, fresh.frame if fresh is not None else None)
        self._frames += 1
        self._latest = fresh or self._latest
        self.painted_ms = fresh.cpu_ms if fresh is not None else None
        painting = grey = None
        if fresh is not None:
            painting, grey = fresh.image, fresh.grey
            if painting.shape != content.shape:  # the painting size changed since it was asked for
                painting = cv2.resize(painting, (content.shape[1], content.shape[0]), interpolation=cv2.INTER_LINEAR)
                grey = None
        elif self._latest is not None and self._carry.empty:  # after an unpainted stretch: the newest painting again
            painting = cv2.resize(self._latest.image, (content.shape[1], content.shape[0]), interpolation=cv2.INTER_LINEAR)
        shown = self._carry.step(content, painting, grey)
        return content if shown is None else shown  # the first painting is still on its way

    def _fresh(self, job: PaintJob) -> Painting | None:
        """The painting that arrives at this frame, if any: the thread's newest (live), the one the
        recorded live run showed here (a session's replay), or every ``paint_every`` frames. The
        thread is asked for one every ``paint_every`` frames too; the loop never waits for it."""
        if self._threaded:
            if self._due(job.frame):
                self._jobs.put(job)
            return self._done.take()
        if self._plan is not None:
            return self._plan.fresh(job, self._paint)
        if self._due(job.frame) or self._latest is None:
            return self._paint(job)
        return None

    def _due(self, frame: int) -> bool:
        """Whether ``frame`` asks for a new painting (and is noted as the last that did)."""
        if self._asked is not None and frame - self._asked < self.paint_every:
            return False
        self._asked = frame
        return True

    def skip(self) -> None:
        """An unpainted frame was shown (a scene without painting, blackout): start the carry afresh."""
        self._carry.reset()
        self.last_step = self.painted_ms = None

    def _content(self, picture: np.ndarray, size: int) -> np.ndarray:
        height, width = picture.shape[:2]
        top, left, crop_h, crop_w, paint_h, paint_w = content_shape(height, width, self.aspect, size)
        crop = picture[top:top + crop_h, left:left + crop_w]
        interpolation = cv2.INTER_AREA if paint_w < crop_w else cv2.INTER_CUBIC
        return cv2.resize(crop, (paint_w, paint_h), interpolation=interpolation)

    def _paint(self, job: PaintJob) -> Painting | None:
        """One painting of ``job``; None (logged, counted) when the network fails."""
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            painted = self.library.networks.paint(job.content, job.code)
        except Exception:  # onnxruntime's own error types: the frame goes unpainted, the show goes on
            self.errors += 1
            if self.errors <= 3 or self.errors % 1000 == 0:
                log.exception("painting failed (%d so far); showing the picture unpainted", self.errors)
            return None
        image = finish(painted, job.content, job.strength, job.preserve_colors)
        self.paintings += 1
        return Painting(image, self._carry.flow.small_grey(job.content), (time.perf_counter() - started) * 1000.0,
                        job.frame, (time.thread_time() - cpu_started) * 1000.0)

    def _work(self) -> None:
        """The painter thread: the newest job, painted; the size adapted to ``paint.target_fps``.
        It runs on the loop's cores at a lower priority than the loop (Linux: a thread's own nice
        value), so perception keeps its core, the frame rate holds, and the painting takes the time
        that is left."""
        lower_priority(PAINTER_NICE)
        if self._cores and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(0, self._cores)  # this thread only (Linux)
            except OSError as error:
                log.info("painter thread not pinned: %s", error)
        period_s = 1.0 / self.config.target_fps
        while self._running:
            job = self._jobs.take(timeout_s=None)
            if job is None:
                continue
            started = time.perf_counter()
            painting = self._paint(job)
            if painting is None:
                continue
            self._done.put(painting)
            if self._quality is not None:
                size = self._quality.update(painting.milliseconds, painting.milliseconds, time.perf_counter())
                if size is not None:
                    self.size = size
            # at most target_fps paintings a second: the painter's share of the core stays what was
            # planned, and the loop carries each painting along the flow meanwhile
            self._stop.wait(max(0.0, started + period_s - time.perf_counter()))

    def close(self) -> None:
        """Stop the painter thread (safe to call twice)."""
        if self._threaded and self._running:
            self._running = False
            self._stop.set()
            self._jobs.close()
            self._thread.join(timeout=5.0)
