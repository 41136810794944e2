"""The kiosk's decisions, kept free of processes and clocks: when a runtime counts as hung, how
long to wait before the next one, and when to stop trying. The supervisor passes the times in,
so these are tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartSettings:
    """Backoff and giving up. The first failure after a healthy run restarts at once: a visitor
    should not wait on a crash the piece has not had for a while."""

    first_backoff_s: float = 0.5  # the second failure in a row waits this long, doubling after
    max_backoff_s: float = 30.0
    healthy_after_s: float = 30.0  # a runtime that showed frames this long resets the backoff
    give_up_after: int = 5  # failures in a row, the same way and before any frame: restarting won't help


@dataclass(frozen=True)
class Decision:
    """What to do after a runtime ended badly."""

    delay_s: float  # wait this long before the next runtime goes
    give_up: bool  # it keeps failing the same way without showing a frame: stop retrying
    failures: int  # failures in a row since the last healthy run
    same_failures: int  # of those, the last ones that failed this way before any frame


def backoff_s(failures: int, settings: RestartSettings) -> float:
    """The wait before restarting after ``failures`` failures in a row: none for the first, then
    ``first_backoff_s`` doubling up to ``max_backoff_s``."""
    if failures <= 1:
        return 0.0
    return min(settings.first_backoff_s * 2.0 ** (failures - 2), settings.max_backoff_s)


class RestartPolicy:
    """Counts failures in a row and decides each restart's delay and whether to give up.

    Only failures before any frame count towards giving up (a bad configuration, a port in use,
    a missing file): a runtime that shows frames, even briefly, gives the audience something,
    so it is always restarted, with the backoff.
    """

    def __init__(self, settings: RestartSettings = RestartSettings()) -> None:
        self.settings = settings
        self.failures = 0
        self._same_reason: str | None = None
        self.same_failures = 0

    def failed(self, reason: str, showed_frames_s: float | None) -> Decision:
        """A runtime ended with ``reason`` after showing frames for ``showed_frames_s`` seconds
        (None: it never showed one). Returns the decision."""
        if showed_frames_s is not None and showed_frames_s >= self.settings.healthy_after_s:
            self.failures = 0  # a healthy run: this failure is the first in a row
        self.failures += 1
        if showed_frames_s is not None:
            self._same_reason, self.same_failures = None, 0
        elif reason == self._same_reason:
            self.same_failures += 1
        else:
            self._same_reason, self.same_failures = reason, 1
        return Decision(backoff_s(self.failures, self.settings), self.same_failures >= self.settings.give_up_after,
                        self.failures, self.same_failures)


@dataclass
class HeartbeatWatch:
    """What a runtime's heartbeat file says, read by the supervisor every poll.

    The runtime's frame loop rewrites the file every tick or so with ``BEATS FRAMES`` (beats
    count up even while asleep outside the opening hours, frames count rendered frames); a warm
    standby writes ``ready`` before it waits for its turn, and a loop that has ended writes
    ``ending FRAMES`` while it closes. The content changing is the beat, timed by the supervisor's
    own clock, so neither file times nor the two processes' clocks matter. A beat that ends in
    ``osc-down`` says the runtime's OSC receiver is down: beating, but deaf to control.
    """

    hang_timeout_s: float
    start_grace_s: float  # before its first frame a runtime has this long, from its go, to load
    stop_grace_s: float = 10.0  # an ended loop has this long to close its outputs and exit
    ready: bool = False
    frames: int = 0
    first_frame_at: float | None = None
    last_beat_at: float | None = None
    ending_at: float | None = None
    osc_down_since: float | None = None  # the first beat of a run of ``osc-down`` beats
    _last_text: str = ""

    def update(self, text: str | None, now: float) -> None:
        """Take the file's content (None: not written yet) as read at ``now``."""
        if text is None or text == self._last_text:
            return
        parts = text.split()
        if parts == ["ready"]:
            self.ready, self._last_text = True, text
            return
        if len(parts) == 2 and parts[0] == "ending" and parts[1].isdigit():
            self._last_text, self.ending_at = text, now
            return
        osc_down = parts[2:] == ["osc-down"]
        if osc_down:
            parts = parts[:2]
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            return  # read while being rewritten: the next poll sees it whole
        self._last_text, self.last_beat_at = text, now
        if not osc_down:
            self.osc_down_since = None
        elif self.osc_down_since is None:
            self.osc_down_since = now
        self.ready, self.frames = True, int(parts[1])
        if self.frames > 0 and self.first_frame_at is None:
            self.first_frame_at = now

    def hung(self, now: float, went_at: float) -> bool:
        """No beat for ``hang_timeout_s`` since the first frame, no first frame within
        ``start_grace_s`` of being told to go at ``went_at``, or not gone ``stop_grace_s`` after
        its loop ended."""
        if self.ending_at is not None:
            return now - self.ending_at > self.stop_grace_s
        if self.first_frame_at is None:
            return now - went_at > self.start_grace_s
        if self.osc_deaf(now):
            return True
        return now - (self.last_beat_at or self.first_frame_at) > self.hang_timeout_s

    def osc_deaf(self, now: float) -> bool:
        """Its OSC receiver has said it is down for longer than ``hang_timeout_s``."""
        return self.osc_down_since is not None and now - self.osc_down_since > self.hang_timeout_s

    def showed_frames_s(self, now: float) -> float | None:
        """How long it has been showing frames, None if it has not shown one."""
        return None if self.first_frame_at is None else now - self.first_frame_at
