"""OSC in: a UDP listener thread that validates every message against the address table and
turns control messages into commands for the frame loop.

Nothing a sender does can raise out of ``handle_datagram`` or slow the loop: bad datagrams are
dropped and counted, senders outside the allow-list or over their rate are dropped and counted,
and commands go through the runtime's bounded inbox. Queries (``/status``, ``/ping``,
``/osc/list``) are answered from this thread with the latest status snapshot.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from installation.control import CommandInbox, ControlCommand
from installation.errors import InstallationError
from installation.osc.addresses import ACCEPTED, ADDRESS_TABLE, OscArgumentError, validate
from installation.report import RuntimeStatus

log = logging.getLogger(__name__)

COUNTERS = ("datagrams", "accepted", "malformed", "unknown_address", "bad_arguments", "rate_limited",
            "not_allowed", "inbox_full", "reply_failed")
MAX_SENDERS = 1024  # rate-limit buckets kept; the least recently seen is forgotten beyond this
LOG_EVERY_S = 5.0


class OscError(InstallationError):
    """The OSC port cannot be opened, or an address in the configuration is malformed."""


def parse_endpoint(text: str, default_host: str = "127.0.0.1", listening: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` -> (host, port); a listening port may be 0 (any free port).
    Raises OscError."""
    host, _, port = text.rpartition(":")
    lowest = 0 if listening else 1
    if not port.isdigit() or not lowest <= int(port) < 65536:
        raise OscError(f"expected [HOST:]PORT with a port in {lowest}..65535, got {text!r}")
    return host or default_host, int(port)


