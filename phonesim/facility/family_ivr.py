"""The family line: an IVR that families call (the provider's number) to manage their account.

Real providers give families a toll-free number where a menu, keyed by the caller's number,
says the balance, takes a card payment, sets up Direct Bill, quotes the rates and sets or
lifts the family's own block of the facility's calls.  This module is that menu, working
on 20 ms frames of audio and knowing nothing of SIP (:mod:`phonesim.facility.sip_inbound`
carries it over the network), so every path is testable with tones fed straight in.

Two parts:

:class:`FamilyBackend`
    The facility database seen from a family's side: balances, recent charges, card
    payments (through a payment processor; phonesim ships a simulator), Direct Bill,
    rates per facility, the called party's own block.
:class:`FamilyIvrSession`
    One call: :meth:`~FamilyIvrSession.feed` takes a frame of the caller's audio (keys are
    decoded from it by phonesim's own DTMF detector) and returns a frame of prompts;
    :meth:`~FamilyIvrSession.key` takes an RFC 4733 key from the network.  The same key
    from both sources within :data:`DUPLICATE_KEY_FRAMES` counts once.  Everything the
    caller heard and did is in :attr:`~FamilyIvrSession.log`, card digits masked.

Menu (after the account's number is known: the caller's own, or 10 digits then ``#``; the
balance, Direct Bill and blocks only for the caller's own number)::

    1 balance and recent charges   2 add money by card      3 set up Direct Bill
    4 rates of each facility       5 block / unblock calls  9 another number
    * or 0 repeat                  no key: the question again, twice, then goodbye
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phonesim.clock import FRAME_SAMPLES, SAMPLE_RATE_HZ, frames_from_s
from phonesim.config import load_config
from phonesim.dsp.dtmf import DtmfDetector
from phonesim.exc import InvalidInput, InvalidNumber, PhoneSimError
from phonesim.facility.ledger import canonical_btn
from phonesim.facility.payments import SIMULATOR_LABEL
from phonesim.facility.prompts import PromptSet
from phonesim.facility.rates import RateTable
from phonesim.facility.sites import Sites
from phonesim.facility.speech import render_speech

log = logging.getLogger(__name__)

#: The same key from the network (RFC 4733) and from the audio within this many frames is one press.
DUPLICATE_KEY_FRAMES = 15
#: How long the menu waits for a key after its question ends, and how often it asks again.
DEFAULT_TIMEOUT_S = 8.0
DEFAULT_RETRIES = 2
#: The most one card payment may add, in whole dollars (a typo guard).
MAX_PAYMENT_DOLLARS = 500
#: Recent calls whose charges the balance option reads out.
RECENT_CALLS = 3
#: Which block the family sets and lifts: the called party's own (the one they may lift).
FAMILY_BLOCK_KIND = "keypad"
#: Digits accepted in each entry: (fewest, most).
ENTRY_DIGITS = {"number": (10, 11), "card": (12, 19), "expiry": (4, 4), "cvv": (3, 4), "amount": (1, 3)}
#: The menu keys, in the order the menu says them.
MENU_PROMPTS = ("family_menu_balance", "family_menu_fund", "family_menu_direct_bill", "family_menu_rates",
                "family_menu_blocks", "family_menu_other_number", "family_menu_repeat")


# --------------------------------------------------------------------------- backend
@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What the balance option says: the prepaid balance (None: no account), Direct Bill
    (owed and limit, None: no account) and the cost of the most recent calls, newest first."""

    prepaid_cents: int | None
    owed_cents: int | None
    credit_limit_cents: int | None
    recent_call_cents: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FacilityRate:
    """One facility's rate to a number: its spoken name and its per-minute rate before taxes."""

    facility_id: str
    name: str
    name_samples: Any
    cents_per_min: int


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    ok: bool
    reason: str = ""
    balance_after_cents: int | None = None


