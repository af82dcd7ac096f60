"""Call detail records: one per attempt, with a timeline of what happened.

A CDR is opened when the handset goes off hook and closed when the attempt ends,
whatever the outcome (a wrong PIN is an attempt too).  Its fields are what an
investigator or a family asks about: who (inmate, via the PIN), from where
(facility, terminal), to whom (dialled number, privileged or not), how it was
paid (call type, payer, per-minute rate), when (off-hook, dialled, answered,
ended), what it cost (billed minutes, amount) and how it ended (disposition).
The **timeline** (``cdr_events``) holds each digit with its levels, each prompt,
each detection and each charge, as JSON, in order.

Money is not stored here but in the ledger's journal; a CDR's ``billed_minutes``
and ``amount_cents`` are recomputed from the charges when it is closed, so they
always agree with what was actually charged, even after a crash
(:meth:`CdrStore.recover_open_calls`).

Times follow the ledger's rule: every ``*_s`` is calendar seconds (since 1970 UTC),
stored with ISO 8601 UTC strings beside.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from phonesim.exc import InvalidInput, NotFound
from phonesim.facility.ledger import Ledger, iso_utc
from phonesim.facility.numbers import classify
from phonesim.facility.oversight import ThreeWayEscalation, incidents_for_call
from phonesim.facility.sites import GONE_AFTER_S
from phonesim.facility.vocabulary import CONNECTED_DISPOSITIONS as _CONNECTED
from phonesim.facility.vocabulary import Disposition

#: Call recordings: 8 kHz stereo 16-bit WAV with the plain 44-byte header (``recorder.py``).
RECORDING_RATE_HZ = 8000
RECORDING_BYTES_PER_FRAME = 4
WAV_HEADER_BYTES = 44

#: Dispositions: what ended an attempt (:class:`phonesim.facility.vocabulary.Disposition`;
#: docs/domain.md explains each).
DISPOSITIONS = tuple(Disposition)
#: Dispositions of calls that were connected (the called party accepted).
CONNECTED_DISPOSITIONS = tuple(sorted(_CONNECTED))

#: Columns :meth:`CdrStore.update` sets.  ``dialled_number`` is an alias of ``number``;
#: ``billed_minutes`` and ``amount_cents`` may be set during a call but are recomputed
#: from the charges when it closes.  Any other field goes to the ``extra`` JSON.
UPDATABLE = ("facility", "terminal", "inmate_id", "number", "call_type", "jurisdiction", "offhook_s",
             "dialled_s", "answered_s", "accepted_s", "payer_kind", "payer_id", "cents_per_min",
             "privileged", "recording_path", "threeway", "disposition", "billed_minutes", "amount_cents")
TIME_FIELDS = ("offhook_s", "dialled_s", "answered_s", "accepted_s")


@dataclass(frozen=True, slots=True)
class CdrEvent:
    at_s: float
    at: str
    kind: str
    detail: dict


@dataclass(frozen=True, slots=True)
class Cdr:
    call_id: int
    facility: str
    terminal: str
    inmate_id: str | None
    number: str
    call_type: str
    jurisdiction: str
    offhook_at: str
    dialled_at: str | None
    answered_at: str | None
    accepted_at: str | None
    ended_at: str | None
    offhook_s: float
    answered_s: float | None
    accepted_s: float | None
    ended_s: float | None
    billed_minutes: int
    amount_cents: int
    payer_kind: str
    payer_id: str
    cents_per_min: int | None
    disposition: str
    privileged: bool
    recording_path: str
    threeway: bool
    closed: bool
    extra: dict = field(default_factory=dict)
    events: tuple[CdrEvent, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        """Talk time: from acceptance (else answer) to the end; 0 when never answered."""
        start = self.accepted_s if self.accepted_s is not None else self.answered_s
        if start is None or self.ended_s is None:
            return 0.0
        return max(0.0, self.ended_s - start)

    def as_dict(self, *, events: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not events:
            d.pop("events")
        d["duration_s"] = self.duration_s
        return d


class CdrStore:
    """CDRs in the ledger's database (SQLite or PostgreSQL).  Thread-safe like the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db
        # repeated three-way calls to a number block it pending review (the ledger's profile says when)
        self.escalation = (ThreeWayEscalation.from_profile(ledger.profile) if ledger.profile is not None
                           else ThreeWayEscalation())

    def __repr__(self) -> str:
        return f"<CdrStore on {self.ledger.path!r}>"

    # -- writing ---------------------------------------------------------------------
    def open_call(self, *, terminal: str, inmate_id: str | None = None, offhook_s: float | None = None,
                  facility: str | None = None, call_key: str | None = None) -> int:
        """Start a record when the handset goes off hook; returns the call id.

        With ``call_key`` (a line's own id for the call) opening is idempotent: a retry
        after a lost connection returns the record the first attempt created.
        """
        wall = self.ledger.wall_s(offhook_s)
        with self.db.transaction() as c:
            if call_key is not None:
                row = c.execute("SELECT id FROM cdrs WHERE call_key=?", (call_key,)).fetchone()
                if row is not None:
                    return int(row[0])
            row = c.execute("INSERT INTO cdrs(facility, terminal, inmate_id, offhook_s, offhook_at, call_key) "
                            "VALUES (?,?,?,?,?,?) RETURNING id",
                            (facility if facility is not None else self.ledger.facility_id, terminal,
                             inmate_id, wall, iso_utc(wall), call_key)).fetchone()
            return int(row[0])

    def update(self, call_id: int, **fields: Any) -> None:
        """Set fields as they become known (``inmate_id`` after the PIN, ``number``, ``answered_s`` ...).

        Times (:data:`TIME_FIELDS`) are converted like ``offhook_s`` and their ISO
        strings follow; ``number``/``dialled_number`` is stored in canonical form.
        Fields without a column are kept in the record's ``extra`` JSON, so a call
        flow reporting something new never loses it nor crashes the line.
        """
        if "dialled_number" in fields:
            fields["number"] = fields.pop("dialled_number")
        if "disposition" in fields and fields["disposition"] not in DISPOSITIONS:
            raise InvalidInput(f"disposition: expected one of {', '.join(DISPOSITIONS)}, "
                             f"got {fields['disposition']!r}")
        cols: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in fields.items():
            if key not in UPDATABLE:
                extra[key] = value
            elif key in TIME_FIELDS:
                wall = None if value is None else self.ledger.wall_s(value)
                if wall is None and key == "offhook_s":
                    continue
                cols[key] = wall
                cols[key[:-2] + "_at"] = None if wall is None else iso_utc(wall)
            elif key in ("privileged", "threeway"):
                cols[key] = int(bool(value))
            elif key == "number":
                info = classify(str(value))
                cols[key] = info.digits if info.kind != "invalid" else str(value)
            else:
                cols[key] = value
        with self.db.transaction() as c:
            row = self._require(c, call_id)
            if extra:
                merged = {**json.loads(row["extra"] or "{}"), **extra}
                cols["extra"] = json.dumps(merged, default=_json_default, sort_keys=True)
            if cols:
                assignments = ", ".join(f"{k}=?" for k in cols)
                c.execute(f"UPDATE cdrs SET {assignments} WHERE id=?", (*cols.values(), int(call_id)))

    def add_event(self, call_id: int, at_s: float | None, kind: str, detail: dict | None = None) -> None:
        """Append to the call's timeline (``kind`` like ``digit``, ``prompt``, ``charge``, ``three-way``)."""
        self.add_events(call_id, [(None, at_s, kind, detail or {})])

    def add_events(self, call_id: int, events: list[tuple[int | None, float | None, str, dict]]) -> None:
        """Append ``(seq, at_s, kind, detail)`` entries to the call's timeline in one transaction.

        An entry whose ``seq`` is already stored for the call is skipped, so sending a batch
        again (a retry after a lost connection) never doubles the timeline.
        """
        rows = []
        threeway = False
        for seq, at_s, kind, detail in events:
            wall = self.ledger.wall_s(at_s)
            try:
                text = json.dumps(detail or {}, default=_json_default, sort_keys=True)
            except (TypeError, ValueError) as err:
                raise InvalidInput(f"CDR event detail: expected JSON-serialisable data, got {detail!r}") from err
            rows.append((int(call_id), seq, wall, iso_utc(wall), kind, text))
            threeway = threeway or kind == "three-way"      # the policy acted on a suspicion
        with self.db.transaction() as c:
            self._require(c, call_id)
            c.executemany("INSERT INTO cdr_events(call_id, seq, at_s, at, kind, detail) VALUES (?,?,?,?,?,?) "
                          "ON CONFLICT DO NOTHING", rows)
            if threeway:
                c.execute("UPDATE cdrs SET threeway=1 WHERE id=?", (int(call_id),))

    def close_call(self, call_id: int, *, disposition: str, ended_s: float | None = None) -> Cdr:
        """End the record: disposition, end time, billed minutes and amount from the charges.

        Idempotent: closing a closed call changes nothing and returns it as it is.
        """
        if disposition not in DISPOSITIONS:
            raise InvalidInput(f"disposition: expected one of {', '.join(DISPOSITIONS)}, got {disposition!r}")
        wall = self.ledger.wall_s(ended_s)
        with self.db.transaction() as c:
            row = self._require(c, call_id)
            if not row["closed"]:
                self._close(c, int(call_id), disposition, wall)
        return self.get(call_id)

    def _close(self, c: Any, call_id: int, disposition: str, wall: float) -> None:
        minutes, amount = c.execute(
            "SELECT COUNT(*), COALESCE(SUM(amount_cents), 0) FROM charges WHERE call_id=?",
            (call_id,)).fetchone()
        c.execute("UPDATE cdrs SET disposition=?, ended_s=?, ended_at=?, billed_minutes=?, amount_cents=?, "
                  "closed=1 WHERE id=?", (disposition, wall, iso_utc(wall), minutes, amount, call_id))
        payer = c.execute("SELECT payer_kind, payer_id FROM charges WHERE call_id=? ORDER BY minute_index "
                          "LIMIT 1", (call_id,)).fetchone()
        if payer is not None:  # who paid, as charged (the call flow may not have said)
            c.execute("UPDATE cdrs SET payer_kind=?, payer_id=? WHERE id=? AND payer_kind=''",
                      (payer["payer_kind"], payer["payer_id"], call_id))
        row = c.execute("SELECT * FROM cdrs WHERE id=?", (call_id,)).fetchone()
        incidents_for_call(c, call_id, row, disposition, wall, self.escalation)

    def recover_open_calls(self, wall_s: float | None = None, *, terminal: str | None = None) -> list[int]:
        """Close the calls a crash left open; returns their ids.

        Call it when a phone program starts, with its ``terminal``: only that
        terminal's calls are closed, so a phone starting never closes a live call
        of another process sharing the database.  Without ``terminal`` (``admin cdr
        recover``) every open call is closed; :meth:`heal_left_open` is the careful form
        every command runs at start.

        A call that had been answered ends as ``hung-up``, any other as ``abandoned``;
        the end time is the last moment the call is known to have been alive
        (:func:`last_alive_s`: its timeline, its charges, its recording's real length),
        never ``now``; billed minutes and amount come from the charges already recorded,
        so CDR and journal reconcile.  ``wall_s`` (default: now) is only used for
        records without any time.
        """
        sql, params = "SELECT * FROM cdrs WHERE closed=0", []
        if terminal is not None:
            sql += " AND terminal=?"
            params.append(terminal)
        return self._recover(sql + " ORDER BY id", params, self.ledger.wall_s(wall_s), "left open by a crash")

    def heal_left_open(self, wall_s: float | None = None) -> list[int]:
        """Close the calls whose process is gone; returns their ids.

        Every command that opens the database runs this first, so a crash's open
        record never outlives the next command.  A call is taken for dead when its
        terminal's serving process has not written a heartbeat for
        :data:`~phonesim.facility.sites.GONE_AFTER_S` (or never did) *and* the call
        itself shows no sign of life for as long; a live call of another host is left
        alone.  Closed as :meth:`recover_open_calls` closes, marked ``recovered``.
        """
        now = self.ledger.wall_s(wall_s)
        gone_before = now - GONE_AFTER_S
        rows = self.db.query(
            "SELECT c.id FROM cdrs c LEFT JOIN terminals t ON t.id = c.terminal "
            "WHERE c.closed=0 AND COALESCE(t.seen_s, 0) < ?", (gone_before,))
        with self.db.transaction() as c:
            dead = [int(r["id"]) for r in rows
                    if last_alive_s(c, c.execute("SELECT * FROM cdrs WHERE id=?", (r["id"],)).fetchone())
                    < gone_before]
        if not dead:
            return []
        marks = ",".join("?" * len(dead))
        return self._recover(f"SELECT * FROM cdrs WHERE closed=0 AND id IN ({marks}) ORDER BY id", dead, now,
                             "its terminal's process stopped without closing it")

    def _recover(self, sql: str, params: list, fallback: float, reason: str) -> list[int]:
        closed = []
        with self.db.transaction() as c:
            for row in c.execute(sql, params).fetchall():
                end = last_alive_s(c, row) or fallback
                charged = c.execute("SELECT COUNT(*) FROM charges WHERE call_id=?", (row["id"],)).fetchone()[0]
                disposition = "hung-up" if (row["answered_s"] is not None or charged) else "abandoned"
                self._close(c, row["id"], disposition, end)
                c.execute("INSERT INTO cdr_events(call_id, at_s, at, kind, detail) VALUES (?,?,?,?,?)",
                          (row["id"], end, iso_utc(end), "recovered",
                           json.dumps({"reason": reason, "recovered_at": iso_utc(fallback)})))
                closed.append(int(row["id"]))
        return closed

    # -- reading ---------------------------------------------------------------------
    def connected_calls(self, inmate_id: str, since_wall_s: float) -> list[dict[str, float]]:
        """The inmate's connected calls that ended at or after ``since_wall_s``, oldest first:
        ``{"answered_s": ..., "ended_s": ...}`` (talk time runs from acceptance, else answer)."""
        placeholders = ",".join("?" * len(CONNECTED_DISPOSITIONS))
        rows = self.db.query(
            f"SELECT COALESCE(accepted_s, answered_s) AS answered_s, ended_s FROM cdrs WHERE inmate_id=? "
            f"AND closed=1 AND answered_s IS NOT NULL "
            f"AND disposition IN ({placeholders}) AND ended_s>=? ORDER BY ended_s",
            (inmate_id, *CONNECTED_DISPOSITIONS, since_wall_s))
        return [{"answered_s": r["answered_s"], "ended_s": r["ended_s"]} for r in rows]

    def courtesy_calls(self, number: str) -> int:
        """Free courtesy calls a number without an account has had (connected ones count: an
        unanswered attempt gave the family nothing)."""
        rows = self.db.query("SELECT COUNT(*) FROM cdrs WHERE number=? AND call_type='collect' AND "
                             "payer_kind='free' AND privileged=0 AND accepted_s IS NOT NULL", (number,))
        return int(rows[0][0])

    @staticmethod
    def _require(c: Any, call_id: int) -> Any:
        row = c.execute("SELECT * FROM cdrs WHERE id=?", (int(call_id),)).fetchone()
        if row is None:
            raise NotFound(f"call {call_id}: no such call record")
        return row

    def get(self, call_id: int, *, events: bool = True) -> Cdr:
        rows = self.db.query("SELECT * FROM cdrs WHERE id=?", (int(call_id),))
        if not rows:
            raise NotFound(f"call {call_id}: no such call record")
        evs = self.events(call_id) if events else []
        return _cdr(rows[0], tuple(evs))

    def events(self, call_id: int) -> list[CdrEvent]:
        rows = self.db.query("SELECT * FROM cdr_events WHERE call_id=? ORDER BY id", (int(call_id),))
        return [CdrEvent(r["at_s"], r["at"], r["kind"], json.loads(r["detail"])) for r in rows]

    def list(self, *, inmate_id: str | None = None, number: str | None = None,
             disposition: str | None = None, since_s: float | None = None, until_s: float | None = None,
             closed: bool | None = None, limit: int | None = None, newest_first: bool = False,
             facility: str | None = None, terminals: list[str] | None = None, threeway: bool | None = None,
             offset: int = 0) -> list[Cdr]:
        """CDRs matching every filter given (without timelines).  ``since_s``/``until_s`` are calendar
        seconds; ``terminals``: calls from any of these terminals (a housing unit's); ``offset``
        skips that many (pages of results)."""
        where, params = [], []
        if facility is not None:
            where.append("facility=?")
            params.append(facility)
        if terminals is not None:
            where.append("terminal IN (" + ",".join("?" * len(terminals)) + ")" if terminals else "1=0")
            params.extend(terminals)
        if threeway is not None:
            where.append("threeway=?")
            params.append(int(threeway))
        if inmate_id is not None:
            where.append("inmate_id=?")
            params.append(str(inmate_id))
        if number is not None:
            where.append("number=?")
            params.append(classify(number).digits)
        if disposition is not None:
            where.append("disposition=?")
            params.append(disposition)
        if since_s is not None:
            where.append("offhook_s>=?")
            params.append(float(since_s))
        if until_s is not None:
            where.append("offhook_s<?")
            params.append(float(until_s))
        if closed is not None:
            where.append("closed=?")
            params.append(int(closed))
        sql = "SELECT * FROM cdrs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id" + (" DESC" if newest_first else "")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
            if offset:
                sql += f" OFFSET {int(offset)}"
        return [_cdr(r, ()) for r in self.db.query(sql, params)]

    def export_csv(self, out: IO[str], cdrs: list[Cdr] | None = None) -> int:
        """Write CDRs (default: all) as CSV with a header; returns the number of rows."""
        rows = self.list() if cdrs is None else cdrs
        columns = [k for k in Cdr.__dataclass_fields__ if k != "events"] + ["duration_s"]
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for cdr in rows:
            row = cdr.as_dict(events=False)
            row["extra"] = json.dumps(row["extra"], sort_keys=True)
            writer.writerow(row)
        return len(rows)


