"""The artworks. Each module in this folder defines one scene and exports it as ``SCENE``.

Scenes are found by file name: ``scenes/<name>.py`` here, then in any extra folders the
configuration names (``scene.folders``: an artist's own pieces, kept outside this repository).
Each load reads the file afresh into a module of its own, so a changed file can be loaded again
while the old version keeps running (hot reload in development mode, see ``SceneLibrary``).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from installation.errors import SceneError
from scenes.base import Scene

log = logging.getLogger(__name__)

BUILT_IN = Path(__file__).parent
_NOT_SCENES = {"base"}  # and every module whose name starts with "_"
_load_counter = itertools.count()  # a fresh module name per load, so versions never clash


class SceneLibrary:
    """Scene files by name, across the built-in folder and any extra ones (earlier folders win)."""

    def __init__(self, folders: Sequence[Path] = ()) -> None:
        self.folders = (BUILT_IN, *(Path(folder) for folder in folders))

    def names(self) -> list[str]:
        """Names of the scenes found, sorted."""
        return sorted(self._files())

    def path_of(self, name: str) -> Path:
        """The file scene ``name`` is loaded from. Raises SceneError if there is none."""
        files = self._files()
        if name not in files:
            raise SceneError(f"unknown scene '{name}' (available: {', '.join(sorted(files))})")
        return files[name]

    def load(self, name: str) -> Scene:
        """A new instance of scene ``name``, read from its file now.

        Raises SceneError if there is no such scene, or if its file fails to import, does not
        export a Scene subclass as ``SCENE``, or its constructor raises (the message says which).
        """
        path = self.path_of(name)
        module_name = f"scenes._loaded.{name}_{next(_load_counter)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise SceneError(f"{path}: cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and typing look the module up while it runs
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # artist code: any failure is a scene that can't be used
            raise SceneError(f"{path} failed to import: {type(error).__name__}: {error}") from error
        finally:
            sys.modules.pop(module_name, None)  # nothing imports it by name; let old versions go
        scene_class = getattr(module, "SCENE", None)
        if not (isinstance(scene_class, type) and issubclass(scene_class, Scene)):
            raise SceneError(f"{path} does not export a Scene subclass as SCENE")
        try:
            scene = scene_class()
        except Exception as error:
            raise SceneError(f"{path}: {scene_class.__name__}() raised {type(error).__name__}: {error}") from error
        scene.name = name  # the file name is the scene's name, whatever the class says
        scene.description = (module.__doc__ or "").strip()
        return scene

    def _files(self) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for folder in self.folders:
            for path in sorted(folder.glob("*.py")):
                if path.stem not in _NOT_SCENES and not path.stem.startswith("_"):
                    files.setdefault(path.stem, path)
        return files


def available_scenes() -> list[str]:
    """Names of the built-in scenes."""
    return SceneLibrary().names()


def load_scene(name: str) -> Scene:
    """A new instance of the built-in scene called ``name``. Raises SceneError if there is none."""
    return SceneLibrary().load(name)
