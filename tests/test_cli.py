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
    for name, help_text in COMMANDS.items():
        assert name in out and help_text.split()[0] in out


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


# --- never a traceback without -v ------------------------------------------------------------
def _every_parser(parser, prefix=()):
    """(argv prefix, parser) of the top parser and of every subcommand, recursively."""
    import argparse

    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _every_parser(sub, (*prefix, name))


def test_every_help_exits_0_without_a_traceback(capsys):
    from phonesim.cli import build_parser

    prefixes = [p for p, _ in _every_parser(build_parser(load_all=True))]
    assert len(prefixes) > 40  # admin alone has dozens
    for prefix in prefixes:
        with pytest.raises(SystemExit) as info:
            main([*prefix, "--help"])
        out, err = capsys.readouterr()
        assert info.value.code == 0, prefix
        assert "usage: phonesim" in out and "Traceback" not in out + err, prefix


def test_an_unexpected_error_is_one_line_with_a_hint(monkeypatch, capsys):
    """What no PhoneSimError covers (a bug) still reaches the user as one line, exit 1."""
    import phonesim.commands.tones as tones

    def broken(args):
        raise KeyError("half-built table")

    monkeypatch.setattr(tones, "run", broken)
    assert main(["tones", "1", "-o", "x.wav"]) == 1
    err = capsys.readouterr().err
    assert err == "phonesim: error: unexpected KeyError: 'half-built table' (run with -v for the traceback)\n"
    assert main(["-v", "tones", "1", "-o", "x.wav"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("phonesim: error: unexpected KeyError: 'half-built table'\n")


def test_error_messages_are_printed_with_control_characters_escaped(tmp_path, capsys):
    path = tmp_path / "evil\x1b[2J.toml"
    path.write_text("[facility\n")
    assert main(["--config", str(path), "config", "check"]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[2J.toml" in err


@pytest.mark.timeout(60)
def test_a_closed_pipe_is_silent():
    done = subprocess.run(f"{sys.executable} -m phonesim config show | head -c 10", shell=True,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "# effectiv"
    assert done.stderr == ""


# --- fuzz: random arguments to the file-reading commands: exit 0, 1 or 2, never a traceback -----
@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory):
    import os
    import wave

    import numpy as np

    from phonesim.dsp.dtmf import DtmfGenerator

    folder = tmp_path_factory.mktemp("fuzz")
    with wave.open(str(folder / "good.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        x = DtmfGenerator(16000).digits("12", on_ms=60)
        w.writeframes(np.repeat(x[:, None], 2, axis=1).astype("<i2").tobytes())
    (folder / "junk.wav").write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "folder.wav").mkdir()
    (folder / "zero.wav").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.wav")
    return folder


_words = ["good.wav", "junk.wav", "empty.wav", "folder.wav", "zero.wav", "fifo.wav", "missing.wav", "-", "",
          "--json", "--events", "--plot", "out.png", "--channel", "left", "far", "up", "--min-confidence",
          "-o", "out.wav", "--on-ms", "--off-ms", "--level-dbm0", "--twist-db", "--rate", "nan", "inf", "-inf",
          "1e308", "-0", "0", "1", "0.5", "99999999999999999999", "44101", "48000", "12x", "123#", "*",
          "\x1b[2J", "é"]


@pytest.mark.timeout(120)
def test_fuzzed_command_lines_never_trace_back(fuzz_files, capsys, monkeypatch):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    monkeypatch.chdir(fuzz_files)
    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["decode", "threeway", "tones"]),
           st.lists(st.one_of(st.sampled_from(_words), st.text(max_size=6)), max_size=6))
    def check(command, argv):
        try:
            code = main([command, *argv])
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        assert code in (0, 1, 2), (command, argv, code)
        assert "Traceback" not in err and "Exception ignored" not in err, (command, argv, err)
        assert code == 0 or err.strip(), (command, argv)

    check()


@pytest.mark.timeout(120)
def test_make_demo_ends_saying_how_to_run_the_other_commands():
    """``make demo`` installs phonesim in .venv, not on PATH: its last lines say how to run it."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if not (repo / ".venv" / "bin" / "phonesim").exists():
        pytest.skip("needs the repository's .venv (make demo or make test sets it up)")
    # -o: take the venv as installed (this test checks the demo target, not pip)
    proc = subprocess.run(["make", "-s", "-o", ".venv/.demo-installed", "demo"], capture_output=True,
                          text=True, timeout=110, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.rstrip().splitlines()[-4:]
    assert tail[1].strip().startswith(".venv/bin/phonesim --help"), tail
    assert tail[3].strip() == ". .venv/bin/activate && phonesim --help", tail
    # what it says works: the venv's phonesim runs another command
    shown = subprocess.run([str(repo / ".venv" / "bin" / "phonesim"), "--help"], capture_output=True,
                           text=True, timeout=60, cwd=repo)
    assert shown.returncode == 0 and "admin" in shown.stdout


def test_devices_holds_back_the_alsa_and_jack_noise_only(capfd):
    """What the C libraries print during the scan: the known noise is dropped, any other line
    (a real error) still reaches stderr."""
    import os

    from phonesim.commands.devices import c_stderr_without_scan_noise

    with c_stderr_without_scan_noise():
        os.write(2, b"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear\n"
                    b"jack server is not running or cannot be started\n"
                    b"JackShmReadWritePtr::~JackShmReadWritePtr - Init not done for -1, skipping unlock\n"
                    b"Cannot connect to server socket err = No such file or directory\n"
                    b"portaudio: a real problem\n")
    err = capfd.readouterr().err
    assert err == "portaudio: a real problem\n"


@pytest.mark.timeout(60)
def test_devices_is_a_short_answer(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "PULSE_SERVER"}
    proc = subprocess.run([sys.executable, "-m", "phonesim", "devices"], capture_output=True, text=True,
                          timeout=50, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ALSA lib" not in proc.stderr and "jack server" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("Audio devices") and "Serial ports:" in proc.stdout
    assert len(proc.stdout.splitlines()) + len(proc.stderr.splitlines()) < 30


def test_admin_help_shows_its_examples_one_per_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["admin", "--help"])
    assert info.value.code == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert 'phonesim admin inmate add 2001 "Jane Roe" --pin 4321' in lines
    assert 'phonesim admin number block 816-555-0111 --kind facility --note "victim request"' in lines
    assert "phonesim admin rates check" in lines


def test_a_facility_block_keeps_its_note_and_unblock_leaves_the_called_partys_own(tmp_path, capsys):
    """The README's example: a staff block with its note is its own record; lifting it (the
    default kind) never removes the block the called party set from their keypad."""
    from phonesim.facility.ledger import Ledger

    db = str(tmp_path / "f.sqlite3")
    assert main(["admin", "--db", db, "init"]) == 0
    assert main(["admin", "--db", db, "number", "block", "816-555-0111", "--kind", "facility",
                 "--note", "victim request"]) == 0
    assert main(["admin", "--db", db, "number", "block", "816-555-0111", "--kind", "keypad"]) == 0
    with Ledger.open(db) as ledger:
        blocks = {b.kind: b.note for b in ledger.blocks_of("8165550111")}
    assert blocks == {"facility": "victim request", "keypad": ""}
    capsys.readouterr()
    assert main(["admin", "--db", db, "number", "unblock", "816-555-0111"]) == 0
    assert main(["admin", "--db", db, "number", "unblock", "816-555-0111"]) == 1  # nothing of that kind left
    with Ledger.open(db) as ledger:
        assert [b.kind for b in ledger.blocks_of("8165550111")] == ["keypad"]


def test_config_show_is_toml_that_config_accepts_back(tmp_path, capsys, monkeypatch):
    import tomllib

    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    start = tmp_path / "start.toml"
    start.write_text('[facility]\nprofile = "federal-bop"\n[profile.warning]\ninterval_s = 120\n')
    assert main(["--config", str(start), "config", "show"]) == 0
    shown = capsys.readouterr().out
    tomllib.loads(shown)
    again = tmp_path / "again.toml"
    again.write_text(shown)
    assert main(["--config", str(again), "config", "check"]) == 0
    assert main(["--config", str(again), "config", "show"]) == 0
    second = capsys.readouterr().out
    assert "interval_s = 120" in second and "federal-bop" in second
    values = [line.split("  #")[0] for line in second.splitlines() if not line.startswith("#")]
    assert values == [line.split("  #")[0] for line in shown.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize(("argv", "bad"), [
    (["demo", "--far-end", "bogus://x"], "bogus://x"),
    (["demo", "--far-end", "sip:"], "sip:"),
    (["phone", "--keypad", "nope://"], "nope://"),
    (["kiosk", "--keypad", "nope://"], "nope://"),
    (["monitor", "nope://"], "nope://"),
    (["demo", "--scenario", "nope"], "nope"),
    (["tones", "12x", "-o", "x.wav"], "12x"),
])
@pytest.mark.timeout(60)
def test_a_bad_value_on_the_command_line_is_a_usage_error(argv, bad, tmp_path):
    """Exit 2, as documented, whether argparse or the opened backend finds the value bad."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PHONESIM_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "phonesim", *argv], capture_output=True, text=True,
                          timeout=50, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1].count("error") >= 1
    assert repr(bad) in proc.stderr


@pytest.mark.timeout(60)
def test_only_the_running_commands_module_is_imported():
    """--version and --help import no command's module; a command imports its own only (the
    start-up a user waits for; the times are measured, never asserted)."""
    probe = (
        "import sys\n"
        "from phonesim.cli import COMMANDS, main\n"
        "for argv in (['--version'], ['--help'], ['tones', '1', '-o', sys.argv[1]]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    loaded = sorted(n for n in COMMANDS if f'phonesim.commands.{n}' in sys.modules)\n"
        "    print(argv[0], loaded, file=sys.stderr)\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", probe, f"{tmp}/one.wav"], capture_output=True,
                              text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-3:] == ["--version []", "--help []", "tones ['tones']"], proc.stderr
