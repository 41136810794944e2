"""Tests of installation.smoothing: the One Euro filter and BodySmoother's hold/fade/reset."""

from __future__ import annotations

import numpy as np
import pytest

from installation.config import SmoothingConfig
from installation.contracts import Hand, Observation, Side, TrackedBody
from installation.smoothing import BodySmoother, OneEuroFilter

FPS = 30.0


def _times(n: int) -> np.ndarray:
    return np.arange(n) / FPS


def _run(filter_: OneEuroFilter, values: np.ndarray) -> np.ndarray:
    return np.array([filter_(value, t) for value, t in zip(values, _times(len(values)))])


# --- OneEuroFilter ---------------------------------------------------------------------------


def test_one_euro_reduces_jitter_of_a_noisy_constant() -> None:
    rng = np.random.default_rng(0)
    noisy = 0.5 + rng.normal(0.0, 0.003, size=(300, 33, 2))  # ~2 px of jitter at 640 px
    for beta in (0.0, 5.0):
        out = _run(OneEuroFilter(1.0, beta, 1.0), noisy)
        settled = slice(30, None)
        assert out[settled].std() < 0.5 * noisy[settled].std()
        assert abs(out[settled].mean() - 0.5) < 0.002


def test_one_euro_follows_a_step_faster_with_beta() -> None:
    step = np.where(_times(90) < 1.0, 0.2, 0.5)[:, None]  # 0.3 image units at t = 1 s

    def frames_to_settle(beta: float) -> int:
        out = _run(OneEuroFilter(1.0, beta, 1.0), step)[:, 0]
        return int(np.argmax(np.abs(out - 0.5) < 0.05 * 0.3)) - 30

    slow, fast = frames_to_settle(0.0), frames_to_settle(10.0)
    assert fast < slow
    assert fast <= 3  # within 5 % of the step after at most 3 frames (100 ms at 30 fps)


def test_one_euro_first_value_passes_through_and_reset_forgets() -> None:
    f = OneEuroFilter(1.0, 0.0, 1.0)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0]), 0.0), [1.0, 2.0])
    assert f(np.array([3.0, 4.0]), 1 / FPS)[0] < 3.0
    f.reset()
    assert not f.is_initialised
    np.testing.assert_array_equal(f(np.array([7.0, 8.0]), 5.0), [7.0, 8.0])


def test_one_euro_ignores_a_repeated_or_earlier_timestamp() -> None:
    f, g = OneEuroFilter(1.0, 5.0, 1.0), OneEuroFilter(1.0, 5.0, 1.0)
    f(np.array([0.0]), 0.0)
    g(np.array([0.0]), 0.0)
    first = f(np.array([1.0]), 0.1)
    g(np.array([1.0]), 0.1)
    np.testing.assert_array_equal(f(np.array([9.0]), 0.1), first)  # same time: output unchanged
    np.testing.assert_array_equal(f(np.array([9.0]), 0.05), first)  # earlier: also ignored
    # ... and the state is untouched: f continues exactly like a filter that never saw them.
    np.testing.assert_array_equal(f(np.array([2.0]), 0.2), g(np.array([2.0]), 0.2))


def test_one_euro_filters_elements_independently() -> None:
    rng = np.random.default_rng(1)
    signals = np.cumsum(rng.normal(0, 0.02, size=(60, 2, 3)), axis=0)
    together = _run(OneEuroFilter(1.0, 5.0, 1.0), signals)
    for i in range(2):
        for j in range(3):
            alone = _run(OneEuroFilter(1.0, 5.0, 1.0), signals[:, i, j])
            np.testing.assert_allclose(together[:, i, j], alone, rtol=0, atol=1e-12)


def test_one_euro_rejects_a_shape_change_and_bad_parameters() -> None:
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.zeros(3), 0.0)
    with pytest.raises(ValueError):
        f(np.zeros(4), 0.1)
    with pytest.raises(ValueError):
        OneEuroFilter(0.0, 0.0, 1.0)


# --- BodySmoother ----------------------------------------------------------------------------

CONFIG = SmoothingConfig(min_cutoff_hz=1.0, beta=5.0, derivative_cutoff_hz=1.0, hold_s=0.5, fade_s=1.0)


def _pose(offset: float = 0.0) -> np.ndarray:
    pose = np.full((33, 4), 0.9, np.float32)
    pose[:, :3] = np.linspace(0.1, 0.8, 33 * 3, dtype=np.float32).reshape(33, 3) + offset
    return pose


def _hand(offset: float = 0.0) -> np.ndarray:
    return (np.linspace(0.2, 0.6, 63, dtype=np.float32).reshape(21, 3) + offset).astype(np.float32)


def _observation(t: float, pose: bool = True, hands: tuple[Hand, ...] = (), offset: float = 0.0) -> Observation:
    pose_array = _pose(offset) if pose else np.zeros((0, 4), np.float32)
    return Observation(frame_index=int(t * FPS), timestamp_s=t, wall_s=t, pose=pose_array, hands=hands)


