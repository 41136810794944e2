"""The README shows a still of every scene, and docs/scenes.md documents every parameter.

Cheap: no rendering. After adding a scene, run ``docs/render_stills.py NAME`` (after giving it
an entry in that script's ``STILLS``) and add the still to the README's scenes table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scenes import available_scenes, load_scene

ROOT = Path(__file__).resolve().parents[1]
SCENES = available_scenes()


@pytest.mark.parametrize("name", SCENES)
def test_every_scene_has_a_still_in_the_readme(name: str) -> None:
    still = ROOT / "docs" / "scenes" / f"{name}.png"
    assert still.is_file() and still.stat().st_size > 10_000, f"no still of {name}: run docs/render_stills.py {name}"
    assert f"(docs/scenes/{name}.png)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SCENES)
def test_every_scene_has_a_chosen_clip(name: str) -> None:
    assert f'"{name}": Still(' in (ROOT / "docs" / "render_stills.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SCENES)
def test_docs_describe_every_scene_and_parameter(name: str) -> None:
    text = (ROOT / "docs" / "scenes.md").read_text(encoding="utf-8")
    assert f"### `{name}`" in text
    missing = [spec.name for spec in load_scene(name).PARAMETERS if f"`{spec.name}`" not in text]
    assert not missing, f"docs/scenes.md does not describe {name}'s parameters {missing}"
