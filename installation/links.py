"""What a run connects the loop to besides the camera and the screen: OSC in and out, the trace
file, the health file and the kiosk's heartbeat, DMX lights, MIDI, Ableton Link and the music.

``open_links`` opens them once, before the stages are built, so that ``build_stages`` puts each in
its declared place among the loop's listeners and nothing is patched onto a built loop. A link that
cannot be opened (MIDI asked for and missing...) raises its one-line error; what was opened before
it is closed again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from installation.config import Config
from installation.control import CommandInbox
from installation.health import HealthWriter, Heartbeat
from installation.osc import OscBridge
from installation.quantize import BeatQuantiser
from installation.report import FrameListener, TraceWriter

if TYPE_CHECKING:  # each imported only when its section is on (see _open_timekeeping)
    from installation.audio_in import AudioStage
    from installation.lights.output import DmxOutput
    from installation.link_sync import LinkSync
    from installation.midi import MidiControl


@dataclass
class RunLinks:
    """The run's connections; None where the configuration leaves one off."""

    inbox: CommandInbox = field(default_factory=CommandInbox)  # commands from OSC, MIDI, keys, the staff page
    errors: Counter[str] = field(default_factory=Counter)  # the run's error counts, shared by every stage
    osc: OscBridge | None = None
    trace: TraceWriter | None = None
    health: HealthWriter | None = None
    heartbeat: Heartbeat | None = None
    lights: DmxOutput | None = None
    midi: MidiControl | None = None
    link: LinkSync | None = None  # writes the show's beat each frame
    audio: AudioStage | None = None  # the music's features each frame
    quantiser: BeatQuantiser = field(default_factory=BeatQuantiser)  # [sync]: changes on the beat or bar
    default_when: str = "now"  # sync.quantize

    @property
    def osc_out(self) -> Callable[[], list] | None:
        """The OSC messages sent this frame (for the recorder), when OSC sends anything."""
        sender = self.osc.sender if self.osc is not None else None
        return (lambda: sender.last_messages) if sender is not None else None

    def front(self) -> list[FrameListener]:
        """The listeners told of a frame before the recorder: the heartbeat first (closed first
        when the loop ends, so it says "ending", not hung), then the health file, the lights,
        OSC out (the recorder logs what OSC sent for the frame) and the trace file."""
        return [each for each in (self.heartbeat, self.health, self.lights, self.osc, self.trace) if each is not None]

    def back(self) -> list[FrameListener]:
        """The listeners after the recorder: MIDI, Link and the music, closed last."""
        return [each for each in (self.midi, self.link, self.audio) if each is not None]

    def close(self) -> None:
        for each in (*self.front(), *self.back()):
            each.close()


def open_links(config: Config, listen: str | None, targets: tuple[str, ...], trace: Path | None,
               health: Path | None, heartbeat: Path | None, lockstep: bool, person_slots: int,
               project_path: Callable[[str], Path]) -> RunLinks:
    """Open every link the configuration and the command line ask for. Raises the link's own
    error (OscError, MidiError, LinkError, AudioError...) after closing what was already open."""
    links = RunLinks()
    try:
        links.osc = OscBridge(config.osc, links.inbox, listen, targets, person_slots=person_slots)
        links.trace = TraceWriter(trace) if trace is not None else None
        if health is not None:
            links.health = HealthWriter(health, osc_receiver=links.osc.receiver_health)
        if heartbeat is not None:
            links.heartbeat = Heartbeat(heartbeat, osc_alive=links.osc.receiver_alive)
        if config.lights.enabled:  # DMX out; failed sends count among the loop's errors
            from installation.lights.output import DmxOutput

            links.lights = DmxOutput(config.lights, errors=links.errors)
        _open_timekeeping(links, config, lockstep, project_path)
    except BaseException:
        links.close()
        raise
    return links


def _open_timekeeping(links: RunLinks, config: Config, lockstep: bool, project_path: Callable[[str], Path]) -> None:
    """Beat-quantised changes ([sync]), MIDI in ([midi]), Ableton Link and the music ([audio]);
    each library is imported only when its section is on."""
    links.default_when = config.sync.quantize
    links.quantiser = BeatQuantiser(config.sync.beats_per_bar, config.sync.display_latency_ms / 1000.0)
    if config.midi.enabled:
        from installation.midi import MidiControl

        links.midi = MidiControl(links.inbox, project_path(config.midi.bindings), config.midi.clock).open(config.midi.input)
    if config.sync.link:
        from installation.link_sync import LinkSync

        links.link = LinkSync.open(config.sync.link_start_bpm, config.sync.beats_per_bar, config.sync.link_sets_tempo,
                                   lockstep=lockstep)
    if config.audio.enabled:
        from installation.audio_in import open_audio

        file = project_path(config.audio.file) if config.audio.file else None
        links.audio = open_audio(file, config.audio.device, config.audio.sample_rate, links.errors)