def last_alive_s(c: Any, row: Any) -> float:
    """The last moment an open call is known to have been alive (0.0: no time at all).

    The latest of: its off-hook, dialled, answered and accepted times; its last timeline
    event; the start of its last charged minute (minute *k* is charged *k* minutes after
    the conversation began); and the start of its recording plus the audio really in the
    file (a crash leaves the header a second short at most, so the file's size counts,
    not the header).
    """
    times = [float(t) for t in (row["offhook_s"], row["dialled_s"], row["answered_s"], row["accepted_s"]) if t]
    last = c.execute("SELECT MAX(at_s) FROM cdr_events WHERE call_id=?", (row["id"],)).fetchone()[0]
    if last:
        times.append(float(last))
    talk_start = row["accepted_s"] or row["answered_s"]
    minute = c.execute("SELECT MAX(minute_index) FROM charges WHERE call_id=?", (row["id"],)).fetchone()[0]
    if talk_start and minute is not None:
        times.append(float(talk_start) + 60.0 * int(minute))
    started = c.execute("SELECT MIN(at_s) FROM cdr_events WHERE call_id=? AND kind='recording'",
                        (row["id"],)).fetchone()[0]
    if started and row["recording_path"]:
        times.append(float(started) + recording_seconds(row["recording_path"]))
    return max(times, default=0.0)


