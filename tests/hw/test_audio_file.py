"""The WAV reader (streaming, checked headers, regular files only) and file:// (a WAV as the microphone)."""

from __future__ import annotations

import os
import struct
import wave

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonesim.dsp.resample import resample_once
from phonesim.exc import BadAudioFile, InvalidUrl
from phonesim.hw.audio import open_audio
from phonesim.hw.audio_file import (
    READ_BYTES,
    WavReader,
    iter_wav_8k,
    read_wav_8k,
    read_wav_as_line,
    rechunk,
)


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


# --- the one reader: streaming, checked headers, regular files only ---------------------------


def wav_bytes(*, tag=1, channels=1, rate=8000, bits=16, block_align=None, data=b"\0\0" * 800,
              data_size=None, fmt_size=16, extra_chunks=b"", fmt_first=True) -> bytes:
    """A WAV file's bytes with every header field under the caller's control."""
    block_align = channels * ((bits + 7) // 8) if block_align is None else block_align
    fmt_body = struct.pack("<HHIIHH", tag, channels, rate & 0xFFFFFFFF, (rate * block_align) & 0xFFFFFFFF,
                           block_align, bits)
    fmt = b"fmt " + struct.pack("<I", fmt_size) + fmt_body
    body = b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    chunks = extra_chunks + (fmt + body if fmt_first else body + fmt)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.mark.parametrize("rate,channels", [(8000, 1), (48000, 2), (44100, 2), (11025, 1), (16000, 3)])
@pytest.mark.parametrize("chunk_frames", [1, 160, 997, 1 << 20])
def test_streaming_gives_the_samples_of_reading_whole(tmp_path, rate, channels, chunk_frames):
    x = np.stack([_tone(rate, 0.3, 697.0 * (c + 1)) for c in range(channels)], axis=1).ravel()
    path = tmp_path / "in.wav"
    _write_wav(path, x.astype("<i2"), rate, channels=channels)
    whole = np.clip(np.rint(read_wav_8k(path)), -32768, 32767).astype(np.int16)
    streamed = np.concatenate(list(iter_wav_8k(path, chunk_frames=chunk_frames)))
    assert np.array_equal(streamed, whole)
    assert len(whole) == round(len(x) / channels * 8000 / rate)
    last = np.concatenate(list(iter_wav_8k(path, channel=-1, chunk_frames=chunk_frames)))
    mono = resample_once(x.reshape(-1, channels)[:, -1].astype(np.float64), rate, 8000)
    assert np.array_equal(last, np.clip(np.rint(mono), -32768, 32767).astype(np.int16))


def test_blocks_never_exceed_the_read_ceiling(tmp_path):
    path = tmp_path / "in.wav"
    _write_wav(path, np.zeros(2 * READ_BYTES, "<i2"), 48000, channels=2)  # 4 MiB of data
    with WavReader(path) as reader:
        sizes = [len(b) for b in reader.blocks(chunk_frames=10**9)]
    assert max(sizes) * 4 <= READ_BYTES and sum(sizes) == READ_BYTES


def test_rechunk_gives_exact_frames():
    blocks = [np.arange(n, dtype=np.int16) for n in (7, 300, 1, 0, 52)]
    frames = list(rechunk(blocks, 160))
    assert [len(f) for f in frames] == [160, 160, 160]
    assert np.array_equal(np.concatenate(frames)[:360], np.concatenate(blocks))
    assert not frames[-1][360 - 320:].any()
    assert [len(f) for f in rechunk(blocks, 160, pad=False)] == [160, 160]


@pytest.mark.parametrize("fields, words", [
    ({"rate": 1}, "expected a sample rate of 4000..192000 Hz (a multiple of 8, 10 or 25 Hz), got 1 Hz"),
    ({"rate": 4294967295}, "got 4294967295 Hz"),
    ({"rate": 44101}, "got 44101 Hz"),
    ({"rate": 384000}, "got 384000 Hz"),
    ({"channels": 0, "block_align": 2}, "expected 1..64 channels, got 0"),
    ({"channels": 65535, "block_align": 2}, "expected 1..64 channels, got 65535"),
    ({"bits": 0}, "got encoding 1 with 0-bit samples"),
    ({"bits": 40}, "got encoding 1 with 40-bit samples"),
    ({"tag": 2}, "expected PCM 8/16/24/32-bit, float 32/64-bit, or G.711"),
    ({"tag": 3, "bits": 16}, "got encoding 3 with 16-bit samples"),
    ({"block_align": 3}, "expected a block size of 1 channel(s) x 2 byte(s) = 2 bytes, got 3"),
    ({"fmt_size": 0xFFFFFFFF}, "expected chunk 'fmt ' to fit in the file"),
    ({"fmt_size": 8}, "expected a 'fmt ' chunk of 16..1024 bytes, got 8"),
    ({"extra_chunks": b"LIST" + struct.pack("<I", 0xFFFFFFFF)}, "expected chunk 'LIST' to fit in the file"),
    ({"fmt_first": False}, "expected a 'fmt ' chunk before the 'data' chunk"),
    ({"tag": 0xFFFE}, "expected a 40-byte WAVE_FORMAT_EXTENSIBLE"),
])
def test_headers_out_of_bounds_are_refused_naming_the_file(tmp_path, fields, words):
    path = tmp_path / "bad.wav"
    path.write_bytes(wav_bytes(**fields))
    with pytest.raises(BadAudioFile) as info:
        list(iter_wav_8k(path))
    assert str(info.value).startswith(f"{path}: expected"), info.value
    assert words in str(info.value)


def test_a_data_size_beyond_the_file_reads_what_is_there(tmp_path):
    """Streamed WAVs say 0xFFFFFFFF; a recording cut off by a crash says more than it has."""
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes(data=np.arange(801, dtype="<i2").tobytes(), data_size=0xFFFFFFFF))
    with WavReader(path) as reader:
        assert reader.truncated and reader.frames == 801 and reader.claimed_frames == 0x7FFFFFFF
    assert np.array_equal(np.concatenate(list(iter_wav_8k(path))), np.arange(801))


