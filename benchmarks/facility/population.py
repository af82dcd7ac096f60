"""A housing unit's people, the numbers they call, and how each call attempt goes.

Every behavioural figure here is an **assumption** (:class:`Assumptions`), not a measurement:
no public distribution of prison call lengths, answer rates or arrival rates was found.
What is not assumed comes from the facility profile (Missouri DOC: 15-minute calls, a 3-hour
wait between connected calls, phone hours 06:00-22:30, $0.05 a minute, 20 s to accept).
Change the figures with the benchmark's options; the report prints the ones used.

Everything is drawn from one seed, so a day is reproducible and the same day can be run
with audio and without.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

#: The facility-wide PIN space: every inmate gets a distinct 4-digit PIN.
PIN_SPACE = 10_000
#: Attorneys' offices (privileged numbers: free, never recorded); shared by the whole facility.
ATTORNEYS = ("5735550123", "5735550124", "3145550125")
#: Family prepaid accounts called from several housing units (so several platform processes
#: charge the same account row: the lock path of the multi-process run).
SHARED_PREPAID = tuple(f"6605551{i:03d}" for i in range(12))
#: Area codes of the called numbers: in-state (573, 314, 816, 417, 660) and out-of-state (312, 618).
AREA_CODES = ("573", "573", "573", "314", "816", "417", "312", "618")


@dataclass(frozen=True)
class Assumptions:
    """How people behave (all assumed; see the module docstring). Shares are of call attempts
    unless named otherwise."""

    arrivals_per_phone_hour: float = 4.0     # Poisson arrivals at each phone
    inmates_per_phone: int = 12
    mindful_of_wait: float = 0.85            # arrivals who let 3 h pass since their last call
    walk_up_s: tuple[float, float] = (5.0, 30.0)
    # the numbers on an inmate's list and who pays for them (shares of numbers)
    contacts: tuple[int, int] = (1, 3)
    pays: tuple[tuple[str, float], ...] = (("prepaid", 0.50), ("collect", 0.25), ("debit", 0.20),
                                           ("attorney", 0.05))
    shared_prepaid: float = 0.05             # prepaid numbers that are a family account of several units
    low_prepaid: float = 0.15                # prepaid accounts holding 5-70 cents (run out)
    low_debit: float = 0.20                  # inmates whose debit balance is 0-60 cents
    restricted: float = 0.02                 # inmates on restricted status (privileged calls only)
    # at the phone
    wrong_pin: float = 0.05                  # a wrong PIN first, then the right one
    toll_free: float = 0.01                  # dials a toll-free number (refused, logged)
    hang_up_at_menu: float = 0.01
    # the called party (shares of calls placed)
    busy: float = 0.05
    no_answer: float = 0.10
    hang_up_announcing: float = 0.05
    decline: float = 0.06
    block: float = 0.01
    silent: float = 0.02                     # answers, never presses a key (accept timeout)
    rates_first: float = 0.03                # hears the rates, then accepts
    rings: tuple[int, int] = (1, 4)
    key_after_answer_s: tuple[float, float] = (6.0, 24.0)   # the announcement is ~21 s
    # a connected call
    to_limit: float = 0.45                   # calls that run until the 15-minute limit
    talk_median_s: float = 360.0             # the others: log-normal talk time
    talk_sigma: float = 0.7
    inmate_hangs_up: float = 0.5             # who ends a call that does not run to the limit
    threeway: float = 0.01                   # accepted, non-privileged calls with a three-way attempt

    def table(self) -> list[tuple[str, str]]:
        """The figures, as (name, value) rows for the report."""
        return [(name, str(getattr(self, name))) for name in self.__dataclass_fields__]


@dataclass(frozen=True)
class Contact:
    number: str
    pays: str                 # prepaid | collect | debit | attorney
    funds_cents: int = 0      # a prepaid account's deposit (0: not this contact's to fund)


@dataclass(frozen=True)
class Person:
    id: str
    pin: str
    wrong_pin: str            # a PIN nobody of the facility has
    status: str
    debit_cents: int
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class Unit:
    name: str
    phones: tuple[str, ...]
    people: tuple[Person, ...]


@dataclass(frozen=True)
class Attempt:
    """One person's turn at a phone: what they key and how the called party responds."""

    person: Person
    contact: Contact
    wrong_pin_first: bool
    toll_free: bool
    hang_up_at_menu: bool
    party: str                # busy | no-answer | hang-up | decline | block | silent | rates | accept
    rings: int
    key_after_answer_s: float
    talk_s: float             # from acceptance; >= the limit: the limit ends it
    inmate_ends: bool
    threeway_after_s: float | None
    pauses_s: tuple[float, ...] = field(default=())   # think times before each menu, drawn up front

    @property
    def number(self) -> str:
        return "8005550199" if self.toll_free else self.contact.number

    @property
    def type_key(self) -> str:
        """The call-type menu key: 1 debit (attorneys too: privileged calls are free), 2 collect,
        3 prepaid."""
        return {"debit": "1", "attorney": "1", "collect": "2", "prepaid": "3"}[self.contact.pays]


def facility_pins(seed: int = 0) -> list[str]:
    """Every PIN of the facility's space in one fixed shuffled order (units take slices)."""
    pins = [f"{i:04d}" for i in range(1000, PIN_SPACE)]
    random.Random(seed).shuffle(pins)
    return pins


