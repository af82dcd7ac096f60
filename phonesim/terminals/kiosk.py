"""The inmate kiosk: PIN login, balances, buying phone time, recent calls, number requests.

Real facilities put a kiosk next to the phones (or in the housing unit) where a
person checks the trust (canteen) and phone balances, moves money from trust to
the phone debit account, sees what recent calls cost and asks for a number to be
added to the approved list.  Here it runs on a keypad (4x4: digits, ``*``, ``#``
and the menu keys ``A``-``D``) or a laptop keyboard, with the terminal as the
screen, the keypad controller's character display when it has one, and optional
spoken prompts on a headset.

Two layers, so every rule is table-testable without devices:

:class:`KioskSession`
    A pure state machine: a key in, a :class:`KioskScreen` out.  Time comes from
    an injected :class:`~phonesim.clock.Clock` (the idle logout), money and data
    from a :class:`KioskBackend`.  No I/O, no threads.
:class:`Kiosk`
    The program around it: reads the keypad, draws the screen, speaks the
    prompts, checks the idle timer once per frame.

Keys (shown on every screen)::

    login      0-9 PIN (masked), # enter, * clear
    menu       1/A balances, 2/B buy phone time, 3/C recent calls, 4/D request a number, * log out
    buy        0-9 type the amount in cents, A +$1, B +$5, C -$1, D clear, # continue, * back
    confirm    # or 1 yes, * or 2 no
    request    0-9 the 10-digit number, # send, * clear / back

Every money movement is one ledger transaction with a receipt line; a purchase
is refused, with a message saying why and what would be accepted, when the
amount is zero or more than the trust balance.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from phonesim.clock import FRAME_SAMPLES, Clock
from phonesim.events import KEYS, KeyDown
from phonesim.exc import InvalidInput
from phonesim.facility.rates import format_cents

log = logging.getLogger(__name__)

#: The screens, in the order a session usually visits them.
STATES = ("login", "menu", "balances", "buy", "confirm", "receipt", "calls", "request")

#: The largest amount one purchase may move, in cents (a typo guard: $500.00).
#: The most digits a login takes (an ID and a PIN with room to spare); more are refused, not kept.
MAX_ENTRY_DIGITS = 32
MAX_PURCHASE_CENTS = 50_000
#: Jurisdictions whose rates the buy screen quotes, cheapest first when they differ.
QUOTED_JURISDICTIONS = ("local", "in-state", "out-of-state")


def format_number(number: str) -> str:
    """``"5735550100"`` -> ``"(573) 555-0100"``; anything else unchanged."""
    if len(number) == 10 and number.isdigit():
        return f"({number[:3]}) {number[3:6]}-{number[6:]}"
    return number


def check_nanp_number(digits: str) -> str | None:
    """Why ``digits`` is not a 10-digit North American number, or None if it is one."""
    if not digits.isdigit():
        return f"a phone number has digits only, got {digits!r}"
    if len(digits) != 10:
        return f"a phone number has 10 digits (area code first), got {len(digits)}"
    if digits[0] in "01":
        return f"an area code starts with 2-9, got {digits[:3]}"
    if digits[3] in "01":
        return f"an exchange starts with 2-9, got {digits[3:6]}"
    return None


# --- what the kiosk needs from the facility -----------------------------------------
@dataclass(frozen=True, slots=True)
class LoginResult:
    """The answer to a PIN: who it is, or why not."""

    ok: bool
    inmate_id: str = ""
    name: str = ""
    locked: bool = False
    failures: int = 0
    locked_until_s: float | None = None


@dataclass(frozen=True, slots=True)
class CallLine:
    """One recent call, as the kiosk lists it."""

    when: str
    number: str
    minutes: int
    charge_cents: int
    disposition: str


class KioskBackend(Protocol):
    """The facility data a kiosk session reads and changes (the ledger behind it)."""

    def login(self, pin: str, *, wall_s: float, failures_before: int = 0) -> LoginResult:
        """Check a PIN; ``failures_before`` wrong PINs were keyed here since the last right one."""
    def trust_balance_cents(self, inmate_id: str) -> int: ...
    def debit_balance_cents(self, inmate_id: str) -> int: ...
    def buy_phone_time(self, inmate_id: str, amount_cents: int) -> str:
        """Move ``amount_cents`` from trust to phone debit; return the receipt line."""
    def minute_cost_cents(self) -> dict[str, int]:
        """What one billed debit minute costs now (rate + taxes), by jurisdiction."""
    def recent_calls(self, inmate_id: str, limit: int) -> list[CallLine]: ...
    def request_number(self, inmate_id: str, number: str) -> str:
        """Ask for ``number`` on the approved list; return what happened, for the screen."""


# --- the screen -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KioskScreen:
    """What the kiosk shows (and says) after a key or a timeout.

    ``lines`` is the terminal screen; ``display`` the two short lines for a keypad
    controller's character display; ``speech`` prompt names to play in order, where
    ``"cents:N"`` stands for an amount read out by the prompt set; ``message`` the
    latest error or confirmation (shown under the title).
    """

    state: str
    title: str
    lines: tuple[str, ...] = ()
    message: str = ""
    keys: str = ""
    display: tuple[str, str] = ("", "")
    speech: tuple[str, ...] = ()
    receipt: str = ""

    def text(self) -> str:
        """The whole screen as plain text (for a terminal or a log)."""
        out = [f"== {self.title} =="]
        if self.message:
            out.append(f"! {self.message}")
        out.extend(self.lines)
        if self.keys:
            out.append(f"[{self.keys}]")
        return "\n".join(out)


@dataclass
class _Login:
    inmate_id: str
    name: str
    since_s: float


@dataclass
class KioskSession:
    """One kiosk's state machine: keys in, screens out.

    Parameters
    ----------
    backend
        The ledger (and rates) behind the kiosk.
    clock
        Time for the idle logout; a :class:`~phonesim.clock.VirtualClock` in tests.
    pin_length
        Digits in a PIN (the profile's ``pin.length``): the PIN is submitted when
        that many are typed, or earlier with ``#``.
    id_first
        The profile's ``pin.login`` is ``id+pin``: the ID number, then the PIN, then ``#``
        (never submitted by length: IDs differ in length).
    idle_timeout_s
        A logged-in session with no key for this long logs out (a kiosk is shared:
        the next person must not find the last one's account open).
    """

    backend: KioskBackend
    clock: Clock
    pin_length: int = 4
    id_first: bool = False
    idle_timeout_s: float = 60.0
    recent_calls_shown: int = 5
    state: str = "login"
    entry: str = ""
    amount_cents: int = 0
    user: _Login | None = None
    last_key_s: float = 0.0
    wrong_pins: int = 0                  # wrong PINs since the last right one (charged to its owner)
    screen: KioskScreen = field(init=False)

    def __post_init__(self) -> None:
        if self.pin_length < 1:
            raise InvalidInput(f"pin_length: expected >= 1, got {self.pin_length}")
        if self.idle_timeout_s <= 0:
            raise InvalidInput(f"idle_timeout_s: expected > 0, got {self.idle_timeout_s}")
        self.last_key_s = self.clock.now_s
        self.screen = self._render(speech=("kiosk_welcome", "enter_pin"))

    def __repr__(self) -> str:
        who = self.user.inmate_id if self.user else None
        return f"<KioskSession state={self.state!r} user={who!r}>"

    @property
    def logged_in(self) -> bool:
        return self.user is not None

    # --- input ---------------------------------------------------------------------
    def key(self, key: str) -> KioskScreen:
        """Handle one key press; return the new screen."""
        self.last_key_s = self.clock.now_s
        if len(key) != 1 or key.upper() not in KEYS:
            self.screen = self._render(
                message=f"{key!r} is not a key of this keypad: use 0-9, A-D, * and #")
            return self.screen
        key = key.upper()
        handler: Callable[[str], KioskScreen] = getattr(self, f"_key_{self.state}")
        self.screen = handler(key)
        return self.screen

    def poll(self) -> KioskScreen | None:
        """Check the idle timer; return the new screen if it logged out, else None."""
        idle_s = self.clock.now_s - self.last_key_s
        if idle_s < self.idle_timeout_s:
            return None
        if self.user is None:
            if not self.entry:
                return None
            self.entry = ""  # a half-typed PIN does not wait for the next person
            self.last_key_s = self.clock.now_s
            self.screen = self._render(message="PIN cleared (no key pressed)")
            return self.screen
        return self._logout(f"logged out after {self.idle_timeout_s:g} s without a key")

    # --- the screens' keys -------------------------------------------------------
    def _key_login(self, key: str) -> KioskScreen:
        if key.isdigit():
            if len(self.entry) >= MAX_ENTRY_DIGITS:
                return self._render(message=f"at most {MAX_ENTRY_DIGITS} digits: press # or * to clear")
            self.entry += key
            if not self.id_first and len(self.entry) >= self.pin_length:
                return self._submit_pin()
            return self._render()
        if key == "#":
            if not self.entry:
                return self._render(message="type your ID and PIN first" if self.id_first else
                                    "type your PIN first")
            return self._submit_pin()
        if key == "*":
            self.entry = ""
            return self._render(message="PIN cleared")
        return self._render(message=f"key {key} does nothing here: type your PIN, then #")

    def _submit_pin(self) -> KioskScreen:
        pin, self.entry = self.entry, ""
        result = self.backend.login(pin, wall_s=self.clock.wall_time_s(), failures_before=self.wrong_pins)
        if result.ok or (result.locked and result.inmate_id):
            self.wrong_pins = 0                  # logged in, or its owner's account locked
        elif not result.locked or result.failures:
            self.wrong_pins += 1                 # checked and wrong (a paused kiosk checks nothing)
        if result.ok:
            self.user = _Login(result.inmate_id, result.name, self.clock.now_s)
            self.state = "menu"
            return self._render(message=f"welcome {result.name or result.inmate_id}",
                                speech=("kiosk_menu",))
        if result.locked:
            until = ""
            if result.locked_until_s is not None:
                until = " until " + _dt.datetime.fromtimestamp(
                    result.locked_until_s, _dt.UTC).strftime("%H:%M UTC")
            return self._render(message=f"account locked{until}: too many wrong PINs",
                                speech=("account_locked",))
        return self._render(message=f"PIN not accepted ({result.failures} wrong in a row)",
                            speech=("invalid_pin", "enter_pin"))

    def _key_menu(self, key: str) -> KioskScreen:
        target = {"1": "balances", "A": "balances", "2": "buy", "B": "buy",
                  "3": "calls", "C": "calls", "4": "request", "D": "request"}.get(key)
        if key == "*":
            return self._logout("logged out")
        if target is None:
            return self._render(message=f"key {key} is not on the menu: press 1-4 or A-D, * to log out")
        self.state = target
        self.entry = ""
        if target == "buy":
            self.amount_cents = 0
            return self._render(speech=("kiosk_enter_amount",))
        if target == "balances":
            return self._render(speech=self._balance_speech())
        if target == "request":
            return self._render(speech=("kiosk_request_number",))
        return self._render()

    def _key_balances(self, key: str) -> KioskScreen:
        return self._back_to_menu(key)

    def _key_calls(self, key: str) -> KioskScreen:
        return self._back_to_menu(key)

    def _key_receipt(self, key: str) -> KioskScreen:
        self.state = "menu"
        return self._render()

    def _back_to_menu(self, key: str) -> KioskScreen:
        if key in "*#":
            self.state = "menu"
            return self._render()
        return self._render(message=f"key {key} does nothing here: * or # for the menu")

    def _key_buy(self, key: str) -> KioskScreen:
        if key.isdigit():
            typed = self.amount_cents * 10 + int(key)
            if typed > MAX_PURCHASE_CENTS:
                return self._render(message=f"at most {format_cents(MAX_PURCHASE_CENTS)} at a time; "
                                            "D clears the amount")
            self.amount_cents = typed
            return self._render()
        step = {"A": 100, "B": 500, "C": -100}.get(key)
        if step is not None:
            new = self.amount_cents + step
            if new < 0:
                return self._render(message="the amount cannot go below $0.00")
            if new > MAX_PURCHASE_CENTS:
                return self._render(message=f"at most {format_cents(MAX_PURCHASE_CENTS)} at a time")
            self.amount_cents = new
            return self._render()
        if key == "D":
            self.amount_cents = 0
            return self._render(message="amount cleared")
        if key == "*":
            self.state = "menu"
            return self._render()
        # "#": check the amount before asking for confirmation
        assert self.user is not None
        if self.amount_cents <= 0:
            return self._render(message="enter an amount more than $0.00 "
                                        "(type cents, or A +$1, B +$5)")
        trust = self.backend.trust_balance_cents(self.user.inmate_id)
        if self.amount_cents > trust:
            return self._render(
                message=f"{format_cents(self.amount_cents)} is more than your trust balance "
                        f"{format_cents(trust)}: enter at most {format_cents(trust)}")
        self.state = "confirm"
        return self._render(speech=("kiosk_confirm_purchase", f"cents:{self.amount_cents}"))

    def _key_confirm(self, key: str) -> KioskScreen:
        assert self.user is not None
        if key in "*2":
            self.state = "buy"
            return self._render(message="purchase cancelled: nothing was moved")
        if key not in "#1":
            return self._render(message=f"key {key}: press # or 1 to confirm, * or 2 to cancel")
        try:
            receipt = self.backend.buy_phone_time(self.user.inmate_id, self.amount_cents)
        except (ValueError, LookupError, PermissionError) as err:
            # The ledger refused (e.g. the balance changed since the check): say why.
            self.state = "buy"
            return self._render(message=f"not bought: {err}")
        self.state = "receipt"
        amount, self.amount_cents = self.amount_cents, 0
        return self._render(message=f"bought {format_cents(amount)} of phone time",
                            receipt=receipt,
                            speech=("kiosk_purchase_done", *self._balance_speech(phone_only=True)))

    def _key_request(self, key: str) -> KioskScreen:
        assert self.user is not None
        if key.isdigit():
            if len(self.entry) >= 10:
                return self._render(message="a number has 10 digits: # to send, * to clear")
            self.entry += key
            return self._render()
        if key == "*":
            if self.entry:
                self.entry = ""
                return self._render(message="number cleared")
            self.state = "menu"
            return self._render()
        if key == "#":
            problem = check_nanp_number(self.entry) if self.entry else "type the number first"
            if problem:
                return self._render(message=problem)
            number, self.entry = self.entry, ""
            try:
                outcome = self.backend.request_number(self.user.inmate_id, number)
            except (ValueError, LookupError, PermissionError) as err:
                return self._render(message=f"request refused: {err}")
            return self._render(message=outcome, speech=("kiosk_request_received",))
        return self._render(message=f"key {key} does nothing here: type the number, # to send")

    def _logout(self, why: str) -> KioskScreen:
        self.user = None
        self.state = "login"
        self.entry = ""
        self.amount_cents = 0
        self.last_key_s = self.clock.now_s
        self.screen = self._render(message=why, speech=("kiosk_logged_out",))
        return self.screen

    # --- rendering ---------------------------------------------------------------
    def _balance_speech(self, *, phone_only: bool = False) -> tuple[str, ...]:
        assert self.user is not None
        debit = self.backend.debit_balance_cents(self.user.inmate_id)
        if phone_only:
            return ("kiosk_phone_balance_is", f"cents:{debit}")
        trust = self.backend.trust_balance_cents(self.user.inmate_id)
        return ("kiosk_trust_balance_is", f"cents:{trust}", "kiosk_phone_balance_is", f"cents:{debit}")

    def _minutes_quote(self, amount_cents: int) -> str:
        costs = self.backend.minute_cost_cents()
        by_cost: dict[int, list[str]] = {}
        for jurisdiction in QUOTED_JURISDICTIONS:
            if jurisdiction in costs and costs[jurisdiction] > 0:
                by_cost.setdefault(costs[jurisdiction], []).append(jurisdiction)
        if not by_cost:
            return "no rate on file for debit calls"
        parts = []
        for cost in sorted(by_cost):
            where = "all calls" if len(by_cost) == 1 else "/".join(by_cost[cost])
            parts.append(f"{amount_cents // cost} min {where} at {cost}c/min")
        return "buys " + ", ".join(parts)

    def _render(self, *, message: str = "", speech: tuple[str, ...] = (),
                receipt: str = "") -> KioskScreen:
        state = self.state
        user = self.user
        lines: list[str]
        if state == "login":
            what = "ID and PIN" if self.id_first else "PIN"
            title, keys = "Inmate kiosk: log in", f"0-9 {what}  # enter  * clear"
            masked = "*" * len(self.entry)
            lines = [f"{what}: {masked}"]
            display = ("Enter ID, PIN then #" if self.id_first else "Enter PIN then #", masked)   # 20 columns
        elif state == "menu":
            assert user is not None
            title = f"Menu: {user.name or user.inmate_id}"
            keys = "1/A balances  2/B buy phone time  3/C recent calls  4/D request a number  * log out"
            lines = ["1 Balances", "2 Buy phone time", "3 Recent calls", "4 Request a number"]
            display = ("1Bal 2Buy 3Calls", "4Request *Logout")
        elif state == "balances":
            assert user is not None
            trust = self.backend.trust_balance_cents(user.inmate_id)
            debit = self.backend.debit_balance_cents(user.inmate_id)
            title, keys = "Balances", "* or # back"
            lines = [f"Trust (canteen): {format_cents(trust)}", f"Phone (debit):   {format_cents(debit)}"]
            display = (f"Trust {format_cents(trust)}", f"Phone {format_cents(debit)}")
        elif state in ("buy", "confirm"):
            assert user is not None
            trust = self.backend.trust_balance_cents(user.inmate_id)
            amount = format_cents(self.amount_cents)
            quote = self._minutes_quote(self.amount_cents)
            lines = [f"Trust balance: {format_cents(trust)}", f"Amount: {amount}", quote]
            if state == "buy":
                title = "Buy phone time"
                keys = "0-9 cents  A +$1  B +$5  C -$1  D clear  # continue  * back"
                display = (f"Amount {amount}", "A+1 B+5 C-1 #ok")
            else:
                title = "Confirm purchase"
                lines.append(f"Move {amount} from trust to phone?")
                keys = "# or 1 yes  * or 2 no"
                display = (f"Buy {amount}?", "#=yes *=no")
        elif state == "receipt":
            assert user is not None
            debit = self.backend.debit_balance_cents(user.inmate_id)
            title, keys = "Receipt", "any key: menu"
            lines = [receipt, f"Phone balance now: {format_cents(debit)}"]
            display = ("Bought. Phone", format_cents(debit))
        elif state == "calls":
            assert user is not None
            calls = self.backend.recent_calls(user.inmate_id, self.recent_calls_shown)
            title, keys = "Recent calls", "* or # back"
            lines = [f"{c.when}  {format_number(c.number)}  {c.minutes:>3} min  "
                     f"{format_cents(c.charge_cents):>7}  {c.disposition}" for c in calls]
            if not lines:
                lines = ["no calls yet"]
            total = sum(c.charge_cents for c in calls)
            lines.append(f"total charged: {format_cents(total)}")
            display = (f"{len(calls)} calls", f"total {format_cents(total)}")
        elif state == "request":
            title, keys = "Request a number", "0-9 number  # send  * clear/back"
            lines = ["Number to add to your approved list:", format_number(self.entry) or "_"]
            display = ("Number then #", self.entry)
        else:  # pragma: no cover - the states are closed
            raise AssertionError(state)
        if message:
            display = (message[:20], display[1])
        return KioskScreen(state=state, title=title, lines=tuple(lines), message=message,
                           keys=keys, display=(display[0][:20], display[1][:20]),
                           speech=tuple(speech), receipt=receipt)


# --- the backend on the real ledger -----------------------------------------------------
class LedgerKioskBackend:
    """:class:`KioskBackend` on the facility ledger, CDR store and rate table.

    Parameters
    ----------
    ledger
        A :class:`phonesim.facility.ledger.Ledger`.
    cfg
        The configuration (facility and profile: rates, taxes).
    clock
        For the date the rates are looked up on.
    terminal
        This kiosk's name: wrong PINs are counted (and locked out) per terminal.
    cdrs
        The CDR store (recent calls); default: the ledger's.
    """

    def __init__(self, ledger: Any, cfg: Any, *, clock: Clock, terminal: str = "kiosk",
                 cdrs: Any = None) -> None:
        from phonesim.facility.cdr import CdrStore
        from phonesim.facility.rates import RateTable

        self.ledger = ledger
        self.terminal = terminal
        self.cfg = cfg
        self.clock = clock
        self.rates = RateTable.from_profile(cfg.profile)
        self._cdrs = cdrs if cdrs is not None else CdrStore(ledger)

    def __repr__(self) -> str:
        return f"<LedgerKioskBackend ledger={self.ledger!r}>"

    def login(self, pin: str, *, wall_s: float, failures_before: int = 0) -> LoginResult:
        # Wrong PINs count against this terminal (a wrong PIN names nobody); the ones keyed just
        # before a right PIN also count against its owner (guessing between one's own logins).
        result = self.ledger.authenticate(pin, wall_s=wall_s, terminal=self.terminal,
                                          failures_before=failures_before)
        inmate = result.inmate
        until = float(result.locked_until_s or 0.0)
        return LoginResult(
            ok=bool(result.ok),
            inmate_id=str(inmate.id) if inmate is not None else "",
            name=str(inmate.name) if inmate is not None else "",
            locked=bool(result.locked),
            failures=int(result.failures),
            locked_until_s=until if result.locked and until > 0 else None,
        )

    def trust_balance_cents(self, inmate_id: str) -> int:
        return int(self.ledger.trust_balance_cents(inmate_id))

    def debit_balance_cents(self, inmate_id: str) -> int:
        return int(self.ledger.debit_balance_cents(inmate_id))

    def buy_phone_time(self, inmate_id: str, amount_cents: int) -> str:
        receipt = self.ledger.transfer_trust_to_debit(inmate_id, amount_cents, receipt=True)
        return receipt_line(receipt, amount_cents=amount_cents)

    def minute_cost_cents(self) -> dict[str, int]:
        on_date = _dt.datetime.fromtimestamp(self.clock.wall_time_s(), _dt.UTC).date()
        costs = {}
        for jurisdiction in QUOTED_JURISDICTIONS:
            try:  # the rate plus the passed-through tax: what one billed minute costs
                costs[jurisdiction] = int(self.rates.minute_charge_cents("debit", jurisdiction, on_date))
            except LookupError:
                continue
        return costs

    def recent_calls(self, inmate_id: str, limit: int) -> list[CallLine]:
        lines = []
        for cdr in self._cdrs.list(inmate_id=inmate_id, limit=limit, newest_first=True):
            started = cdr.answered_s if cdr.answered_s is not None else cdr.offhook_s
            when = _dt.datetime.fromtimestamp(float(started), _dt.UTC).strftime("%m-%d %H:%M")
            lines.append(CallLine(when=when, number=cdr.number, minutes=int(cdr.billed_minutes),
                                  charge_cents=int(cdr.amount_cents),
                                  disposition=cdr.disposition or ("open" if not cdr.closed else "")))
        return lines

    def request_number(self, inmate_id: str, number: str) -> str:
        if self.ledger.is_approved(inmate_id, number):
            return f"{format_number(number)} is already on your approved list"
        request = self.ledger.request_number(inmate_id, number)
        if request.status == "rejected":
            return f"{format_number(number)} was refused by staff: ask your counselor"
        return f"{format_number(number)} requested: pending staff approval"


def receipt_line(receipt: Any, *, amount_cents: int) -> str:
    """One line for a ledger :class:`~phonesim.facility.ledger.Receipt`."""
    when = str(getattr(receipt, "at", ""))[:16].replace("T", " ")
    return (f"receipt #{receipt.receipt_id} {when} UTC: {format_cents(amount_cents)} trust -> phone; "
            f"trust {format_cents(receipt.trust_after_cents)}, phone {format_cents(receipt.debit_after_cents)}")


# --- the program -------------------------------------------------------------------------
class Kiosk:
    """A kiosk session on devices: a keypad, a screen (a text stream), optional audio.

    :meth:`step` does one 20 ms frame: it takes the keypad's events, feeds key
    presses to the session, checks the idle timer, redraws the screen when it
    changed, and (with an audio port) plays the next frame of speech.  :meth:`run`
    repeats it until :meth:`stop`.  The caller owns the devices and the clock.
    """

    def __init__(self, session: KioskSession, keypad: Any, *, out: Any = None,
                 audio: Any = None, prompts: Any = None, on_screen: Callable[[KioskScreen], None] | None = None) -> None:
        self.session = session
        self.keypad = keypad
        self.audio = audio
        self.prompts = prompts
        self.out = out if out is not None else sys.stdout
        self.on_screen = on_screen
        self._stop = threading.Event()
        self._player: Any = None
        if audio is not None and prompts is not None:
            from phonesim.dsp.mix import PromptPlayer

            self._player = PromptPlayer()
        self._drawn: KioskScreen | None = None
        self._tty = bool(getattr(self.out, "isatty", lambda: False)())

    def __repr__(self) -> str:
        return f"<Kiosk session={self.session!r} stopped={self._stop.is_set()}>"

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current frame (safe from a signal handler)."""
        self._stop.set()

    def show(self, screen: KioskScreen) -> None:
        """Draw ``screen`` on the terminal and the keypad's display; queue its speech."""
        if self._tty:
            self.out.write("\x1b[2J\x1b[H")  # a kiosk screen, not a scrolling log
        self.out.write("\n" + screen.text() + "\n")
        self.out.flush()
        for line_no, text in enumerate(screen.display):
            # a character display takes printable ASCII only
            text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:20]
            try:
                self.keypad.set_display(line_no, text)
            except (AttributeError, NotImplementedError, OSError) as err:
                log.debug("keypad display: %s", err)
                break
        if screen.speech and self._player is not None:
            self._player.stop()
            self._player.play(self._speech_samples(screen.speech), "kiosk")
        if self.on_screen is not None:
            self.on_screen(screen)
        self._drawn = screen

    def _speech_samples(self, names: tuple[str, ...]) -> Any:
        expanded: list[str] = []
        for name in names:
            if name.startswith("cents:"):
                expanded.extend(self.prompts.say_cents(int(name[6:])))
            elif name in self.prompts.names:
                expanded.append(name)
        return self.prompts.sequence(expanded)

    def step(self) -> None:
        """One frame: keys, idle timer, screen, speech."""
        if self._drawn is None:
            self.show(self.session.screen)
        for event in self.keypad.poll():
            if isinstance(event, KeyDown):
                self.show(self.session.key(event.key))
        screen = self.session.poll()
        if screen is not None:
            self.show(screen)
        if self.audio is not None:
            frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
            if self._player is not None:
                self._player.mix_into(frame)
            self.audio.write_frame(frame)

    def run(self, *, wait_frame: Callable[[], None], max_frames: int | None = None) -> int:
        """Run frames until :meth:`stop` (or ``max_frames``); return the frames run.

        ``wait_frame`` paces the loop and advances the clock by one frame
        (a real-time clock's wait-and-tick, or a virtual clock's advance).
        """
        frames = 0
        while not self._stop.is_set() and (max_frames is None or frames < max_frames):
            self.step()
            wait_frame()
            frames += 1
        return frames
