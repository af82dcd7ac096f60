"""What officers and investigators act on: incidents, no-contact orders, commands to lines, the audit log.

* **Incidents** — the seed: toll-free calls and three-way calls "may face disciplinary
  action"; a family that keeps getting calls asks the institution, which identifies the
  inmate by PIN.  Every toll-free attempt, every three-way detection the policy acted on,
  every call to a number under a no-contact order and every call an officer cut off
  becomes an incident tied to its call (the recording and the timeline are the
  evidence), open until an officer closes it with an outcome.  They are made when the
  call's record is closed, in the same transaction, once per call and kind.
* **No-contact orders** — one inmate may not call one number; other inmates still may.
  A call attempt to it is refused (``no-contact-order``) and is an incident.
* **Line commands** — an officer's cut-off, written by a console on any host and carried
  out by the host serving the terminal (:mod:`phonesim.terminals.facility_host`).
* **The audit log** — every officer action, appended, never changed (a database trigger
  refuses updates and deletes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from phonesim.exc import InvalidInput, NotFound
from phonesim.facility.ledger import iso_utc
from phonesim.facility.numbers import classify

INCIDENT_KINDS = ("toll-free", "three-way", "no-contact", "cut-off")


def _iso(wall_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    at_s: float
    at: str
    facility: str
    kind: str
    inmate_id: str | None
    number: str
    call_id: int | None
    detail: dict
    status: str
    outcome: str
    closed_by: str
    closed_at: str


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A number the three-way escalation blocked, pending an officer's review."""

    number: str
    since: str
    note: str
    incidents: tuple[Incident, ...]


@dataclass(frozen=True, slots=True)
class NoContactOrder:
    inmate_id: str
    number: str
    note: str
    by: str
    at: str


@dataclass(frozen=True, slots=True)
class LineCommand:
    id: int
    terminal: str
    kind: str
    by: str
    reason: str
    at_s: float
    done_at_s: float | None
    result: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at_s: float
    at: str
    who: str
    role: str
    action: str
    target: str
    detail: dict


@dataclass(frozen=True, slots=True)
class ThreeWayEscalation:
    """The profile's escalation (``profile.threeway``): ``block_after_confirmed`` calls with a
    confirmed three-way detection to one number within ``block_window_days`` block the number
    pending an officer's review (0: never)."""

    block_after_confirmed: int = 0
    block_window_days: int = 30

    @classmethod
    def from_profile(cls, profile: Any) -> ThreeWayEscalation:
        t = profile["threeway"]
        return cls(int(t["block_after_confirmed"]), int(t["block_window_days"]))


#: The note on a number the escalation blocked (the review queue shows it).
REVIEW_NOTE = "{n} calls with a confirmed three-way detection within {days} days: pending an officer's review"


def incidents_for_call(tx: Any, call_id: int, row: Any, disposition: str, wall_s: float,
                       escalation: ThreeWayEscalation = ThreeWayEscalation()) -> None:
    """Open the incidents a closing call gives rise to (the CDR store calls it in its close
    transaction; once per call and kind), and escalate repeated three-way calls."""
    kinds = []
    if disposition == "toll-free-attempt":
        kinds.append(("toll-free", {}))
    if disposition == "no-contact-order":
        kinds.append(("no-contact", {}))
    confirmed = False
    if row["threeway"]:
        actions = [json.loads(e["detail"] or "{}") for e in tx.execute(
            "SELECT detail FROM cdr_events WHERE call_id=? AND kind='three-way' ORDER BY id", (call_id,))]
        confirmed = any(a.get("level") == "confirmed" for a in actions)
        kinds.append(("three-way", {"detections": actions[:20], "confirmed": confirmed}))
    if disposition == "cut-off":
        extra = json.loads(row["extra"] or "{}")
        kinds.append(("cut-off", {"by": extra.get("cut_off_by", "")}))
    for kind, detail in kinds:
        tx.execute("INSERT INTO incidents(at_s, at, facility, kind, inmate_id, number, call_id, detail) "
                   "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                   (wall_s, _iso(wall_s), row["facility"], kind, row["inmate_id"], row["number"], call_id,
                    json.dumps({"disposition": disposition, **detail}, sort_keys=True, default=str)))
    if confirmed and row["number"] and escalation.block_after_confirmed > 0:
        _escalate_threeway(tx, row["number"], wall_s, escalation)


