"""A venue's calibration in the loop: zones with enter/leave events and an interaction filter,
several visitors with OSC slots, landmarks mapped to the screen, an undistorted camera, and
clear errors for a bad calibration file."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from calibration.lens import calibrate_lens, find_images
from calibration.screen import ScreenMapping
from calibration.venue import PeopleSettings, Venue, save_venue
from calibration.zones import Zone
from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import load_config, override
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.osc.sender import OscSender
from installation.runtime import Runtime
from tests.conftest import PROJECT_ROOT
from tests.helpers.video import join_clips

# Zones reach past the image's edges: a signer's feet are out of the picture, so where they stand
# is the bottom of their body in it, on the bottom edge.
LEFT = ((-0.1, -0.1), (0.4, -0.1), (0.4, 1.1), (-0.1, 1.1))  # the left 40% of the image
MIDDLE = ((0.2, -0.1), (0.8, -0.1), (0.8, 1.1), (0.2, 1.1))


class Reports:
    def __init__(self) -> None:
        self.items = []

    def on_frame(self, report) -> None:
        self.items.append(report)

    def close(self) -> None:
        pass


def replay(clip, venue_file=None, frames=None, osc: OscSender | None = None):
    config = override(load_config(), "osc", listen="")
    if venue_file is not None:
        config = override(config, "calibration", venue=str(venue_file))
    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", NullSink()))
    reports = Reports()
    stages.listeners.insert(0, reports)
    if osc is not None:
        stages.listeners.insert(0, osc)
    stats = Runtime(stages, FixedStepClock(), lockstep=True).run(max_frames=frames)
    return reports.items, stats


def person_then_nobody(media, tmp_path):
    """A real signer, then the empty tree scene: someone there, then gone."""
    signer, tree = media / "video" / "intel_asl" / "again.mkv", media / "video" / "opencv_tree_nobody.avi"
    return join_clips(tmp_path / "someone_then_nobody.mp4", [(signer, 60), (tree, 50)])


def test_a_visitor_outside_every_interaction_zone_is_ignored(media, tmp_path):
    venue = tmp_path / "left_only.toml"
    save_venue(Venue(zones=(Zone("stage", LEFT),)), venue)
    reports, stats = replay(media / "video" / "intel_asl" / "again.mkv", venue, frames=40)
    assert stats.frames_with_pose == 0, "the signer stands in the middle, outside the zone"
    assert max(r.features.presence for r in reports) == 0.0
    assert not any(r.zone_events for r in reports)
    plain, _ = replay(media / "video" / "intel_asl" / "again.mkv", frames=40)
    assert max(r.features.presence for r in plain) == 1.0, "without the venue the same visitor is seen"


def test_enter_and_leave_events_fire_in_replay_and_go_out_over_osc(media, tmp_path):
    venue = tmp_path / "middle.toml"
    save_venue(Venue(zones=(Zone("stage", MIDDLE), Zone("left_edge", LEFT, role="event"))), venue)
    sender = OscSender(load_config().osc, targets=("127.0.0.1:9",))  # the discard port: we read last_messages
    sent = []

    class Capture:
        def on_frame(self, report):
            sent.extend(m for m in sender.last_messages if m[0] == "/zone")

        def close(self):
            pass

    config = override(override(load_config(), "osc", listen=""), "calibration", venue=str(venue))
    stages = build_stages(config, VideoFileSource(person_then_nobody(media, tmp_path), mirror=True),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    reports = Reports()
    stages.listeners[:0] = [reports, sender, Capture()]
    Runtime(stages, FixedStepClock(), lockstep=True).run()
    events = [(round(e.t, 2), e.zone, e.person_id, e.kind) for r in reports.items for e in r.zone_events]
    assert [e[1:] for e in events] == [("stage", 0, "enter"), ("stage", 0, "leave")]
    entered, left = events[0][0], events[1][0]
    assert entered < 0.1 and 2.0 <= left < 2.2, "enters on the first frame, leaves when the signer is gone (at 2 s)"
    assert sent == [["/zone", "stage", 0, "enter"], ["/zone", "stage", 0, "leave"]]
    seen = [r for r in reports.items if r.zone_events]
    assert all(r.scene for r in seen)


def test_several_visitors_keep_ids_and_osc_slots_and_zones_pick_the_primary(media, tmp_path):
    venue = tmp_path / "walkers.toml"
    save_venue(Venue(zones=(Zone("left", ((0.0, 0.0), (0.45, 0.0), (0.45, 1.0), (0.0, 1.0))),),
                     people=PeopleSettings(enabled=True, max_people=2, primary="closest")), venue)
    gif = media / "video" / "intel_face-demographics-walking.gif"
    sender = OscSender(load_config().osc, targets=("127.0.0.1:9",), person_slots=2)
    slots = []

    class Capture:
        def on_frame(self, report):
            slots.append({m[0]: m[1] for m in sender.last_messages if m[0].startswith(("/person", "/audience"))})

        def close(self):
            pass

    config = override(override(load_config(), "osc", listen=""), "calibration", venue=str(venue))
    config = override(config, "source", mirror=False)
    stages = build_stages(config, VideoFileSource(gif, mirror=False), HeadlessDisplay((64, 36), "cover", NullSink()))
    reports = Reports()
    stages.listeners[:0] = [reports, sender, Capture()]
    Runtime(stages, FixedStepClock(), lockstep=True).run()
    audiences = [r.audience for r in reports.items if r.audience is not None]
    both = sum(1 for a in audiences if len(a.people) == 2)
    assert both >= 0.8 * len(reports.items), f"both walkers in {both} of {len(reports.items)} frames"
    ids = {p.id for a in audiences for p in a.people}
    assert len(ids) == 2, f"two ids for the whole clip, got {ids}"
    primaries = [a for a in audiences if a.primary_id is not None]
    assert len(primaries) >= 5, "a walker crosses into the zone (measured: primary in 10 of 35 frames)"
    for audience in primaries:  # and whoever is primary stands in it
        assert audience.anchors[audience.primary_id][0] < 0.45 + 0.02
    full = [s for s in slots if s.get("/person/0/present") == 1 and s.get("/person/1/present") == 1]
    assert full and {full[-1]["/person/0/id"], full[-1]["/person/1/id"]} == ids
    assert len({s["/person/0/id"] for s in full}) == 1, "a visitor keeps their slot"


def test_landmarks_are_mapped_to_screen_coordinates(media, tmp_path):
    mapping = ScreenMapping(homography=((0.5, 0.0, 0.25), (0.0, 0.8, 0.1), (0.0, 0.0, 1.0)))
    venue = tmp_path / "screen.toml"
    save_venue(Venue(screen=mapping), venue)
    clip = media / "video" / "intel_asl" / "again.mkv"
    mapped, _ = replay(clip, venue, frames=10)
    plain, _ = replay(clip, frames=10)
    compared = 0
    for a, b in zip(mapped, plain):
        if b.observation is not None and b.observation.has_pose:
            compared += 1
            expected = b.observation.pose[:, :2] * [0.5, 0.8] + [0.25, 0.1]
            assert np.allclose(a.observation.pose[:, :2], expected, atol=1e-5)
            for hand_a, hand_b in zip(a.observation.hands, b.observation.hands):
                assert np.allclose(hand_a.landmarks[:, :2], hand_b.landmarks[:, :2] * [0.5, 0.8] + [0.25, 0.1], atol=1e-5)
    assert compared >= 8, "the signer is seen in (nearly) every frame"


def test_where_visitors_stand_goes_out_in_screen_coordinates(media, tmp_path):
    # the walking GIF with [people] on, once plain and once with a screen that mirrors the camera:
    # each slot's /person x is 1 - the plain run's, like the landmarks (zones stay on the camera)
    gif = media / "video" / "intel_face-demographics-walking.gif"
    xs = {}
    for name, screen in (("plain", None), ("mirrored", ScreenMapping(mirror=True))):
        venue = tmp_path / f"{name}.toml"
        save_venue(Venue(screen=screen, people=PeopleSettings(enabled=True, max_people=2)), venue)
        sender = OscSender(load_config().osc, targets=("127.0.0.1:9",), person_slots=2)
        sent = []

        class Capture:
            def on_frame(self, report, sender=sender, sent=sent):
                sent.append({m[0]: m[1] for m in sender.last_messages if m[0].startswith("/person/")})

            def close(self):
                pass

        config = override(override(load_config(), "osc", listen=""), "calibration", venue=str(venue))
        stages = build_stages(override(config, "source", mirror=False), VideoFileSource(gif, mirror=False),
                              HeadlessDisplay((64, 36), "cover", NullSink()))
        stages.listeners[:0] = [sender, Capture()]
        Runtime(stages, FixedStepClock(), lockstep=True).run(max_frames=20)
        xs[name] = [(s.get("/person/0/present"), s.get("/person/0/x")) for s in sent]
    pairs = [(a[1], b[1]) for a, b in zip(xs["plain"], xs["mirrored"]) if a[0] == 1 and b[0] == 1]
    assert len(pairs) >= 10
    assert np.allclose([b for _, b in pairs], [1.0 - a for a, _ in pairs], atol=1e-5)


def test_an_undistorted_camera_feeds_the_loop(media, tmp_path):
    lens = calibrate_lens(find_images(media / "calibration" / "chessboard"), board=(9, 6))
    venue = tmp_path / "lens.toml"
    save_venue(Venue(lens=lens), venue)
    frames = []

    class Frames:
        def on_frame(self, report):
            if report.frame is not None:
                frames.append(report.frame.image_bgr)

        def close(self):
            pass

    config = override(override(load_config(), "osc", listen=""), "calibration", venue=str(venue))
    clip = media / "video" / "intel_asl" / "again.mkv"  # 640 x 480, as the chessboard photos
    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", NullSink()))
    assert "undistorted" in stages.source.description
    stages.listeners.insert(0, Frames())
    stats = Runtime(stages, FixedStepClock(), lockstep=True).run(max_frames=5)
    raw = VideoFileSource(clip, mirror=True).read().image_bgr
    assert stats.frames_with_pose == 5
    assert frames[0].shape == raw.shape and np.abs(frames[0].astype(int) - raw).mean() > 1.0


@pytest.mark.parametrize("text, message", [
    ("[lens]\nrms_px = 'small'\n", "lens"),
    ("[[zones]]\nname = 'door'\npoints = [[0, 0], [1, 1]]\n", "zones"),
    ("[people]\nprimary = 'tallest'\n", "people.primary"),
])
def test_a_bad_calibration_file_stops_the_run_with_one_clear_line(media, tmp_path, text, message):
    venue = tmp_path / "broken.toml"
    venue.write_text(text)
    config = tmp_path / "config.toml"
    config.write_text((PROJECT_ROOT / "config.toml").read_text().replace('venue = ""', f'venue = "{venue}"'))
    result = subprocess.run([sys.executable, "main.py", "run", "--config", str(config), "--headless", "--frames", "2",
                             "--source", str(media / "video" / "intel_asl" / "again.mkv")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors and "broken.toml" in errors[-1] and message in errors[-1], result.stderr[-2000:]
