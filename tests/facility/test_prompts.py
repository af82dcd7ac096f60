"""The prompt set: every prompt there and well formed; bad files refused by name; number words."""

from __future__ import annotations

import importlib.util
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from phonesim.dsp.levels import signal_dbm0
from phonesim.exc import BadAudioFile
from phonesim.facility.prompts import PROMPT_NAMES, PromptSet, default_prompt_folder

AUDIO = Path(__file__).resolve().parents[2] / "audio"


def _render_table():
    spec = importlib.util.spec_from_file_location("render_prompts", AUDIO / "render_prompts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PROMPTS


@pytest.fixture(scope="module")
def prompts() -> PromptSet:
    return PromptSet.load()


def test_every_contract_prompt_loads_from_the_checkout(prompts):
    assert set(PROMPT_NAMES) <= set(prompts.names)
    for name in PROMPT_NAMES:
        x = prompts[name]
        assert x.dtype == np.int16 and x.ndim == 1
        assert 0.15 < len(x) / 8000 < 12, f"{name}: {len(x) / 8000:.2f} s"
        # normalised speech: active level near -16 dBm0, overall RMS a few dB below, no clipping
        assert -30 < signal_dbm0(x) < -12, f"{name}: {signal_dbm0(x):.1f} dBm0"
        assert np.abs(x.astype(int)).max() < 32000
        assert not x.flags.writeable


def test_render_table_and_readme_match_the_contract_names():
    table = _render_table()
    assert list(table) == list(PROMPT_NAMES) or set(table) == set(PROMPT_NAMES)
    readme = (AUDIO / "README.md").read_text()
    for name, (text, _where) in table.items():
        assert f"| `{name}.wav` | {text} |" in readme, f"README row for {name} out of date"
    assert table["warning"][0] == "This call is from a correctional facility."


def test_env_var_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PHONESIM_PROMPTS", str(tmp_path))
    assert default_prompt_folder() == tmp_path
    with pytest.raises(BadAudioFile, match="welcome.wav"):
        PromptSet.load()


def _copy_prompts(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in PROMPT_NAMES:
        shutil.copy(AUDIO / f"{name}.wav", folder / f"{name}.wav")
    return folder


def test_missing_prompt_is_named(tmp_path):
    folder = _copy_prompts(tmp_path)
    (folder / "party_monitored.wav").unlink()
    with pytest.raises(BadAudioFile, match=r"party_monitored\.wav.*no such file"):
        PromptSet.load(folder)


def test_truncated_prompt_is_named(tmp_path):
    folder = _copy_prompts(tmp_path)
    data = (folder / "warning.wav").read_bytes()
    (folder / "warning.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadAudioFile, match=r"warning\.wav.*truncated"):
        PromptSet.load(folder)


def test_garbage_prompt_is_named(tmp_path):
    folder = _copy_prompts(tmp_path)
    (folder / "goodbye.wav").write_bytes(b"not a wav at all")
    with pytest.raises(BadAudioFile, match=r"prompt .*goodbye\.wav: expected a WAV file .*got b'not a wav at'"):
        PromptSet.load(folder)


def test_wrong_rate_prompt_is_named(tmp_path):
    folder = _copy_prompts(tmp_path)
    with wave.open(str(folder / "busy.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.ones(1600, dtype="<i2").tobytes())
    with pytest.raises(BadAudioFile, match=r"busy\.wav.*expected 8000 Hz.*got 16000 Hz"):
        PromptSet.load(folder)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(BadAudioFile, match="does not exist"):
        PromptSet.load(tmp_path / "nope")


def test_say_helpers():
    assert PromptSet.say_digits("573-555-0100") == [f"digit_{d}" for d in "5735550100"]
    assert PromptSet.say_digits("1*#") == ["digit_1", "star", "pound"]
    with pytest.raises(ValueError, match="'x'"):
        PromptSet.say_digits("12x")
    assert PromptSet.say_cents(1234) == ["n_12", "dollars", "and", "n_30", "n_4", "cents"]
    assert PromptSet.say_cents(100) == ["n_1", "dollar"]
    assert PromptSet.say_cents(5) == ["n_5", "cents"]
    assert PromptSet.say_cents(101) == ["n_1", "dollar", "and", "n_1", "cent"]
    assert PromptSet.say_cents(0) == ["n_0", "cents"]
    assert PromptSet.say_number(0) == ["n_0"]
    assert PromptSet.say_number(15) == ["n_15"]
    assert PromptSet.say_number(1234) == ["n_1", "thousand", "n_2", "hundred", "n_30", "n_4"]
    assert PromptSet.say_number(200_000) == ["n_2", "hundred", "thousand"]
    with pytest.raises(ValueError, match="0..999999"):
        PromptSet.say_number(-1)
    assert PromptSet.say_minutes(15) == ["n_15", "minutes"]
    assert PromptSet.say_minutes(1) == ["n_1", "minute"]


def test_every_spoken_word_exists(prompts):
    for n in range(0, 1_000_000, 997):
        for word in PromptSet.say_number(n):
            assert word in prompts
    for cents in (0, 1, 99, 100, 101, 12345):
        assert all(w in prompts for w in PromptSet.say_cents(cents))


def test_sequence_joins_with_gaps(prompts):
    names = PromptSet.say_minutes(15)
    joined = prompts.sequence(names)
    expected_len = sum(len(prompts[n]) for n in names) + 800 * (len(names) - 1)
    assert len(joined) == expected_len
    first = len(prompts[names[0]])
    assert not np.any(joined[first:first + 800])
    assert np.array_equal(joined[:first], prompts[names[0]])
    assert len(prompts.sequence([])) == 0
    with pytest.raises(KeyError, match="nope"):
        prompts["nope"]
