"""The family line's session on frames: keys as DTMF tones in the caller's audio, no SIP.

The session decodes keys with phonesim's own detector from the frames it is fed, and the
ledger is a real facility database: what the caller keys changes the accounts, and what
the caller hears is checked from the session's log of prompts.
"""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest

from phonesim.clock import FRAME_SAMPLES
from phonesim.config import load_config
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.exc import InvalidInput
from phonesim.facility.family_ivr import (
    MENU_PROMPTS,
    FamilyBackend,
    FamilyIvrSession,
    number_from_sip_uri,
)
from phonesim.facility.ledger import Ledger
from phonesim.facility.payments import SimulatedCardProcessor
from phonesim.facility.platform import Platform
from phonesim.facility.prompts import PromptSet
from phonesim.facility.rates import RateTable
from phonesim.facility.sites import Sites
from phonesim.facility.speech import render_speech

FAMILY = "5735550142"


@pytest.fixture(scope="module")
def prompts():
    return PromptSet.load()


@pytest.fixture
def cfg():
    return load_config(search=False)


@pytest.fixture
def ledger(tmp_path, cfg, prompts):
    with Ledger.open(tmp_path / "family.sqlite3", cfg=cfg) as led:
        Platform(cfg, ledger=led, prompts=prompts)  # the facility's record and spoken name
        yield led


@pytest.fixture
def backend(ledger, cfg):
    return FamilyBackend(ledger, cfg)


class Caller:
    """Feeds a session frames: key presses as tones, silence otherwise."""

    MAX_FRAMES = 50 * 120  # two minutes of audio: a session that never finishes a prompt fails

    def __init__(self, session: FamilyIvrSession) -> None:
        self.session = session
        self.tones = DtmfGenerator()
        self.heard_samples = 0

    def _frames(self, samples: np.ndarray) -> None:
        pad = (-samples.size) % FRAME_SAMPLES
        samples = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
        for frame in samples.reshape(-1, FRAME_SAMPLES):
            out = self.session.feed(frame)
            self.heard_samples += int(np.count_nonzero(out))

    def press(self, keys: str) -> None:
        """Key ``keys`` as in-band tones (80 ms on, 80 ms off), then 100 ms of silence."""
        self._frames(self.tones.digits(keys, on_ms=80, off_ms=80, tail_ms=100))

    def listen(self) -> None:
        """Feed silence until the session has said everything it queued."""
        for _ in range(self.MAX_FRAMES):
            if self.session._out.size == 0:
                return
            self._frames(np.zeros(FRAME_SAMPLES, dtype=np.int16))
        raise AssertionError(f"the session kept talking for {self.MAX_FRAMES} frames")

    def silence(self, frames: int) -> None:
        self._frames(np.zeros(frames * FRAME_SAMPLES, dtype=np.int16))


def said_after(session: FamilyIvrSession, mark: int) -> list[str]:
    return session.heard()[mark:]


def test_a_caller_with_a_number_hears_the_menu_for_that_number(backend, prompts):
    session = FamilyIvrSession(backend, prompts, caller=f"sip:{FAMILY}@127.0.0.1")
    Caller(session).listen()
    assert session.state == "menu" and session.btn == FAMILY
    assert session.heard() == ["family_welcome", "family_account_for",
                               *PromptSet.say_digits(FAMILY), *MENU_PROMPTS]


def test_balance_of_a_funded_account_is_spoken_in_words(backend, ledger, prompts):
    ledger.fund_prepaid(FAMILY, 1234)
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    mark = len(session.heard())
    caller.press("1")
    caller.listen()
    assert said_after(session, mark) == ["family_prepaid_balance_is", *PromptSet.say_cents(1234),
                                         "family_no_recent_charges", *MENU_PROMPTS]


def test_recent_charges_are_per_call_newest_first_across_prepaid_and_direct_bill(backend, ledger, prompts):
    ledger.fund_prepaid(FAMILY, 1000)
    ledger.open_direct_bill(FAMILY, credit_limit_cents=3000)
    for minute in range(3):  # call 11: three prepaid minutes
        ledger.charge_minute(11, minute, payer_kind="prepaid", payer_id=FAMILY, amount_cents=5)
    ledger.charge_minute(12, 0, payer_kind="collect", payer_id=FAMILY, amount_cents=7)  # call 12: collect
    ledger.charge_minute(13, 0, payer_kind="prepaid", payer_id="5735550199", amount_cents=5)  # another family
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    mark = len(session.heard())
    caller.press("1")
    assert said_after(session, mark)[:-len(MENU_PROMPTS)] == [
        "family_prepaid_balance_is", *PromptSet.say_cents(985),
        "family_direct_bill_owed_is", *PromptSet.say_cents(7),
        "family_credit_limit_is", *PromptSet.say_cents(3000),
        "family_recent_charges", *PromptSet.say_cents(7), "and", *PromptSet.say_cents(15)]


