"""Replays' perception kept on disk: a recording's observations are made once, then read back.

Replaying a recorded clip headless is deterministic (the same frames, in order, give the same
observations), and MediaPipe is most of a replay's time. ``--perception-cache DIR`` (or the
environment's ``INSTALLATION_PERCEPTION_CACHE``) keeps every observation of a replay in a SQLite
file in DIR, and a later replay of the same frames with the same perception reads them back
instead: an engineer iterating on a scene, or CI replaying the same clips in many tests, pays
for MediaPipe once. Live runs (a camera) are never cached.

MediaPipe tracks: an observation depends on every frame before it. So an observation is keyed by
a chain: the key of frame *n* is a hash of the key of frame *n - 1* and frame *n*'s pixels, time
and mirroring, started from a salt of everything else that decides what perception sees (its
settings, the audience stage's, MediaPipe's version and the runtime's own source). A key found
means the same frames, in the same order, through the same code. A replay reads the cache until
its first miss; there it starts MediaPipe and first feeds it the frames it was spared (held for
that, up to ``HOLD_FRAMES``), so from then on its observations are exactly those of an uncached
run. Past ``HOLD_FRAMES`` the held frames are let go; a later miss then starts MediaPipe from
that frame (logged and counted as ``cache_restarts``: its tracking starts afresh there).
An observation read back carries the perception time measured when it was made (the run's
``perception`` stage figures are those of the first replay). The rows are Python pickles: a
cache folder is trusted as the code is (the user's own, or a test run's temporary one), never
one that others can write to. Keying costs 1.5 ms a 640 x 480 frame (hashing its pixels).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import logging
import os
import pickle
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from installation.config import PerceptionConfig
from installation.contracts import Frame, Observation
from installation.errors import ConfigError
from installation.perception import FramePerceiver

log = logging.getLogger(__name__)

ENVIRONMENT = "INSTALLATION_PERCEPTION_CACHE"  # a folder: the default of --perception-cache
FILE_NAME = "perception.sqlite"
HOLD_FRAMES = 300  # frames held for a catch-up after a miss (10 s at 30 fps, ~280 MB at 640 x 480)
LOCK_WAIT_S = 10.0  # how long a write waits for another process's (one row each)
PACKAGE = Path(__file__).resolve().parent
# perception settings that decide when and where perception runs, not what it sees in a frame
NOT_WHAT_IT_SEES = ("schedule", "hang_timeout_s", "restart_after_errors", "pin_cores", "max_frame_age_ms", "cache")


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One cached frame: its observation and the perceiver's counters right after it."""

    observation: Observation
    errors: int
    counters: dict[str, int]


def cache_folder(option: str | None) -> Path | None:
    """The cache folder a run uses: the command line's (``""`` = off), else the environment's."""
    chosen = option if option is not None else os.environ.get(ENVIRONMENT, "")
    return Path(chosen) if chosen else None


def cached(make: Callable[[], FramePerceiver], folder: Path, salt: str) -> Callable[[], FramePerceiver]:
    """``make``'s perceivers behind the cache in ``folder``, each with its own connection (a
    threaded schedule's restart makes another)."""
    return lambda: CachedPerceiver(make, PerceptionStore(folder), salt)


def perception_salt(config: PerceptionConfig, extra: str = "") -> str:
    """Everything but the frames that decides a replay's observations: the perception settings,
    ``extra`` (the audience stage's), MediaPipe's version and the runtime's source."""
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in NOT_WHAT_IT_SEES}
    return repr((settings, extra, importlib.metadata.version("mediapipe"), runtime_digest()))


