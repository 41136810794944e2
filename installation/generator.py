"""The generator host: owns the model and its device, and turns a ``LatentState`` into pixels.

Set-up (``__init__``) picks the device, loads the model, renders one probe frame and allocates
the device buffers; ``warm_up()`` renders once more through the whole path so the first shown
frame is not slow; ``render()`` is the per-frame step.

What it survives:
- a configured model that cannot be loaded (unknown name, missing, corrupt or truncated file,
  a checkpoint whose metadata does not match its weights, a file that breaks the generator
  contract, or NaN on the probe frame): one warning line says why, the show runs on the CPPN
  with the configured resolution, latent size and seed, and ``fallback_reason`` keeps the why;
- a model that emits NaN or inf later: those values become grey, counted in ``nan_frames``; three
  such frames running and the model is replaced by a new CPPN runner (``fall_back_to_cppn``).

A conditional model (one with ``themes``) is steered by ``LatentState.params["theme"]``, an index
into its themes (wrapped around their count); without it the model gets no condition and uses its
own default. An unconditional model ignores the parameter.

On CUDA only: channels-last memory for convolutional models, half precision where it draws the
same picture as float32 (checked on probe latents at set-up), a captured CUDA graph per
condition where replaying it is faster than launching the kernels one by one, and the frame
converted to uint8 on the GPU and copied out through page-locked (pinned) host memory.

Image to image: a model with ``refine`` (a diffusion model) turns ``LatentState.source`` into a
picture of its art, noised with the latent as the noise, to the strength ``params["refine"]``.

Everywhere: a latent that moved less than ``generator.reuse_below`` since the last render gets
that render's frame again (no model call), and a model that can change its output size (the
CPPN) can be told a new resolution at run time (adaptive quality, ``installation.quality``).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from installation.config import GeneratorConfig
from installation.contracts import LatentState
from installation.model_runner import (
    DEFAULT_REFINE,
    FALLBACK_MODEL,
    REFINE_PARAM,
    THEME_PARAM,
    ModelRunner,
    select_device,
)

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_REFINE", "FALLBACK_MODEL", "REFINE_PARAM", "THEME_PARAM", "GeneratorHost", "select_device"]

NAN_FRAMES_BEFORE_FALLBACK = 3  # a model whose output holds NaN this many frames running is replaced


class GeneratorHost:
    """The generator stage: renders latents with the configured model, and owns that model's
    failures: one that cannot be loaded, and one that draws NaN frame after frame, are replaced
    by a new CPPN runner (same latent size, so the scene carries on)."""

    def __init__(self, config: GeneratorConfig, fallback: bool = True) -> None:
        """Load the model and allocate its buffers.

        With ``fallback`` (the runtime's way), a model that cannot be loaded or fails its probe
        frame is replaced by the CPPN and the reason kept in ``fallback_reason``; without it, that
        ModelError is raised. Raises ModelError when the device cannot be used.
        """
        self._config = config
        self._runner = ModelRunner(config, fallback)
        self.fallback_reason: str | None = self._runner.fallback_reason  # why the configured model is not running
        self._retired_nan = self._retired_reused = 0  # counts of a runner that was replaced
        self._nan_streak = 0

    @property
    def latent_dim(self) -> int:
        """Returns D, the length of ``LatentState.z`` that ``render`` accepts."""
        return self._runner.latent_dim

    @property
    def resolution(self) -> int:
        """Returns R, the height of the images ``render`` returns (and their width when square)."""
        return self._runner.resolution

    @property
    def themes(self) -> tuple[str, ...]:
        """Returns the model's theme names (``params["theme"]`` indexes them); () if unconditional."""
        return self._runner.themes

    @property
    def refines(self) -> bool:
        """Whether the model turns ``LatentState.source`` pictures into its art (image to image)."""
        return self._runner.refines

    @property
    def model(self) -> torch.nn.Module:
        """Returns the running model (the CPPN after a fallback), e.g. for ``models.latent_tools``."""
        return self._runner.model

    @property
    def device(self) -> torch.device:
        return self._runner.device

    @property
    def adjustable(self) -> bool:
        """Whether ``set_resolution`` can change this model's output size (the CPPN's can)."""
        return self._runner.adjustable

    @property
    def nan_frames(self) -> int:
        """Frames whose model output held NaN or inf, this run (drawn grey)."""
        return self._retired_nan + self._runner.nan_frames

    @property
    def reused_frames(self) -> int:
        """Renders answered with the previous frame: the latent had barely moved."""
        return self._retired_reused + self._runner.reused_frames

    def warm_up(self) -> None:
        """Render once through the whole path so the first shown frame is not slow. Raises ModelError."""
        self._runner.warm_up()

    def set_resolution(self, resolution: int) -> None:
        """Draw at ``resolution`` from now on (adaptive quality). Raises ModelError if the size is fixed."""
        self._runner.set_resolution(resolution)

    def render(self, state: LatentState) -> np.ndarray:
        """The picture of ``state`` as (H, W, 3) uint8 RGB, read-only (see ``ModelRunner.render``).
        A model that draws NaN in ``NAN_FRAMES_BEFORE_FALLBACK`` frames running is replaced."""
        nan_before = self._runner.nan_frames
        frame = self._runner.render(state)
        self._nan_streak = self._nan_streak + 1 if self._runner.nan_frames > nan_before else 0
        if self._nan_streak >= NAN_FRAMES_BEFORE_FALLBACK and self.fallback_reason is None:
            self.fall_back_to_cppn(f"produced NaN in {self._nan_streak} frames in a row")
        return frame

    def fall_back_to_cppn(self, reason: str) -> None:
        """Replace the running model with a new CPPN runner (same latent size); logged, and
        ``fallback_reason`` says why. The run's counts carry on."""
        original = self._config.model
        config = dataclasses.replace(self._config, model=FALLBACK_MODEL, latent_dim=self.latent_dim)
        replacement = ModelRunner(config)  # built whole before the failing one is let go
        self._retired_nan += self._runner.nan_frames
        self._retired_reused += self._runner.reused_frames
        self._runner, self._nan_streak, self.fallback_reason = replacement, 0, reason
        logger.warning("generator model '%s' %s; running on the CPPN instead", original, reason)