def test_unknown_caller_enters_a_number_then_a_bad_one_is_refused(backend, prompts):
    session = FamilyIvrSession(backend, prompts, caller="sip:anonymous@127.0.0.1")
    caller = Caller(session)
    assert session.state == "number" and session.heard() == ["family_welcome", "family_enter_number"]
    caller.press("12345#")
    assert session.state == "number"
    assert session.heard()[-2:] == ["family_entry_invalid", "family_enter_number"]
    caller.press(FAMILY + "#")
    assert session.state == "menu" and session.btn == FAMILY
    assert ("action", "number", FAMILY) in session.log


def test_an_entered_number_may_be_funded_and_quoted_but_not_heard_or_changed(backend, ledger, prompts):
    ledger.fund_prepaid(FAMILY, 700)
    session = FamilyIvrSession(backend, prompts, caller="sip:5735550199@127.0.0.1")  # another family's phone
    caller = Caller(session)
    caller.press("9")
    caller.press(FAMILY + "#")
    assert session.btn == FAMILY and not session.own_number
    for key in "135":
        mark = len(session.heard())
        caller.press(key)
        assert said_after(session, mark) == ["family_own_number_only", *MENU_PROMPTS]
        assert session.state == "menu"
    assert not ledger.is_blocked(FAMILY) and not ledger.has_direct_bill(FAMILY)
    assert not any(name.startswith("family_prepaid_balance") for name in session.heard())
    caller.press("4")
    assert "family_calls_from" in session.heard()
    caller.press("2")
    assert session.state == "card"


