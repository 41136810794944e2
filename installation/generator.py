"""The generator host: owns the model and its device, and turns a ``LatentState`` into pixels.

Set-up (``__init__``) picks the device, builds the model and allocates the device buffers;
``warm_up()`` renders once so the first shown frame is not slow; ``render()`` is the per-frame
step. A model that emits NaN or inf never stops the show: those values become grey, and the
frame is counted in ``nan_frames``.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from installation.config import GeneratorConfig
from installation.contracts import LatentState
from installation.errors import ModelError
from models import Generator, build_generator

logger = logging.getLogger(__name__)


class GeneratorHost:
    """Renders latents with the configured model, on the configured device, as RGB uint8."""

    def __init__(self, config: GeneratorConfig) -> None:
        """Build the model and its buffers. Raises ModelError if either cannot be set up."""
        self._device = select_device(config.device)
        if config.torch_threads > 0:
            # Process-wide: the generator is the heaviest CPU user, so it sets the policy.
            torch.set_num_threads(config.torch_threads)
        self._model = _load_model(config, self._device)
        D = self._model.latent_dim
        self._z_host = torch.zeros(1, D, dtype=torch.float32)  # (1, D), written from numpy each frame
        self._z_np = self._z_host.numpy()  # (1, D) view of the same memory
        on_cpu = self._device.type == "cpu"
        self._z = self._z_host if on_cpu else torch.zeros(1, D, device=self._device)  # (1, D)
        self._work: torch.Tensor | None = None  # (3, R, R) float, allocated on the first frame
        self._pixels: torch.Tensor | None = None  # (R, R, 3) uint8 on the device, GPU only
        self.nan_frames = 0  # frames whose model output held NaN or inf

    @property
    def latent_dim(self) -> int:
        """Returns D, the length of ``LatentState.z`` that ``render`` accepts."""
        return int(self._model.latent_dim)

    @property
    def resolution(self) -> int:
        """Returns R: ``render`` returns (R, R, 3) images."""
        return int(self._model.resolution)

    @property
    def device(self) -> torch.device:
        """Returns the device the model runs on."""
        return self._device

    def warm_up(self) -> None:
        """Render one frame from z = 0 and discard it, so kernels, caches and buffers are ready.

        Raises ModelError if the model's output breaks the generator contract.
        """
        self.render(LatentState(z=np.zeros(self.latent_dim, np.float32)))
        logger.info("generator warmed up on %s at %d x %d", self._device, self.resolution, self.resolution)

    def render(self, state: LatentState) -> np.ndarray:
        """Render ``state.z``; returns a new contiguous (R, R, 3) uint8 RGB image.

        Raises ModelError if z is not a vector of length ``latent_dim``, or if the model's output
        is not (1, 3, H, W).
        """
        self._load_latent(state.z)
        with torch.inference_mode():
            image = self._model(self._z)  # (1, 3, R, R) in [-1, 1]
            _check_output(image)
            return self._to_rgb8(image[0])

    def _load_latent(self, z: np.ndarray) -> None:
        z = np.asarray(z)
        if z.shape != (self.latent_dim,):
            got = f"length {z.shape[0]}" if z.ndim == 1 else f"shape {z.shape}"
            raise ModelError(f"latent z has {got}; the generator expects length {self.latent_dim}")
        np.copyto(self._z_np[0], z, casting="same_kind")
        if self._z is not self._z_host:
            self._z.copy_(self._z_host)  # 4 * D bytes host -> device, into the set-up buffer

    def _to_rgb8(self, image: torch.Tensor) -> np.ndarray:
        """(3, R, R) float in [-1, 1] -> (R, R, 3) uint8 on the CPU, non-finite values as grey."""
        if self._work is None or self._work.shape != image.shape:
            self._allocate_frame_buffers(image.shape)
        finite = torch.isfinite(image).all()  # () bool, left on the device: no sync here
        work = torch.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0, out=self._work)
        work.add_(1.0).mul_(127.5).add_(0.5).clamp_(0.0, 255.0)  # + 0.5: the cast truncates
        hwc = work.permute(1, 2, 0)  # (R, R, 3) view
        frame = np.empty(hwc.shape, np.uint8)  # new each frame: callers may keep frames
        if self._pixels is None:
            torch.from_numpy(frame).copy_(hwc)
        else:
            self._pixels.copy_(hwc)  # convert on the GPU so a quarter of the bytes cross the bus
            # The one GPU -> CPU sync point: waits for the frame to finish, then copies it out.
            torch.from_numpy(frame).copy_(self._pixels)
        if not bool(finite):  # already synchronised above, so reading the flag costs no wait
            self._count_nan_frame()
        return frame

    def _allocate_frame_buffers(self, shape: torch.Size) -> None:
        # Sized from the first output, and again if the model's resolution is changed later.
        logger.debug("generator frame buffers for output %s", tuple(shape))
        self._work = torch.empty(shape, dtype=torch.float32, device=self._device)  # (3, R, R)
        if self._device.type != "cpu":
            C, H, W = shape
            self._pixels = torch.empty(H, W, C, dtype=torch.uint8, device=self._device)  # (R, R, 3)

    def _count_nan_frame(self) -> None:
        self.nan_frames += 1
        if self.nan_frames == 1:
            logger.warning("generator output held NaN or inf; drawing those pixels grey "
                           "(further such frames are only counted in nan_frames)")


def select_device(requested: str) -> torch.device:
    """Map ``GeneratorConfig.device`` to a torch device; returns it.

    "auto" is CUDA when available, else the CPU. Raises ModelError when "cuda" is asked for and
    this torch cannot use it.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"generator.device = 'cuda', but CUDA is not available to torch {torch.__version__} "
            f"(built for CUDA: {torch.version.cuda or 'no'}); set generator.device to 'auto' or "
            "'cpu', or install a CUDA build of torch and check the driver with nvidia-smi"
        )
    if requested not in ("cpu", "cuda"):
        raise ModelError(f"generator.device = {requested!r}: expected 'auto', 'cpu' or 'cuda'")
    return torch.device(requested)


def _load_model(config: GeneratorConfig, device: torch.device) -> torch.nn.Module:
    model = build_generator(config)
    if not isinstance(model, Generator):
        raise ModelError(f"model '{config.model}' does not meet the generator contract "
                         "(latent_dim, resolution, forward(z, condition))")
    try:
        model = model.to(device).eval()
    except RuntimeError as error:
        raise ModelError(f"model '{config.model}' cannot be moved to {device}: {error}") from None
    logger.info("generator '%s' on %s: latent %d, resolution %d, seed %d", config.model, device,
                model.latent_dim, model.resolution, config.seed)
    return model


def _check_output(image: torch.Tensor) -> None:
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ModelError(f"generator returned shape {tuple(image.shape)}; expected (1, 3, H, W)")
