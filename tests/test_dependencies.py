"""The lock files pin every package and agree with the direct pins they were compiled from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif match := PIN.match(line.strip()):
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


@pytest.mark.parametrize("direct, lock", [("requirements.txt", "requirements.lock"),
                                          ("requirements-dev.txt", "requirements-dev.lock")])
def test_each_lock_holds_every_direct_pin_at_its_version(direct, lock):
    wanted, locked = pins(ROOT / direct), pins(ROOT / lock)
    assert {name: locked.get(name) for name in wanted} == wanted
    assert len(locked) > 2 * len(wanted)  # the transitive packages (jax, protobuf, ...) are pinned too
    assert "opencv-python" not in locked  # mediapipe brings opencv-contrib-python: two cv2 packages clash


def test_every_line_of_a_lock_is_an_exact_pin():
    for lock in ("requirements.lock", "requirements-dev.lock"):
        for line in (ROOT / lock).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                assert PIN.match(line), f"{lock}: {line!r} is not name==version"
                assert "+" not in line, f"{lock}: {line!r} pins a local build that other machines lack"
