"""Hostile OSC datagrams: negative and oversized sizes, deep nesting, truncations, junk type tags.
Every one is malformed for the receiver; the first is the 36-byte datagram that made python-osc
1.10.2 loop forever. Used by tests/test_osc_datagram.py and benchmarks/osc_flood.py."""

from __future__ import annotations

import struct

BUNDLE = b"#bundle\x00" + b"\x00" * 7 + b"\x01"  # tag and the "immediately" time tag
PING = b"/ping\x00\x00\x00,s\x00\x00hi\x00\x00"  # a valid 16-byte message


def element(content: bytes, size: int | None = None) -> bytes:
    """A bundle element: its size (the true one unless given) and its content."""
    return struct.pack(">i", len(content) if size is None else size) + content


def nested(depth: int, content: bytes = PING) -> bytes:
    """``content`` inside ``depth`` bundles."""
    for _ in range(depth):
        content = BUNDLE + element(content)
    return content


def hostile_corpus() -> dict[str, bytes]:
    """Name -> datagram."""
    return {
        "element_size_minus_4 (36 bytes)": BUNDLE + element(PING, -4),
        "element_size_minus_8": BUNDLE + element(PING, -8),
        "element_size_int_min": BUNDLE + element(PING, -2**31),
        "element_size_zero": BUNDLE + element(b"", 0) + element(PING),
        "element_size_odd": BUNDLE + element(PING, 13),
        "element_size_past_end": BUNDLE + element(PING, 1000),
        "element_size_int_max": BUNDLE + element(PING, 2**31 - 1),
        "element_size_cut_short": BUNDLE + b"\x00\x00",
        "element_neither_message_nor_bundle": BUNDLE + element(b"abcd"),
        "nested_5_deep": nested(5),
        "nested_3000_deep": nested(3000),
        "bundle_header_cut_short": b"#bundle\x00\x00\x00\x00",
        "inner_bundle_header_cut_short": BUNDLE + element(b"#bundle\x00"),
        "too_many_messages (20 kB of /osc/list)": BUNDLE + element(b"/osc/list\x00\x00\x00,\x00\x00\x00") * 1000,
        "too_many_arguments": b"/wek/outputs\x00\x00\x00\x00," + b"f" * 5000 + b"\x00" * 3 + b"\x00" * 20000,
        "address_not_terminated": b"/scene/set",
        "address_padding_cut_short": b"/scene/set\x00",
        "address_not_utf8": b"/sc\xff\xfe\x00\x00\x00,\x00\x00\x00",
        "string_argument_not_terminated": b"/scene/set\x00\x00,s\x00\x00dream",
        "int_cut_short": b"/latent/seed\x00\x00\x00\x00,i\x00\x00\x00\x01",
        "floats_cut_short": b"/wek/outputs\x00\x00\x00\x00,fff\x00\x00\x00\x00\x3f\x80\x00\x00",
        "type_tags_not_terminated": b"/tempo\x00\x00,fff",
        "type_tags_without_comma": b"/tempo\x00\x00fff\x00",
        "unknown_type_tag": b"/tempo\x00\x00,X\x00\x00",
        "array_not_closed": b"/tempo\x00\x00,[f\x00\x00\x00\x00\x00",
        "array_closed_twice": b"/tempo\x00\x00,]\x00\x00",
        "arrays_100_deep": b"/tempo\x00\x00," + b"[" * 100 + b"]" * 100 + b"\x00" * 3,
        "blob_size_negative": b"/tempo\x00\x00,b\x00\x00\xff\xff\xff\xfc",
        "blob_size_past_end": b"/tempo\x00\x00,b\x00\x00\x00\x01\x00\x00abcd",
        "empty": b"",
        "junk": b"\x00\x01\x02\x03garbage",
    }
