"""Who may call, whom, and for how long: the facility's rules as two questions.

:meth:`Policy.may_call` is asked once the PIN is accepted: *may this person use
the phone now?*  It checks, in order, a PIN lockout, phone hours (and the
segregation schedule), the wait between calls, the segregation weekly allowance
and the monthly quota, and computes the longest call allowed now (the profile's
limit, clipped to the end of the phone-hours window and to the quota left, as
real systems do).  Restricted status does **not** refuse here: a restricted
person may still call privileged numbers, so the verdict carries
``restriction="privileged-only"`` and :meth:`Policy.check_number` enforces it.

:meth:`Policy.check_number` is asked once a number is entered: *may this person
call this number this way, and how long can the payer afford?*  Checks in order:
the number's form, toll-free, blocked prefixes (N11/911, 900, 976), international,
privileged status, restriction, called-party and facility blocks, the approved
list, then the rate and the funds of whoever pays (inmate debit balance, the BTN's
prepaid balance, or the BTN's Direct Bill credit).  Privileged calls are free and
never refused for money.

Each verdict names the prompt the call flow speaks (a name in the prompt set) and
the CDR disposition to close the attempt with when it is refused.

Times: ``wall_s`` is calendar time (seconds since 1970, ``clock.wall_time_s()``);
phone hours are read on the facility's clocks (``facility.timezone``, an IANA zone, so
daylight saving time moves them with the clocks).  A terminal's housing unit may set its
own hours, wait, quota and call limit, and its lockdown refuses every call.
The rules read past calls through the CDR store and money through the ledger; no SQL
here.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from phonesim.config import parse_window
from phonesim.exc import InvalidInput, InvalidNumber
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Inmate, Ledger, canonical_btn
from phonesim.facility.numbers import classify, matches_prefix
from phonesim.facility.oversight import Oversight
from phonesim.facility.rates import CALL_TYPES, RateTable, affordable_minutes
from phonesim.facility.sites import Sites
from phonesim.facility.vocabulary import Courtesy

#: ``affordable_minutes`` of a call nobody pays for (privileged): a day, i.e. not limited by money.
UNLIMITED_MINUTES = 24 * 60
PRIVILEGED_ONLY = "privileged-only"


@dataclass(frozen=True, slots=True)
class Verdict:
    """May the inmate use the phone now?  ``max_call_s``: the longest call allowed if ``ok``."""

    ok: bool
    reason: str
    prompt: str | None
    max_call_s: int
    disposition: str = ""
    restriction: str = ""  # "" or "privileged-only"


@dataclass(frozen=True, slots=True)
class NumberVerdict:
    """May the inmate call this number this way?  Refusals carry ``prompt`` and ``disposition``.

    ``number`` is the canonical form (10 digits or 011...); ``payer_kind`` is
    ``debit`` | ``prepaid`` | ``collect`` | ``free``; ``payer_id`` the inmate id or the
    BTN; ``cents_per_min`` the bare rate and ``minute_charge_cents`` what each billed
    minute costs with taxes (pass it to ``Ledger.charge_minute``);
    ``affordable_minutes`` how many minutes the payer can pay for now
    (:data:`UNLIMITED_MINUTES` for free calls).  ``record`` is False for
    privileged calls: they must never be recorded or monitored.
    """

    ok: bool
    reason: str
    prompt: str | None
    disposition: str
    number: str
    jurisdiction: str
    privileged: bool
    cents_per_min: int
    payer_kind: str
    payer_id: str
    affordable_minutes: int
    minute_charge_cents: int = 0
    record: bool = True
    courtesy: str = ""          # a collect call with no account: "free-call" or "setup-only"


class Policy:
    """The facility rules of a config, answered against a ledger."""

    def __init__(self, cfg: Any, ledger: Ledger, cdrs: CdrStore | None = None) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.cdrs = cdrs if cdrs is not None else CdrStore(ledger)
        self.sites = Sites(ledger.db)
        self.oversight = Oversight(ledger.db)
        self.facility_id = cfg.facility["id"]
        self.profile = cfg.profile
        self.rates = RateTable.from_profile(cfg.profile)
        self.zone = zoneinfo.ZoneInfo(cfg.facility["timezone"])
        self.hours = [parse_window(w) for w in self.profile["hours"]["windows"]]
        self.seg_windows = [parse_window(w) for w in self.profile["segregation"]["windows"]]

    def __repr__(self) -> str:
        return f"<Policy profile={self.profile.get('name', '?')!r} ledger={self.ledger.path!r}>"

    # -- helpers ---------------------------------------------------------------------
    def _inmate(self, inmate: Inmate | str) -> Inmate:
        return self.ledger.inmate(inmate.id if isinstance(inmate, Inmate) else inmate)

    def _wall(self, wall_s: float | None) -> float:
        return self.ledger.wall_s(wall_s)

    def local(self, wall: float) -> dt.datetime:
        """Calendar time ``wall`` on the facility's clocks (its time zone, daylight saving time)."""
        return dt.datetime.fromtimestamp(wall, tz=self.zone)

    def local_minute(self, wall: float) -> int:
        """Minutes since local midnight at calendar time ``wall``."""
        t = self.local(wall)
        return t.hour * 60 + t.minute

    def local_date(self, wall: float) -> dt.date:
        return self.local(wall).date()

    def _seconds_left_in(self, windows: list[tuple[int, int]], wall: float) -> float | None:
        """Seconds from ``wall`` to the end of the local-time window it is in; None when outside
        all windows.  Windows are clock times on the facility's clocks: on the day daylight
        saving time starts or ends, a window keeps its clock times and lasts an hour less or more."""
        t = self.local(wall)
        minute = t.hour * 60 + t.minute
        midnight = dt.datetime.combine(t.date(), dt.time(0), tzinfo=self.zone)
        best = None
        for start, end in windows:
            if start <= end:
                inside, end_day = start <= minute < end, 0
            else:  # crosses midnight, e.g. 22:00-02:00
                inside, end_day = minute >= start or minute < end, 1 if minute >= start else 0
            if inside:
                end_at = (midnight + dt.timedelta(days=end_day, minutes=end)).timestamp()
                left = end_at - wall
                best = left if best is None else max(best, left)
        return best

    def _connected_calls(self, inmate_id: str, since_wall: float) -> list[Any]:
        return self.cdrs.connected_calls(inmate_id, since_wall)

    # -- may_call ----------------------------------------------------------------------
    def limits_for(self, terminal: str = "") -> dict[str, Any]:
        """The profile's phone hours, wait, quota and call limit, with the terminal's housing unit's
        own settings laid over them (``phonesim admin unit set``)."""
        limits = {"hours": list(self.profile["hours"]["windows"]),
                  "call_limit_s": int(self.profile["limits"]["call_limit_s"]),
                  "wait_between_calls_s": int(self.profile["limits"]["wait_between_calls_s"]),
                  "monthly_quota_min": int(self.profile["limits"]["monthly_quota_min"])}
        facility_id, unit = self.sites.unit_of(terminal) if terminal else ("", "")
        if unit:
            limits.update(self.sites.unit(facility_id or self.facility_id, unit).settings)
        return limits

    def may_call(self, inmate: Inmate | str, *, wall_s: float | None = None, terminal: str = "") -> Verdict:
        """Phone access for an authenticated inmate at calendar time ``wall_s`` (default: now), on
        ``terminal`` (its housing unit's settings and lockdown apply)."""
        person = self._inmate(inmate)
        wall = self._wall(wall_s)
        limits = self.limits_for(terminal)
        seg = person.status == "segregation"
        limit_s = int(self.profile["segregation"]["call_limit_s"] if seg else limits["call_limit_s"])

        facility_id, unit = self.sites.unit_of(terminal) if terminal else ("", "")
        if unit:
            record = self.sites.unit(facility_id or self.facility_id, unit)
            if record.locked_down:
                return Verdict(False, f"unit {unit} locked down: {record.lockdown_reason}",
                               "phones_locked_down", 0, "lockdown")
        if person.locked_until_s > wall:
            return Verdict(False, f"account locked for {person.locked_until_s - wall:.0f} s more",
                           "account_locked", 0, "locked")
        hours = [parse_window(w) for w in limits["hours"]]
        left = self._seconds_left_in(hours, wall)
        if left is None:
            return Verdict(False, f"outside phone hours {', '.join(limits['hours'])}",
                           "outside_hours", 0, "outside-hours")
        if seg:
            seg_left = self._seconds_left_in(self.seg_windows, wall)
            if seg_left is None:
                windows = ", ".join(self.profile["segregation"]["windows"])
                return Verdict(False, f"segregation: phone only {windows}", "outside_hours", 0, "outside-hours")
            left = min(left, seg_left)

        wait_s = float(limits["wait_between_calls_s"])
        if wait_s > 0:
            recent = self._connected_calls(person.id, wall - wait_s)
            if recent:
                ready = recent[-1]["ended_s"] + wait_s
                if ready > wall:
                    return Verdict(False, f"wait between calls: {ready - wall:.0f} s more",
                                   "wait_between_calls", 0, "wait-required")

        if seg:
            per_week = int(self.profile["segregation"]["calls_per_week"])
            week = self._connected_calls(person.id, wall - 7 * 86400)
            if len(week) >= per_week:
                return Verdict(False, f"segregation: {len(week)} of {per_week} calls this week used",
                               "weekly_calls_used", 0, "quota-reached")

        max_s = float(limit_s)
        quota_min = int(limits["monthly_quota_min"])
        if quota_min > 0:
            day = self.local_date(wall)
            month_start = dt.datetime(day.year, day.month, 1, tzinfo=self.zone).timestamp()
            used = sum(max(0.0, r["ended_s"] - r["answered_s"]) for r in self._connected_calls(person.id, month_start))
            remaining = quota_min * 60 - used
            if remaining < 60:
                return Verdict(False, f"monthly quota of {quota_min} min used ({used / 60:.1f} min)",
                               "quota_reached", 0, "quota-reached")
            max_s = min(max_s, remaining)
        max_s = min(max_s, left)
        if max_s < 60:
            return Verdict(False, "phone hours end in less than a minute", "outside_hours", 0, "outside-hours")

        restriction = PRIVILEGED_ONLY if person.status == "restricted" else ""
        reason = "restricted: privileged numbers only" if restriction else "ok"
        return Verdict(True, reason, None, int(max_s), "", restriction)

    # -- check_number --------------------------------------------------------------------
    def check_number(self, inmate: Inmate | str, number: str, call_type: str, *,
                     wall_s: float | None = None) -> NumberVerdict:
        """The number, the call type and the payer's money (see the module docstring)."""
        if call_type not in CALL_TYPES:
            raise InvalidInput(f"call_type: expected one of {', '.join(CALL_TYPES)}, got {call_type!r}")
        person = self._inmate(inmate)
        wall = self._wall(wall_s)
        numbers = self.profile["numbers"]
        info = classify(number)

        def refuse(reason: str, prompt: str, disposition: str, *, jurisdiction: str = "",
                   privileged: bool = False) -> NumberVerdict:
            return NumberVerdict(False, reason, prompt, disposition, info.digits, jurisdiction, privileged,
                                 0, "", "", 0, 0, not privileged)

        if info.kind == "invalid":
            return refuse(info.reason, "number_invalid", "not-allowed-number")
        if info.kind == "toll-free":
            return refuse(info.reason, "number_toll_free", "toll-free-attempt")
        for prefix in numbers["blocked_prefixes"]:
            if matches_prefix(info, prefix):
                return refuse(f"{info.digits} matches blocked prefix {prefix!r}", "number_blocked",
                              "not-allowed-number")
        if info.kind in ("n11", "premium"):
            return refuse(info.reason, "number_blocked", "not-allowed-number")
        if info.kind == "international" and not numbers["allow_international"]:
            return refuse(f"international calls are not allowed ({info.reason})", "number_blocked",
                          "not-allowed-number")

        jurisdiction = self.rates.jurisdiction(info, self.cfg.facility)
        privileged = self.ledger.is_privileged(info.digits)
        if person.status == "restricted" and not privileged:
            return refuse("restricted status: only privileged numbers may be called", "restricted",
                          "restricted", jurisdiction=jurisdiction)
        order = self.oversight.no_contact(person.id, info.digits) if not privileged else None
        if order is not None:
            return refuse(f"a no-contact order bars {person.id} from {info.digits} ({order.note or order.at})",
                          "number_blocked", "no-contact-order", jurisdiction=jurisdiction)
        for block in self.ledger.blocks_of(info.digits):
            if block.kind == "keypad":
                return refuse(f"the called party blocked calls from this facility ({block.at})",
                              "number_blocked_by_party", "refused-party-block",
                              jurisdiction=jurisdiction, privileged=privileged)
            return refuse(f"{block.kind} block on {info.digits} ({block.note or block.by or block.at})",
                          "number_blocked", "not-allowed-number", jurisdiction=jurisdiction,
                          privileged=privileged)
        if numbers["approved_list_required"] and not privileged and not self.ledger.is_approved(person.id, info.digits):
            return refuse(f"{info.digits} is not on {person.id}'s approved list", "number_not_approved",
                          "not-allowed-number", jurisdiction=jurisdiction)

        if privileged:
            return NumberVerdict(True, "privileged number: free, never recorded", None, "", info.digits,
                                 jurisdiction, True, 0, "free", "", UNLIMITED_MINUTES, 0, False)

        day = self.local_date(wall)
        rate = self.rates.cents_per_min(call_type, jurisdiction, day)
        charge = self.rates.minute_charge_cents(call_type, jurisdiction, day)

        def funds(ok: bool, reason: str, payer_kind: str, payer_id: str, available: int,
                  prompt: str = "insufficient_funds", disposition: str = "insufficient-funds") -> NumberVerdict:
            # exact: the tax is rounded once per call, so n minutes may cost less than n first minutes
            minutes = affordable_minutes(rate, self.rates.tax_percent, available, most=UNLIMITED_MINUTES)
            if ok and minutes < 1:
                ok, reason = False, f"{payer_kind} funds {available}c < one minute at {charge}c"
            return NumberVerdict(ok, reason if not ok else "ok", None if ok else prompt,
                                 "" if ok else disposition, info.digits, jurisdiction, False, rate,
                                 payer_kind, payer_id, minutes if ok else 0, charge, True)

        if call_type == "debit":
            return funds(True, "", "debit", person.id, self.ledger.debit_balance_cents(person.id))
        try:
            btn = canonical_btn(info.digits)
        except InvalidNumber:
            return funds(False, f"{call_type} calls need a 10-digit BTN, got {info.digits}", call_type,
                         info.digits, 0)
        if call_type == "prepaid":
            if not self.ledger.has_prepaid(btn):
                return funds(False, f"no prepaid account for {btn}", "prepaid", btn, 0)
            return funds(True, "", "prepaid", btn, self.ledger.prepaid_balance_cents(btn))
        if not self.ledger.has_direct_bill(btn):
            return self._no_account(btn, info.digits, jurisdiction)
        account = self.ledger.direct_bill(btn)
        if account.blocked:
            return funds(False, f"Direct Bill {btn} blocked: {account.blocked_reason}", "collect", btn, 0,
                         prompt="number_blocked", disposition="not-allowed-number")
        return funds(True, "", "collect", btn, account.available_cents)

    def _no_account(self, btn: str, number: str, jurisdiction: str) -> NumberVerdict:
        """A collect call to a number with no Direct Bill account (``billing.no_account``).

        ``refuse``: the inmate hears "insufficient funds" and nobody is called. Otherwise the
        called party is reached and told how to set up an account (the provider's number):
        with ``courtesy``, the number's first ``courtesy_calls`` calls are free courtesy calls
        of at most ``courtesy_call_max_s``; after that, and with ``setup-only``, the call is
        not connected.
        """
        billing = self.cfg.profile.billing
        if billing.no_account == "refuse":
            return NumberVerdict(False, f"no Direct Bill account for {btn}", "insufficient_funds",
                                 "insufficient-funds", number, jurisdiction, False, 0, "collect", btn, 0)
        used = self.cdrs.courtesy_calls(btn)
        if billing.no_account == "courtesy" and used < int(billing.courtesy_calls):
            minutes = max(1, int(billing.courtesy_call_max_s) // 60)
            return NumberVerdict(True, f"no Direct Bill account for {btn}: courtesy call {used + 1} of "
                                       f"{billing.courtesy_calls}", None, "", number, jurisdiction, False, 0,
                                 "free", "", minutes, 0, True, courtesy=Courtesy.FREE_CALL)
        return NumberVerdict(True, f"no Direct Bill account for {btn}: the called party is told how to set "
                                   f"one up", None, "", number, jurisdiction, False, 0, "free", "", 1, 0, False,
                             courtesy=Courtesy.SETUP_ONLY)
