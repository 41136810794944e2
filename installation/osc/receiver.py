"""OSC in: a UDP listener thread that validates every message against the address table and
turns control messages into commands for the frame loop.

Nothing a sender does can raise out of ``handle_datagram``, stop the thread or slow the loop:

- datagrams are read by our own bounds-checked reader (``datagram``), whose work is bounded by
  the datagram's size; bad ones are dropped and counted;
- senders outside ``osc.allow``, over ``osc.sender_rate`` or, all together, over
  ``osc.total_rate`` are dropped and counted; above the total rate the thread stops reading for a
  moment and the system drops the excess (counted as ``kernel_dropped``), so a flood costs this
  thread no more than the rate allows;
- privileged addresses (recording, gesture teaching) are refused unless enabled (``policy``);
- commands go through the runtime's bounded inbox, where repeated values coalesce;
- queries are answered through a ``ReplyGate`` (no amplification);
- a watchdog (``watch``, called by the frame loop) interrupts a datagram that takes longer than
  ``stall_s`` and restarts a thread that ended; both are counted and shown in ``/status`` and the
  health file.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from installation.control import CommandInbox, ControlCommand
from installation.osc.addresses import ACCEPTED, Address, OscArgumentError, is_sent_by_us, validate
from installation.osc.datagram import MAX_DATAGRAM, DatagramError, OscMessage, read_datagram
from installation.osc.policy import OscError, ReceiverPolicy, Throttled, TokenBucket, ip_in, parse_allow_list
from installation.osc.replies import ReplyGate, reply_messages
from installation.report import RuntimeStatus

log = logging.getLogger(__name__)

COUNTERS = ("datagrams", "accepted", "set_aside", "malformed", "unknown_address", "bad_arguments", "rate_limited",
            "rate_limited_total", "kernel_dropped", "not_allowed", "privileged", "inbox_full", "reply_limited",
            "reply_failed", "hung", "restarts", "failed")
MAX_SENDERS = 1024  # rate-limit buckets kept; the least recently seen is forgotten beyond this
STALL_S = 1.0  # the largest datagram takes milliseconds to read: a second on one is a hang
IDLE_S = 0.2  # the thread looks up (to stop, or to step aside for a new one) at least this often
PACE_S = 0.01  # over the total rate, the thread sleeps at least this long between looks
# Linux: with each read, how many datagrams the system has dropped for this socket's full buffer
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40) if sys.platform.startswith("linux") else None
# the system's buffer holds about BUFFER_S of datagrams at the total rate (a burst rides it out
# while this thread waits for the GIL), but not more: what waits there longer is stale control
BUFFER_S, BYTES_PER_DATAGRAM = 0.5, 1024
MIN_BUFFER, MAX_BUFFER = 256 << 10, 8 << 20

__all__ = ["OscError", "OscReceiver", "parse_allow_list", "parse_endpoint"]


def parse_endpoint(text: str, default_host: str = "127.0.0.1", listening: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` -> (host, port); a listening port may be 0 (any free port).
    Raises OscError."""
    host, _, port = text.rpartition(":")
    lowest = 0 if listening else 1
    if not port.isdigit() or not lowest <= int(port) < 65536:
        raise OscError(f"expected [HOST:]PORT with a port in {lowest}..65535, got {text!r}")
    return host or default_host, int(port)


class _Stalled(BaseException):
    """Raised inside the receive thread by the watchdog. A BaseException, so that no parser's
    ``except Exception`` can swallow it."""


@dataclass
class _Worker:
    """One receive thread, and what the watchdog needs to know about it."""

    thread: threading.Thread
    busy_since: float | None = None  # when it started on the datagram in hand (None: waiting)
    interrupted_at: float | None = None  # when the watchdog interrupted that datagram