class FamilyBackend:
    """The facility database from a family's side.

    Parameters
    ----------
    ledger
        The facility database (:class:`~phonesim.facility.ledger.Ledger`).
    cfg
        The configuration: the profile's rates, Direct Bill credit limit, the facility.
    processor
        The card processor (:class:`~phonesim.facility.payments.PaymentProcessor`; phonesim
        ships :class:`~phonesim.facility.payments.SimulatedCardProcessor`, announced to the
        caller as a simulator).  None: card payments are refused with a clear prompt.
    """

    def __init__(self, ledger: Any, cfg: Any, *, processor: Any = None) -> None:
        self.ledger = ledger
        self.cfg = cfg
        self.processor = processor
        self.simulated_payments = getattr(processor, "label", "") == SIMULATOR_LABEL
        self.sites = Sites(ledger.db)
        self.rates = RateTable.from_profile(cfg.profile)
        self._rates_by_profile: dict[str, RateTable] = {cfg.facility["profile"]: self.rates}
        self.credit_limit_cents = int(cfg.profile.billing.direct_bill_credit_limit_cents)

    def __repr__(self) -> str:
        return f"<FamilyBackend {self.ledger!r}>"

    def account(self, btn: str) -> AccountSummary:
        btn = canonical_btn(btn)
        prepaid = self.ledger.prepaid_balance_cents(btn) if self.ledger.has_prepaid(btn) else None
        owed = limit = None
        if self.ledger.has_direct_bill(btn):
            bill = self.ledger.direct_bill(btn)
            owed, limit = bill.owed_cents, bill.credit_limit_cents
        per_call: dict[int, int] = {}  # call id -> what it cost (prepaid rows are negative)
        for row in self.ledger.journal():
            if row["owner"] == btn and row["kind"] == "call-charge" and row["call_id"] is not None:
                call_id = int(row["call_id"])
                per_call[call_id] = per_call.get(call_id, 0) + abs(int(row["amount_cents"]))
        recent = tuple(per_call[c] for c in sorted(per_call, reverse=True)[:RECENT_CALLS])
        return AccountSummary(prepaid, owed, limit, recent)

    def pay_by_card(self, btn: str, *, card: str, expiry: str, cvv: str, amount_cents: int,
                    payment_id: str) -> PaymentOutcome:
        """Charge a card and fund the prepaid account of ``btn``: the processor's answer."""
        if self.processor is None:
            return PaymentOutcome(False, "unavailable")
        paid = self.ledger.fund_prepaid_by_card(btn, amount_cents, payment_id=payment_id, processor=self.processor,
                                                card_number=card, expiry_mm_yy=expiry, cvv=cvv)
        if not paid.ok:
            code = paid.result.code
            return PaymentOutcome(False, "unavailable" if code == "processor-unavailable" else code)
        return PaymentOutcome(True, "", paid.balance_after_cents)

    def has_direct_bill(self, btn: str) -> bool:
        return self.ledger.has_direct_bill(btn)

    def open_direct_bill(self, btn: str) -> int:
        """Open Direct Bill with the profile's credit limit; the limit."""
        return self.ledger.open_direct_bill(btn, credit_limit_cents=self.credit_limit_cents).credit_limit_cents

    def facility_rates(self, btn: str) -> list[FacilityRate]:
        """Each facility's prepaid per-minute rate to ``btn``: from that facility's profile, with
        the jurisdiction seen from that facility (the configured one's local exchanges; another
        facility's state)."""
        info = self.cfg.facility
        out = []
        for f in self.sites.facilities():
            if f.id == info["id"]:
                where, rates = info, self.rates
            else:
                where, rates = {"state": f.state, "local_exchanges": []}, self._profile_rates(f.profile)
            rate = rates.cents_per_min("prepaid", RateTable.jurisdiction(btn, where))
            out.append(FacilityRate(f.id, f.name, self._spoken_name(f), rate))
        return out

    def _spoken_name(self, facility: Any) -> Any:
        """The facility's name as callers hear it: kept in the database by the host that serves
        it; rendered (and kept) here for a facility that has none yet."""
        samples = self.ledger.voice_name("facility", facility.id)
        if samples is None:
            samples = render_speech(facility.name)
            self.ledger.set_voice_name("facility", facility.id, samples, source="espeak-ng (family line)")
        return samples

    def _profile_rates(self, profile: str) -> RateTable:
        """The rates of another facility's profile, as shipped (its own host's configuration
        may override them; this process cannot see it), read once."""
        if profile not in self._rates_by_profile:
            with tempfile.TemporaryDirectory() as folder:  # load_config chooses a profile from a file
                path = Path(folder) / "profile.toml"
                path.write_text(f"[facility]\nprofile = {json.dumps(profile)}\n")
                cfg = load_config(path, search=False)
            self._rates_by_profile[profile] = RateTable.from_profile(cfg.profile)
        return self._rates_by_profile[profile]

    def fees_beyond_tax(self) -> bool:
        return self.rates.ancillary_fees_cents > 0

    def block_state(self, btn: str) -> tuple[bool, bool]:
        """(the family's own block is set, another block — the facility's — is set)."""
        kinds = {b.kind for b in self.ledger.blocks_of(btn)}
        return FAMILY_BLOCK_KIND in kinds, bool(kinds - {FAMILY_BLOCK_KIND})

    def set_block(self, btn: str, blocked: bool) -> None:
        if blocked:
            self.ledger.block_number(btn, kind=FAMILY_BLOCK_KIND, by="family line")
        else:
            self.ledger.unblock_number(btn, kind=FAMILY_BLOCK_KIND)


