"""What the loop does when something goes wrong, so the piece keeps showing something sensible.

- a camera that stops delivering (unplugged, frozen): the attract scene until frames return
  (the camera source reconnects by itself, with backoff);
- a scene that raises: the fallback scene;
- a latent that is not finite or runs away: repaired before it can reach the generator.

Perception restarts itself (``ThreadedPerception``), the generator falls back to the CPPN
(``GeneratorHost``) and the recorder stops cleanly on disk errors; each is counted in the stats.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryPolicy:
    fallback_scene: str = "dream_drift"
    attract_scene: str = "dream_drift"
    stall_s: float = 2.0  # no new frame for this long (live runs) = the camera is gone
    latent_limit: float = 8.0  # |z| components beyond this are clipped (a generator's sane range)
    attract_after_s: float = 30.0  # nobody there this long -> the attract scene (0 = never)
    next_gesture: str = ""  # gesture names that switch scenes ("" = off)
    previous_gesture: str = ""


class SourceWatch:
    """Notices when a live source stops delivering frames, and when it comes back."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self.stalled = False
        self._last_frame_t: float | None = None

    def update(self, frame_arrived: bool, now: float) -> str | None:
        """Returns "stalled" or "resumed" on a change, else None."""
        if frame_arrived:
            self._last_frame_t = now
            if self.stalled:
                self.stalled = False
                return "resumed"
            return None
        if self._last_frame_t is None:
            self._last_frame_t = now  # count from the start: a camera that never delivers stalls too
        if not self.stalled and now - self._last_frame_t > self.stall_s:
            self.stalled = True
            return "stalled"
        return None


def repair_latent(z: np.ndarray, last_good: np.ndarray | None, limit: float) -> tuple[np.ndarray, bool]:
    """A finite latent within ±limit: non-finite values take the last good latent's (or 0),
    large ones are clipped. Returns the latent and whether anything had to be repaired."""
    finite = np.isfinite(z)
    if finite.all() and np.abs(z).max(initial=0.0) <= limit:
        return z, False
    fill = last_good if last_good is not None and last_good.shape == z.shape else np.zeros_like(z)
    repaired = np.where(finite, z, fill)
    return np.clip(repaired, -limit, limit).astype(np.float32), True
