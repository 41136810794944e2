"""Continuous mapping by demonstration: taught (features, targets) pairs are reproduced exactly
at the taught poses and blended smoothly between them; saved and loaded like gestures."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from installation.feature_specs import FEATURE_SPECS, Features
from installation.gestures import ContinuousMapping, GestureError, GestureRecognizer, GesturesConfig
from installation.gestures.model import Example, ExampleKind
from installation.gestures.store import load_model, save_model
from installation.gestures.training import train

NAMES = [spec.name for spec in FEATURE_SPECS]


def taught_poses(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lows = np.array([spec.low for spec in FEATURE_SPECS])
    highs = np.array([spec.high for spec in FEATURE_SPECS])
    return rng.uniform(lows, highs, size=(count, len(NAMES))), rng.uniform(0.0, 1.0, size=(count, 2))


@pytest.mark.parametrize("method", ["rbf", "idw"])
def test_taught_targets_are_reproduced_at_the_taught_poses(method):
    poses, targets = taught_poses(6)
    mapping = ContinuousMapping.fit(poses, targets, NAMES, ["hue", "zoom"], method)
    for pose, target in zip(poses, targets):
        np.testing.assert_allclose(mapping.predict(pose), target, atol=1e-6)


def test_two_poses_blend_linearly_enough_and_meet_in_the_middle():
    poses, targets = taught_poses(2)
    mapping = ContinuousMapping.fit(poses, targets, NAMES, ["hue", "zoom"])
    np.testing.assert_allclose(mapping.predict(poses.mean(axis=0)), targets.mean(axis=0), atol=1e-9)
    path = np.array([mapping.predict((1 - s) * poses[0] + s * poses[1]) for s in np.linspace(0.0, 1.0, 21)])
    for column in range(2):  # monotone from one target to the other, never beyond them
        steps = np.diff(path[:, column]) * np.sign(targets[1, column] - targets[0, column])
        assert (steps >= -1e-12).all()


@pytest.mark.parametrize("method", ["rbf", "idw"])
def test_between_neighbouring_poses_the_output_moves_between_their_targets(method):
    poses, targets = taught_poses(8, seed=4)
    mapping = ContinuousMapping.fit(poses, targets, NAMES, ["hue", "zoom"], method)
    a = 0
    b = int(np.argsort(np.linalg.norm(poses - poses[a], axis=1))[1])  # a's nearest taught neighbour
    path = np.array([mapping.predict((1 - s) * poses[a] + s * poses[b]) for s in np.linspace(0.0, 1.0, 11)])
    np.testing.assert_allclose(path[0], targets[a], atol=1e-6)
    np.testing.assert_allclose(path[-1], targets[b], atol=1e-6)
    assert np.isfinite(path).all()
    spread = targets.max(axis=0) - targets.min(axis=0)
    assert (path >= targets.min(axis=0) - 0.25 * spread).all() and (path <= targets.max(axis=0) + 0.25 * spread).all()
    if method == "idw":  # a weighted average never leaves the taught range
        assert (path >= targets.min(axis=0) - 1e-9).all() and (path <= targets.max(axis=0) + 1e-9).all()


def test_named_inputs_and_mistakes():
    poses, targets = taught_poses(3)
    mapping = ContinuousMapping.fit(poses, targets, NAMES, ["hue", "zoom"])
    values = mapping.predict_named(Features.from_values(dict(zip(NAMES, poses[1]))).as_dict())
    assert values == pytest.approx({"hue": targets[1, 0], "zoom": targets[1, 1]}, abs=1e-5)
    with pytest.raises(KeyError, match="presence"):
        mapping.predict_named({"body_x": 0.0})
    with pytest.raises(GestureError, match="method"):
        ContinuousMapping.fit(poses, targets, NAMES, ["hue", "zoom"], "spline")
    with pytest.raises(GestureError, match="names"):
        ContinuousMapping.fit(poses, targets, NAMES[:3], ["hue", "zoom"])
    far = np.full(len(NAMES), 50.0)  # far from every taught pose: the targets' centre, not a blow-up
    np.testing.assert_allclose(mapping.predict(far), mapping.bias, atol=1e-9)


def test_a_mapping_is_trained_from_examples_and_saved_like_gestures(tmp_path):
    poses, targets = taught_poses(3)
    examples = [
        Example(ExampleKind.MAPPING, "bloom", {"inputs": np.tile(pose, (30, 1)), "targets": np.tile(target, (30, 1))},
                {"input_names": NAMES, "target_names": ["hue", "zoom"]})
        for pose, target in zip(poses, targets)
    ]
    trained = train(examples, GesturesConfig())
    save_model(tmp_path / "model.npz", trained)
    mapping = load_model(tmp_path / "model.npz").mappings["bloom"]
    for pose, target in zip(poses, targets):
        np.testing.assert_allclose(mapping.predict(pose), target, atol=1e-5)
    # as the runtime hands it to scenes: every taught mapping of the frame's named features
    recognizer = GestureRecognizer.from_config(replace(GesturesConfig(), folder=str(tmp_path)), 4 / 3, True)
    mapped = recognizer.mapped(dict(zip(NAMES, poses[2])))
    assert mapped == {"bloom": pytest.approx({"hue": targets[2, 0], "zoom": targets[2, 1]}, abs=1e-5)}
    with pytest.raises(GestureError, match="no taught mapping called 'wilt'"):
        recognizer.mapping("wilt")
    clash = Example(ExampleKind.MAPPING, "bloom", {"inputs": poses[:1], "targets": targets[:1, :1]},
                    {"input_names": NAMES, "target_names": ["hue"]})
    with pytest.raises(GestureError, match="disagree"):
        train(examples + [clash], GesturesConfig())


def test_recordings_of_a_jittery_held_pose_blend_across_the_gap_between_them():
    """Each recording holds one pose with the natural jitter of a person; between the two
    recorded poses the output crosses smoothly from one target to the other."""
    poses, targets = taught_poses(2, seed=7)
    rng = np.random.default_rng(8)
    examples = [
        Example(ExampleKind.MAPPING, "bloom",
                {"inputs": pose + rng.normal(0.0, 0.02, size=(40, len(NAMES))), "targets": np.tile(target, (40, 1))},
                {"input_names": NAMES, "target_names": ["hue", "zoom"]})
        for pose, target in zip(poses, targets)
    ]
    mapping = train(examples, GesturesConfig()).mappings["bloom"]
    for example in examples:  # every taught frame is reproduced
        predicted = np.array([mapping.predict(x) for x in example.arrays["inputs"]])
        np.testing.assert_allclose(predicted, example.arrays["targets"], atol=1e-4)
    path = np.array([mapping.predict((1 - s) * poses[0] + s * poses[1]) for s in np.linspace(0.0, 1.0, 11)])
    np.testing.assert_allclose(path[5], targets.mean(axis=0), atol=0.1)  # halfway: about halfway
    progress = (path[:, 0] - targets[0, 0]) / (targets[1, 0] - targets[0, 0])
    assert (np.diff(progress) > -0.02).all() and progress[2] < progress[5] < progress[8]
