"""Money and lockouts stay exact when 8 processes hit one row at the same moment, on both engines.

Each test starts 8 real processes (phones on one host, or on several hosts sharing one
PostgreSQL), each with its own connection to the database (``db_url``). They open the
ledger, say ``ready``, and wait on their stdin; the parent says ``go`` to all of them at
once, so their transactions collide on the same row: one prepaid BTN's balance, one
terminal's or one inmate's wrong-PIN counter. Each child prints what the ledger
answered it, one JSON line per call; the parent checks the answers against each other
and against the database:

* charges: exactly the minutes the money covers are charged, never below zero, each
  balance after a charge is seen by exactly one charge (no lost update), no minute is
  charged twice — also when every process retries the *same* (call, minute) keys in its
  own order, as a line retrying a charge on another host would — and ``reconcile()`` is
  clean;
* lockouts: every wrong PIN is counted (no lost increment) and the lock falls at exactly
  ``pin.max_failures``, after which no PIN is checked.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from phonesim.facility.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 8
BTN = "5735550100"
RATE_CENTS = 5

CHILD = textwrap.dedent("""
    import json, random, sys
    from phonesim.facility.ledger import Ledger

    url, mode, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = json.loads(sys.argv[4])
    ledger = Ledger.open(url)
    ledger.pin_max_failures = ledger.inmate_max_failures = args.get("max_failures", 3)
    if mode == "own-calls":        # this process's own calls
        keys = [(1000 * (k + 1) + c, m) for m in range(args["minutes"]) for c in range(args["calls"])]
    elif mode == "same-keys":      # the same keys in every process, each in its own order
        keys = [(c + 1, m) for c in range(args["calls"]) for m in range(args["minutes"])]
        random.Random(k).shuffle(keys)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("no go")
    if mode in ("own-calls", "same-keys"):
        for call_id, minute in keys:
            r = ledger.charge_minute(call_id, minute, payer_kind="prepaid", payer_id=args["btn"],
                                     amount_cents=args["cents"])
            print(json.dumps({"key": [call_id, minute], "ok": r.ok, "duplicate": r.duplicate,
                              "amount": r.amount_cents, "after": r.balance_after_cents}), flush=True)
    else:       # wrong PINs at one terminal, against one inmate, or guesses before one's own PIN
        for i in range(args["attempts"]):
            r = ledger.authenticate(args["pin"], terminal=args.get("terminal") or f"t{k}-{i}",
                                    inmate_id=args.get("inmate_id"),
                                    failures_before=args.get("failures_before", 0))
            print(json.dumps({"ok": r.ok, "locked": r.locked, "failures": r.failures,
                              "until": r.locked_until_s}), flush=True)
    print("done", flush=True)
""")


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)


def run_at_once(url: str, mode: str, args: dict, timeout_s: float = 90.0) -> list[list[dict]]:
    """Start ``PROCESSES`` children, release them together, return each one's answers."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs, outputs = [], []
    try:
        for k in range(PROCESSES):
            proc = subprocess.Popen([sys.executable, "-c", CHILD, url, mode, str(k), json.dumps(args)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env, cwd=REPO)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_reader, args=(proc.stdout, lines), name=f"child-{k}-out",
                             daemon=True).start()
            procs.append(proc)
            outputs.append(lines)
        deadline = time.monotonic() + timeout_s
        for proc, lines in zip(procs, outputs, strict=True):      # the barrier: all are ready ...
            first = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert first == "ready", (first, proc.stderr.read() if first is None else "")
        for proc in procs:                                        # ... then all go at once
            proc.stdin.write("go\n")
            proc.stdin.flush()
        answers = []
        for proc, lines in zip(procs, outputs, strict=True):
            mine = []
            while (line := lines.get(timeout=max(0.1, deadline - time.monotonic()))) not in (None, "done"):
                mine.append(json.loads(line))
            assert line == "done", proc.stderr.read()
            assert proc.wait(timeout=max(0.1, deadline - time.monotonic())) == 0, proc.stderr.read()
            answers.append(mine)
        return answers
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                stream.close()


def assert_money_exact(ledger: Ledger, first_charges: list[dict], funded_cents: int) -> None:
    """The charges the children saw made are exactly the database's, and none was lost or doubled."""
    rows = ledger.db.query("SELECT call_id, minute_index, amount_cents FROM charges")
    assert sorted((r[0], r[1]) for r in rows) == sorted(tuple(a["key"]) for a in first_charges)
    journal = ledger.db.query("SELECT COUNT(*) FROM journal WHERE kind='call-charge'")[0][0]
    assert journal == len(rows)
    # every charge moved the balance down by exactly one minute from a balance nobody else saw
    afters = sorted(a["after"] for a in first_charges)
    assert afters == list(range(funded_cents - RATE_CENTS * len(first_charges), funded_cents, RATE_CENTS))
    assert ledger.prepaid_balance_cents(BTN) == funded_cents - RATE_CENTS * len(rows) >= 0
    assert ledger.reconcile() == []


