"""DMX out: a frame listener that sends one universe per rendered frame over Art-Net or sACN.

It runs on the loop's thread, so it only fills 512 bytes and calls ``sendto`` on a non-blocking
UDP socket; a send that fails is counted and logged now and then, never raised. Frames come at
most ``max_rate_hz`` apart in media time (44 Hz: what a DMX line carries), so a 60 fps picture
does not flood a node that could only pass on 44. While the piece sleeps (closed, or put to sleep
from the staff page) the universe is sent dark, so the room's lights close with the piece.
"""

from __future__ import annotations

import collections
import logging
import socket

from installation.lights.channels import LightInputs, fill_levels
from installation.lights.config import LightsConfig
from installation.lights.packets import (
    ARTNET_PORT,
    DMX_CHANNELS,
    SACN_PORT,
    artdmx_packet,
    sacn_cid,
    sacn_multicast_group,
    sacn_packet,
)
from installation.report import FrameReport

log = logging.getLogger(__name__)

SACN_TERMINATE_REPEATS = 3  # E1.31 6.2.6: a source that stops sends three stream-terminated packets


def dmx_target(config: LightsConfig) -> tuple[str, int]:
    """Where the packets go: (host, port) from ``lights.target``, or the protocol's default."""
    default_port = ARTNET_PORT if config.protocol == "artnet" else SACN_PORT
    if not config.target:
        return sacn_multicast_group(config.universe), default_port  # artnet without a target fails in config
    host, colon, port = config.target.rpartition(":")
    return (host, int(port)) if colon else (config.target, default_port)


class DmxOutput:
    """Sends ``[lights]``: one ArtDmx or E1.31 packet per frame (rate limit permitting)."""

    def __init__(self, config: LightsConfig, errors: collections.Counter | None = None) -> None:
        """``errors``: where failed sends are also counted (the loop's telemetry errors, which the
        stats, health file and staff page show), as ``dmx_send_failed``."""
        self.config = config
        self.errors = errors if errors is not None else collections.Counter()
        self.target = dmx_target(config)
        self.sources = config.sources
        self.levels = bytearray(DMX_CHANNELS)  # the universe as last sent; channel 1 at index 0
        self.counters: collections.Counter = collections.Counter()
        self._min_interval = 1.0 / config.max_rate_hz
        self._last_sent_t = -float("inf")
        self._sequence = 0
        self._occupied: dict[str, set[int]] = collections.defaultdict(set)  # zone -> person ids inside
        self._cid = sacn_cid(config.source_name)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # Art-Net broadcast targets
        self._socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)  # sACN crosses a venue's routers
        self._socket.setblocking(False)  # a full buffer drops a frame (counted), never waits
        self._dark = False

    def on_frame(self, report: FrameReport) -> None:
        """Fill the universe from this frame and send it, unless under the rate limit."""
        self._follow_zones(report.zone_events)  # every frame: an enter between two sends still counts
        if not self._due(report.t):
            return
        self._dark = False
        occupied = frozenset(zone for zone, people in self._occupied.items() if people)
        inputs = LightInputs(report.features, report.beat_phase, occupied, report.picture)
        fill_levels(self.levels, self.sources, inputs)
        self._send(self.levels)

    def on_sleep(self, t: float) -> None:
        """The piece sleeps at media time ``t``: the universe goes dark (and keeps being sent dark,
        so a node that holds its last look after a time-out cannot bring the lights back)."""
        if not self._due(t):
            return
        if not self._dark:
            log.info("lights: blackout while the piece sleeps")
        self._dark = True
        self._send(bytes(DMX_CHANNELS))

    def _due(self, t: float) -> bool:
        if t - self._last_sent_t < self._min_interval - 1e-9:
            self.counters["dmx_frames_skipped"] += 1
            return False
        self._last_sent_t = t
        return True

    def _follow_zones(self, events: tuple) -> None:
        for event in events:
            people = self._occupied[event.zone]
            if event.kind == "enter":
                people.add(event.person_id)
            else:
                people.discard(event.person_id)

    def packet(self, levels: bytes | bytearray, terminated: bool = False) -> bytes:
        """The next packet of the configured protocol (advances the sequence number)."""
        if self.config.protocol == "artnet":
            self._sequence = self._sequence % 255 + 1  # 1..255: 0 would tell the node "no sequencing"
            return artdmx_packet(levels, self.config.universe, self._sequence)
        self._sequence = (self._sequence + 1) % 256
        return sacn_packet(levels, self.config.universe, self._sequence, self._cid, self.config.source_name,
                           self.config.priority, terminated)

    def _send(self, levels: bytes | bytearray, terminated: bool = False) -> None:
        try:
            self._socket.sendto(self.packet(levels, terminated), self.target)
            self.counters["dmx_packets_sent"] += 1
        except OSError as error:  # no route, full buffer: count it, the show goes on
            self.counters["dmx_send_failed"] += 1
            self.errors["dmx_send_failed"] += 1
            failed = self.counters["dmx_send_failed"]
            if failed in (1, 10, 100) or failed % 1000 == 0:
                log.warning("DMX to %s:%d failed (%d so far): %s", *self.target, failed, error)

    def close(self) -> None:
        """Lights dark when the piece stops; sACN also says the stream has ended."""
        if not self._socket.fileno() < 0:
            self._send(bytes(DMX_CHANNELS))
            if self.config.protocol == "sacn":
                for _ in range(SACN_TERMINATE_REPEATS):
                    self._send(bytes(DMX_CHANNELS), terminated=True)
            self._socket.close()
