"""The scene slot: crossfades (latent for one model, pixels across models), hot reload in
development mode, the playlist and the opening hours in the loop."""

from __future__ import annotations

import datetime as dt
import logging
import os
import textwrap

import numpy as np
import pytest

from installation.app import RunOptions, build_stages, configure
from installation.clock import FixedStepClock, ManualClock
from installation.config import GeneratorConfig, load_config, override
from installation.contracts import LatentState, TrackedBody
from installation.display import HeadlessDisplay, NullSink
from installation.features import FeatureExtractor
from installation.file_sources import VideoFileSource
from installation.generator_pool import GeneratorPool
from installation.runtime import Runtime
from installation.scene_kit.blend import blend_pixels
from installation.scene_slot import SceneSlot
from models.latent_tools import slerp
from scenes import SceneLibrary
from scenes.base import SceneInputs
from tests.conftest import PROJECT_ROOT

SMALL = GeneratorConfig(model="cppn", resolution=32, latent_dim=8, seed=7, device="cpu", torch_threads=0)

CONSTANT_SCENE = '''
"""A test scene: a constant latent."""
import numpy as np
from installation.contracts import LatentState
from scenes.base import ParamSpec, Scene

class Constant(Scene):
    MODEL = {model!r}
    PARAMETERS = (ParamSpec("level", -2.0, 2.0, {level}, "the latent's every value"),)

    def setup(self, latent_dim, seed, tools=None):
        self.latent_dim = latent_dim

    def update(self, inputs):
        {body}
        return LatentState(np.full(self.latent_dim, self.params["level"], np.float32), {{}})

SCENE = Constant
'''


def write_scene(folder, name, level=0.5, model=None, body="pass"):
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(CONSTANT_SCENE.format(model=model, level=level, body=body)))
    stat = path.stat()  # a fresh mtime even within the file system's timestamp resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    return path


def inputs_at(t: float) -> SceneInputs:
    features = FeatureExtractor(image_aspect=16 / 9).update(TrackedBody.nobody(t))
    return SceneInputs(features, t, 1 / 30)


def test_a_crossfade_between_scenes_of_one_model_morphs_through_latent_space(tmp_path):
    write_scene(tmp_path, "low", level=-1.0)
    write_scene(tmp_path, "high", level=1.0)
    library = SceneLibrary([tmp_path])
    pool = GeneratorPool(SMALL)
    slot = SceneSlot(library.load("low"), pool, seed=7, library=library, crossfade_s=1.0)
    slot.draw(slot.update(inputs_at(0.0)), inputs_at(0.0))
    slot.switch("high")
    assert slot.fading and slot.scene.name == "high"
    halfway = inputs_at(0.5)
    slot.draw(slot.update(inputs_at(0.0)), inputs_at(0.0))  # the fade starts here
    picture = slot.draw(slot.update(halfway), halfway)
    z = slerp(np.full(8, -1.0, np.float32), np.full(8, 1.0, np.float32), 0.5)  # smoothstep(0.5) = 0.5
    expected = GeneratorPool(SMALL).default.render(LatentState(z, {}))
    assert np.array_equal(picture, expected), "one render of the blended latent"
    end = inputs_at(1.01)
    slot.draw(slot.update(end), end)
    assert not slot.fading


def test_a_crossfade_between_models_blends_pixels(tmp_path):
    write_scene(tmp_path, "drawn", level=0.5)
    write_scene(tmp_path, "learned", level=0.5, model="vae_art64")
    library = SceneLibrary([tmp_path])
    pool = GeneratorPool(SMALL)
    slot = SceneSlot(library.load("drawn"), pool, seed=7, library=library, crossfade_s=2.0)
    old = slot.draw(slot.update(inputs_at(0.0)), inputs_at(0.0))
    slot.switch("learned")
    assert slot.generator is not pool.default and slot.generator.resolution == 64
    slot.draw(slot.update(inputs_at(1.0)), inputs_at(1.0))  # starts at t = 1
    quarter = inputs_at(1.5)  # (1.5 - 1) / 2 = 0.25 -> smoothstep 0.15625
    picture = slot.draw(slot.update(quarter), quarter)
    new = slot.generator.render(LatentState(np.full(32, 0.5, np.float32), {}))
    assert old.shape == (32, 32, 3) and new.shape == picture.shape == (64, 64, 3), "at the larger size"
    assert np.array_equal(picture, blend_pixels(old, new, 0.15625))


