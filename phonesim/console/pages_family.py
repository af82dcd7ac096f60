"""The family side of the web app: what a family member does for the numbers they manage.

Sign up with a 10-digit number, an e-mail address (verified with a code the simulator's
outbox shows: phonesim sends no mail) and a password; sign in; then, for each of their own
numbers only: the prepaid balance and recent charges, funding by card (the card processor
simulator: no real money), a refund of the unused balance, Direct Bill (the credit limit
from the profile), monthly statements with each call's minutes, rate, base and tax, and
the number's own block of the facility's calls (kind ``keypad``: the called party's own,
the same record as pressing the block key on a call; it never touches a block staff put
on the number).  The rates page is public: a rate quote must be reachable by anyone.

A family member reaches only ``/family/...`` (their session has its own cookie and table,
see :mod:`phonesim.console.families`); another family's number answers 404 exactly like a
number nobody manages, and is never listed.  The officers' pages never accept a family
session, nor these pages a staff session.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from phonesim.console.app import FAMILY_COOKIE, HOME, Console, _safe_next, page, redirect, render
from phonesim.console.families import OUTBOX_LABEL
from phonesim.console.pages_login import _set_cookie
from phonesim.console.staff import SESSION_MAX_S, LoginRefused
from phonesim.exc import InvalidInput, PhoneSimError
from phonesim.facility.ledger import month_bounds
from phonesim.facility.rates import CALL_TYPES, RateTable, format_cents

FORM_COOKIE = "phonesim_family_form"
#: What the family's own block is called in the ledger (the called party's block, as by the keypad).
PARTY_BLOCK = "keypad"
#: The most one card payment may fund (phonesim's choice; real providers cap deposits too).
MAX_PAYMENT_CENTS = 50_000


# --- signing up and in (no session yet) ---------------------------------------------------------
def _form_page(request: Request, template: str, *, error: str = "", status_code: int = 200,
               **context: Any) -> Response:
    """A sign-in or sign-up form with a fresh double-submit token (against login CSRF)."""
    token = secrets.token_urlsafe(24)
    response = render(request, template, None, form_token=token, error=error, status_code=status_code,
                      next=_safe_next(request.query_params.get("next", "/family")), **context)
    _set_cookie(request, response, FORM_COOKIE, token, max_age=3600)
    return response


async def _posted(request: Request) -> dict[str, str] | None:
    """The form, when its double-submit token matches the cookie; None otherwise."""
    async with request.form(max_files=0, max_fields=20) as data:
        form = {k: v for k, v in data.items() if isinstance(v, str)}
    cookie = request.cookies.get(FORM_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, form.get("form_token", "")):
        return None
    return form


def _signed_in(request: Request, session: Any, path: str) -> Response:
    response = RedirectResponse(path, status_code=303)
    _set_cookie(request, response, FAMILY_COOKIE, session.token, max_age=int(SESSION_MAX_S))
    response.delete_cookie(FORM_COOKIE, path="/")
    return response


async def login_form(request: Request) -> Response:
    return _form_page(request, "family_login.html")


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await _posted(request)
    if form is None:
        return _form_page(request, "family_login.html", error="The form expired: try again.", status_code=403)
    address = request.client.host if request.client else "unknown"
    try:
        session = await run_in_threadpool(console.families.login, form.get("email", ""), form.get("password", ""),
                                          address=address)
    except LoginRefused as err:
        return _form_page(request, "family_login.html", error=str(err), status_code=401)
    next_path = _safe_next(form.get("next", "/family"))
    return _signed_in(request, session, next_path if next_path.startswith("/family") and session.verified
                      else HOME[session.role])


async def signup_form(request: Request) -> Response:
    return _form_page(request, "family_signup.html")


async def signup(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await _posted(request)
    if form is None:
        return _form_page(request, "family_signup.html", error="The form expired: try again.", status_code=403)
    if form.get("password", "") != form.get("password2", ""):
        return _form_page(request, "family_signup.html", error="The two passwords differ.", status_code=400,
                          email=form.get("email", ""), number=form.get("number", ""))
    try:
        session = await run_in_threadpool(console.families.sign_up, form.get("email", ""),
                                          form.get("password", ""), form.get("number", ""))
    except PhoneSimError as err:
        return _form_page(request, "family_signup.html", error=str(err), status_code=400,
                          email=form.get("email", ""), number=form.get("number", ""))
    return _signed_in(request, session, "/family/verify")


# --- verifying the e-mail address ------------------------------------------------------------------
@page("family-verify")
def verify_form(request: Request, console: Console, session, form) -> Response:
    if session.verified:
        return redirect("/family")
    return render(request, "family_verify.html", session, outbox=console.families.outbox(session.username),
                  outbox_label=OUTBOX_LABEL)


@page("family-verify")
def verify(request: Request, console: Console, session, form) -> Response:
    console.families.verify(session.account_id, form.get("code", ""))
    console.flash(session, "ok", f"{session.username} verified")
    return redirect("/family")


@page("family-verify")
def resend(request: Request, console: Console, session, form) -> Response:
    console.families.send_code(session.account_id)
    console.flash(session, "ok", "a new code is in the outbox below")
    return redirect("/family/verify")


@page("family-verify")
def logout(request: Request, console: Console, session, form) -> Response:
    console.families.logout(request.cookies.get(FAMILY_COOKIE, ""))
    response = redirect("/family/login")
    response.delete_cookie(FAMILY_COOKIE, path="/")
    return response


# --- the numbers ---------------------------------------------------------------------------------
def _summary(console: Console, number: str) -> dict[str, Any]:
    ledger = console.ledger
    bill = ledger.direct_bill(number) if ledger.has_direct_bill(number) else None
    blocks = ledger.blocks_of(number)
    return {"number": number, "prepaid_cents": ledger.prepaid_balance_cents(number),
            "has_prepaid": ledger.has_prepaid(number), "direct_bill": bill,
            "party_block": next((b for b in blocks if b.kind == PARTY_BLOCK), None),
            "staff_blocked": any(b.kind != PARTY_BLOCK for b in blocks)}


@page("family")
def home(request: Request, console: Console, session, form) -> Response:
    numbers = [_summary(console, n) for n in console.families.numbers(session.account_id)]
    return render(request, "family_home.html", session, nav="home", numbers=numbers)


@page("family")
def add_number(request: Request, console: Console, session, form) -> Response:
    number = console.families.add_number(session.account_id, form.get("number", ""))
    console.flash(session, "ok", f"{number} added")
    return redirect(f"/family/n/{number}")


def _own(request: Request, console: Console, session) -> str:
    return console.families.own_number(session.account_id, request.path_params["number"])


@page("family")
def number_page(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    profile = console.cfg.profile
    return render(request, "family_number.html", session, **_summary(console, number),
                  recent=console.ledger.recent_money(number), payment_id=secrets.token_urlsafe(16),
                  refund_id=secrets.token_urlsafe(16), processor_label=console.payments.label,
                  credit_limit_cents=int(profile["billing"]["direct_bill_credit_limit_cents"]),
                  provider_phone=profile["family"]["provider_phone"], cards=console.ledger.card_payments(number))


def _dollars_to_cents(text: str) -> int:
    """``"20"``, ``"20.5"``, ``"$20.50"`` -> 2050; :class:`InvalidInput` otherwise."""
    raw = str(text).strip().lstrip("$").replace(",", "")
    whole, _, frac = raw.partition(".")
    if not (whole.isdigit() and (frac == "" or (frac.isdigit() and len(frac) <= 2))):
        raise InvalidInput(f"amount: expected dollars like 20 or 20.00, got {text!r}")
    cents = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    if not 100 <= cents <= MAX_PAYMENT_CENTS:
        raise InvalidInput(f"amount: expected {format_cents(100)} to {format_cents(MAX_PAYMENT_CENTS)}, got {text!r}")
    return cents


def _card(form: dict[str, str]) -> dict[str, str]:
    return {"card_number": form.get("card_number", ""), "expiry_mm_yy": form.get("expiry", ""),
            "cvv": form.get("cvv", "")}


def _said(console: Console, session, paid: Any, what: str, balance_word: str) -> None:
    """The flash after a card payment: what happened, with the simulator named."""
    result = paid.result
    if paid.ok:
        again = " (already recorded: nothing was charged twice)" if result.duplicate else ""
        console.flash(session, "ok", f"{what} {format_cents(result.amount_cents)} with the card ending "
                                     f"{result.card_last4} ({console.payments.label}){again}. {balance_word} "
                                     f"{format_cents(paid.balance_after_cents)}.")
    else:
        console.flash(session, "error", f"Card {result.message}. Nothing was charged; {balance_word.lower()} "
                                        f"unchanged: {format_cents(paid.balance_after_cents)}.")


@page("family")
def fund(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    paid = console.ledger.fund_prepaid_by_card(number, _dollars_to_cents(form.get("amount", "")),
                                               payment_id=form.get("payment_id", ""), processor=console.payments,
                                               **_card(form))
    _said(console, session, paid, "Paid", "Balance")
    return redirect(f"/family/n/{number}")


@page("family")
def pay_bill(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    paid = console.ledger.pay_direct_bill_by_card(number, _dollars_to_cents(form.get("amount", "")),
                                                  payment_id=form.get("payment_id", ""),
                                                  processor=console.payments, **_card(form))
    _said(console, session, paid, "Paid on the bill", "Owed")
    return redirect(f"/family/n/{number}")


@page("family")
def refund(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    done = console.ledger.refund_prepaid(number, refund_id=form.get("refund_id", ""), processor=console.payments)
    parts = [f"{format_cents(cents)} to the card ending {last4}" for _pid, last4, cents in done.to_cards]
    if done.by_check_cents:
        parts.append(f"{format_cents(done.by_check_cents)} by check (paid at the facility, not by card)")
    console.flash(session, "ok", f"Refunded {format_cents(done.amount_cents)}: {', '.join(parts)} "
                                 f"({console.payments.label}). Balance {format_cents(done.balance_after_cents)}.")
    return redirect(f"/family/n/{number}")


@page("family")
def direct_bill(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    if console.ledger.has_direct_bill(number):
        raise InvalidInput(f"Direct Bill: {number} already has an account")
    bill = console.ledger.open_direct_bill(number)            # the profile's credit limit
    console.flash(session, "ok", f"Direct Bill set up for {number}: collect calls up to "
                                 f"{format_cents(bill.credit_limit_cents)}, billed monthly")
    return redirect(f"/family/n/{number}")


@page("family")
def block(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    action = form.get("action", "")
    if action == "block":
        console.ledger.block_number(number, kind=PARTY_BLOCK, by="called party (web)")
        console.flash(session, "ok", f"calls from the facility to {number} are blocked")
    elif action == "unblock":
        console.ledger.unblock_number(number, kind=PARTY_BLOCK)
        still = any(b.kind != PARTY_BLOCK for b in console.ledger.blocks_of(number))
        console.flash(session, "ok", f"your block of {number} is lifted" + (
            "; the facility's own block stays (only the facility can lift it)" if still else ""))
    else:
        raise InvalidInput(f"action: expected block or unblock, got {action!r}")
    return redirect(f"/family/n/{number}")


@page("family")
def statement(request: Request, console: Console, session, form) -> Response:
    number = _own(request, console, session)
    months = console.ledger.statement_months(number)
    month = request.query_params.get("month") or (months[0] if months else dt.date.today().strftime("%Y-%m"))
    month_bounds(month)                                        # a clear error for a malformed month
    bill = console.ledger.statement(number, month) if console.ledger.has_direct_bill(number) else None
    return render(request, "family_statement.html", session, number=number, month=month, months=months,
                  prepaid=console.ledger.prepaid_statement(number, month), bill=bill)


# --- rates: anyone may read them --------------------------------------------------------------------
def facility_rates(console: Console, on_date: dt.date) -> list[dict[str, Any]]:
    """Each facility's rates per call type (local, in-state, out-of-state), its tax and fees, from
    its profile."""
    from phonesim.config import load_config

    out = []
    for facility in console.sites.facilities():
        if facility.profile == console.cfg.profile["name"]:
            profile = console.cfg.profile
        else:
            profile = load_config(None, search=False, overrides={"facility.profile": facility.profile}).profile
        table = RateTable.from_profile(profile)
        rows = []
        for call_type in CALL_TYPES:
            cells = []
            for jurisdiction in ("local", "in-state", "out-of-state"):
                rate = table.cents_per_min(call_type, jurisdiction, on_date)
                cells.append({"rate_cents": rate, "with_tax_cents": rate + table.tax_cents(rate)})
            rows.append({"call_type": call_type, "cells": cells})
        billing = profile["billing"]
        out.append({"facility": facility, "profile": profile, "rows": rows, "tax_percent": float(table.tax_percent),
                    "ancillary_fees_cents": table.ancillary_fees_cents,
                    "credit_limit_cents": int(billing["direct_bill_credit_limit_cents"]),
                    "call_limit_min": int(profile["limits"]["call_limit_s"]) // 60,
                    "provider_phone": profile["family"]["provider_phone"]})
    return out


async def rates(request: Request) -> Response:
    console: Console = request.app.state.console
    session = await run_in_threadpool(console.family_session_of, request)
    today = dt.date.today()
    return render(request, "family_rates.html", session, nav="rates", today=today.isoformat(),
                  facilities=await run_in_threadpool(facility_rates, console, today))


ROUTES = [
    Route("/family/login", login_form, methods=["GET"]),
    Route("/family/login", login, methods=["POST"]),
    Route("/family/signup", signup_form, methods=["GET"]),
    Route("/family/signup", signup, methods=["POST"]),
    Route("/family/verify", verify_form, methods=["GET"]),
    Route("/family/verify", verify, methods=["POST"]),
    Route("/family/verify/resend", resend, methods=["POST"]),
    Route("/family/logout", logout, methods=["POST"]),
    Route("/family/rates", rates, methods=["GET"]),
    Route("/family", home, methods=["GET"]),
    Route("/family/numbers", add_number, methods=["POST"]),
    Route("/family/n/{number}", number_page, methods=["GET"]),
    Route("/family/n/{number}/fund", fund, methods=["POST"]),
    Route("/family/n/{number}/pay", pay_bill, methods=["POST"]),
    Route("/family/n/{number}/refund", refund, methods=["POST"]),
    Route("/family/n/{number}/direct-bill", direct_bill, methods=["POST"]),
    Route("/family/n/{number}/block", block, methods=["POST"]),
    Route("/family/n/{number}/statement", statement, methods=["GET"]),
]