def test_no_data_chunk_and_no_chunks(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(wav_bytes()[:36])
    with pytest.raises(BadAudioFile, match="expected a 'fmt ' and a 'data' chunk, got no 'data' chunk"):
        WavReader(path)
    path.write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(BadAudioFile, match="got neither in 12 bytes"):
        WavReader(path)


def test_what_is_not_a_regular_file_is_refused(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(BadAudioFile, match=r"folder\.wav: expected a WAV file, got a directory"):
        WavReader(tmp_path / "folder.wav")
    (tmp_path / "zero.wav").symlink_to("/dev/zero")
    with pytest.raises(BadAudioFile, match=r"zero\.wav: expected a WAV file, got a character device \(/dev/zero\)"):
        list(iter_wav_8k(tmp_path / "zero.wav"))
    with pytest.raises(BadAudioFile, match="got no such file"):
        WavReader(tmp_path / "missing.wav")
    with pytest.raises(BadAudioFile, match="got a name the system refuses"):
        WavReader("nul\0.wav")


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(BadAudioFile, match=r"pipe\.wav: expected a WAV file, got a FIFO"):
        WavReader(fifo)


def test_whole_file_helpers_refuse_long_files(tmp_path):
    path = tmp_path / "long.wav"
    _write_wav(path, np.zeros(8000 * 3, "<i2"), 8000)
    assert read_wav_8k(path, max_s=3).size == 24000
    with pytest.raises(BadAudioFile, match=r"expected at most 2 s of audio to read whole, got 3\.0 s"):
        read_wav_8k(path, max_s=2)


def test_g711_and_float_extremes(tmp_path):
    from phonesim.dsp.g711 import ulaw_encode

    tone = _tone(8000)
    path = tmp_path / "ulaw.wav"
    path.write_bytes(wav_bytes(tag=7, bits=8, data=ulaw_encode(tone).astype(np.uint8).tobytes()))
    got = np.concatenate(list(iter_wav_8k(path)))
    assert np.max(np.abs(got.astype(int) - tone)) < 300
    floats = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 0.5], "<f8")
    path.write_bytes(wav_bytes(tag=3, bits=64, data=floats.tobytes()))
    assert list(np.concatenate(list(iter_wav_8k(path)))) == [0, 32767, -32768, 32767, -32768, 16384]


def test_the_earpiece_writer_leaves_no_noise_on_a_bad_path(tmp_path):
    import subprocess
    import sys

    code = ("from phonesim.hw.audio_file import WavWriter\n"
            "from phonesim.exc import BadAudioFile\n"
            f"try:\n    WavWriter({str(tmp_path / 'no' / 'x.wav')!r})\n"
            "except BadAudioFile as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "expected a writable WAV path, got No such file or directory" in done.stdout
    assert done.stderr == ""


def test_file_port_streams_and_ends(tmp_path):
    path = tmp_path / "in.wav"
    _write_wav(path, _tone(48000, 1.0), 48000)
    with open_audio(f"file://{path}") as port:
        assert port.duration_s == 1.0
        frames = [port.read_frame() for _ in range(50)]
        assert port.finished
        assert not port.read_frame().any()
    assert np.array_equal(np.concatenate(frames), read_wav_as_line(path))


# --- fuzz: whatever the bytes, the reader answers with audio or a BadAudioFile ----------------
_header_field = st.sampled_from([0, 1, 2, 3, 6, 7, 8, 16, 24, 32, 64, 0xFFFE, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                 4000, 8000, 44100, 48000, 192000])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=200),
    st.builds(lambda tag, ch, rate, bits, align, size: wav_bytes(
        tag=tag & 0xFFFF, channels=ch & 0xFFFF, rate=rate, bits=bits & 0xFFFF, block_align=align & 0xFFFF,
        data_size=size), _header_field, _header_field, _header_field, _header_field, _header_field,
        _header_field),
    st.builds(lambda good, at, junk: good[:at] + junk + good[at + len(junk):],
              st.just(wav_bytes()), st.integers(0, 60), st.binary(min_size=1, max_size=8)),
))
def test_fuzzed_files_give_audio_or_bad_audio_file(tmp_path, data):
    path = tmp_path / "fuzz.wav"
    path.write_bytes(data)
    try:
        blocks = list(iter_wav_8k(path, chunk_frames=4096))
    except BadAudioFile as err:
        assert str(err).startswith(str(path))
    else:
        assert all(b.dtype == np.int16 and b.ndim == 1 for b in blocks)
        assert sum(len(b) for b in blocks) <= len(data)  # never more than the file could hold
