"""Ableton Link: the piece joins the Link session on the local network and takes its tempo, beat
and bar from it, through LinkPython-extern (``import link``, the official Link library's C++ API
one to one: session states sampled at a time given in Link-clock microseconds).

Once a frame, before that frame's commands are applied, ``LinkSync.update`` samples the session
at the frame's time and writes it into the show's beat (``ShowState``): the tempo, and the beat
origin and beats-into-the-bar that make ``beat_phase`` and ``beats_done`` equal Link's beat phase
and bar phase there. Everything that reads the show's beat (SceneInputs.beat_phase, /beat out,
beat- and bar-quantised changes) then follows Link; a bar is Link's quantum, ``sync.beats_per_bar``
beats, so every peer with the same quantum agrees where bars start.

Tempo: Link's session tempo wins every frame. With ``sync.link_sets_tempo`` a tempo set here
(OSC /tempo, MIDI clock) is committed to the session instead, and every peer follows it.

Which time a frame is: live, the Link clock read as the frame is handled (the loop's media time
and Link's clock are both monotonic; reading it per frame follows any drift between them). In a
replay (lockstep media time) the offset between the two is taken once, at the first frame, so
the Link timeline is walked at media speed.
"""

from __future__ import annotations

import ctypes
import logging

from installation.errors import InstallationError

log = logging.getLogger(__name__)

TEMPO_CHANGED_BPM = 0.01  # a tempo set here that differs from Link's by more is committed (link_sets_tempo)


class LinkError(InstallationError):
    """Ableton Link was asked for and cannot be started here."""


class LinkSync:
    """The show's beat from an Ableton Link session.

    ``link``: a ``link.Link`` (tests pass their own, joined to a peer in the same process);
    ``quantum``: beats to a bar; ``sets_tempo``: commit tempo changes made here to the session;
    ``lockstep``: map media time to Link time by a fixed offset (replays)."""

    def __init__(self, link: object, quantum: int, sets_tempo: bool = False, lockstep: bool = False) -> None:
        self.link, self.quantum, self.sets_tempo, self.lockstep = link, quantum, sets_tempo, lockstep
        self.peers = 0
        self.counters = {"link_updates": 0, "link_tempo_commits": 0}
        self._written_bpm: float | None = None  # the tempo this wrote into the show last frame
        self._offset_us: float | None = None  # Link time minus media time, in replays

    @classmethod
    def open(cls, start_bpm: float, quantum: int, sets_tempo: bool = False, lockstep: bool = False) -> LinkSync:
        """Join (or start, at ``start_bpm``) the Link session. Raises LinkError when the binding is
        not installed or Link cannot be enabled."""
        try:
            import link  # LinkPython-extern; loaded only when [sync] link is on
        except ImportError as error:
            raise LinkError(f"Ableton Link needs LinkPython-extern ({error}); "
                            "pip install -r requirements.lock, or set sync.link = false") from None
        try:
            session = link.Link(float(start_bpm))
            session.enabled = True
        except (RuntimeError, OSError) as error:
            raise LinkError(f"cannot join an Ableton Link session here ({error}); set sync.link = false") from None
        log.info("Ableton Link on (quantum %d, %s tempo); %d peer(s) so far", quantum,
                 "setting the" if sets_tempo else "following the", session.numPeers())
        return cls(session, quantum, sets_tempo, lockstep)

    def link_time_us(self, now: float) -> float:
        """The Link-clock time, in microseconds, of media time ``now``."""
        if not self.lockstep:
            return float(self.link.clock().micros())
        if self._offset_us is None:
            self._offset_us = float(self.link.clock().micros()) - now * 1e6
        return self._offset_us + now * 1e6

    def update(self, state: object, now: float, link_time_us: float | None = None) -> None:
        """Write the session's tempo and beat at media time ``now`` into ``state`` (a ShowState).
        ``link_time_us``: the Link time of ``now`` when the caller knows it (tests); else mapped."""
        at_us = self.link_time_us(now) if link_time_us is None else link_time_us
        session = self.link.captureAppSessionState()
        if self.sets_tempo and state.tempo_bpm and self._written_bpm is not None \
                and abs(state.tempo_bpm - self._written_bpm) > TEMPO_CHANGED_BPM:
            session.setTempo(float(state.tempo_bpm), int(at_us))  # the beat at this time stays where it is
            self.link.commitAppSessionState(session)
            self.counters["link_tempo_commits"] += 1
            log.info("Ableton Link tempo set to %.2f bpm", state.tempo_bpm)
        tempo = session.tempo()
        in_bar = session.phaseAtTime(int(at_us), self.quantum)  # beats into the bar, 0..quantum
        beat_into_bar = int(in_bar)
        state.tempo_bpm = self._written_bpm = tempo
        state.beats_before_origin = beat_into_bar  # bars for quantised changes count from Link's
        state.beat_origin_s = now - (in_bar - beat_into_bar) * 60.0 / tempo  # the last beat, in media time
        self.counters["link_updates"] += 1
        self._watch_peers()

    def _watch_peers(self) -> None:
        # polled, not Link's peer callback: the binding runs callbacks on Link's thread, and
        # disabling a Link that has one waits for that thread while holding the GIL (a deadlock)
        peers = self.link.numPeers()
        if peers != self.peers:
            log.info("Ableton Link: %d peer(s)", peers)
            self.peers = peers

    def on_frame(self, report: object) -> None:
        """A frame listener only to be closed with the loop: the beat is written by ``update``."""

    def close(self) -> None:
        """Leave the session (the other peers carry on)."""
        retire(self.link)


def retire(session: object) -> None:
    """Leave a Link session and never destroy its object. LinkPython-extern's destructor can wait
    forever on Link's network thread (seen in the test suite: a fixture's teardown hung there
    with the GIL held), so a disabled session, which costs nothing, lives until the process ends
    and the system reclaims it."""
    session.enabled = False
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(session))  # one reference nobody gives back

