"""The show's plan: every part of the configuration that names scenes, times or places, parsed and
checked once, before anything is opened (a bad name is one line and exit 2, not a failure
mid-show), and then handed to ``build_stages`` as it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calibration.venue import Venue
from installation.config import PROJECT_ROOT, Config
from installation.errors import SceneError
from installation.scene_slot import parse_scene_params
from installation.schedule import OpeningHours, PlaylistEntry, parse_playlist
from installation.venue_stage import load_configured_venue
from scenes import SceneLibrary
from scenes.base import Scene


@dataclass(frozen=True)
class ShowPlan:
    library: SceneLibrary  # the built-in scenes and those of scene.folders
    scene: Scene  # the first scene (scene.name, or the playlist's first entry)
    playlist: tuple[PlaylistEntry, ...]
    hours: OpeningHours
    venue: Venue | None  # the calibrated venue (calibration.venue), if any
    scene_params: dict[str, dict[str, float]]  # scene.params, per scene


def plan_show(config: Config) -> ShowPlan:
    """Parse and check the show's names and times. Raises SceneError or ConfigError (one line)."""
    library = scene_library(config)
    entries = parse_playlist(config.show.playlist, library.names())
    scene = library.load(config.scene.name)
    names = [entry.scene for entry in entries]
    if names and scene.name not in names:
        scene = library.load(names[0])  # a playlist starts at its first entry, or at the chosen scene if it is one
    return ShowPlan(library, scene, entries, OpeningHours(config.show.hours),
                    load_configured_venue(config.calibration.venue), parse_scene_params(config.scene.params, library))


def scene_library(config: Config) -> SceneLibrary:
    """The built-in scenes and those in the configured extra folders. Raises SceneError when one
    of those is not a folder (a typo would otherwise only show as an unknown scene, or not at all)."""
    folders = [project_path(folder) for folder in config.scene.folders]
    for text, folder in zip(config.scene.folders, folders):
        if not folder.is_dir():
            why = "is a file, not a folder" if folder.exists() else "does not exist"
            shown = f" ({folder})" if str(folder) != text else ""
            raise SceneError(f"scene.folders: {text!r}{shown} {why}")
    return SceneLibrary(folders)


def project_path(text: str) -> Path:
    """A configured path: absolute as it is, relative to the project folder otherwise."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
