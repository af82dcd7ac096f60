"""One platform process for a facility's terminals: many lines at once, on SQLite and PostgreSQL.

Everything is real: the database file or server, the prompts, keys as DTMF in each handset's
audio decoded by each line, robots pressing their accept key as DTMF.  The in-process tests
drive the host's virtual clock frame by frame; the process tests run ``phonesim facility``
and ``phonesim calls`` as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phonesim.config import load_config
from phonesim.facility.callflow import Phase
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger
from phonesim.facility.oversight import Oversight
from phonesim.facility.platform import Platform
from phonesim.facility.sites import Sites
from phonesim.terminals.facility_host import FacilityHost

REPO = Path(__file__).resolve().parents[2]
ALL_DAY = {"profile.hours.windows": ["00:00-24:00"], "profile.limits.wait_between_calls_s": 0}


def phone(name: str, unit: str, *, pin: str = "1234", number: str = "5735550100", talk_s: int = 120,
          audio: str = "") -> dict[str, str]:
    keys = f"script://%2B{pin}%23,,,,,,,,,,3,,,,,,{number}%23?interval_ms=250&hold_ms=100"
    return {"name": name, "kind": "phone", "unit": unit, "keypad": keys, "audio": audio or f"loopback://{name}",
            "far_end": f"robot://accept?answer_after=0&key_delay_s=1&talk_s={talk_s}"}


class VirtualHost:
    """A facility host on SQLite, driven frame by frame in virtual time."""

    def __init__(self, tmp_path, terminals, *, inmates=()):
        self.cfg = load_config(search=False, overrides=ALL_DAY)
        self.platform = Platform.open(self.cfg, database=tmp_path / "db.sqlite3")
        self.platform.ledger.seed_demo(self.cfg)
        for inmate_id, pin, number in inmates:
            self.platform.ledger.add_inmate(inmate_id, f"Caller {inmate_id}", pin, name_prompt="inmate_name_default")
            self.platform.ledger.fund_prepaid(number, 1000)
        self.host = FacilityHost(self.cfg, self.platform, terminals=terminals, realtime=False,
                                 recordings_dir=tmp_path / "rec", keep_history=True)
        self.host.register()
        self.host.publisher.start()
        self.host.open_virtual()

    def run_s(self, seconds, until=None) -> bool:
        for _ in range(int(seconds * 50)):
            self.host.step_virtual()
            if until is not None and until():
                return True
        return until is None

    def line(self, name):
        return self.host.lines()[name]

    def close(self):
        self.host.close_virtual()
        self.host.chores(force=True)               # the last heartbeat, as run() ends
        self.host.publisher.close()
        self.platform.close()


@pytest.mark.timeout(120)
def test_many_lines_at_once_and_a_failing_terminal_never_stops_the_others(tmp_path):
    terminals = [phone("A-1", "A"), phone("B-1", "B", pin="5001", number="5735552001"),
                 phone("C-1", "C", audio="pyaudio://?device=no-such-headset-anywhere")]
    rig = VirtualHost(tmp_path, terminals, inmates=[("2001", "5001", "5735552001")])
    try:
        assert rig.host.status["C-1"].status.startswith("down"), rig.host.status["C-1"]
        assert rig.run_s(60, until=lambda: all(rig.line(n).state.phase is Phase.CONNECTED for n in ("A-1", "B-1")))
        rig.run_s(70)
        summaries = {n: rig.line(n).calls[-1] for n in ("A-1", "B-1") if rig.line(n).calls}
    finally:
        rig.close()
    with Ledger.open(tmp_path / "db.sqlite3") as ledger:
        cdrs = CdrStore(ledger).list()
        assert {c.terminal for c in cdrs} == {"A-1", "B-1"}
        assert all(c.billed_minutes == len(ledger.charges_for_call(c.call_id)) >= 2 for c in cdrs)
        assert ledger.reconcile() == []
        terminals = {t.id: t for t in Sites(ledger.db).terminals("jccc")}
        assert terminals["C-1"].status.startswith("down: pyaudio") and rig.host.status["C-1"].failures == 1
        assert terminals["A-1"].status == "stopped" and terminals["A-1"].seen_s > 0
        kinds = {r[0] for r in ledger.db.query("SELECT DISTINCT kind FROM live_events")}
        assert {"terminal", "offhook", "phase", "charge", "warning"} <= kinds
    assert summaries == {} or all(s.disposition for s in summaries.values())


@pytest.mark.timeout(120)
def test_a_lockdown_ends_the_units_calls_now_and_an_officer_cuts_one_off(tmp_path):
    terminals = [phone("A-1", "A"), phone("B-1", "B", pin="5001", number="5735552001")]
    rig = VirtualHost(tmp_path, terminals, inmates=[("2001", "5001", "5735552001")])
    try:
        assert rig.run_s(60, until=lambda: all(rig.line(n).state.phase is Phase.CONNECTED for n in ("A-1", "B-1")))
        # another process (an officer's console, an admin) locks unit A down in the shared database
        with Ledger.open(tmp_path / "db.sqlite3") as other:
            Sites(other.db).set_lockdown("jccc", "A", True, reason="count time", by="officer 7")
        # within a second the call is ending (the parties hear why), then it ends
        assert rig.run_s(1.5, until=lambda: rig.line("A-1").state.phase is Phase.ENDING)
        assert rig.run_s(10, until=lambda: bool(rig.line("A-1").calls))
        assert rig.line("A-1").calls[-1].disposition == "lockdown"
        assert rig.line("B-1").state.phase is Phase.CONNECTED                   # another unit goes on
        heard = [e.data["names"] for e in rig.line("A-1").log.entries if e.kind == "prompt"]
        assert ["lockdown_now", "goodbye"] in heard and ["lockdown_now"] in heard   # both parties
        with Ledger.open(tmp_path / "db.sqlite3") as other:
            command = Oversight(other.db).request_cut_off("B-1", by="officer 7", reason="threats")
        assert rig.run_s(1.5, until=lambda: rig.line("B-1").state.phase is Phase.ENDING)
        assert rig.run_s(10, until=lambda: bool(rig.line("B-1").calls))
        assert rig.line("B-1").calls[-1].disposition == "cut-off"
    finally:
        rig.close()
    with Ledger.open(tmp_path / "db.sqlite3") as ledger:
        oversight = Oversight(ledger.db)
        assert oversight.command(command.id).result == "cut off"
        cut = CdrStore(ledger).list(disposition="cut-off")[0]
        assert cut.extra.get("cut_off_by") == "officer 7"
        assert [(i.kind, i.call_id) for i in oversight.incidents()] == [("cut-off", cut.call_id)]
        assert ledger.reconcile() == []


def _facility(args, tmp_path, *, env=None, **popen):
    cmd = [sys.executable, "-m", "phonesim", "facility", "--demo", "--recordings", str(tmp_path / "rec"), *args]
    return subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _check_facility_records(url):
    with Ledger.open(url) as ledger:
        cdrs = CdrStore(ledger).list()
        assert cdrs and all(c.closed for c in cdrs), [(c.call_id, c.closed) for c in cdrs]
        assert all(c.billed_minutes == len(ledger.charges_for_call(c.call_id)) for c in cdrs)
        assert ledger.reconcile() == []
        return cdrs, Sites(ledger.db).terminals("jccc")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_phonesim_facility_demo_and_phonesim_calls_on_either_engine(tmp_path, engine, request):
    url = str(tmp_path / "db.sqlite3") if engine == "sqlite" else request.getfixturevalue("postgres_url")
    proc = _facility(["--virtual", "--phones", "4", "--max-s", "150", "--database", url], tmp_path)
    out, err = proc.communicate(timeout=200)
    assert proc.returncode == 0, err
    assert "4 wall phones" not in err and "Traceback" not in err
    cdrs, terminals = _check_facility_records(url)
    assert {c.terminal for c in cdrs} == {f"{u}-phone-{i}" for u, i in (("A-1", 1), ("B-2", 2), ("A-1", 3),
                                                                          ("B-2", 4))}
    assert {t.id for t in terminals} == {c.terminal for c in cdrs} | {"A-1-kiosk"}
    shown = subprocess.run([sys.executable, "-m", "phonesim", "calls", "--database", url], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for c in cdrs:
        assert c.terminal in shown.stdout
    assert "5735552000" in shown.stdout and "prepaid" in shown.stdout


@pytest.mark.timeout(240)
def test_worker_processes_share_the_terminals(tmp_path):
    url = str(tmp_path / "db.sqlite3")
    proc = _facility(["--virtual", "--phones", "4", "--lines-per-process", "2", "--max-s", "150",
                      "--database", url], tmp_path)
    out, err = proc.communicate(timeout=220)
    assert proc.returncode == 0, err
    assert "over 3 worker processes" in out, out        # 4 phones + the kiosk, 2 per process
    cdrs, _ = _check_facility_records(url)
    assert len({c.terminal for c in cdrs}) == 4


@pytest.mark.timeout(240)
def test_a_stall_of_the_process_is_counted_per_line_and_noted_in_its_call(tmp_path):
    """The measured effect: a stopped process loses the called party's audio for as long and
    shifts the warnings; the platform counts each stall per line and notes it in the call."""
    url = str(tmp_path / "db.sqlite3")
    proc = _facility(["--phones", "2", "--max-s", "60", "--database", url, "--quiet"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        connected: set[str] = set()
        while len(connected) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
            if Path(url).exists():
                with Ledger.open(url) as ledger:
                    connected = {r[0] for r in ledger.db.query(
                        "SELECT terminal FROM live_events WHERE kind='phase' AND detail LIKE '%connected%'")}
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.6)                                     # the stall itself: what the test makes happen
        os.kill(proc.pid, signal.SIGCONT)
        while True:                                         # every line has seen it (its next frame)
            assert time.monotonic() < deadline + 60 and proc.poll() is None
            with Ledger.open(url) as ledger:
                seen = {r[0] for r in ledger.db.query("SELECT terminal FROM live_events WHERE kind='stall'")}
            if seen >= connected:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Ledger.open(url) as ledger:
        stalls = [(r["terminal"], json.loads(r["detail"])["ms"]) for r in ledger.db.query(
            "SELECT terminal, detail FROM live_events WHERE kind='stall'")]
        for terminal in connected:
            assert any(t == terminal and ms >= 500 for t, ms in stalls), stalls
            # one stop of the process is one stall per line, not one per frame run to catch up
            assert sum(t == terminal and ms >= 500 for t, ms in stalls) == 1, stalls
        noted = ledger.db.query("SELECT call_id FROM cdr_events WHERE kind='stall'")
        assert len({r[0] for r in noted}) >= 2              # in both calls' timelines
        assert ledger.reconcile() == []
