"""Administration that otherwise needs ``phonesim admin``: number requests, blocks, inmates,
accounts and statements, unit lockdown, and the console's own staff accounts.

Only administrators reach these pages; every change is written to the audit log.  A facility
block (staff, with a note: a victim's request) and the called party's own block (pressed on
the keypad) are separate records: the console adds and lifts facility blocks and never
touches a called party's own block.
"""

from __future__ import annotations

import datetime as dt
import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from phonesim.console.app import Console, page, redirect, render
from phonesim.console.pages_oversight import note_text
from phonesim.console.staff import ROLES, new_password
from phonesim.exc import InvalidInput, LedgerError, NotFound
from phonesim.facility.ledger import STATUSES, canonical_btn
from phonesim.facility.numbers import classify

#: Blocks the console may add and lift (never ``keypad``: that is the called party's own).
STAFF_BLOCK_KINDS = ("facility", "security", "three-way-review")


@page("admin")
def overview(request: Request, console: Console, session, form) -> Response:
    units = {u.unit: u for u in console.sites.units(console.facility_id)}
    named = {t.unit for t in console.sites.terminals(console.facility_id)}
    named |= {i.housing_unit for i in console.ledger.inmates() if i.facility_id == console.facility_id}
    for unit in named - set(units) - {""}:          # units nobody configured: the profile's settings
        units[unit] = console.sites.unit(console.facility_id, unit)
    return render(request, "admin.html", session, nav="admin", requests=console.ledger.pending_requests(),
                  units=[units[k] for k in sorted(units)])


@page("admin")
def decide_request(request: Request, console: Console, session, form) -> Response:
    inmate, number, decision = form.get("inmate", ""), form.get("number", ""), form.get("decision", "")
    if decision == "approve":
        console.ledger.approve_number(inmate, number, by=session.username)
    elif decision == "reject":
        console.ledger.reject_number(inmate, number, by=session.username)
    else:
        raise InvalidInput(f"decision: expected approve or reject, got {decision!r}")
    console.audit(session, "approved-number" if decision == "approve" else "rejected-number",
                  f"{inmate} {classify(number).digits}")
    console.flash(session, "ok", f"{number} {decision}d for inmate {inmate}")
    return redirect("/admin")


@page("admin")
def lockdown(request: Request, console: Console, session, form) -> Response:
    unit = form.get("unit", "").strip()
    locked = form.get("locked") == "yes"
    reason = note_text(form.get("reason", ""), "reason", required=locked)
    console.sites.set_lockdown(console.facility_id, unit, locked, reason=reason, by=session.username)
    console.audit(session, "lockdown" if locked else "lockdown-lifted", unit, reason=reason)
    console.flash(session, "ok", f"unit {unit} {'locked down' if locked else 'lockdown lifted'}")
    return redirect("/admin")


# --- blocks ---------------------------------------------------------------------------------------
@page("admin")
def blocks(request: Request, console: Console, session, form) -> Response:
    every = console.ledger.blocks()
    return render(request, "blocks.html", session, nav="admin", kinds=STAFF_BLOCK_KINDS,
                  staff_blocks=[b for b in every if b.kind != "keypad"],
                  party_blocks=[b for b in every if b.kind == "keypad"])


@page("admin")
def add_block(request: Request, console: Console, session, form) -> Response:
    kind = form.get("kind", "facility")
    if kind not in STAFF_BLOCK_KINDS:
        raise InvalidInput(f"block kind: expected one of {', '.join(STAFF_BLOCK_KINDS)}, got {kind!r}")
    note = note_text(form.get("note", ""), "note")
    block = console.ledger.block_number(form.get("number", ""), kind=kind, by=session.username, note=note)
    console.audit(session, "blocked", block.number, kind=kind, note=note)
    console.flash(session, "ok", f"{block.number} blocked ({kind})")
    return redirect("/admin/blocks")


@page("admin")
def lift_block(request: Request, console: Console, session, form) -> Response:
    kind, number = form.get("kind", ""), form.get("number", "")
    if kind not in STAFF_BLOCK_KINDS:
        raise InvalidInput(f"block kind: expected one of {', '.join(STAFF_BLOCK_KINDS)} (a called party's own "
                           f"block is theirs to lift), got {kind!r}")
    if not console.ledger.unblock_number(number, kind=kind):
        raise InvalidInput(f"{number}: expected a {kind} block, found none")
    console.audit(session, "unblocked", classify(number).digits, kind=kind)
    console.flash(session, "ok", f"{kind} block of {number} lifted")
    return redirect("/admin/blocks")


# --- inmates -------------------------------------------------------------------------------------
@page("admin")
def inmates(request: Request, console: Console, session, form) -> Response:
    return render(request, "inmates.html", session, nav="admin", inmates=console.ledger.inmates())


@page("admin")
def inmate(request: Request, console: Console, session, form) -> Response:
    person = console.ledger.inmate(request.path_params["inmate_id"])
    return render(request, "inmate.html", session, nav="admin", inmate=person, statuses=STATUSES,
                  trust_cents=console.ledger.trust_balance_cents(person.id),
                  debit_cents=console.ledger.debit_balance_cents(person.id),
                  approved=console.ledger.approved_numbers(person.id),
                  orders=console.oversight.no_contact_orders(inmate_id=person.id),
                  facilities=console.sites.facilities())


