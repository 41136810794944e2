"""When what shows: the playlist of scenes with their durations, and the opening hours.

- ``Playlist``: scenes in turn, each for its duration of media time, forever. The attract mode
  pauses it (the attract scene is not an entry); OSC and gestures move along it.
- ``OpeningHours``: weekly hours in the machine's local time, e.g. "mon-fri 10:00-18:00" or
  "sat,sun 11:00-17:00"; outside them the installation sleeps (a black screen, no perception,
  no generation) and wakes at opening. Ranges that pass midnight ("fri 20:00-02:00") belong to the
  day they start on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from installation.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class PlaylistEntry:
    scene: str
    duration_s: float


def parse_playlist(entries: tuple[str, ...], known_scenes: list[str]) -> tuple[PlaylistEntry, ...]:
    """``("body_latent:300", "dream_drift:120")`` -> entries. Raises ConfigError naming the entry."""
    parsed = []
    for text in entries:
        name, _, seconds = text.partition(":")
        name = name.strip()
        if name not in known_scenes:
            raise ConfigError(f"show.playlist entry {text!r}: unknown scene '{name}' "
                              f"(available: {', '.join(known_scenes)})")
        try:
            duration = float(seconds)
        except ValueError:
            duration = -1.0
        if not duration > 0:
            raise ConfigError(f"show.playlist entry {text!r}: expected 'scene:seconds' with seconds > 0")
        parsed.append(PlaylistEntry(name, duration))
    return tuple(parsed)


class Playlist:
    """Which entry is due at a media time; ``due`` says when to switch to the next one."""

    def __init__(self, entries: tuple[PlaylistEntry, ...]) -> None:
        self.entries = entries
        self.index = 0
        self._entered_t: float | None = None

    def names(self) -> list[str]:
        return [entry.scene for entry in self.entries]

    def due(self, now: float) -> str | None:
        """The scene to switch to at media time ``now``, or None while the current entry runs."""
        if not self.entries:
            return None
        if self._entered_t is None:
            self._entered_t = now
        if now - self._entered_t < self.entries[self.index].duration_s:
            return None
        return self.move(1, now)

    def move(self, offset: int, now: float) -> str:
        """Go ``offset`` entries along (OSC next/previous); returns that entry's scene."""
        self.index = (self.index + offset) % len(self.entries)
        self._entered_t = now
        return self.entries[self.index].scene

    def pause_for(self, seconds: float) -> None:
        """Shift the current entry's start so time spent in the attract mode does not count."""
        if self._entered_t is not None:
            self._entered_t += seconds


@dataclass(frozen=True)
class _Range:
    day: int  # 0 = Monday
    start_min: int  # minutes after midnight
    end_min: int  # may exceed 24 * 60 for a range past midnight


class OpeningHours:
    """Weekly opening hours; no ranges at all means always open."""

    def __init__(self, specs: tuple[str, ...]) -> None:
        """Parse e.g. ``("mon-fri 10:00-18:00", "sat 11:00-16:30")``. Raises ConfigError naming the
        entry that is malformed."""
        self._ranges = [r for spec in specs for r in _parse_hours(spec)]

    @property
    def always_open(self) -> bool:
        return not self._ranges

    def is_open(self, when: dt.datetime) -> bool:
        """Whether the installation is open at local time ``when``."""
        if not self._ranges:
            return True
        minute = when.hour * 60 + when.minute
        today, yesterday = when.weekday(), (when.weekday() - 1) % 7
        for r in self._ranges:
            if r.day == today and r.start_min <= minute < r.end_min:
                return True
            if r.day == yesterday and r.end_min > 24 * 60 and minute < r.end_min - 24 * 60:
                return True
        return False


def _parse_hours(spec: str) -> list[_Range]:
    parts = spec.split()
    if len(parts) != 2:
        raise ConfigError(f"show.hours entry {spec!r}: expected 'DAYS HH:MM-HH:MM', e.g. 'mon-fri 10:00-18:00'")
    days, times = parts
    start_text, dash, end_text = times.partition("-")
    if not dash:
        raise ConfigError(f"show.hours entry {spec!r}: expected a time range such as 10:00-18:00")
    start, end = _minutes(start_text, spec), _minutes(end_text, spec)
    if end == start:
        raise ConfigError(f"show.hours entry {spec!r}: the range is empty")
    if end < start:
        end += 24 * 60  # past midnight
    return [_Range(day, start, end) for day in _days(days, spec)]


def _days(text: str, spec: str) -> list[int]:
    days: list[int] = []
    for part in text.lower().split(","):
        first, dash, last = part.partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise ConfigError(f"show.hours entry {spec!r}: days must be like mon, sat,sun or mon-fri")
        a, b = DAYS.index(first), DAYS.index(last) if dash else DAYS.index(first)
        days.extend((a + i) % 7 for i in range((b - a) % 7 + 1))
    return days


def _minutes(text: str, spec: str) -> int:
    hours, colon, minutes = text.partition(":")
    try:
        h, m = int(hours), int(minutes)
    except ValueError:
        h, m = -1, -1
    if not colon or not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 24 * 60:
        raise ConfigError(f"show.hours entry {spec!r}: {text!r} is not a time HH:MM")
    return h * 60 + m
