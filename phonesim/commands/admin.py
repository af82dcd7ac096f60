"""Administer the facility database: inmates, accounts, numbers, call records and rates.

The database is the one named by the configuration's ``paths.database`` (see
``--config``), or ``--db PATH``.  Amounts are plain decimal dollars, ``12``,
``12.50`` or ``$12.50`` (no exponents or separators), converted to cents exactly.
Ids, names and notes are one line of printable text (surrounding spaces are
removed); whatever was stored is printed with control characters escaped, so a
name can never drive the terminal.  Numbers are 10-digit NANP numbers in any
usual form (``573-555-0100``, ``1 (573) 555-0100``).  Dates are ``YYYY-MM-DD``
(UTC), months ``YYYY-MM``.

Examples::

    phonesim admin seed-demo
    phonesim admin inmate add 2001 "Jane Roe" --pin 4321
    phonesim admin account fund-prepaid 573-555-0100 '$20'
    phonesim admin number block 816-555-0111 --kind facility --note "victim request"
    phonesim admin cdr list --number 5735550100
    phonesim admin who-called 816-555-0111
    phonesim admin rates check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path

from phonesim.commands import clean, heal_left_open
from phonesim.config import load_config
from phonesim.exc import InvalidInput, OutputFileError, PhoneSimError
from phonesim.facility.ledger import STATUSES, Ledger, month_bounds
from phonesim.facility.numbers import classify, format_number
from phonesim.facility.rates import format_cents

NAME = "admin"
HELP = "administer inmates, accounts, numbers, call records and rates"


# --- argument types: bad values are usage errors (exit 2) naming what was expected -----------
#: The largest amount one command moves: $100,000.00.
MAX_AMOUNT_CENTS = 10_000_000
#: The longest id, name, unit or note accepted.
MAX_TEXT = 200


def amount_cents(text: str) -> int:
    """``12.34`` / ``$12.34`` / ``12`` -> 1234 cents, exactly.

    Only plain decimal dollars: no exponent (``1e3``), no digit separators
    (``1_000``, ``1,000``), no sign, at most two decimals and $100,000.
    """
    raw = text.strip()
    value = raw[1:] if raw.startswith("$") else raw
    match = re.fullmatch(r"([0-9]{1,9})(?:\.([0-9]{1,2}))?", value)
    cents = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0")) if match else 0
    if not 0 < cents <= MAX_AMOUNT_CENTS:
        raise argparse.ArgumentTypeError(
            f"expected an amount in dollars like 12 or 12.50 (digits, at most 2 decimals, more than 0 "
            f"and at most ${MAX_AMOUNT_CENTS // 100}), got {text!r}")
    return cents


def text_arg(what: str, *, empty: bool = True):
    """An argparse type: one line of printable text (no control characters or escapes), stripped."""
    def parse(text: str) -> str:
        value = text.strip()
        if not value.isprintable() or len(value) > MAX_TEXT or (not empty and not value):
            raise argparse.ArgumentTypeError(
                f"expected {what}: printable text of {'1' if not empty else '0'}..{MAX_TEXT} characters, "
                f"no control characters, got {text!r}")
        return value

    parse.__name__ = what
    return parse


#: An inmate id: stripped the same way everywhere (add, show, filters).
inmate_id = text_arg("an inmate id", empty=False)


def call_id(text: str) -> int:
    """A call id: a whole number the database can hold."""
    if not re.fullmatch(r"[0-9]{1,18}", text.strip()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a call id like 42 (1 to 18 digits), got {text!r}")
    return int(text)


def count(text: str) -> int:
    """A positive count (``--limit``)."""
    if not re.fullmatch(r"[0-9]{1,9}", text.strip()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 999999999, got {text!r}")
    return int(text)


def phone_number(text: str) -> str:
    info = classify(text)
    if info.kind == "invalid":
        raise argparse.ArgumentTypeError(f"expected a telephone number like 573-555-0100 ({info.reason}), got {text!r}")
    return info.digits


def btn(text: str) -> str:
    digits = phone_number(text)
    if len(digits) != 10:
        raise argparse.ArgumentTypeError(f"expected a 10-digit bill-to number like 573-555-0100, got {text!r}")
    return digits


def month(text: str) -> str:
    try:
        month_bounds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    year, mon = text.split("-")
    return f"{int(year):04d}-{int(mon):02d}"


def date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from err


def pin(text: str) -> str:
    """A PIN: the ASCII digits 0-9 a keypad has (not ``٥٥٥٥`` or ``１２３４``, which Python calls digits)."""
    if not re.fullmatch(r"[0-9]{1,32}", text):
        raise argparse.ArgumentTypeError(f"expected a PIN of the digits 0-9 only, got {text!r}")
    return text


# --- the parser ----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="the database: a file path, sqlite:///PATH or postgresql://... "
                                                  "(default: paths.database of the config)")
    groups = parser.add_subparsers(dest="group", metavar="GROUP")
    groups.required = True

    inmate = groups.add_parser("inmate", help="enrol and manage inmates").add_subparsers(dest="action", metavar="ACTION")
    inmate.required = True
    p = inmate.add_parser("add", help="enrol an inmate")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("name", type=text_arg("a name", empty=False), metavar="NAME")
    p.add_argument("--pin", type=pin, required=True, help="the PIN keyed at the phone (profile pin.length digits)")
    p.add_argument("--status", choices=STATUSES, default="general")
    p.add_argument("--unit", type=text_arg("a housing unit"), default="", help="housing unit")
    p.add_argument("--name-prompt", type=text_arg("a prompt name", empty=False), default=None,
                   help="a shipped prompt saying the name (default: none; the inmate records it on the "
                        "first call, or give one with 'inmate set-name')")
    p.add_argument("--facility", type=text_arg("a facility id", empty=False), default=None,
                   help="the facility (default: the configured one)")
    p = inmate.add_parser("set-pin", help="change a PIN (also clears a lockout)")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("pin", type=pin, metavar="PIN")
    p = inmate.add_parser("set-status", help="general, restricted or segregation")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("status", choices=STATUSES, metavar="STATUS")
    p.add_argument("--unit", type=text_arg("a housing unit"), default=None, help="move to this housing unit too")
    p = inmate.add_parser("transfer", help="move an inmate to another facility (accounts, lists and history "
                                           "follow; the PIN then works there only)")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("facility", type=text_arg("a facility id", empty=False), metavar="FACILITY")
    p.add_argument("--unit", type=text_arg("a housing unit"), default="")
    p = inmate.add_parser("set-name", help="the name the called party hears, from a WAV (instead of the "
                                           "recording made on the first call)")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("wav", metavar="FILE.wav")
    p = inmate.add_parser("unlock", help="clear a PIN lockout")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p = inmate.add_parser("show", help="status, balances, approved numbers, recent calls")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    inmate.add_parser("list", help="every inmate with status and balances")

    account = groups.add_parser("account", help="money: trust, debit, prepaid, Direct Bill").add_subparsers(
        dest="action", metavar="ACTION")
    account.required = True
    p = account.add_parser("fund-prepaid", help="deposit into the AdvanceConnect account of a BTN")
    p.add_argument("btn", type=btn, metavar="BTN")
    p.add_argument("amount", type=amount_cents, metavar="AMOUNT")
    p = account.add_parser("credit-trust", help="deposit into an inmate's trust (canteen) account")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("amount", type=amount_cents, metavar="AMOUNT")
    p = account.add_parser("transfer", help="buy phone time: trust -> debit")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("amount", type=amount_cents, metavar="AMOUNT")
    p = account.add_parser("open-direct-bill", help="open a Direct Bill account for a BTN")
    p.add_argument("btn", type=btn, metavar="BTN")
    p.add_argument("--limit", type=amount_cents, default=None, help="credit limit (default: the profile's)")
    p = account.add_parser("pay", help="record a payment on a Direct Bill account")
    p.add_argument("btn", type=btn, metavar="BTN")
    p.add_argument("amount", type=amount_cents, metavar="AMOUNT")
    p = account.add_parser("unblock", help="lift the automatic block of a Direct Bill BTN")
    p.add_argument("btn", type=btn, metavar="BTN")
    p = account.add_parser("statement", help="the monthly statement of a Direct Bill BTN")
    p.add_argument("btn", type=btn, metavar="BTN")
    p.add_argument("--month", type=month, required=True, help="YYYY-MM")
    p = account.add_parser("show", help="prepaid and Direct Bill state of a BTN")
    p.add_argument("btn", type=btn, metavar="BTN")
    account.add_parser("reconcile", help="replay the money journal against the balances")

    number = groups.add_parser("number", help="approved lists, blocks, privileged numbers").add_subparsers(
        dest="action", metavar="ACTION")
    number.required = True
    for name, text in (("approve", "put a number on an inmate's approved list"),
                       ("reject", "refuse an inmate's request for a number")):
        p = number.add_parser(name, help=text)
        p.add_argument("inmate_id", type=inmate_id, metavar="ID")
        p.add_argument("number", type=phone_number, metavar="NUMBER")
    p = number.add_parser("block", help="block calls to a number facility-wide (a facility block needs "
                                        "a --note saying why)")
    p.add_argument("number", type=phone_number, metavar="NUMBER")
    p.add_argument("--kind", choices=("facility", "security", "keypad", "three-way-review"), default="facility",
                   help="facility (staff, default), security (a cut-off call), keypad (as if the called "
                        "party pressed block), three-way-review; each kind is its own record")
    p.add_argument("--note", type=text_arg("a note"), default="")
    p.add_argument("--by", type=text_arg("who blocks it", empty=False), default="admin")
    p = number.add_parser("unblock", help="lift one kind of block (the called party's own block stays "
                                          "unless --kind keypad)")
    p.add_argument("number", type=phone_number, metavar="NUMBER")
    p.add_argument("--kind", choices=("facility", "security", "keypad", "three-way-review"), default="facility")
    p = number.add_parser("privileged", help="mark an attorney number: never recorded or monitored")
    p.add_argument("number", type=phone_number, metavar="NUMBER")
    p.add_argument("--name", type=text_arg("a name"), default="", help="whose number (e.g. the law office)")
    p.add_argument("--remove", action="store_true", help="unmark it")
    number.add_parser("requests", help="pending approved-list requests from the kiosks")
    number.add_parser("list", help="blocks and privileged numbers")

    cdr = groups.add_parser("cdr", help="call detail records").add_subparsers(dest="action", metavar="ACTION")
    cdr.required = True
    p = cdr.add_parser("list", help="list calls, filtered")
    p.add_argument("--inmate", type=inmate_id, metavar="ID")
    p.add_argument("--number", type=phone_number)
    p.add_argument("--disposition", type=text_arg("a disposition", empty=False))
    p.add_argument("--since", type=date, help="YYYY-MM-DD (UTC), inclusive")
    p.add_argument("--until", type=date, help="YYYY-MM-DD (UTC), exclusive")
    p.add_argument("--limit", type=count, default=None)
    p.add_argument("--json", action="store_true")
    p = cdr.add_parser("show", help="one call with its timeline")
    p.add_argument("call_id", type=call_id, metavar="CALL_ID")
    p.add_argument("--json", action="store_true")
    p = cdr.add_parser("export", help="every call as CSV")
    p.add_argument("--csv", required=True, metavar="FILE", help="output file ('-' for stdout)")
    p = cdr.add_parser("recover", help="close the calls a crash left open")
    p.add_argument("--terminal", type=text_arg("a terminal", empty=False), default=None,
                   help="only this phone's calls (default: all)")

    rates = groups.add_parser("rates", help="the rate table and the FCC caps").add_subparsers(
        dest="action", metavar="ACTION")
    rates.required = True
    p = rates.add_parser("show", help="the rates in force, by call type and jurisdiction")
    p.add_argument("--date", type=date, default=None, help="YYYY-MM-DD (default today)")
    p = rates.add_parser("check", help="warn about rates above the FCC caps (exit 1 if any)")
    p.add_argument("--date", type=date, default=None, help="YYYY-MM-DD (default today)")

    facility = groups.add_parser("facility", help="facilities and their housing units").add_subparsers(
        dest="action", metavar="ACTION")
    facility.required = True
    facility.add_parser("list", help="every facility of the database")
    p = facility.add_parser("units", help="a facility's housing units: settings and lockdowns")
    p.add_argument("--facility", type=text_arg("a facility id", empty=False), default=None)
    p = facility.add_parser("set-unit", help="a unit's own phone hours, wait, quota or call limit")
    p.add_argument("unit", type=text_arg("a housing unit", empty=False), metavar="UNIT")
    p.add_argument("--facility", type=text_arg("a facility id", empty=False), default=None)
    p.add_argument("--hours", type=text_arg("windows like 07:00-21:00", empty=False), default=None,
                   help="phone hours, comma-separated HH:MM-HH:MM windows")
    p.add_argument("--call-limit-s", type=count, default=None)
    p.add_argument("--wait-s", type=count, default=None, help="wait between calls")
    p.add_argument("--quota-min", type=count, default=None, help="monthly minutes (0: none)")
    p.add_argument("--clear", action="append", default=[], metavar="KEY",
                   choices=("hours", "call_limit_s", "wait_between_calls_s", "monthly_quota_min"),
                   help="back to the profile's value for KEY")
    for name, text in (("lockdown", "stop a unit's phones now (count time, an incident): calls end"),
                       ("lift", "lift a unit's lockdown")):
        p = facility.add_parser(name, help=text)
        p.add_argument("unit", type=text_arg("a housing unit", empty=False), metavar="UNIT")
        p.add_argument("--facility", type=text_arg("a facility id", empty=False), default=None)
        if name == "lockdown":
            p.add_argument("--reason", type=text_arg("a reason", empty=False), required=True)
            p.add_argument("--by", type=text_arg("who", empty=False), default="admin")

    nco = groups.add_parser("no-contact", help="no-contact orders: one inmate may not call one number").add_subparsers(
        dest="action", metavar="ACTION")
    nco.required = True
    p = nco.add_parser("add", help="bar an inmate from a number (others may still call it)")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("number", type=phone_number, metavar="NUMBER")
    p.add_argument("--note", type=text_arg("a note", empty=False), required=True)
    p.add_argument("--by", type=text_arg("who", empty=False), default="admin")
    p = nco.add_parser("lift", help="lift a no-contact order")
    p.add_argument("inmate_id", type=inmate_id, metavar="ID")
    p.add_argument("number", type=phone_number, metavar="NUMBER")
    p = nco.add_parser("list", help="the orders, and the attempts that broke them")
    p.add_argument("--inmate", type=inmate_id, default=None, metavar="ID")

    incident = groups.add_parser("incident", help="toll-free, three-way, no-contact and cut-off incidents").add_subparsers(
        dest="action", metavar="ACTION")
    incident.required = True
    p = incident.add_parser("list", help="open incidents (--all: closed ones too)")
    p.add_argument("--all", action="store_true")
    p = incident.add_parser("close", help="close an incident with its outcome")
    p.add_argument("incident_id", type=call_id, metavar="ID")
    p.add_argument("--outcome", type=text_arg("an outcome", empty=False), required=True)
    p.add_argument("--by", type=text_arg("who", empty=False), default="admin")

    review = groups.add_parser("review", help="numbers blocked after repeated three-way calls, pending an "
                                             "officer's review").add_subparsers(dest="action", metavar="ACTION")
    review.required = True
    review.add_parser("list", help="the queue: each number with the calls that led to its block")
    for action, what in (("uphold", "keep the number blocked (a facility block with the note)"),
                         ("lift", "the detections were not three-way calls: lift the block")):
        p = review.add_parser(action, help=what)
        p.add_argument("number", type=phone_number, metavar="NUMBER")
        p.add_argument("--note", type=text_arg("a note", empty=False), required=True,
                       help="why (kept on the incidents, the block and in the audit log)")
        p.add_argument("--by", type=text_arg("who decides", empty=False), default="admin")

    p = groups.add_parser("who-called", help="which inmates (by their PIN) called a number")
    p.add_argument("number", type=phone_number, metavar="NUMBER")
    groups.add_parser("seed-demo", help="load the demo data of 'phonesim demo' (idempotent; creates the database)")
    groups.add_parser("init", help="create the database (and the configured facility's record)")


# --- running -------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.group == "rates":
        return _rates(args, cfg)
    path = args.db if args.db else cfg.resolve_path(cfg.paths["database"])
    # only these make a database; every other command refuses a missing one by name (a mistyped
    # --db must never look like an empty facility)
    create = args.group in ("seed-demo", "init")
    try:
        with Ledger.open(path, cfg=cfg, create=create) as ledger:
            heal_left_open(ledger, "phonesim admin")
            handler = {"inmate": _inmate, "account": _account, "number": _number, "cdr": _cdr,
                       "who-called": _who_called, "seed-demo": _seed, "init": _init, "facility": _facility,
                       "no-contact": _no_contact, "incident": _incident, "review": _review}[args.group]
            return handler(args, ledger, cfg)
    except InvalidInput as err:  # a value the ledger refused (PIN length, status ...): a usage error
        print(f"phonesim admin: error: {err}", file=sys.stderr)
        return 2
    except PhoneSimError:
        raise
    except ValueError as err:  # a value the ledger refused (PIN length, status ...): a usage error
        print(f"phonesim admin: error: {err}", file=sys.stderr)
        return 2


def _init(args, ledger: Ledger, cfg) -> int:
    from phonesim.facility.platform import Platform

    facility = Platform(cfg, ledger=ledger).facility
    print(f"database {clean(ledger.db.name)}: schema v{ledger.schema_version}, facility "
          f"{clean(facility.id)} ({clean(facility.name)}, {clean(facility.timezone)})")
    return 0


def _facility(args, ledger: Ledger, cfg) -> int:
    from phonesim.facility.sites import Sites

    sites = Sites(ledger.db)
    facility_id = getattr(args, "facility", None) or cfg.facility.id
    a = args.action
    if a == "list":
        for f in sites.facilities():
            print(f"{clean(f.id):<8} {clean(f.name):<48} {clean(f.town):<16} {clean(f.timezone):<16} "
                  f"{clean(f.profile)}")
    elif a == "units":
        for u in sites.units(facility_id):
            state = f"LOCKED DOWN: {clean(u.lockdown_reason)} ({clean(u.lockdown_by)}, {clean(u.lockdown_at)})" \
                if u.locked_down else "open"
            print(f"{clean(u.unit):<10} {state:<40} {json.dumps(u.settings, sort_keys=True)}")
    elif a == "set-unit":
        settings: dict = {key: None for key in args.clear}
        if args.hours is not None:
            settings["hours"] = [w.strip() for w in args.hours.split(",")]
        for key, value in (("call_limit_s", args.call_limit_s), ("wait_between_calls_s", args.wait_s),
                           ("monthly_quota_min", args.quota_min)):
            if value is not None:
                settings[key] = value
        unit = sites.set_unit_settings(facility_id, args.unit, **settings)
        print(f"unit {clean(unit.unit)}: {json.dumps(unit.settings, sort_keys=True)}")
    elif a in ("lockdown", "lift"):
        unit = sites.set_lockdown(facility_id, args.unit, a == "lockdown", reason=getattr(args, "reason", ""),
                                  by=getattr(args, "by", ""))
        print(f"unit {clean(unit.unit)}: " + (f"locked down ({clean(unit.lockdown_reason)}); its phones' calls "
                                              f"end within a second" if unit.locked_down else "lockdown lifted"))
    return 0


def _no_contact(args, ledger: Ledger, cfg) -> int:
    from phonesim.facility.oversight import Oversight

    oversight = Oversight(ledger.db)
    if args.action == "add":
        order = oversight.add_no_contact(args.inmate_id, args.number, note=args.note, by=args.by)
        print(f"no-contact order: {clean(order.inmate_id)} may not call {format_number(order.number)} "
              f"({clean(order.note)})")
    elif args.action == "lift":
        if not oversight.lift_no_contact(args.inmate_id, args.number):
            print(f"{clean(args.inmate_id)} had no no-contact order for {format_number(args.number)}")
            return 1
        print(f"no-contact order lifted: {clean(args.inmate_id)} / {format_number(args.number)}")
    else:
        for order in oversight.no_contact_orders(inmate_id=args.inmate):
            broken = oversight.violations(order.inmate_id, order.number)
            print(f"{clean(order.inmate_id):<8} {format_number(order.number):<14} {clean(order.note):<30} "
                  f"since {clean(order.at)[:10]}  {len(broken)} attempt(s) since"
                  + "".join(f"\n    call {b.call_id} at {clean(b.at)}" for b in broken[:10]))
    return 0


def _incident(args, ledger: Ledger, cfg) -> int:
    from phonesim.facility.oversight import Oversight

    oversight = Oversight(ledger.db)
    if args.action == "close":
        done = oversight.close_incident(args.incident_id, outcome=args.outcome, by=args.by)
        print(f"incident {done.id} closed: {clean(done.outcome)}")
        return 0
    for i in oversight.incidents(status=None if args.all else "open"):
        who = clean(i.inmate_id or "?")
        print(f"#{i.id:<5} {clean(i.at)[:16]}  {clean(i.kind):<10} inmate {who:<8} "
              f"{format_number(i.number) if i.number else '':<14} call {i.call_id}  {clean(i.status)}"
              + (f": {clean(i.outcome)} ({clean(i.closed_by)})" if i.status == "closed" else ""))
    return 0


def _review(args, ledger: Ledger, cfg) -> int:
    from phonesim.facility.oversight import Oversight

    oversight = Oversight(ledger.db)
    if args.action in ("uphold", "lift"):
        item = oversight.decide_review(args.number, uphold=args.action == "uphold", note=args.note, by=args.by)
        print(f"{format_number(item.number)}: " + ("stays blocked (facility block)" if args.action == "uphold"
                                                    else "block lifted")
              + f"; {len(item.incidents)} incident(s) closed")
        return 0
    queue = oversight.review_queue()
    if not queue:
        print("the three-way review queue is empty")
    for item in queue:
        print(f"{format_number(item.number)}  blocked since {clean(item.since)[:16]}  {clean(item.note)}")
        for i in item.incidents:
            levels = sorted({str(d.get("level", "")) for d in i.detail.get("detections", [])} - {""})
            kinds = sorted({str(d.get("kind", "")) for d in i.detail.get("detections", [])} - {""})
            print(f"    call {i.call_id}  {clean(i.at)[:16]}  inmate {clean(i.inmate_id or '?'):<8} "
                  f"{'/'.join(levels) or '-':<20} {', '.join(kinds)}  incident #{i.id}")
    return 0


def _inmate(args, ledger: Ledger, cfg) -> int:
    if args.action == "transfer":
        person = ledger.transfer_inmate(args.inmate_id, args.facility, housing_unit=args.unit)
        print(f"{clean(person.id)} transferred to {clean(person.facility_id)}"
              + (f", unit {clean(person.housing_unit)}" if person.housing_unit else ""))
        return 0
    if args.action == "set-name":
        from phonesim.hw.audio_file import read_wav_as_line

        samples = read_wav_as_line(args.wav, max_s=30)
        ledger.set_voice_name("inmate", args.inmate_id, samples, source=f"given: {Path(args.wav).name}")
        print(f"{clean(args.inmate_id)}: the called party hears {len(samples) / 8000:.1f} s of {clean(args.wav)}")
        return 0
    if args.action == "add":
        person = ledger.add_inmate(args.inmate_id, args.name, args.pin, status=args.status,
                                   housing_unit=args.unit, name_prompt=args.name_prompt or "",
                                   facility_id=args.facility)
        print(f"added inmate {clean(person.id)} {clean(person.name)!r} ({clean(person.status)})")
    elif args.action == "set-pin":
        ledger.set_pin(args.inmate_id, args.pin)
        print(f"PIN of {args.inmate_id} changed")
    elif args.action == "set-status":
        person = ledger.set_status(args.inmate_id, args.status, housing_unit=args.unit)
        print(f"{clean(person.id)} is now {clean(person.status)}" + (f" in {clean(person.housing_unit)}" if args.unit else ""))
    elif args.action == "unlock":
        ledger.unlock(args.inmate_id)
        print(f"{args.inmate_id} unlocked")
    elif args.action == "show":
        from phonesim.facility.cdr import CdrStore

        p = ledger.inmate(args.inmate_id)
        print(f"inmate       {clean(p.id)}\nname         {clean(p.name)}\nstatus       {clean(p.status)}\n"
              f"housing unit {clean(p.housing_unit) or '-'}\nname prompt  {clean(p.name_prompt)}")
        if p.locked_until_s > ledger.wall_s():
            print(f"locked until {dt.datetime.fromtimestamp(p.locked_until_s, dt.UTC).isoformat()}")
        print(f"trust        {format_cents(ledger.trust_balance_cents(p.id))}\n"
              f"debit        {format_cents(ledger.debit_balance_cents(p.id))}")
        approved = ledger.approved_numbers(p.id)
        print("approved     " + (", ".join(format_number(n) for n in approved) or "-"))
        calls = CdrStore(ledger).list(inmate_id=p.id, limit=10, newest_first=True)
        if calls:
            print("recent calls")
            _print_cdrs(calls)
    elif args.action == "list":
        print(f"{'ID':<8} {'NAME':<22} {'STATUS':<12} {'UNIT':<8} {'TRUST':>9} {'DEBIT':>9}")
        for p in ledger.inmates():
            print(f"{clean(p.id):<8} {clean(p.name)[:22]:<22} {clean(p.status):<12} {clean(p.housing_unit)[:8]:<8} "
                  f"{format_cents(ledger.trust_balance_cents(p.id)):>9} {format_cents(ledger.debit_balance_cents(p.id)):>9}")
    return 0


def _account(args, ledger: Ledger, cfg) -> int:
    a = args.action
    if a == "fund-prepaid":
        print(f"prepaid {format_number(args.btn)}: balance {format_cents(ledger.fund_prepaid(args.btn, args.amount))}")
    elif a == "credit-trust":
        print(f"trust {args.inmate_id}: balance {format_cents(ledger.credit_trust(args.inmate_id, args.amount))}")
    elif a == "transfer":
        r = ledger.transfer_trust_to_debit(args.inmate_id, args.amount)
        print(f"receipt #{r.receipt_id}: {format_cents(r.amount_cents)} trust -> debit; trust "
              f"{format_cents(r.trust_after_cents)}, debit {format_cents(r.debit_after_cents)}")
    elif a == "open-direct-bill":
        acct = ledger.open_direct_bill(args.btn, credit_limit_cents=args.limit)
        print(f"Direct Bill {format_number(acct.btn)}: credit limit {format_cents(acct.credit_limit_cents)}")
    elif a == "pay":
        print(f"Direct Bill {format_number(args.btn)}: owed {format_cents(ledger.pay_direct_bill(args.btn, args.amount))}")
    elif a == "unblock":
        ledger.set_direct_bill_block(args.btn, False)
        print(f"Direct Bill {format_number(args.btn)}: unblocked")
    elif a == "statement":
        s = ledger.statement(args.btn, args.month)
        print(f"Direct Bill statement {format_number(s.btn)} {s.month}")
        for c in s.calls:
            print(f"  {c.at[:19]}  call {c.call_id:<8} {c.minutes:>3} min at {format_cents(c.rate_cents)}"
                  f"  {format_cents(c.base_cents):>9} + tax {format_cents(c.tax_cents):>7}"
                  f"  = {format_cents(c.total_cents):>9}")
        for line in s.lines:
            if line.kind != "call-charge":
                print(f"  {line.at[:19]}  {clean(line.kind):<12} {clean(line.memo):<22} "
                      f"{format_cents(line.amount_cents):>9}")
        print(f"charges {format_cents(s.charges_cents)} (tax {format_cents(s.tax_cents)})  "
              f"payments {format_cents(s.payments_cents)}  "
              f"owed now {format_cents(s.owed_cents)} of {format_cents(s.credit_limit_cents)}"
              + (f"  BLOCKED: {clean(s.blocked_reason)}" if s.blocked else ""))
    elif a == "show":
        shown = False
        if ledger.has_prepaid(args.btn):
            print(f"prepaid     {format_cents(ledger.prepaid_balance_cents(args.btn))}")
            shown = True
        if ledger.has_direct_bill(args.btn):
            d = ledger.direct_bill(args.btn)
            print(f"direct bill owed {format_cents(d.owed_cents)} of {format_cents(d.credit_limit_cents)}"
                  + (f", BLOCKED: {clean(d.blocked_reason)}" if d.blocked else ""))
            shown = True
        if not shown:
            print(f"{format_number(args.btn)}: no prepaid or Direct Bill account")
    elif a == "reconcile":
        problems = ledger.reconcile()
        for p in problems:
            print(clean(p))
        print("journal reconciles with the balances" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


def _number(args, ledger: Ledger, cfg) -> int:
    a = args.action
    if a == "approve":
        ledger.approve_number(args.inmate_id, args.number)
        print(f"{format_number(args.number)} approved for {args.inmate_id}")
    elif a == "reject":
        ledger.reject_number(args.inmate_id, args.number)
        print(f"{format_number(args.number)} refused for {args.inmate_id}")
    elif a == "block":
        b = ledger.block_number(args.number, kind=args.kind, by=args.by, note=args.note)
        print(f"{clean(format_number(b.number))} blocked ({clean(b.kind)}" + (f": {clean(b.note)}" if b.note else "") + ")")
    elif a == "unblock":
        if not ledger.unblock_number(args.number, kind=args.kind):
            print(f"{format_number(args.number)} had no {args.kind} block")
            return 1
        print(f"{format_number(args.number)}: {args.kind} block lifted")
    elif a == "privileged":
        ledger.set_privileged(args.number, not args.remove, name=args.name)
        print(f"{format_number(args.number)} " + ("is no longer privileged" if args.remove else
                                                  "is privileged: never recorded or monitored"))
    elif a == "requests":
        requests = ledger.pending_requests()
        for r in requests:
            print(f"{r.requested_at[:19]}  {clean(r.inmate_id):<8} {clean(format_number(r.number))}")
        if not requests:
            print("no pending requests")
    elif a == "list":
        for b in ledger.blocks():
            print(f"blocked     {clean(format_number(b.number))}  {clean(b.kind):<9} {clean(b.by)} {clean(b.note)}".rstrip())
        for p in ledger.privileged_numbers():
            print(f"privileged  {clean(format_number(p['number']))}  {clean(p['name'])}".rstrip())
    return 0


def _print_cdrs(cdrs) -> None:
    print(f"{'CALL':>5} {'OFF-HOOK (UTC)':<19} {'INMATE':<7} {'NUMBER':<13} {'TYPE':<8} {'MIN':>3} "
          f"{'AMOUNT':>8} DISPOSITION")
    for c in cdrs:
        flags = (" privileged" if c.privileged else "") + (" 3-way" if c.threeway else "") + \
            ("" if c.closed else " (open)")
        print(f"{c.call_id:>5} {clean(c.offhook_at)[:19]:<19} {clean(c.inmate_id) or '-':<7} "
              f"{clean(format_number(c.number or '')) or '-':<13} {clean(c.call_type) or '-':<8} "
              f"{c.billed_minutes:>3} {format_cents(c.amount_cents):>8} {clean(c.disposition) or '-'}{flags}")


def _cdr(args, ledger: Ledger, cfg) -> int:
    from phonesim.facility.cdr import CdrStore

    store = CdrStore(ledger)
    if args.action == "list":
        def ts(d):
            return None if d is None else dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()
        calls = store.list(inmate_id=args.inmate, number=args.number, disposition=args.disposition,
                           since_s=ts(args.since), until_s=ts(args.until), limit=args.limit)
        if args.json:
            print(json.dumps([c.as_dict(events=False) for c in calls], indent=2))
        elif calls:
            _print_cdrs(calls)
        else:
            print("no calls match")
    elif args.action == "show":
        c = store.get(args.call_id)
        if args.json:
            print(json.dumps(c.as_dict(), indent=2))
            return 0
        for key, value in c.as_dict(events=False).items():
            if key in ("offhook_s", "answered_s", "accepted_s", "ended_s"):
                continue
            if key == "amount_cents":
                value = f"{value} ({format_cents(value)})"
            print(f"{key:<15} {clean(value)}")
        print("timeline")
        for e in c.events:
            print(f"  {clean(e.at)[11:23]}  {clean(e.kind):<16} {json.dumps(e.detail, sort_keys=True)}")
    elif args.action == "export":
        if args.csv == "-":
            n = store.export_csv(sys.stdout)
        else:
            try:
                with open(args.csv, "w", newline="") as out:
                    n = store.export_csv(out)
            except OSError as err:
                raise OutputFileError(f"{args.csv}: cannot write the CSV: {err.strerror or err}") from err
            print(f"{n} calls written to {clean(args.csv)}")
    elif args.action == "recover":
        closed = store.recover_open_calls(terminal=args.terminal)
        print(f"closed {len(closed)} call(s) left open: {closed}" if closed else "no open calls")
    return 0


def _who_called(args, ledger: Ledger, cfg) -> int:
    """The seed: unwanted calls continue -> the institution identifies the caller by the PIN used."""
    from phonesim.facility.cdr import CdrStore

    calls = CdrStore(ledger).list(number=args.number)
    if not calls:
        print(f"no calls to {format_number(args.number)}")
        return 0
    by_inmate: dict[str, list] = {}
    for c in calls:
        by_inmate.setdefault(c.inmate_id or "", []).append(c)
    print(f"calls to {format_number(args.number)} by PIN holder:")
    for inmate_id, group in sorted(by_inmate.items(), key=lambda kv: -len(kv[1])):
        who = "(no PIN accepted)"
        if inmate_id:
            try:
                p = ledger.inmate(inmate_id)
                who = f"{clean(p.name)}, {clean(p.status)}, unit {clean(p.housing_unit) or '-'}"
            except PhoneSimError:
                who = "(unknown inmate)"
        dispositions: dict[str, int] = {}
        for c in group:
            dispositions[c.disposition or "open"] = dispositions.get(c.disposition or "open", 0) + 1
        summary = ", ".join(f"{clean(k)} x{v}" for k, v in sorted(dispositions.items()))
        print(f"  {clean(inmate_id) or '-':<8} {who}: {len(group)} call(s), last {clean(group[-1].offhook_at)[:19]} "
              f"UTC; {summary}")
    return 0


def _seed(args, ledger: Ledger, cfg) -> int:
    seeded = ledger.seed_demo(cfg)
    if seeded["created"]:
        print(f"demo data loaded into {ledger.path}: inmates {', '.join(seeded['created'])}")
    else:
        print(f"demo data already present in {ledger.path}: nothing changed")
    print(f"  PINs {seeded['pins']}; prepaid BTN {format_number(seeded['prepaid_btn'])}; Direct Bill "
          f"{format_number(seeded['direct_bill_btn'])}; attorney {format_number(seeded['attorney'])}; "
          f"blocked by its party {format_number(seeded['blocked_by_party'])}")
    return 0


def _rates(args, cfg) -> int:
    from phonesim.facility.rates import (
        CALL_TYPES,
        CAPS_2021_CENTS,
        CAPS_2024_CENTS,
        CAPS_2025_CENTS,
        FACILITY_ADDITIVE_2025_CENTS,
        JURISDICTIONS,
        RateTable,
        cap_cents,
        check_caps,
        facility_cap_class,
    )

    day = args.date or dt.date.today()
    if args.action == "check":
        problems = check_caps(cfg, on_date=day)
        for p in problems:
            print(f"warning: {p}")
        if not problems:
            cls = facility_cap_class(cfg)
            cap, additive, name = cap_cents(cls, day)
            print(f"every rate is within the FCC caps for a {cls} (on {day}: {name} cap {cap}c"
                  + (f" + {additive}c additive" if additive else "") + ")")
        return 1 if problems else 0
    table = RateTable.from_profile(cfg.profile)
    print(f"rates on {day} (cents per minute; with {table.tax_percent}% tax passed through)")
    print(f"{'':<9}" + "".join(f"{j:>15}" for j in JURISDICTIONS))
    for call_type in CALL_TYPES:
        cells = []
        for j in JURISDICTIONS:
            try:
                rate = table.cents_per_min(call_type, j, day)
                cells.append(f"{rate}c ({table.minute_charge_cents(call_type, j, day)}c)")
            except LookupError:
                cells.append("-")
        print(f"{call_type:<9}" + "".join(f"{c:>15}" for c in cells))
    cls = facility_cap_class(cfg)
    print(f"\nFCC audio caps for a {cls} (ADP {cfg.facility['adp']}), cents per minute:")
    print(f"  2021-era (in force until 2026-04-05): {CAPS_2021_CENTS[cls]}")
    print(f"  2024 order (FCC 24-75, postponed; reference): {CAPS_2024_CENTS[cls]}")
    print(f"  2025 interim (FCC 25-75, compliance 2026-04-06): {CAPS_2025_CENTS[cls]} "
          f"+ {FACILITY_ADDITIVE_2025_CENTS} facility additive")
    return 0
