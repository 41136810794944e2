"""The frame loop: the one place where a frame travels from the camera to the screen.

    capture -> perceive -> track -> features -> direct -> scene -> generate -> paint -> display -> report

``Runtime.step`` is that line, one call per stage; the policy (opening hours, attract mode, the
playlist, bound gestures, follow mode) is the Director's, and each stage owns its own failures
(``SceneSlot`` a scene that raises, ``GeneratorHost`` a model that draws NaN).

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
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from installation import run_summary
from installation.affinity import pinned
from installation.audience.crowd import Audience
from installation.audience.zones import ZoneEvent
from installation.clock import Clock
from installation.contracts import Frame, LatentState, Observation, TrackedBody
from installation.control import ControlCommand
from installation.director import Director
from installation.faces import FaceReading
from installation.feature_specs import Features
from installation.gestures import GestureEvent
from installation.load_scheduler import schedule_frame
from installation.painting import STYLE_POSITION
from installation.recovery import repair_latent
from installation.report import FrameReport, RuntimeStatus
from installation.run_stats import RunStats
from installation.scene_kit.geometry import matte
from installation.show import ShowControl, ShowState
from installation.stages import Stages
from installation.telemetry import StageTimer, Telemetry
from installation.test_pattern import alignment_grid
from scenes.base import SceneInputs

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 10.0


@dataclass(frozen=True)
class Tracked:
    """The audience as this frame sees it, after tracking and feature extraction."""

    observation: Observation | None  # what perception delivered this tick, if anything new
    body: TrackedBody  # the smoothed visitor
    features: Features
    gestures: tuple[GestureEvent, ...]
    zone_events: tuple[ZoneEvent, ...] = ()  # a venue's zones entered and left this frame


class Runtime:
    def __init__(self, stages: Stages, clock: Clock, lockstep: bool, overlay: bool = False,
                 local_time: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        """``clock`` gives the show's time and the wall time measurements use; ``local_time``
        tells the opening hours what time it is (live runs only)."""
        self.stages, self.clock, self.lockstep = stages, clock, lockstep
        links = stages.links
        self.show = ShowState(overlay=overlay)
        self.inbox = links.inbox
        self.telemetry = Telemetry(errors=links.errors)  # one count of the run's errors, shared by the stages
        self.director = Director(stages.scenes, self.show, stages.recovery, stages.playlist, stages.hours, local_time)
        self.control = ShowControl(self.show, stages.scenes, links.errors, stages.recorder, stages.teacher,
                                   playlist=stages.playlist, painter=stages.painter,
                                   scene_switch_interval_s=1.0 / stages.scene_switch_rate,
                                   quantiser=links.quantiser, default_when=links.default_when, midi=links.midi)
        self.running = True
        self.started_wall = clock.wall()
        self._next_status = self.started_wall + STATUS_INTERVAL_S
        self._last_t: float | None = None
        self._last_good_z: np.ndarray | None = None
        self._last_image: np.ndarray | None = None
        self.last_frame: Frame | None = None  # the newest camera frame
        self.body = TrackedBody.nobody(0.0)  # the newest smoothed visitor
        self.audience: Audience | None = None  # the newest, with several visitors
        self.face = FaceReading()  # the newest face read (perception.faces), nobody's until then

    @property
    def asleep(self) -> bool:
        return self.director.asleep

    def run(self, max_frames: int | None = None, max_wall_s: float | None = None) -> RunStats:
        """Render until the media ends, the user quits, ``max_frames`` frames are shown or
        ``max_wall_s`` seconds have passed; returns the stats."""
        self.stages.scenes.generators.warm_up()  # the first shown frame is never a slow or black one
        deadline = None if max_wall_s is None else self.clock.wall() + max_wall_s
        try:
            with pinned(self.stages.loop_cores):  # the generator on its own core(s), away from MediaPipe
                while self.running and (max_frames is None or self.telemetry.rendered_frames < max_frames):
                    if deadline is not None and self.clock.wall() >= deadline:
                        break
                    self.step()
        except KeyboardInterrupt:  # Ctrl+C or SIGTERM (see main.py): stop cleanly, keep the stats
            log.info("interrupted after %d frames", self.telemetry.rendered_frames)
        finally:
            self.close()
        return self.summary()

    def step(self) -> None:
        """One frame, camera to screen: each line below is one stage of its path."""
        if self.stages.links.heartbeat is not None:  # every tick, asleep too: only a stuck loop goes silent
            self.stages.links.heartbeat.beat(self.telemetry.rendered_frames)
        timer = StageTimer(self.clock, self.telemetry)
        frame = self._capture(timer)
        if frame is None and self.lockstep:
            self.running = False  # end of the recording
            return
        if not self.lockstep and self.director.closed():
            self._sleep_step()
            return
        observation = self._perceive()
        now = self._advance_time(frame)
        commands = self._apply_commands(now)
        if not self.running:  # a quit command
            return
        timer.skip()
        tracked = self._track(observation, now)
        timer.lap("tracking")
        step_s = self._step_s(now)
        direction = self.director.direct(now, step_s, tracked.features.presence, tracked.gestures)
        inputs = self._scene_inputs(tracked, now, step_s)
        state = self._scene_latent(inputs, direction.followed_z)
        timer.lap("scene")
        image = self._generate(state, inputs)
        timer.lap("generate")
        image = self._paint(image, state)
        timer.lap("paint")
        keys = self._display(image)
        timer.lap("display")
        self._report(timer, frame, tracked, inputs, state, image, commands)
        for command in (*direction.commands, *keys):  # bound gestures and keys: at the next frame boundary
            self.inbox.put(command)
        self._pace()

    # the stages, in the order step() calls them
    def _capture(self, timer: StageTimer) -> Frame | None:
        """Lockstep: the next frame in order; live: the newest, or None when none came."""
        frame = self.stages.source.read() if self.lockstep else self.stages.source.latest()
        if frame is not None:
            timer.lap("capture")
            self.last_frame = frame
            self.stages.perception.submit(frame)
        return frame

    def _perceive(self) -> Observation | None:
        """Lockstep waits for this frame's observation; live takes whatever is newest."""
        return self.stages.perception.wait() if self.lockstep else self.stages.perception.poll()

    def _advance_time(self, frame: Frame | None) -> float:
        """The show's time for this frame (replay: the frame's own timestamp), and what keeps time
        with it: the camera watch (live) and Link's beat."""
        if self.lockstep and frame is not None:
            self.clock.advance_to(frame.timestamp_s)  # type: ignore[attr-defined]  # replay clocks only
        now = self.clock.now()
        if not self.lockstep and self.director.watch_source(frame is not None, now):
            self.telemetry.errors["source_stalls"] += 1
        if self.stages.links.link is not None:  # before commands, so changes quantise on this frame's beat
            self.stages.links.link.update(self.show, now)
        return now

    def _apply_commands(self, now: float) -> tuple[ControlCommand, ...]:
        """OSC, MIDI, keys and the staff page's commands, at the frame boundary."""
        commands = tuple(self.inbox.drain())
        for command in commands:
            self.apply(command)
        self.control.apply_waiting(now)  # a scene switch that waited for its turn
        return commands

    def _track(self, observation: Observation | None, now: float) -> Tracked:
        """The venue's zones, the smoothed visitor, features and gestures."""
        zone_events: tuple[ZoneEvent, ...] = ()
        if observation is not None and self.stages.venue is not None:
            observation, zone_events = self.stages.venue.process(observation)
        if observation is not None:
            if observation.audience is not None:
                self.audience = observation.audience
            if observation.face is not None:  # perception.faces: held until the next
                self.face = observation.face
            self.telemetry.observed(observation)
            self.telemetry.stage("perception", observation.perception_ms)
            self.body = self.stages.smoother.update(observation)
        else:
            self.body = self.stages.smoother.tick(now)
        features = self.stages.features.update(self.body)
        gestures = tuple(self.stages.gestures.update(self.body, now)) if self.stages.gestures else ()
        return Tracked(observation, self.body, features, gestures, zone_events)

    def _step_s(self, now: float) -> float:
        step_s = 0.0 if self._last_t is None else now - self._last_t
        self._last_t = now
        return step_s

    def _scene_inputs(self, tracked: Tracked, now: float, step_s: float) -> SceneInputs:
        frozen = self.show.freeze and self.stages.scenes.last_state is not None
        taught = self._taught_mappings(tracked.features) if not frozen else {}  # a frozen picture uses no inputs
        music = self.stages.links.audio
        audio = music.update(now) if music is not None else None  # a file: read up to ``now`` exactly
        return SceneInputs(tracked.features, now, step_s, self.show.beat_phase(now), self.show.tempo_bpm,
                           self.show.external, tracked.gestures, taught, frame=self.last_frame, body=tracked.body,
                           zone_events=tracked.zone_events, audience=self.audience, face=self.face,
                           audio=audio)

    def _scene_latent(self, inputs: SceneInputs, followed_z: np.ndarray | None) -> LatentState:
        """The scene's latent (a frozen picture keeps its latent; a followed leader's replaces it),
        repaired if it is not finite or runs away."""
        scenes = self.stages.scenes
        scenes.reload_if_changed(self.clock.wall())  # development mode only
        if self.show.freeze and scenes.last_state is not None:
            return scenes.last_state
        state = scenes.safe_update(inputs)
        if followed_z is not None:  # following another instance: its latent, our params
            state = dataclasses.replace(state, z=followed_z)
        return self._checked_latent(state)

    def _generate(self, state: LatentState, inputs: SceneInputs) -> np.ndarray:
        if self.show.test_pattern:  # aligning a projector: the grid, whatever the scene
            return alignment_grid(self.stages.scenes.generator.resolution)
        if self.show.freeze and self._last_image is not None:
            return self._last_image
        if self.show.blackout:
            return self._black()
        self._last_image = self._framed(self.stages.scenes.safe_draw(state, inputs))
        return self._last_image

    def _paint(self, image: np.ndarray, state: LatentState) -> np.ndarray:
        """The picture painted in the current style, when the scene asks for painting (its "paint"
        parameter) and the screen is not blacked out; else as it is."""
        painter = self.stages.painter
        if painter is None:
            return image
        if self.show.blackout or self.stages.scenes.scene.params.get("paint", 0.0) < 0.5:
            painter.skip()
            return image
        return painter.paint(image, state.params.get(STYLE_POSITION))

    def _display(self, image: np.ndarray) -> list[ControlCommand]:
        """Shows the picture; returns the keys pressed since the last frame, as commands."""
        hud = run_summary.hud(self) if self.show.overlay else None
        return self.stages.display.show(image, hud, recording=self._recording())

    def _report(self, timer: StageTimer, frame: Frame | None, tracked: Tracked, inputs: SceneInputs,
                state: LatentState, image: np.ndarray, commands: tuple[ControlCommand, ...]) -> None:
        """Telemetry, then every listener (OSC out, recorder, trace, health...), then the live
        frame-rate policy."""
        done = timer.marks["display"]
        observation = tracked.observation
        latency = (done - observation.wall_s) * 1000.0 if observation is not None else None
        self.telemetry.rendered(done, state.z, image, latency)
        report = FrameReport(inputs.t, observation, tracked.body, tracked.features, state,
                             self.stages.scenes.scene.name, inputs.beat_phase, inputs.tempo_bpm, self.status(),
                             gestures=tracked.gestures, frame=frame, commands=commands,
                             zone_events=tracked.zone_events, audience=self.audience, picture=image,
                             mapped=inputs.mapped, audio=inputs.audio)
        for listener in self.stages.listeners:
            listener.on_frame(report)
        self._log_status(done)
        self._adapt_quality(timer)
        if self.stages.load is not None and not self.lockstep:  # short of cores: fewer paintings, then perceptions
            schedule_frame(self.stages.load, timer, self.clock.wall(), observation, self.stages.painter, self.stages.perception)

    # helpers
    def _pace(self) -> None:
        """Live: wait for the next frame to be due, waking early for a new observation."""
        perception, sleep = self.stages.perception, self.clock.sleep
        idle = functools.partial(perception.idle, sleep=sleep) if hasattr(perception, "idle") else sleep
        self.stages.display.pace(idle, self.clock.wall)  # threaded perception wakes it early

    def _recording(self) -> bool:
        return self.stages.recorder is not None and self.stages.recorder.recording

    def _framed(self, image: np.ndarray) -> np.ndarray:
        """A scene's whole artwork (``Scene.WHOLE_PICTURE``) on a matte of the screen's shape, so
        that filling the screen crops nothing of it; any other picture as it is."""
        aspect = self.stages.screen_aspect
        if aspect is None or not self.stages.scenes.scene.WHOLE_PICTURE:
            return image
        return matte(image, aspect)

    def _black(self) -> np.ndarray:
        size = self.stages.scenes.generator.resolution
        return np.zeros((size, size, 3), np.uint8)

    def _sleep_step(self) -> None:
        """Asleep: a black screen, no perception or generation; keys and OSC still work."""
        for command in self.inbox.drain():
            self.apply(command)
        for listener in self.stages.listeners:  # those that answer sleep (the lights go dark) are told
            on_sleep = getattr(listener, "on_sleep", None)  # optional part of a listener
            if on_sleep is not None:
                on_sleep(self.clock.now())
        for key in self.stages.display.show(self._black(), None, recording=False):
            self.inbox.put(key)
        self._pace()

    def _adapt_quality(self, timer: StageTimer) -> None:
        """Live: the configured model's resolution follows the frame's cost (listeners included)."""
        quality, generator = self.stages.quality, self.stages.scenes.generator
        if quality is None or self.lockstep or generator is not self.stages.generator:
            return
        finished = self.clock.wall()
        generate_ms = (timer.marks["generate"] - timer.marks["scene"]) * 1000.0
        resolution = quality.update((finished - timer.started) * 1000.0, generate_ms, finished)
        if resolution is not None:
            generator.set_resolution(resolution)

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

    def _checked_latent(self, state: LatentState) -> LatentState:
        z, repaired = repair_latent(np.asarray(state.z, np.float32), self._last_good_z, self.stages.recovery.latent_limit)
        if repaired:
            self.telemetry.errors["latent_repaired"] += 1
            if self.telemetry.errors["latent_repaired"] in (1, 100, 10_000):
                log.warning("the scene's latent was not finite or out of range; repaired it")
            state = dataclasses.replace(state, z=z)
        self._last_good_z = z
        return state

    def _log_status(self, wall_now: float) -> None:
        if self.lockstep or wall_now < self._next_status:
            return
        self._next_status = wall_now + STATUS_INTERVAL_S
        log.info("%.1f fps, latency %.0f ms, %d frames, presence %.2f",
                 self.telemetry.recent_fps, self.telemetry.recent_ms("latency"),
                 self.telemetry.rendered_frames, self.body.pose_presence)

    # control and reporting
    def apply(self, command: ControlCommand) -> None:
        """Carry out one command at a frame boundary. Unknown ones are logged and counted."""
        if command.name == "quit":
            self.running = False
        elif not self.control.apply(command, self.clock.now()):
            self.telemetry.errors["unknown_commands"] += 1
            log.warning("unknown command %r from %s", command.name, command.origin or "?")

    def status(self) -> RuntimeStatus:
        """A cheap snapshot for /status replies and health checks."""
        return run_summary.status(self)

    def mode(self) -> str:
        """"asleep", "attract", "fallback" or "running" (see ``run_summary.mode``)."""
        return run_summary.mode(self)

    def summary(self) -> RunStats:
        """The run's statistics so far (the ``--stats`` file: ``RunStats.to_json``)."""
        return run_summary.summary(self)

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