def _presences(body: TrackedBody) -> tuple[float, float, float]:
    return body.pose_presence, body.left_presence, body.right_presence


def test_smoother_holds_then_fades_then_empties_then_restarts_fresh() -> None:
    smoother = BodySmoother(CONFIG)
    both = (Hand(_hand(), Side.LEFT, 0.9), Hand(_hand(0.1), Side.RIGHT, 0.9))
    first = smoother.update(_observation(0.0, hands=both))
    assert _presences(first) == (1.0, 1.0, 1.0)

    held = smoother.tick(0.5)  # end of the hold: presence still 1, the value unchanged
    assert _presences(held) == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(held.pose, first.pose)
    np.testing.assert_array_equal(held.right_hand, first.right_hand)

    assert _presences(smoother.tick(0.75)) == (0.75, 0.75, 0.75)  # a quarter into the fade
    half = smoother.tick(1.0)
    assert _presences(half) == (0.5, 0.5, 0.5)
    np.testing.assert_array_equal(half.left_hand, first.left_hand)  # the held value fades in place

    gone = smoother.tick(1.5)  # hold + fade: empty, and nobody
    assert _presences(gone) == (0.0, 0.0, 0.0)
    assert gone.pose.shape == (0, 4) and gone.left_hand.shape == (0, 3) and gone.right_hand.shape == (0, 3)

    # A visitor entering later is not smoothed from the stale position: the filters restarted.
    back = smoother.update(_observation(3.0, offset=0.05))
    np.testing.assert_array_equal(back.pose, _pose(0.05))
    assert _presences(back) == (1.0, 0.0, 0.0)


def test_smoother_fades_one_part_while_others_are_seen() -> None:
    smoother = BodySmoother(CONFIG)
    smoother.update(_observation(0.0, hands=(Hand(_hand(), Side.LEFT, 0.9),)))
    expected = {0.25: 1.0, 0.5: 1.0, 1.0: 0.5, 1.25: 0.25, 1.5: 0.0, 2.0: 0.0}
    for t, left_presence in expected.items():
        body = smoother.update(_observation(t))
        assert body.pose_presence == 1.0
        assert body.left_presence == pytest.approx(left_presence, abs=1e-12)
        assert body.left_hand.shape == ((21, 3) if left_presence > 0 else (0, 3))


def test_smoother_returns_nobody_and_float32_readonly_arrays() -> None:
    smoother = BodySmoother(CONFIG)
    nobody = smoother.update(_observation(0.0, pose=False))
    assert _presences(nobody) == (0.0, 0.0, 0.0) and nobody.timestamp_s == 0.0
    body = smoother.update(_observation(0.1, hands=(Hand(_hand(), Side.RIGHT, 0.8),)))
    for array in (body.pose, body.right_hand, body.left_hand):
        assert array.dtype == np.float32
        assert not array.flags.writeable


def test_smoother_keeps_the_higher_scoring_hand_of_a_side() -> None:
    smoother = BodySmoother(CONFIG)
    hands = (Hand(_hand(0.0), Side.LEFT, 0.6), Hand(_hand(0.2), Side.LEFT, 0.95), Hand(_hand(0.1), Side.LEFT, 0.7))
    body = smoother.update(_observation(0.0, hands=hands))
    np.testing.assert_array_equal(body.left_hand, _hand(0.2))
    assert body.right_presence == 0.0 and body.right_hand.shape == (0, 3)


def test_smoother_treats_a_malformed_part_as_unseen() -> None:
    smoother = BodySmoother(CONFIG)
    smoother.update(_observation(0.0))
    bad_pose = _pose()
    bad_pose[3, 1] = np.nan
    obs = Observation(1, 1.0, 1.0, pose=bad_pose, hands=(Hand(np.zeros((20, 3), np.float32), Side.LEFT, 1.0),))
    body = smoother.update(obs)
    assert smoother.rejected_parts == 2
    assert body.pose_presence == 0.5  # the pose is fading, not poisoned with NaN
    assert np.isfinite(body.pose).all()


def test_smoother_smooths_between_sightings() -> None:
    smoother = BodySmoother(CONFIG)
    smoother.update(_observation(0.0))
    moved = smoother.update(_observation(1 / FPS, offset=0.1))
    assert np.all(moved.pose[:, :3] > _pose()[:, :3]) and np.all(moved.pose[:, :3] < _pose(0.1)[:, :3])


def test_smoother_reset_forgets_everybody() -> None:
    smoother = BodySmoother(CONFIG)
    smoother.update(_observation(0.0))
    smoother.reset()
    assert _presences(smoother.tick(0.1)) == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(smoother.update(_observation(0.2, offset=0.3)).pose, _pose(0.3))
