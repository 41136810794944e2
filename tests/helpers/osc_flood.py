"""Sends a flood of OSC datagrams to HOST PORT: a third garbage, a third unknown addresses, a
third valid control messages, paced over SECONDS. Prints the counts sent as JSON.

    python tests/helpers/osc_flood.py 127.0.0.1 9000 30000 4.0
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time

from pythonosc.osc_message_builder import OscMessageBuilder


def build(path: str, value: float) -> bytes:
    builder = OscMessageBuilder(address=path)
    builder.add_arg(value, "f")
    return builder.build().dgram


def main() -> None:
    host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    rng = random.Random(7)
    target = (host, port)
    sent = {"garbage": 0, "unknown": 0, "valid": 0}
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.perf_counter()
    for i in range(count):
        kind = ("garbage", "unknown", "valid")[i % 3]
        if kind == "garbage":  # never a '/' or '#' first: no OSC parser can take it
            data = bytes([rng.randrange(0x30, 0x7f)]) + rng.randbytes(rng.randrange(3, 60))
        elif kind == "unknown":
            data = build(f"/no/such/address/{i % 17}", 0.5)
        else:
            data = build("/wek/outputs", rng.random())
        out.sendto(data, target)
        sent[kind] += 1
        ahead = start + seconds * (i + 1) / count - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