@pytest.mark.timeout(180)
def test_eight_processes_charging_their_own_calls_to_one_prepaid_btn(db_url):
    calls, minutes = 3, 15                     # 8 x 45 = 360 minutes wanted, 250 paid for
    funded = 250 * RATE_CENTS
    with Ledger.open(db_url) as ledger:
        ledger.fund_prepaid(BTN, funded)
    answers = run_at_once(db_url, "own-calls", {"calls": calls, "minutes": minutes, "btn": BTN,
                                                "cents": RATE_CENTS})
    flat = [a for mine in answers for a in mine]
    assert len(flat) == PROCESSES * calls * minutes
    made = [a for a in flat if a["ok"]]
    refused = [a for a in flat if not a["ok"]]
    assert not any(a["duplicate"] for a in flat)              # nobody else's keys
    assert len(made) == 250 and len(refused) == len(flat) - 250
    assert all(a["after"] < RATE_CENTS and a["amount"] == 0 for a in refused)   # refused only when short
    with Ledger.open(db_url) as ledger:
        assert_money_exact(ledger, made, funded)
        assert ledger.prepaid_balance_cents(BTN) == 0


@pytest.mark.timeout(180)
def test_eight_processes_retrying_the_same_minutes_charge_each_once(db_url):
    """Every process charges the same 45 (call, minute) keys in its own order, as lines on
    several hosts retrying one call's charges would; the money covers 40 of them."""
    calls, minutes = 3, 15
    funded = 40 * RATE_CENTS
    with Ledger.open(db_url) as ledger:
        ledger.fund_prepaid(BTN, funded)
    answers = run_at_once(db_url, "same-keys", {"calls": calls, "minutes": minutes, "btn": BTN,
                                                "cents": RATE_CENTS})
    by_key: dict[tuple, list[dict]] = {}
    for mine in answers:
        assert len(mine) == calls * minutes
        for a in mine:
            by_key.setdefault(tuple(a["key"]), []).append(a)
    firsts = []
    for key, seen in by_key.items():
        kinds = Counter("made" if a["ok"] and not a["duplicate"] else "duplicate" if a["ok"] else "refused"
                        for a in seen)
        # a key is charged by exactly one process and every other one is told it already was,
        # or it is never charged and every process is refused
        assert kinds in (Counter(made=1, duplicate=PROCESSES - 1), Counter(refused=PROCESSES)), (key, kinds)
        firsts += [a for a in seen if a["ok"] and not a["duplicate"]]
        assert {a["amount"] for a in seen if a["ok"]} <= {RATE_CENTS}
    assert len(firsts) == 40
    with Ledger.open(db_url) as ledger:
        assert_money_exact(ledger, firsts, funded)
        assert ledger.prepaid_balance_cents(BTN) == 0


@pytest.mark.timeout(180)
@pytest.mark.parametrize("against", ["terminal", "inmate", "person"])
def test_eight_processes_keying_wrong_pins_lock_at_exactly_max_failures(db_url, against):
    """``terminal``: wrong PINs at one phone; ``inmate``: wrong PINs with one inmate's ID (the
    ID + PIN login), each at a phone of its own; ``person``: one wrong PIN before the inmate's own
    right one, at a phone each (charged to the PIN's owner)."""
    max_failures, attempts = 20, 5             # 40 wrong logins: 20 counted, then locked
    with Ledger.open(db_url) as ledger:
        ledger.add_inmate("1001", "John Doe", "1234")
    args = {"attempts": attempts, "max_failures": max_failures, "pin": "9999",
            **{"terminal": {"terminal": "t1"}, "inmate": {"inmate_id": "1001"},
               "person": {"pin": "1234", "failures_before": 1}}[against]}
    answers = run_at_once(db_url, "wrong-pins", args)
    flat = [a for mine in answers for a in mine]
    assert len(flat) == PROCESSES * attempts
    unlocked = [a for a in flat if not a["locked"]]
    locked = [a for a in flat if a["locked"]]
    # every wrong login before the lock was counted (a lost increment would let a 20th through) ...
    assert len(unlocked) == max_failures - 1
    # ... the lock fell once, at the 20th, and held: nobody moved it, nothing was checked after it
    until = {a["until"] for a in locked}
    assert len(until) == 1 and not any(a["ok"] for a in locked)
    if against == "terminal":                 # the phone's own count: 1, 2 ... 19, then 20 locks
        assert sorted(a["failures"] for a in unlocked) == list(range(1, max_failures))
        assert [a["failures"] for a in locked].count(max_failures) == 1
    assert all(a["ok"] for a in unlocked) if against == "person" else not any(a["ok"] for a in unlocked)
    table, key, count = ("terminals", "t1", 0) if against == "terminal" else ("inmates", "1001", max_failures)
    with Ledger.open(db_url) as ledger:        # (a person's count outlives the lock; a phone's restarts)
        row = ledger.db.query(f"SELECT failed_pins, locked_until_s FROM {table} WHERE id=?", (key,))[0]
        assert (row[0], row[1]) == (count, until.pop())
