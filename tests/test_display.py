"""Display back-ends: the window's keys, full screen, fitting the picture, and the PNG/MP4 sinks."""

from __future__ import annotations

import numpy as np
import pygame
import pytest

from installation.config import DisplayConfig
from installation.contracts import TrackedBody
from installation.display import (
    QUIT,
    TOGGLE_OVERLAY,
    Compositor,
    DisplayError,
    HeadlessDisplay,
    Mp4Sink,
    PngFolderSink,
    WindowDisplay,
)
from installation.overlay import Hud


def gradient(size: int = 64) -> np.ndarray:
    ramp = np.linspace(0, 255, size, dtype=np.uint8)
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = ramp[None, :]  # red grows to the right
    image[..., 1] = ramp[:, None]  # green grows downwards
    return image


def pixels(surface: pygame.Surface) -> np.ndarray:
    width, height = surface.get_size()
    return np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8).reshape(height, width, 3)


def test_cover_fills_the_output_and_crops_the_long_side():
    out = pixels(Compositor((200, 100), "cover").compose(gradient(), None))
    assert out.shape == (100, 200, 3)
    assert out[0, 100, 1] > 40  # the top rows of the square were cropped away (green > 0 at top)
    assert out[50, 0, 0] < 10 and out[50, -1, 0] > 245  # full width kept


def test_contain_letterboxes():
    out = pixels(Compositor((200, 100), "contain").compose(gradient(), None))
    assert out[:, :40].max() == 0 and out[:, -40:].max() == 0  # black bars left and right
    assert out[50, 100].max() > 0


def hud() -> Hud:
    body = TrackedBody.nobody(0.0)
    camera = np.full((120, 160, 3), 90, np.uint8)
    return Hud(camera, body, fps=30.0, latency_ms=80.0, stage_ms={"perception": 40.0}, source="test")


def test_overlay_draws_an_inset_and_text():
    plain = pixels(Compositor((320, 180), "cover").compose(gradient(), None)).copy()
    with_hud = pixels(Compositor((320, 180), "cover").compose(gradient(), hud()))
    changed = np.any(plain != with_hud, axis=2)
    assert changed[-40:, :40].any()  # the camera inset, bottom left
    assert changed[:20, :100].any()  # the text, top left


@pytest.fixture
def window():
    display = WindowDisplay(DisplayConfig(width=320, height=180, target_fps=500), fullscreen=False)
    yield display
    display.close()


def press(key: int) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))


def test_window_keys(window):
    assert window.show(gradient(), None) == []
    press(pygame.K_h)
    assert window.show(gradient(), None) == [TOGGLE_OVERLAY]
    press(pygame.K_ESCAPE)
    assert window.show(gradient(), hud()) == [QUIT]
    press(pygame.K_f)
    window.show(gradient(), None)
    assert window.fullscreen and not pygame.mouse.get_visible()
    press(pygame.K_f)
    window.show(gradient(), None)
    assert not window.fullscreen


def test_kiosk_ignores_escape():
    display = WindowDisplay(DisplayConfig(width=320, height=180, quit_key=False, target_fps=500), fullscreen=True)
    press(pygame.K_ESCAPE)
    assert display.show(gradient(), None) == []
    assert not pygame.mouse.get_visible()
    display.close()


def test_window_shows_the_composed_frame(window, tmp_path):
    window.show(gradient(), None)
    window.screenshot(tmp_path / "shot.png")
    shot = pygame.image.load(str(tmp_path / "shot.png"))
    assert shot.get_size() == (320, 180)


def test_headless_png_sink_writes_numbered_frames(tmp_path):
    display = HeadlessDisplay((64, 36), "cover", PngFolderSink(tmp_path / "frames"))
    for _ in range(3):
        display.show(gradient(), None)
    display.close()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "frame_000000.png", "frame_000001.png", "frame_000002.png"]


def test_mp4_sink_writes_h264_that_browsers_play_and_keeps_the_picture(tmp_path):
    import av

    frames = [np.roll(gradient(66)[:, :65], 4 * i, axis=1) for i in range(10)]  # odd width: padded to even
    sink = Mp4Sink(tmp_path / "piece.mp4", (65, 66), 30.0)
    for frame in frames:
        sink.write(frame)
    sink.close()
    with av.open(str(tmp_path / "piece.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert stream.average_rate == 30
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(decoded) == 10 and decoded[0].shape == (66, 66, 3)
    for written, read in zip(frames, decoded):
        error = np.abs(read[:, :65].astype(int) - written.astype(int))
        assert error.mean() < 3  # crf 18: close to lossless on smooth art


def test_unwritable_outputs_are_clear_errors(tmp_path):
    with pytest.raises(DisplayError, match="output folder does not exist"):
        Mp4Sink(tmp_path / "missing" / "x.mp4", (64, 36), 30.0)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DisplayError, match="cannot create output folder"):
        PngFolderSink(blocker / "frames")


def test_overlay_draws_the_venues_zones_and_each_visitors_id_with_the_primary_marked():
    import dataclasses

    from calibration.zones import Zone
    from installation.audience.crowd import Audience
    from installation.audience.tracking import Person
    from installation.overlay import PERSON_COLOUR, PRIMARY_COLOUR, ZONE_COLOURS

    def person(pid: int, box: tuple) -> Person:
        return Person(pid, np.array(box, np.float32), np.zeros((0, 4), np.float32), 1.0, 0.0, 1.0, True,
                      np.zeros(2, np.float32))

    audience = Audience(0, 0.0, (person(1, (0.05, 0.1, 0.3, 0.9)), person(2, (0.6, 0.1, 0.9, 0.9))), primary_id=2)
    zones = (Zone("stage", ((0.4, 0.2), (0.95, 0.2), (0.95, 0.95), (0.4, 0.95))),
             Zone("door", ((0.0, 0.0), (0.2, 0.0), (0.2, 0.2)), role="event"))
    shown = pixels(Compositor((640, 360), "cover").compose(gradient(), dataclasses.replace(hud(), zones=zones,
                                                                                          audience=audience)))
    inset = shown[-130:, :175]  # the camera inset, bottom left (a quarter of the width)

    def has(colour) -> bool:
        return bool(np.all(inset == colour, axis=2).any())

    assert has(ZONE_COLOURS["interaction"]) and has(ZONE_COLOURS["event"])
    assert has(PRIMARY_COLOUR) and has(PERSON_COLOUR)
