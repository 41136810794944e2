"""``SceneTools`` for a running ``GeneratorHost``: what a scene may use of the model it is drawn with."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import torch

from installation.generator import GeneratorHost
from models.latent_tools import directions_for
from scenes.base import SceneTools

log = logging.getLogger(__name__)


class ImageEncoder:
    """RGB uint8 (H, W, 3), any size -> the model's latent (D,) float32, through ``model.encode``.

    The image is resized to the model's resolution with area averaging, scaled to [-1, 1] and
    encoded with no condition (the average of a conditional model's themes). Buffers are
    allocated once; each call runs one encoder pass on the loop's thread.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, resolution: int) -> None:
        self._model = model
        self._resolution = resolution
        parameter = next(model.parameters())
        self._dtype = parameter.dtype  # fp16 where the host halved the model on CUDA
        self._small = np.empty((resolution, resolution, 3), np.uint8)  # (R, R, 3) resized input
        self._host = torch.empty(1, 3, resolution, resolution, dtype=torch.float32)  # (1, 3, R, R)
        self._device_input = (self._host if device.type == "cpu"
                              else torch.empty(1, 3, resolution, resolution, dtype=self._dtype, device=device))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Returns the posterior mean latent (D,) float32 of ``rgb``. Raises ValueError for an
        image that is not (H, W, 3) uint8."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"encode expects an RGB uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
        R = self._resolution
        small = rgb if rgb.shape[:2] == (R, R) else cv2.resize(rgb, (R, R), dst=self._small, interpolation=cv2.INTER_AREA)
        chw = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)  # (3, R, R) uint8 view
        self._host[0].copy_(chw).div_(127.5).sub_(1.0)  # [0, 255] -> [-1, 1]
        with torch.inference_mode():
            if self._device_input is not self._host:
                self._device_input.copy_(self._host)  # host -> device, cast to the model's dtype
            mean = self._model.encode(self._device_input)  # (1, D)
            # On a GPU this reads the result back: one sync per call.
            return mean[0].float().cpu().numpy().astype(np.float32, copy=False)


class ModelDirections:
    """k -> the model's k most meaningful latent directions (k, D), GANSpace-style
    (``models.latent_tools.directions_for``): computed on first use (seconds for the CPPN, once per
    model and machine), then read from the on-disk cache. Fewer than k when the latent is smaller."""

    SAMPLES, COMPONENTS = 128, 32  # fixed, so that every scene shares one cache file per model

    def __init__(self, model: torch.nn.Module) -> None:
        self._model = model
        self._directions: np.ndarray | None = None

    def __call__(self, k: int) -> np.ndarray:
        if self._directions is None:
            found = directions_for(self._model, samples=self.SAMPLES, components=self.COMPONENTS)
            self._directions = found.directions  # (K, D) float32
        return self._directions[:k]


def scene_tools_for(host: GeneratorHost) -> SceneTools:
    """The tools a scene gets for ``host``: its latent size, resolution and themes, its ``render``,
    and ``encode`` where the model has an encoder (a VAE), else None.

    ``encode`` keeps the encoder of the model loaded now: if the host later falls back to the CPPN
    (same latent size), encoding still works, though the picture is the CPPN's.
    """
    model = host.model
    encode = None
    if callable(getattr(model, "encode", None)):
        encode = ImageEncoder(model, host.device, host.resolution)
    log.debug("scene tools: latent %d, %d px, themes %s, encoder %s", host.latent_dim, host.resolution,
              host.themes, "yes" if encode else "no")
    return SceneTools(latent_dim=host.latent_dim, resolution=host.resolution, themes=host.themes,
                      encode=encode, render=host.render, refines=host.refines,
                      # a refining (diffusion) model takes seconds a picture: hundreds for the analysis is too many
                      directions=None if host.refines else ModelDirections(model))
