"""The venue's calibration in the loop (``calibration/<venue>.toml``, see docs/calibration.md).

    source -> [undistort] -> perception -> [zones, interaction filter, camera -> screen] -> smoother

- ``UndistortedSource`` takes the lens's distortion out of every frame before anyone sees it,
  so landmarks, the overlay's camera inset and recordings are all straight.
- ``VenueStage.process`` places each visitor by where they stand (between the ankles, else the
  bottom of their body), reports zone enter/leave events, drops a lone visitor who stands outside
  every interaction zone (with several visitors the audience stage does that when it picks the
  primary), and maps landmarks from camera to screen coordinates, so "the hand is over this part
  of the screen" is true for features, gestures and scenes.

Zones drawn in screen coordinates are carried into camera coordinates once at set-up (a
homography maps straight edges to straight edges), so one watch serves both kinds.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from calibration.lens import Undistorter
from calibration.venue import Venue, load_venue, venue_path
from calibration.zones import Zone
from installation.audience.detection import landmark_box
from installation.audience.zones import ZoneEvent, ZoneWatch, anchor_point
from installation.config import PROJECT_ROOT
from installation.contracts import Frame, Hand, Observation
from installation.sources import Source

log = logging.getLogger(__name__)

LONE_VISITOR_ID = 0  # the id zone events carry when one visitor is followed
_VISIBLE = 0.5


def load_configured_venue(name: str) -> Venue | None:
    """The venue named by ``calibration.venue`` ("" = none). Raises CalibrationError (an
    InstallationError) naming the file and the key for a missing or malformed file."""
    if not name:
        return None
    path = venue_path(name)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    venue = load_venue(Path(path))
    log.info("venue %s: lens %s, screen mapping %s, %d zones, several visitors %s", path.name,
             "yes" if venue.lens else "no", "yes" if venue.screen else "no", len(venue.zones),
             "on" if venue.people.enabled else "off")
    return venue


class UndistortedSource:
    """A source whose frames have the lens's distortion taken out (maps built once per size)."""

    def __init__(self, source: Source, venue: Venue) -> None:
        if venue.lens is None:
            raise ValueError("UndistortedSource needs a venue with a lens")
        self.source = source
        self.description = f"{source.description}, undistorted"
        self.fps, self.frame_size = source.fps, source.frame_size
        self._undistort = {
            mirrored: Undistorter(venue.lens.mirrored() if mirrored else venue.lens, source.frame_size)
            for mirrored in (False, True)
        }

    def read(self) -> Frame | None:
        return self._straight(self.source.read())

    def latest(self) -> Frame | None:
        return self._straight(self.source.latest())

    def close(self) -> None:
        self.source.close()

    def __getattr__(self, name: str) -> object:  # dropped, skipped, ...: the wrapped source's
        return getattr(self.source, name)

    def _straight(self, frame: Frame | None) -> Frame | None:
        if frame is None:
            return None
        # a new array per frame: perception (another thread) and the recorder keep frames
        return dataclasses.replace(frame, image_bgr=self._undistort[frame.mirrored](frame.image_bgr))


class VenueStage:
    """Zones, the interaction filter and the camera -> screen mapping, for each new observation."""

    def __init__(self, venue: Venue, zone_margin: float = 0.02) -> None:
        self.venue = venue
        self.zones = camera_zones(venue)
        self.watch = ZoneWatch(self.zones, zone_margin)  # the lone visitor's (the audience stage has its own)
        self.ignored = 0  # observations of a lone visitor outside every interaction zone

    def process(self, observation: Observation) -> tuple[Observation, tuple[ZoneEvent, ...]]:
        """The observation as the rest of the loop should see it, and this moment's zone events.
        With several visitors the audience stage has watched the zones already (it chooses the
        primary participant among those in an interaction zone): its events are passed on."""
        if observation.audience is not None:
            events = observation.audience.events
        else:
            anchors = ({LONE_VISITOR_ID: anchor_point(landmark_box(observation.pose, _VISIBLE), observation.pose)}
                       if observation.has_pose else {})
            events = self.watch.update(anchors.items(), observation.timestamp_s)
            if anchors and not self.watch.interacting(LONE_VISITOR_ID):
                self.ignored += 1
                observation = dataclasses.replace(observation, pose=observation.pose[:0], hands=())
        if self.venue.screen is not None:
            observation = self.to_screen(observation)
        return observation, tuple(events)

    def to_screen(self, observation: Observation) -> Observation:
        """Pose and hand landmarks, and where each visitor stands, in screen coordinates (x, y
        0..1 across the screen)."""
        mapping = self.venue.screen
        pose = mapping.apply(observation.pose, np.empty_like(observation.pose)) if observation.has_pose else observation.pose
        hands = tuple(Hand(mapping.apply(hand.landmarks, np.empty_like(hand.landmarks)), hand.side, hand.score)
                      for hand in observation.hands)
        audience = observation.audience
        if audience is not None and audience.anchors:
            ids = list(audience.anchors)
            standing = mapping.apply(np.array([audience.anchors[i] for i in ids], np.float64))
            audience = dataclasses.replace(audience, anchors={i: (float(x), float(y)) for i, (x, y) in zip(ids, standing)})
        return dataclasses.replace(observation, pose=pose, hands=hands, audience=audience)


def camera_zones(venue: Venue) -> tuple[Zone, ...]:
    """Every zone of the venue in camera coordinates (screen zones carried back through the mapping)."""
    zones = []
    for zone in venue.zones:
        if zone.space == "screen":
            if venue.screen is None:
                raise ValueError(f"zone {zone.name!r} is in screen coordinates but the venue has no [screen] mapping")
            points = venue.screen.to_camera(np.asarray(zone.points, np.float64))
            zone = dataclasses.replace(zone, points=tuple((float(x), float(y)) for x, y in points[:, :2]),
                                       space="camera")
        zones.append(zone)
    return tuple(zones)
