"""The built-in scenes Air sketch, Style mirror and Themes, on real media.

Scenes are driven with what the loop would give them: the real perception chain (MediaPipe,
One Euro smoothing, features, gesture events) run on frames of the clips in ../shared/media,
and tools made from the shipped models by ``scene_tools_for``. "Responds to the person" is
measured as the mean absolute difference between consecutive shown frames (8-bit levels) while
the visitor moves (a stretch of the clip) against while they hold still (one frame of the same
clip held, perceived again every frame), after the same settling time.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from installation.app import RunOptions, run
from installation.config import GeneratorConfig, PerceptionConfig, SmoothingConfig
from installation.contracts import Frame, LatentState, TrackedBody
from installation.feature_specs import Features
from installation.features import FeatureExtractor
from installation.file_sources import VideoFileSource
from installation.generator import GeneratorHost
from installation.gestures import GestureRecognizer, GesturesConfig, Phase
from installation.gestures.events import GestureEvent
from installation.perceiver import Perceiver
from installation.scene_kit.canvas import StrokeCanvas
from installation.scene_kit.geometry import matte
from installation.scene_kit.tools import scene_tools_for
from installation.smoothing import BodySmoother
from scenes import load_scene
from scenes.air_sketch import PICTURE_SIDE as SKETCH_SIDE
from scenes.base import SceneInputs
from scenes.style_mirror import PICTURE_HEIGHT, cover

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
log = logging.getLogger(__name__)
STORED_WIDTH = 320  # frames are kept at this width for the scenes (perception runs on the originals)
Step = tuple[Frame, TrackedBody, Features, tuple]


# --- the real perception chain ------------------------------------------------------------

def read_frames(name: str, start: int, count: int) -> list[Frame]:
    source = VideoFileSource(MEDIA / "video" / name)
    frames = []
    while (frame := source.read()) is not None and len(frames) < start + count:
        frames.append(frame)
    source.close()
    return frames[start:]


def held_still(frame: Frame, count: int, fps: float) -> list[Frame]:
    """The visitor holding still: ``frame`` again and again, ``count`` frames at ``fps``."""
    return [replace(frame, index=i, timestamp_s=i / fps) for i in range(count)]


def retimed(frames: list[Frame], first_index: int, fps: float) -> list[Frame]:
    return [replace(f, index=first_index + i, timestamp_s=(first_index + i) / fps) for i, f in enumerate(frames)]


def perceive(frames: list[Frame]) -> list[Step]:
    """Each frame through MediaPipe, smoothing, features and gestures, as the loop runs them."""
    height, width = frames[0].image_bgr.shape[:2]
    perceiver = Perceiver(PerceptionConfig(schedule="inline"))
    smoother = BodySmoother(SmoothingConfig())
    extractor = FeatureExtractor(width / height)
    recognizer = GestureRecognizer(GesturesConfig(), width / height, mirrored=False)
    steps = []
    for frame in frames:
        body = smoother.update(perceiver.process(frame))
        events = tuple(recognizer.update(body, frame.timestamp_s))
        small = cv2.resize(frame.image_bgr, (STORED_WIDTH, round(STORED_WIDTH * height / width)),
                           interpolation=cv2.INTER_AREA)
        steps.append((replace(frame, image_bgr=small), body, extractor.update(body), events))
    perceiver.close()
    return steps


@functools.cache
def still_then_moving(name: str, start: int, count: int, hold: int) -> tuple[list[Step], int]:
    """Frame ``hold`` of the stretch held still for SETTLE + ``count`` frames, then the stretch
    itself moving; returns the steps and the index of the first moving step."""
    fps = VideoFileSource(MEDIA / "video" / name).fps
    moving = read_frames(name, start, count)
    frames = held_still(moving[hold], SETTLE + count, fps) + retimed(moving, SETTLE + count, fps)
    return perceive(frames), SETTLE + count


@functools.cache
def clip_steps(name: str, start: int, count: int) -> list[Step]:
    fps = VideoFileSource(MEDIA / "video" / name).fps
    return perceive(retimed(read_frames(name, start, count), 0, fps))


def image_steps(path: Path, repeats: int = 5) -> list[Step]:
    """A still photograph, perceived ``repeats`` times (tracking settles on it)."""
    image = cv2.imread(str(path))
    assert image is not None, path
    return perceive([Frame(i, i / 25.0, 0.0, image) for i in range(repeats)])


# --- driving a scene ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def hosts(one_torch_thread):
    """The shipped models and the CPPN, on the CPU (the diffusion model at its fewest steps, 4)."""
    hosts = {name: GeneratorHost(GeneratorConfig(model=name, device="cpu", torch_threads=1, steps=4), fallback=False)
             for name in ("vae_art64", "gan_art64", "diffusion_art64")}
    hosts[None] = GeneratorHost(GeneratorConfig(model="cppn", resolution=64, device="cpu", torch_threads=1))
    return hosts  # None: the configured model, the CPPN (smaller than the default 256 px)


def make_scene(name: str, hosts: dict | None, model: str | None = "scene's", **params: float):
    """Scene ``name`` set up for its own MODEL's host (or ``model``'s), with ``params`` set."""
    scene = load_scene(name)
    host = hosts[scene.MODEL if model == "scene's" else model] if hosts is not None else None
    scene.setup(host.latent_dim if host else 32, 7, scene_tools_for(host) if host else None)
    for key, value in params.items():
        scene.set_param(key, value)
    return scene, host


def inputs_of(step: Step, dt: float) -> SceneInputs:
    frame, body, features, events = step
    return SceneInputs(features, frame.timestamp_s, dt, gestures=events, frame=frame, body=body)


def play(scene, host, steps: list[Step], after=None) -> np.ndarray:
    """Shown frames (N, R, R, 3). Without a host, a grey picture stands in for the generator's.
    (The scene stage's time a frame is in every run's stats: stages_ms["scene"].)"""
    shown, last_t = [], None
    for step in steps:
        t = step[0].timestamp_s
        inputs = inputs_of(step, 0.0 if last_t is None else t - last_t)
        last_t = t
        state = scene.update(inputs)
        image = host.render(state) if host is not None else np.full((64, 64, 3), 128, np.uint8)
        shown.append(scene.compose(image, inputs))
        assert np.isfinite(state.z).all()
        if after is not None:
            after(scene, step)
    return np.array(shown)


def change(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each frame from the one before, 8-bit levels (N - 1,)."""
    return np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))


