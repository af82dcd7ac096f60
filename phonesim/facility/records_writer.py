"""Writing a call's record while the call goes on, without losing it when the database is away.

:class:`CallRecordWriter` keeps what the CDR must get — the opening (off-hook time,
terminal), field updates (inmate, number, answer time ...), the timeline entries of
the call's log, the called party's block, the minutes still to charge when the call
ended, the close — as pending work on the line's thread, and hands it to the line's
job runner one batch at a time. A batch that fails stays pending and goes again with
the next flush: the call itself never waits and never fails because of its record.
Every write is idempotent (the call's ``call_key``, each entry's ``seq``, each charge's
call and minute), so a batch that reached the database before its connection broke
is harmless to send twice.

Minutes still to charge: while a call is up the call flow retries a charge the database
could not take; once the call has ended (the caller hung up during an outage, or the
outage itself ended it) nobody would, so the line hands such minutes to the call's
record, and they are charged before the record is closed: a started minute is billed
exactly once, whenever the database comes back, and the record's billed minutes agree.

``flush()`` is cheap when there is nothing to do; the line calls it once per frame.
A failed batch is tried again after :data:`RETRY_FRAMES`, not on every frame.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from phonesim.clock import frames_from_s
from phonesim.exc import LedgerError
from phonesim.facility.calllog import LogEntry

log = logging.getLogger(__name__)

#: A batch that failed is sent again this long after the failure.
RETRY_FRAMES = frames_from_s(2)


@dataclass(frozen=True, slots=True)
class PendingCharge:
    """A started minute whose charge the database has not taken yet (see the module docstring)."""

    minute_index: int
    payer_kind: str
    payer_id: str
    cents: int
    wall_s: float


@dataclass
class _Batch:
    open: tuple[str, str, float] | None = None          # (call_key, terminal, offhook_wall_s)
    fields: dict[str, Any] = field(default_factory=dict)
    entries: list[LogEntry] = field(default_factory=list)
    blocks: list[tuple[str, float]] = field(default_factory=list)
    charges: dict[int, PendingCharge] = field(default_factory=dict)   # by minute index
    close: tuple[str, float] | None = None               # (disposition, ended_wall_s)

    def empty(self) -> bool:
        return not (self.open or self.fields or self.entries or self.blocks or self.charges or self.close)

    def take(self) -> _Batch:
        """Move everything into a new batch (this one is left empty)."""
        batch = _Batch(self.open, self.fields, self.entries, self.blocks, self.charges, self.close)
        self.open, self.fields, self.entries, self.blocks, self.charges, self.close = None, {}, [], [], {}, None
        return batch

    def put_back(self, failed: _Batch) -> None:
        """A batch that failed goes in front of what came meanwhile (order kept)."""
        self.open = failed.open or self.open
        self.fields = {**failed.fields, **self.fields}
        self.entries = failed.entries + self.entries
        self.blocks = failed.blocks + self.blocks
        self.charges = {**failed.charges, **self.charges}
        self.close = self.close or failed.close


class _Record:
    """One call's record: its key, its id once created, and what it still needs."""

    def __init__(self, call_key: str, terminal: str, offhook_wall_s: float) -> None:
        self.call_key = call_key
        self.call_id: int | None = None      # set on the worker thread by the opening write
        self.pending = _Batch(open=(call_key, terminal, offhook_wall_s))
        self.closing = False
        self.close_written = False

    def __repr__(self) -> str:
        return f"<_Record {self.call_key[:8]} id={self.call_id}>"