def test_an_outgoing_scene_that_fails_to_compose_is_cut_not_blamed_on_the_new_one(tmp_path):
    # a crossfade between models blends the two composed pictures; if the leaving scene's compose
    # raises, the fade ends on the incoming picture and the incoming scene keeps showing
    write_scene(tmp_path, "learned", level=0.5, model="vae_art64")
    broken = write_scene(tmp_path, "broken", level=0.5)
    broken.write_text(broken.read_text().replace(
        "SCENE = Constant", "Constant.compose = lambda self, image, inputs: 1 / 0\nSCENE = Constant"))
    library = SceneLibrary([tmp_path])
    pool = GeneratorPool(SMALL)
    slot = SceneSlot(library.load("broken"), pool, seed=7, library=library, crossfade_s=2.0)
    slot.update(inputs_at(0.0))
    slot.switch("learned")
    slot.draw(slot.update(inputs_at(1.0)), inputs_at(1.0))  # the fade starts: the leaving compose raises
    picture = slot.draw(slot.update(inputs_at(1.5)), inputs_at(1.5))
    assert not slot.fading and slot.scene.name == "learned"
    assert np.array_equal(picture, slot.generator.render(LatentState(np.full(32, 0.5, np.float32), {})))


def replay_runtime(media, tmp_path, **scene):
    config = override(override(load_config(), "osc", listen=""), "scene", folders=(str(tmp_path),), **scene)
    config = override(config, "generator", resolution=32)
    clip = media / "video" / "intel_asl" / "again.mkv"
    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, ManualClock(), lockstep=True)  # wall time moves only when a test says
    runtime.stages.scenes.generators.warm_up()
    return runtime


def level_shown(runtime) -> float:
    return float(runtime.stages.scenes.last_state.z[0])


def test_hot_reload_picks_up_a_saved_scene_and_a_broken_edit_keeps_the_old_one(media, tmp_path, caplog):
    write_scene(tmp_path, "pulse", level=0.5)
    runtime = replay_runtime(media, tmp_path, name="pulse", reload=True, crossfade_s=0.0)
    try:
        for _ in range(3):
            runtime.step()
        assert level_shown(runtime) == 0.5
        runtime.stages.scenes.set_param("level", 0.5)  # as /scene/param does

        write_scene(tmp_path, "pulse", level=-0.25)  # an artist saves an edit: a new default
        runtime.clock.advance_wall(0.6)  # development mode looks at the file twice a second
        runtime.step()
        assert runtime.stages.scenes.scene.PARAMETERS[0].default == -0.25
        assert level_shown(runtime) == 0.5, "the operator's value survives the reload"
        runtime.stages.scenes.set_param("level", -0.25)
        runtime.step()
        assert level_shown(runtime) == -0.25

        (tmp_path / "pulse.py").write_text("this is not python (\n")  # a broken save
        runtime.clock.advance_wall(0.6)
        with caplog.at_level(logging.ERROR):
            runtime.step()
        assert "reloading scene pulse failed, keeping the running version" in caplog.text
        assert "SyntaxError" in caplog.text
        assert level_shown(runtime) == -0.25 and runtime.stages.scenes.scene.name == "pulse"

        write_scene(tmp_path, "pulse", level=1.5, body="raise RuntimeError('half-finished edit')")
        runtime.clock.advance_wall(0.6)
        with caplog.at_level(logging.ERROR):
            runtime.step()  # loads, raises in its first frame: back to the version before it
            runtime.step()
        assert "back to the version before the edit" in caplog.text
        assert runtime.stages.scenes.scene.name == "pulse" and level_shown(runtime) == -0.25
    finally:
        runtime.close()


def test_the_playlist_switches_scenes_at_their_durations_in_replay(media, tmp_path):
    config = override(override(load_config(), "osc", listen=""), "show", playlist=("body_latent:1", "dream_drift:0.5"))
    config = override(override(config, "generator", resolution=32), "scene", crossfade_s=0.2)
    clip = media / "video" / "intel_asl" / "again.mkv"
    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    seen = []
    try:
        runtime.stages.scenes.generators.warm_up()
        while runtime.running and len(seen) < 75:
            runtime.step()
            seen.append((runtime.clock.now(), runtime.stages.scenes.scene.name))
    finally:
        runtime.close()
    changes = [(round(t, 2), name) for i, (t, name) in enumerate(seen) if i == 0 or name != seen[i - 1][1]]
    assert [name for _, name in changes[:3]] == ["body_latent", "dream_drift", "body_latent"]
    start = seen[0][0]
    assert changes[1][0] == pytest.approx(start + 1.0, abs=0.05)
    assert changes[2][0] == pytest.approx(start + 1.5, abs=0.05)


