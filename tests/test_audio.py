"""Audio in (installation/audio_in.py, audio_analysis.py): a file with known beats, made here
deterministically (a kick and a click on every beat of 128 bpm, accents on the bar, over noise),
read in lockstep with media time at 60 fps: the onsets found match the beats (F1 >= 0.8 within
50 ms), the tempo is within 2 %, a second run gives the same features, the features go out as
/audio/*, and the attract scene answers them."""

from __future__ import annotations

import numpy as np
import pytest

soundfile = pytest.importorskip("soundfile")

from installation.audio_analysis import AudioAnalyser, AudioFeatures  # noqa: E402
from installation.audio_in import AudioError, AudioStage, FileAudio, open_audio  # noqa: E402
from installation.osc.addresses import OUT_ADDRESSES, is_sent_by_us  # noqa: E402
from installation.osc.sender import audio_messages  # noqa: E402

SAMPLE_RATE = 44100
BPM = 128.0
SECONDS = 20.0
FPS = 60
ONSET_TOLERANCE_S = 0.05  # MIREX's window for a correct onset


def beat_times() -> np.ndarray:
    return np.arange(0.5, SECONDS - 0.3, 60.0 / BPM)


def music(seed: int = 3) -> np.ndarray:
    """Mono float32: a kick (a falling sine) and a noise click on each beat, the bar's first louder,
    over steady noise at -26 dBFS (a room, a hiss)."""
    rng = np.random.default_rng(seed)
    samples = 0.05 * rng.standard_normal(int(SAMPLE_RATE * SECONDS))
    t = np.arange(int(0.15 * SAMPLE_RATE)) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 20)
    for index, beat in enumerate(beat_times()):
        click = 0.5 * rng.standard_normal(len(t)) * np.exp(-t * 200)
        start = int(beat * SAMPLE_RATE)
        samples[start:start + len(t)] += (0.6 if index % 4 == 0 else 0.36) * (kick + click)
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def music_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "beats_128.flac"
    soundfile.write(str(path), music(), SAMPLE_RATE)
    return path


def play(path, fps: int = FPS) -> list[AudioFeatures]:
    """The features at every frame of a replay at ``fps`` (media time in fixed steps)."""
    stage = AudioStage(FileAudio(path))
    try:
        return [stage.update(frame / fps) for frame in range(1, int(SECONDS * fps) + 1)]
    finally:
        stage.close()


def onset_f1(found: np.ndarray, truth: np.ndarray, tolerance_s: float) -> float:
    """F-measure with each true onset matched to at most one found within ``tolerance_s``."""
    unmatched, hits = list(found), 0
    for t in truth:
        near = [f for f in unmatched if abs(f - t) <= tolerance_s]
        if near:
            unmatched.remove(min(near, key=lambda f: abs(f - t)))
            hits += 1
    precision, recall = hits / max(len(found), 1), hits / len(truth)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def test_onsets_and_tempo_of_a_file_with_known_beats(music_file):
    frames = play(music_file)
    found = np.array([t for features in frames for t in features.onset_times_s])
    f1 = onset_f1(found, beat_times(), ONSET_TOLERANCE_S)
    tempo = frames[-1].tempo_bpm
    assert f1 >= 0.8, f"onset F1 {f1:.3f}: {len(found)} found for {len(beat_times())} beats"
    assert tempo is not None and abs(tempo - BPM) / BPM <= 0.02, f"tempo {tempo} for {BPM}"
    assert any(f.onset for f in frames) and all(0.0 <= f.level <= 1.0 for f in frames)


def test_a_replay_reads_the_file_in_step_with_media_time(music_file):
    """The same media times give the same features, and a frame has heard exactly the file up
    to its time: at 30 fps the onsets found are the same as at 60."""
    first, second = play(music_file), play(music_file)
    assert first == second
    at_60 = [t for f in first for t in f.onset_times_s]
    at_30 = [t for f in play(music_file, fps=30) for t in f.onset_times_s]
    assert at_30 == pytest.approx(at_60)


def test_bands_tell_bass_from_treble():
    analyser = AudioAnalyser(SAMPLE_RATE)
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    analyser.feed((0.5 * np.sin(2 * np.pi * 80 * t)).astype(np.float32))
    bass = analyser.features()
    analyser.feed((0.5 * np.sin(2 * np.pi * 8000 * t)).astype(np.float32))
    treble = analyser.features()
    assert bass.bands[0] > 0.8 and bass.bands[3] < 0.3
    assert treble.bands[3] > 0.8 and treble.bands[0] < 0.3
    assert bass.level == pytest.approx(1.0 + 10 * np.log10(0.25) / 60.0, abs=0.02)  # -6 dBFS


def test_the_features_go_out_as_audio_addresses():
    features = AudioFeatures(0.5, (0.1, 0.2, 0.3, 0.4), True, 0.9, (1.25,), 128.0)
    messages = [m.build() for m in audio_messages(features)]
    assert [m.address for m in messages] == ["/audio/level", "/audio/bands", "/audio/onset", "/audio/tempo"]
    assert messages[1].params == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert all(is_sent_by_us(m.address) for m in messages)
    documented = {a.path for a in OUT_ADDRESSES}
    assert {m.address for m in messages} <= documented
    quiet = [m.build().address for m in audio_messages(AudioFeatures.silent())]
    assert quiet == ["/audio/level", "/audio/bands"]  # no onset, no tempo yet: not sent


def test_a_missing_file_or_device_is_one_clear_error(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        open_audio(tmp_path / "nothing.wav", "", SAMPLE_RATE)
    (tmp_path / "not_audio.wav").write_text("hello")
    with pytest.raises(AudioError, match="cannot read audio file"):
        open_audio(tmp_path / "not_audio.wav", "", SAMPLE_RATE)
    # no such input device (or no PortAudio at all here): either way one line naming the fix
    with pytest.raises(AudioError, match="audio.enabled = false"):
        open_audio(None, "no such sound card 1234", SAMPLE_RATE)


def test_the_attract_scene_answers_loudness_and_onsets():
    from installation.feature_specs import Features
    from scenes.base import SceneInputs
    from scenes.dream_drift import DreamDriftScene

    def run(audio_at) -> list[np.ndarray]:
        scene = DreamDriftScene()
        scene.setup(8, seed=1)
        features = Features.neutral()
        return [scene.update(SceneInputs(features, i / 60.0, 1 / 60.0, audio=audio_at(i))).z for i in range(60)]

    silent = run(lambda i: None)
    quiet = run(lambda i: AudioFeatures.silent())
    loud_hit = run(lambda i: AudioFeatures(1.0, (1.0,) * 4, i == 30, 1.0 if i == 30 else 0.0))
    assert all(np.allclose(a, b) for a, b in zip(silent, quiet))  # silence moves nothing
    kick = np.linalg.norm(loud_hit[30] - loud_hit[29])
    glide = np.linalg.norm(silent[30] - silent[29])
    assert kick > 10 * glide  # an onset is a visible jolt
    assert np.linalg.norm(loud_hit[29] - loud_hit[0]) > np.linalg.norm(silent[29] - silent[0])  # loud: faster
