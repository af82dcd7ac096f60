"""A process billing calls is SIGKILLed at random points: money and CDRs must stay consistent,
on a SQLite file and on a PostgreSQL database (``db_url``).

The child opens the real database by its URL, opens a CDR per call and charges one
minute per transaction in a loop, printing a line after each committed charge.
The parent kills it with SIGKILL after a random number of lines (so the kill
lands anywhere in the next transactions), restarts it (it retries every minute
of every call from the start: the retries must be recognised as duplicates), and
finally checks: the journal reconciles, no minute is billed twice, every charge
the child saw committed is in the file, the balance is exactly the initial one
minus the charged minutes, and the crashed CDRs are recovered with billed minutes
and amounts equal to their charges.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from phonesim.clock import VirtualClock
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger

T0 = VirtualClock().epoch_s      # 2026-01-01T00:00:00Z: calendar times of the child's calls

REPO = Path(__file__).resolve().parents[2]
BTN = "5735550100"
CALLS = 4
MINUTES = 15
RATE_CENTS = 5
INITIAL_CENTS = 10_000

CHILD = textwrap.dedent(f"""
    import sys
    from phonesim.facility.cdr import CdrStore
    from phonesim.facility.ledger import Ledger

    ledger = Ledger.open(sys.argv[1])          # the database's URL
    cdrs = CdrStore(ledger)
    for call in range({CALLS}):
        # call ids are fixed per run order: look the call up by terminal, open it once
        rows = ledger._query("SELECT id FROM cdrs WHERE terminal=?", (f"t{{call}}",))
        call_id = rows[0][0] if rows else cdrs.open_call(terminal=f"t{{call}}", inmate_id="1001", offhook_s={T0} + call)
        cdrs.update(call_id, answered_s={T0} + call + 0.5, number="{BTN}", call_type="prepaid")
        for minute in range({MINUTES}):
            r = ledger.charge_minute(call_id, minute, payer_kind="prepaid", payer_id="{BTN}",
                                     amount_cents={RATE_CENTS})
            cdrs.add_event(call_id, {T0} + call + minute, "charge", {{"minute": minute, "dup": r.duplicate}})
            print(f"charged {{call_id}} {{minute}} {{int(r.duplicate)}}", flush=True)
    print("done", flush=True)
""")


def run_child(db: str, kill_after: int | None, timeout_s: float = 60.0) -> list[str]:
    """Run the child; SIGKILL it after ``kill_after`` committed charges.  Returns its lines."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, db], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if kill_after is not None and len(lines) >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
        else:  # pragma: no cover - reported by the assertion below
            pytest.fail(f"child did not finish within {timeout_s} s: {lines[-3:]}")
    finally:
        if proc.poll() is None and kill_after is None:
            proc.wait(timeout=timeout_s)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
    if kill_after is None:
        assert proc.returncode == 0, err
    else:
        assert proc.returncode in (-signal.SIGKILL, 0), err
    return lines


@pytest.mark.timeout(120)
def test_sigkill_mid_billing_never_double_charges_nor_loses_a_charge(db_url):
    db = db_url
    with Ledger.open(db) as ledger:
        ledger.add_inmate("1001", "John Doe", "1234")
        ledger.fund_prepaid(BTN, INITIAL_CENTS)

    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    acknowledged: set[tuple[int, int]] = set()
    total = CALLS * MINUTES
    for _ in range(3):
        kill_after = rng.randint(1, total - 1)
        for line in run_child(db, kill_after):
            if line.startswith("charged"):
                _, call_id, minute, _ = line.split()
                acknowledged.add((int(call_id), int(minute)))
        with Ledger.open(db, clock=VirtualClock()) as ledger:
            assert ledger.reconcile() == [], f"after a kill at line {kill_after}"
            stored = {(r[0], r[1]) for r in ledger._query("SELECT call_id, minute_index FROM charges")}
            assert acknowledged <= stored, "a committed charge was lost"
            assert ledger.prepaid_balance_cents(BTN) == INITIAL_CENTS - RATE_CENTS * len(stored)
            # a crashed call is found and closed with exactly its charges
            cdrs = CdrStore(ledger)
            open_before = [c.call_id for c in cdrs.list(closed=False)]
            recovered = cdrs.recover_open_calls()
            assert recovered == open_before
            for call_id in recovered:
                cdr = cdrs.get(call_id)
                n = sum(1 for c, _ in stored if c == call_id)
                assert (cdr.billed_minutes, cdr.amount_cents) == (n, n * RATE_CENTS)
                assert cdr.disposition == "hung-up" and cdr.closed
                assert cdr.events[-1].kind == "recovered"
            with ledger.db.transaction() as tx:        # let the next run reopen them
                tx.execute("UPDATE cdrs SET closed=0")

    # a final run to the end retries everything: every earlier minute is a duplicate
    lines = run_child(db, None)
    assert lines[-1] == "done"
    duplicates = {(int(c), int(m)) for _, c, m, d in (x.split() for x in lines[:-1]) if d == "1"}
    assert acknowledged <= duplicates
    with Ledger.open(db) as ledger:
        assert ledger.reconcile() == []
        count = ledger._query("SELECT COUNT(*) FROM charges")[0][0]
        assert count == total
        assert ledger.prepaid_balance_cents(BTN) == INITIAL_CENTS - RATE_CENTS * total
        journal = ledger._query("SELECT COUNT(*) FROM journal WHERE kind='call-charge'")[0][0]
        assert journal == total
