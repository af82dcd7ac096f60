"""The command line: help, version, exit statuses, and config show/check."""

from __future__ import annotations

import subprocess
import sys

import pytest

from phonesim import __version__
from phonesim.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_config_show_prints_values_and_origins(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)
    path = tmp_path / "p.toml"
    path.write_text('[profile.warning]\ninterval_s = 120\n')
    assert main(["--config", str(path), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert f"interval_s = 120  # {path}" in out
    assert 'accept = "1"  # profile missouri-doc' in out


def test_broken_config_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text('[devices]\naudio = 5\n')
    assert main(["--config", str(path), "config", "check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("phonesim: error: ")
    assert "devices.audio: expected a string, got 5" in err
    assert "Traceback" not in err


def test_verbose_shows_the_traceback(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text('[devices]\naudio = 5\n')
    assert main(["-v", "--config", str(path), "config", "check"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "phonesim", "config", "profiles"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "missouri-doc" in done.stdout.split()
