"""``phonesim tones`` and ``phonesim decode`` end to end through the real CLI entry point."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from phonesim.cli import main
from phonesim.dsp.dtmf import DtmfGenerator


def write_wav(path, x, rate, *, channels=1, width=2):
    x = np.asarray(x, dtype=np.float64)
    if channels > 1:
        x = np.repeat(x[:, None], channels, axis=1).ravel()
    if width == 1:
        raw = (np.clip(np.round(x / 256), -128, 127) + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = np.clip(np.round(x * 256), -(1 << 23), (1 << 23) - 1).astype(np.int32)
        raw = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        raw = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def test_tones_then_decode_round_trip(tmp_path, capsys):
    out = tmp_path / "pin.wav"
    assert main(["tones", "5735550100#", "-o", str(out), "--on-ms", "60", "--off-ms", "60",
                 "--level-dbm0", "-20", "--twist-db", "-3", "--rate", "48000"]) == 0
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
        assert w.getnframes() == 48 * (11 * 60 + 10 * 60)
    capsys.readouterr()
    assert main(["decode", str(out)]) == 0
    assert capsys.readouterr().out == "5735550100#\n"


@pytest.mark.parametrize("rate,channels,width", [(8000, 1, 2), (44100, 2, 2), (16000, 1, 3), (11025, 1, 1)])
def test_decode_any_rate_width_and_channel_count(tmp_path, capsys, rate, channels, width):
    x = DtmfGenerator(rate, level_dbm0=-10).digits("19*D", on_ms=60, off_ms=60, tail_ms=40)
    path = tmp_path / f"x{rate}.wav"
    write_wav(path, x, rate, channels=channels, width=width)
    assert main(["decode", str(path)]) == 0
    assert capsys.readouterr().out == "19*D\n"


def test_several_files_events_and_json(tmp_path, capsys):
    gen = DtmfGenerator(level_dbm0=-12, twist_db=2)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    write_wav(a, gen.digits("42", on_ms=100, off_ms=100, lead_ms=50), 8000)
    write_wav(b, np.zeros(800), 8000)
    assert main(["decode", str(a), str(b)]) == 0
    assert capsys.readouterr().out == f"{a}\t42\n{b}\t\n"
    assert main(["decode", "--json", str(a)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["digit"] for r in rows] == ["4", "2"]
    assert rows[0]["start_ms"] == pytest.approx(50, abs=2)
    assert rows[0]["end_ms"] == pytest.approx(150, abs=2)
    assert rows[1]["start_ms"] == pytest.approx(250, abs=2)
    assert rows[0]["high_dbm0"] - rows[0]["low_dbm0"] == pytest.approx(2, abs=0.3)
    assert main(["decode", "--events", str(a)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in lines] == ["4", "2"]


def test_bad_files_are_reported_and_the_others_still_decoded(tmp_path, capsys):
    good = tmp_path / "good.wav"
    write_wav(good, DtmfGenerator().digits("7", on_ms=80, tail_ms=40), 8000)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all")
    missing = tmp_path / "missing.wav"
    assert main(["decode", str(junk), str(good), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{good}\t7\n"
    assert f"{junk}: expected a WAV file (starting 'RIFF....WAVE'), got b'this is not '" in err
    assert f"{missing}: expected a WAV file, got no such file" in err


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src, png = tmp_path / "a.wav", tmp_path / "a.png"
    write_wav(src, DtmfGenerator().digits("123", on_ms=80), 8000)
    assert main(["decode", "--plot", str(png), str(src)]) == 0
    assert capsys.readouterr().out == "123\n"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tones_refuses_bad_digits(tmp_path, capsys):
    assert main(["tones", "12x", "-o", str(tmp_path / "x.wav")]) == 1
    assert "DIGITS must be keys" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def write_float_wav(path, x, rate, *, extensible=False):
    """A 32-bit float WAV (format 3, or WAVE_FORMAT_EXTENSIBLE as sox writes it)."""
    import struct

    data = (np.asarray(x, dtype=np.float64) / 32768.0).astype("<f4").tobytes()
    if extensible:
        guid = struct.pack("<H", 3) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, rate, rate * 4, 4, 32, 22, 32, 4) + guid
    else:
        fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize("extensible", [False, True])
def test_decode_float_and_extensible_wav(tmp_path, capsys, extensible):
    path = tmp_path / "f.wav"
    write_float_wav(path, DtmfGenerator(16000).digits("6A0", on_ms=60, tail_ms=40), 16000, extensible=extensible)
    assert main(["decode", str(path)]) == 0
    assert capsys.readouterr().out == "6A0\n"
