"""`phonesim devices`: audio devices with defaults and rates, serial ports; works without pyaudio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phonesim.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.audio
@pytest.mark.timeout(60)
def test_lists_the_pulseaudio_devices_with_default_and_rates(pulse_server):
    pytest.importorskip("pyaudio")
    result = subprocess.run([sys.executable, "-m", "phonesim", "devices"], capture_output=True,
                            text=True, timeout=50, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "'default'" in line]
    assert lines and "*in" in lines[0] and "*out" in lines[0]
    assert "8000,16000,44100,48000" in lines[0]
    assert "Serial ports:" in result.stdout


@pytest.mark.timeout(60)
def test_json_output_and_missing_pyaudio(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # import pyaudio now raises ImportError
    assert main(["devices", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["audio"] == [] and "needs the 'pyaudio' package" in out["audio_problem"]
    assert isinstance(out["serial"], list)
    assert main(["devices", "--audio-only"]) == 0
    text = capsys.readouterr().out
    assert "none listed" in text and "Serial" not in text
