"""Talk-off (real speech and the project's own prompts must never make digits) and
realistic PIN strings under phone-line conditions."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from benchmarks.dtmf.conditions import (
    g711_round_trip,
    melody,
    realistic_pin,
    speech_files,
    telephone_band,
)
from phonesim.dsp.dtmf import DtmfDetector

AUDIO_DIR = Path(__file__).resolve().parents[2] / "audio"


def read_wav_8k_mono(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_codec2_speech_is_installed():
    files = speech_files()
    assert len(files) >= 10, "codec2-examples is missing: make test installs it"
    assert sum(p.stat().st_size for p in files) / 2 / 8000 > 120  # over two minutes of speech


@pytest.mark.parametrize("gain_db", [-12.0, 0.0, 12.0])
def test_zero_talk_off_on_real_speech(gain_db):
    for path in speech_files():
        x = np.fromfile(path, dtype="<i2").astype(np.float64) * 10 ** (gain_db / 20)
        x = g711_round_trip(telephone_band(x))
        for offset in (0, 25):  # two phases of the 51-sample analysis grid
            assert DtmfDetector().feed(x[offset:]) == [], f"{path.name} offset {offset}"


def test_zero_talk_off_on_every_shipped_prompt():
    wavs = sorted(AUDIO_DIR.glob("*.wav"))
    assert len(wavs) >= 40, f"expected the rendered prompts in {AUDIO_DIR}"
    det = DtmfDetector()
    for path in wavs:
        assert det.feed(read_wav_8k_mono(path)) == [], path.name
        det.fill_in(0)


@pytest.mark.parametrize("level_dbm0", [-25.0, -10.0])
def test_zero_talk_off_on_music(level_dbm0):
    rng = np.random.default_rng(int(-level_dbm0))
    assert DtmfDetector().feed(melody(rng, 60.0, level_dbm0=level_dbm0)) == []


def test_realistic_pin_strings_at_least_99_5_percent_exact():
    rng = np.random.default_rng(2024)
    cases = [realistic_pin(rng) for _ in range(400)]
    wrong = []
    for case in cases:
        got = "".join(d.digit for d in DtmfDetector().feed(case.audio))
        if got != case.digits:
            wrong.append(f"got {got!r} for {case.description}")
    assert len(wrong) <= 2, "\n".join(wrong)  # 400 strings, >= 99.5 % exact
