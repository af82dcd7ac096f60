"""Incidents, no-contact orders, the audit log and the day's report.

* **Incidents** — every toll-free attempt, three-way detection, call to a number under a
  no-contact order and cut-off call, with its call's evidence; an officer reviews it and
  closes it with an outcome.
* **No-contact orders** — one inmate may not call one number (others still may); each
  order lists the attempts that broke it.
* **The audit log** — every action taken in the console, newest first; there is no route
  that changes or removes an entry (and the database refuses it anyway).
* **The day's report** — calls per housing unit and what they cost families, as bars.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from phonesim.console.app import Console, page, redirect, render
from phonesim.exc import InvalidInput
from phonesim.facility.numbers import classify
from phonesim.facility.oversight import INCIDENT_KINDS

MAX_NOTE = 500


def note_text(text: str, what: str, *, required: bool = True) -> str:
    """A note or outcome typed by staff: one line of printable text, at most :data:`MAX_NOTE`."""
    value = (text or "").strip()
    if (required and not value) or len(value) > MAX_NOTE or not value.isprintable():
        raise InvalidInput(f"{what}: expected 1 to {MAX_NOTE} printable characters, got {value[:40]!r}")
    return value


# --- incidents ------------------------------------------------------------------------------------
@page("incidents")
def incidents(request: Request, console: Console, session, form) -> Response:
    status = request.query_params.get("status", "open")
    kind = request.query_params.get("kind", "")
    if status not in ("open", "closed", "all"):
        raise InvalidInput(f"status: expected open, closed or all, got {status!r}")
    if kind and kind not in INCIDENT_KINDS:
        raise InvalidInput(f"kind: expected one of {', '.join(INCIDENT_KINDS)}, got {kind!r}")
    found = console.oversight.incidents(status=None if status == "all" else status, kind=kind or None)
    return render(request, "incidents.html", session, nav="incidents", incidents=found, status=status, kind=kind,
                  kinds=INCIDENT_KINDS, privileged=console.privileged_numbers())


@page("incidents")
def incident(request: Request, console: Console, session, form) -> Response:
    found = console.oversight.incident(request.path_params["incident_id"])
    cdr = console.cdrs.get(found.call_id) if found.call_id is not None else None
    return render(request, "incident.html", session, nav="incidents", incident=found, cdr=cdr,
                  privileged=console.privileged_numbers())


@page("incidents")
def close_incident(request: Request, console: Console, session, form) -> Response:
    incident_id = request.path_params["incident_id"]
    outcome = note_text(form.get("outcome", ""), "outcome")
    console.oversight.close_incident(incident_id, outcome=outcome, by=session.username)
    console.audit(session, "closed-incident", incident_id, outcome=outcome)
    console.flash(session, "ok", f"incident {incident_id} closed: {outcome}")
    return redirect(f"/incidents/{incident_id}")


# --- no-contact orders ------------------------------------------------------------------------------
@page("no-contact")
def no_contact(request: Request, console: Console, session, form) -> Response:
    orders = console.oversight.no_contact_orders()
    rows = [(o, console.oversight.violations(o.inmate_id, o.number)) for o in orders]
    return render(request, "no_contact.html", session, nav="no-contact", rows=rows)


@page("no-contact")
def add_no_contact(request: Request, console: Console, session, form) -> Response:
    inmate = form.get("inmate", "").strip()
    note = note_text(form.get("note", ""), "note")
    order = console.oversight.add_no_contact(inmate, form.get("number", ""), note=note, by=session.username)
    console.audit(session, "no-contact-added", f"{order.inmate_id} {order.number}", note=note)
    console.flash(session, "ok", f"inmate {order.inmate_id} may no longer call {order.number}")
    return redirect("/no-contact")


@page("no-contact")
def lift_no_contact(request: Request, console: Console, session, form) -> Response:
    inmate, number = form.get("inmate", ""), form.get("number", "")
    if not console.oversight.lift_no_contact(inmate, number):
        raise InvalidInput(f"no-contact order: expected an order of inmate {inmate!r} for {number!r}, found none")
    console.audit(session, "no-contact-lifted", f"{inmate} {classify(number).digits}")
    console.flash(session, "ok", f"the order barring {inmate} from {number} is lifted")
    return redirect("/no-contact")


# --- the audit log ------------------------------------------------------------------------------------
@page("audit")
def audit(request: Request, console: Console, session, form) -> Response:
    who = request.query_params.get("who") or None
    entries = console.oversight.audit_log(who=who, limit=1000)
    return render(request, "audit.html", session, nav="audit", entries=entries, who=who or "")


# --- the day's report -----------------------------------------------------------------------------------
@page("reports")
def day_report(request: Request, console: Console, session, form) -> Response:
    text = request.query_params.get("date") or dt.datetime.now(console.tz).date().isoformat()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(f"date: expected YYYY-MM-DD, got {text!r}") from err
    start = dt.datetime(day.year, day.month, day.day, tzinfo=console.tz).timestamp()
    calls = console.cdrs.list(facility=console.facility_id, since_s=start, until_s=start + 86_400)
    unit_of = {t.id: t.unit for t in console.sites.terminals(console.facility_id)}
    units: dict[str, dict] = defaultdict(lambda: {"calls": 0, "connected": 0, "minutes": 0, "cents": 0})
    for c in calls:
        u = units[unit_of.get(c.terminal, "") or "(no unit)"]
        u["calls"] += 1
        u["connected"] += int(c.accepted_s is not None)
        u["minutes"] += c.billed_minutes
        u["cents"] += c.amount_cents
    rows = sorted(units.items())
    return render(request, "report.html", session, nav="reports", day=day.isoformat(), rows=rows,
                  chart=_bars(rows), total_cents=sum(u["cents"] for _, u in rows),
                  total_calls=sum(u["calls"] for _, u in rows))


def _bars(rows: list) -> dict:
    """Geometry of the report's bar chart (calls and cost per unit, each scaled to its largest)."""
    most_calls = max([u["calls"] for _, u in rows] or [1]) or 1
    most_cents = max([u["cents"] for _, u in rows] or [1]) or 1
    bars = []
    for i, (unit, u) in enumerate(rows):
        bars.append({"unit": unit, "y": 30 + i * 54, "calls": u["calls"], "cents": u["cents"],
                     "calls_w": round(420 * u["calls"] / most_calls), "cents_w": round(420 * u["cents"] / most_cents)})
    return {"bars": bars, "height": 40 + 54 * max(1, len(rows))}


ROUTES = [
    Route("/incidents", incidents, methods=["GET"]),
    Route("/incidents/{incident_id:int}", incident, methods=["GET"]),
    Route("/incidents/{incident_id:int}/close", close_incident, methods=["POST"]),
    Route("/no-contact", no_contact, methods=["GET"]),
    Route("/no-contact", add_no_contact, methods=["POST"]),
    Route("/no-contact/lift", lift_no_contact, methods=["POST"]),
    Route("/audit", audit, methods=["GET"]),
    Route("/reports/day", day_report, methods=["GET"]),
]
