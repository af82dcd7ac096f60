"""KioskSession, the kiosk's pure state machine: keys in, screens out (virtual clock, fake ledger)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from phonesim.clock import VirtualClock
from phonesim.exc import InsufficientFunds
from phonesim.terminals.kiosk import (
    CallLine,
    KioskSession,
    LoginResult,
    check_nanp_number,
    format_cents,
    format_number,
)

PIN = "1234"


@dataclass
class FakeBank:
    """A ledger in memory with the kiosk's interface; records every transfer."""

    trust_cents: int = 2_000
    debit_cents: int = 150
    cost_per_min: dict = field(default_factory=lambda: {"local": 5, "in-state": 5, "out-of-state": 5})
    transfers: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    approved: set = field(default_factory=set)
    failures: int = 0
    locked: bool = False

    def login(self, pin, *, wall_s, failures_before=0):
        if self.locked:
            return LoginResult(ok=False, locked=True, failures=self.failures, locked_until_s=wall_s + 1800)
        if pin == PIN:
            self.failures = 0
            return LoginResult(ok=True, inmate_id="1001", name="John Doe")
        self.failures += 1
        self.locked = self.failures >= 3
        return LoginResult(ok=False, failures=self.failures, locked=self.locked)

    def trust_balance_cents(self, inmate_id):
        return self.trust_cents

    def debit_balance_cents(self, inmate_id):
        return self.debit_cents

    def buy_phone_time(self, inmate_id, amount_cents):
        if amount_cents > self.trust_cents:
            raise InsufficientFunds(f"trust balance {self.trust_cents} < {amount_cents}")
        self.trust_cents -= amount_cents
        self.debit_cents += amount_cents
        self.transfers.append(amount_cents)
        return f"receipt R{len(self.transfers)}: {format_cents(amount_cents)} trust -> phone"

    def minute_cost_cents(self):
        return dict(self.cost_per_min)

    def recent_calls(self, inmate_id, limit):
        calls = [CallLine("01-02 10:00", "5735550100", 3, 15, "completed"),
                 CallLine("01-02 11:00", "3145550199", 0, 0, "no-answer")]
        return calls[:limit]

    def request_number(self, inmate_id, number):
        self.requests.append(number)
        return f"{format_number(number)} requested: pending staff approval"


@pytest.fixture
def bank():
    return FakeBank()


@pytest.fixture
def session(bank, clock):
    return KioskSession(bank, clock, pin_length=4, idle_timeout_s=60)


def press(session, keys):
    screen = session.screen
    for key in keys:
        screen = session.key(key)
    return screen


# (keys, expected state, text expected in the message or the lines)
FLOWS = [
    ("12", "login", "PIN: **"),
    ("1234", "menu", "welcome John Doe"),
    ("12*", "login", "PIN cleared"),
    ("#", "login", "type your PIN first"),
    ("9999", "login", "PIN not accepted (1 wrong in a row)"),
    ("1234*", "login", "logged out"),
    ("12341", "balances", "Trust (canteen): $20.00"),
    ("1234A", "balances", "Phone (debit):   $1.50"),
    ("1234A#", "menu", "2 Buy phone time"),
    ("12349", "menu", "key 9 is not on the menu"),
    ("12342", "buy", "Amount: $0.00"),
    ("12342500", "buy", "Amount: $5.00"),
    ("12342500", "buy", "buys 100 min all calls at 5c/min"),
    ("1234BAB", "buy", "Amount: $6.00"),
    ("1234BABC", "buy", "Amount: $5.00"),
    ("1234BC", "buy", "the amount cannot go below $0.00"),
    ("1234B999D", "buy", "amount cleared"),
    ("1234B#", "buy", "enter an amount more than $0.00"),
    ("1234BBBBBBB#", "buy", "$30.00 is more than your trust balance $20.00: enter at most $20.00"),
    ("1234B1000#", "confirm", "Move $10.00 from trust to phone?"),
    ("1234B1000#*", "buy", "purchase cancelled: nothing was moved"),
    ("1234B1000#5", "confirm", "press # or 1 to confirm"),
    ("1234B1000##", "receipt", "receipt R1: $10.00 trust -> phone"),
    ("1234B1000##", "receipt", "Phone balance now: $11.50"),
    ("1234B1000###", "menu", "1 Balances"),
    ("1234B*", "menu", "4 Request a number"),
    ("12343", "calls", "(573) 555-0100    3 min    $0.15  completed"),
    ("12343", "calls", "total charged: $0.15"),
    ("1234D", "request", "Number to add"),
    ("1234D5735550100#", "request", "(573) 555-0100 requested: pending staff approval"),
    ("1234D573555#", "request", "a phone number has 10 digits (area code first), got 6"),
    ("1234D1735550100#", "request", "an area code starts with 2-9, got 173"),
    ("1234D57305501009", "request", "a number has 10 digits"),
    ("1234D573*", "request", "number cleared"),
    ("1234D*", "menu", "1 Balances"),
    ("1234D#", "request", "type the number first"),
]


@pytest.mark.parametrize(("keys", "state", "text"), FLOWS)
def test_key_sequences(session, keys, state, text):
    screen = press(session, keys)
    assert screen.state == state
    assert text in screen.text(), screen.text()


