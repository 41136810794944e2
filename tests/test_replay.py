"""End to end: the real pipeline replays real recorded clips headless.

Each run goes camera-less through sources -> MediaPipe -> smoothing -> features -> scene -> CPPN
-> compositor -> PNG sink, exactly what the kiosk runs, with the window swapped for a file sink.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
import pytest

from installation.app import RunOptions, run
from installation.config import DEFAULT_CONFIG_PATH
from installation.run_stats import RunStats

ASL_CLIPS = sorted((Path(__file__).resolve().parents[1].parent / "shared" / "media" / "video" / "intel_asl").glob("*.mkv"))
SMALL = (160, 90)  # output size for tests: the pipeline is the same, PNG encoding is cheaper


def replay(source: Path, tmp_path: Path, name: str = "run", out: bool = False, **extra) -> tuple[RunStats, list[dict]]:
    """Replay a clip headless; returns the stats and the per-frame trace."""
    trace = tmp_path / f"{name}.jsonl"
    options = RunOptions(
        source=str(source), headless=True, size=SMALL, trace=trace, stats=tmp_path / f"{name}.json",
        out=str(tmp_path / f"{name}_frames") if out else None, **extra,
    )
    stats = run(options)
    assert json.loads((tmp_path / f"{name}.json").read_text())["frames"] == stats.frames
    return stats, [json.loads(line) for line in trace.read_text().splitlines()]


@pytest.mark.parametrize("clip", ASL_CLIPS, ids=[clip.stem for clip in ASL_CLIPS])
def test_every_asl_clip_finds_a_pose_in_at_least_95_percent_of_frames(clip, tmp_path, media):
    # the whole loop on every clip, unpainted: a check of perception and of a replay that drops
    # nothing (painted replays: test_painting.py, and of these clips test_replay_session.py)
    stats, trace = replay(clip, tmp_path, paint=False)
    expected_frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert stats.frames == stats.rendered_frames == len(trace)
    assert abs(stats.frames - expected_frames) <= 1
    assert stats.frames_with_pose >= 0.95 * stats.frames
    assert stats.dropped_frames == 0
    assert stats.errors["perception"] == 0


def raw_wrists(clip: Path) -> list[list[np.ndarray]]:
    """MediaPipe Hands run directly on the clip, outside our pipeline: the wrists per frame,
    in the mirrored image the runtime sees (config.toml mirrors by default)."""
    wrists = []
    with mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=2) as hands:
        capture = cv2.VideoCapture(str(clip))
        while True:
            ok, image = capture.read()
            if not ok:
                return wrists
            result = hands.process(cv2.cvtColor(cv2.flip(image, 1), cv2.COLOR_BGR2RGB))
            found = result.multi_hand_landmarks or []
            wrists.append([np.array([h.landmark[0].x, h.landmark[0].y]) for h in found])


@pytest.mark.parametrize("clip_name", ["please", "sorry", "bird"])
def test_hand_features_follow_the_raw_hand_landmarks(clip_name, tmp_path, media):
    clip = media / "video" / "intel_asl" / f"{clip_name}.mkv"
    _, trace = replay(clip, tmp_path)
    raw = raw_wrists(clip)
    feature_points, raw_points = [], []
    for record, wrists in zip(trace, raw):
        for side in ("left", "right"):
            if not any(hand["side"] == side for hand in record["hands"]) or not wrists:
                continue
            feature = np.array([record["features"][f"{side}_hand_x"], record["features"][f"{side}_hand_y"]])
            feature = (feature + 1.0) / 2.0  # [-1, 1] -> normalised image coordinates
            nearest = min(wrists, key=lambda w: np.linalg.norm(w - feature))
            feature_points.append(feature)
            raw_points.append(nearest)
    feature_points, raw_points = np.array(feature_points), np.array(raw_points)
    assert len(feature_points) >= 0.5 * len(trace)
    error = np.linalg.norm(feature_points - raw_points, axis=1)
    assert np.median(error) < 0.03  # smoothed, yet within a few % of the image of the raw wrist
    for axis in (0, 1):  # and it moves with the hand, not just near it
        if raw_points[:, axis].std() > 0.02:
            assert np.corrcoef(feature_points[:, axis], raw_points[:, axis])[0, 1] > 0.9


def frame_changes(folder: Path) -> np.ndarray:
    frames = [cv2.imread(str(path)).astype(np.int16) for path in sorted(folder.glob("frame_*.png"))]
    return np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])


def test_output_frames_change_while_the_person_moves(tmp_path, media):
    stats, trace = replay(media / "video" / "intel_asl" / "walk.mkv", tmp_path, out=True)
    changes = frame_changes(tmp_path / "run_frames")
    assert len(changes) == stats.rendered_frames - 1
    assert np.mean(changes > 0.05) > 0.9  # nearly every frame differs from the one before
    energy = np.array([record["features"]["motion_energy"] for record in trace])
    assert energy.max() > 0.2  # the signer does move
    latents = np.array([record["z"] for record in trace])
    assert np.linalg.norm(latents[-1] - latents[0]) > 0.1


def test_nobody_in_the_tree_clip_and_the_piece_keeps_animating(tmp_path, media):
    stats, trace = replay(media / "video" / "opencv_tree_nobody.avi", tmp_path, out=True)
    assert stats.frames == 68
    assert stats.frames_with_pose == 0  # no person, in any frame
    # A real hand reaches into the picture over the last ten frames (from frame 59); before
    # that the scene is empty and every feature rests.
    hand_frames = [record["frame"] for record in trace if record["hands"]]
    assert hand_frames and min(hand_frames) >= 55
    assert all(record["features"]["presence"] == 0.0 for record in trace[:55])
    changes = frame_changes(tmp_path / "run_frames")
    assert np.all(changes[:54] > 0.0)  # with nobody there, the drift keeps every frame moving


def test_two_replays_are_identical(tmp_path, media):
    # MediaPipe itself twice (no perception cache: it would make the second the first's copy),
    # listening on no port: another worker's replay holding the OSC or staff port would count an
    # error in one run and not the other
    clip = media / "video" / "intel_asl" / "yes.mkv"
    config = tmp_path / "config.toml"
    text = re.sub(r'(?m)^listen = "[^"]*"', 'listen = ""', DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    first, trace_a = replay(clip, tmp_path, name="a", out=True, perception_cache="", config_path=config)
    second, trace_b = replay(clip, tmp_path, name="b", out=True, perception_cache="", config_path=config)
    assert trace_a == trace_b  # landmarks, features and latents
    frames_a = sorted((tmp_path / "a_frames").glob("*.png"))
    frames_b = sorted((tmp_path / "b_frames").glob("*.png"))
    assert len(frames_a) == len(frames_b) == first.rendered_frames
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(frames_a, frames_b))
    for key in ("frames", "rendered_frames", "frames_with_pose", "frames_with_hands", "dropped_frames", "errors", "digests"):
        assert getattr(first, key) == getattr(second, key), key


def test_threaded_replay_gives_the_same_result_as_inline(tmp_path, media):
    clip = media / "video" / "intel_asl" / "thanks.mkv"
    inline, _ = replay(clip, tmp_path, name="inline", schedule="inline", perception_cache="")
    threaded, _ = replay(clip, tmp_path, name="threaded", schedule="threaded", perception_cache="")
    assert inline.digests == threaded.digests


def test_stats_file_has_the_documented_fields(tmp_path, media):
    stats, _ = replay(media / "video" / "intel_asl" / "no.mkv", tmp_path, frames=20, out=True)
    saved = json.loads((tmp_path / "run.json").read_text())
    for key in ("frames", "frames_with_pose", "frames_with_hands", "render_fps", "latency_ms", "stages_ms",
                "dropped_frames", "errors"):
        assert key in saved
    assert saved["rendered_frames"] == 20
    assert saved["render_fps"] > 0
    assert 0 < saved["latency_ms"]["p50"] <= saved["latency_ms"]["p95"]
    for stage in ("capture", "perception", "tracking", "scene", "generate", "display"):
        assert saved["stages_ms"][stage]["count"] == 20
    assert len(list((tmp_path / "run_frames").glob("frame_*.png"))) == 20


def test_mp4_output(tmp_path, media):
    out = tmp_path / "piece.mp4"
    run(RunOptions(source=str(media / "video" / "intel_asl" / "no.mkv"), headless=True, frames=12, out=str(out)))
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 360)


def test_image_folder_replay(tmp_path, media):
    stats, _ = replay(media / "images" / "pose", tmp_path)
    assert stats.frames == 6
    assert stats.frames_with_pose >= 5