SETTLE = 40  # frames at the start of the still stretch left out: the glide from the first latent

RESPONSE_CASES = {
    # scene: (clip, first frame, frames per stretch, frame held still)
    "body_latent": ("tfjs_pose_1_dance.mp4", 25, 60, 30),
    "dream_drift": ("tfjs_pose_1_dance.mp4", 25, 60, 30),  # the attract mode quickens with motion
    "air_sketch": ("tfjs_asl_hand.25fps.mp4", 45, 50, 15),  # pinching while the hand moves
    "style_mirror": ("tfjs_pose_1_dance.mp4", 25, 60, 30),  # the dance's liveliest two seconds
    "themes": ("tfjs_pose_1_dance.mp4", 25, 60, 30),
}


@pytest.mark.parametrize("name", sorted(RESPONSE_CASES))
def test_a_scene_runs_on_a_real_clip_and_moves_more_when_the_visitor_moves(media, hosts, name):
    clip, start, count, hold = RESPONSE_CASES[name]
    steps, split = still_then_moving(clip, start, count, hold)
    scene, host = make_scene(name, hosts)
    frames = play(scene, host, steps)
    getattr(scene, "close", lambda: None)()
    diffs = change(frames)
    still = diffs[SETTLE:split - 1].mean()  # after the glide from the scene's first latent
    moving = diffs[split - 1:].mean()  # from the first moving frame: the still stretch left no glide
    log.warning("%s on %s: change moving %.2f, still %.2f, ratio %.1f", name, clip, moving, still,
                moving / max(still, 1e-9))
    # style_mirror composes at the camera frame's shape, PICTURE_HEIGHT high, air_sketch at least
    # PICTURE_SIDE a side: big enough for the painter
    height = {"style_mirror": PICTURE_HEIGHT, "air_sketch": SKETCH_SIDE}.get(name, host.resolution)
    assert frames.shape[1] == height and frames.shape[3] == 3 and frames.dtype == np.uint8
    assert moving > 2.0 * still


