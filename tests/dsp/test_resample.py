"""Streaming resampler: chunking never changes the output; pass band kept, aliases removed."""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.dsp.resample import Resampler, resample_once

PAIRS = [(8000, 48000), (48000, 8000), (8000, 16000), (16000, 8000), (8000, 44100), (44100, 8000)]


def _sine(freq_hz, rate_hz, n, amplitude=10000.0):
    return amplitude * np.sin(2 * np.pi * freq_hz * np.arange(n) / rate_hz)


@pytest.mark.parametrize("from_hz,to_hz", PAIRS)
def test_any_chunking_gives_identical_output(from_hz, to_hz):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(from_hz // 2) * 3000).astype(np.int16)
    whole = Resampler(from_hz, to_hz).process(x)
    r = Resampler(from_hz, to_hz)
    pieces, start = [], 0
    while start < len(x):
        size = int(rng.integers(0, 700))
        pieces.append(r.process(x[start:start + size]))
        start += size
    chunked = np.concatenate(pieces)
    assert chunked.dtype == np.int16
    assert len(chunked) == len(whole)
    assert np.array_equal(chunked, whole), f"max diff {np.abs(chunked.astype(int) - whole).max()}"


@pytest.mark.parametrize("from_hz,to_hz", PAIRS)
def test_frame_by_frame_sine_is_continuous_and_keeps_level(from_hz, to_hz):
    """20 ms chunks of a 1 kHz sine: no step at chunk edges bigger than the sine's own slope."""
    freq_hz, amplitude = 1000.0, 10000.0
    x = _sine(freq_hz, from_hz, from_hz).astype(np.float32)
    r = Resampler(from_hz, to_hz)
    frame = from_hz // 50
    y = np.concatenate([r.process(x[i:i + frame]) for i in range(0, len(x), frame)])
    assert y.dtype == np.float32
    steady = y[len(y) // 4: 3 * len(y) // 4].astype(float)
    max_step = np.abs(np.diff(steady)).max()
    ideal_step = 2 * np.pi * freq_hz / to_hz * amplitude
    assert max_step <= ideal_step * 1.02, f"click: step {max_step:.0f} > slope {ideal_step:.0f}"
    level_db = 20 * np.log10(np.sqrt(np.mean(steady**2)) / (amplitude / np.sqrt(2)))
    assert abs(level_db) < 0.1, f"pass-band level changed by {level_db:+.3f} dB"


@pytest.mark.parametrize("from_hz", [48000, 44100, 16000])
def test_down_to_line_removes_what_would_alias(from_hz):
    """A 5 kHz tone at the device rate must not appear at 3 kHz on the 8 kHz line."""
    x = _sine(5000, from_hz, from_hz, amplitude=20000.0)
    y = Resampler(from_hz, 8000).process(x)[800:]
    residual_db = 20 * np.log10(np.sqrt(np.mean(y**2)) / (20000 / np.sqrt(2)))
    assert residual_db < -70, f"alias of 5 kHz only {residual_db:.1f} dB down"


@pytest.mark.parametrize("to_hz", [48000, 44100, 16000])
def test_up_from_line_removes_images(to_hz):
    x = _sine(1000, 8000, 8000, amplitude=20000.0)
    y = Resampler(8000, to_hz).process(x)[to_hz // 10:]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / to_hz)
    main = spectrum[np.abs(freqs - 1000) < 50].max()
    image = spectrum[freqs > 4100].max()
    assert 20 * np.log10(image / main) < -70


@pytest.mark.parametrize("from_hz,to_hz", PAIRS)
def test_resample_once_is_aligned_and_sized(from_hz, to_hz):
    x = np.zeros(from_hz // 10)
    x[len(x) // 2] = 1.0
    impulse_at_s = (len(x) // 2) / from_hz
    x = np.convolve(x, np.hanning(from_hz // 400 * 2 + 1), mode="same") * 10000  # band-limited bump
    y = resample_once(x, from_hz, to_hz)
    assert len(y) == round(len(x) * to_hz / from_hz)
    peak_at_s = np.argmax(y) / to_hz
    assert abs(peak_at_s - impulse_at_s) <= 1.5 / min(from_hz, to_hz) + 1 / to_hz


def test_equal_rates_pass_through_and_bad_rates_are_refused():
    x = np.arange(10, dtype=np.int16)
    assert np.array_equal(Resampler(8000, 8000).process(x), x)
    with pytest.raises(ValueError, match="positive sample rates"):
        Resampler(0, 8000)
    with pytest.raises(ValueError, match="1-D"):
        Resampler(8000, 16000).process(np.zeros((2, 3)))
    assert "8000->48000" in repr(Resampler(8000, 48000))


def test_int16_output_saturates_instead_of_wrapping():
    x = np.tile(np.array([32767, -32768], dtype=np.int16), 400)  # Nyquist square: overshoots
    y = Resampler(8000, 48000).process(x)
    assert y.dtype == np.int16 and y.max() <= 32767 and y.min() >= -32768
