"""Sends a flood of OSC datagrams to HOST PORT: a third garbage, a third unknown addresses, a
third valid control messages, as fast as the receiver reads them: after every BATCH datagrams a
/ping, and the next batch only once its /pong is back (the receiver reads in order, so then it
has read the batch; no datagram is lost to a full socket buffer, and no clock paces it). Prints
the counts sent (pings not counted) as JSON.

    python tests/helpers/osc_flood.py 127.0.0.1 9000 30000 1000
"""

from __future__ import annotations

import json
import random
import socket
import sys

from pythonosc.osc_message_builder import OscMessageBuilder


def build(path: str, value: float) -> bytes:
    builder = OscMessageBuilder(address=path)
    builder.add_arg(value, "f")
    return builder.build().dgram


def main() -> None:
    host, port, count, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(7)
    target = (host, port)
    sent = {"garbage": 0, "unknown": 0, "valid": 0}
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.settimeout(60.0)  # a guard against a receiver that died, not a pace
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
        if (i + 1) % batch == 0 or i + 1 == count:
            out.sendto(OscMessageBuilder(address="/ping").build().dgram, target)
            while out.recv(65536).find(b"/pong") < 0:  # the /pong of this batch's ping
                pass
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
