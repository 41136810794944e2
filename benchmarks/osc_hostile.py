"""The live loop's frame rate under hostile OSC, each ÷ a control run beside it (issue 16):

- ``fuzz``: the hostile corpus (tests/helpers/osc_hostile.py: negative and oversized sizes, deep
  nesting, truncations, the 36-byte datagram) cycled at 2,000 datagrams/s;
- ``scene_flood``: ``/scene/set`` at 500/s (the issue's 0.27× case), from one sender; it names
  the scene showing (each switch builds it anew and crossfades), so the picture costs what the
  control run's does and only control's cost differs (two scenes alternating measured the cheaper
  scene's frame rate instead: 1.2-2.2× "faster");
- ``spoofed``: 100 source addresses (127.0.0.2-101: loopback answers to all of 127/8), each
  inside its own ``osc.sender_rate``, 10,000 messages/s together, ``/scene/set`` and
  ``/scene/param``.

The loop is loop_latency.py's: ``intel_asl/walk.mkv`` played as a 30 fps camera, the default
config (threaded perception, display paced at 60 fps, headless), with OSC in on a free loopback
port. The flood comes from another process started as the loop starts, on the same cores.

Each flood's control (``<flood>_control``) runs that same sender process, sending the same
datagrams from the same sockets at the same rate, to a socket of the sender's own that nobody
reads instead of the loop's port: the sender's CPU and the system's delivery of every datagram
(its socket buffer full, then dropped) are in both runs, so flood ÷ control is what the runtime
itself pays for the traffic. (Not a closed port: there the system answers each datagram with an
ICMP port-unreachable, unlimited on loopback, which costs ~30 % more per datagram than
delivering it, and would flatter the ratio.) A ``clean`` run with no sender at all is kept
beside them: control ÷ clean is the sender's own share of this machine, which an attacker on
another machine would not take.

Runs are interleaved, each flood beside its control (clean, fuzz_control, fuzz, scene_flood_control,
..., the next round starting one pair on, with each pair's order swapped), so machine noise
hits all alike; the median of each is kept.

    .venv/bin/python benchmarks/osc_hostile.py [--seconds 12] [--rounds 2]
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

from common import RESULTS, live_runtime, write_results  # first: puts the project on sys.path
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

from tests.helpers.osc_hostile import hostile_corpus  # noqa: E402

FLOODS = ("fuzz", "scene_flood", "spoofed")
RATES = {"fuzz": 2000.0, "scene_flood": 500.0, "spoofed": 10_000.0}  # datagrams per second
SPOOFED_SENDERS = 100
BATCH_S = 0.005  # the sender sends what is due every 5 ms
TARGET = 0.9
UNREAD = 0  # the sender's port argument for a control run: to a socket of its own, never read
RECEIVE_THREAD = "osc-in"  # the OSC receiver's thread (installation/osc/receiver.py)


def osc(path: str, *args) -> bytes:
    builder = OscMessageBuilder(address=path)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def send(kind: str, port: int, seconds: float) -> None:
    """The flooding process: ``kind``'s datagrams at its rate for ``seconds`` to the loop's ``port``
    (``UNREAD``: to a socket of this process's own that it never reads, the control); prints how
    many it sent and its own CPU seconds."""
    import socket

    scenes = [osc("/scene/set", "body_latent")]  # the showing scene, built anew by each switch
    if kind == "fuzz":
        datagrams, sockets = list(hostile_corpus().values()), [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
    elif kind == "scene_flood":
        datagrams, sockets = scenes, [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
    else:
        datagrams = [scenes[0], osc("/scene/param", "gain", 1.1), scenes[0], osc("/scene/param", "gain", 1.2)]
        sockets = []
        for number in range(SPOOFED_SENDERS):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.bind((f"127.0.0.{number + 2}", 0))
            sockets.append(sender)
    unread = None
    if port == UNREAD:  # bound, so the system delivers each datagram as to the loop's port (no ICMP)
        unread = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        unread.bind(("127.0.0.1", 0))
    rate, target, sent = RATES[kind], unread.getsockname() if unread else ("127.0.0.1", port), 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        while sent < rate * elapsed:
            try:
                sockets[sent % len(sockets)].sendto(datagrams[sent % len(datagrams)], target)
            except OSError:  # the system's buffer full: the datagram is lost, as on a network
                pass
            sent += 1
        time.sleep(BATCH_S)
    print(json.dumps({"sent": sent, "cpu_s": round(time.process_time(), 3)}))  # start-up included


class ReceiverWatch:
    """A frame listener: in how many frames the OSC receiver was not alive (stuck or ended), and
    the CPU seconds its receive thread had used by the last frame (0 where Linux's per-thread
    clocks are missing)."""

    def __init__(self, bridge) -> None:
        self.bridge, self.frames_not_alive, self.receiver_cpu_s = bridge, 0, 0.0
        self._thread: threading.Thread | None = None

    def on_frame(self, report) -> None:
        self.frames_not_alive += not self.bridge.receiver_health()["alive"]
        if self._thread is None or not self._thread.is_alive():  # the first frame, or a restarted receiver
            self._thread = next((t for t in threading.enumerate() if t.name == RECEIVE_THREAD), None)
        if self._thread is not None and hasattr(time, "pthread_getcpuclockid"):
            try:
                self.receiver_cpu_s = time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))
            except (OSError, ProcessLookupError):  # it ended in between
                pass

    def close(self) -> None:
        pass


def run_once(flood: str | None, seconds: float, heard: bool = True) -> dict:
    """One live run of ``seconds`` with ``flood`` (None: clean, no sender) sent to the loop's OSC
    port, or with ``heard`` False to nobody (the control); the loop's figures and the OSC counters."""
    from installation.config import load_config, override
    from installation.osc import OscBridge
    from tests.helpers.udp import free_udp_port

    config = override(load_config(), "source", mirror=False)
    runtime = live_runtime(config)
    port = free_udp_port()
    bridge = OscBridge(config.osc, runtime.inbox, listen=f"127.0.0.1:{port}")
    watch = ReceiverWatch(bridge)
    runtime.stages.listeners += [bridge, watch]
    runtime.stages.scenes.generators.warm_up()  # before the flood: run() warms up too, then at once
    sender = None
    if flood is not None:
        sender = subprocess.Popen([sys.executable, __file__, "--send", flood, str(port if heard else UNREAD),
                                   str(seconds + 1.0)], stdout=subprocess.PIPE, text=True)
    cpu = time.process_time()
    try:
        stats = runtime.run(max_wall_s=seconds)
        cpu = time.process_time() - cpu
    finally:
        told = json.loads(sender.communicate(timeout=60)[0]) if sender is not None else {}
        bridge.close()
    errors = stats.errors
    return {"render_fps": stats.render_fps, "latency_p95_ms": stats.latency_ms.p95,
            "stages_p50_ms": {name: row.p50 for name, row in stats.stages_ms.items()},
            "sent": told.get("sent", 0), "sender_cpu_s": told.get("cpu_s", 0.0), "loop_cpu_s": round(cpu, 3),
            "receiver_cpu_s": round(watch.receiver_cpu_s, 3),
            "osc": {key: value for key, value in bridge.counters().items() if value},
            "scene_switches_replaced": errors.get("scene_switches_replaced", 0),
            "frames_receiver_not_alive": watch.frames_not_alive}


def schedule(round_index: int) -> list[str]:
    """The runs of one round: clean, then each flood beside its control; each round starts one
    pair on and swaps each pair's order, so every run is first, and each side of a pair first, in turn."""
    pairs = [("clean",)] + [(f"{name}_control", name) for name in FLOODS]
    shift = round_index % len(pairs)
    pairs = pairs[shift:] + pairs[:shift]
    return [name for pair in pairs for name in (pair[::-1] if round_index % 2 else pair)]


def run(seconds: float, rounds: int) -> dict:
    """Clean, each flood and its control, interleaved; each flood's median render fps ÷ its control's."""
    load = [round(value, 2) for value in os.getloadavg()]
    runs: dict[str, list[dict]] = {name: [] for name in schedule(0)}
    for round_index in range(rounds):
        for name in schedule(round_index):
            flood = None if name == "clean" else name.removesuffix("_control")
            runs[name].append(run_once(flood, seconds, heard=not name.endswith("_control")))
            print(f"round {round_index + 1} {name}: {runs[name][-1]}", file=sys.stderr)

    def fps(name: str) -> float:
        return statistics.median(run["render_fps"] for run in runs[name])

    clean, figures = fps("clean"), {}
    for name in FLOODS:
        flooded, control = fps(name), fps(f"{name}_control")
        figures[f"osc_{name}_fps"] = {"value": round(flooded / control, 3), "target": TARGET,
                                      "meets": flooded / control >= TARGET, "render_fps": round(flooded, 2),
                                      "control_render_fps": round(control, 2), "clean_render_fps": round(clean, 2),
                                      "over_clean": round(flooded / clean, 3), "rate_per_s": RATES[name]}
    return {"figures": figures, "seconds_per_run": seconds, "rounds": rounds, "cpu_count": os.cpu_count(),
            "load_average_at_start": load, "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
            "runs": runs}


def source_note(entry: dict) -> str:
    """Where a figure comes from, for a table (also run_all.py's)."""
    return (f"{entry['render_fps']:.1f} fps under {entry['rate_per_s']:,.0f} datagrams/s ÷ "
            f"{entry['control_render_fps']:.1f} fps with the same sender to a socket nobody reads "
            f"(÷ {entry['clean_render_fps']:.1f} fps with no sender: {entry['over_clean']:.2f})")


def markdown(results: dict) -> str:
    lines = ["| figure | value | target | met | from |", "|---|---|---|---|---|"]
    for key, entry in results["figures"].items():
        lines.append(f"| {key} | {entry['value']:.2f} | ≥ {entry['target']} | {'yes' if entry['meets'] else 'no'} | "
                     f"{source_note(entry)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "osc_hostile.json")
    parser.add_argument("--send", nargs=3, metavar=("KIND", "PORT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send(args.send[0], int(args.send[1]), float(args.send[2]))
        return
    from installation.native_logs import silence_native_stderr

    silence_native_stderr()
    results = run(args.seconds, args.rounds)
    write_results(args.out, results, markdown(results))


if __name__ == "__main__":
    main()
