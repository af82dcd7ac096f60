"""Card payments: the card processor simulator and the ledger's card methods, on a SQLite file
and a PostgreSQL database (``db_url``): Luhn-checked test cards, declines that change nothing,
idempotent payment ids, refunds never above what was paid, a refund of the unused prepaid
balance, and a crash between the processor and the ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonesim.clock import VirtualClock
from phonesim.config import load_config
from phonesim.exc import InvalidInput, NotFound
from phonesim.facility import schema
from phonesim.facility.db import Database
from phonesim.facility.ledger import Ledger
from phonesim.facility.payments import (
    SIMULATOR_LABEL,
    TEST_CARDS,
    SimulatedCardProcessor,
    card_digits,
    expiry_end_s,
    luhn_ok,
)

REPO = Path(__file__).resolve().parents[2]
BTN = "5735550100"
VISA = "4242 4242 4242 4242"
CARD = {"card_number": VISA, "expiry_mm_yy": "12/30", "cvv": "123"}


@pytest.fixture
def ledger(db_url):
    with Ledger.open(db_url, clock=VirtualClock(), cfg=load_config(search=False)) as led:
        yield led


@pytest.fixture
def processor(ledger):
    return SimulatedCardProcessor(ledger.db, now_s=ledger.clock.wall_time_s)


# --------------------------------------------------------------------------- card checks
def reference_luhn(digits: str) -> bool:
    """Luhn written the other way round (double every second digit from the right, sum digits)."""
    doubled = "".join(str(int(d) * 2) if i % 2 else d for i, d in enumerate(reversed(digits)))
    return sum(int(d) for d in doubled) % 10 == 0


@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_luhn_agrees_with_a_second_implementation(digits):
    assert luhn_ok(digits) == reference_luhn(digits)


@pytest.mark.parametrize("number", sorted(TEST_CARDS))
def test_every_published_test_card_passes_luhn_and_one_changed_digit_fails(number):
    assert luhn_ok(number)
    changed = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not luhn_ok(changed)


@pytest.mark.parametrize(("typed", "digits"), [("4242 4242 4242 4242", "4242424242424242"),
                                               ("4242-4242-4242-4242", "4242424242424242"),
                                               ("4242", ""), ("4242x42424242424", ""), ("", "")])
def test_card_digits(typed, digits):
    assert card_digits(typed) == digits


@pytest.mark.parametrize(("typed", "ok"), [("12/30", True), ("1230", True), ("12/2030", True),
                                           ("13/30", False), ("1/30", False), ("ab/cd", False)])
def test_expiry_forms(typed, ok):
    assert (expiry_end_s(typed) is not None) == ok


@pytest.mark.parametrize(("card", "expiry", "cvv", "code"), [
    ("4242424242424242", "12/30", "123", "approved"),
    ("5555555555554444", "12/30", "123", "approved"),
    ("378282246310005", "12/30", "1234", "approved"),
    ("378282246310005", "12/30", "123", "incorrect-cvv"),
    ("4000000000009995", "12/30", "123", "insufficient-funds"),
    ("4000000000000002", "12/30", "123", "card-declined"),
    ("4000000000000069", "12/30", "123", "expired-card"),
    ("4242424242424242", "12/25", "123", "expired-card"),     # the clock says January 2026
    ("4242424242424242", "2/30", "123", "expired-card"),
    ("4242424242424241", "12/30", "123", "invalid-number"),
    ("4111111111111111", "12/30", "123", "not-a-test-card"),  # Luhn-valid but not one of ours
    ("4242424242424242", "12/30", "12", "incorrect-cvv"),
])
def test_the_simulator_decides_by_the_published_cards(processor, card, expiry, cvv, code):
    result = processor.charge(f"p-{card}-{expiry}-{cvv}", card, expiry, cvv, 1000)
    assert (result.code, result.ok) == (code, code == "approved")
    assert result.message
    assert processor.charged_cents(result.payment_id) == (1000 if code == "approved" else 0)


def test_a_card_expires_at_the_end_of_its_month(ledger, processor):
    assert processor.charge("jan", VISA, "01/26", "123", 100).ok       # 2026-01-01: still January
    ledger.clock.advance_s(31 * 86400)                                  # 2026-02-01
    assert processor.charge("feb", VISA, "01/26", "123", 100).code == "expired-card"


def test_the_same_payment_id_is_the_same_payment(processor):
    first = processor.charge("pay-1", VISA, "12/30", "123", 2000)
    again = processor.charge("pay-1", VISA, "12/30", "123", 2000)
    assert first.ok and again.ok and not first.duplicate and again.duplicate
    assert processor.charged_cents("pay-1") == 2000
    assert processor.db.query("SELECT COUNT(*) FROM card_simulator_charges")[0][0] == 1
    with pytest.raises(InvalidInput, match=r"already used for 2000c.*got 2500c"):
        processor.charge("pay-1", VISA, "12/30", "123", 2500)


def test_a_decline_is_remembered_but_an_unavailable_processor_is_not(processor):
    declined = processor.charge("d", "4000000000000002", "12/30", "123", 500)
    assert processor.charge("d", "4000000000000002", "12/30", "123", 500).duplicate
    assert not declined.ok and declined.code == "card-declined"
    down = processor.charge("u", "4000000000000119", "12/30", "123", 500)
    assert down.retryable and not down.ok
    assert not processor.charge("u", "4000000000000119", "12/30", "123", 500).duplicate


@pytest.mark.parametrize(("payment_id", "amount"), [("", 100), ("x" * 81, 100), ("ok", 0), ("ok", -5),
                                                    ("ok", 1.5), ("ok", True)])
def test_bad_payment_ids_and_amounts_are_refused(processor, payment_id, amount):
    with pytest.raises(InvalidInput, match="expected"):
        processor.charge(payment_id, VISA, "12/30", "123", amount)


def test_refunds_never_exceed_what_was_paid(processor):
    processor.charge("pay", VISA, "12/30", "123", 1000)
    assert processor.refund("pay", 600, refund_id="r1").refunded_cents == 600
    assert processor.refund("pay", 600, refund_id="r1").duplicate              # a retry: nothing more
    with pytest.raises(InvalidInput, match="at most the 400c not yet refunded of 1000c, got 500c"):
        processor.refund("pay", 500, refund_id="r2")
    assert processor.refund("pay", 400, refund_id="r2").refunded_cents == 1000
    assert processor.charged_cents("pay") == 0
    processor.charge("declined", "4000000000000002", "12/30", "123", 1000)
    for unknown in ("declined", "never-seen"):
        with pytest.raises(InvalidInput, match="expected the id of an approved payment"):
            processor.refund(unknown, 100)


def test_the_simulator_says_it_is_one(processor):
    assert "simulator" in processor.label and "no real money" in processor.label
    assert SIMULATOR_LABEL in repr(processor)


# --------------------------------------------------------------------------- the ledger
def test_funding_by_card_records_the_payment_once(ledger, processor):
    paid = ledger.fund_prepaid_by_card(BTN, 2000, payment_id="web-1", processor=processor, **CARD)
    assert paid.ok and paid.balance_after_cents == 2000 and paid.result.card_last4 == "4242"
    again = ledger.fund_prepaid_by_card(BTN, 2000, payment_id="web-1", processor=processor, **CARD)
    assert again.ok and again.result.duplicate and ledger.prepaid_balance_cents(BTN) == 2000
    rows = [j for j in ledger.journal() if j["payment_id"] == "web-1"]
    assert len(rows) == 1 and rows[0]["amount_cents"] == 2000 and "simulator" in rows[0]["memo"]
    assert ledger.card_payments(BTN)[0]["card_last4"] == "4242"
    assert processor.charged_cents("web-1") == 2000
    with pytest.raises(InvalidInput, match="already used to fund-prepaid"):
        ledger.fund_prepaid_by_card(BTN, 3000, payment_id="web-1", processor=processor, **CARD)
    assert ledger.reconcile() == []


def test_a_declined_card_changes_nothing_and_says_why(ledger, processor):
    ledger.fund_prepaid(BTN, 500)
    declined = ledger.fund_prepaid_by_card(BTN, 2000, payment_id="web-2", processor=processor,
                                           card_number="4000000000009995", expiry_mm_yy="12/30", cvv="123")
    assert not declined.ok and declined.result.code == "insufficient-funds"
    assert "insufficient funds" in declined.result.message
    assert declined.balance_after_cents == 500 == ledger.prepaid_balance_cents(BTN)
    assert ledger.card_payment("web-2") is None and ledger.reconcile() == []


def test_paying_a_direct_bill_by_card(ledger, processor):
    ledger.open_direct_bill(BTN, credit_limit_cents=3000)
    for minute in range(4):
        ledger.charge_minute(7, minute, payer_kind="collect", payer_id=BTN, amount_cents=5)
    with pytest.raises(InvalidInput, match="at most the 20c owed, got 25c"):
        ledger.pay_direct_bill_by_card(BTN, 25, payment_id="db-1", processor=processor, **CARD)
    assert processor.charged_cents("db-1") == 0                  # refused before the card was charged
    paid = ledger.pay_direct_bill_by_card(BTN, 15, payment_id="db-1", processor=processor, **CARD)
    assert paid.ok and paid.balance_after_cents == 5 == ledger.direct_bill(BTN).owed_cents
    assert ledger.statement(BTN, "2026-01").payments_cents == 15
    with pytest.raises(NotFound):
        ledger.pay_direct_bill_by_card("3145550100", 15, payment_id="db-2", processor=processor, **CARD)
    assert ledger.reconcile() == []


def test_refund_of_the_unused_prepaid_balance(ledger, processor):
    ledger.fund_prepaid(BTN, 500, memo="deposit at the facility")
    ledger.fund_prepaid_by_card(BTN, 1000, payment_id="a", processor=processor, **CARD)
    ledger.fund_prepaid_by_card(BTN, 2000, payment_id="b", processor=processor, card_number="5555555555554444",
                                expiry_mm_yy="12/30", cvv="321")
    for minute in range(10):                                    # a call uses 50c
        ledger.charge_minute(9, minute, payer_kind="prepaid", payer_id=BTN, amount_cents=5)
    refund = ledger.refund_prepaid(BTN, refund_id="r-1", processor=processor)
    assert refund.amount_cents == 3450 and refund.balance_after_cents == 0
    assert refund.to_cards == (("b", "4444", 2000), ("a", "4242", 1000)) and refund.by_check_cents == 450
    assert processor.charged_cents("a") == processor.charged_cents("b") == 0
    again = ledger.refund_prepaid(BTN, refund_id="r-1", processor=processor)
    assert again.duplicate and again.amount_cents == 3450 and ledger.prepaid_balance_cents(BTN) == 0
    with pytest.raises(InvalidInput, match="expected an unused prepaid balance"):
        ledger.refund_prepaid(BTN, refund_id="r-2", processor=processor)
    assert [j["amount_cents"] for j in ledger.journal() if j["kind"] == "refund"] == [-3450]
    assert ledger.reconcile() == []


class _Down(Exception):
    pass


class RefundsFailAfter:
    """The simulator, unreachable for refunds after ``n`` of them (a network gone mid-refund)."""

    def __init__(self, real: SimulatedCardProcessor, n: int) -> None:
        self.real, self.n, self.label = real, n, real.label

    def charge(self, *args):
        return self.real.charge(*args)

    def refund(self, payment_id, amount_cents, *, refund_id=None):
        if self.n == 0:
            raise _Down("processor unreachable")
        self.n -= 1
        return self.real.refund(payment_id, amount_cents, refund_id=refund_id)


def test_a_refund_interrupted_by_the_processor_finishes_on_retry(ledger, processor):
    for pid in ("a", "b", "c"):
        ledger.fund_prepaid_by_card(BTN, 1000, payment_id=pid, processor=processor, **CARD)
    with pytest.raises(_Down):
        ledger.refund_prepaid(BTN, refund_id="r", processor=RefundsFailAfter(processor, 1))
    assert ledger.prepaid_balance_cents(BTN) == 0 and ledger.reconcile() == []   # taken, plan recorded
    assert sum(processor.charged_cents(p) for p in "abc") == 2000                # one card paid back so far
    done = ledger.refund_prepaid(BTN, refund_id="r", processor=processor)
    assert done.duplicate and done.amount_cents == 3000
    assert sum(processor.charged_cents(p) for p in "abc") == 0
    assert ledger.db.query("SELECT COUNT(*) FROM card_simulator_refunds")[0][0] == 3


CHILD = textwrap.dedent("""
    import os, sys
    from phonesim.facility.ledger import Ledger
    from phonesim.facility.payments import SimulatedCardProcessor

    class DiesAfterCharging(SimulatedCardProcessor):
        def charge(self, *args):
            result = super().charge(*args)
            print("charged", result.code, flush=True)
            os._exit(9)               # the process dies between the processor and the ledger

    ledger = Ledger.open(sys.argv[1])
    ledger.fund_prepaid_by_card("5735550100", 2000, payment_id="crash-1", processor=DiesAfterCharging(ledger.db),
                                card_number="4242424242424242", expiry_mm_yy="12/40", cvv="123")
    print("recorded", flush=True)
