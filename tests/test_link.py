"""Ableton Link (installation/link_sync.py): a Link peer in this process (the same binding) runs a
session at 128 bpm; the piece joins it, and its beat phase, bars and quantised changes follow
the session, measured against the session's own timeline at Link-clock times the test chooses
(no waiting on the wall clock: 20 s of the session are walked frame by frame)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

link = pytest.importorskip("link")

from installation.control import ControlCommand  # noqa: E402
from installation.link_sync import LinkSync, retire  # noqa: E402
from installation.quantize import BeatQuantiser  # noqa: E402
from installation.show import ShowControl, ShowState  # noqa: E402

PEER_BPM = 128.0
QUANTUM = 4
FRAME_US = 1e6 / 60.0
DISCOVERY_TIMEOUT_S = 15.0  # an upper bound for the peers to find each other, not a duration asserted


class FakeScene:
    PARAMETERS = ()

    def __init__(self, name: str) -> None:
        self.name = name


class FakeScenes:
    """The SceneSlot surface ShowControl uses for a scene switch."""

    latent_dim = 4

    def __init__(self) -> None:
        self.scene = FakeScene("body_latent")

    def switch(self, name: str, fade: bool = True) -> None:
        self.scene = FakeScene(name)


def wait_for(condition, timeout_s: float = DISCOVERY_TIMEOUT_S) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes. Link's callbacks are not used:
    the binding calls them on Link's thread, and disabling a Link that has one waits on that
    thread while holding the GIL the callback needs (a deadlock at teardown)."""
    pause = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return True
        pause.wait(0.05)
    return condition()


@pytest.fixture(scope="module")
def session():
    """(the test's peer, the piece's LinkSync), joined; the peer has set the tempo to 128 bpm."""
    peer = link.Link(PEER_BPM)
    ours = link.Link(120.0)  # the piece starts its own session at another tempo: it must follow the peer's
    peer.enabled = ours.enabled = True
    try:
        if not wait_for(lambda: ours.numPeers() > 0 and peer.numPeers() > 0):
            pytest.skip("Link peers cannot find each other here (no multicast-capable network interface)")
        state = peer.captureAppSessionState()
        state.setTempo(PEER_BPM, peer.clock().micros())
        peer.commitAppSessionState(state)
        assert wait_for(lambda: abs(ours.captureAppSessionState().tempo() - PEER_BPM) < 0.01), \
            "the piece's Link never heard the peer's 128 bpm"
        yield peer, LinkSync(ours, QUANTUM)
    finally:
        retire(peer)  # disabled, never destroyed: Link's destructor can hang (installation.link_sync.retire)
        retire(ours)


def _phase_error_ms(ours: float, truth: float, bpm: float) -> float:
    """Circular distance between two beat phases (0..1), in milliseconds at ``bpm``."""
    diff = (ours - truth + 0.5) % 1.0 - 0.5
    return abs(diff) * 60.0 / bpm * 1000.0


def test_the_beat_phase_follows_a_128_bpm_peer_over_20_seconds(session):
    peer, sync = session
    state = ShowState()
    start_us = float(peer.clock().micros())
    rng = np.random.default_rng(7)
    errors, bar_errors = [], []
    for frame in range(20 * 60):
        at_us = start_us + frame * FRAME_US + rng.uniform(-2000, 2000)  # frames a little early or late
        now = 3.0 + (at_us - start_us) / 1e6  # media time: any origin
        sync.update(state, now, link_time_us=at_us)
        truth = peer.captureAppSessionState()
        # the scene reads the phase anywhere in the frame: extrapolated from the frame's start
        for into_frame_s in (0.0, 0.008, 0.016):
            t_us = int(at_us + into_frame_s * 1e6)
            errors.append(_phase_error_ms(state.beat_phase(now + into_frame_s), truth.phaseAtTime(t_us, 1), PEER_BPM))
            bar = truth.phaseAtTime(t_us, QUANTUM)
            bar_errors.append(abs((state.beats_done(now + into_frame_s) - bar + QUANTUM / 2) % QUANTUM - QUANTUM / 2))
    assert state.tempo_bpm == pytest.approx(PEER_BPM, abs=0.01)  # Link carries tempo as whole microseconds a beat
    assert np.percentile(errors, 95) <= 10.0
    assert max(bar_errors) * 60.0 / PEER_BPM * 1000.0 <= 10.0  # the same bar position as the peer


def test_live_updates_read_the_link_clock(session):
    """Without an injected time the Link clock is read at the update: the phase matches the
    peer's at the peer's clock read just after (a few microseconds later)."""
    peer, sync = session
    state = ShowState()
    errors = []
    for frame in range(200):
        now = frame / 60.0
        sync.update(state, now)
        truth = peer.captureAppSessionState().phaseAtTime(peer.clock().micros(), 1)
        errors.append(_phase_error_ms(state.beat_phase(now), truth, PEER_BPM))
    assert np.percentile(errors, 95) <= 10.0


def test_a_scene_change_asked_mid_bar_lands_on_the_next_link_bar(session):
    peer, sync = session
    state, scenes = ShowState(), FakeScenes()
    control = ShowControl(state, scenes, scene_switch_interval_s=0.0, quantiser=BeatQuantiser(QUANTUM))
    truth = peer.captureAppSessionState()
    start_us = float(peer.clock().micros())
    # ask one and a half beats into a bar
    bar_start = truth.beatAtTime(int(start_us), QUANTUM) - truth.phaseAtTime(int(start_us), QUANTUM) + QUANTUM
    asked_us = float(truth.timeAtBeat(bar_start + 1.5, QUANTUM))
    next_bar_us = float(truth.timeAtBeat(bar_start + QUANTUM, QUANTUM))
    switched_us, asked = None, False
    at_us = asked_us - 20 * FRAME_US
    while switched_us is None and at_us < next_bar_us + 10 * FRAME_US:
        now = 100.0 + (at_us - start_us) / 1e6
        sync.update(state, now, link_time_us=at_us)
        if not asked and at_us >= asked_us:
            control.apply(ControlCommand("scene", ("set", "dream_drift", "bar")), now)
            asked = True
        control.apply_waiting(now)
        if scenes.scene.name == "dream_drift":
            switched_us = at_us
        at_us += FRAME_US
    assert asked and switched_us is not None
    assert 0.0 <= switched_us - next_bar_us < FRAME_US  # the first frame of the next bar, not sooner


def test_a_tempo_set_here_goes_to_every_peer_when_asked(session):
    peer, sync = session
    state = ShowState()
    sync.sets_tempo = True
    try:
        at_us = float(peer.clock().micros())
        sync.update(state, 0.0, link_time_us=at_us)
        state.tempo_bpm = 140.0  # what OSC /tempo or MIDI clock would have set
        sync.update(state, 0.1, link_time_us=at_us + 1e5)
        assert state.tempo_bpm == pytest.approx(140.0)
        assert wait_for(lambda: abs(peer.captureAppSessionState().tempo() - 140.0) < 0.01), \
            "the peer never heard the tempo set here"
    finally:
        sync.sets_tempo = False
        restore = peer.captureAppSessionState()
        restore.setTempo(PEER_BPM, peer.clock().micros())
        peer.commitAppSessionState(restore)


def test_link_asked_for_without_its_binding_is_one_clear_error(monkeypatch):
    import sys

    from installation.link_sync import LinkError

    monkeypatch.setitem(sys.modules, "link", None)  # as if LinkPython-extern were not installed
    with pytest.raises(LinkError, match="LinkPython-extern.*sync.link = false"):
        LinkSync.open(120.0, QUANTUM)
