"""The live board behind every open board page: one follower of the live events, many pages.

One thread follows the ``live_events`` table (:class:`~phonesim.facility.live.LiveFollower`:
``LISTEN`` on PostgreSQL, a short poll on SQLite) and folds each event into the
:class:`~phonesim.facility.live.Board`; every row that changed is handed to each page's
queue on the server's event loop, and the page's server-sent-event stream sends it on.
So a hundred open boards cost one reader of the database, not a hundred.

The board starts from the facility's terminals and folds the last hour of events, so a
page opened mid-call shows the call as it is.  A privileged number is never more than
"privileged" here: :class:`~phonesim.facility.live.Board` hides it before any page sees it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict
from typing import Any

from phonesim.clock import normal_priority
from phonesim.exc import PhoneSimError
from phonesim.facility.live import Board, BoardRow, LiveFollower

log = logging.getLogger(__name__)

#: Events folded when the hub starts (a call in progress shows with its history).
HISTORY_S = 3600.0
#: Phases of a call in progress (not idle, not finished).
IDLE_PHASES = ("idle", "done")


class ConsoleBoard(Board):
    """The board of :mod:`phonesim.facility.live`, holding back each dialled number until the
    platform has said whether it is privileged: between the digits and the answer (a few
    milliseconds, but a page may be sent a row in between) an attorney's number would show."""

    def __init__(self) -> None:
        super().__init__()
        self.number_checked: set[str] = set()

    def apply(self, event: Any) -> BoardRow:
        if event.kind == "offhook":
            self.number_checked.discard(event.terminal)
        elif event.kind == "answer" and event.detail.get("what") == "number":
            self.number_checked.add(event.terminal)
        return super().apply(event)

    def row_dict(self, terminal: str, *, local: bool) -> dict[str, Any]:
        """What a board page gets of one row (``local``: its line is in this process, so it may be
        listened to here)."""
        row = self.rows[terminal]
        d = asdict(row)
        d.pop("history", None)
        d["in_call"] = row.phase not in IDLE_PHASES
        d["local"] = local
        d["listenable"] = local and d["in_call"] and not row.privileged
        if row.privileged:
            d["number"] = "privileged"
        elif terminal not in self.number_checked:
            d["number"] = ""
        return d


class LiveHub:
    """Follows the live events of ``facility_id`` and fans the board's changes out to pages."""

    def __init__(self, db: Any, sites: Any, facility_id: str, *, host: Any = None, poll_s: float = 0.25) -> None:
        self.db = db
        self.sites = sites
        self.facility_id = facility_id
        self.host = host
        self.poll_s = poll_s
        self.board = ConsoleBoard()
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-live", daemon=True)
        self._follower: LiveFollower | None = None
        self.events_seen = 0

    def __repr__(self) -> str:
        return f"<LiveHub {self.facility_id} rows={len(self.board.rows)} pages={len(self._subscribers)}>"

    def start(self) -> LiveHub:
        start = self.db.query("SELECT COALESCE(MIN(id), 1) - 1 FROM live_events WHERE at_s >= ?",
                              (time.time() - HISTORY_S,))
        self._follower = LiveFollower(self.db, facility_id=self.facility_id, since_id=int(start[0][0]))
        for terminal in self.sites.terminals(self.facility_id):
            row = self.board.row(terminal.id)
            row.unit, row.status = terminal.unit, terminal.status or ""
        self._fold()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop following; every page's stream is told to end (``None``), so a server can stop
        without waiting for open boards."""
        self._stop.set()
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, None)
            except RuntimeError:
                pass
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._follower is not None:
            self._follower.close()

    # --- pages -------------------------------------------------------------------------------
    def local(self, terminal: str) -> bool:
        return self.host is not None and terminal in self.host.lines()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.board.row_dict(t, local=self.local(t)) for t in sorted(self.board.rows)]

    def row(self, terminal: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.board.rows.get(terminal)
            return None if row is None else self.board.row_dict(terminal, local=self.local(terminal))

    def subscribe(self) -> asyncio.Queue:
        """A queue of changed rows for one page (call on the server's event loop)."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    # --- the follower's thread ------------------------------------------------------------------
    def _fold(self) -> list[dict[str, Any]]:
        events = self._follower.poll()
        changed: set[str] = set()
        with self._lock:
            for event in events:
                self.board.apply(event)
                changed.add(event.terminal)
            self.events_seen += len(events)
            return [self.board.row_dict(name, local=self.local(name)) for name in changed]

    def _run(self) -> None:
        normal_priority()
        while not self._stop.is_set():
            try:
                rows = self._fold()
            except Exception as err:  # noqa: BLE001 - the board must go on: the database away, a bad row
                level = logging.WARNING if isinstance(err, PhoneSimError) else logging.ERROR
                log.log(level, "live board: events not read (%s: %s); trying again", type(err).__name__, err)
                rows = []
            if rows:
                with self._lock:
                    subscribers = list(self._subscribers)
                for loop, queue in subscribers:
                    for row in rows:
                        try:
                            loop.call_soon_threadsafe(_offer, queue, row)
                        except RuntimeError:          # that page's loop has closed
                            self.unsubscribe(queue)
            self._follower.wait(self.poll_s)


def _offer(queue: asyncio.Queue, row: dict) -> None:
    """Hand a row to a page; a page too slow to take 1000 rows loses the oldest (it gets the
    newest state of every row it is sent later anyway)."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(row)
