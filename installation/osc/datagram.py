"""A bounds-checked OSC 1.0 reader: one UDP datagram -> its messages, or ``DatagramError``.

Why not python-osc's parser: python-osc 1.10.2 loops forever on a bundle element whose size is
negative (one 36-byte datagram stopped the receiver for good), and recurses once per level of
nesting. This reader checks every size against what is left of its element before using it,
walks nested bundles with an explicit stack, and stops at the limits below, so its work grows
with the datagram's length and nothing else, whatever the bytes are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from installation.errors import InstallationError

BUNDLE_TAG = b"#bundle\x00"
BUNDLE_HEADER = 16  # the tag and an 8-byte time tag
MAX_DATAGRAM = 65_536  # the most one UDP read returns
MAX_BUNDLE_DEPTH = 4  # bundles inside bundles: performers' tools nest one or two, never more
MAX_MESSAGES = 64  # messages in one datagram: a control surface sends a handful per bundle
MAX_ARGUMENTS = 1_040  # arguments in one message: /follow/latent carries up to 1,024 floats
MAX_ARRAY_DEPTH = 4  # "[" inside "[" in a type tag string

# fixed-size argument types: struct format (big-endian), or None for the 4 raw bytes of a MIDI message
_FIXED = {"i": ">i", "f": ">f", "h": ">q", "d": ">d", "t": ">Q", "c": ">I", "r": ">I", "m": None}
_SIZES = {"i": 4, "f": 4, "h": 8, "d": 8, "t": 8, "c": 4, "r": 4, "m": 4}
_NO_DATA = {"T": True, "F": False, "N": None, "I": float("inf")}
_NUMBERS = frozenset("ifhd")  # a type tag string of these only is read in one struct call
_STRUCT_CODES = str.maketrans("h", "q")  # OSC's int64 tag -> struct's


class DatagramError(InstallationError):
    """A datagram that is not well-formed OSC, or goes past a limit: says why, where, and the bytes there."""

    def __init__(self, reason: str, data: bytes, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}: {data[offset:offset + 24]!r}")
        self.reason, self.offset = reason, offset


@dataclass(frozen=True)
class OscMessage:
    """One message: its address, its arguments as Python values, and the bytes it took (``size``),
    so a reply can be weighed against the request that asked for it."""

    address: str
    args: tuple[Any, ...]
    size: int


def read_datagram(data: bytes) -> list[OscMessage]:
    """The messages of a datagram (a message, or a bundle of any nesting within the limits), in
    the order they appear; bundle time tags are not kept (control applies at the next frame).
    Raises DatagramError."""
    if len(data) > MAX_DATAGRAM:
        raise DatagramError(f"datagram of {len(data)} bytes, the most is {MAX_DATAGRAM}", data, 0)
    if data.startswith(BUNDLE_TAG):
        return _read_bundles(data)
    if data.startswith(b"/"):
        return [read_message(data, 0, len(data))]
    raise DatagramError("neither a message (/...) nor a bundle (#bundle)", data, 0)


def _read_bundles(data: bytes) -> list[OscMessage]:
    """Two passes: the bundle structure first (sizes only, cheap), so that a datagram over a limit
    is refused before any of its messages is parsed; then each message."""
    return [read_message(data, start, stop) for start, stop in _message_spans(data)]


def _message_spans(data: bytes) -> list[tuple[int, int]]:
    """The (start, stop) of every message in a bundle datagram, in order. Raises DatagramError."""
    spans: list[tuple[int, int]] = []
    open_bundles = [[_bundle_body(data, 0, len(data)), len(data)]]  # [next element, end] of each open bundle
    while open_bundles:
        index, end = open_bundles[-1]
        if index == end:
            open_bundles.pop()
            continue
        start, stop = _element(data, index, end)
        open_bundles[-1][0] = stop  # every pass moves on at least the 4 bytes of a size: no loop can stall
        if data.startswith(BUNDLE_TAG, start, stop):
            if len(open_bundles) >= MAX_BUNDLE_DEPTH:
                raise DatagramError(f"bundles nested more than {MAX_BUNDLE_DEPTH} deep", data, start)
            open_bundles.append([_bundle_body(data, start, stop), stop])
        elif data.startswith(b"/", start, stop):
            if len(spans) >= MAX_MESSAGES:
                raise DatagramError(f"more than {MAX_MESSAGES} messages in one datagram", data, start)
            spans.append((start, stop))
        else:
            raise DatagramError("bundle element is neither a message nor a bundle", data, start)
    return spans


def _bundle_body(data: bytes, start: int, end: int) -> int:
    """Where a bundle's first element starts (after its tag and time tag)."""
    if end - start < BUNDLE_HEADER:
        raise DatagramError("bundle shorter than its header", data, start)
    return start + BUNDLE_HEADER