@pytest.mark.parametrize("name", sorted(RESPONSE_CASES))
def test_a_scene_runs_without_tools_and_without_a_body(media, name):
    clip, start, count, _ = RESPONSE_CASES[name]
    scene, _ = make_scene(name, None)
    frames = play(scene, None, clip_steps(clip, start, 20))
    nobody = (replace(clip_steps(clip, start, 20)[0][0], image_bgr=np.zeros((90, 160, 3), np.uint8)),
              TrackedBody.nobody(1.0), Features.neutral(), ())
    play(scene, None, [nobody, replace_time(nobody, 1.1)])
    scene.update(SceneInputs(Features.neutral(), 2.0, 0.1))  # no frame, no body at all
    getattr(scene, "close", lambda: None)()
    assert frames.dtype == np.uint8


def replace_time(step: Step, t: float) -> Step:
    return (replace(step[0], timestamp_s=t, index=step[0].index + 1),) + step[1:]


# --- tools ---------------------------------------------------------------------------------

def test_scene_tools_encode_a_real_artwork_into_a_latent_that_redraws_it(hosts):
    art = np.load(MEDIA.parent / "art" / "openclipart_64.npz")["images"]
    tools = scene_tools_for(hosts["vae_art64"])
    assert tools.latent_dim == 32 and tools.resolution == 64 and tools.themes == ("emoji", "openclipart")
    big = cv2.resize(art[-1], (200, 200), interpolation=cv2.INTER_CUBIC)  # any size is taken
    z = tools.encode(big)
    assert z.shape == (32,) and z.dtype == np.float32
    redrawn = tools.render(LatentState(z))
    error_own = np.abs(redrawn.astype(int) - art[-1]).mean()
    error_other = np.abs(redrawn.astype(int) - art[-2]).mean()
    assert error_own < error_other
    assert scene_tools_for(hosts["gan_art64"]).encode is None


# --- air sketch ----------------------------------------------------------------------------

def test_the_pen_draws_only_while_pinching_and_an_open_palm_clears(media, hosts):
    """The hand clip: a real pinch (frames 0-15), then an open palm held (from frame 20)."""
    steps = clip_steps("mpsamples_hand_landmarker_test_video.mp4", 0, 50)
    scene, host = make_scene("air_sketch", hosts)
    record = []

    def watch(scene, step):
        record.append((scene.canvas.version, scene.drawing, scene.canvas.is_empty))

    play(scene, host, steps, watch)
    versions = [v for v, _, _ in record]
    drawing = [d for _, d, _ in record]
    grew = [i for i in range(1, len(record)) if versions[i] > versions[i - 1] and not record[i][2]]
    assert grew and all(drawing[i] for i in grew)  # ink appears only while the pen is down
    assert any(drawing[:16]) and not any(drawing[25:])
    first_ink = next(i for i, (_, _, empty) in enumerate(record) if not empty)
    cleared = next(i for i in range(first_ink, len(record)) if record[i][2])
    assert 20 <= cleared <= 45  # the palm, held for clear_hold_s (0.6 s, 15 frames)
    assert record[-1][2]


