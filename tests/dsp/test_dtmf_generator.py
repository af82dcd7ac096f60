"""DtmfGenerator: frequencies, levels, twist, timing and streaming continuity, measured."""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.dsp.dtmf import DIGIT_FREQS_HZ, KEYS, DtmfGenerator
from phonesim.dsp.levels import power_to_dbm0


def spectrum_peaks(x, fs=8000):
    """The two strongest spectral peaks (Hz) and their levels (dBm0), by a zero-padded FFT."""
    x = np.asarray(x, dtype=np.float64)
    n = 1 << 18
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n))
    freqs = np.fft.rfftfreq(n, 1 / fs)
    low = np.argmax(np.where(freqs < 1100, spec, 0))
    high = np.argmax(np.where(freqs > 1100, spec, 0))
    t = np.arange(x.size) / fs
    levels = []
    for f in (freqs[low], freqs[high]):
        z = np.sum(x * np.exp(-2j * np.pi * f * t))
        levels.append(float(power_to_dbm0(2 * abs(z) ** 2 / x.size**2)))
    return (freqs[low], freqs[high]), levels


@pytest.mark.parametrize("digit", list(KEYS))
def test_frequencies_and_levels(digit):
    x = DtmfGenerator(level_dbm0=-8.0, twist_db=2.0).digits(digit, on_ms=1000)
    (f1, f2), (l1, l2) = spectrum_peaks(x)
    low, high = DIGIT_FREQS_HZ[digit]
    assert f1 == pytest.approx(low, abs=0.1)
    assert f2 == pytest.approx(high, abs=0.1)
    assert l1 == pytest.approx(-9.0, abs=0.05)
    assert l2 == pytest.approx(-7.0, abs=0.05)


def test_frequency_error_and_per_call_overrides():
    gen = DtmfGenerator(freq_error=0.01)
    (f1, f2), _ = spectrum_peaks(gen.digits("1", on_ms=1000))
    assert (f1, f2) == (pytest.approx(697 * 1.01, abs=0.1), pytest.approx(1209 * 1.01, abs=0.1))
    (f1, f2), (l1, l2) = spectrum_peaks(gen.digits("1", on_ms=1000, freq_error=(-0.02, 0.0),
                                                   level_dbm0=-30, twist_db=-6))
    assert (f1, f2) == (pytest.approx(697 * 0.98, abs=0.1), pytest.approx(1209, abs=0.1))
    assert (l1, l2) == (pytest.approx(-27.0, abs=0.1), pytest.approx(-33.0, abs=0.1))


def test_offline_timing():
    x = DtmfGenerator().digits("123", on_ms=50, off_ms=70, lead_ms=10, tail_ms=20)
    assert x.dtype == np.int16
    assert x.size == 8 * (10 + 3 * 50 + 2 * 70 + 20)
    on = np.abs(x) > 0
    assert not on[:80].any() and on[80:480].mean() > 0.95 and not on[480:1040].any()


def test_streaming_is_phase_continuous_and_silent_after_key_up():
    gen = DtmfGenerator()
    gen.key_down("5")
    assert gen.key == "5"
    chunks = [gen.generate(k) for k in (1, 159, 37, 123, 480)]
    whole = DtmfGenerator()
    whole.key_down("5")
    np.testing.assert_array_equal(np.concatenate(chunks), whole.generate(800))
    np.testing.assert_array_equal(np.concatenate(chunks), DtmfGenerator().digits("5", on_ms=100))
    gen.key_up()
    assert gen.key is None
    assert not gen.generate(160).any()


def test_bad_digits_refused():
    with pytest.raises(ValueError, match="DTMF key"):
        DtmfGenerator().digits("12x")
    with pytest.raises(ValueError, match="DTMF key"):
        DtmfGenerator().key_down("E")
    assert DtmfGenerator().digits("a", on_ms=40).any()  # lower-case A-D are fine
