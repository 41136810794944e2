"""The staff page's cost to the frame loop: p95 frame time with 20 page clients and a metrics
scrape every second, against no page at all, side by side in one run (target: within 5 %).

The live loop as ``loop_latency.py`` runs it (a real clip played as a 30 fps camera, threaded
perception, headless display paced at 60 fps, painting off). ``loaded`` adds the staff server
(``installation.staff``) and, in a separate process as real browsers would be, 20 clients that
each poll ``/api/status`` once a second and the thumbnail four times a second, as the page does,
plus one ``/metrics`` scrape a second. ``none`` runs without a server. Rounds are interleaved
(none, loaded, none, loaded ...) so machine noise hits both alike. The frame time is the wall
time between two consecutive frames reaching the listeners (what the screen sees).

    .venv/bin/python benchmarks/staff_load.py [--seconds 20] [--rounds 2] [--clients 20]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import DEFAULT_CLIP, RESULTS, live_runtime, write_results  # first: puts the project on sys.path


class FrameTimes:
    """A listener noting when each frame reaches the listeners."""

    def __init__(self) -> None:
        self.walls: list[float] = []

    def on_frame(self, report) -> None:
        self.walls.append(time.perf_counter())

    def close(self) -> None:
        pass


def run_once(clip: Path, seconds: float, clients: int) -> dict:
    """One live run; with ``clients`` > 0 the staff page is served and loaded by that many clients."""
    from installation.config import load_config, override

    config = load_config()
    config = override(config, "perception", schedule="threaded")
    config = override(config, "source", mirror=False)
    config = override(config, "paint", enabled=False)
    config = override(config, "staff", listen="127.0.0.1:0", password_hash="", viewer_password_hash="", token_hash="")
    runtime = live_runtime(config, clip=clip)
    times = FrameTimes()
    runtime.stages.listeners.append(times)
    load = None
    if clients:
        from installation.staff import serve_runtime

        server = serve_runtime(config, runtime)
        load = subprocess.Popen([sys.executable, __file__, "--load", server.url, "--clients", str(clients),
                                 "--seconds", str(seconds + 30)], stdout=subprocess.PIPE, text=True)
    stats = runtime.run(max_wall_s=seconds)
    requests = 0
    if load is not None:
        load.terminate()
        requests = int((load.communicate(timeout=30)[0] or "0").strip() or 0)
    settled = times.walls[len(times.walls) // 5 :]  # the first fifth: warm-up, adaptive quality settling
    frame_ms = sorted((b - a) * 1000.0 for a, b in zip(settled, settled[1:]))
    return {
        "frame_p50_ms": round(frame_ms[len(frame_ms) // 2], 3),
        "frame_p95_ms": round(frame_ms[int(0.95 * (len(frame_ms) - 1))], 3),
        "render_fps": stats.render_fps,
        "latency_p95_ms": stats.latency_ms.p95,
        "requests_per_s": round(requests / seconds, 1),
    }


def load_clients(base: str, clients: int, seconds: float) -> None:
    """The page's polling by ``clients`` browsers plus a metrics scrape a second; prints requests made."""
    stop = time.monotonic() + seconds
    counts = [0] * (clients + 1)

    host, port = base.removeprefix("http://").split(":")

    def poll(index: int, paths: tuple[tuple[str, float], ...]) -> None:
        due = {path: time.monotonic() for path, _ in paths}
        connection = http.client.HTTPConnection(host, int(port), timeout=5)  # kept alive, as a browser does
        while time.monotonic() < stop:
            for path, every in paths:
                if time.monotonic() >= due[path]:
                    due[path] += every
                    try:
                        connection.request("GET", path)
                        connection.getresponse().read()
                    except (OSError, http.client.HTTPException):
                        connection.close()
                        connection = http.client.HTTPConnection(host, int(port), timeout=5)
                    counts[index] += 1
            time.sleep(max(0.0, min(due.values()) - time.monotonic()))

    page = (("/api/status", 1.0), ("/api/thumbnail.jpg", 0.25))
    threads = [threading.Thread(target=poll, args=(i, page), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=poll, args=(clients, (("/metrics", 1.0),)), daemon=True))
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        print(sum(counts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--load", help=argparse.SUPPRESS)  # the client process's mode
    parser.add_argument("--out", type=Path, default=RESULTS / "staff_load.json")
    args = parser.parse_args()
    if args.load:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        load_clients(args.load, args.clients, args.seconds)
        return
    from installation.native_logs import silence_native_stderr

    silence_native_stderr()
    runs: dict[str, list[dict]] = {"none": [], "loaded": []}
    for round_index in range(args.rounds):
        for name, clients in (("none", 0), ("loaded", args.clients)):
            runs[name].append(run_once(args.clip, args.seconds, clients))
            print(f"round {round_index + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    rows = {name: {key: round(statistics.median(run[key] for run in rs), 3) for key in rs[0]} for name, rs in runs.items()}
    ratio = round(rows["loaded"]["frame_p95_ms"] / rows["none"]["frame_p95_ms"], 3)
    results = {"clip": args.clip.name, "seconds_per_run": args.seconds, "rounds": args.rounds, "clients": args.clients,
               "cpu_count": os.cpu_count(), "rows": rows, "frame_p95_ratio": ratio, "target": 1.05,
               "meets": ratio <= 1.05, "runs": runs}
    lines = ["| staff page | frame p50 (ms) | frame p95 (ms) | rendered fps | latency p95 (ms) | requests/s |",
             "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['frame_p50_ms']:.1f} | {row['frame_p95_ms']:.1f} | {row['render_fps']:.1f} | "
                     f"{row['latency_p95_ms']:.1f} | {row['requests_per_s']:.0f} |")
    lines.append(f"\nframe p95 loaded / none: {ratio:.3f} (target ≤ 1.05)")
    write_results(args.out, results, "\n".join(lines))


if __name__ == "__main__":
    main()
