"""End-to-end loopback calls: every demo scenario through the real DSP path.

Keys are typed on a ``script://`` keypad, become DTMF in the handset's audio,
and are decoded by the facility line from that audio; the robot called party
answers and presses its key as DTMF in *its* audio.  The ledger is a real SQLite
file in a temporary folder.  Long calls are shortened with profile overrides so
the whole file stays fast; the rules are the same.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from phonesim.clock import VirtualClock
from phonesim.commands.demo import SCENARIOS, run_scenario
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]

#: Shorter versions of the long scenarios (same behaviour, fewer frames).
FASTER = {
    "prepaid": dict(far_end="robot://accept?talk_s=65&answer_after=1"),
    "collect": dict(far_end="robot://accept?talk_s=20&answer_after=1"),
    "debit": dict(far_end="robot://accept?talk_s=20&answer_after=1"),
    "rates": dict(far_end="robot://rates?talk_s=20&answer_after=1"),
    "decline": dict(far_end="robot://decline?answer_after=1"),
    "block": dict(far_end="robot://block?answer_after=1"),
    "no-accept": dict(far_end="robot://silent?answer_after=1"),
    "privileged": dict(far_end="robot://accept?talk_s=20&answer_after=1"),
    "threeway": dict(far_end="robot://accept?talk_s=120&threeway=flash&threeway_after_s=10&answer_after=1"),
    "time-limit": dict(far_end="robot://talk?talk_s=0&answer_after=1",
                       overrides={"profile.limits.call_limit_s": 90}),
    "funds-run-out": dict(far_end="robot://accept?talk_s=600&answer_after=1", prepaid_cents={"5735550177": 10}),
}
CONNECTED = {"completed", "time-limit", "funds-exhausted", "three-way-detected", "hung-up"}


def _run(name: str, tmp_path: Path):
    scenario = dataclasses.replace(SCENARIOS[name], **FASTER.get(name, {}))
    return scenario, run_scenario(scenario, data_dir=tmp_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_end_to_end(name, tmp_path):
    scenario, result = _run(name, tmp_path)
    s = result.summary()
    assert s["disposition"] == scenario.expect, result.transcript_text()
    assert s["ledger_reconciles"], result.reconcile_problems
    cdr = result.cdr
    assert cdr.closed
    digits = s["digits_decoded"]["inmate"]
    # what the inmate keyed was decoded from the uplink audio (PIN masked)
    if scenario.pins:
        assert digits == "".join("\u2022" * len(p) + "#" for p in scenario.pins)
    else:
        assert digits == "\u2022" * len(scenario.pin) + "#" + scenario.call_type + scenario.number + "#"
    with Ledger.open(tmp_path / "phonesim.sqlite3") as ledger:
        charges = ledger.charges_for_call(cdr.call_id)
        assert len(charges) == cdr.billed_minutes
        assert sum(c["amount_cents"] for c in charges) == cdr.amount_cents
        if scenario.expect in CONNECTED:
            assert s["digits_decoded"]["far_end"].endswith("1")   # the accept key, from the far audio
            assert cdr.billed_minutes >= 1
            assert cdr.accepted_s is not None
            if cdr.payer_kind != "free":                           # not an attorney's, not a courtesy call
                assert cdr.amount_cents == 5 * cdr.billed_minutes
        else:
            assert cdr.billed_minutes == 0 and cdr.amount_cents == 0
        if name == "block":
            assert ledger.is_blocked(scenario.number)
            assert s["digits_decoded"]["far_end"] == "6"
        if name == "decline":
            assert s["digits_decoded"]["far_end"] == "2"
        if name == "rates":
            assert s["digits_decoded"]["far_end"] == "01"
            quoted = [t for t in result.transcript if t["kind"] == "prompt" and t["tag"] == "rates"]
            assert quoted and quoted[0]["names"][:3] == ["party_rate_is", "say_number:5", "cents_per_minute"]
        if name == "funds-run-out":
            assert cdr.billed_minutes == 2 and ledger.prepaid_balance_cents("5735550177") == 0
        if name == "time-limit":
            assert cdr.billed_minutes == 2
            assert any(t["kind"] == "prompt" and "one_minute_remaining" in t["names"] for t in result.transcript)
        if name == "wrong-pin-lockout":
            now_calendar_s = VirtualClock().epoch_s + result.frames / 50
            again = ledger.authenticate("1234", wall_s=now_calendar_s, terminal="phone-1")
            assert again.locked, "the terminal should still be locked after three wrong PINs"
        if name == "privileged":
            assert cdr.privileged and cdr.amount_cents == 0
            assert s["recording_path"] is None
            assert not list(tmp_path.rglob("*.wav")), "a privileged call must leave no audio on disk"
        if name in ("courtesy", "no-account"):
            heard = [n for t in result.transcript if t["kind"] == "prompt" and t["to"] == "far" for n in t["names"]]
            assert "party_no_account" in heard and "party_setup_account" in heard
            assert "18008446591" in "".join(n[-1] for n in heard if n.startswith("digit_"))
            assert cdr.extra["courtesy"] == ("free-call" if name == "courtesy" else "setup-only")
            assert cdr.amount_cents == 0 and cdr.payer_kind == "free"
        if name == "threeway":
            events = CdrStore(ledger).events(cdr.call_id)
            assert any(e.kind == "three-way" for e in events)
    if scenario.expect in CONNECTED and not cdr.privileged:
        # recorded: stereo 8 kHz, as long as the connected call (to within a second)
        assert cdr.recording_path and Path(cdr.recording_path).exists()
        with wave.open(cdr.recording_path, "rb") as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
            recorded_s = w.getnframes() / 8000
        ending_s = next(e.at_s for e in cdr.events if e.kind == "ending")  # the recording stops here
        assert abs(recorded_s - (ending_s - cdr.accepted_s)) < 1.0, recorded_s
        if ending_s - cdr.accepted_s > 31:
            assert s["warning_times_s"], "the warning message should have been injected"
    elif not cdr.privileged:
        assert not cdr.recording_path


@pytest.mark.timeout(120)
def test_warning_schedule_and_per_minute_balance(tmp_path):
    scenario, result = _run("prepaid", tmp_path)
    s = result.summary()
    accepted = next(t["frame"] for t in result.transcript
                    if t["kind"] == "accepted") / 50
    # profile: first warning 30 s after acceptance, then every 180 s; the call lasts 65 s
    assert [round(w - accepted, 2) for w in s["warning_times_s"]] == [30.0]
    balances = [c["balance_after_cents"] for c in s["charges"]]
    assert balances == [2500 - 5 * (i + 1) for i in range(len(balances))]
    assert s["billed_minutes"] == 2


@pytest.mark.timeout(120)
def test_demo_command_prints_json_summary(tmp_path):
    """``phonesim demo --json`` as a user runs it: a real process, a real database file."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "phonesim", "demo", "--json", "--scenario", "decline",
                           "--data", str(tmp_path / "data")], capture_output=True, text=True, env=env,
                          timeout=100, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["disposition"] == "declined" and summary["as_expected"]
    assert summary["call_id"] == 1
    assert (tmp_path / "data" / "phonesim.sqlite3").exists()


def test_unknown_scenario_is_a_clear_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "phonesim", "demo", "--scenario", "nope"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert "expected one of prepaid" in proc.stderr and "'nope'" in proc.stderr


@pytest.mark.timeout(120)
def test_a_rerun_on_the_same_database_is_not_refused(tmp_path):
    """``--data DIR`` reused: the second call starts a day later, past the 3-hour wait."""
    scenario = dataclasses.replace(SCENARIOS["collect"], far_end="robot://accept?talk_s=5&answer_after=1")
    first = run_scenario(scenario, data_dir=tmp_path)
    second = run_scenario(scenario, data_dir=tmp_path)
    assert [first.cdr.disposition, second.cdr.disposition] == ["completed", "completed"]
    assert second.cdr.call_id == first.cdr.call_id + 1
    assert second.cdr.offhook_s - first.cdr.offhook_s == 86400
    assert second.summary()["ledger_reconciles"]
