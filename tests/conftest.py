"""Shared test set-up: the project root on sys.path, no window, and the real media's location."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MEDIA = PROJECT_ROOT.parent / "shared" / "media"
ART = PROJECT_ROOT.parent / "shared" / "art"

sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One worker per core (pyproject.toml: -n auto): each worker's torch, OpenCV and onnxruntime
    # on one thread, or two workers' thread pools would fight over the same cores. Set before
    # anything imports torch; the subprocesses a test starts inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config) -> None:
    """One perception cache for the whole run (installation/perception_cache.py), made before the
    workers start so they all share it: a clip replayed by several tests goes through MediaPipe
    once, and every later replay of its frames reads the same observations back. A folder already
    in INSTALLATION_PERCEPTION_CACHE is kept across runs (the cache knows when the code changed)."""
    from installation.perception_cache import ENVIRONMENT  # after OMP_NUM_THREADS is set above

    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(ENVIRONMENT):
        return
    folder = tempfile.mkdtemp(prefix="perception-cache-")
    os.environ[ENVIRONMENT] = folder

    def remove() -> None:
        os.environ.pop(ENVIRONMENT, None)
        shutil.rmtree(folder, ignore_errors=True)

    config.add_cleanup(remove)


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per core this process may run on, at most four (each worker holds
    its own MediaPipe graphs and models; past four the suite is bound by its longest tests)."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip(f"real media not found at {MEDIA}")
    return MEDIA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread, and do not thrash a CPU shared with other work."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def art():
    """32 real images of each of two public art sets (openclipart, emoji), at 32 px."""
    from models.data import load_dataset

    sets = [ART / "openclipart_64.npz", ART / "emoji_64.npz"]
    if not all(s.is_file() for s in sets):
        pytest.skip(f"art data sets not found in {ART}")
    return load_dataset(sets, resolution=32, limit_per_theme=32)


def pytest_collection_modifyitems(config, items) -> None:
    """With several workers (pytest-xdist, ``--dist loadgroup``), the tests of a module that share a
    module- or session-scoped fixture of its own (a trained model, clips run through MediaPipe)
    go to one worker, so that fixture is made once rather than once on each worker."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        if any(defs[-1].scope in ("module", "session") and defs[-1].baseid.endswith(".py") for defs in definitions):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