def test_a_stroke_follows_the_real_fingertip_when_the_pinch_is_forced(media, hosts):
    """The same real hand landmarks draw a line when the pinch reads 1, and nothing at 0."""
    steps = clip_steps("tfjs_asl_hand.25fps.mp4", 100, 40)
    for pinch, expect_ink in ((1.0, True), (0.0, False)):
        scene, host = make_scene("air_sketch", hosts, clear_hold_s=3.0)
        forced = [(f, b, replace(feat, left_pinch=pinch, right_pinch=pinch, left_hand_openness=0.0,
                                 right_hand_openness=0.0), ()) for f, b, feat, _ in steps]
        play(scene, host, forced)
        assert (not scene.canvas.is_empty) == expect_ink
    assert scene.cursor is not None  # the ring follows the fingertip even with the pen up
    # the sketch's latent is the encoding of the canvas
    scene, host = make_scene("air_sketch", hosts, model="vae_art64", clear_hold_s=3.0, morph_s=0.05)
    forced = [(f, b, replace(feat, left_pinch=1.0, right_pinch=1.0), ()) for f, b, feat, _ in steps]
    play(scene, host, forced)
    play(scene, host, [replace_time(forced[-1], forced[-1][0].timestamp_s + 1.0)])
    encoded = scene_tools_for(host).encode(scene.canvas.image)
    assert np.allclose(scene.z, encoded, atol=0.05)


def test_a_diffusion_model_turns_the_real_sketch_into_a_picture_that_follows_its_lines(media, hosts):
    """Image to image: the sketch drawn by the real fingertip is the source of the picture; the
    picture is redrawn when the sketch changes and holds still (reused) while it does not."""
    steps = clip_steps("tfjs_asl_hand.25fps.mp4", 100, 40)
    forced = [(f, b, replace(feat, left_pinch=1.0, right_pinch=1.0, left_hand_openness=0.0,
                             right_hand_openness=0.0), ()) for f, b, feat, _ in steps]
    scene, host = make_scene("air_sketch", hosts, model="diffusion_art64", clear_hold_s=3.0, refine=0.5,
                             stroke_width=0.06)
    assert scene.tools.refines
    empty = host.render(scene.update(inputs_of(forced[0], 0.0)))
    play(scene, host, forced)
    assert not scene.canvas.is_empty
    still = replace_time(forced[-1], forced[-1][0].timestamp_s + 0.04)
    still = (still[0], still[1], replace(still[2], left_pinch=0.0, right_pinch=0.0), ())  # pen up
    state = scene.update(inputs_of(still, 0.04))
    assert state.source is not None and state.source.shape == (64, 64, 3)
    picture = host.render(state)
    reused = host.reused_frames
    assert host.render(scene.update(inputs_of(replace_time(still, still[0].timestamp_s + 0.04), 0.04))) is picture
    assert host.reused_frames == reused + 1  # an unchanged sketch: the same picture, no model call
    ink = cv2.resize(scene.canvas.ink, (64, 64), interpolation=cv2.INTER_AREA) > 128
    grey = picture.astype(float).mean(axis=2)
    assert ink.mean() > 0.01
    assert grey[ink].mean() < grey[~ink].mean() - 25, "the picture does not follow the sketch's lines"
    assert np.abs(picture.astype(int) - empty).mean() > 10  # the sketch, not the empty sheet's drift


def test_a_real_open_palm_photo_clears_the_sheet(media, hosts):
    steps = image_steps(MEDIA / "images" / "hands" / "tfjs_hands.jpg", repeats=12)
    assert max(steps[-1][2].left_hand_openness, steps[-1][2].right_hand_openness) > 0.9
    scene, host = make_scene("air_sketch", hosts, clear_hold_s=0.2)
    scene.canvas.add_point(0.2, 0.2, 0.03)
    scene.canvas.add_point(0.8, 0.7, 0.03)
    play(scene, host, steps)
    assert scene.canvas.is_empty


