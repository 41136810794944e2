"""Several visitors at once: find them, give them stable ids, pick a primary participant, watch
zones (docs/audience.md). ``CrowdPerceiver`` is the stage; the other names are its parts."""

from installation.audience.crowd import Audience, AudienceConfig, CrowdPerceiver, OscSlots
from installation.audience.detection import DetectorConfig, PeopleDetector, PersonDetection, RegionHint
from installation.audience.primary import POLICIES, PrimaryChooser, PrimaryConfig
from installation.audience.tracking import Person, Tracker, TrackerConfig
from installation.audience.zones import Zone, ZoneEvent, ZoneWatch, anchor_point

__all__ = [
    "Audience", "AudienceConfig", "CrowdPerceiver", "DetectorConfig", "OscSlots", "POLICIES", "PeopleDetector",
    "Person", "PersonDetection", "PrimaryChooser", "PrimaryConfig", "RegionHint", "Tracker", "TrackerConfig",
    "Zone", "ZoneEvent", "ZoneWatch", "anchor_point",
]
