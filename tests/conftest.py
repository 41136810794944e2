"""Shared test set-up: the project root on sys.path, no window, and the real media's location."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MEDIA = PROJECT_ROOT.parent / "shared" / "media"
ART = PROJECT_ROOT.parent / "shared" / "art"

sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


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
