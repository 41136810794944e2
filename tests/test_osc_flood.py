"""A flood of OSC during a headless replay: the replay completes and every datagram is counted
as what it was. (How much the flood slows the loop is measured in benchmarks/osc_flood.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers.udp import free_udp_port, port_in_use
from installation.app import RunOptions, run

ROOT = Path(__file__).resolve().parents[1]
FLOOD = ROOT / "tests" / "helpers" / "osc_flood.py"


def test_replay_completes_under_a_flood_and_counts_every_datagram(tmp_path, media):
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text().replace("sender_rate = 500.0", "sender_rate = 1000000.0"))
    port = free_udp_port()
    sent: dict = {}

    def flood() -> None:
        while not port_in_use(port):  # wait until the replay listens (models load first)
            time.sleep(0.05)
        result = subprocess.run([sys.executable, str(FLOOD), "127.0.0.1", str(port), "30000", "3.0"],
                                capture_output=True, text=True, timeout=120, check=True)
        sent.update(json.loads(result.stdout))

    flooder = threading.Thread(target=flood)
    flooder.start()
    clip = media / "video" / "intel_asl" / "book.mkv"  # 109 frames: the flood lands mid-replay
    stats = run(RunOptions(config_path=config, source=str(clip), headless=True, osc_in=f"127.0.0.1:{port}",
                           size=(64, 36)))
    flooder.join()
    assert stats["frames"] == stats["rendered_frames"] == 109  # the replay completed, every frame
    errors = stats["errors"]
    assert sent == {"garbage": 10000, "unknown": 10000, "valid": 10000}
    assert errors["osc_malformed"] == sent["garbage"]
    assert errors["osc_unknown_address"] == sent["unknown"]
    assert errors["osc_bad_arguments"] == 0 and errors["osc_rate_limited"] == 0
