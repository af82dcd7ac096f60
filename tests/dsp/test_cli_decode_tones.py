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


@pytest.mark.parametrize("args, words", [
    (["12x"], "argument DIGITS: DIGITS must be keys from 0123456789*#ABCD, got '12x'"),
    (["1", "--on-ms", "1e12"], "argument --on-ms: expected a number from 1 to 10000 ms, got '1e12'"),
    (["1", "--on-ms", "nan"], "argument --on-ms: expected a number from 1 to 10000 ms, got 'nan'"),
    (["1", "--off-ms", "-1"], "argument --off-ms: expected a number from 0 to 10000 ms, got '-1'"),
    (["1", "--level-dbm0", "inf"], "argument --level-dbm0: expected a number from -90 to 0 dBm0, got 'inf'"),
    (["1", "--rate", "1"], "argument --rate: expected a sample rate of 4000..192000 Hz"),
    (["1", "--rate", "44101"], "(a multiple of 8, 10 or 25 Hz), got '44101'"),
    (["1", "--rate", "4294967295"], "got '4294967295'"),
    (["1", "--rate", "48k"], "got '48k'"),
])
def test_tones_usage_errors_exit_2_and_write_nothing(tmp_path, capsys, args, words):
    with pytest.raises(SystemExit) as exit_:
        main(["tones", *args, "-o", str(tmp_path / "x.wav")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()


def test_tones_that_would_clip_or_run_for_hours_are_usage_errors(tmp_path, capsys):
    out = str(tmp_path / "x.wav")
    assert main(["tones", "1", "--level-dbm0", "-1", "--twist-db", "6", "-o", out]) == 2
    assert "would clip" in capsys.readouterr().err
    assert main(["tones", "1" * 400, "--on-ms", "10000", "-o", out]) == 2
    assert "expected at most 3600 s of tones, got 400 digits making 4032 s" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["missing-folder/x.wav", "."])
def test_tones_to_an_unwritable_path_is_one_line_without_noise(tmp_path, where):
    """No traceback and no 'Exception ignored in Wave_write.__del__' from a half-opened writer."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "phonesim", "tones", "1", "-o", where], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith(f"phonesim: error: {where}: expected a writable WAV path, got ")
    assert done.stderr.count("\n") == 1, done.stderr


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
