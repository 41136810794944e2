"""Perception cost: pose + hands ÷ pose alone, for each way of finding the hands, side by side.

Four Perceivers see the same frames of real clips, mirrored as the runtime sees them, in turn
frame by frame (A B C A B C ...), so machine noise hits them alike and each keeps its own
tracking state:

- ``pose``:          MediaPipe Pose alone (``perception.hands = false``);
- ``pose_regions``:  Pose + hands as configured: the hand landmark model on regions taken from
                     the pose, each found hand carried by its image motion between runs and
                     looked at again when it changes shape (``hand_regions = "pose"``, the default);
- ``every_frame``:   the same regions with the hand model on every hand every frame
                     (``hand_refresh_frames = 1``): the accuracy reference;
- ``palm_detector``: Pose + MediaPipe Hands on the whole frame, palm detector included
                     (``perception.hand_regions = "palm_detector"``).

A frame's time is the Perceiver's own (``Observation.perception_ms``: resize, colour conversion,
MediaPipe). Reported per variant: mean and median ms per frame, and the ratio of each to pose
alone (the mean is the headline: the palm detector runs only on some frames, so the mean is
what it costs). Also how well the configured hands agree with the every-frame ones and with the
palm detector's: hands each found, and the median distance between the same side's landmarks,
in pixels of the 640-pixel-wide inference image.

    .venv/bin/python benchmarks/perception_ratio.py [--clips walk please ...] [--frames N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installation.config import load_config  # noqa: E402
from installation.contracts import Frame  # noqa: E402
from installation.file_sources import clip_frames  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from installation.perceiver import Perceiver  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "video"
DEFAULT_CLIPS = ("intel_asl/walk.mkv", "intel_asl/please.mkv", "intel_asl/sorry.mkv", "intel_asl/book.mkv",
                 "mpsamples_gesture_thumbsup_test_video.mp4")
VARIANTS = ("pose", "pose_regions", "every_frame", "palm_detector")
TARGET = 1.3


def perceivers(base) -> dict[str, Perceiver]:
    return {
        "pose": Perceiver(replace(base, hands=False)),
        "pose_regions": Perceiver(replace(base, hands=True, hand_regions="pose")),
        "every_frame": Perceiver(replace(base, hands=True, hand_regions="pose", hand_refresh_frames=1)),
        "palm_detector": Perceiver(replace(base, hands=True, hand_regions="palm_detector")),
    }


def measure(clips: list[Path], frames_per_clip: int | None) -> dict:
    """Times and agreement over every clip; raw per-frame times are kept for the results file."""
    base = load_config().perception
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    found = {"pose_regions": 0, "palm_detector": 0, "both": 0, "every_frame": 0, "every_frame_both": 0}
    errors_px: list[float] = []  # pose regions against the palm detector
    every_errors_px: list[float] = []  # pose regions against the every-frame hand model
    frame_count = 0
    per_clip: dict[str, dict[str, float]] = {}
    for clip in clips:
        start = len(times["pose"])
        frames = clip_frames(clip, frames_per_clip, mirror=True)  # as the default (mirrored) source delivers them
        runners = perceivers(base)
        for index, image in enumerate(frames):
            frame = Frame(index, index / 30.0, 0.0, image, mirrored=True)
            observed = {}
            for name, perceiver in runners.items():  # interleaved frame by frame
                observed[name] = perceiver.process(frame)
                if index > 0:  # the first frame pays graph start-up
                    times[name].append(observed[name].perception_ms)
            frame_count += 1
            scale = base.input_width or image.shape[1]
            pixels = np.array([scale, scale * image.shape[0] / image.shape[1]])
            regions = {hand.side: hand.landmarks for hand in observed["pose_regions"].hands}
            palms = {hand.side: hand.landmarks for hand in observed["palm_detector"].hands}
            every = {hand.side: hand.landmarks for hand in observed["every_frame"].hands}
            found["pose_regions"] += len(regions)
            found["palm_detector"] += len(palms)
            found["every_frame"] += len(every)
            for side in regions.keys() & palms.keys():
                found["both"] += 1
                errors_px.append(_median_distance_px(regions[side], palms[side], pixels))
            for side in regions.keys() & every.keys():
                found["every_frame_both"] += 1
                every_errors_px.append(_median_distance_px(regions[side], every[side], pixels))
        for perceiver in runners.values():
            perceiver.close()
        pose_ms = statistics.fmean(times["pose"][start:])
        per_clip[str(clip.relative_to(MEDIA))] = {name: round(statistics.fmean(times[name][start:]) / pose_ms, 3)
                                                  for name in VARIANTS if name != "pose"}
    return {"times": times, "found": found, "errors_px": errors_px, "every_errors_px": every_errors_px,
            "frames": frame_count, "per_clip": per_clip}


def _median_distance_px(a: np.ndarray, b: np.ndarray, pixels: np.ndarray) -> float:
    """Median distance between two hands' (21, 3) normalised landmarks, in inference-image pixels."""
    return float(np.median(np.linalg.norm((a[:, :2] - b[:, :2]) * pixels, axis=1)))


def summarise(measured: dict) -> dict:
    times = measured["times"]
    rows = {name: {"mean_ms": round(statistics.fmean(values), 3), "median_ms": round(statistics.median(values), 3),
                   "p95_ms": round(float(np.percentile(values, 95)), 3)} for name, values in times.items()}
    for name in VARIANTS:
        rows[name]["mean_over_pose"] = round(rows[name]["mean_ms"] / rows["pose"]["mean_ms"], 3)
        rows[name]["median_over_pose"] = round(rows[name]["median_ms"] / rows["pose"]["median_ms"], 3)
    found = measured["found"]
    value = rows["pose_regions"]["mean_over_pose"]
    return {"value": value, "target": TARGET, "meets": value <= TARGET, "frames": measured["frames"],
            "variants": rows,
            "agreement": _agreement(found["pose_regions"], found["palm_detector"], found["both"],
                                    measured["errors_px"], "palm_detector"),
            "every_frame_agreement": _agreement(found["pose_regions"], found["every_frame"],
                                                found["every_frame_both"], measured["every_errors_px"], "every_frame"),
            "palm_detector_value": rows["palm_detector"]["mean_over_pose"],
            "every_frame_value": rows["every_frame"]["mean_over_pose"],
            "per_clip_mean_over_pose": measured["per_clip"]}


def _agreement(found: int, found_other: int, both: int, errors: list[float], other: str) -> dict:
    """How the configured pose regions' hands agree with ``other``'s."""
    return {"hands_found_pose_regions": found, f"hands_found_{other}": found_other, "same_side_found_by_both": both,
            "landmark_distance_px_median": round(statistics.median(errors), 2) if errors else None,
            "landmark_distance_px_p95": round(float(np.percentile(errors, 95)), 2) if errors else None}


def run(clips: list[Path], frames_per_clip: int | None) -> dict:
    """The ``perception_ratio`` entry of benchmarks/results.json."""
    result = summarise(measure(clips, frames_per_clip))
    result["clips"] = [str(clip.relative_to(MEDIA)) for clip in clips]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", default=list(DEFAULT_CLIPS), help="paths under ../shared/media/video")
    parser.add_argument("--frames", type=int, default=None, help="at most this many frames of each clip")
    args = parser.parse_args()
    silence_native_stderr()
    result = run([MEDIA / clip for clip in args.clips], args.frames)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
