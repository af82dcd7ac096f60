"""``phonesim threeway FILE...``: many files in one process, streamed, one JSON object per file."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from phonesim.cli import main
from phonesim.clock import FRAME_SAMPLES
from phonesim.config import load_config
from phonesim.dsp.levels import dbm0_to_rms
from phonesim.dsp.resample import resample_once
from phonesim.facility.threeway import ThreeWayDetector, ThreeWayPolicy
from phonesim.facility.threeway_attempts import attempt_audio


def _noise(n: int, level_dbm0: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * dbm0_to_rms(level_dbm0)


def _write(path, channels: list[np.ndarray], rate: int) -> str:
    data = np.clip(np.rint(np.stack(channels, axis=1)), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return str(path)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A 48 kHz stereo call with a three-way attempt on the right, a quiet mono far end, junk."""
    folder = tmp_path_factory.mktemp("calls")
    far_8k = np.concatenate([_noise(8000 * 5, -60.0, 1),
                             attempt_audio("full", rng=np.random.default_rng(11), noise_dbm0=-60.0)])
    far = resample_once(far_8k, 8000, 48000)
    inmate = _noise(len(far), -30.0, 5)
    call = _write(folder / "call.wav", [inmate, far], 48000)
    quiet = _write(folder / "quiet.wav", [_noise(8000 * 8, -65.0, 3)], 8000)
    junk = folder / "junk.wav"
    junk.write_bytes(b"not a wav")
    return call, quiet, str(junk)


def _reference(path: str) -> list[dict]:
    """The detections of the whole file read at once and cut into frames: what streaming must give."""
    with wave.open(path, "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        rate = w.getframerate()
    far = x[:, -1].astype(np.float64)
    far = np.clip(np.rint(resample_once(far, rate, 8000) if rate != 8000 else far), -32768, 32767).astype(np.int16)
    det, events = ThreeWayDetector(), []
    n = len(far) // FRAME_SAMPLES
    for i in range(n):
        events += det.feed(far[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES], i)
    events += det.flush(max(0, n - 1))
    policy = ThreeWayPolicy(load_config(search=False).profile.threeway)
    return [{"kind": e.kind, "confidence": e.confidence, "action": policy.decide(e, privileged=False),
             "time_s": round(e.at_frame / 50, 2)} for e in events]


@pytest.mark.timeout(120)
def test_many_files_one_json_object_each_with_its_path(recordings, capsys, monkeypatch):
    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)
    call, quiet, junk = recordings
    assert main(["threeway", "--json", call, junk, quiet]) == 1   # a file could not be read
    out, err = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["file"] for o in objects] == [call, junk, quiet]
    assert objects[1]["error"].startswith(f"{junk}: expected a WAV file")
    assert f"phonesim threeway: error: {junk}: expected a WAV file" in err
    assert objects[2]["detections"] == [] and objects[2]["duration_s"] == 8.0
    found = [{k: d[k] for k in ("kind", "confidence", "action", "time_s")} for d in objects[0]["detections"]]
    assert found == _reference(call)  # streamed in blocks = read whole
    assert {"hook-flash", "far-dtmf"} <= {d["kind"] for d in found}


@pytest.mark.timeout(120)
def test_text_lines_start_with_the_path_when_there_are_several(recordings, capsys, monkeypatch):
    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)
    call, quiet, _ = recordings
    assert main(["threeway", call, quiet]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith((f"{call}\t", f"{quiet}\t")) for line in lines)
    assert lines[-1] == f"{quiet}\tno three-way calling detected in 00:08.0"
    assert main(["threeway", quiet]) == 0
    assert capsys.readouterr().out == "no three-way calling detected in 00:08.0\n"


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "nan", "x"])
def test_min_confidence_is_checked(recordings, capsys, bad):
    with pytest.raises(SystemExit) as exit_:
        main(["threeway", "--min-confidence", bad, recordings[1]])
    assert exit_.value.code == 2
    assert f"expected a confidence from 0 to 1, got '{bad}'" in capsys.readouterr().err
