"""Renders docs/painting/styles.png: one real camera frame painted in each style of styles/, a mix
and two built-in styles, each labelled; what docs/painting.md shows a newcomer.

    .venv/bin/python docs/render_style_sheet.py
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("render_style_sheet")
sys.path.insert(0, str(ROOT))

from installation.file_sources import clip_frames  # noqa: E402
from installation.painting.styles import StyleLibrary  # noqa: E402
from models.style_networks import StyleNetworks  # noqa: E402

CLIP = ROOT.parent / "shared" / "media" / "video" / "tfjs_pose_squats.mp4"
FRAME = 40  # the visitor half-way down a squat
TILE = (320, 400)  # (width, height) of each tile: the portrait clip's centre
STYLES = ("starry_night", "wave", "the_scream", "udnie", "the_shipwreck_of_the_minotaur",
          "starry_night:0.5,the_scream:0.5", "builtin:6", "builtin:19")


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 24), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    library = StyleLibrary(StyleNetworks(threads=1))
    bgr = clip_frames(CLIP, limit=FRAME + 1)[FRAME]
    height, width = bgr.shape[:2]
    crop_h = round(width * TILE[1] / TILE[0])
    top = (height - crop_h) // 2
    content = cv2.cvtColor(cv2.resize(bgr[top:top + crop_h], TILE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    tiles = [label(content, "the camera frame")]
    for spec in STYLES:
        weights = dict((part.rsplit(":", 1)[0], float(part.rsplit(":", 1)[1])) for part in spec.split(",")) \
            if "," in spec else {spec: 1.0}
        painted = library.networks.paint(content, library.code_for_mix(weights))
        tiles.append(label(painted, spec.replace(":0.5", " 50%").replace(",", " + ")))
    rows = [np.hstack(tiles[i:i + 3]) for i in range(0, 9, 3)]
    out = ROOT / "docs" / "painting" / "styles.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
