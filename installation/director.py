"""The show's policy, decided once per frame: what should be showing, and whether to show at all.

The Director owns the rules a gallery sets and the audience triggers, so that the frame loop
only carries the frame:
- opening hours, and sleep put on by hand (a black screen, nothing perceived or generated);
- the attract scene while nobody is there or the camera is silent, then back to the scene before;
- the playlist, paused while the attract scene shows;
- gestures bound to "next scene" / "previous scene" (``scene.next_gesture``);
- follow mode: another instance's latent, while its messages keep coming.

Scene faults (a scene that raises) are the scene slot's business (``SceneSlot.safe_update``), and
a model's NaN streak the generator's (``GeneratorHost``): each stage owns its own failures.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from installation.control import ControlCommand
from installation.gestures import GestureEvent
from installation.recovery import RecoveryPolicy, SourceWatch
from installation.scene_slot import SceneSlot
from installation.schedule import OpeningHours, Playlist
from installation.show import NobodyWatch, ShowState

log = logging.getLogger(__name__)

CAMERA_SILENT, NOBODY_THERE = "camera silent", "nobody there"


@dataclass(frozen=True)
class Direction:
    """What the policy decided for one frame."""

    commands: tuple[ControlCommand, ...] = ()  # from bound gestures; the loop applies them next frame
    followed_z: np.ndarray | None = None  # the leader's latent, replacing the scene's, when following


class Director:
    """Opening hours, attract mode, the playlist, gesture bindings and follow mode."""

    def __init__(self, scenes: SceneSlot, show: ShowState, policy: RecoveryPolicy,
                 playlist: Playlist | None = None, hours: OpeningHours | None = None,
                 local_time: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        """``local_time`` tells the opening hours what time it is (live runs only)."""
        self.scenes, self.show, self.policy = scenes, show, policy
        self.playlist = playlist if playlist is not None else Playlist(())
        self.hours = hours if hours is not None else OpeningHours(())
        self.local_time = local_time
        self.asleep = False  # closed, or put to sleep by hand
        self._source_watch = SourceWatch(policy.stall_s)
        self._nobody_watch = NobodyWatch(policy.attract_after_s)
        self._attract_reasons: set[str] = set()
        self._scene_before_attract: str | None = None

    @property
    def attracting(self) -> bool:
        return bool(self._attract_reasons)

    def closed(self) -> bool:
        """Outside the opening hours or put to sleep (live runs); logs each change between open and asleep."""
        if self.show.sleep:  # by hand (staff page): like closing time until woken
            self.asleep = True
            return True
        if self.hours.always_open:
            self.asleep = False
            return False
        closed = not self.hours.is_open(self.local_time())
        if closed != self.asleep:
            self.asleep = closed
            log.warning("%s", "outside the opening hours: sleeping" if closed else "opening hours: waking up")
        return closed

    def watch_source(self, frame_arrived: bool, now: float) -> bool:
        """A live camera that stops delivering brings the attract scene until frames return.
        Returns True when it has just stalled (for the run's error counts)."""
        change = self._source_watch.update(frame_arrived, now)
        if change == "stalled":
            self._attract(CAMERA_SILENT, True, f"no camera frame for {self._source_watch.stall_s:g} s")
        elif change == "resumed":
            self._attract(CAMERA_SILENT, False, "camera frames are back")
        return change == "stalled"

    def direct(self, now: float, step_s: float, presence: float, gestures: tuple[GestureEvent, ...]) -> Direction:
        """This frame's decision, from the audience seen and the time; switches scenes as needed."""
        self._watch_audience(presence, now)
        commands = self._gesture_commands(gestures)
        self._follow_playlist(now, step_s)
        return Direction(commands, self.show.followed_latent(now))

    def _watch_audience(self, presence: float, now: float) -> None:
        change = self._nobody_watch.update(presence, now)
        if change is not None:
            entering = change == "enter"
            why = f"nobody there for {self._nobody_watch.after_s:g} s" if entering else "someone is there"
            self._attract(NOBODY_THERE, entering, why)

    def _gesture_commands(self, gestures: tuple[GestureEvent, ...]) -> tuple[ControlCommand, ...]:
        """Gestures the configuration binds to scene switching, as commands for the next frame."""
        steps = {self.policy.previous_gesture: "previous", self.policy.next_gesture: "next"}  # one name: next
        steps.pop("", None)
        return tuple(ControlCommand("scene", (steps[event.name],), f"gesture {event.name}")
                     for event in gestures if event.phase.value == "start" and event.name in steps)

    def _follow_playlist(self, now: float, step_s: float) -> None:
        if self._attract_reasons:
            self.playlist.pause_for(step_s)  # time in the attract mode does not use up an entry
            return
        name = self.playlist.due(now)
        if name is not None:
            self.scenes.show(name, "playlist")

    def _attract(self, reason: str, on: bool, why: str) -> None:
        """The attract scene shows while any reason for it holds; then the scene before it returns."""
        if on and not self._attract_reasons:
            self._scene_before_attract = self.scenes.scene.name
            self.scenes.show(self.policy.attract_scene, why)
        (self._attract_reasons.add if on else self._attract_reasons.discard)(reason)
        if not on and not self._attract_reasons and self._scene_before_attract is not None:
            self.scenes.show(self._scene_before_attract, why)
            self._scene_before_attract = None
