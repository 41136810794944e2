"""Tests of installation.features and installation.feature_specs on synthetic bodies with known answers,
and on real photos."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from installation.contracts import HandLandmark as H
from installation.contracts import PoseLandmark as P
from installation.contracts import TrackedBody
from installation.feature_specs import DEFAULT_DOCS_PATH, FEATURE_SPECS, Features, write_feature_docs
from installation.features import FeatureExtractor

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
HAND_IMAGES = MEDIA / "images" / "hands"

# A standing visitor in image-height units (x = normalised x * aspect): shoulders 0.2 wide at
# y = 0.4, hips 0.3 lower, so a torso is 0.3 = 1.5 shoulder widths. Unmirrored camera view: the
# visitor's left is on the image's right.
SHOULDER_Y, TORSO, HALF_SHOULDER = 0.4, 0.3, 0.1


def _upper_body(centre_x: float, wrists: tuple[tuple[float, float], tuple[float, float]]) -> dict:
    """Landmarks {PoseLandmark: (x, y)} in image-height units; wrists are (left, right) offsets
    from the shoulder midpoint."""
    (lx, ly), (rx, ry) = wrists
    return {
        P.NOSE: (centre_x, SHOULDER_Y - 0.15),
        P.LEFT_SHOULDER: (centre_x + HALF_SHOULDER, SHOULDER_Y),
        P.RIGHT_SHOULDER: (centre_x - HALF_SHOULDER, SHOULDER_Y),
        P.LEFT_ELBOW: (centre_x + (HALF_SHOULDER + lx) / 2, SHOULDER_Y + ly / 2),
        P.RIGHT_ELBOW: (centre_x + (-HALF_SHOULDER + rx) / 2, SHOULDER_Y + ry / 2),
        P.LEFT_WRIST: (centre_x + lx, SHOULDER_Y + ly),
        P.RIGHT_WRIST: (centre_x + rx, SHOULDER_Y + ry),
        P.LEFT_HIP: (centre_x + 0.07, SHOULDER_Y + TORSO),
        P.RIGHT_HIP: (centre_x - 0.07, SHOULDER_Y + TORSO),
    }


def _pose(points: dict, aspect: float = 1.0, hidden: tuple[P, ...] = ()) -> np.ndarray:
    """(33, 4) normalised pose; unlisted or ``hidden`` landmarks get visibility 0."""
    pose = np.zeros((33, 4), np.float32)
    for landmark, (x, y) in points.items():
        pose[landmark] = (x / aspect, y, 0.0, 0.0 if landmark in hidden else 0.99)
    return pose


def _body(pose: np.ndarray | None = None, left: np.ndarray | None = None, right: np.ndarray | None = None,
          t: float = 0.0, presences: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> TrackedBody:
    empty_hand = np.zeros((0, 3), np.float32)
    return TrackedBody(
        t,
        pose if pose is not None else np.zeros((0, 4), np.float32),
        left if left is not None else empty_hand,
        right if right is not None else empty_hand,
        presences[0] if pose is not None else 0.0,
        presences[1] if left is not None else 0.0,
        presences[2] if right is not None else 0.0,
    )


def _features(body: TrackedBody, aspect: float = 1.0) -> Features:
    return FeatureExtractor(aspect).update(body)


def _in_range(features: Features) -> bool:
    return all(
        math.isfinite(value) and spec.low <= value <= spec.high
        for spec, value in zip(FEATURE_SPECS, features.as_dict().values())
    )


# A hand in the image plane, palm to the camera, fingers up; lengths in palm lengths (wrist to
# middle MCP). Each finger joint flexes by ``curl`` radians toward the camera, as in a fist.
PALM = 0.1  # image heights
FINGERS = {  # MCP landmark: (angle from vertical, phalanx lengths)
    H.INDEX_MCP: (-0.25, (0.45, 0.27, 0.2)),
    H.MIDDLE_MCP: (0.0, (0.48, 0.3, 0.21)),
    H.RING_MCP: (0.2, (0.45, 0.28, 0.2)),
    H.PINKY_MCP: (0.42, (0.36, 0.22, 0.18)),
}


def _hand(centre: tuple[float, float] = (0.5, 0.5), curl: float = 0.0, thumb_on_index: bool = False,
          aspect: float = 1.0) -> np.ndarray:
    """(21, 3) normalised hand landmarks, wrist at ``centre`` (image-height units)."""
    points = np.zeros((21, 3))
    for mcp, (angle, lengths) in FINGERS.items():
        base = np.array([math.sin(angle), -math.cos(angle), 0.0]) * (1.0 if mcp == H.MIDDLE_MCP else 0.95)
        points[mcp] = base
        up = np.array([math.sin(angle), -math.cos(angle), 0.0])
        bend = 0.0
        for joint, length in zip(range(mcp + 1, mcp + 4), lengths):
            bend += curl
            points[joint] = points[joint - 1] + length * (math.cos(bend) * up + np.array([0, 0, -math.sin(bend)]))
    thumb = np.array([[-0.3, -0.2, 0], [-0.55, -0.4, 0], [-0.75, -0.55, 0], [-0.9, -0.7, 0]])
    points[H.THUMB_CMC:H.THUMB_TIP + 1] = thumb
    if thumb_on_index:
        points[H.THUMB_TIP] = points[H.INDEX_TIP] + (0.05, 0.03, 0.0)
    points = points * PALM + (*centre, 0.0)
    return (points / (aspect, 1.0, aspect)).astype(np.float32)


# --- the feature table -----------------------------------------------------------------------


def test_specs_follow_the_dataclass_and_the_vector_follows_the_specs() -> None:
    assert [spec.name for spec in FEATURE_SPECS] == [f.name for f in fields(Features)]
    for spec in FEATURE_SPECS:
        assert spec.low < spec.high and spec.low <= spec.rest <= spec.high and spec.description
    features = Features.from_values({spec.name: 0.5 * i / len(FEATURE_SPECS) for i, spec in enumerate(FEATURE_SPECS)})
    vector = features.as_vector()
    assert vector.dtype == np.float32 and vector.shape == (len(FEATURE_SPECS),)
    np.testing.assert_allclose(vector, list(features.as_dict().values()), rtol=1e-6)
    assert list(features.as_dict()) == [spec.name for spec in FEATURE_SPECS]


def test_neutral_is_rest_and_is_what_nobody_gives() -> None:
    neutral = Features.neutral()
    assert neutral.presence == 0.0
    assert neutral.as_dict() == {spec.name: spec.rest for spec in FEATURE_SPECS}
    assert neutral.left_hand_height == -1.0  # hands down at rest
    assert _features(TrackedBody.nobody(1.0)) == neutral


def test_from_values_clips_and_replaces_non_finite_values() -> None:
    features = Features.from_values({"presence": 7.0, "lean": -3.0, "body_x": math.nan, "left_pinch": math.inf})
    assert (features.presence, features.lean, features.body_x, features.left_pinch) == (1.0, -1.0, 0.0, 0.0)


def test_docs_are_up_to_date(tmp_path: Path) -> None:
    fresh = write_feature_docs(tmp_path / "features.md")
    assert DEFAULT_DOCS_PATH.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
        "docs/features.md is stale: run `python -m installation.feature_specs`"
    )


# --- body features ---------------------------------------------------------------------------


@pytest.mark.parametrize("hide_hips", [False, True])
def test_hand_height_in_torso_lengths(hide_hips: bool) -> None:
    hidden = (P.LEFT_HIP, P.RIGHT_HIP) if hide_hips else ()  # the fallback torso is 1.5 x 0.2 = 0.3 too
    cases = {  # left wrist, right wrist offsets -> left height, right height
        ((0.1, -TORSO), (-0.1, -TORSO)): (1.0, 1.0),  # above the head
        ((0.12, TORSO), (-0.12, TORSO)): (-1.0, -1.0),  # at the hips
        ((0.3, 0.0), (-0.15, -TORSO / 2)): (0.0, 0.5),  # one at shoulder level, one half raised
        ((0.1, -2 * TORSO), (-0.1, 3 * TORSO)): (1.0, -1.0),  # clipped
    }
    for wrists, (left, right) in cases.items():
        features = _features(_body(_pose(_upper_body(0.5, wrists), hidden=hidden)))
        assert features.left_hand_height == pytest.approx(left, abs=1e-5)
        assert features.right_hand_height == pytest.approx(right, abs=1e-5)


def test_hands_spread_is_high_in_a_t_pose_and_aspect_corrected() -> None:
    t_pose = _features(_body(_pose(_upper_body(0.5, ((0.35, 0.0), (-0.35, 0.0))))))
    assert t_pose.hands_spread == 1.0
    by_the_hips = _features(_body(_pose(_upper_body(0.5, ((0.1, TORSO), (-0.1, TORSO))))))
    assert by_the_hips.hands_spread == pytest.approx(0.2 / 0.6, abs=1e-5)
    # The same body in a square and in a 16:9 image: the same spread, in shoulder widths.
    wrists = ((0.2, 0.05), (-0.2, 0.0))
    square = _features(_body(_pose(_upper_body(0.5, wrists))), aspect=1.0)
    wide = _features(_body(_pose(_upper_body(0.8, wrists), aspect=16 / 9)), aspect=16 / 9)
    assert square.hands_spread == pytest.approx(wide.hands_spread, abs=1e-5)
    assert square.hands_spread == pytest.approx(math.hypot(0.4, 0.05) / 0.6, abs=1e-5)
    assert square.lean == pytest.approx(0.0, abs=1e-6) and wide.lean == pytest.approx(0.0, abs=1e-6)


def test_body_position_size_and_nose_fallback() -> None:
    aspect = 2.0
    body = _upper_body(0.75 * aspect, ((0.1, TORSO), (-0.1, TORSO)))
    features = _features(_body(_pose(body, aspect)), aspect)
    assert features.body_x == pytest.approx(0.5, abs=1e-5)  # shoulder mid at 75 % of the width
    assert features.body_y == pytest.approx(2 * SHOULDER_Y - 1, abs=1e-5)
    assert features.body_size == pytest.approx(2.5 * 0.2 / aspect, abs=1e-5)  # 0.1 image widths
    no_shoulders = _features(_body(_pose(body, aspect, hidden=(P.LEFT_SHOULDER, P.RIGHT_SHOULDER))), aspect)
    assert no_shoulders.body_x == pytest.approx(0.5, abs=1e-5)
    assert no_shoulders.body_y == pytest.approx(2 * (SHOULDER_Y - 0.15) - 1, abs=1e-5)  # the nose
    assert no_shoulders.body_size == 0.0 and no_shoulders.lean == 0.0  # unmeasurable: at rest


def test_lean_sign_follows_the_image_and_ignores_side_labels() -> None:
    def leaning(degrees: float, swap_labels: bool = False) -> float:
        points = _upper_body(0.5, ((0.1, TORSO), (-0.1, TORSO)))
        a = math.radians(degrees)
        # Tilt toward +x: the shoulder on the image's right goes down (y grows downwards).
        image_right = (0.5 + HALF_SHOULDER * math.cos(a), SHOULDER_Y + HALF_SHOULDER * math.sin(a))
        image_left = (0.5 - HALF_SHOULDER * math.cos(a), SHOULDER_Y - HALF_SHOULDER * math.sin(a))
        left, right = (image_left, image_right) if swap_labels else (image_right, image_left)
        points[P.LEFT_SHOULDER], points[P.RIGHT_SHOULDER] = left, right
        return _features(_body(_pose(points))).lean

    assert leaning(15.0) == pytest.approx(0.5, abs=1e-5)
    assert leaning(15.0, swap_labels=True) == pytest.approx(0.5, abs=1e-5)
    assert leaning(-7.5) == pytest.approx(-0.25, abs=1e-5)
    assert leaning(45.0) == 1.0


def test_motion_energy_rises_with_speed_and_holds_on_a_repeated_timestamp() -> None:
    extractor = FeatureExtractor(1.0)
    still = _body(_pose(_upper_body(0.5, ((0.1, TORSO), (-0.1, TORSO)))))
    for i in range(10):
        assert extractor.update(replace(still, timestamp_s=i / 30)).motion_energy == 0.0
    energies = []
    for i in range(10, 100):  # the whole body slides at 2 shoulder widths (0.4 image heights) / s
        moving = _pose(_upper_body(0.5 + 0.4 * (i - 10) / 30, ((0.1, TORSO), (-0.1, TORSO))))
        energies.append(extractor.update(_body(moving, t=i / 30)).motion_energy)
    assert all(b >= a for a, b in zip(energies, energies[1:]))
    assert energies[-1] == pytest.approx(1 - math.exp(-1.0), abs=1e-3)
    assert extractor.update(_body(moving, t=99 / 30)).motion_energy == energies[-1]


def test_hand_position_uses_the_hand_wrist_then_the_pose_wrist() -> None:
    points = _upper_body(0.5, ((0.2, 0.1), (-0.2, 0.1)))
    pose = _pose(points)
    pose_only = _features(_body(pose))
    assert pose_only.left_hand_x == pytest.approx(2 * 0.7 - 1, abs=1e-5)
    assert pose_only.left_hand_y == pytest.approx(2 * 0.5 - 1, abs=1e-5)
    with_hand = _features(_body(pose, left=_hand(centre=(0.75, 0.45))))
    assert with_hand.left_hand_x == pytest.approx(0.5, abs=1e-5)
    assert with_hand.left_hand_y == pytest.approx(-0.1, abs=1e-5)
    # A fading hand eases back to the pose's wrist: halfway at presence 0.5.
    fading = _features(_body(pose, left=_hand(centre=(0.75, 0.45)), presences=(1.0, 0.5, 1.0)))
    assert fading.left_hand_x == pytest.approx((0.5 + 0.4) / 2, abs=1e-5)


# --- hand shape ------------------------------------------------------------------------------


def test_openness_low_for_a_fist_high_for_an_open_hand() -> None:
    open_hand = _features(_body(right=_hand(curl=0.0)))
    fist = _features(_body(right=_hand(curl=math.radians(95))))
    assert open_hand.right_hand_openness > 0.9
    assert fist.right_hand_openness < 0.1
    assert open_hand.left_hand_openness == 0.0  # no left hand: at rest
    assert open_hand.presence == 1.0 and open_hand.body_size == 0.0


def test_pinch_when_thumb_touches_index() -> None:
    pinching = _features(_body(left=_hand(thumb_on_index=True)))
    apart = _features(_body(left=_hand()))
    assert pinching.left_pinch > 0.95
    assert apart.left_pinch == 0.0


def test_hand_shape_ignores_the_image_aspect() -> None:
    hand = _hand(curl=0.6, thumb_on_index=True)
    wide = _hand(curl=0.6, thumb_on_index=True, aspect=16 / 9)
    square = _features(_body(left=hand))
    widescreen = _features(_body(left=wide), aspect=16 / 9)
    assert square.left_hand_openness == pytest.approx(widescreen.left_hand_openness, abs=1e-5)
    assert square.left_pinch == pytest.approx(widescreen.left_pinch, abs=1e-5)
    assert 0.1 < square.left_hand_openness < 0.9  # half curled is in between


def test_hand_features_fade_with_hand_presence() -> None:
    full = _features(_body(right=_hand(thumb_on_index=True), presences=(1.0, 1.0, 1.0)))
    half = _features(_body(right=_hand(thumb_on_index=True), presences=(1.0, 1.0, 0.5)))
    assert half.right_hand_openness == pytest.approx(full.right_hand_openness / 2, abs=1e-6)
    assert half.right_pinch == pytest.approx(full.right_pinch / 2, abs=1e-6)
    assert half.presence == 0.5


# --- robustness ------------------------------------------------------------------------------


def _degenerate_bodies() -> list[TrackedBody]:
    same_point = np.full((33, 4), 0.5, np.float32)
    hand_point = np.full((21, 3), 0.5, np.float32)
    nan_pose = _pose(_upper_body(0.5, ((0.1, 0.0), (-0.1, 0.0))))
    nan_pose[P.LEFT_WRIST, 0] = np.nan
    inf_hand = _hand()
    inf_hand[4] = np.inf
    huge = np.full((33, 4), 1e30, np.float32)
    return [
        _body(same_point, hand_point, hand_point),
        _body(np.zeros((33, 4), np.float32), np.zeros((21, 3), np.float32)),
        _body(nan_pose, inf_hand, _hand()),
        _body(huge, np.full((21, 3), -1e30, np.float32), presences=(1.0, 1.0, 1.0)),
        _body(same_point, presences=(math.nan, 2.0, -1.0)),
        _body(np.full((5, 4), 0.5, np.float32), np.full((3, 3), 0.5, np.float32)),  # wrong shapes
    ]


def test_features_are_finite_and_in_range_for_degenerate_input() -> None:
    extractor = FeatureExtractor(4 / 3)
    for i, body in enumerate(_degenerate_bodies()):
        features = extractor.update(replace(body, timestamp_s=i / 30))
        assert _in_range(features), features
        assert _in_range(FeatureExtractor(1.0).update(body))


def test_features_are_finite_and_in_range_for_random_input() -> None:
    rng = np.random.default_rng(2)
    extractor = FeatureExtractor(16 / 9)
    for i in range(500):
        scale = 10.0 ** rng.integers(-4, 3)
        body = TrackedBody(
            i / 30,
            (rng.normal(0.5, scale, (33, 4))).astype(np.float32),
            (rng.normal(0.5, scale, (21, 3))).astype(np.float32),
            (rng.normal(0.5, scale, (21, 3))).astype(np.float32),
            *rng.uniform(-0.5, 1.5, 3),
        )
        assert _in_range(extractor.update(body))


def test_extractor_rejects_a_bad_aspect() -> None:
    for aspect in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            FeatureExtractor(aspect)


# --- real photos -----------------------------------------------------------------------------

OPEN_PALMS = ("tfjs_hands.jpg",)  # two open hands
FISTS = ("tfjs_asl_hand_f000.jpg", "tfjs_asl_hand_f230.jpg")  # ASL letters with all fingers curled


def _mediapipe_hands(image_name: str) -> tuple[list[np.ndarray], float]:
    """MediaPipe Hands (legacy API, static images) on one photo: ((21, 3) arrays, aspect)."""
    cv2 = pytest.importorskip("cv2")
    mp = pytest.importorskip("mediapipe")
    path = HAND_IMAGES / image_name
    if not path.is_file():
        pytest.skip(f"real media not found: {path} (the project expects ../shared/media beside it)")
    image = cv2.imread(str(path))
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2) as hands:
        result = hands.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    found = [
        np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float32)
        for landmarks in (result.multi_hand_landmarks or [])
    ]
    height, width = image.shape[:2]
    return found, width / height


def test_openness_on_real_photos_of_open_palms_and_fists() -> None:
    for name, expect_open in [(n, True) for n in OPEN_PALMS] + [(n, False) for n in FISTS]:
        hands, aspect = _mediapipe_hands(name)
        assert hands, f"MediaPipe found no hand in {name}"
        for landmarks in hands:
            openness = _features(_body(right=landmarks), aspect).right_hand_openness
            if expect_open:
                assert openness > 0.8, f"{name}: open palm read as openness {openness:.2f}"
            else:
                assert openness < 0.3, f"{name}: fist read as openness {openness:.2f}"
