"""Answers to queries (``/ping``, ``/status``, ``/osc/list``), and the gate that keeps them from
making the installation an amplifier.

UDP has no handshake, so a reply goes wherever the request's source address says, true or
forged. ``ReplyGate`` sends replies bigger than their request (by more than ``osc.reply_factor``)
only to senders the source address can be trusted for: this machine (the system drops loopback
sources arriving from the network) or, with ``osc.allow`` set, the senders it names. All replies
together are held to ``osc.reply_rate`` messages a second.
"""

from __future__ import annotations

import collections
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

from installation.osc.addresses import ADDRESS_TABLE
from installation.osc.policy import ReceiverPolicy, TokenBucket, is_loopback
from installation.report import RuntimeStatus


class ReplyGate:
    """Decides how many of a query's replies may go out now."""

    def __init__(self, policy: ReceiverPolicy, now: float) -> None:
        self.policy = policy
        self._bucket = TokenBucket(policy.reply_rate, now)

    def trusted(self, ip: str) -> bool:
        """A sender whose source address can be believed (it has passed a non-empty allow-list, or is local)."""
        return bool(self.policy.allow) or is_loopback(ip)

    def admit(self, replies: list[bytes], request_size: int, ip: str, now: float) -> int:
        """How many of ``replies`` (a prefix) may be sent to ``ip`` for a request of ``request_size`` bytes."""
        if not self.trusted(ip) and sum(map(len, replies)) > self.policy.reply_factor * request_size:
            return 0
        admitted = 0
        while admitted < len(replies) and self._bucket.take(now):
            admitted += 1
        return admitted


def reply_messages(path: str, values: tuple, status: RuntimeStatus | None, counters: collections.Counter,
                   counter_names: tuple[str, ...], receiver: dict[str, Any]) -> list[bytes]:
    """The datagrams answering query ``path``: ``/pong``; the ``/status`` pairs (the runtime's
    figures, then the receiver's liveness and counters) and ``/status/scene``; or one
    ``/osc/address`` per entry of the address table."""
    if path == "/ping":
        return [message("/pong", values)]
    if path == "/osc/list":
        return [message("/osc/address", (a.path, a.direction, ", ".join(arg.describe() for arg in a.args), a.description))
                for a in ADDRESS_TABLE]
    pairs: list[tuple[str, float]] = []
    scene = ""
    if status is not None:
        scene = status.scene
        pairs = [("fps", status.fps), ("latency_ms", status.latency_ms), ("presence", status.presence),
                 ("uptime_s", status.uptime_s), ("frames", float(status.frames))]
        pairs += [(name, float(count)) for name, count in sorted(status.errors.items())]
    pairs += [(f"osc_receiver_{name}", float(value)) for name, value in receiver.items()]
    pairs += [(f"osc_{name}", float(counters[name])) for name in counter_names]
    flat: list[Any] = [item for pair in pairs for item in pair]
    return [message("/status", tuple(flat)), message("/status/scene", (scene,))]


def message(path: str, args: tuple) -> bytes:
    """One OSC message; Python floats go as 32-bit floats."""
    builder = OscMessageBuilder(address=path)
    for value in args:
        builder.add_arg(value, "f" if isinstance(value, float) else None)
    return builder.build().dgram
