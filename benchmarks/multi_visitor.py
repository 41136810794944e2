"""Multi-visitor cost: ms per frame of the audience stage with 1, 2 and 4 people in view.

The people are the dancer of tfjs_pose_1_dance.mp4, cut out with Pose's segmentation mask and
laid side by side (and overlapping) over frames of the same clip, each at another moment of the
dance and in other colours (tests/helpers/composite.py), on a canvas as wide as four of them.
One ``CrowdPerceiver`` (``max_people`` 4, hands of the primary on, the defaults) per count sees the
same number of frames; a frame's time is the stage's own (``Observation.perception_ms``:
detection of everyone, tracking, primary, the primary's hands). Reported per count: mean and
median ms, the people tracked in the steady frames, and the Pose runs the detector made.

    .venv/bin/python benchmarks/multi_visitor.py [--frames N] [--out results/multi_visitor.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installation.audience import CrowdPerceiver  # noqa: E402
from installation.config import PerceptionConfig  # noqa: E402
from installation.contracts import Frame  # noqa: E402
from installation.file_sources import clip_frames  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from tests.helpers.composite import overlay, person_masks, recoloured  # noqa: E402

DANCE = ROOT.parent / "shared" / "media" / "video" / "tfjs_pose_1_dance.mp4"
COUNTS = (1, 2, 4)
SHIFTS = (0.18, 0.5, 0.68)  # where the 2nd, 3rd and 4th people stand, in canvas widths right of the 1st
WARM_UP = 5  # frames before the ids settle (confirmation): left out of the figures


def scenes(count: int, frames: list[np.ndarray], masks: list[np.ndarray], n: int) -> list[np.ndarray]:
    """``n`` frames of ``count`` dancers on a canvas two dance frames wide: the clip's frame on the
    left (its dancer is the first person, at a quarter of the width), the room without its dancer
    (inpainted) on the right, and the others laid over at ``SHIFTS`` (the second overlaps the first)."""
    height, width = frames[0].shape[:2]
    room = cv2.inpaint(frames[60], cv2.dilate((masks[60] > 0.3).astype(np.uint8), np.ones((25, 25), np.uint8)),
                       9, cv2.INPAINT_TELEA)
    out = []
    for i in range(n):
        canvas = np.concatenate([frames[i], room], axis=1)  # (H, 2W, 3)
        for k in range(1, count):
            j = (i + 23 * k) % len(frames)
            front = np.concatenate([recoloured(frames[j], 37 * k), room], axis=1)
            mask = np.concatenate([masks[j], np.zeros_like(masks[j])], axis=1)
            canvas = overlay(canvas, front, mask, SHIFTS[k - 1], 0.95 ** k)
        out.append(canvas)
    return out


def measure(count: int, images: list[np.ndarray]) -> dict:
    crowd = CrowdPerceiver(PerceptionConfig())
    runs = {"ms": [], "people": []}
    try:
        for i, image in enumerate(images):
            observation, audience = crowd.perceive(Frame(i, i / 30.0, 0.0, image))
            if i >= WARM_UP:
                runs["ms"].append(observation.perception_ms)
                runs["people"].append(len(audience.people))
    finally:
        crowd.close()
    return {"people_in_view": count, "mean_ms": round(statistics.fmean(runs["ms"]), 1),
            "median_ms": round(statistics.median(runs["ms"]), 1),
            "people_tracked_median": statistics.median(runs["people"]), "frames": len(runs["ms"]),
            "hands_dropped": crowd.hands_dropped, "ghosts_dropped": crowd.detector.ghosts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="frames per count (the first 5 are warm-up)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    silence_native_stderr()
    frames = clip_frames(DANCE)
    masks = person_masks(frames)
    result = {"counts": [measure(count, scenes(count, frames, masks, args.frames)) for count in COUNTS]}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