def test_key_during_a_prompt_stops_it(backend, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    caller.silence(10)  # the welcome is still playing
    assert session._out.size > 0
    caller.press("4")  # barge in: the rates, at once
    assert "family_calls_from" in session.heard()
    assert session.state == "menu"


def test_direct_bill_set_up_with_the_profile_limit(backend, ledger, cfg, prompts):
    limit = int(cfg.profile.billing.direct_bill_credit_limit_cents)
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    caller.press("3")
    assert session.state == "direct_bill"
    assert session.heard()[-len(PromptSet.say_cents(limit)) - 2:] == [
        "family_direct_bill_offer", *PromptSet.say_cents(limit), "family_confirm_direct_bill"]
    assert not ledger.has_direct_bill(FAMILY)
    caller.press("1")
    assert ledger.direct_bill(FAMILY).credit_limit_cents == limit
    assert ("action", "direct-bill", FAMILY, limit) in session.log
    mark = len(session.heard())
    caller.press("3")
    assert said_after(session, mark) == ["family_direct_bill_exists", *MENU_PROMPTS]
    assert ledger.reconcile() == []


def test_rates_name_each_facility_and_its_rate(backend, cfg, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    mark = len(session.heard())
    caller.press("4")
    said = said_after(session, mark)
    facility = f"facility:{cfg.facility['id']}"
    rate = backend.rates.cents_per_min("prepaid", "in-state")
    assert said[:3] == ["family_calls_from", facility, "family_to_this_number_cost"]
    assert said[3:3 + len(PromptSet.say_number(rate)) + 1] == [*PromptSet.say_number(rate), "cents_per_minute"]
    assert "family_taxes_passed_through" in said
    assert np.array_equal(prompts[facility], prompts["facility_name"])  # the default facility's shipped name


def test_rates_of_another_facility_come_from_its_own_profile(backend, ledger, cfg, prompts):
    Sites(ledger.db).add_facility("FCI-X", "Federal Correctional Institution X", state="CA",
                                  timezone="America/Los_Angeles", profile="federal-bop")
    shipped = tomllib.loads((resources.files("phonesim.facility") / "profiles" / "federal-bop.toml").read_text())
    bop_rate = RateTable.from_profile(shipped).cents_per_min("prepaid", "out-of-state")
    own_rate = backend.rates.cents_per_min("prepaid", "in-state")
    assert bop_rate != own_rate  # else this test could not tell them apart
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    mark = len(session.heard())
    caller.press("4")
    said = said_after(session, mark)
    i = said.index("facility:FCI-X")
    assert said[i + 1:i + 2 + len(PromptSet.say_number(bop_rate))] == [
        "family_to_this_number_cost", *PromptSet.say_number(bop_rate)]
    assert np.array_equal(prompts["facility:FCI-X"], render_speech("Federal Correctional Institution X"))
    assert np.array_equal(ledger.voice_name("facility", "FCI-X"), prompts["facility:FCI-X"])  # kept
    assert said.count("family_calls_from") == 2


def test_block_then_unblock_leaves_the_facility_block_alone(backend, ledger, prompts):
    ledger.block_number(FAMILY, kind="facility", by="staff", note="a victim's request")
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    caller.press("5")
    assert session.heard()[-3:] == ["family_calls_are_blocked", "family_block_by_facility",
                                    "family_press_to_block"]
    caller.press("1")
    assert {b.kind for b in ledger.blocks_of(FAMILY)} == {"facility", "keypad"}
    caller.press("5")
    assert session.heard()[-1] == "family_press_to_unblock"
    caller.press("1")
    assert {b.kind for b in ledger.blocks_of(FAMILY)} == {"facility"}
    assert [a[0] for a in session.actions()] == ["block", "unblock"]


def test_no_key_asks_again_then_says_goodbye(backend, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY, timeout_s=1.0, retries=2)
    caller = Caller(session)
    for _ in range(3):
        caller.listen()
        caller.silence(50)  # one timeout
    caller.listen()
    assert session.heard().count("family_menu_balance") == 3
    assert session.heard()[-2:] == ["family_no_input", "goodbye"]
    assert session.finished


def test_the_same_key_as_tone_and_as_rfc4733_counts_once(backend, ledger, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    session.key("5")
    caller.press("5")  # the same press heard in the audio
    assert session.state == "block"
    caller.press("1")
    assert ledger.blocks_of(FAMILY)[0].kind == "keypad"
    assert [k for k in session.log if k[0] == "key"] == [("key", "5", "rfc4733"), ("key", "1", "in-band")]


def pay_by_card(caller: Caller, card: str, *, expiry: str = "1230", cvv: str = "123", dollars: int = 20,
                chosen: bool = False) -> None:
    """Option 2 (unless ``chosen`` already), the card's details and the amount, then 1 to pay."""
    if not chosen:
        caller.press("2")
    for keys in (card, expiry, cvv, str(dollars)):
        caller.press(keys + "#")
    assert caller.session.state == "confirm_payment"
    assert caller.session.heard()[-3:] == [*PromptSet.say_cents(dollars * 100)[-2:], "family_confirm_payment"]
    caller.press("1")


def test_card_payment_through_the_simulator_funds_the_prepaid_account(ledger, cfg, prompts):
    ledger.fund_prepaid(FAMILY, 500)
    backend = FamilyBackend(ledger, cfg, processor=SimulatedCardProcessor(ledger.db))
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    caller.press("2")
    assert session.heard()[-2:] == ["family_card_simulator", "family_enter_card"]  # said before any digit
    caller.press("99*")  # a wrong start, typed over
    pay_by_card(caller, "4242424242424242", dollars=20, chosen=True)
    assert ledger.prepaid_balance_cents(FAMILY) == 2500
    assert session.heard()[-len(MENU_PROMPTS) - 5:-len(MENU_PROMPTS)] == [
        "family_payment_accepted", "family_prepaid_balance_is", *PromptSet.say_cents(2500)]
    assert ledger.reconcile() == []
    [payment] = ledger.card_payments(FAMILY)
    assert payment["amount_cents"] == 2000
    logged = repr(session.log)  # the card, expiry and code never reach the log
    assert "4242" not in logged and "1230" not in logged
    assert ("action", "payment", FAMILY, 2000, "accepted") in session.log


def test_a_declined_card_changes_nothing(ledger, cfg, prompts):
    backend = FamilyBackend(ledger, cfg, processor=SimulatedCardProcessor(ledger.db))
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    pay_by_card(caller, "4000000000000002")
    assert "family_payment_declined" in session.heard()
    assert not ledger.has_prepaid(FAMILY) and ledger.card_payments(FAMILY) == []
    assert ("action", "payment", FAMILY, 2000, "card-declined") in session.log
    assert ledger.reconcile() == []


def test_without_a_processor_payments_are_refused_and_no_simulator_is_announced(backend, ledger, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    caller.press("2")
    assert session.heard()[-1] == "family_enter_card" and "family_card_simulator" not in session.heard()
    pay_by_card(caller, "4242424242424242", chosen=True)
    assert "family_payment_unavailable" in session.heard()
    assert not ledger.has_prepaid(FAMILY)


def test_a_bad_expiry_month_is_asked_again(backend, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    caller = Caller(session)
    caller.press("2")
    caller.press("4111111111111111#")
    caller.press("1330#")
    assert session.state == "expiry"
    assert session.heard()[-2:] == ["family_entry_invalid", "family_enter_expiry"]


def test_bad_arguments_are_refused(backend, prompts):
    session = FamilyIvrSession(backend, prompts, caller=FAMILY)
    with pytest.raises(InvalidInput, match="one DTMF key"):
        session.key("x")
    with pytest.raises(InvalidInput, match="frame of 160"):
        session.feed(np.zeros(80, dtype=np.int16))
    with pytest.raises(InvalidInput, match="timeout_s > 0"):
        FamilyIvrSession(backend, prompts, timeout_s=0)


@pytest.mark.parametrize(("uri", "number"), [
    ("sip:5735550142@127.0.0.1", "5735550142"),
    ("<sip:+15735550142@example.org;user=phone>", "5735550142"),
    ("sip:anonymous@example.org", ""),
    ("sip:911@example.org", ""),
])
def test_the_caller_number_comes_from_the_from_uri(uri, number):
    assert number_from_sip_uri(uri) == number
