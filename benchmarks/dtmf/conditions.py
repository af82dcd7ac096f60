"""Phone-line conditions for DTMF tests and benchmarks: band limit, G.711, noise, speech.

Shared by ``tests/dsp`` and ``python -m benchmarks.dtmf`` so both measure the
same thing.  Everything is seeded through an explicit ``numpy.random.Generator``.
Real speech comes from Debian's ``codec2-examples`` (8 kHz, 16-bit raw).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.dsp.levels import dbm0_to_rms

FS = 8000
CODEC2_RAW = Path("/usr/share/codec2/raw")
# Modem, test-tone and data files in codec2-examples: not speech.
_NOT_SPEECH = ("sine", "test", "700d", "datac", "qam")


def speech_files() -> list[Path]:
    """The real-speech recordings (8 kHz s16 raw) shipped by codec2-examples."""
    return sorted(p for p in CODEC2_RAW.glob("*.raw") if not any(tag in p.name for tag in _NOT_SPEECH))


@functools.cache
def speech_corpus() -> np.ndarray:
    """All codec2 speech concatenated, float64 in 16-bit units (empty without the package)."""
    parts = [np.fromfile(p, dtype="<i2").astype(np.float64) for p in speech_files()]
    return np.concatenate(parts) if parts else np.zeros(0)


@functools.cache
def _band_sos():
    return butter(4, [300, 3400], btype="bandpass", fs=FS, output="sos")


def telephone_band(x) -> np.ndarray:
    """300-3400 Hz band limit (4th-order Butterworth band-pass), float64 out."""
    return sosfilt(_band_sos(), np.asarray(x, dtype=np.float64))


def g711_round_trip(x) -> np.ndarray:
    """mu-law encode and decode (int16 out)."""
    from phonesim.dsp.g711 import ulaw_decode, ulaw_encode

    return ulaw_decode(ulaw_encode(to_int16(x)))


def conceal_lost_packets(pcm: np.ndarray, lost) -> np.ndarray:
    """``pcm`` with the 20 ms packets ``lost`` (indices) replaced by the packet before, 6 dB down.

    What a VoIP receiver's simplest loss concealment plays: the last packet again,
    quieter.  Consecutive losses compound (each copies the copy before it); packet 0
    has nothing before it and is left alone.
    """
    out = np.array(pcm, copy=True)
    packet = FS // 50
    for i in lost:
        if i:
            out[i * packet:(i + 1) * packet] = out[(i - 1) * packet:i * packet] // 2
    return out


def to_int16(x) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64)), -32768, 32767).astype(np.int16)


def mean_power(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(x * x)) if x.size else 0.0


def band_noise(n: int, level_dbm0: float, rng: np.random.Generator) -> np.ndarray:
    """White noise limited to the telephone band, at ``level_dbm0`` (RMS)."""
    noise = telephone_band(rng.standard_normal(n + 400))[400:]
    return noise * (dbm0_to_rms(level_dbm0) / np.sqrt(mean_power(noise)))


def speech_excerpt(n: int, rng: np.random.Generator, *, talkers: int = 1) -> np.ndarray:
    """``n`` samples of real speech (``talkers`` > 1 sums excerpts: babble), unit RMS."""
    corpus = speech_corpus()
    if corpus.size < n + 1:
        raise FileNotFoundError(f"codec2-examples speech not found under {CODEC2_RAW}")
    out = np.zeros(n)
    for _ in range(talkers):
        start = int(rng.integers(0, corpus.size - n))
        out += corpus[start:start + n]
    return out / np.sqrt(max(mean_power(out), 1e-9))


@dataclass
class PinCase:
    """One realistic PIN string: the audio (int16), the digits, and how it was made."""

    audio: np.ndarray
    digits: str
    description: str


def realistic_pin(rng: np.random.Generator) -> PinCase:
    """A 4-10 digit string under phone-line conditions (DTMF targets, docs/architecture.md).

    Level -5..-25 dBm0, twist ±4 dB, each tone ±1.5 % off, tones and gaps of
    40-120 ms, speech or babble underneath at 10-30 dB SNR (relative to the
    DTMF power), 300-3400 Hz band, G.711 round trip.
    """
    n_digits = int(rng.integers(4, 11))
    digits = "".join(rng.choice(list("0123456789*#"), n_digits))
    level = float(rng.uniform(-25, -5))
    twist = float(rng.uniform(-4, 4))
    gen = DtmfGenerator(level_dbm0=level, twist_db=twist)
    parts = [np.zeros(int(rng.integers(200, 1200)))]
    for d in digits:
        err = tuple(rng.uniform(-0.015, 0.015, 2))
        on_ms = float(rng.uniform(40, 120))
        parts.append(gen.digits(d, on_ms=on_ms, freq_error=err).astype(np.float64))
        parts.append(np.zeros(round(rng.uniform(40, 120) * FS / 1000)))
    parts.append(np.zeros(800))
    tones = np.concatenate(parts)
    tone_power = 2 * float(dbm0_to_rms(level)) ** 2  # two tones at about `level` each
    snr_db = float(rng.uniform(10, 30))
    talkers = int(rng.choice([1, 1, 4]))
    background = speech_excerpt(tones.size, rng, talkers=talkers) * np.sqrt(tone_power / 10 ** (snr_db / 10))
    audio = g711_round_trip(telephone_band(tones + background))
    what = (f"{digits} level={level:.1f} dBm0 twist={twist:+.1f} dB "
            f"{'babble' if talkers > 1 else 'speech'} SNR={snr_db:.1f} dB")
    return PinCase(audio, digits, what)


def melody(rng: np.random.Generator, seconds: float, *, level_dbm0: float = -15.0) -> np.ndarray:
    """Synthetic music on hold: a random tune with three-note chords under it.

    Notes are equal-tempered (A4 = 440 Hz) between C4 and C7, each with the
    first six harmonics falling off as 1/k (a reed/string-like timbre), 100-400 ms
    long with a 10 ms attack and decay; every second note of the tune carries a
    chord (root, third, fifth) an octave below.  Telephone band, G.711.
    """
    n_total = int(seconds * FS)
    out = np.zeros(n_total)
    at = 0
    while at < n_total:
        n = min(int(rng.uniform(0.1, 0.4) * FS), n_total - at)
        t = np.arange(n) / FS
        env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        root = int(rng.integers(-9, 27))  # semitones from A4: C4 .. C7
        notes = [root]
        if rng.random() < 0.5:
            third = 4 if rng.random() < 0.5 else 3
            notes += [root - 12, root - 12 + third, root - 5]
        for semis in notes:
            f0 = 440.0 * 2 ** (semis / 12)
            for k in range(1, 7):
                if k * f0 < 3400:
                    out[at:at + n] += env * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k
        at += n
    out *= dbm0_to_rms(level_dbm0) / np.sqrt(max(mean_power(out), 1e-9))
    return g711_round_trip(telephone_band(out))
