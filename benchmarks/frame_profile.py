"""Where a loop frame's time goes: py-spy's raw samples of the render loop, by stage and function.

    .venv/bin/py-spy record --rate 250 --idle --threads --format raw -o /tmp/frame_profile.txt -- \\
        .venv/bin/python main.py run --source ../shared/media/video/intel_asl/walk.mkv --headless \\
        --schedule inline --frames 89 --stats /tmp/frame_profile_stats.json
    .venv/bin/python benchmarks/frame_profile.py /tmp/frame_profile.txt [--stats /tmp/frame_profile_stats.json]

Only the main thread's samples inside ``Runtime.step`` count (start-up and imports are left out);
``--idle`` keeps the samples where the loop waits in native code (MediaPipe's graph, onnxruntime,
torch), which py-spy would otherwise drop. A sample's stage is the call ``step`` was making
(``installation/runtime.py``'s phases); a function's share is the samples it was on the stack for.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

# the callee of Runtime.step -> the stage it belongs to (the phases of installation/runtime.py)
STAGE_OF_CALL = {
    "read": "capture", "latest": "capture", "submit": "perception", "wait": "perception", "poll": "perception",
    "update": "tracking", "tick": "tracking", "_gesture_commands": "tracking", "_watch_audience": "tracking",
    "_scene_update": "scene", "_follow_playlist": "scene", "_checked_latent": "scene", "_taught_mappings": "scene",
    "_picture": "generate", "_painted": "paint", "show": "display", "on_frame": "listeners (recorder, OSC)",
    "_pace": "pacing", "_adapt_quality": "other", "rendered": "other",
}
FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>.+?):(?P<line>\d+)\)$")


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """(main-thread stack inside Runtime.step as (function, file) outermost first, count) per line."""
    samples = []
    for line in path.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        frames = stack_text.split(";")
        if "MainThread" not in frames[0]:
            continue
        parsed = [(m["function"], m["file"]) for m in map(FRAME.match, frames[1:]) if m]
        steps = [i for i, (function, file) in enumerate(parsed) if function.endswith("step") and file.endswith("installation/runtime.py")]
        if steps:
            samples.append((parsed[steps[0] + 1:], int(count)))
    return samples


def stage_of(below_step: list[tuple[str, str]]) -> str:
    if not below_step:
        return "other"
    function = below_step[0][0].rsplit(".", 1)[-1]
    return STAGE_OF_CALL.get(function, "other")


def tables(samples: list[tuple[list[tuple[str, str]], int]], top: int) -> str:
    total = sum(count for _, count in samples)
    stages: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for stack, count in samples:
        stages[stage_of(stack)] += count
        for name in {f"{function} ({file})" for function, file in stack}:
            inclusive[name] += count
        if stack:
            leaf[f"{stack[-1][0]} ({stack[-1][1]})"] += count
    lines = [f"{total} samples in Runtime.step", "", "| stage | share of the frame |", "|---|---|"]
    lines += [f"| {name} | {count / total:.1%} |" for name, count in stages.most_common()]
    lines += ["", "| function (on the stack) | share |", "|---|---|"]
    lines += [f"| `{name}` | {count / total:.1%} |" for name, count in inclusive.most_common(top)]
    lines += ["", "| innermost Python function (self) | share |", "|---|---|"]
    lines += [f"| `{name}` | {count / total:.1%} |" for name, count in leaf.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--stats", type=Path, help="the run's --stats JSON: its stage p50s are printed beside")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(tables(parse(args.raw), args.top))
    if args.stats:
        stats = json.loads(args.stats.read_text())
        print("\nstage p50 (ms, the runtime's own telemetry):",
              {name: round(row["p50"], 1) for name, row in stats["stages_ms"].items()}, "render fps", stats["render_fps"])


if __name__ == "__main__":
    main()
