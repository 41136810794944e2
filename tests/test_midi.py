"""MIDI in: a CC moves a scene parameter, MIDI-learn binds the next control and stores it, MIDI
clock gives tempo, beats and bars, and changes asked for on the next beat or bar land there.
Times are handed in; nothing sleeps. A real port (python-rtmidi's virtual ports) is used where
the machine has an ALSA sequencer, and skipped where it has none."""

from __future__ import annotations

import json
import os

import mido
import pytest

from installation.control import CommandInbox, ControlCommand
from installation.midi import Binding, MidiControl, MidiError, save_bindings
from installation.quantize import BeatQuantiser
from installation.show import ShowControl, ShowState
from scenes.base import ParamSpec
from tests.helpers.waiting import wait_for

HAS_SEQUENCER = os.path.exists("/dev/snd/seq")


class FakeScene:
    name = "body_latent"
    PARAMETERS = (ParamSpec("gain", 0.0, 4.0, 1.2, "how far"),)

    def __init__(self, name: str = "body_latent") -> None:
        self.name = name
        self.params = {"gain": 1.2}


class FakeScenes:
    """The SceneSlot surface ShowControl uses here."""

    latent_dim = 4

    def __init__(self) -> None:
        self.scene = FakeScene()

    def switch(self, name: str, fade: bool = True) -> None:
        self.scene = FakeScene(name)

    def set_param(self, name: str, value: float) -> None:
        self.scene.params[name] = value


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def test_a_bound_cc_moves_a_scene_parameter_through_the_inbox(tmp_path):
    path = tmp_path / "bindings.json"
    save_bindings(path, {("cc", 0, 7): Binding("cc", 0, 7, "param", "gain", 0.0, 4.0)})
    inbox = CommandInbox()
    midi = MidiControl(inbox, path, clock=lambda: 0.0)
    for value in (10, 64, 127):  # a knob turned: latest wins in the inbox
        midi.handle(cc(7, value))
    midi.handle(cc(8, 50))  # unbound
    commands = inbox.drain()
    assert [(c.name, c.args) for c in commands] == [("scene_param", ("gain", 4.0))]
    assert midi.counters["unbound"] == 1
    scenes = FakeScenes()
    control = ShowControl(ShowState(), scenes)
    control.apply(commands[0], 0.0)
    assert scenes.scene.params["gain"] == 4.0


def test_midi_learn_binds_the_next_control_and_stores_it(tmp_path):
    path = tmp_path / "bindings.json"
    inbox = CommandInbox()
    midi = MidiControl(inbox, path, clock=lambda: 0.0)
    control = ShowControl(ShowState(), FakeScenes(), midi=midi)
    control.apply(ControlCommand("midi_learn", ("param", "gain")), 0.0)  # as /midi/learn param gain
    midi.handle(cc(21, 127, channel=2))  # the performer moves a knob
    assert [(c.name, c.args) for c in inbox.drain()] == [("scene_param", ("gain", 4.0))]
    stored = json.loads(path.read_text())
    assert stored == [{"kind": "cc", "channel": 2, "number": 21, "action": "param", "target": "gain",
                       "low": 0.0, "high": 4.0, "when": "now"}]
    again = MidiControl(CommandInbox(), path)  # the next run reads it
    assert again.bindings[("cc", 2, 21)].target == "gain"
    midi.handle(cc(21, 0, channel=2))
    assert inbox.drain()[0].args == ("gain", 0.0)


def test_notes_switch_scenes_and_styles_on_press_only(tmp_path):
    path = tmp_path / "bindings.json"
    save_bindings(path, {("note", 9, 36): Binding("note", 9, 36, "scene", "next", when="bar"),
                         ("note", 9, 38): Binding("note", 9, 38, "style", "starry_night")})
    inbox = CommandInbox()
    midi = MidiControl(inbox, path, clock=lambda: 0.0)
    midi.handle(mido.Message("note_on", channel=9, note=36, velocity=100))
    midi.handle(mido.Message("note_on", channel=9, note=36, velocity=0))  # release
    midi.handle(mido.Message("note_on", channel=9, note=38, velocity=90))
    assert [(c.name, c.args) for c in inbox.drain()] == [("scene", ("next", "bar")), ("style_set", ("starry_night",))]


def test_a_bad_bindings_file_is_one_clear_error(tmp_path):
    path = tmp_path / "bindings.json"
    path.write_text('[{"kind": "knob"}]')
    with pytest.raises(MidiError, match="bindings.json is unreadable"):
        MidiControl(CommandInbox(), path)


