"""Playlists and opening hours: parsing with clear errors, and what is due when."""

from __future__ import annotations

import datetime as dt

import pytest

from installation.errors import ConfigError
from installation.schedule import OpeningHours, Playlist, PlaylistEntry, parse_playlist

SCENES = ["body_latent", "dream_drift", "themes"]


def test_a_playlist_parses_and_runs_each_entry_for_its_duration():
    playlist = Playlist(parse_playlist(("body_latent:10", "dream_drift:2.5"), SCENES))
    assert playlist.entries == (PlaylistEntry("body_latent", 10.0), PlaylistEntry("dream_drift", 2.5))
    assert playlist.due(0.0) is None
    assert playlist.due(9.9) is None
    assert playlist.due(10.0) == "dream_drift"
    assert playlist.due(12.4) is None
    assert playlist.due(12.5) == "body_latent"  # and round again


def test_time_in_the_attract_mode_does_not_count_and_next_moves_along():
    playlist = Playlist(parse_playlist(("body_latent:10", "dream_drift:10", "themes:10"), SCENES))
    playlist.due(0.0)
    playlist.pause_for(5.0)
    assert playlist.due(14.0) is None and playlist.due(15.0) == "dream_drift"
    assert playlist.move(-1, 16.0) == "body_latent"
    assert playlist.move(-1, 16.0) == "themes"
    assert playlist.due(25.9) is None and playlist.due(26.0) == "body_latent"


@pytest.mark.parametrize("entry, message", [
    ("nowhere:10", "show.playlist entry 'nowhere:10': unknown scene 'nowhere'"),
    ("body_latent", "expected 'scene:seconds' with seconds > 0"),
    ("body_latent:-3", "expected 'scene:seconds' with seconds > 0"),
    ("body_latent:soon", "expected 'scene:seconds' with seconds > 0"),
])
def test_a_bad_playlist_entry_is_named(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_playlist((entry,), SCENES)


def at(day: str, clock: str) -> dt.datetime:
    days = {"mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7, "sun": 8}  # 2026-11-02 is a Monday
    hour, minute = map(int, clock.split(":"))
    return dt.datetime(2026, 11, days[day], hour, minute)


def test_opening_hours_by_weekday():
    hours = OpeningHours(("mon-fri 10:00-18:00", "sat,sun 11:00-16:30"))
    assert not hours.always_open
    assert hours.is_open(at("wed", "10:00")) and hours.is_open(at("fri", "17:59"))
    assert not hours.is_open(at("wed", "09:59")) and not hours.is_open(at("wed", "18:00"))
    assert hours.is_open(at("sun", "16:29")) and not hours.is_open(at("sat", "10:30"))
    assert OpeningHours(()).is_open(at("mon", "03:00"))


def test_a_range_past_midnight_belongs_to_the_day_it_starts():
    hours = OpeningHours(("fri 20:00-02:00",))
    assert hours.is_open(at("fri", "23:30")) and hours.is_open(at("sat", "01:59"))
    assert not hours.is_open(at("sat", "02:00")) and not hours.is_open(at("fri", "01:00"))
    assert OpeningHours(("sun 22:00-01:00",)).is_open(at("mon", "00:30"))  # wraps round the week


@pytest.mark.parametrize("spec, message", [
    ("10:00-18:00", "expected 'DAYS HH:MM-HH:MM'"),
    ("mon-fry 10:00-18:00", "days must be like mon"),
    ("mon 10:00", "expected a time range"),
    ("mon 25:00-26:00", "'25:00' is not a time HH:MM"),
    ("mon 10:00-10:00", "the range is empty"),
])
def test_malformed_hours_are_named(spec, message):
    with pytest.raises(ConfigError, match=message):
        OpeningHours((spec,))