@page("admin")
def inmate_status(request: Request, console: Console, session, form) -> Response:
    inmate_id = request.path_params["inmate_id"]
    unit = form.get("unit", "").strip()
    person = console.ledger.set_status(inmate_id, form.get("status", ""), housing_unit=unit or None)
    console.audit(session, "inmate-status", inmate_id, status=person.status, unit=person.housing_unit)
    console.flash(session, "ok", f"inmate {inmate_id}: {person.status}, unit {person.housing_unit}")
    return redirect(f"/admin/inmates/{inmate_id}")


@page("admin")
def inmate_transfer(request: Request, console: Console, session, form) -> Response:
    inmate_id = request.path_params["inmate_id"]
    person = console.ledger.transfer_inmate(inmate_id, form.get("facility", ""), housing_unit=form.get("unit", "").strip())
    console.audit(session, "inmate-transferred", inmate_id, facility=person.facility_id, unit=person.housing_unit)
    console.flash(session, "ok", f"inmate {inmate_id} transferred to {person.facility_id} {person.housing_unit}")
    return redirect(f"/admin/inmates/{inmate_id}")


@page("admin")
def inmate_pin(request: Request, console: Console, session, form) -> Response:
    """A new random PIN, shown once to the administrator (who hands it to the inmate)."""
    inmate_id = request.path_params["inmate_id"]
    length = console.ledger.pin_length or 4
    for _ in range(20):
        pin = "".join(secrets.choice("0123456789") for _ in range(length))
        try:
            console.ledger.set_pin(inmate_id, pin)
            break
        except NotFound:
            raise
        except LedgerError:         # another inmate of the facility has it: draw again
            continue
    else:
        raise InvalidInput(f"inmate {inmate_id}: no free PIN found; try again")
    console.audit(session, "pin-reset", inmate_id)
    console.flash(session, "ok", f"inmate {inmate_id}: new PIN {pin} (shown once; the lockout is cleared)")
    return redirect(f"/admin/inmates/{inmate_id}")


# --- accounts ----------------------------------------------------------------------------------------
@page("admin")
def accounts(request: Request, console: Console, session, form) -> Response:
    return render(request, "accounts.html", session, nav="admin", prepaid=console.ledger.accounts("prepaid"),
                  direct_bill=console.ledger.accounts("direct-bill"),
                  month=dt.datetime.now(console.tz).strftime("%Y-%m"))


@page("admin")
def statement(request: Request, console: Console, session, form) -> Response:
    btn = canonical_btn(request.path_params["btn"])
    month = request.query_params.get("month") or dt.datetime.now(console.tz).strftime("%Y-%m")
    return render(request, "statement.html", session, nav="admin", statement=console.ledger.statement(btn, month))


# --- staff ----------------------------------------------------------------------------------------
@page("admin")
def staff(request: Request, console: Console, session, form) -> Response:
    return render(request, "staff.html", session, nav="admin", people=console.staff.all(), roles=ROLES)


@page("admin")
def add_staff(request: Request, console: Console, session, form) -> Response:
    password = new_password()
    person = console.staff.add(form.get("username", ""), form.get("role", ""), password)
    console.audit(session, "staff-added", person.username, staff_role=person.role)
    console.flash(session, "ok", f"{person.username} ({person.role}) added; password {password} (shown once)")
    return redirect("/admin/staff")


@page("admin")
def change_staff(request: Request, console: Console, session, form) -> Response:
    username, action = request.path_params["username"], form.get("action", "")
    if username == session.username and action == "disable":
        raise InvalidInput("staff: expected another account; you cannot disable your own")
    if action in ("disable", "enable"):
        console.staff.set_disabled(username, action == "disable")
        console.flash(session, "ok", f"{username} {action}d")
    elif action == "password":
        password = new_password()
        console.staff.set_password(username, password)
        console.flash(session, "ok", f"{username}: new password {password} (shown once)")
    else:
        raise InvalidInput(f"action: expected disable, enable or password, got {action!r}")
    console.audit(session, f"staff-{action}", username)
    return redirect("/admin/staff")


ROUTES = [
    Route("/admin", overview, methods=["GET"]),
    Route("/admin/requests", decide_request, methods=["POST"]),
    Route("/admin/lockdown", lockdown, methods=["POST"]),
    Route("/admin/blocks", blocks, methods=["GET"]),
    Route("/admin/blocks", add_block, methods=["POST"]),
    Route("/admin/blocks/lift", lift_block, methods=["POST"]),
    Route("/admin/inmates", inmates, methods=["GET"]),
    Route("/admin/inmates/{inmate_id}", inmate, methods=["GET"]),
    Route("/admin/inmates/{inmate_id}/status", inmate_status, methods=["POST"]),
    Route("/admin/inmates/{inmate_id}/transfer", inmate_transfer, methods=["POST"]),
    Route("/admin/inmates/{inmate_id}/pin", inmate_pin, methods=["POST"]),
    Route("/admin/accounts", accounts, methods=["GET"]),
    Route("/admin/accounts/{btn}", statement, methods=["GET"]),
    Route("/admin/staff", staff, methods=["GET"]),
    Route("/admin/staff", add_staff, methods=["POST"]),
    Route("/admin/staff/{username}", change_staff, methods=["POST"]),
]
