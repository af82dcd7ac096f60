"""Per-minute rates: a dated table by call type and jurisdiction, taxes, and the FCC caps.

The profile's ``[[billing.rates]]`` rows each say *from this date, calls of this
type to this jurisdiction cost N cents a minute*; ``"*"`` matches any type or
jurisdiction.  For a call on a date, the rows already in effect are considered;
**the latest effective date wins** (a rate sheet is dated as a whole, so a new
``*`` row replaces an older specific one), and among rows of that date the **most
specific** wins (type and jurisdiction both named > one named > ``*``/``*``).

Billing is per *started* minute (a call of 61 s is 2 minutes).  Taxes are passed
through without markup: ``tax_percent`` of the call's rated amount, **rounded once, on
the call** (half-up to the cent).  Each minute is still charged as its own transaction
(a crash never loses more than a minute), so minute *k* is charged what the call costs
through minute *k* less what it cost through minute *k - 1*
(:func:`charged_through_cents`): 10 % on 5 cents charges 6, 5, 6, 5 ... cents, 5.5 on
average, never the 6 a minute that rounding each minute would give.  There are no ancillary
fees (FCC 2024 order); a profile with ``ancillary_fees_cents`` > 0 is reported by
:func:`check_caps`.

Jurisdiction of a dialled number, seen from the facility:

``local``
    area code and exchange (NPA-NXX) in ``facility.local_exchanges``;
``in-state``
    an area code of the facility's state (shipped NANP table);
``out-of-state``
    any other US area code (incl. DC and US territories);
``international``
    ``011`` numbers and NANP area codes outside the US (Canada, the Caribbean).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from phonesim.exc import ConfigError, InvalidInput, RateAboveCap, RateNotFound
from phonesim.facility.numbers import NumberInfo, classify

CALL_TYPES = ("debit", "collect", "prepaid")
JURISDICTIONS = ("local", "in-state", "out-of-state", "international")

#: FCC per-minute audio caps in cents by facility class.  Sources: docs/domain.md section 7.1.
FACILITY_CLASSES = ("prison", "jail-large", "jail-medium", "jail-small", "jail-very-small",
                    "jail-extremely-small")
CAPS_2021_CENTS = {"prison": 14, "jail-large": 16, "jail-medium": 21, "jail-small": 21,
                   "jail-very-small": 21, "jail-extremely-small": 21}
#: The 2024 order (FCC 24-75): postponed in June 2025, never in force; shown for reference.
CAPS_2024_CENTS = {"prison": 6, "jail-large": 6, "jail-medium": 7, "jail-small": 9,
                   "jail-very-small": 12, "jail-extremely-small": 12}
#: The 2025 interim caps (FCC 25-75), compliance 2026-04-06.
CAPS_2025_CENTS = {"prison": 11, "jail-large": 10, "jail-medium": 12, "jail-small": 13,
                   "jail-very-small": 15, "jail-extremely-small": 19}
#: The separate facility rate additive of the 2025 order, per minute.
FACILITY_ADDITIVE_2025_CENTS = 2
CAPS_2025_COMPLIANCE = dt.date(2026, 4, 6)


def format_cents(cents: int) -> str:
    """``1234`` -> ``"$12.34"``; negative amounts (a Direct Bill owed) get a leading minus.

    Money is integer cents everywhere; this is the one place it becomes dollars
    for people (kiosk screens, the status line, ``phonesim admin``).
    """
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}${cents // 100}.{cents % 100:02d}"


def jail_class_for_adp(adp: int) -> str:
    """The 2025 jail size class for an average daily population."""
    if adp >= 1000:
        return "jail-large"
    if adp >= 350:
        return "jail-medium"
    if adp >= 100:
        return "jail-small"
    if adp >= 50:
        return "jail-very-small"
    return "jail-extremely-small"


@dataclass(frozen=True, slots=True)
class RateRule:
    effective: dt.date
    call_type: str
    jurisdiction: str
    cents_per_min: int

    @property
    def specificity(self) -> int:
        return (self.call_type != "*") * 2 + (self.jurisdiction != "*")

    def matches(self, call_type: str, jurisdiction: str) -> bool:
        return self.call_type in ("*", call_type) and self.jurisdiction in ("*", jurisdiction)


def _as_date(value: Any, *, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as err:
        raise ConfigError(f"expected a date 'YYYY-MM-DD', got {value!r}", key=key) from err


class RateTable:
    """The dated rate rules of a profile, with the tax that is passed through.

    Build it with :meth:`from_profile`; ask :meth:`cents_per_min` for the bare rate
    and :meth:`minute_charge_cents` for what one billed minute costs the payer.
    """

    def __init__(self, rules: list[RateRule], *, tax_percent: float = 0.0,
                 ancillary_fees_cents: int = 0) -> None:
        self.rules = sorted(rules, key=lambda r: (r.effective, r.specificity))
        self.tax_percent = Decimal(str(tax_percent))
        self.ancillary_fees_cents = int(ancillary_fees_cents)

    @classmethod
    def from_profile(cls, profile: Any) -> RateTable:
        """From ``cfg.profile`` (or its ``billing`` table)."""
        billing = profile["billing"] if "billing" in profile else profile
        rules = []
        for i, row in enumerate(billing["rates"]):
            key = f"profile.billing.rates[{i}]"
            call_type, jur = row["call_type"], row["jurisdiction"]
            if call_type not in (*CALL_TYPES, "*"):
                raise ConfigError(f"expected call_type one of {', '.join(CALL_TYPES)} or *, got {call_type!r}", key=key)
            if jur not in (*JURISDICTIONS, "*"):
                raise ConfigError(f"expected jurisdiction one of {', '.join(JURISDICTIONS)} or *, got {jur!r}", key=key)
            cents = row["cents_per_min"]
            if not isinstance(cents, int) or cents < 0:
                raise ConfigError(f"expected whole cents >= 0, got {cents!r}", key=f"{key}.cents_per_min")
            rules.append(RateRule(_as_date(row["effective"], key=f"{key}.effective"), call_type, jur, cents))
        tax = billing.get("tax_percent", 0.0)
        if tax < 0:
            raise ConfigError(f"expected a percentage >= 0, got {tax!r}", key="profile.billing.tax_percent")
        return cls(rules, tax_percent=tax, ancillary_fees_cents=billing.get("ancillary_fees_cents", 0))

    # -- lookup ------------------------------------------------------------------------
    def rule_for(self, call_type: str, jurisdiction: str, on_date: dt.date | str | None = None) -> RateRule:
        """The rule that prices this call; :class:`RateNotFound` names what was asked."""
        day = dt.date.today() if on_date is None else _as_date(on_date, key="on_date")
        candidates = [r for r in self.rules if r.effective <= day and r.matches(call_type, jurisdiction)]
        if not candidates:
            raise RateNotFound(
                f"no rate for a {call_type} call to a {jurisdiction} number on {day.isoformat()} "
                f"(rates start {min((r.effective for r in self.rules), default='never')})")
        return max(candidates, key=lambda r: (r.effective, r.specificity))

    def cents_per_min(self, call_type: str, jurisdiction: str, on_date: dt.date | str | None = None) -> int:
        """The bare per-minute rate in cents (before taxes)."""
        return self.rule_for(call_type, jurisdiction, on_date).cents_per_min

    def tax_cents(self, rate_cents: int, minutes: int = 1) -> int:
        """The tax on ``minutes`` minutes at ``rate_cents``, rounded half-up to the cent once."""
        return charged_through_cents(rate_cents, self.tax_percent, minutes) - rate_cents * minutes

    def minute_charge_cents(self, call_type: str, jurisdiction: str,
                            on_date: dt.date | str | None = None) -> int:
        """What a call's first billed minute costs the payer: the rate plus passed-through tax
        (later minutes may cost a cent less: the tax is rounded once per call)."""
        rate = self.cents_per_min(call_type, jurisdiction, on_date)
        return minute_charge_at_cents(rate, self.tax_percent, 0)

    # -- jurisdiction ------------------------------------------------------------------
    @staticmethod
    def jurisdiction(number: str | NumberInfo, facility: Any) -> str:
        """``local`` | ``in-state`` | ``out-of-state`` | ``international`` (see the module docstring).

        ``facility`` is ``cfg.facility`` (``state``, ``local_exchanges`` like ``"573-751"``).
        Raises ``ValueError`` for a number that is not a callable destination (toll-free,
        N11, invalid): those never reach rating.
        """
        info = number if isinstance(number, NumberInfo) else classify(number)
        if info.kind == "international":
            return "international"
        if info.kind != "nanp":
            raise InvalidInput(f"expected a callable NANP or 011 number, got {info.keyed!r} ({info.kind})")
        exchanges = {e.replace("-", "").strip() for e in facility["local_exchanges"]}
        if info.digits[:6] in exchanges:
            return "local"
        if info.region == facility["state"]:
            return "in-state"
        return "out-of-state"


def charged_through_cents(rate_cents: int, tax_percent: float | Decimal, minutes: int) -> int:
    """What the first ``minutes`` billed minutes of a call cost: the rate times the minutes plus
    the tax on that amount, rounded half-up to the cent once."""
    base = int(rate_cents) * int(minutes)
    tax = (Decimal(base) * Decimal(str(tax_percent)) / Decimal(100)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return base + int(tax)


def minute_charge_at_cents(rate_cents: int, tax_percent: float | Decimal, index: int) -> int:
    """What billed minute ``index`` (0 = the first) is charged, so that the charges of a call
    always add up to :func:`charged_through_cents` (the tax rounded once)."""
    return (charged_through_cents(rate_cents, tax_percent, index + 1)
            - charged_through_cents(rate_cents, tax_percent, index))


def affordable_minutes(rate_cents: int, tax_percent: float | Decimal, available_cents: int, *,
                       most: int) -> int:
    """How many billed minutes ``available_cents`` pay for (at most ``most``; ``most`` when free)."""
    if rate_cents <= 0:
        return most
    low, high = 0, most                  # the cost only grows with the minutes: bisect
    while low < high:
        mid = (low + high + 1) // 2
        if charged_through_cents(rate_cents, tax_percent, mid) <= available_cents:
            low = mid
        else:
            high = mid - 1
    return low


def billed_minutes(duration_s: float) -> int:
    """Minutes billed for a connected call: every started minute (0 s -> 0, 0.1 s -> 1, 60 s -> 1)."""
    if duration_s <= 0:
        return 0
    return math.ceil(round(duration_s, 6) / 60)


def facility_cap_class(cfg: Any) -> str:
    """The facility class the caps apply to: the profile's, checked against the ADP for jails."""
    cls = cfg.profile["billing"]["facility_class"]
    if cls not in FACILITY_CLASSES:
        raise ConfigError(f"expected one of {', '.join(FACILITY_CLASSES)}, got {cls!r}",
                          key="profile.billing.facility_class")
    return cls


