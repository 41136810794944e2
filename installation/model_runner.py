"""One model, running: its device, its buffers, and the per-frame render (see ``installation.generator``)."""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import torch

from installation.config import GeneratorConfig
from installation.contracts import LatentState
from installation.errors import ModelError
from installation.generator_cuda import CudaGraph, capture_if_faster, prepare_for_cuda
from models import Generator, build_generator

logger = logging.getLogger("installation.generator")  # one logger for the generator stage

FALLBACK_MODEL = "cppn"
THEME_PARAM = "theme"  # LatentState.params key: the index of a conditional model's theme
REFINE_PARAM = "refine"  # LatentState.params key: image-to-image strength for LatentState.source
DEFAULT_REFINE = 0.6


class ModelRunner:
    """Renders latents with one model, on the configured device, as RGB uint8. ``GeneratorHost``
    holds one and replaces it whole when its model fails mid-show."""

    def __init__(self, config: GeneratorConfig, fallback: bool = True) -> None:
        """Load the model and allocate its buffers.

        With ``fallback`` (the runtime's way), a model that cannot be loaded or fails its probe
        frame is replaced by the CPPN and the reason kept in ``fallback_reason``; without it, that
        ModelError is raised. Raises ModelError when the device cannot be used.
        """
        self._config = config
        self._device = select_device(config.device)
        if config.torch_threads > 0:
            # Process-wide: the generator is the heaviest CPU user, so it sets the policy.
            torch.set_num_threads(config.torch_threads)
        self.fallback_reason: str | None = None  # why the configured model is not the one running
        self._model = self._load_or_fall_back(config, fallback)
        self._themes: tuple[str, ...] = tuple(getattr(self._model, "themes", ()) or ())
        self._dtype = torch.float32
        if self._device.type == "cuda":
            self._dtype = prepare_for_cuda(self._model, self._device)
        D = self._model.latent_dim
        self._z_host = torch.zeros(1, D, dtype=torch.float32)  # (1, D), written from numpy each frame
        self._z_np = self._z_host.numpy()  # (1, D) view of the same memory
        on_cpu = self._device.type == "cpu"
        self._z = self._z_host if on_cpu else torch.zeros(1, D, device=self._device, dtype=self._dtype)  # (1, D)
        self._condition = torch.zeros(1, dtype=torch.long, device=self._device)  # (1,) theme index
        self._theme_index = 0
        self._graphs: dict[tuple[bool, int], CudaGraph | None] = {}  # (conditioned, resolution) -> graph
        self._work: torch.Tensor | None = None  # (3, H, W) float32, allocated on the first frame
        self._pixels: torch.Tensor | None = None  # (H, W, 3) uint8 on the device, GPU only
        self._pinned: torch.Tensor | None = None  # (H, W, 3) uint8 page-locked host copy, GPU only
        self.nan_frames = 0  # frames whose model output held NaN or inf
        self.reused_frames = 0  # renders answered with the previous frame: the latent had barely moved
        self._last_frame: np.ndarray | None = None  # the previous render, read-only (reuse hands it out again)
        self._last_key: tuple[int | None, int] | None = None  # (theme index, resolution) it was drawn with
        self._last_z = np.zeros(D, np.float32)  # (D,) the latent it was drawn from
        self._last_source: np.ndarray | None = None  # the source picture it was refined from, if any

    @property
    def latent_dim(self) -> int:
        """Returns D, the length of ``LatentState.z`` that ``render`` accepts."""
        return int(self._model.latent_dim)

    @property
    def resolution(self) -> int:
        """Returns R, the height of the images ``render`` returns (and their width when square)."""
        return int(self._model.resolution)

    @property
    def themes(self) -> tuple[str, ...]:
        """Returns the model's theme names (``params["theme"]`` indexes them); () if unconditional."""
        return self._themes

    @property
    def refines(self) -> bool:
        """Whether the model turns ``LatentState.source`` pictures into its art (image to image)."""
        return callable(getattr(self._model, "refine", None)) and callable(getattr(self._model, "noise_from_latent", None))

    @property
    def model(self) -> torch.nn.Module:
        """Returns the running model (the CPPN after a fallback), e.g. for ``models.latent_tools``."""
        return self._model

    @property
    def device(self) -> torch.device:
        """Returns the device the model runs on."""
        return self._device

    def warm_up(self) -> None:
        """Render one frame from z = 0 and discard it, so kernels, caches and buffers are ready.

        Raises ModelError if the model's output breaks the generator contract.
        """
        self.render(LatentState(z=np.zeros(self.latent_dim, np.float32)))
        logger.info("generator warmed up on %s at %d x %d%s", self._device, self.resolution, self.resolution,
                    " (fp16)" if self._dtype == torch.float16 else "")

    def render(self, state: LatentState) -> np.ndarray:
        """Render ``state.z`` (and ``state.params["theme"]`` for a conditional model).

        Returns a contiguous (H, W, 3) uint8 RGB image, read-only: when the latent has barely moved
        since the last render (``generator.reuse_below``) it is that render's image again. Raises
        ModelError if z is not a vector of length ``latent_dim``, or if the model's output is not
        (1, 3, H, W).
        """
        self._load_latent(state.z)
        condition = self._condition_for(state.params)
        source = state.source if self.refines else None
        key = (None if condition is None else self._theme_index, self.resolution)
        if self._can_reuse(key) and source is self._last_source:
            self.reused_frames += 1
            return self._last_frame  # type: ignore[return-value]
        nan_before = self.nan_frames
        with torch.inference_mode():
            if source is None:
                image = self._forward(condition)  # (1, 3, H, W) in [-1, 1]
            else:
                image = self._refine(source, float(state.params.get(REFINE_PARAM, DEFAULT_REFINE)), condition)
            _check_output(image)
            frame = self._to_rgb8(image[0])
        frame.flags.writeable = False  # it may be handed out again: nobody may paint into it
        # A frame with NaN is never reused: the model is asked again, and the runtime sees the streak.
        self._last_frame = frame if self.nan_frames == nan_before else None
        self._last_key = key
        self._last_source = source
        np.copyto(self._last_z, self._z_np[0])
        return frame

    @property
    def adjustable(self) -> bool:
        """Whether ``set_resolution`` can change this model's output size (the CPPN's can)."""
        return callable(getattr(self._model, "set_resolution", None))

    def set_resolution(self, resolution: int) -> None:
        """Draw at ``resolution`` from now on (adaptive quality). The same latent draws the same
        picture at another sharpness. Raises ModelError if the model's size is fixed."""
        if not self.adjustable:
            raise ModelError(f"generator '{self._config.model}' draws at a fixed {self.resolution} px")
        if resolution != self.resolution:
            self._model.set_resolution(int(resolution))
            self._last_frame = None

    def _can_reuse(self, key: tuple[int | None, int]) -> bool:
        """True when the previous frame was drawn with this condition and size from a latent within
        ``reuse_below`` (largest component change) of this one: redrawing would not show."""
        if self._last_frame is None or key != self._last_key or self._config.reuse_below <= 0:
            return False
        return float(np.max(np.abs(self._z_np[0] - self._last_z))) < self._config.reuse_below

    def _load_or_fall_back(self, config: GeneratorConfig, fallback: bool) -> torch.nn.Module:
        try:
            model = _load_model(config, self._device)
            _probe_frame(model, config.model, self._device)
            return model
        except ModelError as error:
            if not fallback or config.model == FALLBACK_MODEL:
                raise
            self.fallback_reason = str(error)
        logger.warning("generator model '%s' cannot be used: %s; running on the CPPN instead",
                       config.model, self.fallback_reason)
        return _load_model(dataclasses.replace(config, model=FALLBACK_MODEL), self._device)

    def _load_latent(self, z: np.ndarray) -> None:
        z = np.asarray(z)
        if z.shape != (self.latent_dim,):
            got = f"length {z.shape[0]}" if z.ndim == 1 else f"shape {z.shape}"
            raise ModelError(f"latent z has {got}; the generator expects length {self.latent_dim}")
        np.copyto(self._z_np[0], z, casting="same_kind")
        if self._z is not self._z_host:
            self._z.copy_(self._z_host)  # 4 * D bytes host -> device (cast to the model's dtype)

    def _condition_for(self, params: dict[str, float]) -> torch.Tensor | None:
        """The (1,) theme index buffer for a conditional model asked for a theme, else None."""
        theme = params.get(THEME_PARAM) if self._themes else None
        if theme is None:
            return None
        index = int(round(float(theme))) % len(self._themes)
        if index != self._theme_index:
            self._condition.fill_(index)  # a scalar write into the set-up buffer: no allocation
            self._theme_index = index
        return self._condition

    def _forward(self, condition: torch.Tensor | None) -> torch.Tensor:
        if self._device.type == "cuda":
            graph = self._graph_for(condition)
            if graph is not None:
                return graph.replay()
        return self._model(self._z) if condition is None else self._model(self._z, condition)

    def _refine(self, source: np.ndarray, strength: float, condition: torch.Tensor | None) -> torch.Tensor:
        """Image to image: ``source`` (H, W, 3) uint8 at the model's size, noised with this latent."""
        if source.ndim != 3 or source.shape[2] != 3 or source.dtype != np.uint8:
            raise ModelError(f"a source picture must be RGB uint8 (H, W, 3), got {source.dtype} {source.shape}")
        R = self.resolution
        if source.shape[:2] != (R, R):
            source = cv2.resize(source, (R, R), interpolation=cv2.INTER_AREA)
        picture = torch.from_numpy(np.ascontiguousarray(source)).permute(2, 0, 1)[None]  # (1, 3, R, R) uint8
        picture = (picture.to(self._device, self._dtype) / 127.5 - 1.0)
        noise = self._model.noise_from_latent(self._z)  # (1, 3, R, R): the latent is the noise
        return self._model.refine(picture, min(max(strength, 0.05), 1.0), noise, condition)

    def _graph_for(self, condition: torch.Tensor | None) -> CudaGraph | None:
        """The CUDA graph for this kind of call, captured on first use; None where it does not help."""
        key = (condition is not None, self.resolution)  # a new resolution needs a new capture
        if key not in self._graphs:
            self._graphs[key] = capture_if_faster(self._model, self._z, condition)
        return self._graphs[key]

    def _to_rgb8(self, image: torch.Tensor) -> np.ndarray:
        """(3, H, W) in [-1, 1] -> (H, W, 3) uint8 on the CPU, non-finite values as grey."""
        if self._work is None or self._work.shape != image.shape:
            self._allocate_frame_buffers(image.shape)
        finite = torch.isfinite(image).all()  # () bool, left on the device: no sync here
        work = self._work.copy_(image)  # float32 whatever the model's dtype
        work.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        work.add_(1.0).mul_(127.5).add_(0.5).clamp_(0.0, 255.0)  # + 0.5: the cast truncates
        hwc = work.permute(1, 2, 0)  # (H, W, 3) view
        frame = np.empty(hwc.shape, np.uint8)  # new each frame: callers may keep frames
        if self._pixels is None:
            torch.from_numpy(frame).copy_(hwc)
        else:
            self._pixels.copy_(hwc)  # convert on the GPU so a quarter of the bytes cross the bus
            self._pinned.copy_(self._pixels, non_blocking=True)  # DMA into page-locked host memory
            # The one GPU -> CPU sync point: waits for the frame and its copy to finish.
            torch.cuda.current_stream(self._device).synchronize()
            np.copyto(frame, self._pinned.numpy())
        if not bool(finite):  # already synchronised above, so reading the flag costs no wait
            self._count_nan_frame()
        return frame

    def _allocate_frame_buffers(self, shape: torch.Size) -> None:
        # Sized from the first output, and again if the model's resolution is changed later.
        logger.debug("generator frame buffers for output %s", tuple(shape))
        self._work = torch.empty(shape, dtype=torch.float32, device=self._device)  # (3, H, W)
        if self._device.type != "cpu":
            C, H, W = shape
            self._pixels = torch.empty(H, W, C, dtype=torch.uint8, device=self._device)  # (H, W, 3)
            self._pinned = torch.empty(H, W, C, dtype=torch.uint8, pin_memory=True)  # (H, W, 3) host side

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
    if config.steps and hasattr(model, "sample_steps"):
        model.sample_steps = config.steps  # a diffusion model: fewer steps, faster and softer
    logger.info("generator '%s' on %s: latent %d, resolution %d, seed %d", config.model, device,
                model.latent_dim, model.resolution, config.seed)
    return model


def _probe_frame(model: torch.nn.Module, name: str, device: torch.device) -> None:
    """Render z = 0 once; raises ModelError if that fails, breaks the contract or is not finite."""
    z = torch.zeros(1, int(model.latent_dim), device=device)  # (1, D)
    with torch.inference_mode():
        try:
            image = model(z)
        except (RuntimeError, ValueError) as error:
            raise ModelError(f"model '{name}' failed its first render: {error}") from None
        _check_output(image)
        if not bool(torch.isfinite(image).all()):  # a sync, once, at set-up
            raise ModelError(f"model '{name}' rendered NaN or inf from a zero latent")


def _check_output(image: torch.Tensor) -> None:
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ModelError(f"generator returned shape {tuple(image.shape)}; expected (1, 3, H, W)")