def _element(data: bytes, index: int, end: int) -> tuple[int, int]:
    """The (start, stop) of the bundle element whose size is at ``index``: the size must be
    positive, a multiple of 4, and fit in what is left of its bundle."""
    if end - index < 4:
        raise DatagramError("bundle element size cut short", data, index)
    (size,) = struct.unpack_from(">i", data, index)
    if size <= 0 or size % 4 or size > end - index - 4:
        raise DatagramError(f"bundle element size {size} (left: {end - index - 4} bytes)", data, index)
    return index + 4, index + 4 + size


def read_message(data: bytes, start: int, end: int) -> OscMessage:
    """The message in ``data[start:end]``. Bytes after its last argument are ignored, as other
    OSC readers do. Raises DatagramError."""
    address, index = _string(data, start, end)
    if not address.startswith("/"):
        raise DatagramError("address does not start with /", data, start)
    if index == end:  # no type tag string: an old-style message without arguments
        return OscMessage(address, (), end - start)
    tags, index = _string(data, index, end)
    if not tags.startswith(","):
        raise DatagramError("type tag string does not start with ,", data, index)
    tags = tags[1:]
    if len(tags) > MAX_ARGUMENTS:
        raise DatagramError(f"{len(tags)} type tags, the most is {MAX_ARGUMENTS}", data, index)
    if tags and _NUMBERS.issuperset(tags):  # the common case (floats, ints) in one call
        layout = ">" + tags.translate(_STRUCT_CODES)
        if struct.calcsize(layout) > end - index:
            raise DatagramError("arguments cut short", data, index)
        return OscMessage(address, struct.unpack_from(layout, data, index), end - start)
    args, _ = _arguments(data, tags, index, end)
    return OscMessage(address, args, end - start)


def _arguments(data: bytes, tags: str, index: int, end: int) -> tuple[tuple[Any, ...], int]:
    values: list[Any] = []
    arrays: list[list[Any]] = [values]  # "[" opens a nested list, "]" closes it
    for tag in tags:
        if tag in _SIZES:
            size = _SIZES[tag]
            if end - index < size:
                raise DatagramError(f"argument {tag!r} cut short", data, index)
            layout = _FIXED[tag]
            value: Any = data[index:index + size] if layout is None else struct.unpack_from(layout, data, index)[0]
            arrays[-1].append(chr(value) if tag == "c" and value < 0x110000 else value)
            index += size
        elif tag in "sS":
            text, index = _string(data, index, end)
            arrays[-1].append(text)
        elif tag == "b":
            blob, index = _blob(data, index, end)
            arrays[-1].append(blob)
        elif tag in _NO_DATA:
            arrays[-1].append(_NO_DATA[tag])
        elif tag == "[":
            if len(arrays) > MAX_ARRAY_DEPTH:
                raise DatagramError(f"arrays nested more than {MAX_ARRAY_DEPTH} deep", data, index)
            arrays[-1].append([])
            arrays.append(arrays[-1][-1])
        elif tag == "]" and len(arrays) > 1:
            arrays.pop()
        else:
            raise DatagramError(f"type tag {tag!r} unknown or unbalanced", data, index)
    if len(arrays) != 1:
        raise DatagramError("array not closed", data, index)
    return tuple(values), index


def _string(data: bytes, start: int, end: int) -> tuple[str, int]:
    """A NUL-terminated string padded to 4 bytes; returns it and where the next item starts."""
    zero = data.find(b"\x00", start, end)
    if zero < 0:
        raise DatagramError("string not terminated", data, start)
    stop = zero + 4 - (zero - start) % 4  # the terminator, then padding to a multiple of 4
    if stop > end:
        raise DatagramError("string padding cut short", data, start)
    try:
        return data[start:zero].decode("utf-8"), stop
    except UnicodeDecodeError:
        raise DatagramError("string is not UTF-8", data, start) from None


def _blob(data: bytes, index: int, end: int) -> tuple[bytes, int]:
    if end - index < 4:
        raise DatagramError("blob size cut short", data, index)
    (size,) = struct.unpack_from(">i", data, index)
    padded = size + (-size % 4)
    if size < 0 or padded > end - index - 4:
        raise DatagramError(f"blob size {size} (left: {end - index - 4} bytes)", data, index)
    return data[index + 4:index + 4 + size], index + 4 + padded