def cap_cents(facility_class: str, on_date: dt.date) -> tuple[int, int, str]:
    """``(cap, additive, name)`` in force on a date: the 2021-era caps until 2026-04-05, then 2025 interim."""
    if on_date >= CAPS_2025_COMPLIANCE:
        return CAPS_2025_CENTS[facility_class], FACILITY_ADDITIVE_2025_CENTS, "2025 interim (FCC 25-75)"
    return CAPS_2021_CENTS[facility_class], 0, "2021-era"


def check_caps(cfg: Any, *, on_date: dt.date | str | None = None) -> list[str]:
    """Warnings for rates above the FCC cap for the facility (empty list: all within caps).

    Each rule is checked against the caps in force on its effective date and, if it
    is still in force then, on ``on_date`` (default today) and on the 2025 compliance
    date.  A rate above the 2025 interim cap but within cap + the $0.02 facility
    additive is reported too (it is lawful only where the facility has that cost).
    Ancillary fees > 0 are reported (banned since the 2024 order).  The caller
    decides whether to ``warnings.warn(msg, RateAboveCap)``.
    """
    day = dt.date.today() if on_date is None else _as_date(on_date, key="on_date")
    table = RateTable.from_profile(cfg.profile)
    cls = facility_cap_class(cfg)
    problems: list[str] = []
    adp = int(cfg.facility["adp"])
    if cls.startswith("jail") and jail_class_for_adp(adp) != cls:
        problems.append(f"facility_class {cls!r} does not match ADP {adp} "
                        f"(expected {jail_class_for_adp(adp)!r}); caps checked for {cls!r}")
    for rule in table.rules:
        later = [r.effective for r in table.rules if r.effective > rule.effective]
        until = min(later) if later else dt.date.max
        dates = {rule.effective}
        for d in (day, CAPS_2025_COMPLIANCE):
            if rule.effective <= d < until:
                dates.add(d)
        seen: set[str] = set()
        for d in sorted(dates):
            cap, additive, name = cap_cents(cls, d)
            if name in seen:  # one report per rule and cap regime
                continue
            seen.add(name)
            if rule.cents_per_min > cap + additive:
                problems.append(
                    f"rate {rule.cents_per_min}c/min ({rule.call_type}/{rule.jurisdiction}, effective "
                    f"{rule.effective}) is above the {name} cap of {cap}c"
                    f"{f' + {additive}c facility additive' if additive else ''} for a {cls} on {d}")
            elif rule.cents_per_min > cap:
                problems.append(
                    f"rate {rule.cents_per_min}c/min ({rule.call_type}/{rule.jurisdiction}, effective "
                    f"{rule.effective}) is above the {name} cap of {cap}c for a {cls} on {d}; "
                    f"lawful only with the {additive}c facility additive")
    if table.ancillary_fees_cents > 0:
        problems.append(f"ancillary fees of {table.ancillary_fees_cents}c are set; separate ancillary "
                        "service charges are banned since the 2024 FCC order")
    return problems


def warn_caps(cfg: Any, *, on_date: dt.date | str | None = None) -> list[str]:
    """:func:`check_caps`, each problem also issued as a :class:`~phonesim.exc.RateAboveCap` warning."""
    problems = check_caps(cfg, on_date=on_date)
    for problem in problems:
        warnings.warn(problem, RateAboveCap, stacklevel=2)
    return problems
