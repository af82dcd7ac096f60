"""``phonesim demo`` as a user runs it (a real process): where its data goes, the command that
opens the call's record, a real far end, the live transcript and a user's interrupt."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    """The demo's environment: its temporary folders under ``tmp_path/tmp`` (to see what it
    leaves there), and no configuration but the built-in one."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp))
    env.pop("PHONESIM_CONFIG", None)
    return env


def _demo(tmp_path: Path, *args: str, timeout_s: float = 100) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "phonesim", "demo", *args], capture_output=True,
                          text=True, env=_env(tmp_path), timeout=timeout_s, cwd=tmp_path)


@pytest.mark.timeout(120)
def test_the_demo_keeps_nothing_in_the_temporary_folder_unless_asked(tmp_path):
    proc = _demo(tmp_path, "--scenario", "decline")
    assert proc.returncode == 0, proc.stderr
    assert "configuration: built-in defaults, profile missouri-doc" in proc.stdout
    assert "temporary folder, now removed; rerun with --keep" in proc.stdout
    assert "phonesim admin shows them" not in proc.stdout
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.timeout(120)
def test_keep_prints_the_admin_command_that_opens_the_record(tmp_path):
    proc = _demo(tmp_path, "--scenario", "decline", "--keep")
    assert proc.returncode == 0, proc.stderr
    opens = [line.split("open the call's record with: ", 1)[1] for line in proc.stdout.splitlines()
             if "open the call's record with: " in line]
    assert len(opens) == 1, proc.stdout
    command = shlex.split(opens[0])
    assert command[command.index("cdr") :] == ["cdr", "show", "1"]
    database = Path(command[command.index("--db") + 1])
    assert database.parent.parent == tmp_path / "tmp" and database.exists()
    assert f"shown by: {opens[0]}" in proc.stdout             # the CDR's timeline line names it too
    # the printed command works as printed (the program part with this Python)
    shown = subprocess.run([sys.executable, "-m", "phonesim", *command[command.index("admin") :]],
                           capture_output=True, text=True, env=_env(tmp_path), timeout=60, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "declined" in shown.stdout and "5735550100" in shown.stdout.replace("-", "")
    assert re.search(r"^duration_s +\d+\.\d \(\d+:\d\d\.\d\)$", shown.stdout, re.M), shown.stdout


@pytest.mark.timeout(120)
def test_a_stray_config_file_is_named(tmp_path):
    (tmp_path / "phonesim.toml").write_text('[facility]\nprofile = "federal-bop"\n')
    proc = _demo(tmp_path, "--scenario", "decline", "--data", str(tmp_path / "data"))
    assert proc.returncode == 0, proc.stderr
    assert f"configuration: file {tmp_path / 'phonesim.toml'}, profile federal-bop" in proc.stdout


def test_list_scenarios_says_which_ones_the_profile_skips(tmp_path):
    config = tmp_path / "p.toml"
    config.write_text('[profile.threeway]\non_confirmed = "warn"\n')
    proc = subprocess.run([sys.executable, "-m", "phonesim", "--config", str(config), "demo",
                           "--list-scenarios"], capture_output=True, text=True, env=_env(tmp_path),
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    threeway = next(line for line in proc.stdout.splitlines() if line.startswith("threeway "))
    assert "skipped with profile missouri-doc: the profile does not cut off a three-way call" in threeway
    assert all("skipped" not in line for line in proc.stdout.splitlines() if line.startswith("prepaid "))
    skipped = subprocess.run([sys.executable, "-m", "phonesim", "--config", str(config), "demo",
                              "--scenario", "threeway"], capture_output=True, text=True,
                             env=_env(tmp_path), timeout=60, cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr   # nothing failed: the scenario does not apply
    assert "skipped: the profile does not cut off a three-way call" in skipped.stdout
    assert "call detail record" not in skipped.stdout


def _dead_udp_port() -> int:
    """A UDP port on this host that nobody answers (bound, read by no one, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_a_dead_far_end_fails_naming_the_address_and_exits_1(tmp_path):
    address = f"127.0.0.1:{_dead_udp_port()}"
    proc = _demo(tmp_path, "--far-end", f"sip:alice@{address}", timeout_s=170)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "(a real far end: the call runs in real time)" in proc.stdout
    assert "call ended: failed" in proc.stdout and "no-answer" not in proc.stdout
    assert f"the call to sip:alice@{address} ended 'failed'" in proc.stderr
    assert address in proc.stderr.split("ended 'failed'", 1)[1]   # the reason names the address


@pytest.mark.timeout(90)
def test_realtime_streams_the_transcript_and_ctrl_c_is_not_a_failure(tmp_path):
    child = subprocess.Popen([sys.executable, "-u", "-m", "phonesim", "demo", "--realtime"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_env(tmp_path), cwd=tmp_path)
    try:
        seen = []
        for line in child.stdout:                           # lines arrive while the call runs
            seen.append(line)
            if "inmate hears:" in line:
                break
        assert child.poll() is None, "the transcript came only after the call"
        assert any("handset lifted" in line for line in seen)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == 0, err
    assert "interrupted: the call was ended cleanly" in out
    assert "result: interrupted" in out and "NOT AS EXPECTED" not in out
    assert "not as expected" not in err.lower()
    assert list((tmp_path / "tmp").iterdir()) == []
