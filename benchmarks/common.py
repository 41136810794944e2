"""What the benchmarks share: the project on ``sys.path``, the clip they play, the live loop they
measure, and how they write their results.

Importing this module is cheap (nothing of ``installation`` is imported until a loop is built), so
a benchmark's helper process (osc_hostile.py's sender, staff_load.py's clients) may import it too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "video" / "intel_asl" / "walk.mkv"


def live_runtime(config, source=None, clock=None, lockstep: bool = False, clip: Path = DEFAULT_CLIP):
    """The live loop the loop benchmarks measure: ``config``'s stages on a headless display paced at
    ``display.target_fps`` (frames to a NullSink). By default ``clip`` is played, looped, as a camera
    at its own rate on a fresh MonotonicClock; ``source``, ``clock`` and ``lockstep`` replace that
    (loop_latency.py's naive FIFO camera on a FixedStepClock)."""
    from installation.app import build_stages
    from installation.clock import MonotonicClock
    from installation.display import HeadlessDisplay, NullSink
    from installation.file_sources import VideoFileSource
    from installation.live_sources import RealtimePlayback
    from installation.runtime import Runtime

    if clock is None:
        clock = MonotonicClock()
    if source is None:
        source = RealtimePlayback(VideoFileSource(clip, loop=True), clock)
    display = HeadlessDisplay((config.headless.width, config.headless.height), config.display.fit, NullSink(),
                              pace_fps=config.display.target_fps)
    return Runtime(build_stages(config, source, display, lockstep=lockstep), clock, lockstep)


def write_results(out: Path, results: dict, table: str) -> None:
    """``results`` as JSON to ``out``, ``table`` (markdown) beside it as ``out.md``, and the table printed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
