"""Ableton Link, live, over the wall clock: a Link peer in this process at 128 bpm, the piece's
LinkSync reading the Link clock once a frame at 60 fps for 20 s (as the runtime does live), and
the piece's beat phase, read anywhere in the frame from the media clock, compared with the
peer's phase at the Link clock read at the same moment.

    .venv/bin/python benchmarks/link_phase.py [--seconds 20]

Prints one JSON line: the phase error's p50, p95 and max in milliseconds (target p95 <= 10 ms).
tests/test_link.py checks the same thing at chosen Link-clock times without waiting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import link  # noqa: E402

from installation.clock import MonotonicClock  # noqa: E402
from installation.link_sync import LinkSync, retire  # noqa: E402
from installation.show import ShowState  # noqa: E402

PEER_BPM = 128.0


def measure(seconds: float, fps: float = 60.0) -> dict:
    """Phase errors (ms) of the piece's beat against a 128 bpm peer over ``seconds`` of wall time."""
    peer, ours = link.Link(PEER_BPM), link.Link(120.0)
    peer.enabled = ours.enabled = True  # no Link callbacks: disabling a Link that has one deadlocks on the GIL
    try:
        deadline = time.monotonic() + 15.0
        while not (ours.numPeers() and peer.numPeers()):
            if time.monotonic() > deadline:
                raise SystemExit("Link peers cannot find each other here (no multicast-capable interface)")
            time.sleep(0.05)
        state = peer.captureAppSessionState()
        state.setTempo(PEER_BPM, peer.clock().micros())
        peer.commitAppSessionState(state)
        while abs(ours.captureAppSessionState().tempo() - PEER_BPM) > 0.01:
            time.sleep(0.05)
        sync, show, clock = LinkSync(ours, 4), ShowState(), MonotonicClock()
        errors = []
        frame_s, next_frame = 1.0 / fps, clock.now()
        while clock.now() < seconds:
            sync.update(show, clock.now())  # the frame's start: the Link clock read inside
            for _ in range(3):  # the picture reads the phase at moments through the frame
                time.sleep(frame_s / 4)
                now, at_us = clock.now(), peer.clock().micros()
                truth = peer.captureAppSessionState().phaseAtTime(at_us, 1)
                diff = (show.beat_phase(now) - truth + 0.5) % 1.0 - 0.5
                errors.append(abs(diff) * 60.0 / PEER_BPM * 1000.0)
            next_frame += frame_s
            time.sleep(max(0.0, next_frame - clock.now()))
    finally:
        retire(peer)  # never destroyed: Link's destructor can hang (installation.link_sync.retire)
        retire(ours)
    return {"seconds": seconds, "samples": len(errors), "p50_ms": round(float(np.percentile(errors, 50)), 4),
            "p95_ms": round(float(np.percentile(errors, 95)), 4), "max_ms": round(float(np.max(errors)), 4),
            "target_p95_ms": 10.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    print(json.dumps(measure(parser.parse_args().seconds)))


if __name__ == "__main__":
    main()
