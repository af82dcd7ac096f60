"""file:// — a WAV as the microphone, the earpiece to a WAV."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from phonesim.dsp.resample import resample_once
from phonesim.exc import BadAudioFile, InvalidUrl
from phonesim.hw.audio import open_audio
from phonesim.hw.audio_file import read_wav_as_line


def _write_wav(path, samples, rate, channels=1, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def _tone(rate, seconds=0.5, freq_hz=1000.0, amplitude=8000.0):
    return (amplitude * np.sin(2 * np.pi * freq_hz * np.arange(int(rate * seconds)) / rate)).astype("<i2")


def test_8k_file_plays_sample_exact_then_silence(tmp_path):
    x = np.arange(1000, dtype="<i2")
    _write_wav(tmp_path / "in.wav", x, 8000)
    with open_audio(f"file://{tmp_path / 'in.wav'}") as port:
        assert not port.finished
        frames = [port.read_frame() for _ in range(8)]
        assert port.finished
    got = np.concatenate(frames)
    assert np.array_equal(got[:1000], x) and not got[1000:].any()


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_other_rates_are_resampled_once_deterministically(tmp_path, rate):
    _write_wav(tmp_path / "in.wav", _tone(rate), rate)
    expected = resample_once(_tone(rate).astype(np.int16), rate, 8000)
    runs = []
    for _ in range(2):
        with open_audio(f"file://{tmp_path / 'in.wav'}") as port:
            runs.append(np.concatenate([port.read_frame() for _ in range(25)]))
    assert np.array_equal(runs[0], runs[1])
    assert np.array_equal(runs[0][:len(expected)], expected)
    spectrum = np.abs(np.fft.rfft(runs[0][:4000]))
    assert abs(np.argmax(spectrum) * 8000 / 4000 - 1000) <= 2


def test_stereo_24_bit_is_mixed_down(tmp_path):
    left = _tone(8000).astype(np.int32) << 8
    stereo = np.stack([left, left], axis=1).ravel()
    raw = np.stack([(stereo >> s) & 0xFF for s in (0, 8, 16)], axis=1).astype(np.uint8)
    _write_wav(tmp_path / "in.wav", raw.ravel(), 8000, channels=2, width=3)
    assert np.array_equal(read_wav_as_line(tmp_path / "in.wav"), _tone(8000))


def test_earpiece_is_written_to_out(tmp_path):
    out = tmp_path / "out.wav"
    with open_audio(f"file://?out={out}") as port:
        for i in range(5):
            assert not port.read_frame().any()
            port.write_frame(np.full(160, i, np.int16))
    with wave.open(str(out), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (8000, 1, 2, 800)
        data = np.frombuffer(w.readframes(800), "<i2")
    assert np.array_equal(data, np.repeat(np.arange(5), 160))


def test_bad_files_and_urls(tmp_path):
    with pytest.raises(BadAudioFile, match="no such file"):
        open_audio(f"file://{tmp_path / 'missing.wav'}")
    (tmp_path / "junk.wav").write_bytes(b"RIFFjunk")
    with pytest.raises(BadAudioFile, match="junk.wav"):
        open_audio(f"file://{tmp_path / 'junk.wav'}")
    with pytest.raises(InvalidUrl, match="file://IN.wav"):
        open_audio("file://")
    with pytest.raises(InvalidUrl, match="unknown option"):
        open_audio(f"file://{tmp_path / 'junk.wav'}?output=x.wav")
