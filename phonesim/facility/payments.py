"""Card payments through an interface, and the one backend phonesim ships: a simulator.

Families fund a prepaid (AdvanceConnect) account or pay a Direct Bill by card, and may
have the unused prepaid balance refunded.  The ledger never talks to a card network: it
asks a :class:`PaymentProcessor` to ``charge`` or ``refund`` and records what came back
(:meth:`phonesim.facility.ledger.Ledger.fund_prepaid_by_card` and its siblings).

Every charge carries a **payment id** chosen by the caller before the first attempt and
reused on every retry.  A processor must treat a second charge with the same id as the
same payment: it returns the first result (``duplicate=True``) and charges nothing more.
That is what makes a crash between the processor and the ledger harmless: the retry
reaches the processor again, is recognised, and only then reaches the ledger, which
records the payment id in its journal so it is never funded twice either.

:class:`SimulatedCardProcessor` is a **card processor simulator -- no real money**: it
accepts only the published test card numbers of :data:`TEST_CARDS` (a real card number,
even a valid one, is declined and never stored: only the last four digits are kept),
checks the Luhn digit, the expiry and the CVV form, declines the documented numbers with
their reasons, keeps each payment id's result, and never refunds more than was paid.
Its records live in the facility database (SQLite or PostgreSQL), so every host and
process of a facility -- the console's family pages, the family phone line -- sees the
same payments.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from phonesim.exc import InvalidInput

#: What a person is shown wherever this backend is used (pages, prompts, receipts).
SIMULATOR_LABEL = "card processor simulator — no real money"

#: Result codes.  ``approved`` is the only one that moved money.
APPROVED = "approved"
DECLINE_CODES = ("invalid-number", "not-a-test-card", "incorrect-cvv", "expired-card", "insufficient-funds",
                 "card-declined", "processor-unavailable")

#: The simulator's published test cards: number -> (result code, what the person is told).
TEST_CARDS: dict[str, tuple[str, str]] = {
    "4242424242424242": (APPROVED, "approved"),
    "5555555555554444": (APPROVED, "approved"),
    "378282246310005": (APPROVED, "approved"),
    "4000000000009995": ("insufficient-funds", "declined: insufficient funds on the card"),
    "4000000000000002": ("card-declined", "declined by the card's bank"),
    "4000000000000069": ("expired-card", "declined: the card has expired"),
    "4000000000000119": ("processor-unavailable", "the card processor is unavailable; try again later"),
}


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What a processor answered.  ``ok`` means the money moved (a charge was approved, a
    refund made); ``code`` is :data:`APPROVED` or one of :data:`DECLINE_CODES`; ``message``
    is for the person paying; ``duplicate`` says this id was seen before and nothing moved
    this time; ``card_last4`` is all a processor ever returns of the card."""

    payment_id: str
    ok: bool
    code: str
    message: str
    amount_cents: int
    card_last4: str = ""
    duplicate: bool = False
    refunded_cents: int = 0

    @property
    def retryable(self) -> bool:
        """The processor could not be reached: the same payment id may be tried again later."""
        return self.code == "processor-unavailable"


class PaymentProcessor(Protocol):
    """A card processor as the ledger sees it.

    ``charge`` and ``refund`` are idempotent: by ``payment_id`` for a charge (the same id
    again returns the first result and charges nothing; the same id with another amount is
    an :class:`~phonesim.exc.InvalidInput`), and by ``refund_id`` for a refund.  Refunds
    of one payment never add up to more than it paid.  ``label`` is shown to people.
    """

    label: str

    def charge(self, payment_id: str, card_number: str, expiry_mm_yy: str, cvv: str,
               amount_cents: int) -> PaymentResult: ...

    def refund(self, payment_id: str, amount_cents: int, *, refund_id: str | None = None) -> PaymentResult: ...


