"""The frame loop: the one place where a frame travels from the camera to the screen.

    source -> perception -> smoother -> features -> scene -> generator -> display

Two ways to drive it, same code:
- live (camera, or a clip played in real time): each tick takes the newest frame if there is
  one, polls for the newest observation, and renders anyway, so the picture keeps moving while
  perception works; the display paces the ticks.
- lockstep (headless replay): every frame in order, perception waited for, time taken from the
  media's own timestamps, so two replays give identical landmarks, latents and frames.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from installation.clock import wall_s
from installation.contracts import Frame, LatentState, Observation, TrackedBody
from installation.display import Command, Display
from installation.features import FeatureExtractor, Features
from installation.generator import GeneratorHost
from installation.overlay import Hud
from installation.perception import PerceptionSchedule
from installation.smoothing import BodySmoother
from installation.sources import Source
from installation.telemetry import STAGES, Telemetry
from scenes.base import Scene

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 10.0


class Clock(Protocol):
    def now(self) -> float: ...


@dataclass
class Stages:
    """Everything the loop drives, built and owned by ``installation.app``."""

    source: Source
    perception: PerceptionSchedule
    smoother: BodySmoother
    features: FeatureExtractor
    scene: Scene
    generator: GeneratorHost
    display: Display


class Runtime:
    def __init__(self, stages: Stages, clock: Clock, lockstep: bool, overlay: bool = False,
                 trace_path: Path | None = None) -> None:
        self.stages, self.clock, self.lockstep, self.overlay = stages, clock, lockstep, overlay
        self.telemetry = Telemetry()
        self.running = True
        self._trace: IO[str] | None = trace_path.open("w", encoding="utf-8") if trace_path else None
        self._last_t: float | None = None
        self._last_state: LatentState | None = None
        self._last_frame: Frame | None = None
        self._body = TrackedBody.nobody(0.0)
        self._next_status = wall_s() + STATUS_INTERVAL_S

    def run(self, max_frames: int | None = None, max_wall_s: float | None = None) -> dict:
        """Render until the media ends, the user quits, ``max_frames`` frames are shown or
        ``max_wall_s`` seconds have passed; returns the stats."""
        self.stages.generator.warm_up()  # the first shown frame is never a slow or black one
        deadline = None if max_wall_s is None else wall_s() + max_wall_s
        try:
            while self.running and (max_frames is None or self.telemetry.rendered_frames < max_frames):
                if deadline is not None and wall_s() >= deadline:
                    break
                self.step()
        finally:
            self.close()
        return self.summary()

    def step(self) -> None:
        """One tick: take a frame, perceive, track, map, generate, show."""
        # capture
        started = wall_s()
        frame = self.stages.source.read() if self.lockstep else self.stages.source.latest()
        if frame is None and self.lockstep:
            self.running = False  # end of the recording
            return
        if frame is not None:
            self.telemetry.stage("capture", (wall_s() - started) * 1000.0)
            self._last_frame = frame
            self.stages.perception.submit(frame)

        # perceive: lockstep waits for this frame's observation; live takes whatever is newest
        observation = self.stages.perception.wait() if self.lockstep else self.stages.perception.poll()
        now = self._advance_time(frame)

        # track + features
        mark = wall_s()
        if observation is not None:
            self.telemetry.observed(observation)
            self.telemetry.stage("perception", observation.perception_ms)
            self._body = self.stages.smoother.update(observation)
        else:
            self._body = self.stages.smoother.tick(now)
        features = self.stages.features.update(self._body)
        mark = self._timed("tracking", mark)

        # scene -> latent
        dt = 0.0 if self._last_t is None else now - self._last_t
        self._last_t = now
        state = self._scene_update(features, now, dt)
        mark = self._timed("scene", mark)

        # generate -> show
        image = self.stages.generator.render(state)
        mark = self._timed("generate", mark)
        commands = self.stages.display.show(image, self._hud() if self.overlay else None)
        done = self._timed("display", mark)

        latency = (done - observation.wall_s) * 1000.0 if observation is not None else None
        self.telemetry.rendered(done, state.z, image, latency)
        self._write_trace(now, observation, features, state)
        self._apply(commands)
        self._log_status(done)

    def _advance_time(self, frame: Frame | None) -> float:
        if self.lockstep and frame is not None:
            self.clock.advance_to(frame.timestamp_s)  # type: ignore[attr-defined]
        return self.clock.now()

    def _timed(self, stage: str, since: float) -> float:
        now = wall_s()
        self.telemetry.stage(stage, (now - since) * 1000.0)
        return now

    def _scene_update(self, features: Features, now: float, dt: float) -> LatentState:
        try:
            self._last_state = self.stages.scene.update(features, now, dt)
        except Exception:  # a scene is artist code: the show goes on with the last latent
            self.telemetry.errors["scene"] += 1
            if self.telemetry.errors["scene"] <= 3:
                log.exception("scene %s raised; keeping the last latent", self.stages.scene.name)
            if self._last_state is None:
                raise
        return self._last_state

    def _hud(self) -> Hud:
        stage_ms = {name: self.telemetry.recent_ms(name) for name in STAGES}
        return Hud(
            camera_bgr=self._last_frame.image_bgr if self._last_frame is not None else None,
            body=self._body,
            fps=self.telemetry.render_fps,
            latency_ms=self.telemetry.recent_ms("latency"),
            stage_ms=stage_ms,
            source=self.stages.source.description,
        )

    def _apply(self, commands: list[Command]) -> None:
        for command in commands:
            if command is Command.QUIT:
                self.running = False
            elif command is Command.TOGGLE_OVERLAY:
                self.overlay = not self.overlay

    def _write_trace(self, now: float, observation: Observation | None, features: Features, state: LatentState) -> None:
        if self._trace is None:
            return
        record = {
            "frame": observation.frame_index if observation is not None else None,
            "t": round(now, 6),
            "pose": np.round(observation.pose, 6).tolist() if observation is not None else None,
            "hands": [
                {"side": hand.side.value, "landmarks": np.round(hand.landmarks, 6).tolist()}
                for hand in (observation.hands if observation is not None else ())
            ],
            "features": {name: round(value, 6) for name, value in features.as_dict().items()},
            "z": np.round(state.z.astype(np.float64), 6).tolist(),
        }
        self._trace.write(json.dumps(record) + "\n")

    def _log_status(self, now: float) -> None:
        if self.lockstep or now < self._next_status:
            return
        self._next_status = now + STATUS_INTERVAL_S
        log.info("%.1f fps, latency %.0f ms, %d frames, presence %.2f",
                 self.telemetry.render_fps, self.telemetry.recent_ms("latency"),
                 self.telemetry.rendered_frames, self._body.pose_presence)

    def dropped_frames(self) -> int:
        return int(getattr(self.stages.source, "dropped", 0)) + int(self.stages.perception.dropped)

    def summary(self) -> dict:
        stats = self.telemetry.summary(self.dropped_frames())
        stats["errors"].setdefault("perception", self.stages.perception.errors)
        stats["errors"].setdefault("generator_nan_frames", int(getattr(self.stages.generator, "nan_frames", 0)))
        stats["errors"].setdefault("skipped_images", int(getattr(self.stages.source, "skipped", 0)))
        stats["schedule"] = "lockstep" if self.lockstep else "live"
        stats["source"] = self.stages.source.description
        return stats

    def close(self) -> None:
        if self._trace is not None:
            self._trace.close()
            self._trace = None
        self.stages.perception.close()
        self.stages.source.close()
        self.stages.display.close()