def parse_allow_list(entries: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or subnets (``192.168.1.20``, ``10.0.0.0/8``). Raises OscError."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise OscError(f"osc.allow: {entry!r} is not an IP address or subnet") from None
    return networks


class _WithoutPythonOscWarnings(logging.Filter):
    """python-osc logs a warning on the root logger for each unknown type tag it meets; a flood
    of junk would flood the log. We count malformed datagrams ourselves instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pythonosc" not in record.pathname


class TokenBucket:
    """``rate`` messages per second, with a burst of two seconds' worth."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.capacity = rate, 2.0 * rate
        self.tokens, self.stamp = self.capacity, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Throttled:
    """Logs a kind of problem at most once every LOG_EVERY_S seconds, with how many were hidden."""

    last: float = -1e9
    hidden: int = 0

    def log(self, now: float, message: str, *args: Any) -> None:
        if now - self.last >= LOG_EVERY_S:
            suffix = f" (and {self.hidden} more since)" if self.hidden else ""
            log.warning(message + suffix, *args)
            self.last, self.hidden = now, 0
        else:
            self.hidden += 1


class OscReceiver:
    """Listens on ``host:port``; ``start`` binds (OscError if it can't) and starts the thread."""

    def __init__(self, host: str, port: int, inbox: CommandInbox, status: Callable[[], RuntimeStatus | None],
                 allow: list | None = None, sender_rate: float = 500.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port, self.inbox, self.status = host, port, inbox, status
        self.allow, self.sender_rate, self.clock = allow or [], sender_rate, clock
        self.counters: collections.Counter = collections.Counter()
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()
        self._throttles: collections.defaultdict[str, _Throttled] = collections.defaultdict(_Throttled)
        self._socket: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "OscReceiver":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        # a large kernel buffer rides out bursts while this thread waits for the GIL (FORCE lifts
        # the system's cap where we may; otherwise the capped size is what we get)
        for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            try:
                self._socket.setsockopt(socket.SOL_SOCKET, option, 8 << 20)
                break
            except (OSError, TypeError):
                continue
        try:
            self._socket.bind((self.host, self.port))
        except OSError as error:
            self._socket.close()
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {error.strerror}") from None
        self.port = self._socket.getsockname()[1]  # port 0 asks the system for a free one (tests)
        self._socket.settimeout(0.2)
        if not any(isinstance(f, _WithoutPythonOscWarnings) for f in logging.getLogger().filters):
            logging.getLogger().addFilter(_WithoutPythonOscWarnings())
        self._thread = threading.Thread(target=self._serve, name="osc-in", daemon=True)
        self._thread.start()
        log.info("listening for OSC on %s:%d", self.host, self.port)
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._socket.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.handle_datagram(data, sender)

    def handle_datagram(self, data: bytes, sender: tuple) -> None:
        """Validate and act on one datagram. Never raises."""
        now = self.clock()
        self.counters["datagrams"] += 1
        ip = sender[0]
        if self.allow and not self._allowed(ip):
            self.counters["not_allowed"] += 1
            self._throttles["not_allowed"].log(now, "OSC from %s dropped: not in osc.allow", ip)
            return
        if not self._bucket(ip, now).take(now):
            self.counters["rate_limited"] += 1
            self._throttles["rate"].log(now, "OSC from %s dropped: over %.0f messages/s", ip, self.sender_rate)
            return
        try:
            messages = [timed.message for timed in OscPacket(data).messages]
        except Exception as error:  # python-osc raises ParseError, but also IndexError/struct.error on junk
            self.counters["malformed"] += 1
            self._throttles["malformed"].log(now, "malformed OSC datagram from %s (%s): %r", ip, error, data[:48])
            return
        for message in messages:
            self._handle_message(message.address, list(message.params), sender, now)

    def _handle_message(self, path: str, params: list, sender: tuple, now: float) -> None:
        address = ACCEPTED.get(path)
        if address is None:
            self.counters["unknown_address"] += 1
            self._throttles["unknown"].log(now, "unknown OSC address %r from %s", path, sender[0])
            return
        try:
            values = validate(address, params)
        except OscArgumentError as error:
            self.counters["bad_arguments"] += 1
            self._throttles["arguments"].log(now, "OSC from %s rejected: %s", sender[0], error)
            return
        self.counters["accepted"] += 1
        if address.direction == "query":
            self._answer(path, values, sender)
            return
        if not self.inbox.put(ControlCommand(address.command, _command_args(path, values), f"osc {sender[0]}:{sender[1]}")):
            self.counters["inbox_full"] += 1

    def _allowed(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return False
        return any(address in network for network in self.allow)

    def _bucket(self, ip: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(ip)
        if bucket is None:
            bucket = self._buckets[ip] = TokenBucket(self.sender_rate, now)
            if len(self._buckets) > MAX_SENDERS:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(ip)
        return bucket

    def _answer(self, path: str, values: tuple, sender: tuple) -> None:
        if path == "/ping":
            replies = [_message("/pong", values)]
        elif path == "/osc/list":
            replies = [
                _message("/osc/address", (a.path, a.direction, ", ".join(arg.describe() for arg in a.args), a.description))
                for a in ADDRESS_TABLE
            ]
        else:
            replies = self._status_messages()
        for reply in replies:
            try:
                self._socket.sendto(reply, sender)
            except OSError as error:
                self.counters["reply_failed"] += 1
                self._throttles["reply"].log(self.clock(), "cannot reply to %s: %s", sender, error)
                return

    def _status_messages(self) -> list[bytes]:
        status = self.status()
        pairs: list[tuple[str, float]] = []
        scene = ""
        if status is not None:
            scene = status.scene
            pairs = [("fps", status.fps), ("latency_ms", status.latency_ms), ("presence", status.presence),
                     ("uptime_s", status.uptime_s), ("frames", float(status.frames))]
            pairs += [(name, float(count)) for name, count in sorted(status.errors.items())]
        pairs += [(f"osc_{name}", float(self.counters[name])) for name in COUNTERS]
        flat: list[Any] = [item for pair in pairs for item in pair]
        return [_message("/status", tuple(flat)), _message("/status/scene", (scene,))]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._socket is not None:
            self._socket.close()


def _command_args(path: str, values: tuple) -> tuple:
    """The ControlCommand arguments of an accepted control message."""
    if path == "/scene/set":
        return ("set", values[0])
    if path == "/scene/next":
        return ("next",)
    if path == "/scene/previous":
        return ("previous",)
    if path == "/wekinator/control/startRecording":
        return ("wekinator", "mapping")
    if path in ("/wekinator/control/startRunning", "/wekinator/control/stopRunning"):
        return (path.endswith("startRunning"),)
    if path in ("/record/start", "/record/stop"):
        return (path.rsplit("/", 1)[1],)
    if path in ("/blackout", "/freeze", "/overlay"):
        return (values[0],)
    return values


def _message(path: str, args: tuple) -> bytes:
    builder = OscMessageBuilder(address=path)
    for value in args:
        builder.add_arg(value, "f" if isinstance(value, float) else None)
    return builder.build().dgram