def number_from_sip_uri(uri: str) -> str:
    """The caller's 10-digit number from a From URI (``sip:5735550123@host``), or ``""``."""
    user = str(uri).strip().strip("<>")
    user = user.split(":", 1)[1] if ":" in user else user
    user = user.split("@", 1)[0].split(";", 1)[0]
    try:
        return canonical_btn(user)
    except InvalidNumber:
        return ""


# --------------------------------------------------------------------------- session
@dataclass
class _Entry:
    digits: str = ""
    card: str = ""
    expiry: str = ""
    cvv: str = ""
    amount_dollars: int = 0


class FamilyIvrSession:
    """One call to the family line, frame by frame (see the module docstring).

    Parameters
    ----------
    backend : FamilyBackend
    prompts : PromptSet
        The loaded prompts (the facility names are added to it once heard).
    caller : str
        The From URI or number; a 10-digit number skips the number entry.
    timeout_s, retries
        How long a question waits for a key, and how many times it is asked again.

    States: ``number`` (entering the account's number), ``menu``, ``card``, ``expiry``,
    ``cvv``, ``amount``, ``confirm_payment``, ``direct_bill``, ``block``, ``ended``.
    """

    def __init__(self, backend: FamilyBackend, prompts: PromptSet, *, caller: str = "",
                 timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES,
                 call_id: str = "") -> None:
        if timeout_s <= 0 or retries < 0:
            raise InvalidInput(f"expected timeout_s > 0 and retries >= 0, got {timeout_s!r}, {retries!r}")
        self.backend = backend
        self.prompts = prompts
        self.call_id = call_id or uuid.uuid4().hex[:12]
        self.timeout_frames = frames_from_s(timeout_s)
        self.retries = int(retries)
        self.log: list[tuple] = []
        self.state = "number"
        self.btn = ""
        self._frame = 0
        self._detector = DtmfDetector()
        self._last_key: tuple[str, int, str] = ("", -(10**9), "")
        self._out = np.zeros(0, dtype=np.int16)
        self._ask: tuple[str, ...] = ()
        self._silent_frames = 0
        self._asked_again = 0
        self._entry = _Entry()
        self._payment_id = ""
        self.caller_number = number_from_sip_uri(caller) if caller else ""
        self._log("call", self.caller_number or "(unknown number)")
        if self.caller_number:
            self.btn = self.caller_number
            self._go("menu", ("family_welcome", "family_account_for", *PromptSet.say_digits(self.btn)),
                     ask=MENU_PROMPTS)
        else:
            self._go("number", ("family_welcome",), ask=("family_enter_number",))

    def __repr__(self) -> str:
        return f"<FamilyIvrSession {self.call_id} state={self.state} btn={self.btn or '-'}>"

    # --- the frame interface -----------------------------------------------------------
    @property
    def finished(self) -> bool:
        """The goodbye has been played: hang up."""
        return self.state == "ended" and self._out.size == 0

    def feed(self, frame: np.ndarray) -> np.ndarray:
        """One 20 ms frame of the caller's audio in, one frame of prompts out."""
        samples = np.asarray(frame)
        if samples.shape != (FRAME_SAMPLES,):
            raise InvalidInput(f"expected a frame of {FRAME_SAMPLES} samples, got shape {samples.shape}")
        self._frame += 1
        for digit in self._detector.feed(samples):
            self._key(digit.digit, "in-band")
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if self._out.size:
            n = min(FRAME_SAMPLES, self._out.size)
            out[:n] = self._out[:n]
            self._out = self._out[n:]
        elif self.state != "ended":
            self._silent_frames += 1
            if self._silent_frames >= self.timeout_frames:
                self._time_out()
        return out

    def key(self, digit: str, source: str = "rfc4733") -> None:
        """A key from the network (an RFC 4733 telephone-event)."""
        if not isinstance(digit, str) or len(digit) != 1 or digit.upper() not in "0123456789*#ABCD":
            raise InvalidInput(f"expected one DTMF key 0-9 * # A-D, got {digit!r}")
        self._key(digit.upper(), source)

    def heard(self) -> list[str]:
        """Every prompt played so far, in order (facility names as ``facility:ID``)."""
        return [name for entry in self.log if entry[0] == "say" for name in entry[1]]

    def actions(self) -> list[tuple]:
        return [entry[1:] for entry in self.log if entry[0] == "action"]

    # --- keys ----------------------------------------------------------------------------
    def _key(self, digit: str, source: str) -> None:
        last_digit, last_frame, last_source = self._last_key
        if digit == last_digit and source != last_source and self._frame - last_frame <= DUPLICATE_KEY_FRAMES:
            return  # the same press, heard in the audio and as an RFC 4733 event
        self._last_key = (digit, self._frame, source)
        if self.state == "ended":
            return
        secret = self.state in ("card", "expiry", "cvv") and digit.isdigit()
        self._log("key", "x" if secret else digit, source)
        self._out = np.zeros(0, dtype=np.int16)  # barge-in: a key stops the prompt
        self._silent_frames = 0
        self._asked_again = 0
        try:
            getattr(self, f"_in_{self.state}")(digit)
        except PhoneSimError as err:  # the database refused: say so, keep the call
            log.warning("family line %s: %s", self.call_id, err)
            self._log("error", str(err))
            self._go("menu", ("system_error",), ask=MENU_PROMPTS)

    @property
    def own_number(self) -> bool:
        """The account is the caller's own number (its From), the only proof of ownership the
        line has: only then may the caller hear it (balance, charges) or change it (Direct
        Bill, blocks).  Anyone may add money to any number and hear the rates."""
        return bool(self.btn) and self.btn == self.caller_number

    def _in_menu(self, digit: str) -> None:
        if digit in "135" and not self.own_number:
            self._log("refused", digit, "not the caller's own number")
            self._go("menu", ("family_own_number_only",), ask=MENU_PROMPTS)
        elif digit == "1":
            self._go("menu", self._balance_speech(), ask=MENU_PROMPTS)
        elif digit == "2":
            self._entry = _Entry()
            self._payment_id = uuid.uuid4().hex
            said = ("family_card_simulator",) if self.backend.simulated_payments else ()
            self._go("card", said, ask=("family_enter_card",))
        elif digit == "3":
            self._offer_direct_bill()
        elif digit == "4":
            self._go("menu", self._rates_speech(), ask=MENU_PROMPTS)
        elif digit == "5":
            own, other = self.backend.block_state(self.btn)
            status = ("family_calls_are_blocked",) if own or other else ("family_calls_are_allowed",)
            if other:
                status += ("family_block_by_facility",)
            self._go("block", status, ask=("family_press_to_unblock",) if own else ("family_press_to_block",))
        elif digit == "9":
            self._entry = _Entry()
            self._go("number", (), ask=("family_enter_number",))
        elif digit in "*0":
            self._go("menu", (), ask=MENU_PROMPTS)
        else:
            self._go("menu", ("family_invalid_choice",), ask=MENU_PROMPTS)

    def _entered(self, digit: str, what: str) -> str | None:
        """Collect digits until ``#``: the entry, or None while it is being typed.
        ``*`` starts the entry again; a wrong length is refused and asked again."""
        if digit == "*":
            self._entry.digits = ""
            self._go(self.state, (), ask=self._ask)
            return None
        if digit != "#":
            if digit.isdigit() and len(self._entry.digits) < 32:
                self._entry.digits += digit
            return None
        text, self._entry.digits = self._entry.digits, ""
        fewest, most = ENTRY_DIGITS[what]
        if not fewest <= len(text) <= most:
            self._go(self.state, ("family_entry_invalid",), ask=self._ask)
            return None
        return text

    def _in_number(self, digit: str) -> None:
        text = self._entered(digit, "number")
        if text is None:
            return
        try:
            self.btn = canonical_btn(text)
        except InvalidNumber:
            self._go("number", ("family_entry_invalid",), ask=self._ask)
            return
        self._log("action", "number", self.btn)
        self._go("menu", ("family_account_for", *PromptSet.say_digits(self.btn)), ask=MENU_PROMPTS)

    def _in_card(self, digit: str) -> None:
        text = self._entered(digit, "card")
        if text is not None:
            self._entry.card = text
            self._go("expiry", (), ask=("family_enter_expiry",))

    def _in_expiry(self, digit: str) -> None:
        text = self._entered(digit, "expiry")
        if text is None:
            return
        if not 1 <= int(text[:2]) <= 12:
            self._go("expiry", ("family_entry_invalid",), ask=self._ask)
            return
        self._entry.expiry = text
        self._go("cvv", (), ask=("family_enter_cvv",))

    def _in_cvv(self, digit: str) -> None:
        text = self._entered(digit, "cvv")
        if text is not None:
            self._entry.cvv = text
            self._go("amount", (), ask=("family_enter_amount",))

    def _in_amount(self, digit: str) -> None:
        text = self._entered(digit, "amount")
        if text is None:
            return
        dollars = int(text)
        if not 1 <= dollars <= MAX_PAYMENT_DOLLARS:
            self._go("amount", ("family_entry_invalid",), ask=self._ask)
            return
        self._entry.amount_dollars = dollars
        self._go("confirm_payment", (), ask=(*PromptSet.say_cents(dollars * 100), "family_confirm_payment"))

    def _in_confirm_payment(self, digit: str) -> None:
        if digit == "2":
            self._entry = _Entry()
            self._go("menu", (), ask=MENU_PROMPTS)
            return
        if digit != "1":
            self._go("confirm_payment", ("family_invalid_choice",), ask=self._ask)
            return
        entry, self._entry = self._entry, _Entry()
        amount_cents = entry.amount_dollars * 100
        outcome = self.backend.pay_by_card(self.btn, card=entry.card, expiry=entry.expiry, cvv=entry.cvv,
                                           amount_cents=amount_cents, payment_id=self._payment_id)
        self._log("action", "payment", self.btn, amount_cents, "accepted" if outcome.ok else outcome.reason)
        if outcome.ok:
            said = ("family_payment_accepted", "family_prepaid_balance_is",
                    *PromptSet.say_cents(outcome.balance_after_cents or 0))
        elif outcome.reason == "unavailable":
            said = ("family_payment_unavailable",)
        else:
            said = ("family_payment_declined",)
        self._go("menu", said, ask=MENU_PROMPTS)

    def _offer_direct_bill(self) -> None:
        limit = PromptSet.say_cents(self.backend.credit_limit_cents)
        if self.backend.has_direct_bill(self.btn):
            self._go("menu", ("family_direct_bill_exists",), ask=MENU_PROMPTS)
            return
        self._go("direct_bill", ("family_direct_bill_offer", *limit), ask=("family_confirm_direct_bill",))

    def _in_direct_bill(self, digit: str) -> None:
        if digit == "1":
            limit_cents = self.backend.open_direct_bill(self.btn)
            self._log("action", "direct-bill", self.btn, limit_cents)
            self._go("menu", ("family_direct_bill_ready", "family_credit_limit_is",
                              *PromptSet.say_cents(limit_cents)), ask=MENU_PROMPTS)
        elif digit == "2":
            self._go("menu", (), ask=MENU_PROMPTS)
        else:
            self._go("direct_bill", ("family_invalid_choice",), ask=self._ask)

    def _in_block(self, digit: str) -> None:
        if digit == "2":
            self._go("menu", (), ask=MENU_PROMPTS)
            return
        if digit != "1":
            self._go("block", ("family_invalid_choice",), ask=self._ask)
            return
        own, _other = self.backend.block_state(self.btn)
        self.backend.set_block(self.btn, not own)
        self._log("action", "unblock" if own else "block", self.btn)
        self._go("menu", ("family_block_lifted",) if own else ("family_block_set",), ask=MENU_PROMPTS)

    # --- speech --------------------------------------------------------------------------
    def _balance_speech(self) -> tuple[str, ...]:
        summary = self.backend.account(self.btn)
        if summary.prepaid_cents is None:
            said: tuple[str, ...] = ("family_no_prepaid",)
        else:
            said = ("family_prepaid_balance_is", *PromptSet.say_cents(summary.prepaid_cents))
        if summary.owed_cents is not None:
            said += ("family_direct_bill_owed_is", *PromptSet.say_cents(summary.owed_cents),
                     "family_credit_limit_is", *PromptSet.say_cents(summary.credit_limit_cents or 0))
        if summary.recent_call_cents:
            said += ("family_recent_charges",)
            for i, cents in enumerate(summary.recent_call_cents):
                said += (("and",) if i else ()) + tuple(PromptSet.say_cents(cents))
        else:
            said += ("family_no_recent_charges",)
        return said

    def _rates_speech(self) -> tuple[str, ...]:
        said: tuple[str, ...] = ()
        for rate in self.backend.facility_rates(self.btn):
            name = f"facility:{rate.facility_id}"
            if name not in self.prompts:
                self.prompts.add(name, rate.name_samples)
            said += ("family_calls_from", name, "family_to_this_number_cost",
                     *PromptSet.say_number(rate.cents_per_min), "cents_per_minute")
        if not self.backend.fees_beyond_tax():
            said += ("family_taxes_passed_through",)
        return said

    # --- flow ------------------------------------------------------------------------------
    def _go(self, state: str, said: tuple[str, ...], *, ask: tuple[str, ...]) -> None:
        """Move to ``state``: say ``said`` then the question ``ask`` (asked again on a time-out)."""
        if state != self.state:
            self._log("state", state)
        self.state = state
        self._ask = tuple(ask)
        self._say((*said, *ask))

    def _say(self, names: tuple[str, ...]) -> None:
        if not names:
            return
        self._log("say", tuple(names))
        gap = np.zeros(SAMPLE_RATE_HZ // 10, dtype=np.int16)
        self._out = np.concatenate([self._out, self.prompts.sequence(names), gap])
        self._silent_frames = 0

    def _time_out(self) -> None:
        self._silent_frames = 0
        self._entry.digits = ""
        if self._asked_again < self.retries:
            self._asked_again += 1
            self._log("timeout", self.state, self._asked_again)
            self._say(self._ask)
            return
        self._log("timeout", self.state, "goodbye")
        self.hang_up(("family_no_input", "goodbye"))

    def hang_up(self, said: tuple[str, ...] = ("goodbye",)) -> None:
        """End the call politely: ``said``, then :attr:`finished`."""
        self._entry = _Entry()
        self._go("ended", said, ask=())

    def caller_hung_up(self) -> None:
        """The caller hung up: nothing more is said."""
        self._entry = _Entry()
        self._out = np.zeros(0, dtype=np.int16)
        if self.state != "ended":
            self._log("state", "ended")
            self.state = "ended"
            self._log("hung-up", "caller")

    def _log(self, kind: str, *details: Any) -> None:
        self.log.append((kind, *details))
        log.debug("family line %s: %s %s", self.call_id, kind, details)


__all__ = ["AccountSummary", "FacilityRate", "FamilyBackend", "FamilyIvrSession", "PaymentOutcome",
           "number_from_sip_uri"]