def test_a_purchase_moves_exactly_the_confirmed_amount(session, bank):
    press(session, "1234" "2" "1" "2" "3" "4" "#")  # $12.34
    assert bank.transfers == []  # nothing moves before the confirmation
    screen = session.key("#")
    assert bank.transfers == [1234]
    assert (bank.trust_cents, bank.debit_cents) == (2_000 - 1234, 150 + 1234)
    assert screen.receipt.startswith("receipt R1")
    assert screen.speech[0] == "kiosk_purchase_done"
    assert f"cents:{150 + 1234}" in screen.speech


def test_overdraft_is_refused_and_nothing_moves(session, bank):
    screen = press(session, "1234" "2" "2001" "#")
    assert screen.state == "buy"
    assert "more than your trust balance" in screen.message
    assert bank.transfers == [] and bank.trust_cents == 2_000


def test_a_ledger_refusal_at_confirmation_is_shown_not_raised(session, bank):
    press(session, "1234" "2" "1500" "#")
    bank.trust_cents = 1000  # spent elsewhere (the canteen) between check and confirmation
    screen = session.key("#")
    assert screen.state == "buy"
    assert screen.message.startswith("not bought: trust balance 1000")
    assert bank.transfers == []


def test_minutes_quote_names_each_jurisdiction_when_rates_differ(session, bank):
    bank.cost_per_min = {"local": 5, "in-state": 5, "out-of-state": 21}
    screen = press(session, "1234" "2" "B")
    assert "buys 100 min local/in-state at 5c/min, 23 min out-of-state at 21c/min" in screen.text()


def test_non_keypad_input_gets_a_clear_message(session):
    screen = press(session, "1234" "2" "x")
    assert screen.state == "buy"
    assert screen.message == "'x' is not a key of this keypad: use 0-9, A-D, * and #"


def test_typed_amount_is_capped(session):
    screen = press(session, "1234" "2" "500001")
    assert "at most $500.00 at a time" in screen.message
    assert "Amount: $5000.0" not in screen.text()


def test_pin_is_never_shown(session):
    for i, key in enumerate("123"):
        screen = session.key(key)
        assert "*" * (i + 1) in screen.text()
        assert "123"[: i + 1] not in screen.text().replace("1 Balances", "")


def test_lockout_after_three_wrong_pins(session, bank):
    press(session, "0000" "0000")
    screen = press(session, "0000")
    assert screen.state == "login"
    assert screen.message == "account locked: too many wrong PINs"
    assert screen.speech == ("account_locked",)
    screen = press(session, PIN)  # even the right PIN while locked
    assert screen.state == "login" and not session.logged_in
    assert "account locked until" in screen.message and "UTC" in screen.message


def test_idle_logout_on_the_virtual_clock(session, clock):
    press(session, "1234" "1")
    clock.advance_s(59.98)
    assert session.poll() is None
    assert session.logged_in
    clock.advance(1)  # 60.00 s without a key
    screen = session.poll()
    assert screen is not None and screen.state == "login"
    assert screen.message == "logged out after 60 s without a key"
    assert screen.speech == ("kiosk_logged_out",)
    assert not session.logged_in
    assert session.poll() is None  # once


def test_a_key_restarts_the_idle_timer(session, clock):
    press(session, "1234")
    clock.advance_s(50)
    session.key("1")
    clock.advance_s(50)
    assert session.poll() is None and session.logged_in


def test_half_typed_pin_is_cleared_when_idle(session, clock):
    press(session, "12")
    clock.advance_s(60)
    screen = session.poll()
    assert screen is not None and screen.message == "PIN cleared (no key pressed)"
    assert session.entry == ""


def test_logout_forgets_the_user_and_the_amount(session):
    press(session, "1234" "2" "700")
    session.key("*")  # back to the menu
    screen = session.key("*")  # log out
    assert screen.state == "login" and not session.logged_in
    screen = press(session, "1234" "2")
    assert "Amount: $0.00" in screen.text()


def test_display_lines_fit_a_20_character_display(session):
    for keys in ["", "1234", "1", "#2B", "#", "*", "4", "573555010"]:
        screen = press(session, keys)
        assert len(screen.display) == 2
        assert all(len(line) <= 20 for line in screen.display), screen.display


def test_bad_construction_is_refused(bank, clock):
    with pytest.raises(ValueError, match="pin_length: expected >= 1, got 0"):
        KioskSession(bank, clock, pin_length=0)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        KioskSession(bank, clock, idle_timeout_s=0)


@pytest.mark.parametrize(("cents", "text"), [(0, "$0.00"), (5, "$0.05"), (1234, "$12.34"), (-250, "-$2.50")])
def test_format_cents(cents, text):
    assert format_cents(cents) == text


@pytest.mark.parametrize(("digits", "problem"), [
    ("5735550100", None),
    ("573555010", "10 digits"),
    ("0735550100", "area code"),
    ("5730550100", "exchange"),
    ("57355501a0", "digits only"),
])
def test_check_nanp_number(digits, problem):
    result = check_nanp_number(digits)
    assert (result is None) if problem is None else (problem in result)


def test_session_on_a_fresh_clock_starts_at_the_login_screen(bank):
    session = KioskSession(bank, VirtualClock())
    assert session.screen.state == "login"
    assert session.screen.speech == ("kiosk_welcome", "enter_pin")
    assert repr(session) == "<KioskSession state='login' user=None>"
