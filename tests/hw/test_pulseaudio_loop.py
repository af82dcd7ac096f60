"""A real PortAudio stream through the private PulseAudio: play a tone, read it back.

This proves the audio path CI relies on: PyAudio -> ALSA pulse plugin ->
null sink "line" -> its monitor -> PyAudio.  Two half-duplex blocking streams,
20 ms periods at 48 kHz, ``exception_on_overflow=False`` (see
docs/hardware.md, sections 4 and 7.1).
"""

from __future__ import annotations

import numpy as np
import pytest

RATE_HZ = 48000
PERIOD = 960  # 20 ms


@pytest.mark.audio
@pytest.mark.timeout(60)
def test_tone_round_trip_keeps_frequency_and_level(pulse_server):
    pyaudio = pytest.importorskip("pyaudio")
    pa = pyaudio.PyAudio()
    try:
        out = pa.open(format=pyaudio.paInt16, channels=1, rate=RATE_HZ, output=True,
                      frames_per_buffer=PERIOD)
        inp = pa.open(format=pyaudio.paInt16, channels=1, rate=RATE_HZ, input=True,
                      frames_per_buffer=PERIOD)
        try:
            freq_hz, amplitude = 1004.0, 8000.0
            n = RATE_HZ  # one second
            t = np.arange(n) / RATE_HZ
            tone = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
            silence = np.zeros(PERIOD * 2, dtype=np.int16)
            out.write(silence.tobytes())  # a cushion against underflow
            captured = []
            for start in range(0, n + RATE_HZ // 2, PERIOD):
                block = tone[start:start + PERIOD]
                if len(block) < PERIOD:
                    block = np.zeros(PERIOD, dtype=np.int16)
                out.write(block.tobytes())
                captured.append(np.frombuffer(inp.read(PERIOD, exception_on_overflow=False),
                                              dtype=np.int16))
        finally:
            out.close()
            inp.close()
    finally:
        pa.terminate()
    x = np.concatenate(captured).astype(float)
    # The loud part: samples within 3 dB of the expected RMS envelope.
    frame_rms = np.sqrt(np.mean(x[: len(x) // PERIOD * PERIOD].reshape(-1, PERIOD) ** 2, axis=1))
    loud = frame_rms > amplitude / np.sqrt(2) / 2
    assert loud.sum() >= 40, f"expected ~50 loud 20 ms frames, got {loud.sum()} (rms {frame_rms.round()})"
    segment = x.reshape(-1, PERIOD)[loud].ravel()
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    peak_hz = np.argmax(spectrum) * RATE_HZ / len(segment)
    assert abs(peak_hz - freq_hz) < 2.0, f"expected {freq_hz} Hz back, got {peak_hz:.1f} Hz"
    rms = np.sqrt(np.mean(segment**2))
    level_change_db = 20 * np.log10(rms / (amplitude / np.sqrt(2)))
    assert abs(level_change_db) < 1.0, f"expected the level unchanged, got {level_change_db:+.2f} dB"