def runtime_digest() -> str:
    """A digest of the runtime's own source: a cache made by other code is not read back."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class PerceptionStore:
    """The SQLite file of cached observations, shared by processes (tests on several workers).

    Each write is its own short transaction (WAL, autocommit), so another process's writer waits
    for one row at most. A read or write that fails anyway (a lock held too long, a full disk, a
    damaged row) is logged once and counted, and the frame is perceived instead: the cache never
    costs a replay an observation."""

    def __init__(self, folder: Path) -> None:
        """Opens (or makes) ``folder/perception.sqlite``. Raises ConfigError, before any work is
        done, if the folder cannot be made or the file is not a readable cache."""
        self.path = folder / FILE_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")  # readers never wait for another process's writer
            self._db.execute("PRAGMA synchronous=NORMAL")  # a commit is not an fsync: a cache may lose its last rows
            self._db.execute("CREATE TABLE IF NOT EXISTS observations (key BLOB PRIMARY KEY, entry BLOB NOT NULL)")
            self._db.execute("SELECT count(*) FROM observations").fetchone()
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"perception cache {self.path} cannot be used: {error}") from None
        self.unreadable = 0  # reads that failed or gave a damaged entry (the frame was perceived)
        self.unwritten = 0  # observations that could not be kept

    def get(self, key: bytes) -> _Entry | None:
        try:
            row = self._db.execute("SELECT entry FROM observations WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            entry = pickle.loads(row[0])
        except Exception as error:  # a damaged row or a failed read: perceive the frame instead
            self._failed("read", error, self.unreadable)
            self.unreadable += 1
            return None
        return entry if isinstance(entry, _Entry) else None

    def put(self, key: bytes, entry: _Entry) -> None:
        try:
            self._db.execute("INSERT OR IGNORE INTO observations VALUES (?, ?)", (key, pickle.dumps(entry)))
        except sqlite3.Error as error:
            self._failed("write", error, self.unwritten)
            self.unwritten += 1

    def _failed(self, what: str, error: Exception, before: int) -> None:
        if not before:  # once per run: a full disk would say it every frame
            log.warning("perception cache %s: could not %s an observation (%s); perceiving instead", self.path,
                        what, error)

    def close(self) -> None:
        self._db.close()


class CachedPerceiver:
    """A perceiver that reads a replay's observations from a PerceptionStore while the frames are
    those cached, and makes (and stores) them with a real perceiver from the first that is not."""

    def __init__(self, make: Callable[[], FramePerceiver], store: PerceptionStore, salt: str,
                 hold_frames: int = HOLD_FRAMES) -> None:
        self._make, self._store, self._hold_frames = make, store, hold_frames
        self._key = hashlib.blake2b(salt.encode(), digest_size=20).digest()
        self._perceiver: FramePerceiver | None = None  # made at the first miss
        self._held: list[Frame] | None = []  # frames read from the cache, for the catch-up; None: let go
        self._last: _Entry | None = None
        self.hits = self.misses = self.restarts = 0
        self.consecutive_errors = 0
        self._exact = True  # False after a restart: what follows is not what an uncached run sees, so not kept

    @property
    def errors(self) -> int:
        if self._perceiver is not None:
            return self._perceiver.errors
        return self._last.errors if self._last is not None else 0

    def counters(self) -> dict[str, int]:
        own = {"cache_restarts": self.restarts, "cache_unreadable": self._store.unreadable,
               "cache_unwritten": self._store.unwritten}
        if self._perceiver is not None:
            return {**self._perceiver.counters(), **own}
        return {**(self._last.counters if self._last is not None else {}), **own}

    def process(self, frame: Frame) -> Observation:
        self._key = _chained(self._key, frame)
        if self._perceiver is None:
            entry = self._store.get(self._key)
            if entry is not None:
                self._served(frame, entry)
                return dataclasses.replace(entry.observation, frame_index=frame.index, wall_s=frame.wall_s)
            self._perceiver = self._caught_up()
        self.misses += 1
        observation = self._perceiver.process(frame)
        self.consecutive_errors = self._perceiver.consecutive_errors
        if self._exact:
            self._store.put(self._key, _Entry(observation, self._perceiver.errors, self._perceiver.counters()))
        return observation

    def _served(self, frame: Frame, entry: _Entry) -> None:
        self.hits += 1
        self._last = entry
        if self._held is not None:
            self._held.append(frame)
            if len(self._held) > self._hold_frames:
                self._held = None  # too long to catch up on: a miss after this restarts tracking

    def _caught_up(self) -> FramePerceiver:
        """A real perceiver that has seen every frame the cache answered for, as an uncached run's had."""
        perceiver = self._make()
        if self._held is None:
            self.restarts, self._exact = self.restarts + 1, False
            log.warning("perception cache: a frame not cached after %d that were; MediaPipe starts from it "
                        "(its tracking afresh: this replay may differ from an uncached one)", self.hits)
        else:
            for held in self._held:
                perceiver.process(held)
        self._held = None
        return perceiver

    def close(self) -> None:
        log.info("perception cache: %d of %d frames read back, %d perceived", self.hits, self.hits + self.misses,
                 self.misses)
        if self._perceiver is not None:
            self._perceiver.close()
        self._store.close()


def _chained(key: bytes, frame: Frame) -> bytes:
    """The key of ``frame`` after the frames whose chained key is ``key``."""
    digest = hashlib.blake2b(key, digest_size=20)
    image = frame.image_bgr
    digest.update(struct.pack("<d?3q", frame.timestamp_s, frame.mirrored, *image.shape[:2], image.ndim))
    digest.update(np.ascontiguousarray(image).data)
    return digest.digest()