""")


def test_a_crash_between_processor_and_ledger_is_safe_to_retry(db_url):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with Ledger.open(db_url):
        pass                          # migrated before the child opens it
    child = subprocess.run([sys.executable, "-c", CHILD, db_url], capture_output=True, text=True,
                           env=env, cwd=REPO, timeout=60)
    assert child.returncode == 9 and child.stdout.split() == ["charged", "approved"], child.stderr
    with Ledger.open(db_url) as ledger:
        processor = SimulatedCardProcessor(ledger.db)
        assert processor.charged_cents("crash-1") == 2000 and ledger.prepaid_balance_cents(BTN) == 0
        retry = ledger.fund_prepaid_by_card(BTN, 2000, payment_id="crash-1", processor=processor,
                                            card_number="4242424242424242", expiry_mm_yy="12/40", cvv="123")
        assert retry.ok and retry.result.duplicate                    # the processor knew it: not charged again
        assert ledger.prepaid_balance_cents(BTN) == 2000 and processor.charged_cents("crash-1") == 2000
        assert ledger.db.query("SELECT COUNT(*) FROM card_simulator_charges")[0][0] == 1
        assert ledger.reconcile() == []


def test_a_v7_database_gains_card_payments_and_still_reconciles(tmp_path):
    path = tmp_path / "old.sqlite3"
    with Database.open(path) as db:
        schema.migrate(db, target=7)
    with Ledger.open(path, clock=VirtualClock()) as ledger:
        ledger.fund_prepaid(BTN, 500)
        assert ledger.schema_version == schema.LATEST == 8
        processor = SimulatedCardProcessor(ledger.db, now_s=ledger.clock.wall_time_s)
        assert ledger.fund_prepaid_by_card(BTN, 100, payment_id="n", processor=processor, **CARD).ok
        assert ledger.reconcile() == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(1, 5000), min_size=1, max_size=5), spent=st.integers(0, 40))
def test_any_funding_and_spending_refunds_exactly_the_balance(tmp_path_factory, amounts, spent):
    path = tmp_path_factory.mktemp("refund") / "f.sqlite3"
    with Ledger.open(path, clock=VirtualClock()) as ledger:
        processor = SimulatedCardProcessor(ledger.db, now_s=ledger.clock.wall_time_s)
        for i, amount in enumerate(amounts):
            ledger.fund_prepaid_by_card(BTN, amount, payment_id=f"p{i}", processor=processor, **CARD)
        for minute in range(spent):
            ledger.charge_minute(1, minute, payer_kind="prepaid", payer_id=BTN, amount_cents=5)
        balance = ledger.prepaid_balance_cents(BTN)
        if balance == 0:
            return
        refund = ledger.refund_prepaid(BTN, refund_id="r", processor=processor)
        assert refund.amount_cents == balance and refund.by_check_cents == 0
        assert sum(processor.charged_cents(f"p{i}") for i in range(len(amounts))) == sum(amounts) - balance
        assert ledger.reconcile() == []
