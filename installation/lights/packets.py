"""DMX512 over UDP: the bytes of an Art-Net ArtDmx packet and an sACN (ANSI E1.31) data packet.

Both protocols are small enough to write directly (no library to pin): a fixed header and up to
512 channel values. Layouts follow Art-Net 4 (Artistic Licence, "ArtDmx", OpCode 0x5000) and
ANSI E1.31-2018 sections 4-7 (the root, framing and DMP layers of a data packet).
"""

from __future__ import annotations

import uuid

from installation.errors import InstallationError

DMX_CHANNELS = 512
ARTNET_PORT = 6454
SACN_PORT = 5568

ARTNET_ID = b"Art-Net\x00"
ARTNET_OP_DMX = 0x5000  # sent low byte first, unlike every other field
ARTNET_PROTOCOL_VERSION = 14
ARTNET_MAX_PORT_ADDRESS = 0x7FFF  # 15 bits: Net (7) . Sub-Net (4) . Universe (4)

SACN_ACN_ID = b"ASC-E1.17\x00\x00\x00"
SACN_VECTOR_ROOT_DATA = 0x00000004
SACN_VECTOR_FRAMING_DATA = 0x00000002
SACN_VECTOR_DMP_SET_PROPERTY = 0x02
SACN_HEADER_BYTES = 126  # root (38) + framing (77) + DMP (11), before the START code's slot
SACN_OPTION_STREAM_TERMINATED = 0x40
SACN_MIN_UNIVERSE, SACN_MAX_UNIVERSE = 1, 63999
SACN_SOURCE_NAME_BYTES = 64


class DmxPacketError(InstallationError):
    """A DMX packet cannot be built from the values given (universe, size, name)."""


def _checked_levels(levels: bytes | bytearray) -> bytes:
    if not 1 <= len(levels) <= DMX_CHANNELS:
        raise DmxPacketError(f"DMX data of {len(levels)} channels: expected 1..{DMX_CHANNELS}")
    return bytes(levels)


def artdmx_packet(levels: bytes | bytearray, port_address: int, sequence: int) -> bytes:
    """An ArtDmx packet carrying ``levels`` (one byte per channel, channel 1 first) to the 15-bit
    ``port_address``; ``sequence`` 1..255 lets a node reorder packets (0 turns that off).
    Raises DmxPacketError for a bad port-address, sequence or data length."""
    data = _checked_levels(levels)
    if not 0 <= port_address <= ARTNET_MAX_PORT_ADDRESS:
        raise DmxPacketError(f"Art-Net port-address {port_address}: expected 0..{ARTNET_MAX_PORT_ADDRESS}")
    if not 0 <= sequence <= 255:
        raise DmxPacketError(f"Art-Net sequence {sequence}: expected 0..255")
    if len(data) % 2:
        data += b"\x00"  # the spec asks for an even length; the extra channel is one nobody patched
    return b"".join((
        ARTNET_ID,
        ARTNET_OP_DMX.to_bytes(2, "little"),
        ARTNET_PROTOCOL_VERSION.to_bytes(2, "big"),
        bytes((sequence, 0)),  # Sequence, Physical (the input port: 0, there is only one)
        bytes((port_address & 0xFF, port_address >> 8)),  # SubUni (low byte), Net (high 7 bits)
        len(data).to_bytes(2, "big"),
        data,
    ))


def sacn_cid(source_name: str) -> bytes:
    """The 16-byte component id of a sender: derived from its name, so a restarted installation
    is the same source to a console (it would otherwise count a new sender at every start)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"installation-sacn:{source_name}").bytes


def sacn_packet(levels: bytes | bytearray, universe: int, sequence: int, cid: bytes, source_name: str,
                priority: int = 100, terminated: bool = False) -> bytes:
    """An E1.31 data packet of ``levels`` for ``universe`` (1..63999), with START code 0.
    ``terminated`` marks the last packets of a stream (receivers then let go at once rather than
    after their 2.5 s time-out). Raises DmxPacketError for bad values."""
    data = _checked_levels(levels)
    if not SACN_MIN_UNIVERSE <= universe <= SACN_MAX_UNIVERSE:
        raise DmxPacketError(f"sACN universe {universe}: expected {SACN_MIN_UNIVERSE}..{SACN_MAX_UNIVERSE}")
    if len(cid) != 16:
        raise DmxPacketError(f"sACN CID {cid!r}: expected 16 bytes")
    if not 0 <= priority <= 200:
        raise DmxPacketError(f"sACN priority {priority}: expected 0..200")
    name = source_name.encode("utf-8")
    if len(name) >= SACN_SOURCE_NAME_BYTES:
        raise DmxPacketError(f"sACN source name {source_name!r}: expected under {SACN_SOURCE_NAME_BYTES} bytes")
    total = SACN_HEADER_BYTES + len(data)

    def flags_and_length(layer_start: int) -> bytes:  # high nibble 0x7, then the layer's length in 12 bits
        return (0x7000 | (total - layer_start)).to_bytes(2, "big")

    root = b"".join((
        (0x0010).to_bytes(2, "big"),  # preamble size
        (0x0000).to_bytes(2, "big"),  # post-amble size
        SACN_ACN_ID,
        flags_and_length(16),
        SACN_VECTOR_ROOT_DATA.to_bytes(4, "big"),
        cid,
    ))
    framing = b"".join((
        flags_and_length(38),
        SACN_VECTOR_FRAMING_DATA.to_bytes(4, "big"),
        name.ljust(SACN_SOURCE_NAME_BYTES, b"\x00"),
        bytes((priority,)),
        (0).to_bytes(2, "big"),  # synchronisation address: none
        bytes((sequence & 0xFF, SACN_OPTION_STREAM_TERMINATED if terminated else 0)),
        universe.to_bytes(2, "big"),
    ))
    dmp = b"".join((
        flags_and_length(115),
        bytes((SACN_VECTOR_DMP_SET_PROPERTY, 0xA1)),  # address type and data type, fixed by the spec
        (0x0000).to_bytes(2, "big"),  # first property address
        (0x0001).to_bytes(2, "big"),  # address increment
        (len(data) + 1).to_bytes(2, "big"),  # property value count: the START code and the slots
        b"\x00",  # START code 0: dimmer data
        data,
    ))
    return root + framing + dmp


def sacn_multicast_group(universe: int) -> str:
    """The multicast address E1.31 assigns a universe: 239.255.<high byte>.<low byte>."""
    if not SACN_MIN_UNIVERSE <= universe <= SACN_MAX_UNIVERSE:
        raise DmxPacketError(f"sACN universe {universe}: expected {SACN_MIN_UNIVERSE}..{SACN_MAX_UNIVERSE}")
    return f"239.255.{universe >> 8}.{universe & 0xFF}"
