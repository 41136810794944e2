"""Audio in: a live input (sounddevice, PortAudio) or a WAV/FLAC file (soundfile), analysed once a
frame into ``AudioFeatures`` for the scenes and OSC out (installation/audio_analysis.py).

- **Live**: PortAudio's callback thread hands blocks to a bounded ring (``MAX_QUEUED_BLOCKS``;
  when the loop falls behind the oldest block is dropped and counted), the loop drains it at each
  frame. A device that fails during the show (unplugged, overrun) is logged and counted, and
  the picture goes on with silence.
- **File**: read in lockstep with media time: at a frame at media time ``now`` the analyser
  has had exactly the file's samples up to ``now``, whatever the machine's speed, so a replay
  is deterministic. After the file ends, silence.

``open_audio`` raises ``AudioError`` (one line, exit status 2 at start) for a device or file
asked for that is not there.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path

import numpy as np

from installation.audio_analysis import AudioAnalyser, AudioFeatures
from installation.errors import InstallationError

log = logging.getLogger(__name__)

MAX_QUEUED_BLOCKS = 64  # about 0.75 s of 512-sample blocks at 44.1 kHz waiting for the loop
LIVE_BLOCK = 512


class AudioError(InstallationError):
    """An audio device or file asked for in the configuration cannot be opened."""


class FileAudio:
    """A sound file as the music, read up to each frame's media time (mono: channels averaged)."""

    def __init__(self, path: Path, counters: collections.Counter | None = None) -> None:
        import soundfile  # only when audio comes from a file

        try:
            self._file = soundfile.SoundFile(str(path))
        except (RuntimeError, OSError, soundfile.LibsndfileError) as error:
            raise AudioError(f"cannot read audio file {path}: {error}; set audio.file to a WAV or FLAC file") from None
        self.sample_rate = int(self._file.samplerate)
        self.description = f"audio file {path.name}"
        self._read = 0  # samples handed on so far
        self.counters = collections.Counter() if counters is None else counters

    def take(self, now: float) -> np.ndarray:
        """The samples from the last call up to media time ``now`` (silence past the file's end)."""
        wanted = max(0, int(round(now * self.sample_rate)) - self._read)
        block = self._file.read(wanted, dtype="float32", always_2d=True).mean(axis=1)
        self._read += wanted
        if len(block) < wanted:
            block = np.concatenate([block, np.zeros(wanted - len(block), np.float32)])
        return block

    def close(self) -> None:
        self._file.close()


class LiveAudio:
    """A sound card's input: PortAudio fills a bounded ring, ``take`` empties it."""

    def __init__(self, device: str, sample_rate: int, counters: collections.Counter | None = None) -> None:
        try:
            import sounddevice
        except OSError as error:  # the wheel needs the system's PortAudio (libportaudio2)
            raise AudioError(f"audio input needs PortAudio ({error}); install libportaudio2, "
                             "or set audio.enabled = false") from None
        self.sample_rate, self.description = sample_rate, f"audio input {device or 'default'}"
        self.counters = collections.Counter() if counters is None else counters  # the run's error counts
        self._blocks: collections.deque[np.ndarray] = collections.deque(maxlen=MAX_QUEUED_BLOCKS)
        self._lock = threading.Lock()
        try:
            self._stream = sounddevice.InputStream(device=device or None, channels=1, samplerate=sample_rate,
                                                   blocksize=LIVE_BLOCK, dtype="float32", callback=self._arrived)
            self._stream.start()
        except (sounddevice.PortAudioError, ValueError) as error:
            names = ", ".join(d["name"] for d in sounddevice.query_devices() if d["max_input_channels"] > 0)
            raise AudioError(f"cannot open audio input {device or 'default'!r} ({error}); inputs here: "
                             f"{names or 'none'}; set audio.device, or audio.enabled = false") from None

    def _arrived(self, data: np.ndarray, frames: int, time_info: object, status: object) -> None:
        """PortAudio's thread: keep the block; an overflow it reports is counted."""
        if status:
            self.counters["audio_input_overflows"] += 1
        with self._lock:
            if len(self._blocks) == self._blocks.maxlen:
                self.counters["audio_blocks_dropped"] += 1  # the loop fell behind: the oldest goes
            self._blocks.append(data[:, 0].copy())

    def take(self, now: float) -> np.ndarray:
        """Everything that arrived since the last call; a stream that died gives silence (counted)."""
        if not self._stream.active and not self.counters["audio_device_lost"]:
            self.counters["audio_device_lost"] += 1
            log.error("the audio input stopped (unplugged?): the piece goes on without sound")
        with self._lock:
            blocks, self._blocks = list(self._blocks), collections.deque(maxlen=MAX_QUEUED_BLOCKS)
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def close(self) -> None:
        self._stream.close()


class AudioStage:
    """The frame loop's view of the music: ``update(now)`` once a frame returns its features."""

    def __init__(self, source: FileAudio | LiveAudio) -> None:
        self.source = source
        self.analyser = AudioAnalyser(source.sample_rate)
        self.latest = AudioFeatures.silent()

    @property
    def counters(self) -> collections.Counter:
        return self.source.counters

    def update(self, now: float) -> AudioFeatures:
        """Analyse what the source has up to media time ``now``; the features at ``now``."""
        self.analyser.feed(self.source.take(now))
        self.latest = self.analyser.features()
        return self.latest

    def on_frame(self, report: object) -> None:
        """A frame listener only to be closed with the loop: features come from ``update``."""

    def close(self) -> None:
        self.source.close()


def open_audio(file: Path | None, device: str, sample_rate: int,
               counters: collections.Counter | None = None) -> AudioStage:
    """The audio stage asked for by config ([audio]): ``file`` when given (headless, deterministic
    runs), else the live input ``device``; its failures during the show go into ``counters`` (the
    run's error counts). Raises AudioError when it cannot be opened."""
    if file is not None:
        if not file.is_file():
            raise AudioError(f"audio.file {file} does not exist; name a WAV or FLAC file, or set audio.file = \"\"")
        source: FileAudio | LiveAudio = FileAudio(file, counters)
    else:
        source = LiveAudio(device, sample_rate, counters)
    log.info("listening to %s (%d Hz)", source.description, source.sample_rate)
    return AudioStage(source)
