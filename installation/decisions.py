"""Live decisions that change pixels: recorded with a session, taken again by its replay.

A replay drives the loop with the recorded times, observations and commands, but a live run also
decides things from the wall clock that no input says: adaptive quality changes the generator's
size, the painter thread delivers each painting when it is done (at its own rate, at a size of
its own, in the style of the frame it was asked at). Each frame's record in
``observations.jsonl`` therefore carries a ``live`` entry::

    "live": {"resolution": 224, "reused": false, "paint": [frame, size, shown]}

``resolution``: the configured generator's size this frame was drawn at; ``reused``: a generator
showed its previous frame again (the latent had barely moved); ``paint``: the painter's
``PaintStep`` (null on an unpainted frame). The replay sets the size before each frame and paints
exactly the recorded paintings, at the recorded sizes, shown at the recorded frames. Frame reuse
follows from the recorded latents and sizes; the replay checks it, and counts any frame where it
did not do what the live run did in ``replay.divergences``. A session recorded before these
entries existed replays as before (configured size, a painting every ``paint.replay_every`` frames).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from installation.generator_pool import GeneratorPool
from installation.painting import Painter
from installation.painting.painter import Painting, PaintJob, PaintStep
from installation.report import FrameReport
from installation.stages import Stages

log = logging.getLogger(__name__)


class DecisionProbe:
    """The recorder's hook (``SessionRecorder.live_decisions``): this frame's decisions, read from
    the generators and the painter after the frame was shown."""

    def __init__(self, generators: GeneratorPool, painter: Painter | None) -> None:
        self.generators, self.painter = generators, painter
        self._reused = _reused_count(generators)

    def __call__(self) -> dict:
        reused, before = _reused_count(self.generators), self._reused
        self._reused = reused
        step = self.painter.last_step if self.painter is not None else None
        return {"resolution": self.generators.default.resolution, "reused": reused > before,
                "paint": None if step is None else [step.frame, step.size, step.shown]}


class RecordedPainting:
    """A replay's painting schedule (``Painter.follow``): each painted frame at its recorded size,
    and the paintings the live run showed, painted from their own frame's content and handed out
    at the frame where they arrived live."""

    def __init__(self, steps: list[PaintStep]) -> None:
        self._sizes = {step.frame: step.size for step in steps}
        self._shown_at = {step.frame: step.shown for step in steps if step.shown is not None}
        self._wanted = set(self._shown_at.values())
        self._made: dict[int, Painting | None] = {}  # painted, not yet shown (live: the thread's lag)

    def size(self, frame: int, current: int) -> int:
        return self._sizes.get(frame, current)

    def fresh(self, job: PaintJob, paint: Callable[[PaintJob], Painting | None]) -> Painting | None:
        if job.frame in self._wanted:
            self._made[job.frame] = paint(job)
        source = self._shown_at.get(job.frame)
        return self._made.pop(source, None) if source is not None else None


class DecisionFollower:
    """Makes a replay take the recorded decisions: the generator's size before each frame (called
    by the session source), the painter's schedule from the start, and, as a frame listener
    after each frame, a check of what follows by itself (frame reuse)."""

    def __init__(self, stages: Stages, records: list[dict]) -> None:
        self.stages = stages
        self.present = any("live" in record for record in records)
        self.divergences = 0
        self._record: dict | None = None
        self._reused = _reused_count(stages.scenes.generators)
        steps = _paint_steps(records)
        if self.present and stages.painter is not None:
            stages.painter.follow(RecordedPainting(steps))
        if not self.present:
            log.warning("this session records no live decisions (recorded by an older version): the replay draws "
                        "at the configured size and paints every paint.replay_every frames")

    def before_frame(self, record: dict) -> None:
        """Draw this frame at the size the live run drew it."""
        self._record = record
        live = record.get("live")
        generator = self.stages.generator
        if live is None or live["resolution"] == generator.resolution:
            return
        if generator.adjustable:
            generator.set_resolution(live["resolution"])
        else:
            self._diverged(f"the generator draws at a fixed {generator.resolution} px, the live run drew "
                           f"{live['resolution']} px")

    def on_frame(self, report: FrameReport) -> None:
        reused, before = _reused_count(self.stages.scenes.generators), self._reused
        self._reused = reused
        live = (self._record or {}).get("live")
        if live is not None and live["reused"] != (reused > before):
            self._diverged(f"frame reuse at t = {report.t:.3f} s differs from the live run's")

    def close(self) -> None:
        pass

    def _diverged(self, why: str) -> None:
        self.divergences += 1
        if self.divergences <= 3:
            log.warning("the replay is not exact: %s", why)


def _reused_count(generators: GeneratorPool) -> int:
    """Renders answered with the previous frame so far, over every generator of the run."""
    return sum(host.reused_frames for host in generators.hosts())


def _paint_steps(records: list[dict]) -> list[PaintStep]:
    """The recorded painted frames, counted from the session's first (a recording started mid-run
    begins at a later count than the replay's painter, which starts at 0)."""
    steps = [PaintStep(*record["live"]["paint"]) for record in records
             if (record.get("live") or {}).get("paint") is not None]
    first = steps[0].frame if steps else 0
    return [PaintStep(step.frame - first, step.size, None if step.shown is None or step.shown < first
                      else step.shown - first) for step in steps]