class OscReceiver:
    """Listens on ``host:port``; ``start`` binds (OscError if it can't) and starts the thread.
    ``clock`` is the receiver's time (rate limits, watchdog); tests pass their own."""

    def __init__(self, host: str, port: int, inbox: CommandInbox, status: Callable[[], RuntimeStatus | None],
                 policy: ReceiverPolicy | None = None, clock: Callable[[], float] = time.monotonic,
                 stall_s: float = STALL_S) -> None:
        self.host, self.port, self.inbox, self.status = host, port, inbox, status
        self.policy, self.clock, self.stall_s = policy or ReceiverPolicy(), clock, stall_s
        self.counters: collections.Counter = collections.Counter()
        now = clock()
        self._total = TokenBucket(self.policy.total_rate, now)
        self._replies = ReplyGate(self.policy, now)
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()
        self._throttles: collections.defaultdict[str, Throttled] = collections.defaultdict(Throttled)
        self._socket: socket.socket | None = None
        self._stop = threading.Event()
        self._worker: _Worker | None = None

    def start(self) -> OscReceiver:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._set_options()
        try:
            self._socket.bind((self.host, self.port))
        except OSError as error:
            self._socket.close()
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {error.strerror}") from None
        self.port = self._socket.getsockname()[1]  # port 0 asks the system for a free one (tests)
        self._socket.settimeout(IDLE_S)
        self._spawn()
        log.info("listening for OSC on %s:%d", self.host, self.port)
        return self

    def _set_options(self) -> None:
        size = int(min(MAX_BUFFER, max(MIN_BUFFER, self.policy.total_rate * BUFFER_S * BYTES_PER_DATAGRAM)))
        for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):  # FORCE passes the
            try:  # system's cap where we may; otherwise the capped size is what we get
                self._socket.setsockopt(socket.SOL_SOCKET, option, size)
                break
            except (OSError, TypeError):
                continue
        if SO_RXQ_OVFL is not None:
            try:
                self._socket.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            except OSError:  # an older kernel: drops go uncounted, nothing else changes
                pass

    # the receive thread
    def _spawn(self) -> None:
        thread = threading.Thread(target=self._serve, name="osc-in", daemon=True)
        self._worker = _Worker(thread)
        thread.start()

    def _serve(self) -> None:
        worker = self._worker
        while not self._stop.is_set() and worker is self._worker:  # a replaced worker steps aside
            try:
                self._serve_one(worker)
            except _Stalled:
                log.error("OSC receiver: the datagram it was stuck on is dropped; receiving again")

    def reading_paused_s(self, now: float) -> float:
        """How long the thread leaves datagrams to the system before it reads again (0: it reads
        now): above ``osc.total_rate`` the system drops the excess, so a flood costs this thread,
        and the frame loop beside it, no more than the rate allows."""
        return self._total.wait_s(now)

    def _serve_one(self, worker: _Worker) -> None:
        wait = self.reading_paused_s(self.clock())
        if wait > 0:
            self._stop.wait(min(max(wait, PACE_S), IDLE_S))
            return
        try:
            data, ancillary, _, sender = self._socket.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(4))
        except TimeoutError:
            return
        except OSError:  # the socket closed under us (stopping), or a transient error: look again shortly
            self._stop.wait(PACE_S)
            return
        self._count_kernel_drops(ancillary)
        worker.busy_since = self.clock()
        try:
            self.handle_datagram(data, sender)
        except Exception:  # a bug of ours: counted and logged, the thread goes on
            self.counters["failed"] += 1
            if self.counters["failed"] in (1, 10, 100) or self.counters["failed"] % 1000 == 0:
                log.exception("OSC receiver failed on a datagram from %s", sender[0])
        finally:
            worker.busy_since = worker.interrupted_at = None

    def _count_kernel_drops(self, ancillary: list) -> None:
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(payload) >= 4:
                self.counters["kernel_dropped"] = int.from_bytes(payload[:4], sys.byteorder)  # a running total

    # the watchdog, on the loop's thread
    def watch(self) -> None:
        """Called by the frame loop every frame: interrupts a datagram that has taken ``stall_s``
        (counted as ``hung``), and starts a fresh thread when the thread ended or did not come
        back from the interruption (counted as ``restarts``)."""
        worker = self._worker
        if worker is None or self._stop.is_set():
            return
        if not worker.thread.is_alive():
            self._restart("its thread ended")
            return
        busy_since, now = worker.busy_since, self.clock()
        if busy_since is None or now - busy_since < self.stall_s:
            return
        if worker.interrupted_at is None:
            worker.interrupted_at = now
            self.counters["hung"] += 1
            log.error("OSC receiver stuck for %.1f s on one datagram; interrupting it", now - busy_since)
            _interrupt(worker.thread)
        elif now - worker.interrupted_at >= self.stall_s:  # stuck where Python can't reach (in C)
            self._restart("it did not come back from an interrupted datagram")

    def _restart(self, why: str) -> None:
        self.counters["restarts"] += 1
        log.error("OSC receiver restarted (#%d): %s", self.counters["restarts"], why)
        self._spawn()

    @property
    def alive(self) -> bool:
        """The receive thread runs and is not stuck on a datagram."""
        worker = self._worker
        if worker is None or not worker.thread.is_alive():
            return False
        busy_since = worker.busy_since
        return busy_since is None or self.clock() - busy_since < self.stall_s

    def health(self) -> dict:
        """For the health file: ``alive``, and how often the watchdog ``restarts``-ed or interrupted (``hung``) it."""
        return {"alive": self.alive, "restarts": self.counters["restarts"], "hung": self.counters["hung"]}

    # one datagram
    def handle_datagram(self, data: bytes, sender: tuple) -> None:
        """Validate and act on one datagram. Never raises."""
        now = self.clock()
        self.counters["datagrams"] += 1
        ip = sender[0]
        if self.policy.allow and not ip_in(ip, self.policy.allow):
            self._drop("not_allowed", now, "OSC from %s dropped: not in osc.allow", ip)
            return
        bucket = self._bucket(ip, now)
        if not self._total.take(now):
            self._drop("rate_limited_total", now, "OSC from %s dropped: all senders over %.0f messages/s",
                       ip, self.policy.total_rate)
            return
        if not bucket.take(now):
            self._drop("rate_limited", now, "OSC from %s dropped: over %.0f messages/s", ip, self.policy.sender_rate)
            return
        try:
            messages = read_datagram(data)
        except DatagramError as error:
            self._drop("malformed", now, "malformed OSC datagram from %s: %s", ip, error)
            return
        for index, message in enumerate(messages):
            if index and not (self._total.take(now) and bucket.take(now)):  # each message of a bundle counts
                self.counters["rate_limited"] += len(messages) - index
                return
            self._handle_message(message, sender, now)

    def _drop(self, counter: str, now: float, message: str, *args: object) -> None:
        self.counters[counter] += 1
        self._throttles[counter].log(now, message, *args)

    def _handle_message(self, message: OscMessage, sender: tuple, now: float) -> None:
        path, ip = message.address, sender[0]
        address = ACCEPTED.get(path)
        if address is None and is_sent_by_us(path):
            self.counters["set_aside"] += 1  # a leader's bundle: only its /follow/* messages matter here
            return
        if address is None:
            self._drop("unknown_address", now, "unknown OSC address %r from %s", path, ip)
            return
        if address.privileged and not self.policy.allows_privileged(path):
            self._drop("privileged", now, "OSC %s from %s refused: privileged (needs osc.allow and osc.privileged)",
                       path, ip)
            return
        try:
            values = validate(address, list(message.args))
        except OscArgumentError as error:
            if is_sent_by_us(path):  # e.g. a leader's /beat phase bpm, where /beat in takes nothing
                self.counters["set_aside"] += 1
                return
            self._drop("bad_arguments", now, "OSC from %s rejected: %s", ip, error)
            return
        self.counters["accepted"] += 1
        if address.direction == "query":
            self._answer(path, values, message.size, sender, now)
            return
        command = ControlCommand(address.command, _command_args(path, values), f"osc {ip}:{sender[1]}",
                                 _coalesce_key(address, values))
        if not self.inbox.put(command):
            self.counters["inbox_full"] += 1

    def _bucket(self, ip: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(ip)
        if bucket is None:
            bucket = self._buckets[ip] = TokenBucket(self.policy.sender_rate, now)
            if len(self._buckets) > MAX_SENDERS:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(ip)
        return bucket

    def _answer(self, path: str, values: tuple, request_size: int, sender: tuple, now: float) -> None:
        replies = reply_messages(path, values, self.status(), self.counters, COUNTERS, {"alive": float(self.alive)})
        admitted = self._replies.admit(replies, request_size, sender[0], now)
        if admitted < len(replies):
            self.counters["reply_limited"] += len(replies) - admitted
            self._throttles["reply_limited"].log(now, "OSC %s from %s: %d of %d replies held back (%s)", path,
                                                 sender[0], len(replies) - admitted, len(replies),
                                                 "over osc.reply_rate" if admitted else "larger than the request")
        for reply in replies[:admitted]:
            try:
                self._socket.sendto(reply, sender)
            except OSError as error:
                self._drop("reply_failed", now, "cannot reply to %s: %s", sender, error)
                return

    def close(self) -> None:
        self._stop.set()
        worker = self._worker
        if worker is not None:
            worker.thread.join(timeout=2.0)
        if self._socket is not None:
            self._socket.close()


def _interrupt(thread: threading.Thread) -> None:
    """Raise ``_Stalled`` in ``thread`` at its next Python instruction: CPython's way to stop a
    runaway loop in another thread (one blocked in C sees it when it returns)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Stalled))


def _coalesce_key(address: Address, values: tuple) -> str | None:
    """The inbox key of an accepted control message: the address and its first ``coalesce`` values."""
    if address.coalesce is None:
        return None
    return "\x00".join((address.path, *(str(value) for value in values[:address.coalesce])))


def _command_args(path: str, values: tuple) -> tuple:
    """The ControlCommand arguments of an accepted control message."""
    if path == "/scene/set":
        return ("set", *values)
    if path == "/scene/next":
        return ("next", *values)
    if path == "/scene/previous":
        return ("previous", *values)
    if path == "/wekinator/control/startRecording":
        return ("wekinator", "mapping")
    if path == "/wekinator/control/startDtwRecording":
        return (f"wek_gesture_{values[0]}", "dynamic")
    if path.startswith(("/wekinator/control/enableModelRunning", "/wekinator/control/disableModelRunning")):
        return (path.startswith("/wekinator/control/enable"), *values)
    if path in ("/wekinator/control/enableModelRecording", "/wekinator/control/disableModelRecording",
                "/wekinator/control/selectInputsForOutput"):
        return (path.rsplit("/", 1)[1], *values)
    if path in ("/wekinator/control/startRunning", "/wekinator/control/stopRunning"):
        return (path.endswith("startRunning"),)
    if path in ("/record/start", "/record/stop"):
        return (path.rsplit("/", 1)[1],)
    if path in ("/blackout", "/freeze", "/overlay"):
        return (values[0],)
    return values
