"""Continuous mapping by demonstration: taught (input vector, target values) pairs -> a function
that reproduces the targets at the taught inputs and interpolates smoothly between them.

Two methods, both exact at the taught inputs:

- ``rbf`` (default): Gaussian radial basis function interpolation with a constant term,
  ``f(x) = c + sum_i w_i exp(-|x - x_i|^2 / (2 width^2))`` with ``sum_i w_i = 0``. The width is
  the mean distance from each taught input to its nearest other one, so neighbouring poses
  blend; when the inputs come in groups (the frames of one recording, all with the same
  targets) it is half the mean distance between neighbouring groups' mean poses, so the blend
  spans the gap between recordings rather than the jitter within one. Far from every taught
  pose the output settles to ``c``, the targets' centre, instead of running off. With two poses,
  the point midway between them gets exactly the mean target.
- ``idw``: inverse-distance weighting (Shepard) over the ``k`` nearest taught inputs: a
  weighted average, so outputs never leave the range of the taught targets.

Inputs are used as given, with no rescaling: ``installation.feature_specs.Features`` values are all
in [-1, 1] or [0, 1], so one unit of distance means the same in every feature. A tiny ridge keeps
the RBF system solvable when two taught inputs coincide (their targets are then averaged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from installation.gestures.errors import GestureError

METHODS = ("rbf", "idw")
RIDGE = 1e-9
GROUP_WIDTH_SHARE = 0.5
IDW_K = 4
IDW_POWER = 2.0


@dataclass
class ContinuousMapping:
    """A fitted mapping from ``input_names`` to ``output_names``; build it with ``fit``."""

    input_names: list[str]
    output_names: list[str]
    method: str
    inputs: np.ndarray  # (N, F) taught inputs
    outputs: np.ndarray  # (N, T) taught targets
    width: float  # rbf kernel width (input units)
    weights: np.ndarray  # (N, T) rbf weights (zeros for idw)
    bias: np.ndarray  # (T,) rbf constant term

    @staticmethod
    def fit(
        inputs: np.ndarray,
        outputs: np.ndarray,
        input_names: list[str],
        output_names: list[str],
        method: str = "rbf",
        groups: np.ndarray | None = None,
    ) -> ContinuousMapping:
        """Fit a mapping to taught pairs ``inputs`` (N, F) -> ``outputs`` (N, T); ``groups`` (N,)
        optionally says which recording each pair came from (it sets the kernel width).

        Raises GestureError for an unknown method, mismatched shapes or names, or non-finite
        values."""
        inputs = np.atleast_2d(np.asarray(inputs, np.float64))
        outputs = np.atleast_2d(np.asarray(outputs, np.float64))
        _check(inputs, outputs, input_names, output_names, method)
        width = _kernel_width(inputs)
        if groups is not None:
            groups = np.asarray(groups)
            centres = np.array([inputs[groups == group].mean(axis=0) for group in np.unique(groups)])
            if len(centres) > 1:
                width = GROUP_WIDTH_SHARE * _kernel_width(centres)
        weights = np.zeros_like(outputs)
        bias = outputs.mean(axis=0)
        if method == "rbf":
            weights, bias = _solve_rbf(inputs, outputs, width)
        return ContinuousMapping(list(input_names), list(output_names), method, inputs, outputs, width, weights, bias)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs (T,) for one input (F,); non-finite inputs give the targets' centre."""
        x = np.asarray(x, np.float64)
        if x.shape != (len(self.input_names),):
            names = ", ".join(self.input_names)
            raise ValueError(f"expected {len(self.input_names)} inputs ({names}), got shape {x.shape}")
        if not np.isfinite(x).all():
            return self.outputs.mean(axis=0)
        distances = np.linalg.norm(self.inputs - x, axis=1)  # (N,)
        if self.method == "idw":
            return self._idw(distances)
        return self.bias + _gaussian(distances, self.width) @ self.weights

    def predict_named(self, values: dict[str, float]) -> dict[str, float]:
        """{output name: value} for a dict of named inputs (e.g. ``Features.as_dict()``).

        Raises KeyError naming an input the dict lacks."""
        missing = [name for name in self.input_names if name not in values]
        if missing:
            raise KeyError(f"the mapping needs inputs it was not given: {', '.join(missing)}")
        out = self.predict(np.array([values[name] for name in self.input_names]))
        return {name: float(value) for name, value in zip(self.output_names, out)}

    def _idw(self, distances: np.ndarray) -> np.ndarray:
        exact = distances <= 1e-12
        if exact.any():
            return self.outputs[exact].mean(axis=0)
        nearest = np.argsort(distances)[:IDW_K]
        weights = 1.0 / distances[nearest] ** IDW_POWER
        return weights @ self.outputs[nearest] / weights.sum()


def _check(
    inputs: np.ndarray, outputs: np.ndarray, input_names: list[str], output_names: list[str], method: str
) -> None:
    if method not in METHODS:
        raise GestureError(f"unknown mapping method {method!r} (expected one of {', '.join(METHODS)})")
    if inputs.ndim != 2 or outputs.ndim != 2 or len(inputs) != len(outputs) or len(inputs) == 0:
        raise GestureError(
            f"need N taught inputs (N, F) and N targets (N, T); got {inputs.shape} and {outputs.shape}"
        )
    if inputs.shape[1] != len(input_names) or outputs.shape[1] != len(output_names):
        raise GestureError(
            f"{inputs.shape[1]} inputs and {outputs.shape[1]} targets per example, but "
            f"{len(input_names)} input names and {len(output_names)} target names"
        )
    if not (np.isfinite(inputs).all() and np.isfinite(outputs).all()):
        raise GestureError("taught inputs and targets must be finite numbers")


def _kernel_width(inputs: np.ndarray) -> float:
    """Mean distance from each taught input to its nearest distinct other one (1.0 if none)."""
    distances = np.linalg.norm(inputs[:, None, :] - inputs[None, :, :], axis=2)
    distances[distances <= 1e-9] = np.inf  # itself, and exact repeats
    nearest = distances.min(axis=1)
    nearest = nearest[np.isfinite(nearest)]
    return float(nearest.mean()) if len(nearest) else 1.0


def _gaussian(distances: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-(distances**2) / (2.0 * width**2))


def _solve_rbf(inputs: np.ndarray, outputs: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (N, T) and bias (T,) of the interpolant, from the system
    [[K + ridge I, 1], [1^T, 0]] [w; c] = [y; 0]."""
    n = len(inputs)
    kernel = _gaussian(np.linalg.norm(inputs[:, None, :] - inputs[None, :, :], axis=2), width)
    system = np.zeros((n + 1, n + 1))
    system[:n, :n] = kernel + RIDGE * n * np.eye(n)
    system[:n, n] = system[n, :n] = 1.0
    rhs = np.vstack([outputs, np.zeros((1, outputs.shape[1]))])
    solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
    if not np.isfinite(solution).all():
        raise GestureError("the mapping's examples could not be interpolated (numerically singular)")
    return solution[:n], solution[n]