def _escalate_threeway(tx: Any, number: str, wall_s: float, escalation: ThreeWayEscalation) -> None:
    """Block ``number`` pending review once enough calls to it had a confirmed detection.

    Counted per call (one call with three confirmed detections is one), over the window, from
    the incidents themselves: the count survives restarts and is the same on every host.
    """
    since = wall_s - 86400.0 * escalation.block_window_days
    rows = tx.execute("SELECT detail FROM incidents WHERE kind='three-way' AND number=? AND at_s>=?",
                      (number, since)).fetchall()
    calls = sum(1 for r in rows if json.loads(r["detail"] or "{}").get("confirmed"))
    if calls >= escalation.block_after_confirmed:
        tx.execute("INSERT INTO number_blocks(number, kind, by, note, at) VALUES (?,?,?,?,?) "
                   "ON CONFLICT DO NOTHING",
                   (number, "three-way-review", "phonesim",
                    REVIEW_NOTE.format(n=calls, days=escalation.block_window_days), iso_utc(wall_s)))


class Oversight:
    """Incidents, no-contact orders, line commands and the audit log in the facility database."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"<Oversight {self.db!r}>"

    # --- incidents -------------------------------------------------------------------------
    def incidents(self, *, status: str | None = "open", kind: str | None = None, inmate_id: str | None = None,
                  call_id: int | None = None, limit: int = 500) -> list[Incident]:
        where, params = [], []
        for column, value in (("status", status), ("kind", kind), ("inmate_id", inmate_id), ("call_id", call_id)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.query(sql + f" ORDER BY id DESC LIMIT {int(limit)}", params)
        return [_incident(r) for r in rows]

    def incident(self, incident_id: int) -> Incident:
        rows = self.db.query("SELECT * FROM incidents WHERE id=?", (int(incident_id),))
        if not rows:
            raise NotFound(f"incident {incident_id}: no such incident")
        return _incident(rows[0])

    def close_incident(self, incident_id: int, *, outcome: str, by: str) -> Incident:
        """Close an incident with its outcome (a warning given, a conduct violation, no action ...)."""
        if not outcome.strip():
            raise InvalidInput("closing an incident: expected an outcome, got nothing")
        with self.db.transaction() as tx:
            done = tx.execute("UPDATE incidents SET status='closed', outcome=?, closed_by=?, closed_at=? "
                              "WHERE id=? AND status='open'",
                              (outcome.strip(), by, _iso(time.time()), int(incident_id))).rowcount
        if not done:
            self.incident(incident_id)                      # NotFound, or already closed: say which
            raise InvalidInput(f"incident {incident_id}: expected an open incident, it is closed")
        return self.incident(incident_id)

    # --- no-contact orders -------------------------------------------------------------------
    def add_no_contact(self, inmate_id: str, number: str, *, note: str, by: str) -> NoContactOrder:
        info = classify(number)
        if info.kind == "invalid":
            raise InvalidInput(f"no-contact order: {info.reason}")
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM inmates WHERE id=?", (inmate_id,)).fetchone() is None:
                raise NotFound(f"inmate {inmate_id!r}: no such inmate")
            tx.execute("INSERT INTO no_contact_orders(inmate_id, number, note, by, at) VALUES (?,?,?,?,?) "
                       "ON CONFLICT (inmate_id, number) DO UPDATE SET note=excluded.note, by=excluded.by",
                       (inmate_id, info.digits, note.strip(), by, _iso(time.time())))
        return self.no_contact(inmate_id, info.digits)

    def lift_no_contact(self, inmate_id: str, number: str) -> bool:
        digits = classify(number).digits
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM no_contact_orders WHERE inmate_id=? AND number=?",
                              (inmate_id, digits)).rowcount > 0

    def no_contact(self, inmate_id: str, number: str) -> NoContactOrder | None:
        rows = self.db.query("SELECT * FROM no_contact_orders WHERE inmate_id=? AND number=?",
                             (inmate_id, classify(number).digits))
        return NoContactOrder(**dict(rows[0])) if rows else None

    def no_contact_orders(self, *, inmate_id: str | None = None) -> list[NoContactOrder]:
        if inmate_id is None:
            rows = self.db.query("SELECT * FROM no_contact_orders ORDER BY inmate_id, number")
        else:
            rows = self.db.query("SELECT * FROM no_contact_orders WHERE inmate_id=? ORDER BY number", (inmate_id,))
        return [NoContactOrder(**dict(r)) for r in rows]

    def violations(self, inmate_id: str, number: str) -> list[Incident]:
        """The calls (attempts) that broke a no-contact order."""
        rows = self.db.query("SELECT * FROM incidents WHERE kind='no-contact' AND inmate_id=? AND number=? "
                             "ORDER BY id DESC", (inmate_id, classify(number).digits))
        return [_incident(r) for r in rows]

    # --- line commands ------------------------------------------------------------------------
    def request_cut_off(self, terminal: str, *, by: str, reason: str = "") -> LineCommand:
        with self.db.transaction() as tx:
            row = tx.execute("INSERT INTO line_commands(terminal, kind, by, reason, at_s) VALUES (?,?,?,?,?) "
                             "RETURNING id", (terminal, "cut-off", by, reason.strip(), time.time())).fetchone()
        return self.command(int(row[0]))

    def command(self, command_id: int) -> LineCommand:
        rows = self.db.query("SELECT * FROM line_commands WHERE id=?", (int(command_id),))
        if not rows:
            raise NotFound(f"line command {command_id}: no such command")
        return _command(rows[0])

    def pending_commands(self, terminals: list[str]) -> list[LineCommand]:
        if not terminals:
            return []
        marks = ",".join("?" * len(terminals))
        rows = self.db.query(f"SELECT * FROM line_commands WHERE done_at_s IS NULL AND terminal IN ({marks}) "
                             f"ORDER BY id", terminals)
        return [_command(r) for r in rows]

    def command_done(self, command_id: int, result: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("UPDATE line_commands SET done_at_s=?, result=? WHERE id=?", (time.time(), result,
                                                                                    int(command_id)))

    # --- the three-way review queue -------------------------------------------------------------
    def review_queue(self) -> list[ReviewItem]:
        """Numbers blocked by the three-way escalation, pending an officer's review, oldest first,
        each with the open three-way incidents (calls) that led to it."""
        blocks = self.db.query("SELECT * FROM number_blocks WHERE kind='three-way-review' ORDER BY at, number")
        return [ReviewItem(b["number"], b["at"], b["note"],
                           tuple(_incident(r) for r in self.db.query(
                               "SELECT * FROM incidents WHERE kind='three-way' AND number=? AND status='open' "
                               "ORDER BY id", (b["number"],))))
                for b in blocks]

    def decide_review(self, number: str, *, uphold: bool, note: str, by: str, role: str = "") -> ReviewItem:
        """An officer's decision on a number in the review queue, in one transaction.

        Upheld: the number stays blocked, as a ``facility`` block carrying the note. Lifted (the
        detections were not three-way calls): the review block goes. Either way the number's
        open three-way incidents are closed with the decision, and the audit log keeps it.
        """
        if not note.strip():
            raise InvalidInput("a review decision: expected a note saying why, got nothing")
        digits = classify(number).digits
        item = next((i for i in self.review_queue() if i.number == digits), None)
        if item is None:
            raise NotFound(f"{number}: not in the three-way review queue")
        outcome = ("upheld" if uphold else "lifted") + f": {note.strip()}"
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM number_blocks WHERE number=? AND kind='three-way-review'", (digits,))
            if uphold:
                tx.execute("INSERT INTO number_blocks(number, kind, by, note, at) VALUES (?,?,?,?,?) "
                           "ON CONFLICT DO NOTHING",
                           (digits, "facility", by, f"three-way calls (review): {note.strip()}", iso_utc(now)))
            tx.executemany("UPDATE incidents SET status='closed', outcome=?, closed_by=?, closed_at=? "
                           "WHERE id=? AND status='open'",
                           [(outcome, by, _iso(now), i.id) for i in item.incidents])
        self.audit(by, "three-way-review", role=role, target=digits, decision="uphold" if uphold else "lift",
                   note=note.strip(), incidents=[i.id for i in item.incidents])
        return item

    # --- the audit log ------------------------------------------------------------------------
    def audit(self, who: str, action: str, *, role: str = "", target: str = "", **detail: Any) -> None:
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO audit_log(at_s, at, who, role, action, target, detail) VALUES (?,?,?,?,?,?,?)",
                       (now, _iso(now), who, role, action, str(target),
                        json.dumps(detail, sort_keys=True, default=str)))

    def audit_log(self, *, who: str | None = None, limit: int = 500) -> list[AuditEntry]:
        if who is None:
            rows = self.db.query(f"SELECT * FROM audit_log ORDER BY id DESC LIMIT {int(limit)}")
        else:
            rows = self.db.query(f"SELECT * FROM audit_log WHERE who=? ORDER BY id DESC LIMIT {int(limit)}", (who,))
        return [AuditEntry(r["id"], r["at_s"], r["at"], r["who"], r["role"], r["action"], r["target"],
                           json.loads(r["detail"] or "{}")) for r in rows]


def _incident(r: Any) -> Incident:
    return Incident(r["id"], r["at_s"], r["at"], r["facility"], r["kind"], r["inmate_id"], r["number"], r["call_id"],
                    json.loads(r["detail"] or "{}"), r["status"], r["outcome"], r["closed_by"], r["closed_at"])


def _command(r: Any) -> LineCommand:
    return LineCommand(r["id"], r["terminal"], r["kind"], r["by"], r["reason"], float(r["at_s"]),
                       None if r["done_at_s"] is None else float(r["done_at_s"]), r["result"])