def test_outside_the_opening_hours_the_screen_sleeps_and_wakes_at_opening(media, tmp_path):
    config = override(override(load_config(), "osc", listen=""), "show", hours=("mon-fri 10:00-18:00",))
    config = override(config, "generator", resolution=32)
    clip = media / "video" / "intel_asl" / "again.mkv"
    shown = []

    class Sink:
        def write(self, pixels):
            shown.append(pixels.mean())

        def close(self):
            pass

    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", Sink()))
    now = [dt.datetime(2026, 11, 30, 9, 58)]  # a Monday, before opening
    runtime = Runtime(stages, FixedStepClock(), lockstep=False, local_time=lambda: now[0])
    runtime._advance_time = lambda frame: frame.timestamp_s if frame is not None else 0.0  # media time, no pacing
    try:
        runtime.stages.scenes.generators.warm_up()
        for _ in range(5):
            runtime.step()
        assert runtime.asleep and shown and max(shown) == 0.0
        assert runtime.telemetry.rendered_frames == 0
        now[0] = dt.datetime(2026, 11, 30, 10, 0)
        for _ in range(5):
            runtime.step()
        assert not runtime.asleep and runtime.telemetry.rendered_frames > 0 and max(shown[5:]) > 0.0
    finally:
        runtime.close()


def test_a_scene_whose_compose_raises_is_replaced_by_the_fallback(media, tmp_path, caplog):
    path = write_scene(tmp_path, "painter", level=0.5)
    path.write_text(path.read_text().replace("SCENE = Constant", (
        "class Painter(Constant):\n"
        "    def compose(self, image, inputs):\n"
        "        raise ValueError('brush broke')\n\n"
        "SCENE = Painter\n")))
    runtime = replay_runtime(media, tmp_path, name="painter", crossfade_s=0.0)
    try:
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                runtime.step()
        assert runtime.stages.scenes.scene.name == "dream_drift"
        assert "scene painter raised" in caplog.text and "brush broke" in caplog.text
        assert runtime.telemetry.rendered_frames == 3, "every frame was still shown"
    finally:
        runtime.close()


def test_scene_parameters_come_from_the_config_and_osc_values_survive_a_switch(media, tmp_path):
    write_scene(tmp_path, "pulse", level=0.5)
    runtime = replay_runtime(media, tmp_path, name="pulse", crossfade_s=0.0,
                             params=("pulse.level=1.25", "dream_drift.pulse=1.5"))
    try:
        runtime.step()
        assert level_shown(runtime) == 1.25
        runtime.stages.scenes.set_param("level", -1.0)  # as /scene/param does
        runtime.stages.scenes.switch("dream_drift")
        assert runtime.stages.scenes.scene.params["pulse"] == 1.5
        runtime.stages.scenes.switch("pulse")
        runtime.step()
        assert level_shown(runtime) == -1.0
    finally:
        runtime.close()


@pytest.mark.parametrize("entry, message", [
    ("pulse.level=9", r"pulse.level = 9.0: expected a number in -2.0..2.0"),
    ("pulse.loudness=1", "has no parameter 'loudness'"),
    ("nowhere.level=1", "unknown scene 'nowhere'"),
    ("pulse.level", "expected 'scene.parameter=number'"),
])
def test_bad_scene_parameters_in_the_config_are_named(tmp_path, entry, message):
    from installation.errors import ConfigError
    from installation.scene_slot import parse_scene_params

    write_scene(tmp_path, "pulse", level=0.5)
    with pytest.raises(ConfigError, match=message):
        parse_scene_params((entry,), SceneLibrary([tmp_path]))


@pytest.mark.parametrize("chosen, first", [(None, "dream_drift"), ("themes", "themes"), ("air_sketch", "dream_drift")])
def test_a_playlist_starts_at_the_chosen_scene_if_it_is_an_entry_else_at_its_first(media, tmp_path, chosen, first):
    # config.toml's scene (body_latent) is not in this playlist; --scene picks where it starts
    config_file = tmp_path / "config.toml"
    config_file.write_text((PROJECT_ROOT / "config.toml").read_text(encoding="utf-8").replace(
        "playlist = []", 'playlist = ["dream_drift:5", "themes:5"]', 1), encoding="utf-8")
    config = configure(RunOptions(config_path=config_file, scene=chosen))
    stages = build_stages(override(config, "osc", listen=""), VideoFileSource(media / "video" / "intel_asl" / "again.mkv"),
                          HeadlessDisplay((64, 36), "cover", NullSink()))
    Runtime(stages, FixedStepClock(), lockstep=True).close()
    assert stages.scenes.scene.name == first
    assert stages.playlist.names()[stages.playlist.index] == first
