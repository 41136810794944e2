"""The stages the frame loop drives, built once by ``installation.app.build_stages``."""

from __future__ import annotations

from dataclasses import dataclass, field

from installation.display import Display
from installation.features import FeatureExtractor
from installation.generator import GeneratorHost
from installation.gestures import GestureRecognizer
from installation.gestures.live import LiveTeacher
from installation.links import RunLinks
from installation.load_scheduler import LoadScheduler
from installation.painting import Painter
from installation.perception import PerceptionSchedule
from installation.quality import AdaptiveQuality
from installation.recorder import SessionRecorder
from installation.recovery import RecoveryPolicy
from installation.report import FrameListener
from installation.scene_slot import SceneSlot
from installation.schedule import OpeningHours, Playlist
from installation.smoothing import BodySmoother
from installation.sources import Source
from installation.venue_stage import VenueStage


@dataclass
class Stages:
    """Everything the loop drives, built and owned by ``installation.app``."""

    source: Source
    perception: PerceptionSchedule
    smoother: BodySmoother
    features: FeatureExtractor
    scenes: SceneSlot  # the scene showing and the generator it draws with; show control can swap it
    generator: GeneratorHost  # the configured model (scenes naming another get theirs from scenes.generators)
    display: Display
    listeners: list[FrameListener] = field(default_factory=list)  # trace file, OSC out, recorder
    recorder: SessionRecorder | None = None  # also among the listeners, when there is one
    recovery: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    gestures: GestureRecognizer | None = None
    playlist: Playlist = field(default_factory=lambda: Playlist(()))
    hours: OpeningHours = field(default_factory=lambda: OpeningHours(()))
    quality: AdaptiveQuality | None = None  # live runs: holds the frame rate by the configured model's size
    venue: VenueStage | None = None  # a venue's zones and camera -> screen mapping
    loop_cores: frozenset[int] | None = None  # threaded perception: the loop's CPU cores (installation.affinity)
    painter: Painter | None = None  # style transfer of the picture ([paint]); scenes turn it on with "paint"
    screen_aspect: float | None = None  # width / height when the display crops to fill ("cover"), else None
    scene_switch_rate: float = 4.0  # commanded scene switches per second at most (osc.scene_switch_rate)
    links: RunLinks = field(default_factory=RunLinks)  # the inbox, the run's error counts, OSC, MIDI, Link...
    teacher: LiveTeacher | None = None  # records and trains gestures on command (with gestures on)
    load: LoadScheduler | None = None  # live runs: paint, then perceive, less often when short of cores