def clock_run(midi: MidiControl, bpm: float, beats: int, start_s: float = 0.0) -> float:
    """Start, then ``beats`` beats of clock at ``bpm``; returns the time after the last tick."""
    tick_s, t = 60.0 / bpm / 24, start_s
    midi.handle(mido.Message("start"), t)
    for _ in range(24 * beats):
        midi.handle(mido.Message("clock"), t)
        t += tick_s
    return t


def test_midi_clock_gives_tempo_beats_and_the_downbeat(tmp_path):
    inbox = CommandInbox(capacity=10_000)
    midi = MidiControl(inbox, tmp_path / "b.json")
    beats, tempi = [], []
    tick_s, t = 60.0 / 128.0 / 24, 0.0
    midi.handle(mido.Message("start"), t)
    for _ in range(24 * 8):
        midi.handle(mido.Message("clock"), t)
        for command in inbox.drain():
            (beats if command.name == "beat" else tempi).append((t, command.args))
        t += tick_s
    assert len(beats) == 8 and beats[0][1] == ("downbeat",) and all(args == () for _, args in beats[1:])
    assert [round(b[0] / (60.0 / 128.0), 6) for b in beats] == list(range(8))
    assert len(tempi) == 1 and abs(tempi[0][1][0] - 128.0) < 1e-6


def test_the_show_follows_midi_clock_bars(tmp_path):
    inbox = CommandInbox(capacity=10_000)
    midi = MidiControl(inbox, tmp_path / "b.json")
    state = ShowState()
    control = ShowControl(state, FakeScenes())
    tick_s, t = 60.0 / 120.0 / 24, 10.0
    midi.handle(mido.Message("start"), t)
    for _ in range(24 * 6 + 1):  # six beats at 120 bpm, then the tick that starts the seventh
        midi.handle(mido.Message("clock"), t)
        for command in inbox.drain():
            control.apply(command, t)
        t += tick_s
    now = 10.0 + 6 * 0.5
    assert state.tempo_bpm == pytest.approx(120.0)
    phase = state.beat_phase(now)
    assert min(phase, 1.0 - phase) < 1e-6  # on the beat (summed tick times round either way)
    assert state.beats_done(now) == pytest.approx(6.0, abs=1e-6)


def test_a_scene_change_asked_mid_bar_lands_on_the_next_bar():
    state = ShowState(tempo_bpm=120.0, beat_origin_s=0.0)  # beats every 0.5 s, bars of 4: every 2 s
    scenes = FakeScenes()
    control = ShowControl(state, scenes, scene_switch_interval_s=0.0, quantiser=BeatQuantiser(4, lead_s=0.05))
    control.apply(ControlCommand("scene", ("set", "dream_drift", "bar")), 0.7)  # mid-bar
    switched_at, t = None, 0.7
    while t < 3.0 and switched_at is None:
        control.apply_waiting(t)
        if scenes.scene.name == "dream_drift":
            switched_at = t
        t = round(t + 0.01, 6)
    assert switched_at == pytest.approx(2.0 - 0.05)  # the bar at 2 s, early by the display's latency
    control.apply(ControlCommand("scene_param", ("gain", 3.0, "beat")), 2.1)
    control.apply_waiting(2.4)
    assert scenes.scene.params["gain"] == 1.2
    control.apply_waiting(2.45)
    assert scenes.scene.params["gain"] == 3.0


def test_without_a_tempo_a_quantised_change_lands_at_once():
    scenes = FakeScenes()
    control = ShowControl(ShowState(), scenes, scene_switch_interval_s=0.0)
    control.apply(ControlCommand("scene", ("set", "dream_drift", "beat")), 1.0)
    assert scenes.scene.name == "dream_drift"


def test_a_missing_port_is_one_clear_error(tmp_path):
    with pytest.raises(MidiError) as error:
        MidiControl(CommandInbox(), tmp_path / "b.json").open("no such port 7f3a")
    assert "\n" not in str(error.value)
    assert "midi" in str(error.value).lower()


@pytest.mark.skipif(not HAS_SEQUENCER, reason="no ALSA sequencer (/dev/snd/seq) on this machine")
def test_a_cc_through_a_virtual_port_moves_a_parameter(tmp_path):
    path = tmp_path / "bindings.json"
    save_bindings(path, {("cc", 0, 1): Binding("cc", 0, 1, "param", "gain", 0.0, 4.0)})
    inbox = CommandInbox()
    with mido.open_output("installation-test-controller", virtual=True) as controller:
        midi = MidiControl(inbox, path).open("installation-test-controller")
        try:
            controller.send(cc(1, 127))
            commands = []
            wait_for(lambda: commands.extend(inbox.drain()) or commands, "the CC as a command")  # rtmidi's thread
        finally:
            midi.close()
    assert [(c.name, c.args) for c in commands] == [("scene_param", ("gain", 4.0))]
