"""The frame loop: the one place where a frame travels from the camera to the screen.

    source -> perception -> smoother -> features -> scene -> generator -> painter -> display

Two ways to drive it, same code:
- live (camera, or a clip played in real time): each tick takes the newest frame if there is
  one, polls for the newest observation, and renders anyway, so the picture keeps moving while
  perception works; the display paces the ticks.
- lockstep (headless replay): every frame in order, perception waited for, time taken from the
  media's own timestamps, so two replays give identical landmarks, latents and frames.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from installation.affinity import pinned
from installation.clock import wall_s
from installation.contracts import Frame, LatentState, TrackedBody
from installation.control import CommandInbox, ControlCommand
from installation.display import Display
from installation.errors import ModelError
from installation.features import FeatureExtractor, Features
from installation.generator import GeneratorHost
from installation.gestures import GestureRecognizer
from installation.overlay import Hud
from installation.painting import STYLE_POSITION, Painter
from installation.perception import PerceptionSchedule
from installation.quality import AdaptiveQuality
from installation.recorder import SessionRecorder
from installation.recovery import RecoveryPolicy, SourceWatch, repair_latent
from installation.scene_kit.geometry import matte
from installation.faces import FaceReading
from installation.report import FrameListener, FrameReport, RuntimeStatus
from installation.smoothing import BodySmoother
from installation.sources import Source
from installation.telemetry import STAGES, Telemetry
from installation.test_pattern import alignment_grid
from installation.venue_stage import VenueStage
from installation.scene_slot import SceneSlot
from installation.schedule import OpeningHours, Playlist
from installation.show import NobodyWatch, ShowControl, ShowState
from scenes.base import SceneInputs

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 10.0
NAN_FRAMES_BEFORE_FALLBACK = 3  # a model whose output holds NaN this many frames running is replaced


class Clock(Protocol):
    def now(self) -> float: ...


@dataclass
class Stages:
    """Everything the loop drives, built and owned by ``installation.app``."""

    source: Source
    perception: PerceptionSchedule
    smoother: BodySmoother
    features: FeatureExtractor
    scenes: SceneSlot  # the scene showing and the generator it draws with; show control can swap it
    generator: GeneratorHost  # the configured model (scenes naming another get theirs from scenes.generators)
    display: Display
    listeners: list[FrameListener] = field(default_factory=list)  # trace file, OSC out, recorder
    recorder: SessionRecorder | None = None  # also among the listeners, when there is one
    recovery: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    gestures: GestureRecognizer | None = None
    playlist: Playlist = field(default_factory=lambda: Playlist(()))
    hours: OpeningHours = field(default_factory=lambda: OpeningHours(()))
    quality: AdaptiveQuality | None = None  # live runs: holds the frame rate by the configured model's size
    venue: VenueStage | None = None  # a venue's zones and camera -> screen mapping
    loop_cores: frozenset[int] | None = None  # threaded perception: the loop's CPU cores (installation.affinity)
    painter: Painter | None = None  # style transfer of the picture ([paint]); scenes turn it on with "paint"
    screen_aspect: float | None = None  # width / height when the display crops to fill ("cover"), else None
    scene_switch_rate: float = 4.0  # commanded scene switches per second at most (osc.scene_switch_rate)


class Runtime:
    def __init__(self, stages: Stages, clock: Clock, lockstep: bool, overlay: bool = False,
                 local_time: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        """``local_time`` tells the opening hours what time it is (live runs only)."""
        self.stages, self.clock, self.lockstep = stages, clock, lockstep
        self.local_time = local_time
        self.show = ShowState(overlay=overlay)
        self.inbox = CommandInbox()
        self.telemetry = Telemetry()
        self.control = ShowControl(self.show, stages.scenes, self.telemetry.errors, stages.recorder,
                                   playlist=stages.playlist, painter=stages.painter,
                                   scene_switch_interval_s=1.0 / stages.scene_switch_rate)
        self.running = True
        self._started_wall = wall_s()
        self._last_t: float | None = None
        self._last_state: LatentState | None = None
        self._last_frame: Frame | None = None
        self._last_image: np.ndarray | None = None
        self._body = TrackedBody.nobody(0.0)
        self._next_status = wall_s() + STATUS_INTERVAL_S
        self._source_watch = SourceWatch(stages.recovery.stall_s)
        self._last_good_z: np.ndarray | None = None
        self._nan_streak = 0
        self._nobody_watch = NobodyWatch(stages.recovery.attract_after_s)
        self._attract_reasons: set[str] = set()  # "camera silent", "nobody there"
        self._scene_before_attract: str | None = None
        self.asleep = False  # outside the opening hours
        self._audience = None  # the newest Audience, with several visitors
        self._face = FaceReading()  # the newest face read (perception.faces), nobody's until then
        self.heartbeat: Callable[[int], None] | None = None  # the kiosk's hang watch, told the frames shown so far
        self.beat_clock: Callable[[ShowState, float], None] | None = None  # Ableton Link: writes the show's beat each frame
        self.audio = None  # installation.audio_in.AudioStage with [audio] on: the music's features each frame

    def run(self, max_frames: int | None = None, max_wall_s: float | None = None) -> dict:
        """Render until the media ends, the user quits, ``max_frames`` frames are shown or
        ``max_wall_s`` seconds have passed; returns the stats."""
        self.stages.scenes.generators.warm_up()  # the first shown frame is never a slow or black one
        deadline = None if max_wall_s is None else wall_s() + max_wall_s
        try:
            with pinned(self.stages.loop_cores):  # the generator on its own core(s), away from MediaPipe
                while self.running and (max_frames is None or self.telemetry.rendered_frames < max_frames):
                    if deadline is not None and wall_s() >= deadline:
                        break
                    self.step()
        except KeyboardInterrupt:  # Ctrl+C or SIGTERM (see main.py): stop cleanly, keep the stats
            log.info("interrupted after %d frames", self.telemetry.rendered_frames)
        finally:
            self.close()
        return self.summary()

    def step(self) -> None:
        """One tick: take a frame, perceive, apply commands, track, map, generate, show."""
        if self.heartbeat is not None:  # every tick, asleep too: only a stuck loop goes silent
            self.heartbeat(self.telemetry.rendered_frames)
        # capture
        started = wall_s()
        frame = self.stages.source.read() if self.lockstep else self.stages.source.latest()
        if frame is None and self.lockstep:
            self.running = False  # end of the recording
            return
        if not self.lockstep and self._closed():
            self._sleep_step()
            return
        if frame is not None:
            self.telemetry.stage("capture", (wall_s() - started) * 1000.0)
            self._last_frame = frame
            self.stages.perception.submit(frame)

        # perceive: lockstep waits for this frame's observation; live takes whatever is newest
        observation = self.stages.perception.wait() if self.lockstep else self.stages.perception.poll()
        now = self._advance_time(frame)
        if not self.lockstep:
            self._watch_source(frame is not None, now)
        if self.beat_clock is not None:  # before commands, so changes quantise on this frame's beat
            self.beat_clock(self.show, now)
        audio = self.audio.update(now) if self.audio is not None else None  # a file: read up to ``now`` exactly
        commands = self.inbox.drain()
        for command in commands:  # frame boundary: applied before this frame is drawn
            self.apply(command)
        self.control.apply_waiting(now)  # a scene switch that waited for its turn
        if not self.running:
            return

        # track + features
        mark = wall_s()
        zone_events: tuple = ()
        if observation is not None and self.stages.venue is not None:
            observation, zone_events = self.stages.venue.process(observation)
        if observation is not None and observation.audience is not None:
            self._audience = observation.audience
        if observation is not None and observation.face is not None:  # perception.faces: held until the next
            self._face = observation.face
        if observation is not None:
            self.telemetry.observed(observation)
            self.telemetry.stage("perception", observation.perception_ms)
            self._body = self.stages.smoother.update(observation)
        else:
            self._body = self.stages.smoother.tick(now)
        features = self.stages.features.update(self._body)
        gestures = tuple(self.stages.gestures.update(self._body, now)) if self.stages.gestures else ()
        self._watch_audience(features.presence, now)
        self._gesture_commands(gestures)
        mark = self._timed("tracking", mark)

        # scene -> latent (a frozen picture keeps its latent)
        step_s = 0.0 if self._last_t is None else now - self._last_t
        self._last_t = now
        self._follow_playlist(now, step_s)
        self.stages.scenes.reload_if_changed(wall_s())  # development mode only
        frozen = self.show.freeze and self._last_state is not None
        taught = self._taught_mappings(features) if not frozen else {}  # a frozen picture uses no inputs
        inputs = SceneInputs(features, now, step_s, self.show.beat_phase(now), self.show.tempo_bpm,
                             self.show.external, gestures, taught, frame=self._last_frame,
                             body=self._body, zone_events=zone_events, audience=self._audience, face=self._face,
                             audio=audio)
        state = self._last_state if frozen else self._scene_update(inputs)
        followed = self.show.followed_latent(now)
        if followed is not None and not frozen:  # following another instance: its latent, our params
            state = dataclasses.replace(state, z=followed)
        state = self._checked_latent(state)
        mark = self._timed("scene", mark)

        # generate -> paint -> show
        image = self._picture(state, inputs)
        generated = wall_s()
        self.telemetry.stage("generate", (generated - mark) * 1000.0)
        image = self._painted(image, state)
        painted = self._timed("paint", generated)
        keys = self.stages.display.show(image, self._hud() if self.show.overlay else None, recording=self._recording())
        done = self._timed("display", painted)

        latency = (done - observation.wall_s) * 1000.0 if observation is not None else None
        self.telemetry.rendered(done, state.z, image, latency)
        report = FrameReport(now, observation, self._body, features, state, self.stages.scenes.scene.name,
                             self.show.beat_phase(now), self.show.tempo_bpm, self.status(),
                             gestures=gestures, frame=frame, commands=tuple(commands), zone_events=zone_events,
                             audience=self._audience, picture=image, mapped=taught, audio=audio)
        for listener in self.stages.listeners:
            listener.on_frame(report)
        for key in keys:
            self.inbox.put(key)  # keys take effect at the next frame boundary, like OSC
        self._log_status(done)
        self._adapt_quality(started, mark, generated, wall_s())
        self._pace()

    def _pace(self) -> None:
        """Live: wait for the next frame to be due, waking early for a new observation."""
        pace = getattr(self.stages.display, "pace", None)
        if pace is not None:
            pace(getattr(self.stages.perception, "idle", time.sleep))

    def _recording(self) -> bool:
        return self.stages.recorder is not None and self.stages.recorder.recording

    def _picture(self, state: LatentState, inputs: SceneInputs) -> np.ndarray:
        if self.show.test_pattern:  # aligning a projector: the grid, whatever the scene
            return alignment_grid(self.stages.scenes.generator.resolution)
        if self.show.freeze and self._last_image is not None:
            return self._last_image
        if self.show.blackout:
            return self._black()
        generator = self.stages.scenes.generator
        nan_before = generator.nan_frames
        try:
            self._last_image = self._framed(self.stages.scenes.draw(state, inputs))
        except ModelError:
            raise
        except Exception:  # the scene's compose is artist code: this frame unpainted, then another scene
            self._scene_failed(self.stages.scenes.scene.name)
            self._last_image = generator.render(state)
        self._nan_streak = self._nan_streak + 1 if generator.nan_frames > nan_before else 0
        if self._nan_streak >= NAN_FRAMES_BEFORE_FALLBACK and generator.fallback_reason is None:
            generator.fall_back_to_cppn(f"produced NaN in {self._nan_streak} frames in a row")
            self._nan_streak = 0
        return self._last_image

    def _framed(self, image: np.ndarray) -> np.ndarray:
        """A scene's whole artwork (``Scene.WHOLE_PICTURE``) on a matte of the screen's shape, so
        that filling the screen crops nothing of it; any other picture as it is."""
        aspect = self.stages.screen_aspect
        if aspect is None or not getattr(self.stages.scenes.scene, "WHOLE_PICTURE", False):
            return image
        return matte(image, aspect)

    def _painted(self, image: np.ndarray, state: LatentState) -> np.ndarray:
        """The picture painted in the current style, when the scene asks for painting (its "paint"
        parameter) and the screen is not blacked out; else as it is."""
        painter = self.stages.painter
        if painter is None:
            return image
        if self.show.blackout or self.stages.scenes.scene.params.get("paint", 0.0) < 0.5:
            painter.skip()
            return image
        return painter.paint(image, state.params.get(STYLE_POSITION))

    def _advance_time(self, frame: Frame | None) -> float:
        if self.lockstep and frame is not None:
            self.clock.advance_to(frame.timestamp_s)  # type: ignore[attr-defined]
        return self.clock.now()

    def _timed(self, stage: str, since: float) -> float:
        now = wall_s()
        self.telemetry.stage(stage, (now - since) * 1000.0)
        return now

    def _black(self) -> np.ndarray:
        size = self.stages.scenes.generator.resolution
        return np.zeros((size, size, 3), np.uint8)

    def _closed(self) -> bool:
        """Outside the opening hours or put to sleep (live runs); logs each change between open and asleep."""
        if self.show.sleep:  # by hand (staff page): like closing time until woken
            self.asleep = True
            return True
        if self.stages.hours.always_open:
            self.asleep = False
            return False
        closed = not self.stages.hours.is_open(self.local_time())
        if closed != self.asleep:
            self.asleep = closed
            log.warning("%s", "outside the opening hours: sleeping" if closed else "opening hours: waking up")
        return closed

    def _sleep_step(self) -> None:
        """Asleep: a black screen, no perception or generation; keys and OSC still work."""
        for command in self.inbox.drain():
            self.apply(command)
        for listener in self.stages.listeners:  # those that answer sleep (the lights go dark) are told
            on_sleep = getattr(listener, "on_sleep", None)
            if on_sleep is not None:
                on_sleep(self.clock.now())
        for key in self.stages.display.show(self._black(), None, recording=False):
            self.inbox.put(key)
        self._pace()

    def _follow_playlist(self, now: float, step_s: float) -> None:
        playlist = self.stages.playlist
        if self._attract_reasons:
            playlist.pause_for(step_s)  # time in the attract mode does not use up an entry
            return
        name = playlist.due(now)
        if name is not None:
            self._switch_scene(name, "playlist")

    def _adapt_quality(self, started: float, generate_started: float, generated: float, finished: float) -> None:
        """``finished``: the frame's work is done, listeners included; only the pacing wait follows."""
        quality, generator = self.stages.quality, self.stages.scenes.generator
        if quality is None or self.lockstep or generator is not self.stages.generator:
            return
        work_ms = (finished - started) * 1000.0
        resolution = quality.update(work_ms, (generated - generate_started) * 1000.0, finished)
        if resolution is not None:
            generator.set_resolution(resolution)

    def _scene_update(self, inputs: SceneInputs) -> LatentState:
        for _ in range(3):  # the scene; if it raised, its version before a reload, or the fallback scene
            scene = self.stages.scenes.scene
            try:
                self._last_state = self.stages.scenes.update(inputs)
                return self._last_state
            except Exception:  # a scene is artist code: the show goes on
                if not self._scene_failed(scene.name):
                    break
        if self._last_state is None:
            raise RuntimeError("no scene could produce a first latent")
        return self._last_state  # even the fallback failed: hold the last latent

    def _scene_failed(self, name: str) -> bool:
        """Scene ``name`` raised (logged from the active exception): back to its version before a
        hot reload, else the fallback scene. Returns False when nothing else could be switched to."""
        self.telemetry.errors["scene"] += 1
        if self.telemetry.errors["scene"] <= 3:
            log.exception("scene %s raised", name)
        if self.stages.scenes.revert_reload():
            return True
        return self._switch_scene(self.stages.recovery.fallback_scene, f"scene {name} raised", fade=False)

    def _taught_mappings(self, features: Features) -> dict:
        if self.stages.gestures is None or not self.stages.gestures.learned_enabled:  # paused: nothing reaches the piece
            return {}
        try:
            return self.show.unmuted(self.stages.gestures.mapped(features.as_dict()))
        except (KeyError, ValueError) as error:  # a mapping taught on inputs this run lacks
            self.telemetry.errors["gesture_mappings"] += 1
            if self.telemetry.errors["gesture_mappings"] == 1:
                log.error("taught mappings cannot run: %s", error)
            return {}

    def _switch_scene(self, name: str, why: str, fade: bool = True) -> bool:
        """Switch to scene ``name`` (logged); False if it is already showing or can't be built."""
        if self.stages.scenes.scene.name == name:
            return False
        try:
            self.stages.scenes.switch(name, fade=fade)
        except Exception:  # a broken scene file: keep showing the current one
            self.telemetry.errors["scene_switch_failures"] += 1
            log.exception("cannot switch to scene %s", name)
            return False
        log.warning("%s: showing %s", why, name)
        return True

    def _watch_source(self, frame_arrived: bool, now: float) -> None:
        change = self._source_watch.update(frame_arrived, now)
        if change == "stalled":
            self.telemetry.errors["source_stalls"] += 1
            self._attract("camera silent", True, f"no camera frame for {self._source_watch.stall_s:g} s")
        elif change == "resumed":
            self._attract("camera silent", False, "camera frames are back")

    def _gesture_commands(self, gestures: tuple) -> None:
        """Gestures the configuration binds to scene switching, applied at the next frame."""
        policy = self.stages.recovery
        for event in gestures:
            if event.phase.value != "start":
                continue
            if event.name == policy.next_gesture:
                self.inbox.put(ControlCommand("scene", ("next",), f"gesture {event.name}"))
            elif event.name == policy.previous_gesture:
                self.inbox.put(ControlCommand("scene", ("previous",), f"gesture {event.name}"))

    def _watch_audience(self, presence: float, now: float) -> None:
        change = self._nobody_watch.update(presence, now)
        if change is not None:
            entering = change == "enter"
            why = f"nobody there for {self._nobody_watch.after_s:g} s" if entering else "someone is there"
            self._attract("nobody there", entering, why)

    def _attract(self, reason: str, on: bool, why: str) -> None:
        """The attract scene shows while any reason for it holds; then the scene before it returns."""
        if on and not self._attract_reasons:
            self._scene_before_attract = self.stages.scenes.scene.name
            self._switch_scene(self.stages.recovery.attract_scene, why)
        (self._attract_reasons.add if on else self._attract_reasons.discard)(reason)
        if not on and not self._attract_reasons and self._scene_before_attract is not None:
            self._switch_scene(self._scene_before_attract, why)
            self._scene_before_attract = None

    def _checked_latent(self, state: LatentState) -> LatentState:
        z, repaired = repair_latent(np.asarray(state.z, np.float32), self._last_good_z, self.stages.recovery.latent_limit)
        if repaired:
            self.telemetry.errors["latent_repaired"] += 1
            if self.telemetry.errors["latent_repaired"] in (1, 100, 10_000):
                log.warning("the scene's latent was not finite or out of range; repaired it")
            state = dataclasses.replace(state, z=z)
        self._last_good_z = z
        return state

    def _hud(self) -> Hud:
        stage_ms = {name: self.telemetry.recent_ms(name) for name in STAGES}
        venue = self.stages.venue
        return Hud(
            camera_bgr=self._last_frame.image_bgr if self._last_frame is not None else None,
            body=self._body,
            fps=self.telemetry.recent_fps,
            latency_ms=self.telemetry.recent_ms("latency"),
            stage_ms=stage_ms,
            source=self.stages.source.description,
            zones=venue.zones if venue is not None else (),
            audience=self._audience,
            to_camera=venue.venue.screen.to_camera if venue is not None and venue.venue.screen is not None else None,
        )

    def apply(self, command: ControlCommand) -> None:
        """Carry out one command at a frame boundary. Unknown ones are logged and counted."""
        if command.name == "quit":
            self.running = False
        elif not self.control.apply(command, self.clock.now()):
            self.telemetry.errors["unknown_commands"] += 1
            log.warning("unknown command %r from %s", command.name, command.origin or "?")

    def status(self) -> RuntimeStatus:
        """A cheap snapshot for /status replies and health checks."""
        return RuntimeStatus(
            fps=self.telemetry.recent_fps,
            latency_ms=self.telemetry.recent_ms("latency"),
            scene=self.stages.scenes.scene.name,
            presence=self._body.pose_presence,
            uptime_s=wall_s() - self._started_wall,
            frames=self.telemetry.rendered_frames,
            errors={**self.telemetry.errors, **self.perception_counters()},
            state=self.mode(),
        )

    def mode(self) -> str:
        """What the piece is doing, for the staff page and the health file: "asleep" (closed or
        put to sleep), "attract" (nobody there, camera silent), "fallback" (a model or a scene
        failed and another stands in) or "running"."""
        if self.asleep:
            return "asleep"
        if self._attract_reasons:
            return "attract"
        hosts = self.stages.scenes.generators.hosts()
        scene_failed = self.telemetry.errors["scene"] and self.stages.scenes.scene.name == self.stages.recovery.fallback_scene
        if scene_failed or any(getattr(host, "fallback_reason", None) for host in hosts):
            return "fallback"
        return "running"

    def _log_status(self, now: float) -> None:
        if self.lockstep or now < self._next_status:
            return
        self._next_status = now + STATUS_INTERVAL_S
        log.info("%.1f fps, latency %.0f ms, %d frames, presence %.2f",
                 self.telemetry.recent_fps, self.telemetry.recent_ms("latency"),
                 self.telemetry.rendered_frames, self._body.pose_presence)

    def perception_counters(self) -> dict[str, int]:
        """Perception's counts of what it threw away (hands on another body's wrist, poses that
        jumped to another body, ghosts...), shown with the errors; none from a stand-in without any."""
        counters = getattr(self.stages.perception, "counters", None)
        return counters() if counters is not None else {}

    def dropped_frames(self) -> int:
        return int(getattr(self.stages.source, "dropped", 0)) + int(self.stages.perception.dropped)

    def summary(self) -> dict:
        stats = self.telemetry.summary(self.dropped_frames())
        stats["errors"].setdefault("perception", self.stages.perception.errors)
        stats["errors"]["perception_restarts"] = self.stages.perception.restarts
        stats["errors"].update(self.perception_counters())
        if self.stages.gestures is not None:
            stats["errors"]["gestures"] = self.stages.gestures.errors
        hosts = self.stages.scenes.generators.hosts()
        stats["errors"].setdefault("generator_nan_frames", sum(int(getattr(h, "nan_frames", 0)) for h in hosts))
        stats["reused_frames"] = sum(int(getattr(h, "reused_frames", 0)) for h in hosts)
        if self.stages.quality is not None:
            stats["adaptive_resolution"] = {"final": self.stages.quality.resolution,
                                            "changes": self.stages.quality.changes}
        reasons = [h.fallback_reason for h in hosts if getattr(h, "fallback_reason", None) is not None]
        stats["errors"]["generator_fallback"] = len(reasons)  # every model's generator, not only the configured one
        stats["generator_fallback_reason"] = "; ".join(reasons) if reasons else None
        stats["errors"].setdefault("skipped_images", int(getattr(self.stages.source, "skipped", 0)))
        if self.stages.recorder is not None:
            stats["errors"]["recording_failures"] = self.stages.recorder.failures
        if self.stages.painter is not None:
            painter = self.stages.painter
            stats["painting"] = {"paintings": painter.paintings, "style": painter.style, "size": painter.size}
            stats["errors"]["painting"] = painter.errors
        stats["schedule"] = "lockstep" if self.lockstep else "live"
        stats["source"] = self.stages.source.description
        if hasattr(self.stages.display, "stats"):  # video out: per target sent, dropped (slow receiver), errors
            stats["video_out"] = self.stages.display.stats()
        return stats

    def close(self) -> None:
        for listener in self.stages.listeners:
            listener.close()
        self.stages.listeners.clear()
        self.stages.perception.close()
        self.stages.scenes.close()
        if self.stages.painter is not None:
            self.stages.painter.close()
        self.stages.source.close()
        self.stages.display.close()

