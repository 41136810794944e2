"""Perception's counts of what it threw away reach the run's stats, /status and the health file.

A real replay: two copies of the dancer of tfjs_pose_1_dance.mp4, the second cut out with Pose's
own mask, recoloured and laid half over the first (tests/helpers/composite.py), written to a clip
and played through the whole loop with the venue's [people] on. Overlapping people make every
counter count: hands found in the primary's crop that sit on the other dancer's wrist, the search
finding a painted person again (ghosts), a follower latching onto the front dancer (shadowed),
and the tracker refusing to move an id between the two (appearance or speed gate).
"""

from __future__ import annotations

import json

import cv2
import pytest

from calibration.venue import PeopleSettings, Venue, save_venue
from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import load_config, override
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.health import HealthWriter
from installation.runtime import Runtime
from tests.helpers.composite import overlay, person_masks, recoloured
from tests.helpers.video import read_frames

FRAMES = 36
LAG = 40  # the second dancer is the clip 40 frames later: another move at every moment
CROWD_COUNTERS = ("hands_dropped", "people_ghosts", "people_shadowed", "id_moves_refused")


@pytest.fixture(scope="module")
def overlapping_clip(media, tmp_path_factory):
    frames = read_frames(media / "video" / "tfjs_pose_1_dance.mp4")
    masks = person_masks(frames)
    path = tmp_path_factory.mktemp("crowd") / "two_dancers.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (width, height))
    for i in range(FRAMES):
        j = (i + LAG) % len(frames)
        writer.write(overlay(frames[i], recoloured(frames[j], 30), masks[j], 0.12))
    writer.release()
    return path


def test_crowd_counters_reach_stats_status_and_health_file(overlapping_clip, tmp_path):
    venue = tmp_path / "venue.toml"
    save_venue(Venue(people=PeopleSettings(enabled=True, max_people=2)), venue)
    config = override(override(load_config(), "osc", listen=""), "calibration", venue=str(venue))
    config = override(config, "perception", schedule="inline", hands=True, input_width=0)  # as captured
    stages = build_stages(override(config, "source", mirror=False), VideoFileSource(overlapping_clip, mirror=False),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    health = tmp_path / "health.json"
    stages.listeners.append(HealthWriter(health, interval_s=0.0))  # every frame: the last one is the run's end
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    stats = runtime.run(max_frames=FRAMES)  # closes the stages at the end; the counters stay readable
    status = runtime.status()
    counted = {name: stats.errors[name] for name in CROWD_COUNTERS}
    # the dancer behind reaches into the front one's hand crop; the tracker refuses their ids'
    # swapping every frame (ghosts and shadowed followers come and go with the clip's compression)
    assert counted["hands_dropped"] > 0 and counted["id_moves_refused"] > 0, counted
    assert {name: status.errors[name] for name in CROWD_COUNTERS} == counted
    written = json.loads(health.read_text())["errors"]
    # the health file is rewritten at every frame (interval 0): its last one saw the last observation
    assert {name: written[name] for name in CROWD_COUNTERS} == counted


def test_single_visitor_counters_are_in_the_stats(media, tmp_path):
    config = override(load_config(), "osc", listen="")
    config = override(config, "perception", schedule="inline")
    clip = media / "video" / "intel_asl" / "again.mkv"
    stages = build_stages(config, VideoFileSource(clip), HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    stats = runtime.run(max_frames=6)
    # one signer alone: nothing to drop, and the keys are there for monitoring to read as zeros
    assert stats.errors["hands_dropped"] == 0 and stats.errors["pose_jumps"] == 0
    assert runtime.status().errors["pose_jumps"] == 0
