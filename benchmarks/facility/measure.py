"""What the facility benchmark measures around the real platform, and the ledger's checks.

* **look-up latency**: the time each call into the platform's interfaces takes
  (:class:`~phonesim.facility.services.Services`: authenticate, may_call, check_number,
  charge_minute, the call records), measured around the call;
* **lock waits**: the time a transaction waits to begin — on SQLite ``BEGIN IMMEDIATE``,
  which takes the one write lock (and the process's connection lock); on PostgreSQL a
  pooled connection and ``BEGIN`` — and, on PostgreSQL, the time of each ``SELECT ... FOR
  UPDATE`` (the row lock of an account or a terminal, with its round trip);
* **database server CPU** of a PostgreSQL server (its processes, from ``/proc``).

The wrappers change nothing the platform does; they only time it.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from typing import Any

from phonesim.facility.services import Services

#: Interface methods reported as look-ups, charges and records.
LOOKUPS = ("authenticate", "may_call", "check_number")
CHARGES = ("charge_minute",)
RECORDS = ("open_call", "update_call", "add_call_events", "close_call")


class Timings:
    """Seconds per named operation, and what the billing interface answered per call."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.charged: Counter = Counter()       # call id -> minutes the billing interface charged
        self.refused: Counter = Counter()       # call id -> minutes it refused (no money)

    def add(self, other: dict) -> None:
        """Merge another process's figures (``as_dict()``)."""
        for name, values in other["seconds"].items():
            self.seconds[name] += values
        self.charged.update({int(k): v for k, v in other["charged"].items()})
        self.refused.update({int(k): v for k, v in other["refused"].items()})

    def as_dict(self) -> dict:
        return {"seconds": dict(self.seconds), "charged": dict(self.charged), "refused": dict(self.refused)}

    def summary(self, names: tuple[str, ...]) -> tuple[int, float, float, float]:
        """(count, p50 ms, p99 ms, max ms) over the operations ``names``."""
        values = sorted(v for n in names for v in self.seconds.get(n, ()))
        if not values:
            return 0, math.nan, math.nan, math.nan
        return len(values), percentile(values, 0.5) * 1e3, percentile(values, 0.99) * 1e3, values[-1] * 1e3

    def total_s(self, names: tuple[str, ...]) -> float:
        return sum(v for n in names for v in self.seconds.get(n, ()))


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class _Timed:
    """One interface of the platform, each method call timed."""

    def __init__(self, inner: Any, timings: Timings) -> None:
        self._inner = inner
        self._timings = timings

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        seconds = self._timings.seconds[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                result = method(*args, **kwargs)
            finally:
                seconds.append(time.perf_counter() - t0)
            if name == "charge_minute":
                if result.ok and not result.duplicate:
                    self._timings.charged[int(args[0])] += 1
                elif not result.ok:
                    self._timings.refused[int(args[0])] += 1
            return result
        return call


def timed_services(services: Services, timings: Timings) -> Services:
    return Services(*(_Timed(part, timings) for part in
                      (services.identity, services.policy, services.billing, services.records)))


class _LockTimedTx:
    """A transaction's cursor whose ``SELECT ... FOR UPDATE`` statements are timed."""

    def __init__(self, tx: Any, seconds: list[float]) -> None:
        self._tx = tx
        self._seconds = seconds

    def execute(self, sql: str, params: Any = ()) -> Any:
        if "FOR UPDATE" not in sql:
            return self._tx.execute(sql, params)
        t0 = time.perf_counter()
        result = self._tx.execute(sql, params)
        self._seconds.append(time.perf_counter() - t0)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


def time_transactions(db: Any, timings: Timings) -> None:
    """Time how long each transaction of ``db`` waits to begin (and its row locks)."""
    original = db.transaction
    begin, row_locks = timings.seconds["tx-begin"], timings.seconds["row-lock"]

    @contextmanager
    def transaction():
        t0 = time.perf_counter()
        with original() as tx:
            begin.append(time.perf_counter() - t0)
            yield _LockTimedTx(tx, row_locks)
    db.transaction = transaction


def time_pin_lookups(ledger: Any, timings: Timings) -> None:
    """Keep the CPU time of each PIN key derivation (scrypt, by design about 45 ms), so the
    report can say how much of the platform's CPU it is."""
    original = ledger.pin_lookup
    cpu = timings.seconds["pin-kdf-cpu"]

    def pin_lookup(pin: str) -> bytes:
        t0 = time.thread_time()
        try:
            return original(pin)
        finally:
            cpu.append(time.thread_time() - t0)
    ledger.pin_lookup = pin_lookup


def server_cpu_s(postmaster_pid: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL server: the postmaster, its live processes, and
    (through the postmaster's children's times) the ones that have exited."""
    if postmaster_pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str] | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
    total = 0.0
    main = stat(postmaster_pid)
    if main is not None:    # fields after the name: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        total += sum(int(x) for x in main[11:15]) / tick
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat(int(entry))
            if fields is not None and int(fields[1]) == postmaster_pid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def ledger_checks(platform: Any, timings: Timings) -> dict:
    """Every money check, on the whole database: ``reconcile()``; each CDR's billed minutes and
    amount against its charges; no minute charged twice; the minutes the billing interface
    said it charged against the charges stored; and each connected call's billed minutes
    against its connected time (a minute is charged at acceptance and at the start of every
    further minute the call is connected, minus the minutes refused for want of money)."""
    db = platform.ledger.db
    problems = platform.ledger.reconcile()
    rows = db.query(
        "SELECT c.id, c.billed_minutes, c.amount_cents, c.accepted_s, c.closed, COUNT(ch.minute_index) AS n, "
        "COALESCE(SUM(ch.amount_cents), 0) AS cents FROM cdrs c LEFT JOIN charges ch ON ch.call_id=c.id "
        "GROUP BY c.id, c.billed_minutes, c.amount_cents, c.accepted_s, c.closed")
    twice = db.query("SELECT call_id, minute_index FROM journal WHERE kind='call-charge' "
                     "GROUP BY call_id, minute_index HAVING COUNT(*) > 1")
    stopped = {r["call_id"]: r["at_s"] for r in db.query(
        "SELECT call_id, MIN(at_s) AS at_s FROM cdr_events WHERE kind IN ('ending', 'end') GROUP BY call_id")}
    cdr_vs_charges = [r["id"] for r in rows if (r["billed_minutes"], r["amount_cents"]) != (r["n"], r["cents"])]
    interface_vs_db = [r["id"] for r in rows if timings.charged.get(r["id"], 0) != r["n"]]
    by_time = []
    for r in rows:
        if r["accepted_s"] is None:
            if r["n"]:
                by_time.append(r["id"])         # charged but never connected
            continue
        connected_frames = round((stopped.get(r["id"], r["accepted_s"]) - r["accepted_s"]) * 50)
        refused = timings.refused.get(r["id"], 0)
        if refused:     # the refused minute's own timer ended the call, on that very frame
            expected = connected_frames // 3000 + 1 - refused
        else:
            expected = max(1, math.ceil(connected_frames / 3000))
        if r["n"] != expected:
            by_time.append(r["id"])
    return {
        "reconcile": problems, "cdrs": len(rows), "open": sum(1 for r in rows if not r["closed"]),
        "cdr_vs_charges": cdr_vs_charges, "twice": [tuple(r) for r in twice],
        "interface_vs_db": interface_vs_db, "by_time": by_time,
        "clean": not (problems or cdr_vs_charges or twice or interface_vs_db or by_time
                      or any(not r["closed"] for r in rows)),
    }


def problem_count(checks: dict) -> int:
    return (len(checks["reconcile"]) + len(checks["cdr_vs_charges"]) + len(checks["twice"])
            + len(checks["interface_vs_db"]) + len(checks["by_time"]) + checks["open"])