class CallRecordWriter:
    """The CDRs of one line's calls, written in the background (see the module docstring).

    Parameters
    ----------
    records
        A :class:`phonesim.facility.services.CallRecords`.
    policy
        A :class:`phonesim.facility.services.CallPolicy` (the called party's blocks).
    billing
        A :class:`phonesim.facility.services.Billing` (minutes charged after the call ended).
    jobs
        The line's job runner.
    terminal
        The station name written into the record.

    A call's record stays queued until all of it, close included, is in the database;
    a new call opening meanwhile gets a record of its own and waits behind it.
    """

    def __init__(self, records: Any, policy: Any, jobs: Any, terminal: str, *, billing: Any = None) -> None:
        self.records = records
        self.policy = policy
        self.billing = billing
        self.jobs = jobs
        self.terminal = terminal
        self._current: _Record | None = None
        self._queue: list[_Record] = []        # records with work left, oldest first
        self._in_flight = False
        self._retry_at = -1
        self.failures = 0
        self.failures_in_a_row = 0
        self.last_error = ""
        # called on the line's thread: with the error text when writes start failing (not at
        # every retry), with the number of failed attempts when they succeed again, and with
        # (call_key, call_id) once a record is written whole, close included
        self.on_failure = None
        self.on_recovered = None
        self.on_closed = None

    def __repr__(self) -> str:
        return (f"<CallRecordWriter call_id={self.call_id} queued={len(self._queue)} "
                f"in_flight={self._in_flight} failures={self.failures}>")

    @property
    def call_id(self) -> int | None:
        """The id of the current call's record (None until the database has created it)."""
        return self._current.call_id if self._current is not None else None

    @property
    def call_key(self) -> str:
        return self._current.call_key if self._current is not None else ""

    # --- the line's side -------------------------------------------------------------------
    def open(self, offhook_wall_s: float) -> str:
        """A new call: its record is created with the next flush; returns its key."""
        self._current = _Record(uuid.uuid4().hex, self.terminal, offhook_wall_s)
        self._queue.append(self._current)
        return self._current.call_key

    def _batch(self) -> _Batch:
        if self._current is None:
            raise LedgerError("CallRecordWriter: no call is open (OpenCdr comes first)")
        return self._current.pending

    def set(self, **fields: Any) -> None:
        self._batch().fields.update(fields)

    def add(self, entry: LogEntry) -> None:
        """A timeline entry of the current call (after its close, the log keeps it alone)."""
        if self._current is not None and not self._current.closing:
            self._current.pending.entries.append(entry)

    def one_shot(self, wall_s: float, disposition: str, frame: int, data: dict[str, Any]) -> None:
        """A record opened and closed at once, beside the current call (an inbound call refused)."""
        record = _Record(uuid.uuid4().hex, self.terminal, wall_s)
        record.pending.entries.append(LogEntry(0, 0, frame, wall_s, disposition, data))
        record.pending.close = (disposition, wall_s)
        record.closing = True
        self._queue.append(record)

    def block(self, number: str, wall_s: float) -> None:
        self._batch().blocks.append((number, wall_s))

    def charge_later(self, record: _Record, charge: PendingCharge) -> None:
        """Charge a minute of ``record``'s call before its close is written (its call has
        ended, or is ending, with the charge not taken)."""
        if self.billing is None:
            raise LedgerError("CallRecordWriter: no billing to charge a minute with")
        record.pending.charges[charge.minute_index] = charge
        if record not in self._queue:          # its close is written already: charge, then close again
            self._queue.append(record)

    @property
    def current(self) -> _Record | None:
        """The current call's record (a charge's job keeps it: the line may open another meanwhile)."""
        return self._current

    def close(self, disposition: str, ended_wall_s: float) -> None:
        self._batch().close = (disposition, ended_wall_s)
        self._current.closing = True

    @property
    def idle(self) -> bool:
        """Nothing pending and nothing being written."""
        return not self._in_flight and all(r.pending.empty() for r in self._queue)

    @property
    def stuck(self) -> bool:
        """The last few writes all failed (the database is away)."""
        return self.failures_in_a_row >= 3

    def flush(self, now_frame: int, *, force: bool = False) -> None:
        """Send what is pending as one job, unless a batch is on its way or a retry is not due
        (``force``: now, even so — closing)."""
        if self._in_flight or (now_frame < self._retry_at and not force):
            return
        record = next((r for r in self._queue if not r.pending.empty()), None)
        if record is None:
            return
        batch = record.pending.take()
        self._in_flight = True

        def work() -> int | None:
            return self._write(record, batch)

        def done(call_id: int | None, error: BaseException | None) -> None:
            self._in_flight = False
            if error is None:
                if self.failures_in_a_row and self.on_recovered is not None:
                    self.on_recovered(self.failures_in_a_row)
                self.failures_in_a_row = 0
                record.close_written = record.close_written or batch.close is not None
                if record.closing and record.pending.empty() and record.close_written:
                    self._queue.remove(record)
                    if self.on_closed is not None:
                        self.on_closed(record.call_key, call_id)
                return
            self.failures += 1
            self.failures_in_a_row += 1
            self.last_error = f"{type(error).__name__}: {error}"
            record.pending.put_back(batch)
            self._retry_at = now_frame + RETRY_FRAMES
            if self.failures_in_a_row == 1 and self.on_failure is not None:
                self.on_failure(self.last_error)

        self.jobs.submit(work, done)

    # --- the worker's side -----------------------------------------------------------------
    def _write(self, record: _Record, batch: _Batch) -> int | None:
        if batch.open is not None:
            call_key, terminal, offhook_wall_s = batch.open
            record.call_id = self.records.open_call(call_key=call_key, terminal=terminal,
                                                    offhook_wall_s=offhook_wall_s)
            batch.open = None                           # done: not again on a retry
        while batch.blocks:
            number, wall_s = batch.blocks[0]
            self.policy.block_by_called_party(number, wall_s=wall_s)
            batch.blocks = batch.blocks[1:]
        call_id = record.call_id
        if call_id is None:
            return None
        if batch.fields:
            self.records.update_call(call_id, batch.fields)
            batch.fields = {}
        if batch.entries:
            self.records.add_call_events(call_id, batch.entries)
            batch.entries = []
        for minute_index, charge in sorted(batch.charges.items()):
            self.billing.charge_minute(call_id, minute_index, payer_kind=charge.payer_kind,
                                       payer_id=charge.payer_id, cents=charge.cents, wall_s=charge.wall_s)
            del batch.charges[minute_index]
        if batch.close is not None:
            disposition, ended_wall_s = batch.close
            self.records.close_call(call_id, disposition=disposition, ended_wall_s=ended_wall_s)
        return call_id
