"""The three-way review queue: numbers the three-way escalation blocked, pending a decision.

The profile's escalation (``threeway.block_after_confirmed`` calls with a confirmed
detection to one number within ``block_window_days``) blocks the number until someone
decides.  This page shows each one with what the decision rests on — the inmates who
called it, every flagged call with a link to its recording at the confirmed detection's
marker, when it was blocked — and takes the decision: **uphold** (the number stays
blocked, as a facility block carrying the note) or **lift** (the detections were not
three-way calls).  Both go through :meth:`Oversight.decide_review`, as ``phonesim admin
review`` does, which closes the calls' incidents and writes the audit log with the
officer's name and role.

Deciding is a block decision, so it takes the same permission as the blocks page.  A
privileged (attorney) number is never shown in clear, not even in the page's source: each
row's form names it by a key derived from the session's token (:func:`item_key`), not by its digits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from phonesim.console.app import SESSION_COOKIE, Console, page, redirect, render
from phonesim.console.pages_oversight import note_text
from phonesim.exc import InvalidInput, NotFound, PhoneSimError
from phonesim.facility.numbers import format_number
from phonesim.facility.oversight import Incident, ReviewItem

PERMISSION = "admin"          # the blocks page's: deciding a review is a block decision
DECISIONS = ("uphold", "lift")


@dataclass(frozen=True, slots=True)
class Detection:
    """A confirmed detection: ``t_s`` from the recording's start (its marker on the call's page;
    None when the call was never answered)."""

    t_s: float | None
    kind: str
    confidence: float


@dataclass(frozen=True, slots=True)
class FlaggedCall:
    incident: Incident
    call_id: int | None
    at: str
    detections: tuple[Detection, ...]


@dataclass(frozen=True, slots=True)
class QueueRow:
    key: str
    shown: str
    blocked_at: str
    note: str
    inmates: tuple[tuple[str, str, int], ...]          # (id, name, flagged calls)
    calls: tuple[FlaggedCall, ...]


def item_key(request: Request, number: str) -> str:
    """What a row's form posts instead of the number: an HMAC keyed by the session's own token,
    which is in the ``HttpOnly`` cookie and nowhere in the page, so a saved copy of the page
    cannot be tried against every number to find an attorney's."""
    token = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(token.encode(), number.encode(), hashlib.sha256).hexdigest()[:24]


def confirmed_detections(cdr) -> tuple[Detection, ...]:
    """The call's confirmed three-way detections, timed like the call page's markers."""
    start = cdr.accepted_s if cdr.accepted_s is not None else cdr.answered_s
    return tuple(Detection(None if start is None else round(max(0.0, e.at_s - start), 3),
                           str(e.detail.get("kind", "")), float(e.detail.get("confidence", 0.0)))
                 for e in cdr.events if e.kind == "three-way" and e.detail.get("level") == "confirmed")


def _row(console: Console, request: Request, item: ReviewItem, privileged: set[str]) -> QueueRow:
    calls, count = [], {}
    for incident in item.incidents:
        detections: tuple[Detection, ...] = ()
        if incident.call_id is not None:
            try:
                detections = confirmed_detections(console.cdrs.get(incident.call_id))
            except NotFound:
                pass
        calls.append(FlaggedCall(incident, incident.call_id, console.local_time(incident.at_s, "%Y-%m-%d %H:%M"),
                                 detections))
        if incident.inmate_id:
            count[incident.inmate_id] = count.get(incident.inmate_id, 0) + 1
    inmates = []
    for inmate_id, n in sorted(count.items()):
        try:
            name = console.ledger.inmate(inmate_id).name
        except PhoneSimError:
            name = "(unknown inmate)"
        inmates.append((inmate_id, name, n))
    blocked = dt.datetime.fromisoformat(item.since.replace("Z", "+00:00")).timestamp()
    return QueueRow(item_key(request, item.number),
                    "privileged" if item.number in privileged else format_number(item.number),
                    console.local_time(blocked, "%Y-%m-%d %H:%M"), item.note, tuple(inmates), tuple(calls))


@page(PERMISSION)
def review(request: Request, console: Console, session, form) -> Response:
    privileged = console.privileged_numbers()
    rows = [_row(console, request, item, privileged) for item in console.oversight.review_queue()]
    return render(request, "review.html", session, nav="review", rows=rows)


@page(PERMISSION)
def decide(request: Request, console: Console, session, form) -> Response:
    decision, key = form.get("decision", ""), form.get("item", "")
    if decision not in DECISIONS:
        raise InvalidInput(f"decision: expected uphold or lift, got {decision!r}")
    note = note_text(form.get("note", ""), "note")
    privileged = console.privileged_numbers()
    queue = {item_key(request, i.number): i for i in console.oversight.review_queue()}
    if key not in queue:
        raise InvalidInput("review: expected a number still in the queue (another officer may have decided it; "
                           "reload the page)")
    number = queue[key].number
    item = console.oversight.decide_review(number, uphold=decision == "uphold", note=note, by=session.username,
                                           role=session.role)
    shown = "a privileged number" if number in privileged else format_number(number)
    console.flash(session, "ok", f"{shown}: " + ("stays blocked (facility block)" if decision == "uphold"
                                                  else "block lifted") + f"; {len(item.incidents)} incident(s) closed")
    return redirect("/review")


def queue_length(console: Console) -> int:
    """How many numbers wait for a decision (the board's badge)."""
    return len(console.oversight.review_queue())


ROUTES = [
    Route("/review", review, methods=["GET"]),
    Route("/review/decide", decide, methods=["POST"]),
]
