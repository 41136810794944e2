"""The bounds-checked OSC reader: it reads what python-osc builds exactly as python-osc does, and
every hostile datagram (negative and oversized sizes, deep nesting, truncations) is refused
quickly and counted; the receiver keeps answering after all of them."""

from __future__ import annotations

import socket

import pytest
from helpers.osc_hostile import PING, hostile_corpus, nested
from helpers.waiting import wait_for
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from installation.control import CommandInbox
from installation.osc.datagram import MAX_BUNDLE_DEPTH, MAX_MESSAGES, DatagramError, read_datagram
from installation.osc.receiver import OscReceiver

CORPUS = hostile_corpus()

values = st.one_of(
    st.integers(-2**31, 2**31 - 1),
    st.floats(width=32, allow_nan=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
    st.booleans(),
    st.binary(min_size=1, max_size=20),
    st.none(),
)


def build(path: str, args: list) -> bytes:
    builder = OscMessageBuilder(address=path)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdefgh/_", max_size=20), st.lists(values, max_size=12))
def test_messages_read_as_python_osc_reads_them(path, args):
    datagram = build("/" + path, args)
    (ours,) = read_datagram(datagram)
    theirs = OscPacket(datagram).messages[0].message
    assert ours.address == theirs.address
    assert list(ours.args) == list(theirs.params)
    assert ours.size == len(datagram)


def test_bundles_nested_up_to_the_limit_keep_their_messages_in_order():
    outer = OscBundleBuilder(IMMEDIATELY)
    outer.add_content(OscMessageBuilder("/beat").build())
    inner = OscBundleBuilder(IMMEDIATELY)
    inner.add_content(OscMessageBuilder("/tempo").build())
    outer.add_content(inner.build())
    outer.add_content(OscMessageBuilder("/scene/next").build())
    assert [m.address for m in read_datagram(outer.build().dgram)] == ["/beat", "/tempo", "/scene/next"]
    assert [m.address for m in read_datagram(nested(MAX_BUNDLE_DEPTH))] == ["/ping"]
    assert read_datagram(b"#bundle\x00" + bytes(8)) == []  # an empty bundle is well-formed


def test_the_36_byte_datagram_is_refused_with_the_size_it_carries():
    datagram = CORPUS["element_size_minus_4 (36 bytes)"]
    assert len(datagram) == 36
    with pytest.raises(DatagramError, match=r"bundle element size -4 \(left: 16 bytes\) at byte 16"):
        read_datagram(datagram)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_hostile_datagram_is_refused(name):
    with pytest.raises(DatagramError):
        read_datagram(CORPUS[name])


def test_limits_name_themselves():
    with pytest.raises(DatagramError, match=f"nested more than {MAX_BUNDLE_DEPTH} deep"):
        read_datagram(CORPUS["nested_3000_deep"])
    with pytest.raises(DatagramError, match=f"more than {MAX_MESSAGES} messages"):
        read_datagram(CORPUS["too_many_messages (20 kB of /osc/list)"])


def test_a_bundle_over_the_message_limit_is_refused_before_any_message_is_read():
    """The structure is walked first (sizes only): a flood of messages costs no parsing. The first
    message here is malformed, so reading it first would have named it instead of the limit."""
    bad = b"/bad\0\0\0\0" + b",q\0\0"  # an unknown type tag
    good = build("/ping", [])
    elements = [bad] + [good] * MAX_MESSAGES
    bundle = b"#bundle\0" + bytes(8) + b"".join(len(e).to_bytes(4, "big") + e for e in elements)
    with pytest.raises(DatagramError, match=f"more than {MAX_MESSAGES} messages"):
        read_datagram(bundle)
    with pytest.raises(DatagramError, match="type tag"):  # within the limit, the bad message is named
        read_datagram(b"#bundle\0" + bytes(8) + b"".join(len(e).to_bytes(4, "big") + e for e in elements[:3]))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=256), st.integers(-2**31, 2**31 - 1))
def test_any_bytes_read_or_raise_datagram_error(tail, size):
    for datagram in (tail, b"/x\x00\x00" + tail, b"#bundle\x00" + bytes(8) + size.to_bytes(4, "big", signed=True) + tail,
                     b"#bundle\x00" + bytes(8) + len(PING).to_bytes(4, "big") + PING + tail):
        try:
            read_datagram(datagram)
        except DatagramError:
            pass


def test_the_receiver_counts_the_whole_corpus_and_still_answers():
    inbox = CommandInbox()
    receiver = OscReceiver("127.0.0.1", 0, inbox, lambda: None).start()
    asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asker.bind(("127.0.0.1", 0))
    asker.settimeout(10.0)
    try:
        for datagram in CORPUS.values():
            asker.sendto(datagram, ("127.0.0.1", receiver.port))
        wait_for(lambda: receiver.counters["datagrams"] == len(CORPUS), "the corpus to be read")
        for number in range(12):
            asker.sendto(build("/ping", [str(number)]), ("127.0.0.1", receiver.port))
            reply, _ = asker.recvfrom(1024)
            assert OscPacket(reply).messages[0].message.params == [str(number)]
        assert receiver.counters["malformed"] == len(CORPUS)
        assert receiver.counters["hung"] == receiver.counters["restarts"] == 0 and receiver.alive
    finally:
        receiver.close()
        asker.close()
