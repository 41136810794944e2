"""Which DMX channel answers to what: ``[lights] channels`` parsed once at start-up, evaluated per frame.

One entry per fixture function, written as ``"CHANNEL = SOURCE"`` (``"FIRST-LAST = region:..."``
for a colour), channels counted from 1 as on a lighting desk:

- ``presence``: someone is there (the presence feature), 0..255.
- ``beat``: a flash on each beat fading over it (1 - beat phase); dark while no tempo is known.
- ``feature:NAME``: any feature of docs/features.md, its range stretched over 0..255.
- ``zone:NAME``: full while someone stands in the venue zone NAME (calibration zones), else 0.
- ``region:X0,Y0,X1,Y1``: three channels (R, G, B) with the average colour of that part of the
  picture, corners as fractions of its width and height (0,0 top-left; 1,1 bottom-right).
- ``const:VALUE``: a fixed level 0..255, e.g. a fixture's master dimmer or its mode channel.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from installation.errors import ConfigError
from installation.lights.packets import DMX_CHANNELS

if TYPE_CHECKING:
    from installation.feature_specs import Features

SOURCE_KINDS = ("presence", "beat", "feature", "zone", "region", "const")
_ENTRY = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*=\s*([a-z_]+)\s*(?::\s*(.+?))?\s*$")
REGION_SAMPLES = 48  # a region's average from at most 48 x 48 pixels: the same colour, a fixed cost


@dataclass(frozen=True)
class ChannelSource:
    """DMX channels ``first``..``first + width - 1`` (0-based) driven by one source."""

    first: int
    width: int  # 3 for a region (R, G, B), else 1
    kind: str
    argument: str = ""
    region: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 as fractions
    level: int = 0  # const


@dataclass(frozen=True)
class LightInputs:
    """What a frame offers the lights: the picture is (H, W, 3) RGB uint8, or None if not drawn."""

    features: Features
    beat_phase: float | None
    occupied_zones: frozenset[str]
    picture: np.ndarray | None


@functools.cache
def feature_ranges() -> dict[str, tuple[float, float]]:
    """{feature name: (low, high)}. Imported on first use: installation.feature_specs needs
    installation.config, which loads this module for ``[lights]``."""
    from installation.feature_specs import FEATURE_SPECS

    return {spec.name: (spec.low, spec.high) for spec in FEATURE_SPECS}


def parse_channels(entries: tuple[str, ...], key: str = "lights.channels") -> tuple[ChannelSource, ...]:
    """The entries as ChannelSources. Raises ConfigError naming the entry and what was expected,
    also when two entries drive the same channel."""
    sources: list[ChannelSource] = []
    taken: dict[int, str] = {}
    for entry in entries:
        source = _parse_entry(entry, key)
        for channel in range(source.first, source.first + source.width):
            if channel in taken:
                raise ConfigError(f"{key}: {entry!r} and {taken[channel]!r} both drive channel {channel + 1}")
            taken[channel] = entry
        sources.append(source)
    return tuple(sources)


def _parse_entry(entry: str, key: str) -> ChannelSource:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{key}: {entry!r}: expected {expected}")

    match = _ENTRY.match(entry)
    if match is None:
        raise fail('"CHANNEL = SOURCE", e.g. "1 = presence" or "2-4 = region:0,0,0.5,1"')
    first, last, kind, argument = int(match[1]), match[2], match[3], match[4] or ""
    last_channel = int(last) if last is not None else first
    if kind not in SOURCE_KINDS:
        raise fail("a source among " + ", ".join(SOURCE_KINDS))
    width = 3 if kind == "region" else 1
    if last_channel - first + 1 != width:
        raise fail(f"{width} channel(s) for {kind} (a region is three: R, G, B, e.g. \"5-7 = region:...\")")
    if not 1 <= first <= last_channel <= DMX_CHANNELS:
        raise fail(f"channels within 1..{DMX_CHANNELS}")
    if kind in ("presence", "beat") and argument:
        raise fail(f"{kind} without an argument")
    region, level = None, 0
    if kind == "feature" and argument not in feature_ranges():
        raise fail("a feature of docs/features.md: " + ", ".join(feature_ranges()))
    if kind == "zone" and not argument:
        raise fail("a zone's name, e.g. \"zone:door\"")
    if kind == "region":
        region = _parse_region(argument, fail)
    if kind == "const":
        if not argument.isdigit() or int(argument) > 255:
            raise fail("a level 0..255, e.g. \"const:255\"")
        level = int(argument)
    return ChannelSource(first - 1, width, kind, argument, region, level)


def _parse_region(argument: str, fail) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(part) for part in argument.split(","))
    except ValueError:
        raise fail("region:X0,Y0,X1,Y1 with four numbers") from None
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise fail("region corners with 0 <= X0 < X1 <= 1 and 0 <= Y0 < Y1 <= 1")
    return x0, y0, x1, y1


def region_colour(picture: np.ndarray, region: tuple[float, float, float, float]) -> np.ndarray:
    """The average RGB (3,) float of ``region`` of the (H, W, 3) picture, from a strided sample."""
    height, width = picture.shape[:2]
    x0, y0, x1, y1 = region
    left, right = int(x0 * width), max(int(x0 * width) + 1, int(round(x1 * width)))
    top, bottom = int(y0 * height), max(int(y0 * height) + 1, int(round(y1 * height)))
    step_x = max(1, (right - left) // REGION_SAMPLES)
    step_y = max(1, (bottom - top) // REGION_SAMPLES)
    return picture[top:bottom:step_y, left:right:step_x].reshape(-1, 3).mean(axis=0)


def _level(value: float) -> int:
    """0..1 -> 0..255, clipped (a feature's value may sit at its range's edge)."""
    return int(round(min(1.0, max(0.0, value)) * 255.0))


def fill_levels(levels: bytearray, sources: tuple[ChannelSource, ...], inputs: LightInputs) -> None:
    """Write each source's channel level(s) into ``levels`` (the universe, channel 1 at index 0).
    A region whose picture is missing keeps its last colour rather than flashing dark."""
    for source in sources:
        if source.kind == "region":
            if inputs.picture is not None:
                colour = region_colour(inputs.picture, source.region)
                levels[source.first:source.first + 3] = bytes(int(round(c)) for c in colour)
            continue
        levels[source.first] = _single_level(source, inputs)


def _single_level(source: ChannelSource, inputs: LightInputs) -> int:
    if source.kind == "presence":
        return _level(inputs.features.presence)
    if source.kind == "beat":
        return 0 if inputs.beat_phase is None else _level(1.0 - inputs.beat_phase)
    if source.kind == "feature":
        low, high = feature_ranges()[source.argument]
        return _level((getattr(inputs.features, source.argument) - low) / (high - low))
    if source.kind == "zone":
        return 255 if source.argument in inputs.occupied_zones else 0
    return source.level  # const
