"""Who may send the receiver what, and how much: the allow-list, the privileged addresses, the
rate limits (per sender, all senders together, replies), built once from ``[osc]``.

Every check here is checked at start-up (``ReceiverPolicy.from_config`` raises OscError, which the
command line reports in one line); at run time the buckets only count.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

from installation.config import OscConfig
from installation.errors import InstallationError
from installation.osc.addresses import IN_ADDRESSES

log = logging.getLogger(__name__)

BURST_S = 2.0  # every bucket holds two seconds' worth: a fader swept fast is not cut off
LOG_EVERY_S = 5.0
PRIVILEGED = tuple(a.path for a in IN_ADDRESSES if a.privileged)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OscError(InstallationError):
    """The OSC port cannot be opened, or an OSC setting in the configuration is malformed."""


class TokenBucket:
    """``rate`` tokens per second, holding at most ``BURST_S`` seconds' worth. Time is passed in."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.capacity = rate, BURST_S * rate
        self.tokens, self.stamp = self.capacity, now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def take(self, now: float) -> bool:
        """Take one token if there is one; returns whether it did."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until a token is there (0 if one is now)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)


@dataclass
class Throttled:
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


@dataclass(frozen=True)
class ReceiverPolicy:
    """The receiver's rules. The defaults are ``[osc]``'s defaults."""

    allow: tuple[Network, ...] = ()  # empty: anyone who can reach the port
    sender_rate: float = 500.0  # messages per second from one address
    total_rate: float = 2000.0  # messages per second from all addresses together
    reply_rate: float = 200.0  # reply messages per second to all addresses together
    reply_factor: float = 2.0  # a reply to a sender not trusted is at most this many times its request
    privileged: frozenset[str] = field(default_factory=frozenset)  # privileged addresses enabled

    @classmethod
    def from_config(cls, config: OscConfig) -> ReceiverPolicy:
        """Raises OscError for an entry of ``osc.allow`` that is not an address, an entry of
        ``osc.privileged`` that names no privileged address, or privileged addresses without
        ``osc.allow`` (they would be open to anyone who can reach the port)."""
        allow = tuple(parse_allow_list(config.allow))
        enabled = enabled_privileged(config.privileged)
        if enabled and not allow:
            raise OscError("osc.privileged needs osc.allow: name the senders trusted to record and write files "
                           "(e.g. allow = [\"127.0.0.1\"])")
        return cls(allow, config.sender_rate, config.total_rate, config.reply_rate, config.reply_factor, enabled)

    def allows_privileged(self, path: str) -> bool:
        """Whether privileged address ``path`` may be used (its sender has passed the allow-list)."""
        return bool(self.allow) and path in self.privileged


def parse_allow_list(entries: tuple[str, ...]) -> list[Network]:
    """Addresses or subnets (``192.168.1.20``, ``10.0.0.0/8``). Raises OscError."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise OscError(f"osc.allow: {entry!r} is not an IP address or subnet") from None
    return networks


def enabled_privileged(patterns: tuple[str, ...]) -> frozenset[str]:
    """The privileged addresses that ``osc.privileged`` names, exactly or by a shell pattern
    (``/gestures/*``). Raises OscError for a pattern that names none."""
    enabled: set[str] = set()
    for pattern in patterns:
        named = fnmatch.filter(PRIVILEGED, pattern)
        if not named:
            raise OscError(f"osc.privileged: {pattern!r} names no privileged address "
                           f"(they are: {', '.join(PRIVILEGED)})")
        enabled.update(named)
    return frozenset(enabled)


def ip_in(ip: str, networks: tuple[Network, ...]) -> bool:
    """Whether ``ip`` (a socket's address text, perhaps with an IPv6 zone) is in any of ``networks``."""
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    return any(address in network for network in networks)


def is_loopback(ip: str) -> bool:
    """This machine: a datagram from the network cannot carry a loopback source (the system drops it)."""
    try:
        return ipaddress.ip_address(ip.split("%")[0]).is_loopback
    except ValueError:
        return False
