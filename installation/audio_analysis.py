"""What the music is doing, from its samples: level, a few frequency bands, onsets and a tempo
estimate, with numpy's FFT alone (librosa would bring numba, llvmlite and scikit-learn for the
same three measures).

The analyser is fed mono samples in blocks of any size and works hop by hop (``HOP`` samples):

- **level**: RMS of the last hop, as 0..1 over ``FLOOR_DB``..0 dBFS;
- **bands**: the energy of a windowed FFT in ``BANDS`` (bass, low-mid, high-mid, treble),
  each as 0..1 over the same decibel range;
- **onsets**: spectral flux (the summed rise of log-compressed magnitudes from one hop to the
  next), picked where it is a local maximum over ``PEAK_HOPS`` either side and above the recent
  mean by ``ONSET_DELTA``; the pick waits ``PEAK_HOPS`` hops for the maximum to be sure, so an
  onset is reported that much late (35 ms at 44.1 kHz), stamped with its own time;
- **tempo**: the autocorrelation of the last ``TEMPO_WINDOW_S`` of flux, its strongest lag in
  60..200 bpm weighted towards 120 bpm (a lag and its double are both periodic: the weight
  chooses the beat a listener taps), refined by the peaks at 2, 3 and 4 times that lag.

Everything is bounded: the flux history is a fixed ring, the input remainder under one hop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HOP = 512  # samples between analyses: 11.6 ms at 44.1 kHz
WINDOW = 2048  # FFT size
BANDS = ((20.0, 150.0), (150.0, 800.0), (800.0, 4000.0), (4000.0, 16000.0))  # Hz: bass .. treble
FLOOR_DB = -60.0  # the level and bands read 0 at or below this, 1 at full scale
PEAK_HOPS = 3  # an onset is the flux maximum over this many hops either side
MEAN_HOPS = 16  # the recent mean an onset must rise above
ONSET_DELTA = 0.2  # how far above that mean, in units of the flux's running scale
MIN_ONSET_GAP_S = 0.05  # two onsets closer than this are one
TEMPO_WINDOW_S = 8.0  # the flux history the tempo is read from
TEMPO_RANGE_BPM = (60.0, 200.0)
TEMPO_PRIOR_BPM, TEMPO_PRIOR_OCTAVES = 120.0, 1.0  # log-normal weight over tempo: centre, width
TEMPO_EVERY_HOPS = 43  # the tempo is re-estimated about twice a second, not every hop


@dataclass(frozen=True)
class AudioFeatures:
    """The music at one frame. ``level`` and ``bands`` 0..1; ``onset``: an onset was heard since
    the last frame (``onset_times_s``: when, in audio seconds); ``tempo_bpm`` None until known."""

    level: float = 0.0
    bands: tuple[float, ...] = (0.0,) * len(BANDS)
    onset: bool = False
    onset_strength: float = 0.0  # the strongest onset since the last frame, 0..1
    onset_times_s: tuple[float, ...] = ()
    tempo_bpm: float | None = None

    @staticmethod
    def silent() -> AudioFeatures:
        return AudioFeatures()


def _unit_db(power: np.ndarray | float) -> np.ndarray | float:
    """Power (full scale 1) -> 0..1 over FLOOR_DB..0 dB."""
    db = 10.0 * np.log10(np.maximum(power, 1e-12))
    return np.clip(1.0 - db / FLOOR_DB, 0.0, 1.0)


class AudioAnalyser:
    """Feed mono float samples (-1..1) at ``sample_rate``; read ``features()`` once a frame."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.hop_s = HOP / sample_rate
        self._window = np.hanning(WINDOW).astype(np.float32)
        freqs = np.fft.rfftfreq(WINDOW, 1.0 / sample_rate)
        self._band_masks = [(freqs >= low) & (freqs < high) for low, high in BANDS]
        self._frame = np.zeros(WINDOW, np.float32)  # the last WINDOW samples
        self._pending = np.zeros(0, np.float32)  # under one hop, waiting for the rest
        self._last_log_mag: np.ndarray | None = None
        self._flux = np.zeros(int(TEMPO_WINDOW_S / self.hop_s), np.float32)  # ring of the last hops' flux
        self._hops = 0  # hops analysed so far
        self._flux_scale = 1e-6  # a slow running maximum, so thresholds don't depend on loudness
        self._last_onset_s = -math.inf
        self._level, self._bands = 0.0, (0.0,) * len(BANDS)
        self._new_onsets: list[tuple[float, float]] = []  # (time, strength) since the last features()
        self._tempo_bpm: float | None = None

    def feed(self, samples: np.ndarray) -> None:
        """Analyse ``samples`` (1-D float); a remainder under one hop waits for the next block."""
        data = np.concatenate([self._pending, np.asarray(samples, np.float32).ravel()])
        whole = len(data) // HOP * HOP
        for start in range(0, whole, HOP):
            self._hop(data[start:start + HOP])
        self._pending = data[whole:]

    def features(self) -> AudioFeatures:
        """The features now; onsets are those found since the last call."""
        onsets, self._new_onsets = self._new_onsets, []
        return AudioFeatures(self._level, self._bands, bool(onsets), max((s for _, s in onsets), default=0.0),
                             tuple(t for t, _ in onsets), self._tempo_bpm)

    def _hop(self, hop: np.ndarray) -> None:
        self._frame = np.concatenate([self._frame[HOP:], hop])
        spectrum = np.abs(np.fft.rfft(self._frame * self._window)) * (2.0 / WINDOW)  # ~ amplitude, full scale 1
        self._level = float(_unit_db(float(np.mean(hop * hop)) * 2.0))  # x2: a full-scale sine reads 1
        power = spectrum * spectrum
        self._bands = tuple(float(_unit_db(float(np.sum(power[mask])))) for mask in self._band_masks)
        log_mag = np.log1p(100.0 * spectrum)
        flux = 0.0 if self._last_log_mag is None else float(np.sum(np.maximum(log_mag - self._last_log_mag, 0.0)))
        self._last_log_mag = log_mag
        self._flux[self._hops % len(self._flux)] = flux
        self._hops += 1
        self._flux_scale = max(flux, self._flux_scale * 0.9995)  # decays by half in ~30 s of hops
        self._pick_onset()
        if self._hops % TEMPO_EVERY_HOPS == 0:
            self._tempo_bpm = self._estimate_tempo()

    def _recent_flux(self, hops: int) -> np.ndarray:
        """The last ``hops`` flux values, oldest first."""
        hops = min(hops, self._hops, len(self._flux))
        index = (np.arange(self._hops - hops, self._hops)) % len(self._flux)
        return self._flux[index]

    def _pick_onset(self) -> None:
        """Is the hop PEAK_HOPS back an onset? Now its neighbours on both sides are known."""
        recent = self._recent_flux(2 * PEAK_HOPS + 1 + MEAN_HOPS)
        if len(recent) < 2 * PEAK_HOPS + 1:
            return
        around = recent[-(2 * PEAK_HOPS + 1):]
        candidate = around[PEAK_HOPS]
        before = recent[:-(PEAK_HOPS + 1)]  # the hops up to the candidate, for the running mean
        threshold = float(np.mean(before)) + ONSET_DELTA * self._flux_scale
        if candidate < around.max() or candidate <= threshold:
            return
        # a rise shows most when it reaches the middle of the (Hann) window: stamp it there
        time_s = (self._hops - PEAK_HOPS) * self.hop_s - WINDOW / 2 / self.sample_rate
        if time_s - self._last_onset_s < MIN_ONSET_GAP_S:
            return
        self._last_onset_s = time_s
        self._new_onsets.append((time_s, min(1.0, float(candidate / self._flux_scale))))
        del self._new_onsets[:-16]  # bounded: a reader that stopped reading loses the oldest

    def _estimate_tempo(self) -> float | None:
        """Tempo from the flux's autocorrelation; None with under 4 s of audio or no clear pulse."""
        flux = self._recent_flux(len(self._flux)).astype(np.float64)
        if len(flux) * self.hop_s < TEMPO_WINDOW_S / 2 or not flux.any():
            return None
        flux = flux - flux.mean()
        n = len(flux)
        spectrum = np.fft.rfft(flux, 2 * n)
        autocorr = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
        if autocorr[0] <= 0:
            return None
        autocorr /= autocorr[0]
        lags = np.arange(n) * self.hop_s  # seconds
        low_lag = int(60.0 / TEMPO_RANGE_BPM[1] / self.hop_s)
        high_lag = min(n // 4, int(60.0 / TEMPO_RANGE_BPM[0] / self.hop_s) + 1)  # room for 4 times the lag
        if high_lag <= low_lag + 2:
            return None
        candidates = np.arange(low_lag, high_lag)
        bpm = 60.0 / lags[candidates]
        prior = np.exp(-0.5 * (np.log2(bpm / TEMPO_PRIOR_BPM) / TEMPO_PRIOR_OCTAVES) ** 2)
        best = int(candidates[np.argmax(autocorr[candidates] * prior)])
        if autocorr[best] <= 0.1:
            return None  # no pulse: noise, speech, a drone
        period_hops = np.mean([_peak_near(autocorr, k * best) / k for k in (1, 2, 3, 4) if k * best + 2 < n])
        return 60.0 / (period_hops * self.hop_s)


def _peak_near(values: np.ndarray, lag: int) -> float:
    """The fractional index of the maximum within two of ``lag`` (a parabola through it and its
    neighbours: the true period falls between hops)."""
    start = max(1, lag - 2)
    index = start + int(np.argmax(values[start:lag + 3]))
    left, centre, right = values[index - 1], values[index], values[min(index + 1, len(values) - 1)]
    curvature = left - 2 * centre + right
    return index + (0.5 * (left - right) / curvature if curvature < 0 else 0.0)
