"""What a hostile or flooding sender can make the receiver do, with time passed in: rate limits
that many source addresses do not add up past, bundles whose every message counts, replies that
amplify nothing, privileged addresses refused by default, and a watchdog that gets a stuck
receive thread going again and says so in /status and the health file."""

from __future__ import annotations

import json
import socket
import threading
from types import SimpleNamespace

import pytest
from helpers.osc_hostile import BUNDLE, element
from helpers.waiting import wait_for
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from installation.config import OscConfig
from installation.control import CommandInbox, ControlCommand
from installation.health import HealthWriter
from installation.osc import receiver as receiver_module
from installation.osc.addresses import ADDRESS_TABLE
from installation.osc.policy import PRIVILEGED, OscError, ReceiverPolicy, enabled_privileged, parse_allow_list
from installation.osc.receiver import OscReceiver
from installation.report import RuntimeStatus

LOOPBACK = ("127.0.0.1", 5555)
FAR = ("192.0.2.7", 5555)  # TEST-NET: never trusted by its source address


def build(path: str, *args) -> bytes:
    builder = OscMessageBuilder(address=path)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class SentTo:
    """Stands in for the receiver's socket: keeps the replies instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple]] = []

    def sendto(self, data: bytes, target: tuple) -> None:
        self.sent.append((data, target))


def receiver(now=None, **policy) -> tuple[OscReceiver, CommandInbox, SentTo]:
    inbox = CommandInbox(capacity=100_000)
    handler = OscReceiver("127.0.0.1", 0, inbox, lambda: None, ReceiverPolicy(**policy),
                          clock=(lambda: now[0]) if now is not None else (lambda: 0.0))
    handler._socket = SentTo()
    return handler, inbox, handler._socket


# rates
def test_many_source_addresses_do_not_add_up_past_the_total_rate():
    now = [0.0]
    handler, inbox, _ = receiver(now, sender_rate=500.0, total_rate=100.0)
    for sender in range(100):  # 100 spoofed senders, each well inside its own limit
        for _ in range(10):
            handler.handle_datagram(build("/beat"), (f"10.0.0.{sender}", 1))
    assert handler.counters["accepted"] == 200  # the total's burst: two seconds' worth
    assert handler.counters["rate_limited_total"] == 800
    now[0] = 1.0
    for sender in range(100):
        handler.handle_datagram(build("/beat"), (f"10.0.1.{sender}", 1))
    assert handler.counters["accepted"] == 300


def test_every_message_of_a_bundle_counts_against_the_sender():
    handler, inbox, _ = receiver(sender_rate=10.0)
    beats = BUNDLE + element(build("/beat")) * 60
    handler.handle_datagram(beats, LOOPBACK)
    assert handler.counters["accepted"] == 20 and handler.counters["rate_limited"] == 40


# replies
def test_replies_larger_than_the_request_go_only_to_trusted_senders():
    handler, _, sent = receiver()
    handler.handle_datagram(build("/osc/list"), FAR)
    handler.handle_datagram(build("/status"), FAR)
    assert sent.sent == [] and handler.counters["reply_limited"] > 50
    handler.handle_datagram(build("/ping", "hello"), FAR)  # a pong is the size of its ping
    assert [OscPacket(data).messages[0].message.params for data, _ in sent.sent] == [["hello"]]
    handler.handle_datagram(build("/osc/list"), LOOPBACK)
    listed = [data for data, target in sent.sent if target == LOOPBACK]
    assert len(listed) == len(ADDRESS_TABLE)  # the whole table, to this machine


def test_with_an_allow_list_its_senders_get_whole_replies():
    handler, _, sent = receiver(allow=tuple(parse_allow_list(("192.0.2.0/24",))))
    handler.handle_datagram(build("/status"), FAR)
    assert [OscPacket(data).messages[0].message.address for data, _ in sent.sent] == ["/status", "/status/scene"]


def test_replies_are_held_to_the_reply_rate_and_a_20_kB_bundle_gets_none():
    now = [0.0]
    handler, _, sent = receiver(now, reply_rate=50.0)
    for _ in range(10):
        handler.handle_datagram(build("/osc/list"), LOOPBACK)
    assert len(sent.sent) == 100  # the reply burst: two seconds' worth
    assert handler.counters["reply_limited"] == 10 * len(ADDRESS_TABLE) - 100
    now[0] = 1.0  # a second later: a second's worth more
    handler.handle_datagram(build("/osc/list"), LOOPBACK)
    handler.handle_datagram(BUNDLE + element(build("/osc/list")) * 1000, LOOPBACK)
    assert handler.counters["malformed"] == 1 and len(sent.sent) == 150


# privileged addresses
PRIVILEGED_MESSAGES = [build("/record/start"), build("/record/stop"), build("/gestures/record", "wave", "dynamic"),
                       build("/gestures/stop"), build("/gestures/train"), build("/wekinator/control/startRecording"),
                       build("/wekinator/control/stopRecording"), build("/wekinator/control/train"),
                       build("/wekinator/control/startDtwRecording", 1), build("/wekinator/control/stopDtwRecording"),
                       build("/wekinator/control/deleteAllExamples"),
                       build("/wekinator/control/deleteExamplesForOutput", 1), build("/midi/learn", "param", "gain")]


def test_privileged_addresses_are_refused_by_default():
    handler, inbox, _ = receiver()
    for datagram in PRIVILEGED_MESSAGES:
        handler.handle_datagram(datagram, LOOPBACK)
    assert handler.counters["privileged"] == len(PRIVILEGED) == len(PRIVILEGED_MESSAGES)
    assert inbox.drain() == []


def test_privileged_addresses_need_the_allow_list_and_their_name_in_config():
    config = OscConfig(allow=("127.0.0.1",), privileged=("/record/*",))
    handler, inbox, _ = receiver(**vars(ReceiverPolicy.from_config(config)))
    for datagram in PRIVILEGED_MESSAGES:
        handler.handle_datagram(datagram, LOOPBACK)
    assert [c.args for c in inbox.drain()] == [("start",), ("stop",)]
    assert handler.counters["privileged"] == len(PRIVILEGED_MESSAGES) - 2


def test_privileged_settings_are_checked_at_start_up():
    with pytest.raises(OscError, match="osc.privileged needs osc.allow"):
        ReceiverPolicy.from_config(OscConfig(privileged=("/record/start",)))
    with pytest.raises(OscError, match="osc.privileged: '/scene/set' names no privileged address"):
        ReceiverPolicy.from_config(OscConfig(allow=("127.0.0.1",), privileged=("/scene/set",)))
    assert enabled_privileged(("/gestures/*", "/wekinator/control/*")) == {
        "/gestures/record", "/gestures/stop", "/gestures/train", "/wekinator/control/startRecording",
        "/wekinator/control/stopRecording", "/wekinator/control/train", "/wekinator/control/startDtwRecording",
        "/wekinator/control/stopDtwRecording", "/wekinator/control/deleteAllExamples",
        "/wekinator/control/deleteExamplesForOutput"}


# coalescing
def test_latest_wins_commands_replace_the_waiting_one_and_keep_order():
    handler, inbox, _ = receiver()
    for name in ("dream_drift", "themes"):
        handler.handle_datagram(build("/scene/set", name), LOOPBACK)
        handler.handle_datagram(build("/scene/next"), LOOPBACK)
    for value in (0.25, 0.5, 0.75):  # exact in 32 bits
        handler.handle_datagram(build("/scene/param", "pulse", value), LOOPBACK)
        handler.handle_datagram(build("/scene/param", "gain", value), LOOPBACK)
    handler.handle_datagram(build("/blackout", "toggle"), LOOPBACK)
    handler.handle_datagram(build("/blackout", "toggle"), LOOPBACK)  # toggles all run: they are not values
    assert [(c.name, c.args) for c in inbox.drain()] == [
        # the newer /scene/set takes the older one's place in the queue at its own arrival: between the nexts
        ("scene", ("next",)), ("scene", ("set", "themes")), ("scene", ("next",)), ("scene_param", ("pulse", 0.75)),
        ("scene_param", ("gain", 0.75)), ("blackout", ("toggle",)), ("blackout", ("toggle",))]
    assert inbox.replaced == 5


def test_a_full_inbox_still_takes_a_newer_value_for_a_waiting_key():
    inbox = CommandInbox(capacity=2)
    assert inbox.put(ControlCommand("tempo", (100.0,), key="/tempo"))
    assert inbox.put(ControlCommand("beat"))
    assert not inbox.put(ControlCommand("beat"))
    assert inbox.put(ControlCommand("tempo", (120.0,), key="/tempo"))
    assert [c.args for c in inbox.drain()] == [(), (120.0,)] and inbox.refused == 1


# the watchdog
@pytest.fixture
def stuck_receiver(monkeypatch):
    """A started receiver whose reader gets stuck on b'/stuck' in the way the test says, with its
    clock in the test's hands."""
    now, how = [0.0], {}
    real = receiver_module.read_datagram

    def read(data: bytes):
        if data.startswith(b"/stuck"):
            how["stuck"]()
        return real(data)

    monkeypatch.setattr(receiver_module, "read_datagram", read)
    handler = OscReceiver("127.0.0.1", 0, CommandInbox(), lambda: None, clock=lambda: now[0]).start()
    asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asker.bind(("127.0.0.1", 0))
    asker.settimeout(10.0)

    def ping(text: str) -> list:
        asker.sendto(build("/ping", text), ("127.0.0.1", handler.port))
        return OscPacket(asker.recvfrom(1024)[0]).messages[0].message.params

    yield handler, now, how, ping, lambda: asker.sendto(build("/stuck"), ("127.0.0.1", handler.port))
    handler.close()
    asker.close()


