"""``[lights]`` in config.toml: DMX out over Art-Net or sACN, and what each channel answers to.

Declared like ``installation.config``'s sections (a frozen dataclass whose fields carry their
allowed range or choices in metadata), so the same loader validates it; the channel entries and
the universe's range per protocol are checked in ``__post_init__``, before a window opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from installation.errors import ConfigError
from installation.lights.channels import ChannelSource, parse_channels
from installation.lights.packets import ARTNET_MAX_PORT_ADDRESS, SACN_MAX_UNIVERSE, SACN_MIN_UNIVERSE

DMX_MAX_RATE_HZ = 44.0  # a full 512-channel DMX512 line refreshes at most ~44 times a second


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"range": (low, high)}


def _choices(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class LightsConfig:
    enabled: bool = False
    protocol: str = field(default="artnet", metadata=_choices("artnet", "sacn"))
    # HOST or HOST:PORT. Art-Net: a node's address or a broadcast ("2.255.255.255"); sACN: "" sends
    # to the universe's multicast group, or a console/node address for unicast
    target: str = ""
    # Art-Net: the 15-bit port-address (Net, Sub-Net, Universe as one number, 0..32767);
    # sACN: the universe, 1..63999
    universe: int = field(default=1, metadata=_range(0, SACN_MAX_UNIVERSE))
    max_rate_hz: float = field(default=DMX_MAX_RATE_HZ, metadata=_range(1.0, DMX_MAX_RATE_HZ))
    priority: int = field(default=100, metadata=_range(0, 200))  # sACN: a console's own output usually has 100
    source_name: str = "installation"  # sACN: how consoles list this sender (under 64 bytes)
    channels: tuple[str, ...] = ()  # "CHANNEL = SOURCE" entries (installation/lights/channels.py)

    def __post_init__(self) -> None:
        if self.protocol == "artnet" and self.universe > ARTNET_MAX_PORT_ADDRESS:
            raise ConfigError(f"lights.universe = {self.universe}: expected 0..{ARTNET_MAX_PORT_ADDRESS} for Art-Net")
        if self.protocol == "sacn" and self.universe < SACN_MIN_UNIVERSE:
            raise ConfigError(f"lights.universe = {self.universe}: expected {SACN_MIN_UNIVERSE}..{SACN_MAX_UNIVERSE} for sACN")
        if self.protocol == "artnet" and self.enabled and not self.target:
            raise ConfigError('lights.target = "": Art-Net needs a node\'s address or a broadcast, e.g. "2.255.255.255"')
        if len(self.source_name.encode("utf-8")) >= 64:
            raise ConfigError(f"lights.source_name = {self.source_name!r}: expected under 64 bytes")
        _, _, port = self.target.rpartition(":") if ":" in self.target else ("", "", "0")
        if not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"lights.target = {self.target!r}: expected HOST or HOST:PORT")
        parse_channels(self.channels)  # a bad channel entry fails here, at load time

    @property
    def sources(self) -> tuple[ChannelSource, ...]:
        """The channel entries parsed; raises ConfigError for a bad one."""
        return parse_channels(self.channels)