def test_canvas_ink_statistics():
    canvas = StrokeCanvas(64)
    assert canvas.is_empty and canvas.stats().coverage == 0.0
    canvas.add_point(0.75, 0.25, 0.05)
    canvas.add_point(0.75, 0.75, 0.05)
    stats = canvas.stats()
    assert stats.cx == pytest.approx(0.5, abs=0.05) and stats.cy == pytest.approx(0.0, abs=0.05)
    assert stats.sy > stats.sx and 0 < stats.coverage < 0.1
    assert (canvas.image[canvas.ink == 255] < 64).all() and (canvas.image[canvas.ink == 0] == 255).all()


# --- style mirror --------------------------------------------------------------------------

def test_the_mirror_changes_the_picture_only_inside_the_visitors_silhouette(media, hosts):
    steps = image_steps(MEDIA / "images" / "pose" / "tfjs_portrait.jpg", repeats=2)
    scene, host = make_scene("style_mirror", hosts)
    inputs = inputs_of(steps[-1], 0.04)
    state = scene.update(inputs)
    shown = scene.compose(host.render(state), inputs)
    height, width = steps[-1][0].image_bgr.shape[:2]
    assert shown.shape == (PICTURE_HEIGHT, round(PICTURE_HEIGHT * width / height), 3)  # the camera's shape
    image = cover(host.render(state), (shown.shape[1], shown.shape[0]))  # the picture behind, as composed
    scene.close()
    changed = np.abs(shown.astype(int) - image).max(axis=2) > 0
    alpha = cv2.resize(scene.alpha, shown.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    inside = alpha > 0.5
    assert scene.visible and 0.05 < inside.mean() < 0.95
    assert not (changed & (alpha <= 1e-3)).any()  # nothing changes outside the (feathered) mask
    assert changed[inside].mean() > 0.5
    # inside the silhouette the visitor is the camera's own pixels (the painter paints them)
    camera = cv2.cvtColor(cv2.resize(steps[-1][0].image_bgr, shown.shape[1::-1], interpolation=cv2.INTER_AREA),
                          cv2.COLOR_BGR2RGB)
    solid = alpha > 0.995
    assert solid.mean() > 0.05 and np.abs(shown[solid].astype(int) - camera[solid]).max() <= 3
    # the silhouette is where MediaPipe Pose sees the visitor: the nose is inside it
    nose = steps[-1][1].pose[0, :2]
    assert alpha[int(nose[1] * (alpha.shape[0] - 1)), int(nose[0] * (alpha.shape[1] - 1))] > 0.5


# --- themes --------------------------------------------------------------------------------

def test_the_theme_parameter_changes_the_picture_with_a_cross_fade(media, hosts):
    steps = clip_steps("tfjs_pose_1_dance.mp4", 0, 20)
    scene, host = make_scene("themes", hosts, theme_fade_s=0.2)
    play(scene, host, steps[:10])
    state = scene.update(inputs_of(steps[10], 0.0))
    before = host.render(state)
    scene.set_param("theme", 1.0)  # as /scene/param theme 1 does
    state = scene.update(inputs_of(steps[10], 0.0))
    assert state.params["theme"] == 1.0
    rendered = host.render(state)
    faded = scene.compose(rendered, inputs_of(steps[10], 0.0))
    assert np.abs(faded.astype(int) - before).mean() < 1.0  # the fade starts from the old theme
    assert np.abs(rendered.astype(int) - before).mean() > 10.0  # the new theme draws another picture
    play(scene, host, steps[11:])
    assert scene.fading_from is None and scene.theme == 1  # the fade is over, on the new theme


def test_a_real_swipe_changes_the_theme(media, hosts):
    steps = clip_steps("tfjs_pose_1_dance.mp4", 0, 120)
    swipes = [e for s in steps for e in s[3] if e.phase is Phase.START and e.name.startswith("swipe")]
    assert swipes, "the dance clip has real swipes"
    scene, host = make_scene("themes", hosts)
    themes = []
    play(scene, host, steps, lambda scene, step: themes.append(scene.theme))
    assert len(set(themes)) > 1
    # the first swipe up (both hands at once on this clip) moves on by one theme, not two
    first = next(i for i, step in enumerate(steps)
                 if any(e.phase is Phase.START and e.name == "swipe_up" for e in step[3]))
    assert themes[first - 1] == 0 and themes[first] == 1
    scene, host = make_scene("themes", hosts, gestures=0.0)
    play(scene, host, steps[:60])
    assert scene.theme == 0


def test_one_held_thumbs_up_moves_one_theme(media, hosts):
    """The thumbs-up clip, with the held gesture reported as ending and starting again 20 frames
    after it began (as a recogniser losing the hand for a moment does): the theme moves once."""
    steps = clip_steps("mpsamples_gesture_thumbsup_test_video.mp4", 40, 110)
    first = next(i for i, s in enumerate(steps) for e in s[3] if e.phase is Phase.START and e.name == "thumbs_up")
    again = first + 20
    frame, body, features, events = steps[again]
    t = frame.timestamp_s
    restart = (GestureEvent("thumbs_up", Phase.END, None, 0.9, t), GestureEvent("thumbs_up", Phase.START, None, 0.9, t))
    steps[again] = (frame, body, features, events + restart)

    def changes(**params: float) -> int:
        scene, host = make_scene("themes", hosts, **params)
        themes = []
        play(scene, host, steps, lambda scene, step: themes.append(scene.theme))
        return sum(1 for a, b in zip(themes, themes[1:]) if a != b)

    # every thumbs-up start, the recogniser's own (on some CPUs MediaPipe's hand flickers once
    # more, 16 frames on) and the injected one
    starts = sum(1 for s in steps for e in s[3] if e.phase is Phase.START and e.name == "thumbs_up")
    assert changes() == 1
    assert starts >= 2 and changes(gesture_rest_s=0.0) == starts  # without the rest, each restart is a change


# --- end to end ----------------------------------------------------------------------------

def test_a_whole_artwork_fills_a_wide_screen_on_a_matte_not_cropped(media, tmp_path, one_torch_thread):
    """themes draws emoji and clip-art: on a 16:9 screen the square picture shows whole, on a matte
    of its own border colour, rather than losing its top and bottom to the "cover" crop."""
    stats = run(RunOptions(source=str(MEDIA / "video" / "tfjs_pose_1_dance.mp4"), headless=True, frames=3,
                           scene="themes", out=str(tmp_path), size=(192, 108)))
    assert stats.frames == 3
    shown = cv2.imread(str(sorted(tmp_path.glob("*.png"))[-1]))
    assert shown.shape == (108, 192, 3)
    sides = np.concatenate([shown[:, :30], shown[:, -30:]], axis=1).reshape(-1, 3).astype(int)
    assert np.abs(sides - np.median(sides, axis=0)).max() <= 3  # a plain matte left and right ...
    middle = shown[:, 50:142]
    assert middle.std() > 10  # ... around the picture itself
    square = np.full((64, 64, 3), 250, np.uint8)
    square[20:44, 20:44] = (200, 30, 30)
    framed = matte(square, 16 / 9)
    assert framed.shape == (64, 114, 3) and np.array_equal(framed[:, 25:89], square)
    assert (framed[:, :25] == 250).all() and matte(square, 1.0) is square


@pytest.mark.parametrize("name", sorted(RESPONSE_CASES))
def test_a_scene_runs_headless_end_to_end_on_a_real_clip(media, tmp_path, one_torch_thread, name):
    """The whole loop (app.run): the scene is drawn with its own MODEL and composes its picture."""
    clip = RESPONSE_CASES[name][0]
    stats = run(RunOptions(source=str(MEDIA / "video" / clip), headless=True, frames=12, scene=name,
                           out=str(tmp_path), size=(128, 128)))
    assert stats.frames == 12 and stats.rendered_frames == 12
    assert stats.errors.get("scene", 0) == 0
    assert len(list(tmp_path.glob("*.png"))) == 12
