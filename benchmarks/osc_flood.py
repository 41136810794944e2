"""How much an OSC flood slows a headless replay: render fps with and without a flood of 30,000
datagrams (a third garbage) in 3 s, interleaved rounds, side by side in one run.

    .venv/bin/python benchmarks/osc_flood.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from installation.app import RunOptions, run  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from tests.helpers.udp import free_udp_port, port_in_use  # noqa: E402

CLIP = ROOT.parent / "shared" / "media" / "video" / "intel_asl" / "book.mkv"
FLOOD = ROOT / "tests" / "helpers" / "osc_flood.py"


def replay(flood: bool) -> dict:
    port = free_udp_port()

    def send() -> None:
        while not port_in_use(port):
            time.sleep(0.05)
        subprocess.run([sys.executable, str(FLOOD), "127.0.0.1", str(port), "30000", "3.0"],
                       capture_output=True, check=True)

    sender = threading.Thread(target=send) if flood else None
    if sender:
        sender.start()
    stats = run(RunOptions(source=str(CLIP), headless=True, osc_in=f"127.0.0.1:{port}"))
    if sender:
        sender.join()
    return {"render_fps": stats.render_fps, "malformed": stats.errors["osc_malformed"],
            "rate_limited": stats.errors["osc_rate_limited"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "osc_flood.json")
    args = parser.parse_args()
    silence_native_stderr()
    runs: dict[str, list[dict]] = {"quiet": [], "flood": []}
    for _ in range(args.rounds):
        runs["quiet"].append(replay(False))
        runs["flood"].append(replay(True))
    quiet = statistics.median(r["render_fps"] for r in runs["quiet"])
    flooded = statistics.median(r["render_fps"] for r in runs["flood"])
    results = {"clip": CLIP.name, "rounds": args.rounds, "render_fps_quiet": quiet, "render_fps_flood": flooded,
               "flood_over_quiet": round(flooded / quiet, 3), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"render fps: quiet {quiet:.2f}, under flood {flooded:.2f}, ratio {flooded / quiet:.3f}")


if __name__ == "__main__":
    main()