def build_unit(name: str, phones: int, a: Assumptions, *, seed: int, unit_index: int) -> Unit:
    """A housing unit of ``phones`` wall phones and ``phones * a.inmates_per_phone`` people.
    PINs are distinct across units (unit ``unit_index`` takes its own slice)."""
    rng = random.Random(f"unit:{name}:{seed}")
    count = phones * a.inmates_per_phone
    pins = facility_pins()
    if (unit_index + 1) * count > len(pins):
        raise ValueError(f"expected at most {len(pins)} inmates in the facility, got {(unit_index + 1) * count}")
    taken = set(pins)        # a wrong PIN must be nobody's: outside the slices handed out
    mine = pins[unit_index * count:(unit_index + 1) * count]
    spare = [p for p in (f"{i:04d}" for i in range(1000)) if p not in taken]
    people = []
    used_numbers: set[str] = set()
    for i, pin in enumerate(mine):
        contacts = tuple(_contact(rng, a, used_numbers) for _ in range(rng.randint(*a.contacts)))
        low = rng.random() < a.low_debit
        people.append(Person(
            id=f"{name}-{i + 1:03d}", pin=pin, wrong_pin=spare[(unit_index * count + i) % len(spare)],
            status="restricted" if rng.random() < a.restricted else "general",
            debit_cents=rng.randint(0, 60) if low else rng.randint(300, 2000), contacts=contacts))
    return Unit(name, tuple(f"{name}-phone-{k + 1}" for k in range(phones)), tuple(people))


def _contact(rng: random.Random, a: Assumptions, used: set[str]) -> Contact:
    pays = _pick(rng, a.pays)
    if pays == "attorney":
        return Contact(rng.choice(ATTORNEYS), pays)
    if pays == "prepaid" and rng.random() < a.shared_prepaid:
        return Contact(rng.choice(SHARED_PREPAID), pays)
    while True:
        number = f"{rng.choice(AREA_CODES)}555{rng.randint(2000, 9999):04d}"
        if number not in used and number not in SHARED_PREPAID:
            used.add(number)
            break
    funds = 0
    if pays == "prepaid":
        funds = rng.randint(5, 70) if rng.random() < a.low_prepaid else rng.randint(500, 3000)
    return Contact(number, pays, funds)


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(s for _, s in shares)
    for name, share in shares:
        x -= share
        if x < 0:
            return name
    return shares[-1][0]


def draw_attempt(rng: random.Random, person: Person, a: Assumptions, limit_s: float) -> Attempt:
    """How this turn at the phone goes (drawn when the person walks up)."""
    contact = rng.choice(person.contacts)
    party = _pick(rng, (("busy", a.busy), ("no-answer", a.no_answer), ("hang-up", a.hang_up_announcing),
                        ("decline", a.decline), ("block", a.block), ("silent", a.silent),
                        ("rates", a.rates_first),
                        ("accept", 1 - a.busy - a.no_answer - a.hang_up_announcing - a.decline - a.block
                         - a.silent - a.rates_first)))
    if contact.pays == "attorney" and party in ("decline", "block", "hang-up", "silent"):
        party = "accept"                       # an attorney's office takes the call
    if rng.random() < a.to_limit:
        talk_s = limit_s + 60.0
    else:
        talk_s = min(limit_s + 60.0, max(5.0, rng.lognormvariate(math.log(a.talk_median_s), a.talk_sigma)))
    threeway = None
    if contact.pays != "attorney" and rng.random() < a.threeway:
        threeway = rng.uniform(0.2, 0.8) * min(talk_s, limit_s)
    return Attempt(person, contact, wrong_pin_first=rng.random() < a.wrong_pin,
                   toll_free=rng.random() < a.toll_free, hang_up_at_menu=rng.random() < a.hang_up_at_menu,
                   party=party, rings=rng.randint(*a.rings), key_after_answer_s=rng.uniform(*a.key_after_answer_s),
                   talk_s=talk_s, inmate_ends=rng.random() < a.inmate_hangs_up, threeway_after_s=threeway,
                   pauses_s=tuple(rng.uniform(1.0, 3.0) for _ in range(6)))


def seed_unit(platform, unit: Unit, *, host: str) -> None:
    """The unit's people, their money and numbers, and its phones, in the facility database
    (one key derivation per PIN: about 45 ms each, outside the measured day)."""
    ledger, sites = platform.ledger, platform.sites
    facility = platform.cfg.facility["id"]
    sites.ensure_unit(facility, unit.name)
    for phone in unit.phones:
        sites.register_terminal(phone, facility_id=facility, unit=unit.name, kind="phone", host=host)
    for person in unit.people:
        ledger.add_inmate(person.id, f"Resident {person.id}", person.pin, status=person.status,
                          housing_unit=unit.name, name_prompt="inmate_name_default")
        if person.debit_cents:
            ledger.credit_trust(person.id, person.debit_cents, memo="deposit")
            ledger.transfer_trust_to_debit(person.id, person.debit_cents, receipt=False)
        for contact in person.contacts:
            if contact.pays == "prepaid" and contact.funds_cents and not ledger.has_prepaid(contact.number):
                ledger.fund_prepaid(contact.number, contact.funds_cents, memo="family deposit")
            elif contact.pays == "collect" and not ledger.has_direct_bill(contact.number):
                ledger.open_direct_bill(contact.number)


def seed_facility(platform) -> None:
    """What every unit shares: the attorneys' numbers and the shared family prepaid accounts."""
    ledger = platform.ledger
    for number in ATTORNEYS:
        if not ledger.is_privileged(number):
            ledger.set_privileged(number, name="Public Defender")
    for i, number in enumerate(SHARED_PREPAID):
        if not ledger.has_prepaid(number):
            ledger.fund_prepaid(number, 1500 + 100 * i, memo="family deposit")