def recording_seconds(path: str) -> float:
    """Seconds of audio in a call recording (stereo 16-bit 8 kHz) from the file's size: what
    reached the disk, whatever its header says; 0.0 for a file that is missing or not a file."""
    try:
        st = os.stat(path)
    except OSError:
        return 0.0
    if not stat.S_ISREG(st.st_mode):
        return 0.0
    return max(0, st.st_size - WAV_HEADER_BYTES) // RECORDING_BYTES_PER_FRAME / RECORDING_RATE_HZ


def _cdr(r: Any, events: tuple[CdrEvent, ...]) -> Cdr:
    return Cdr(r["id"], r["facility"], r["terminal"], r["inmate_id"], r["number"], r["call_type"],
               r["jurisdiction"], r["offhook_at"], r["dialled_at"], r["answered_at"], r["accepted_at"],
               r["ended_at"], r["offhook_s"], r["answered_s"], r["accepted_s"], r["ended_s"],
               r["billed_minutes"], r["amount_cents"], r["payer_kind"], r["payer_id"], r["cents_per_min"],
               r["disposition"], bool(r["privileged"]), r["recording_path"], bool(r["threeway"]),
               bool(r["closed"]), json.loads(r["extra"] or "{}"), events)


def _json_default(value: Any) -> Any:
    """Events carry numpy scalars and dataclasses (DigitDetected ...): make them JSON."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
