"""Sources: frames in order with their own timestamps, loops, image folders, and clear errors."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from installation.clock import ManualClock, MonotonicClock
from installation.config import SourceConfig
from installation.errors import SourceError
from installation.file_sources import ImageFolderSource, VideoFileSource
from installation.live_sources import CameraSource, RealtimePlayback
from installation.sources import DEMO_CLIP, SourceSpec, open_source, parse_source_spec
from tests.helpers.waiting import wait_for


def test_video_frames_come_in_order_with_the_videos_own_timestamps(media):
    source = VideoFileSource(media / "video" / "intel_asl" / "yes.mkv")
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert len(frames) == 65
    assert [f.index for f in frames] == list(range(65))
    times = np.array([f.timestamp_s for f in frames])
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    assert np.allclose(np.diff(times), 1 / 30, atol=0.005)  # a 30 fps clip
    assert frames[0].image_bgr.shape == (480, 640, 3)
    assert source.frame_size == (640, 480)


def test_a_looped_video_keeps_counting_indices_and_time(media):
    source = VideoFileSource(media / "video" / "opencv_tree_nobody.avi", loop=True)
    frames = [source.read() for _ in range(68 * 2 + 5)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert np.all(np.diff([f.timestamp_s for f in frames]) > 0)
    assert np.array_equal(frames[0].image_bgr, frames[68].image_bgr)  # second pass, same picture


def test_mirror_flips_left_right(media):
    plain = VideoFileSource(media / "video" / "intel_asl" / "yes.mkv").read()
    mirrored = VideoFileSource(media / "video" / "intel_asl" / "yes.mkv", mirror=True).read()
    assert np.array_equal(mirrored.image_bgr, plain.image_bgr[:, ::-1])


def test_gif_without_a_frame_rate_still_gets_increasing_timestamps(media):
    source = VideoFileSource(media / "video" / "intel_face-demographics-walking.gif")
    times = [f.timestamp_s for f in iter(source.read, None)]
    assert len(times) == 35 and np.all(np.diff(times) > 0)


def test_image_folder_in_name_order_skipping_unreadable_images(media, tmp_path):
    for name in ("b.jpg", "a.png"):
        shutil.copy(media / "images" / "pose" / ("tfjs_pose.jpg" if name == "b.jpg" else "basketball1.png"), tmp_path / name)
    (tmp_path / "c.jpg").write_bytes(b"not a jpeg")
    source = ImageFolderSource(tmp_path, SourceConfig(images_fps=10.0, mirror=False))
    frames = list(iter(source.read, None))
    assert len(frames) == 2 and source.skipped == 1
    assert frames[0].image_bgr.shape == cv2.imread(str(tmp_path / "a.png")).shape
    assert [f.timestamp_s for f in frames] == [0.0, 0.1]


def test_missing_and_unreadable_inputs_get_one_line_errors(tmp_path):
    with pytest.raises(SourceError, match="video file not found: .*nope.mp4"):
        VideoFileSource(tmp_path / "nope.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceError, match="cannot read video: .*garbage.mp4"):
        VideoFileSource(garbage)
    with pytest.raises(SourceError, match="image folder not found"):
        ImageFolderSource(tmp_path / "missing", SourceConfig())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images in"):
        ImageFolderSource(empty, SourceConfig())


def test_unknown_camera_is_a_clear_error():
    with pytest.raises(SourceError, match="camera 57 could not be opened"):
        CameraSource(57, SourceConfig(), MonotonicClock())
    with pytest.raises(SourceError, match="camera /dev/video99 could not be opened"):
        open_source(SourceSpec("camera", "/dev/video99"), SourceConfig(), MonotonicClock())


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("camera", SourceSpec("camera", 0)),
        ("camera:2", SourceSpec("camera", 2)),
        ("3", SourceSpec("camera", 3)),
        ("camera:/dev/video4", SourceSpec("camera", "/dev/video4")),
        ("demo", SourceSpec("video", str(DEMO_CLIP))),
        ("clip.mp4", SourceSpec("video", "clip.mp4")),
    ],
)
def test_source_specs(text, spec):
    assert parse_source_spec(text) == spec


def test_bundled_demo_clip_is_a_real_readable_video():
    source = VideoFileSource(DEMO_CLIP)
    count = sum(1 for _ in iter(source.read, None))
    assert count == 398


def test_realtime_playback_delivers_the_newest_frame_and_counts_the_rest(media):
    clock = MonotonicClock()
    playback = RealtimePlayback(VideoFileSource(media / "video" / "intel_asl" / "yes.mkv"), clock)
    first = playback.read()
    for _ in range(1000):  # until four frames were overwritten unread (30 fps: about 0.15 s)
        if playback.dropped >= 4:
            break
        playback.finished.wait(0.01)
    newest = playback.latest()
    playback.close()
    assert first is not None and newest is not None
    assert newest.index - first.index >= 5
    assert playback.dropped >= 4


def test_realtime_playback_starts_at_the_loops_first_read_not_while_models_load(media, monkeypatch):
    # a short clip started when it was opened played out unseen during the warm-up (63 of 66
    # frames dropped): it must start when the loop, warmed up, first asks for a frame
    from installation.app import RunOptions, run
    from installation.generator_pool import GeneratorPool

    playbacks: list[RealtimePlayback] = []
    opened, warm_up = RealtimePlayback.__init__, GeneratorPool.warm_up
    playing_at_warm_up: list[bool] = []

    def keep(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        playbacks.append(self)

    def warm_up_watched(self):
        playing_at_warm_up.append(any(playback.playing for playback in playbacks))
        warm_up(self)

    monkeypatch.setattr(RealtimePlayback, "__init__", keep)
    monkeypatch.setattr(GeneratorPool, "warm_up", warm_up_watched)
    stats = run(RunOptions(source=str(media / "video" / "intel_asl" / "yes.mkv"), headless=True, realtime=True,
                           frames=3))
    assert stats.rendered_frames == 3
    assert len(playbacks) == 1 and playing_at_warm_up == [False] and playbacks[0].playing


def test_camera_grabber_keeps_the_newest_frame_and_reconnects(media, caplog):
    # A video file stands in for the device: OpenCV opens both the same way. It decodes faster
    # than a camera delivers, so the slot is overwritten constantly; at its end the "camera"
    # stops delivering, which the grabber logs and answers by reopening it.
    clip = media / "video" / "intel_asl" / "yes.mkv"
    camera = CameraSource(str(clip), SourceConfig(mirror=False), MonotonicClock())
    try:
        first = camera.read()
        wait_for(lambda: camera.reconnects >= 1, "the camera reopened")
        newest = camera.read()
    finally:
        camera.close()
    assert first is not None and newest is not None
    assert camera.reconnects >= 1
    assert camera.dropped > 0  # frames nobody asked for were replaced, not queued
    assert "stopped delivering frames" in caplog.text
    assert camera.frame_size == (640, 480)


def test_file_sources_stamp_wall_time_from_the_clock_they_are_given(media, tmp_path):
    clock = ManualClock(wall_start_s=500.0)
    video = open_source(SourceSpec("video", str(media / "video" / "intel_asl" / "yes.mkv")), SourceConfig(), clock)
    shutil.copy(media / "images" / "pose" / "tfjs_pose.jpg", tmp_path / "a.jpg")
    images = ImageFolderSource(tmp_path, SourceConfig(), clock=clock)
    try:
        first = video.read()
        clock.advance_wall(2.5)
        assert first.wall_s == 500.0 and video.read().wall_s == 502.5
        assert images.read().wall_s == 502.5
    finally:
        video.close()
        images.close()
