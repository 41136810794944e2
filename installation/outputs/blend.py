"""Soft-edge blend ramps for projectors whose pictures overlap.

Two projectors lighting the same strip of wall add their light. For the strip to look like the
rest of the picture, the two contributions must sum to the picture's light, and light adds in
linear units, not in the gamma-encoded values a frame carries. So the ramps are made in linear
light (``w_left + w_right = 1`` exactly at every point of the overlap) and only then turned into
multipliers of encoded pixel values: for a projector with a power-law response of exponent
``gamma``, showing ``v * w ** (1 / gamma)`` emits ``w`` times the light of ``v``.

The ramp's shape is Paul Bourke's blend curve with exponent ``curve`` (1 = a straight line, 2 =
his default S-curve, gentler at both ends, hides a misalignment of a pixel or two better).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_GAMMA = 2.2
DEFAULT_CURVE = 2.0


def s_curve(t: np.ndarray, curve: float = DEFAULT_CURVE) -> np.ndarray:
    """Bourke's blend curve on t in 0..1 -> 0..1, with f(t) + f(1 - t) = 1 for any ``curve``."""
    t = np.clip(t, 0.0, 1.0)
    low = 0.5 * (2.0 * t) ** curve
    high = 1.0 - 0.5 * (2.0 * (1.0 - t)) ** curve
    return np.where(t < 0.5, low, high)


@dataclass(frozen=True)
class Overlap:
    """A strip of the picture shown by this output and a neighbour, along one axis.

    ``start``..``end`` are picture coordinates (0..1 along ``axis``: "x" or "y"); ``rising`` is True
    when this output's light fades in from ``start`` to ``end`` (its neighbour lies before it)."""

    axis: str
    start: float
    end: float
    rising: bool


def linear_weights(crop: tuple[float, float, float, float], size: tuple[int, int], overlaps: tuple[Overlap, ...],
                   curve: float = DEFAULT_CURVE) -> np.ndarray:
    """This output's share of the light, (H, W) float64 in 0..1 (linear light), for an output of
    ``size`` (width, height) showing ``crop`` = (x0, y0, x1, y1) of the picture. Where strips cross
    (a corner of four projectors) the shares multiply, which still sums to 1 over the four."""
    width, height = size
    x0, y0, x1, y1 = crop
    # picture coordinates of each output pixel's centre
    xs = x0 + (np.arange(width) + 0.5) / width * (x1 - x0)
    ys = y0 + (np.arange(height) + 0.5) / height * (y1 - y0)
    weight_x, weight_y = np.ones(width), np.ones(height)
    for overlap in overlaps:
        coords = xs if overlap.axis == "x" else ys
        t = (coords - overlap.start) / (overlap.end - overlap.start)
        share = s_curve(t, curve)
        if not overlap.rising:
            share = 1.0 - share
        if overlap.axis == "x":
            weight_x *= share
        else:
            weight_y *= share
    return weight_y[:, None] * weight_x[None, :]  # (H, W)


def encoded_multiplier(weights: np.ndarray, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Multipliers of encoded pixel values that emit ``weights`` of the light, (H, W, 1) float32."""
    return (weights ** (1.0 / gamma)).astype(np.float32)[:, :, None]


def apply_blend(image_rgb: np.ndarray, multiplier: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``image_rgb`` (H, W, 3) uint8 times ``multiplier`` (H, W, 1), rounded to nearest, written into
    ``out`` (uint8); ``scratch`` is a float32 buffer of the same shape, allocated once by the caller."""
    np.multiply(image_rgb, multiplier, out=scratch)
    scratch += 0.5  # round, not truncate: truncation would dim the overlap by half a code value
    np.copyto(out, scratch, casting="unsafe")
    return out


def decode(encoded: np.ndarray, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Encoded values 0..255 -> linear light 0..1 (the projector's power-law response)."""
    return (np.asarray(encoded, np.float64) / 255.0) ** gamma


def encode(linear: np.ndarray, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Linear light 0..1 -> encoded values 0..255 (float, not rounded)."""
    return 255.0 * np.clip(linear, 0.0, None) ** (1.0 / gamma)
