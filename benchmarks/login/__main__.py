"""PIN login cost and the write lock it holds, with 10,000 inmates (printed, nothing asserted).

A wall phone's login is one key derivation (scrypt) computed *before* the database
transaction, then one indexed look-up and the counters' update inside it.  This
measures, on a real SQLite ledger file holding ``--inmates`` inmates:

1. the login time (key derivation + transaction), right and wrong PINs;
2. how long the login holds the database's write lock (the transaction alone);
3. what another line's per-minute charge waits meanwhile: charges are made in a loop
   on one thread while another logs in over and over, and the charge times are
   compared with the same loop while nobody logs in.

For comparison, the scheme phonesim used before (every inmate sharing a one-byte tag
with the PIN tried with its own salted scrypt, *inside* the transaction) is reproduced
by a transaction that runs as many scrypt derivations as a 10,000-inmate database puts
behind one tag (10,000 / 256), so the figures come from one run on one machine.

The inmates other than the few that log in are inserted straight into the table with
random lookup keys (enrolling 10,000 people through ``add_inmate`` would run 10,000
scrypt derivations, about six minutes, and changes nothing about a login's cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from phonesim.clock import VirtualClock
from phonesim.facility.ledger import Ledger

PROBES = {"1001": "1234", "1002": "2345", "1003": "3456"}


def build(path: Path, inmates: int) -> Ledger:
    ledger = Ledger.open(path, clock=VirtualClock())
    for inmate_id, pin in PROBES.items():
        ledger.add_inmate(inmate_id, f"Probe {inmate_id}", pin)
    ledger.fund_prepaid("5735550100", 10**8)
    rows = [(f"x{i:06d}", "Someone", "inmate_name_default", 0, b"", os.urandom(32), "bench", os.urandom(32),
             "general", "A-1", "2026-01-01T00:00:00Z") for i in range(inmates - len(PROBES))]
    with ledger._tx() as c:
        c.executemany("INSERT INTO inmates(id, name, name_prompt, pin_tag, pin_salt, pin_hash, pin_kdf, "
                      "pin_lookup, status, housing_unit, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    return ledger


def timed_transactions(ledger: Ledger) -> list[float]:
    """Wrap the ledger's transactions so each one's duration (the lock held) is kept."""
    held: list[float] = []
    original = ledger._tx

    @contextmanager
    def tx():
        with original() as c:
            t0 = time.perf_counter()
            yield c
        held.append(time.perf_counter() - t0)
    ledger._tx = tx
    return held


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def old_scheme_login(ledger: Ledger, candidates: int) -> None:
    """The login as it was: ``candidates`` salted scrypt derivations inside the write transaction."""
    import hashlib

    with ledger._tx() as c:
        c.execute("SELECT * FROM terminals WHERE id='bench'").fetchall()
        for _ in range(candidates):
            hashlib.scrypt(b"1234", salt=os.urandom(16), n=2**14, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32)
        c.execute("INSERT OR IGNORE INTO terminals(id) VALUES ('bench')")


def charges_while(ledger: Ledger, login, seconds: float, call_id: int) -> list[float]:
    """Charge one minute after another of call ``call_id`` for ``seconds`` while ``login`` runs
    in a loop elsewhere."""
    stop = threading.Event()

    def logins():
        while not stop.is_set():
            login()

    thread = threading.Thread(target=logins, name="logins", daemon=True) if login else None
    if thread:
        thread.start()
    times, minute, end = [], 0, time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        ledger.charge_minute(call_id, minute, payer_kind="prepaid",
                             payer_id="5735550100", amount_cents=5)
        times.append(time.perf_counter() - t0)
        minute += 1
        time.sleep(0.005)
    stop.set()
    if thread:
        thread.join()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.login", description=__doc__.split("\n")[0])
    parser.add_argument("--inmates", type=int, default=10_000)
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=5.0, help="each charge loop's length")
    args = parser.parse_args(argv)
    candidates = max(1, round(args.inmates / 256))
    with tempfile.TemporaryDirectory() as tmp:
        ledger = build(Path(tmp) / "login.sqlite3", args.inmates)
        held = timed_transactions(ledger)
        login_s, wrong_s = [], []
        for i in range(args.logins):
            t0 = time.perf_counter()
            assert ledger.authenticate(PROBES["1001"], terminal=f"t{i}").ok
            login_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ledger.authenticate("9999", terminal=f"w{i}")
            wrong_s.append(time.perf_counter() - t0)
        auth_held = held[:]
        held.clear()
        charges_while(ledger, None, 1.0, call_id=9)                     # warm up the WAL
        new = charges_while(ledger, lambda: ledger.authenticate(PROBES["1002"], terminal="busy"),
                            args.seconds, call_id=2)
        quiet = charges_while(ledger, None, args.seconds, call_id=1)
        held.clear()
        old = charges_while(ledger, lambda: old_scheme_login(ledger, candidates), args.seconds, call_id=3)
        old_held = held[-1] if held else float("nan")
        t0 = time.perf_counter()
        old_scheme_login(ledger, candidates)
        old_login = time.perf_counter() - t0
        problems = ledger.reconcile()
        ledger.close()

    ms = 1000.0
    print(f"# PIN login with {args.inmates:,} inmates (SQLite file, WAL, synchronous=FULL)\n")
    print("| | median ms | p99 ms |\n|---|---|---|")
    print(f"| login, right PIN (scrypt + transaction) | {statistics.median(login_s) * ms:.1f} | "
          f"{percentile(login_s, 0.99) * ms:.1f} |")
    print(f"| login, wrong PIN | {statistics.median(wrong_s) * ms:.1f} | {percentile(wrong_s, 0.99) * ms:.1f} |")
    print(f"| write lock held by a login (the transaction alone) | {statistics.median(auth_held) * ms:.2f} | "
          f"{percentile(auth_held, 0.99) * ms:.2f} |")
    print(f"| the scheme before: login (≈ lock held), {candidates} scrypt inside the transaction | "
          f"{old_login * ms:.0f} | {old_held * ms:.0f} |\n")
    print("Another line's per-minute charge (one transaction, fsync'd) while logins run in a loop:\n")
    print("| logins meanwhile | charges | median ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for name, times in (("none", quiet), ("now (lookup key)", new), ("the scheme before", old)):
        print(f"| {name} | {len(times)} | {statistics.median(times) * ms:.1f} | "
              f"{percentile(times, 0.99) * ms:.1f} | {max(times) * ms:.1f} |")
    print(f"\nledger reconciles: {not problems}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
