"""config.toml is validated before anything opens: unknown keys, wrong types, out-of-range values."""

from __future__ import annotations

import pytest

from installation.config import DEFAULT_CONFIG_PATH, Config, ConfigError, config_from_dict, load_config, override


def test_shipped_config_loads_and_matches_the_code_defaults():
    assert load_config(DEFAULT_CONFIG_PATH) == Config()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"perception": {"pose_model_complexity": 5}}, "perception.pose_model_complexity = 5: expected an integer in 1..1"),
        ({"perception": {"modle_complexity": 1}}, "unknown key 'perception.modle_complexity'"),
        ({"sound": {}}, "unknown key 'sound'"),
        ({"display": {"width": "wide"}}, "display.width = 'wide': expected an integer"),
        ({"display": {"fullscreen": "yes"}}, "display.fullscreen = 'yes': expected true or false"),
        ({"display": {"fit": "zoom"}}, "display.fit = 'zoom': expected one of 'cover', 'contain', 'stretch'"),
        ({"smoothing": {"beta": -1}}, "smoothing.beta = -1.0: expected a number in 0.0..1000.0"),
        ({"generator": {"resolution": True}}, "generator.resolution = True: expected an integer"),
        ({"source": {"camera": 1.5}}, "source.camera = 1.5: expected an integer or a string"),
        ({"display": 3}, "[display] must be a table"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_expected(data, message):
    with pytest.raises(ConfigError) as error:
        config_from_dict(data)
    assert message in str(error.value)


def test_integers_are_accepted_where_numbers_are_expected():
    assert config_from_dict({"display": {"target_fps": 30}}).display.target_fps == 30.0


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[display\nwidth = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)


def test_command_line_overrides_are_validated_like_the_file():
    config = override(Config(), "perception", schedule="threaded")
    assert config.perception.schedule == "threaded"
    with pytest.raises(ConfigError, match="perception.schedule = 'parallel'"):
        override(Config(), "perception", schedule="parallel")
