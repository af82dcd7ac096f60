"""What happens on every line, live, for anyone following a facility from any host.

Every line already writes one log per call (:mod:`phonesim.facility.calllog`): each
digit (a PIN masked), prompt, phase, answer, charge, warning, three-way suspicion, the
end.  :class:`LivePublisher` copies those entries, with the terminal and the call's
record id, into the database's ``live_events`` table — a few rows per second per busy
line, batched — and on PostgreSQL sends ``NOTIFY phonesim_live`` after each batch so
followers on other hosts wake at once.  :class:`LiveFollower` reads the table from where
it left off (waiting on ``LISTEN`` with PostgreSQL, polling with SQLite, whose followers
are on the same host), and :class:`Board` folds the events into one row per terminal:
what ``phonesim calls --follow`` and the officers' console show.

The table is the truth; a notification is only a wake-up (one can be missed, a row
cannot).  Ids may commit out of order on PostgreSQL, so a follower re-reads a short
window behind its last id and skips what it has seen.  Old rows are pruned after
``RETAIN_S``: the call records keep the history.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from phonesim.clock import normal_priority
from phonesim.exc import DatabaseUnavailable

log = logging.getLogger(__name__)

CHANNEL = "phonesim_live"
#: Live events older than this are pruned (the CDR timelines keep every call's history).
RETAIN_S = 24 * 3600.0
#: How far behind its last id a follower looks again (ids committed late on PostgreSQL).
REREAD_WINDOW = 200


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    at_s: float
    facility: str
    terminal: str
    call_id: int | None
    call_seq: int
    kind: str
    detail: dict


class LivePublisher:
    """Copies line log entries into ``live_events`` on its own thread (never on a frame's path).

    ``attach(line)`` hooks a line's log: each entry is queued (a deque append, on the line's
    thread); every ``interval_s`` the thread writes what is queued in one transaction.  A
    terminal's status changes (up, down, stalls) are published with :meth:`publish`.
    """

    def __init__(self, db: Any, facility_id: str, *, interval_s: float = 0.1,
                 now_s: Callable[[], float] = time.time) -> None:
        self.db = db
        self.now_s = now_s                  # a host in virtual time stamps with its own clock
        self.facility_id = facility_id
        self.interval_s = interval_s
        self._queue: deque[tuple] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
        self.published = 0
        self.failures = 0
        self.failures_in_a_row = 0
        self._last_prune = 0.0
        self._newest_at_s = 0.0

    def __repr__(self) -> str:
        return f"<LivePublisher {self.facility_id} published={self.published} queued={len(self._queue)}>"

    def start(self) -> LivePublisher:
        self._thread.start()
        return self

    def attach(self, line: Any) -> None:
        terminal = line.terminal
        records = line.executor.records

        def on_entry(entry: Any) -> None:
            self._queue.append((entry.wall_s, terminal, records.call_id, entry.call, entry.kind,
                                dict(entry.data)))
        line.log.listeners.append(on_entry)

    def publish(self, terminal: str, kind: str, /, **detail: Any) -> None:
        """An event of a terminal outside any call (up, down, a stall ...)."""
        self._queue.append((self.now_s(), terminal, None, 0, kind, detail))

    def flush(self) -> int:
        """Write what is queued (the thread does it every ``interval_s``; tests and closing too)."""
        batch = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return 0
        rows = [(at_s, self.facility_id, terminal, call_id, call_seq, kind,
                 json.dumps(detail, default=str, sort_keys=True))
                for at_s, terminal, call_id, call_seq, kind, detail in batch]
        try:
            with self.db.transaction() as tx:
                tx.executemany("INSERT INTO live_events(at_s, facility, terminal, call_id, call_seq, kind, "
                               "detail) VALUES (?,?,?,?,?,?,?)", rows)
                if self.db.dialect == "postgresql":
                    tx.execute("SELECT pg_notify(?, ?)", (CHANNEL, self.facility_id))
        except Exception as err:  # noqa: BLE001 - the database away: keep the events, try again
            self.failures += 1
            self.failures_in_a_row += 1
            self._queue.extendleft(reversed(batch))
            while len(self._queue) > 100_000:          # a long outage: keep the newest
                self._queue.popleft()
            if self.failures_in_a_row == 1:            # once per outage, not every interval_s
                log.warning("live events not written (kept, tried again every %g s): %s",
                            self.interval_s, err)
            return 0
        if self.failures_in_a_row:
            log.warning("live events written again after %d failed attempts", self.failures_in_a_row)
            self.failures_in_a_row = 0
        self.published += len(rows)
        self._newest_at_s = max(self._newest_at_s, max(row[0] for row in rows))
        return len(rows)

    def _prune(self) -> None:
        """Drop events older than ``RETAIN_S`` before the newest this publisher wrote.

        Measured from the newest event, not from ``time.time()``: a host in virtual time writes
        its clock's times (2026-01-01 onwards), and pruning those against the real date deleted
        a call's first events moments after they were written.
        """
        now = time.monotonic()
        if self._newest_at_s == 0.0 or (self._last_prune and now - self._last_prune < 600):
            return
        self._last_prune = now
        try:
            with self.db.transaction() as tx:
                tx.execute("DELETE FROM live_events WHERE facility = ? AND at_s < ?",
                           (self.facility_id, self._newest_at_s - RETAIN_S))
        except Exception as err:  # noqa: BLE001 - pruning is housekeeping; it is tried again later
            log.warning("pruning live events: %s", err)

    def _run(self) -> None:
        normal_priority()                  # never preempt a line's frames
        while not self._stop.wait(self.interval_s):
            self.flush()
            self._prune()
        self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        else:
            self.flush()


class LiveFollower:
    """Reads live events as they are written (any host), from now or from an id."""

    def __init__(self, db: Any, *, facility_id: str | None = None, since_id: int | None = None) -> None:
        self.db = db
        self.facility_id = facility_id
        if since_id is None:
            rows = db.query("SELECT COALESCE(MAX(id), 0) FROM live_events")
            since_id = int(rows[0][0])
        self.last_id = since_id
        self._seen: deque[int] = deque(maxlen=4 * REREAD_WINDOW)
        self._seen_set: set[int] = set()
        self._listener: Any = None
        self.unavailable = ""             # why the last poll could not read (the database away)

    def __repr__(self) -> str:
        return f"<LiveFollower after id {self.last_id}>"

    def poll(self) -> list[LiveEvent]:
        """Events written since the last poll, in id order.

        While the database is away this returns nothing and :attr:`unavailable` says why (a
        board shows it); the events written meanwhile come with the first poll after."""
        sql = "SELECT * FROM live_events WHERE id > ?"
        params: list[Any] = [max(0, self.last_id - REREAD_WINDOW)]
        if self.facility_id:
            sql += " AND facility = ?"
            params.append(self.facility_id)
        try:
            rows = self.db.query(sql + " ORDER BY id", params)
        except DatabaseUnavailable as err:
            if not self.unavailable:
                log.warning("live events: %s; trying again", err)
            self.unavailable = str(err)
            return []
        self.unavailable = ""
        events = []
        for r in rows:
            if r["id"] in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(r["id"])
            self._seen_set.add(r["id"])
            self.last_id = max(self.last_id, int(r["id"]))
            events.append(LiveEvent(int(r["id"]), float(r["at_s"]), r["facility"], r["terminal"], r["call_id"],
                                    int(r["call_seq"]), r["kind"], json.loads(r["detail"] or "{}")))
        return events

    def wait(self, timeout_s: float) -> None:
        """Wait for new events: a NOTIFY on PostgreSQL (or the timeout), the timeout on SQLite."""
        if self.db.dialect != "postgresql":
            time.sleep(timeout_s)
            return
        try:
            if self._listener is None:
                import psycopg

                self._listener = psycopg.connect(self.db.target, autocommit=True)
                self._listener.execute(f"LISTEN {CHANNEL}")
            for _ in self._listener.notifies(timeout=timeout_s, stop_after=1):
                pass
        except Exception as err:  # noqa: BLE001 - the server away: fall back to polling, reconnect later
            log.debug("live events: LISTEN failed (%s); polling", err)
            self._listener = None
            time.sleep(timeout_s)

    def follow(self, *, timeout_s: float = 0.5) -> Iterator[list[LiveEvent]]:
        """Batches of events for ever (an empty batch when nothing came within ``timeout_s``)."""
        while True:
            yield self.poll()
            self.wait(timeout_s)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


# --- the board: one row per terminal ---------------------------------------------------------
@dataclass
class BoardRow:
    """What a live board shows of one terminal."""

    terminal: str
    unit: str = ""
    status: str = ""              # up, down: ..., gone
    phase: str = "idle"
    inmate: str = ""
    number: str = ""              # a privileged number is only ever shown as "privileged"
    call_type: str = ""
    connected_at_s: float | None = None
    ended_at_s: float | None = None
    cents: int = 0
    warnings: int = 0
    threeway: str = ""
    disposition: str = ""
    call_id: int | None = None
    stalls: int = 0
    privileged: bool = False
    updated_at_s: float = 0.0
    history: list = field(default_factory=list)

    def duration_s(self, now_s: float) -> float:
        if self.connected_at_s is None:
            return 0.0
        return max(0.0, (self.ended_at_s or now_s) - self.connected_at_s)


class Board:
    """Folds live events into :class:`BoardRow` per terminal."""

    def __init__(self) -> None:
        self.rows: dict[str, BoardRow] = {}

    def row(self, terminal: str) -> BoardRow:
        if terminal not in self.rows:
            self.rows[terminal] = BoardRow(terminal)
        return self.rows[terminal]

    def apply(self, event: LiveEvent) -> BoardRow:
        row = self.row(event.terminal)
        d, kind = event.detail, event.kind
        row.updated_at_s = event.at_s
        if event.call_id is not None:
            row.call_id = event.call_id
        if kind == "terminal":
            row.status = str(d.get("status", ""))
            row.unit = str(d.get("unit", row.unit))
        elif kind == "stall":
            row.stalls += 1
        elif kind == "offhook":
            row.__init__(row.terminal, row.unit, row.status, stalls=row.stalls)   # a new call
            row.phase = "pin"
            row.call_id = event.call_id
        elif kind == "phase":
            row.phase = str(d.get("phase", ""))
            if row.phase == "connected" and row.connected_at_s is None:
                row.connected_at_s = event.at_s
        elif kind == "answer" and d.get("what") == "authenticate" and d.get("ok"):
            row.inmate = str(d.get("inmate_id", ""))
        elif kind == "answer" and d.get("what") == "number" and d.get("ok"):
            row.privileged = bool(d.get("privileged"))
            row.number = "privileged" if row.privileged else str(d.get("number", ""))
        elif kind == "number-entered" and not row.privileged:
            row.number = str(d.get("number", ""))
        elif kind == "charge" and d.get("ok"):
            row.cents += int(d.get("cents", 0))
        elif kind == "warning":
            row.warnings += 1
        elif kind == "three-way":                  # suspected or confirmed (a note flags nothing)
            row.threeway = f"{d.get('level', '')} {d.get('kind')} {float(d.get('confidence', 0)):.2f}".strip()
        elif kind == "end":
            row.disposition = str(d.get("disposition", ""))
            row.ended_at_s = event.at_s
        elif kind == "call-type":
            row.call_type = str(d.get("call_type", ""))
        elif kind == "onhook" and row.phase != "done":
            row.phase = "idle"
        if row.privileged:
            row.number = "privileged"
        return row
