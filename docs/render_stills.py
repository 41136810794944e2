"""Renders a still of every scene from a real clip, headless, for the README.

    .venv/bin/python docs/render_stills.py [--clip PATH] [--frames 90]

Writes docs/scenes/<scene>.png: the last of ``--frames`` frames of a replay of the clip with that
scene (overlay on, so the visitor is visible in the inset).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from installation.app import RunOptions, run  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from scenes import available_scenes  # noqa: E402

log = logging.getLogger("render_stills")
DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "video" / "intel_asl" / "walk.mkv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "scenes")
    args = parser.parse_args()
    silence_native_stderr()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in available_scenes():
        with tempfile.TemporaryDirectory() as folder:
            run(RunOptions(source=str(args.clip), headless=True, frames=args.frames, out=folder, scene=name,
                           overlay=True, size=(640, 360), osc_in="127.0.0.1:0"))
            last = sorted(Path(folder).glob("frame_*.png"))[-1]
            shutil.copy(last, args.out / f"{name}.png")
        log.info("wrote %s", args.out / f"{name}.png")


if __name__ == "__main__":
    main()