# --------------------------------------------------------------------------- card checks
def luhn_ok(digits: str) -> bool:
    """The Luhn check digit of a card number (digits only) is right."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_digits(card_number: str) -> str:
    """A card number as typed (spaces and dashes allowed) -> its digits; '' when it is not one."""
    digits = str(card_number).replace(" ", "").replace("-", "")
    return digits if digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19 else ""


def expiry_end_s(expiry_mm_yy: str) -> float | None:
    """``"12/29"``, ``"1229"`` or ``"12/2029"`` -> the calendar second the card stops working
    (the first instant of the next month, UTC); None when it is not a month and year."""
    text = str(expiry_mm_yy).replace(" ", "").replace("/", "")
    if not (text.isascii() and text.isdigit() and len(text) in (4, 6)):
        return None
    month, year = int(text[:2]), int(text[2:])
    year += 2000 if year < 100 else 0
    if not 1 <= month <= 12:
        return None
    return dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=dt.UTC).timestamp()


def check_payment_id(payment_id: str) -> str:
    text = str(payment_id).strip() if isinstance(payment_id, str) else ""
    if not text or len(text) > 80:
        raise InvalidInput(f"payment id: expected 1 to 80 characters, chosen once and reused on retries, "
                           f"got {payment_id!r}")
    return text


def check_amount(amount_cents: int) -> int:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise InvalidInput(f"amount: expected whole cents > 0, got {amount_cents!r}")
    return amount_cents


# --------------------------------------------------------------------------- the simulator
class SimulatedCardProcessor:
    """A card processor simulator -- no real money (see the module docstring).

    ``db`` is the facility's :class:`~phonesim.facility.db.Database` (its tables
    ``card_simulator_charges`` and ``card_simulator_refunds``); ``now_s`` gives calendar
    seconds for the expiry check (default: the system clock; a ledger's clock in tests).
    """

    label = SIMULATOR_LABEL

    def __init__(self, db: Any, *, now_s: Callable[[], float] | None = None) -> None:
        self.db = db
        self.now_s = now_s if now_s is not None else time.time

    def __repr__(self) -> str:
        return f"<SimulatedCardProcessor ({SIMULATOR_LABEL}) {self.db!r}>"

    def decide(self, card_number: str, expiry_mm_yy: str, cvv: str) -> tuple[str, str]:
        """The result code and message for a card, before any money moves."""
        digits = card_digits(card_number)
        if not digits or not luhn_ok(digits):
            return "invalid-number", "declined: that is not a valid card number (check the digits)"
        if digits not in TEST_CARDS:
            return "not-a-test-card", ("declined: this is a simulator and accepts only its published "
                                       "test card numbers (never enter a real card)")
        end_s = expiry_end_s(expiry_mm_yy)
        if end_s is None:
            return "expired-card", f"declined: expected the expiry as MM/YY, got {expiry_mm_yy!r}"
        if end_s <= self.now_s():
            return "expired-card", f"declined: the card expired ({expiry_mm_yy})"
        cvv_len = 4 if digits[:2] in ("34", "37") else 3
        cvv = str(cvv).strip()
        if not (cvv.isascii() and cvv.isdigit() and len(cvv) == cvv_len):
            return "incorrect-cvv", f"declined: expected the {cvv_len}-digit security code on the card"
        return TEST_CARDS[digits]

    def charge(self, payment_id: str, card_number: str, expiry_mm_yy: str, cvv: str,
               amount_cents: int) -> PaymentResult:
        payment_id = check_payment_id(payment_id)
        check_amount(amount_cents)
        last4 = card_digits(card_number)[-4:]
        seen = self._charge_row(payment_id)
        if seen is not None:
            return self._repeat(seen, amount_cents, last4)
        code, message = self.decide(card_number, expiry_mm_yy, cvv)
        if code == "processor-unavailable":     # nothing happened: the same id may be tried again
            return PaymentResult(payment_id, False, code, message, amount_cents, last4)
        at = dt.datetime.fromtimestamp(self.now_s(), tz=dt.UTC).isoformat(timespec="seconds")
        with self.db.transaction() as tx:
            inserted = tx.execute(
                "INSERT INTO card_simulator_charges(payment_id, amount_cents, card_last4, code, message, at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING payment_id",
                (payment_id, amount_cents, last4, code, message, at)).fetchone()
        if inserted is None:                    # another attempt with this id won the race
            return self._repeat(self._charge_row(payment_id), amount_cents, last4)
        return PaymentResult(payment_id, code == APPROVED, code, message, amount_cents, last4)

    def _charge_row(self, payment_id: str) -> Any:
        rows = self.db.query("SELECT * FROM card_simulator_charges WHERE payment_id=?", (payment_id,))
        return rows[0] if rows else None

    @staticmethod
    def _repeat(row: Any, amount_cents: int, last4: str) -> PaymentResult:
        if row["amount_cents"] != amount_cents or (last4 and row["card_last4"] != last4):
            raise InvalidInput(f"payment {row['payment_id']}: already used for {row['amount_cents']}c on the "
                               f"card ending {row['card_last4']}; got {amount_cents}c on the card ending "
                               f"{last4 or '?'} (a new payment needs a new payment id)")
        return PaymentResult(row["payment_id"], row["code"] == APPROVED, row["code"], row["message"],
                             row["amount_cents"], row["card_last4"], True, row["refunded_cents"])

    def refund(self, payment_id: str, amount_cents: int, *, refund_id: str | None = None) -> PaymentResult:
        """Give back part or all of an approved charge; never more than it paid in total.

        ``refund_id`` (default: ``payment_id`` and the amount) makes a retry safe: a refund
        id already done returns its result and refunds nothing more.
        """
        payment_id = check_payment_id(payment_id)
        check_amount(amount_cents)
        refund_id = check_payment_id(refund_id if refund_id is not None else f"{payment_id}/{amount_cents}")
        with self.db.transaction() as tx:
            charge = tx.execute(f"SELECT * FROM card_simulator_charges WHERE payment_id=?{self.db.for_update}",
                                (payment_id,)).fetchone()
            if charge is None or charge["code"] != APPROVED:
                raise InvalidInput(f"refund: expected the id of an approved payment, got {payment_id!r}")
            done = tx.execute("SELECT * FROM card_simulator_refunds WHERE refund_id=?", (refund_id,)).fetchone()
            if done is not None:
                if (done["payment_id"], done["amount_cents"]) != (payment_id, amount_cents):
                    raise InvalidInput(f"refund {refund_id}: already used for {done['amount_cents']}c of "
                                       f"payment {done['payment_id']}; got {amount_cents}c of {payment_id}")
                return PaymentResult(payment_id, True, APPROVED, "refunded", amount_cents,
                                     charge["card_last4"], True, charge["refunded_cents"])
            left = charge["amount_cents"] - charge["refunded_cents"]
            if amount_cents > left:
                raise InvalidInput(f"refund of payment {payment_id}: expected at most the {left}c not yet "
                                   f"refunded of {charge['amount_cents']}c, got {amount_cents}c")
            at = dt.datetime.fromtimestamp(self.now_s(), tz=dt.UTC).isoformat(timespec="seconds")
            tx.execute("INSERT INTO card_simulator_refunds(refund_id, payment_id, amount_cents, at) "
                       "VALUES (?,?,?,?)", (refund_id, payment_id, amount_cents, at))
            refunded = charge["refunded_cents"] + amount_cents
            tx.execute("UPDATE card_simulator_charges SET refunded_cents=? WHERE payment_id=?",
                       (refunded, payment_id))
        return PaymentResult(payment_id, True, APPROVED, "refunded", amount_cents, charge["card_last4"],
                             False, refunded)

    def charged_cents(self, payment_id: str) -> int:
        """What the simulator took for a payment id, net of refunds (0: unknown or declined)."""
        row = self._charge_row(payment_id)
        if row is None or row["code"] != APPROVED:
            return 0
        return int(row["amount_cents"] - row["refunded_cents"])
