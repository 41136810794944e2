"""Who may see and steer the staff page: salted password hashes, sessions, CSRF tokens, and a
rate limit on log-ins.

- Passwords and the monitoring token live in ``config.toml`` only as salted scrypt hashes
  (``python main.py staff-password`` makes one); a leaked config file gives nothing away.
- Two roles: ``operator`` (the controls) and ``viewer`` (the page without them). With no hash
  set, the page is open to whoever reaches it, which the config allows on 127.0.0.1 only.
- A log-in gives a random session cookie (HttpOnly, SameSite=Strict) and a CSRF token the page
  sends back in a header with every control: a form or script on another site can neither read
  the token nor set the header.
- Log-in attempts are limited per address and in all (scrypt costs tens of milliseconds on
  purpose: it must not become a way to load the machine).

Time is passed in (``clock``) so the expiry and the rate limit are tested without waiting.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from installation.config import StaffConfig
from installation.errors import InstallationError

# scrypt's cost: 16 MiB and ~50 ms a check on a small PC, which is what a log-in may cost
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
MAX_SESSIONS = 256  # the oldest is dropped beyond this: no unbounded table of cookies
FAILURES_PER_ADDRESS = 5  # failed log-ins per address per window, then refused until the window passes
FAILURES_IN_ALL = 30  # failed log-ins from everywhere per window (many addresses guessing)
FAILURE_WINDOW_S = 60.0
TRACKED_ADDRESSES = 1024
NAME_PATTERN = re.compile(r"^[\w .@-]{1,40}$")
OPERATOR, VIEWER = "operator", "viewer"


class LoginRefused(InstallationError):
    """A log-in that failed; ``status`` is the HTTP status to answer with (401 or 429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$SALT$HASH`` (hex) of ``secret`` with a fresh random salt."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True if ``secret`` matches a stored ``scrypt$...`` or ``pbkdf2_sha256$ITER$SALT$HASH`` hash;
    False for a mismatch or a malformed hash (never raises on what a visitor typed)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(part) for part in parts[1:4])
            salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
            actual = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=len(expected))
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            salt, expected = bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
            actual = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, int(parts[1]), dklen=len(expected))
        else:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value
    csrf: str  # sent back by the page in X-CSRF-Token with every control
    user: str  # the name typed at log-in: the audit log says who did what
    role: str  # OPERATOR or VIEWER
    peer: str  # the address it logged in from
    expires_s: float

    @property
    def may_control(self) -> bool:
        return self.role == OPERATOR


class LoginLimiter:
    """Failed log-ins counted per address and in all over a sliding window; bounded tables."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._by_address: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._all: collections.deque[float] = collections.deque(maxlen=FAILURES_IN_ALL)
        self.refused = 0

    def check(self, peer: str) -> None:
        """Raises LoginRefused (429) while ``peer``, or everyone together, failed too often."""
        now = self.clock()
        recent = self._recent(self._by_address.get(peer, ()), now)
        everyone = self._recent(self._all, now)
        if len(recent) >= FAILURES_PER_ADDRESS or len(everyone) >= FAILURES_IN_ALL:
            self.refused += 1
            raise LoginRefused("too many failed log-ins: try again in a minute", 429)

    def failed(self, peer: str) -> None:
        now = self.clock()
        attempts = self._by_address.pop(peer, None) or collections.deque(maxlen=FAILURES_PER_ADDRESS)
        attempts.append(now)
        self._by_address[peer] = attempts  # most recent at the end: the oldest address is evicted first
        while len(self._by_address) > TRACKED_ADDRESSES:
            self._by_address.popitem(last=False)
        self._all.append(now)

    @staticmethod
    def _recent(times, now: float) -> list[float]:
        return [t for t in times if now - t < FAILURE_WINDOW_S]


class StaffAuth:
    """Log-ins, sessions and tokens for one staff server (its event loop's thread only)."""

    def __init__(self, config: StaffConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.clock = config, clock
        self.limiter = LoginLimiter(clock)
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        self._good_tokens: set[bytes] = set()  # sha256 of tokens already checked: scrypt once, not per scrape

    @property
    def open_access(self) -> bool:
        """No password set: whoever reaches the page is an operator (config allows it on 127.0.0.1 only)."""
        return not (self.config.password_hash or self.config.viewer_password_hash)

    def login(self, name: str, password: str, peer: str) -> Session:
        """A new session for ``name`` if ``password`` is the operators' or the viewers'. Raises
        LoginRefused: 400 for a bad name, 401 for a wrong password, 429 when rate-limited."""
        if not NAME_PATTERN.match(name or ""):
            raise LoginRefused("give your name (letters, digits, spaces, . @ - _; up to 40)", 400)
        self.limiter.check(peer)
        role = self._role_for(password)
        if role is None:
            self.limiter.failed(peer)
            raise LoginRefused("wrong password", 401)
        return self.open_session(name.strip(), role, peer)

    def open_session(self, user: str, role: str, peer: str) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user, role, peer,
                          self.clock() + self.config.session_hours * 3600.0)
        self._sessions[session.token] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def session(self, token: str | None) -> Session | None:
        """The live session with this cookie value, or None (unknown or expired)."""
        session = self._sessions.get(token or "")
        if session is not None and session.expires_s <= self.clock():
            del self._sessions[session.token]
            return None
        return session

    def end(self, token: str) -> None:
        self._sessions.pop(token, None)

    def csrf_ok(self, session: Session, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())

    def token_ok(self, bearer: str | None) -> bool:
        """A monitoring request's ``Authorization: Bearer`` token against ``staff.token_hash``."""
        if not bearer or not self.config.token_hash:
            return False
        fingerprint = hashlib.sha256(bearer.encode()).digest()
        if fingerprint in self._good_tokens:
            return True
        if not verify_secret(bearer, self.config.token_hash):
            return False
        self._good_tokens = {fingerprint}  # one token is configured: remember only it
        return True

    def _role_for(self, password: str) -> str | None:
        if self.config.password_hash and verify_secret(password, self.config.password_hash):
            return OPERATOR
        if self.config.viewer_password_hash and verify_secret(password, self.config.viewer_password_hash):
            return VIEWER
        return None
