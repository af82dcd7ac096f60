"""A process killed mid-call (SIGKILL) leaves money, CDRs and the recording consistent.

The child runs the demo's prepaid call in virtual time on the facility database
(a SQLite file, or a PostgreSQL database: ``db_url``) and, once the third minute
has been charged, says READY on stdout and blocks on its stdin pipe, with the call
still connected.  The parent kills it with SIGKILL (no cleanup runs), then
recovers the open CDR and reconciles the ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import wave
from pathlib import Path

import pytest

from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys
from pathlib import Path
from phonesim.commands.demo import SCENARIOS, run_scenario
from phonesim.facility.callflow import Phase

said = []

def on_frame(line):
    if not said and line.state.phase is Phase.CONNECTED and line.state.minutes_started >= 3:
        line.drain()                      # the third charge is committed
        said.append(1)
        print("READY", line.cdr_id, flush=True)
        sys.stdin.readline()              # blocks until killed

run_scenario(SCENARIOS["prepaid"], data_dir=Path(sys.argv[1]), database=sys.argv[2], on_frame=on_frame)
print("FINISHED", flush=True)
"""


def _read_line(stream, timeout_s: float) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), name="crash-test-reader",
                     daemon=True).start()
    return lines.get(timeout=timeout_s)


@pytest.mark.timeout(120)
def test_sigkill_mid_call_then_recover_and_reconcile(tmp_path, db_url):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), db_url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=tmp_path)
    try:
        line = _read_line(child.stdout, timeout_s=100)
        assert line.startswith("READY"), (line, child.stderr.read() if child.poll() is not None else "")
        call_id = int(line.split()[1])
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)

    with Ledger.open(db_url) as ledger:
        assert not CdrStore(ledger).get(call_id).closed          # the crash left it open
    # the next command of any kind that opens the database closes it: here, a look at the calls
    shown = subprocess.run([sys.executable, "-m", "phonesim", "admin", "--db", db_url, "cdr", "show",
                            str(call_id)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"left open (ended at their last sign of life, billed as charged, marked recovered): {call_id}" \
        in shown.stderr
    assert "recovered" in shown.stdout and "hung-up" in shown.stdout
    with Ledger.open(db_url) as ledger:
        store = CdrStore(ledger)
        cdr = store.get(call_id)
        assert cdr.closed and cdr.disposition == "hung-up"
        assert [e.kind for e in cdr.events][-1] == "recovered"
        charges = ledger.charges_for_call(call_id)
        assert [c["minute_index"] for c in charges] == [0, 1, 2]
        assert cdr.billed_minutes == 3 and cdr.amount_cents == 15
        assert ledger.prepaid_balance_cents("5735550100") == 2500 - 15
        assert ledger.reconcile() == []
        assert store.recover_open_calls() == []       # nothing left to recover
        recording = Path(cdr.recording_path)
        started = min(e.at_s for e in cdr.events if e.kind == "recording")
    # the recording is playable up to (about) the last second before the kill ...
    with wave.open(str(recording), "rb") as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        seconds = w.getnframes() / 8000
    assert seconds >= 120 - 2, seconds
    # ... and the call's recovered end is no earlier than the audio really on disk, nor than its
    # last charged minute: the talk time always covers the minutes billed and the recording
    on_disk_s = (recording.stat().st_size - 44) / 4 / 8000
    assert cdr.ended_s >= started + on_disk_s - 0.001
    assert cdr.ended_s - cdr.accepted_s >= 2 * 60


@pytest.mark.timeout(90)
def test_sigterm_ends_a_realtime_demo_cleanly(tmp_path):
    """``phonesim demo --realtime`` (wall-clock pacing, database work on the worker thread)
    stopped by SIGTERM: the call is ended by the normal path, nothing is left open."""
    import sqlite3
    import time

    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-m", "phonesim", "demo", "--realtime", "--json",
                              "--data", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        digits = 0
        while digits < 2 and time.monotonic() < deadline:   # poll: the PIN is being typed
            if (tmp_path / "phonesim.sqlite3").exists():
                with contextlib.closing(sqlite3.connect(tmp_path / "phonesim.sqlite3", timeout=5)) as c:
                    try:
                        digits = c.execute("SELECT COUNT(*) FROM cdr_events WHERE kind='digit'").fetchone()[0]
                    except sqlite3.OperationalError:
                        digits = 0
            if child.poll() is not None:
                break
            time.sleep(0.1)
        assert digits >= 2, child.stderr.read() if child.poll() is not None else "no digits in time"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == 1                        # stopped: not the scenario's ending
    assert "expected the call to end 'completed', it ended 'abandoned'" in err
    summary = json.loads(out)
    assert summary["disposition"] == "abandoned" and summary["ledger_reconciles"]
    with Ledger.open(tmp_path / "phonesim.sqlite3") as ledger:
        assert CdrStore(ledger).list(closed=False) == []
        assert ledger.reconcile() == []
