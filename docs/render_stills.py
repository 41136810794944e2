"""Renders a still of every scene from a real clip, headless, for the README.

    .venv/bin/python docs/render_stills.py [SCENE ...] [--keep FOLDER]

Writes docs/scenes/<scene>.png: the last frame of a deterministic replay (``RunOptions`` with
``headless``) of the clip in ``STILLS`` for that scene, chosen so the still shows what the scene
does, with the overlay on so the visitor shows in the inset. A scene without an entry (one of
an artist's own, from ``scene.folders``) is rendered on ``DEFAULT_STILL``. ``--keep`` keeps
every frame of each replay (in FOLDER/<scene>/) to choose a better frame count from.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from installation.app import RunOptions, run  # noqa: E402
from installation.config import load_config  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from installation.show_plan import scene_library  # noqa: E402

log = logging.getLogger("render_stills")
VIDEO = ROOT.parent / "shared" / "media" / "video"
SIZE = (640, 360)  # pixels of each still


@dataclass(frozen=True)
class Still:
    """Which clip a scene's still is rendered from, and after how many frames."""

    clip: str  # relative to ../shared/media/video
    frames: int  # the still is the last of this many rendered frames
    why: str  # what the still shows, at that frame
    style: str | None = None  # the painting's style (None: paint.style)


STILLS = {
    "air_sketch": Still("tfjs_asl_hand.25fps.mp4", 271,
                        "a hand spelling letters pinches again and again; by frame 270 its strokes have been "
                        "repainted by the diffusion model (image to image) and the whole sheet is painted in "
                        "Munch's The Scream", "the_scream"),
    "body_latent": Still("tfjs_pose_1_dance.mp4", 51,
                         "a full body dancing, arms up: the pose has pushed the CPPN's picture off its drift; "
                         "painted in Van Gogh's The Starry Night (the default style)"),
    "dream_drift": Still("opencv_tree_nobody.avi", 51,
                         "nobody there (a garden): the picture wanders through its anchors on its own, and its "
                         "painting glides from Hokusai's Great Wave toward Munch's The Scream (the clip's clock "
                         "reads 22 s: seconds_per_style 30)", "wave"),
    "style_mirror": Still("tfjs_pose_1_dance.mp4", 91,
                          "the dancer cut out of the room and laid over the drifting picture, the whole painted in "
                          "Picabia's Udnie", "udnie"),
    "themes": Still("mpsamples_gesture_thumbsup_test_video.mp4", 61,
                    "the visitor's body steers the GAN within theme emoji, the picture shown whole on its "
                    "matte (unpainted: the GAN's own pictures); the thumbs-up at frame 68 then switches it "
                    "to openclipart, whose picture for this latent is nearly blank"),
    "face_mirror": Still("intel_asl/yes.mkv", 41,
                         "a signer close to the camera: her face, read by FaceMesh, has turned and lit the picture "
                         "(the smile's glow); painted in the default style"),
}
DEFAULT_STILL = Still("tfjs_pose_1_dance.mp4", 51, "a full body dancing, arms up")


def render(name: str, still: Still, out: Path, keep: Path | None) -> Path:
    """Replay ``still.clip`` with scene ``name`` and copy its last frame to ``out``/<name>.png;
    returns that path. Raises InstallationError (a bad clip, a scene that can't be built)."""
    with tempfile.TemporaryDirectory() as folder:
        run(RunOptions(source=str(VIDEO / still.clip), headless=True, frames=still.frames, out=folder,
                       scene=name, overlay=True, size=SIZE, osc_in="127.0.0.1:0", style=still.style))
        frames = sorted(Path(folder).glob("frame_*.png"))
        target = out / f"{name}.png"
        shutil.copy(frames[-1], target)
        if keep is not None:
            shutil.copytree(folder, keep / name, dirs_exist_ok=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="*", help="only these scenes (default: every scene in the library)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "scenes")
    parser.add_argument("--keep", type=Path, help="keep every frame of each replay here, in a folder per scene")
    args = parser.parse_args()
    silence_native_stderr()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.scenes or scene_library(load_config()).names():
        still = STILLS.get(name, DEFAULT_STILL)
        target = render(name, still, args.out, args.keep)
        log.info("wrote %s: %s, %d frames (%s)", target, still.clip, still.frames, still.why)


if __name__ == "__main__":
    main()