def test_a_thread_looping_in_python_is_interrupted_and_answers_again(stuck_receiver):
    handler, now, how, ping, send_stuck = stuck_receiver

    def spin() -> None:  # python-osc's loop on a negative element size, in miniature
        index = 0
        while True:
            index -= 4

    how["stuck"] = spin
    send_stuck()
    wait_for(lambda: handler._worker.busy_since is not None, "the thread to take the datagram")
    handler.watch()
    assert handler.alive and handler.counters["hung"] == 0  # no time has passed: not a hang
    now[0] = 1.5
    assert not handler.alive
    handler.watch()
    assert handler.counters["hung"] == 1
    assert ping("back") == ["back"]
    assert handler.alive and handler.counters["restarts"] == 0
    assert handler.health() == {"alive": True, "restarts": 0, "hung": 1}


def test_a_thread_stuck_where_python_cannot_interrupt_it_is_replaced(stuck_receiver):
    handler, now, how, ping, send_stuck = stuck_receiver
    release = threading.Event()
    how["stuck"] = release.wait  # blocked in C: the interruption lands only when it returns
    send_stuck()
    wait_for(lambda: handler._worker.busy_since is not None, "the thread to take the datagram")
    old = handler._worker.thread
    now[0] = 1.5
    handler.watch()
    now[0] = 3.0
    handler.watch()
    assert handler.counters["hung"] == 1 and handler.counters["restarts"] == 1
    assert ping("fresh thread") == ["fresh thread"]
    release.set()
    old.join(timeout=10.0)
    assert not old.is_alive()  # it stepped aside for its replacement
    assert ping("still") == ["still"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the ending is the point
def test_a_thread_that_ended_is_started_again(stuck_receiver):
    handler, now, how, ping, send_stuck = stuck_receiver

    class Escapes(BaseException):
        pass

    def escape() -> None:
        raise Escapes

    how["stuck"] = escape
    send_stuck()
    wait_for(lambda: not handler._worker.thread.is_alive(), "the thread to end")
    assert not handler.alive
    handler.watch()
    assert handler.counters["restarts"] == 1
    assert ping("again") == ["again"]


def test_liveness_is_in_status_and_the_health_file(stuck_receiver, tmp_path):
    handler = stuck_receiver[0]  # a started receiver, not stuck
    sent = SentTo()
    handler._socket, socket_before = sent, handler._socket
    try:
        handler.handle_datagram(build("/status"), LOOPBACK)
    finally:
        handler._socket = socket_before
    flat = OscPacket(sent.sent[0][0]).messages[0].message.params
    figures = dict(zip(flat[::2], flat[1::2]))
    assert figures["osc_receiver_alive"] == 1.0 and figures["osc_hung"] == figures["osc_restarts"] == 0.0

    health = tmp_path / "health.json"
    writer = HealthWriter(health, osc_receiver=handler.health)
    writer.on_frame(SimpleNamespace(status=RuntimeStatus(30.0, 50.0, "body_latent", 1.0, 10.0, 300, {})))
    assert json.loads(health.read_text())["osc_receiver"] == {"alive": True, "restarts": 0, "hung": 0}
