"""The artworks. Each module in this folder defines one scene and exports it as ``SCENE``."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from installation.errors import SceneError
from scenes.base import Scene


def available_scenes() -> list[str]:
    """Names of the scene modules in this folder."""
    folder = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if m.name != "base")


def load_scene(name: str) -> Scene:
    """A new instance of the scene called ``name``. Raises SceneError if there is none."""
    if name not in available_scenes():
        raise SceneError(f"unknown scene '{name}' (available: {', '.join(available_scenes())})")
    module = importlib.import_module(f"scenes.{name}")
    scene_class = getattr(module, "SCENE", None)
    if scene_class is None or not issubclass(scene_class, Scene):
        raise SceneError(f"scenes/{name}.py does not export a Scene subclass as SCENE")
    return scene_class()
