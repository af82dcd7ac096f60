"""Long files for the throughput part of ``python -m benchmarks.dtmf``: where the cost is.

A detector whose cost depends on what it hears must be measured on the audio
that costs it most, not only on calls.  Each file here is minutes long, so a
peer's process start-up is lost in the measurement, and is made from a seed:

* ``white -50/-35/-20/-10 dBm0``: telephone-band white noise (an idle line, a
  hissing line, a loud one, an overloaded one);
* ``babble``: six real talkers summed (codec2-examples and pocketsphinx-testdata
  speech, as in the three-way benchmark), at -15 dBm0;
* ``music``: synthetic music on hold (chords and a melody with harmonics), -12 dBm0;
* ``back-to-back keying``: random keys at the fastest legal rate, 40 ms tones and
  40 ms gaps, -10 dBm0 (every window is a tone, its edge or a gap);
* ``noisy DTMF test mix``: the dense test audio the detector is specified on,
  cycled: a noise sweep (30 to 0 dB SNR), a twist sweep (-14 to +10 dB), a level
  sweep (-60 to 0 dBm0), a timing sweep (tones 10-120 ms, gaps 5-120 ms), a
  frequency sweep (±6 %), and talk-off material (speech, babble and music with
  keys over them), all band-limited and through G.711.

The ``noisy DTMF test mix`` is what issue 13 measured the detector on from outside
(0.09x spandsp).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.dtmf.conditions import (
    FS,
    band_noise,
    g711_round_trip,
    mean_power,
    melody,
    telephone_band,
    to_int16,
)
from phonesim.dsp.dtmf import KEYS, DtmfGenerator
from phonesim.dsp.levels import dbm0_to_rms


@dataclass
class LongFile:
    """One long file: a short key for tables, a description, the audio (int16, 8 kHz)."""

    key: str
    label: str
    audio: np.ndarray

    @property
    def seconds(self) -> float:
        return self.audio.size / FS


def _speech_pool() -> list[np.ndarray]:
    """Real speech of both Debian packages at -20 dBm0 active level (the three-way corpus)."""
    from benchmarks.threeway.corpus import load_speech

    return [s.samples for s in load_speech()]


def _talkers(pool: list[np.ndarray], n: int, talkers: int, level_dbm0: float,
             rng: np.random.Generator) -> np.ndarray:
    """``talkers`` excerpts of different speech files summed, at ``level_dbm0`` (RMS)."""
    out = np.zeros(n)
    for i in rng.permutation(len(pool))[:talkers]:
        x = pool[i]
        x = np.tile(x, n // x.size + 1)
        start = int(rng.integers(0, x.size - n + 1))
        out += x[start:start + n]
    return out * (dbm0_to_rms(level_dbm0) / np.sqrt(max(mean_power(out), 1e-9)))


def _keys(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list(KEYS), n))


def _line(x: np.ndarray) -> np.ndarray:
    """Telephone band and a G.711 round trip, as on a real line."""
    return g711_round_trip(telephone_band(x))


def _noisy_dtmf_block(rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    """One cycle (about 80 s) of the noisy DTMF test mix (float, 16-bit units)."""
    gen = DtmfGenerator(level_dbm0=-10.0, twist_db=0.0)
    parts = []
    tone_power = 2 * float(dbm0_to_rms(-10.0)) ** 2
    for snr_db in np.arange(30.0, -1.0, -3.0):  # noise sweep
        x = gen.digits(_keys(rng, 12), on_ms=50, off_ms=50).astype(np.float64)
        parts.append(x + band_noise(x.size, 0.0, rng) * np.sqrt(tone_power / 10 ** (snr_db / 10)
                                                                / dbm0_to_rms(0.0) ** 2))
    for twist_db in np.arange(-14.0, 10.5, 2.0):  # twist sweep
        parts.append(gen.digits(_keys(rng, 10), on_ms=60, off_ms=50, twist_db=twist_db).astype(np.float64))
    for level_dbm0 in np.arange(-60.0, 0.5, 3.0):  # level sweep
        parts.append(gen.digits(_keys(rng, 8), on_ms=50, off_ms=50, level_dbm0=level_dbm0).astype(np.float64))
    for on_ms in (10, 15, 20, 25, 30, 35, 40, 50, 70, 120):  # timing sweep
        for off_ms in (5, 10, 20, 40, 120):
            parts.append(gen.digits(_keys(rng, 6), on_ms=on_ms, off_ms=off_ms, tail_ms=off_ms).astype(np.float64))
    for err in np.linspace(-0.06, 0.06, 13):  # frequency sweep
        parts.append(gen.digits(_keys(rng, 8), on_ms=60, off_ms=60, freq_error=err).astype(np.float64))
    for what in ("speech", "babble", "music"):  # talk-off material, with keys over it
        n = 6 * FS
        if what == "music":
            bed = melody(rng, n / FS, level_dbm0=-15.0).astype(np.float64)
        else:
            bed = _talkers(pool, n, 1 if what == "speech" else 4, -15.0, rng)
        keys = gen.digits(_keys(rng, 10), on_ms=70, off_ms=70, lead_ms=1000).astype(np.float64)
        bed[:keys.size] += keys * 0.5
        parts.append(bed)
    return np.concatenate(parts)


def long_files(minutes: float, rng_seed: int = 20261207) -> list[LongFile]:
    """The long files, each about ``minutes`` long (see the module docstring)."""
    rng = np.random.default_rng(rng_seed)
    n = int(minutes * 60 * FS)
    pool = _speech_pool()
    files = [LongFile(f"white{lvl}", f"white noise, {lvl} dBm0", to_int16(band_noise(n, float(lvl), rng)))
             for lvl in (-50, -35, -20, -10)]
    files.append(LongFile("babble", "babble: 6 real talkers summed, -15 dBm0",
                          _line(_talkers(pool, n, 6, -15.0, rng))))
    files.append(LongFile("music", "music on hold (synthetic), -12 dBm0", melody(rng, n / FS, level_dbm0=-12.0)))
    gen = DtmfGenerator(level_dbm0=-10.0, twist_db=0.0)
    files.append(LongFile("keying", "back-to-back keying, 40 ms tones, 40 ms gaps, -10 dBm0",
                          gen.digits(_keys(rng, n // (80 * FS // 1000)), on_ms=40, off_ms=40)[:n]))
    mix = []
    while sum(x.size for x in mix) < n:
        mix.append(_noisy_dtmf_block(rng, pool))
    files.append(LongFile("noisy_mix", "noisy DTMF test mix (noise, twist, level, timing, frequency, talk-off)",
                          _line(np.concatenate(mix)[:n])))
    return files
