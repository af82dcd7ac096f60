"""Table-driven tests of the pure call flow with frame time.

Each scenario is a script of events (with pauses, during which the flow's timers
fire exactly as the line fires them); the test checks the disposition and the
actions that matter.  No devices, no ledger: the look-up results are events.
"""

from __future__ import annotations

import dataclasses

import pytest

from phonesim.clock import FRAMES_PER_SECOND, frames_from_s
from phonesim.config import load_config
from phonesim.events import (
    AuthResult,
    CallAllowedResult,
    ChargeResult,
    DigitDetected,
    FarEndAnswered,
    FarEndBusy,
    FarEndDigit,
    FarEndHungUp,
    FarEndRinging,
    HookChanged,
    InboundCall,
    NumberResult,
    PromptFinished,
    Shutdown,
    ThreeWaySuspected,
)
from phonesim.facility import actions as A
from phonesim.facility.callflow import CallFlow, CallState, Phase

ANSWERS = (AuthResult, CallAllowedResult, NumberResult)


class Run:
    """Drives a CallFlow like the line does: events in, due timers fired as time passes."""

    def __init__(self, cfg=None, **kw):
        self.cfg = cfg or load_config(search=False)
        self.flow = CallFlow(self.cfg, **kw)
        self.state = CallState()
        self.now = 0
        self.actions: list = []

    def send(self, *events):
        for event in events:
            if isinstance(event, ANSWERS) and event.request_id == 0:
                # the answer to the look-up pending now (the executor stamps it the same way)
                event = dataclasses.replace(event, request_id=self.state.request_id)
            self.state, actions = self.flow.handle(self.state, event, self.now)
            self.actions += actions
            self._auto_finish(actions)
        return self

    def _auto_finish(self, actions):
        """Prompts that nothing interrupts finish at once (as if they were short)."""
        for a in actions:
            if isinstance(a, A.PlayPrompt) and a.tag in ("final", "final_far"):
                self.send(PromptFinished(a.tag, a.to))

    def wait_s(self, seconds: float):
        end = self.now + frames_from_s(seconds)
        while self.now < end:
            self.now += 1
            for timer in self.flow.due_timers(self.state, self.now):
                self.send(timer)
        return self

    def digits(self, text: str, gap_s: float = 0.2):
        for d in text:
            self.send(DigitDetected(d))
            self.wait_s(gap_s)
        return self

    def of(self, kind):
        return [a for a in self.actions if isinstance(a, kind)]

    @property
    def disposition(self):
        ends = self.of(A.EndCall)
        assert len(ends) <= 1, ends
        return ends[0].disposition if ends else None

    def prompts(self, to="inmate"):
        return [n for a in self.of(A.PlayPrompt) if a.to == to for n in a.names]

    # --- steps of a normal call -----------------------------------------------------
    def login(self, *, pin="1234#"):
        self.send(HookChanged(True), PromptFinished("enter_pin"))
        self.digits(pin)
        return self

    def authenticated(self, max_call_s=900):
        self.send(AuthResult(True, "A100", "inmate_name_default"),
                  CallAllowedResult(True, max_call_s=max_call_s), PromptFinished("menu"))
        return self

    def number(self, call_type="3", number="5735550100#", **result):
        self.digits(call_type)
        self.send(PromptFinished("enter_number"))
        self.digits(number)
        fields = dict(ok=True, number=number.rstrip("#"), jurisdiction="local", cents_per_min=5,
                      payer_kind="prepaid", payer_id=number.rstrip("#"), affordable_minutes=100)
        fields.update(result)
        self.send(NumberResult(**fields))
        return self

    def answered(self, tag="announce"):
        self.send(PromptFinished("hold"), FarEndRinging())
        self.wait_s(6)
        self.send(FarEndAnswered())
        self.wait_s(3)
        self.send(PromptFinished(tag, "far"))
        return self

    def accepted(self, key="1", **number):
        self.login().authenticated().number(**number).answered()
        self.send(FarEndDigit(key))
        return self


def test_happy_path_actions_in_order():
    r = Run().accepted()
    kinds = [type(a).__name__ for a in r.actions]
    for first, then in [("OpenCdr", "Authenticate"), ("Authenticate", "CheckCallAllowed"),
                        ("CheckCallAllowed", "CheckNumber"), ("CheckNumber", "Dial"),
                        ("Dial", "PlayTone"), ("PlayTone", "Bridge"), ("Bridge", "StartRecording"),
                        ("StartRecording", "StartWarnings"), ("StartWarnings", "Charge")]:
        assert kinds.index(first) < kinds.index(then), (first, then, kinds)
    assert r.of(A.Authenticate)[0].pin == "1234"
    assert r.of(A.CheckNumber)[0] == A.CheckNumber("5735550100", "prepaid", "A100", request_id=3)
    assert r.of(A.Charge) == [A.Charge(0, 5, "prepaid", "5735550100")]
    assert r.state.phase is Phase.CONNECTED
    assert r.prompts("inmate")[:2] == ["welcome", "enter_pin"]
    assert "say_number:15" in r.prompts("inmate")
    far = r.prompts("far")
    assert far[:5] == ["party_prepaid_call_from", "inmate_name_default", "party_an_inmate_at",
                       "facility_name", "party_monitored"]
    assert far[far.index("party_press_to_accept") + 1] == "digit_1"
    assert far[far.index("party_press_to_block") + 1] == "digit_6"
    assert far[-1] == "party_accepted"


def test_billing_per_started_minute_and_far_hang_up_completes():
    r = Run().accepted()
    r.wait_s(4 * 60 - 1)
    r.send(FarEndHungUp())
    assert [c.minute_index for c in r.of(A.Charge)] == [0, 1, 2, 3]
    assert r.disposition == "completed"
    assert r.state.phase is Phase.DONE
    assert A.StopRecording() in r.actions and A.Unbridge() in r.actions
    assert A.HangUpFarEnd() not in r.actions  # the far end already hung up


def test_time_limit_warns_one_minute_before_and_bills_every_minute():
    r = Run().accepted()
    r.wait_s(14 * 60 - 0.02)
    assert "one_minute_remaining" not in r.prompts()
    r.wait_s(0.04)
    assert "one_minute_remaining" in r.prompts() and "one_minute_remaining" in r.prompts("far")
    r.wait_s(61)
    assert r.disposition == "time-limit"
    assert len(r.of(A.Charge)) == 15
    assert "time_limit_reached" in r.prompts()


def test_funds_limit_shortens_the_call_and_ends_funds_exhausted():
    r = Run().accepted(affordable_minutes=3)
    assert "say_number:3" in r.prompts()
    r.wait_s(2 * 60 + 1)
    assert "one_minute_remaining" in r.prompts()
    r.wait_s(60)
    assert r.disposition == "funds-exhausted"
    assert len(r.of(A.Charge)) == 3


def test_refused_charge_ends_funds_exhausted():
    r = Run().accepted()
    r.wait_s(61)
    r.send(ChargeResult(1, ok=False, balance_after_cents=3))
    assert r.disposition == "funds-exhausted"
    assert "funds_exhausted" in r.prompts("far")


@pytest.mark.parametrize("script, disposition, inmate_prompt", [
    ("decline", "declined", "call_declined"),
    ("block", "blocked-by-called-party", "number_blocked_by_party"),
    ("hangup-announcing", "declined", "call_declined"),
    ("accept-timeout", "no-answer", "no_answer"),
    ("busy", "busy", "busy"),
    ("ring-timeout", "no-answer", "no_answer"),
    ("inmate-hangs-up-connected", "hung-up", None),
    ("inmate-hangs-up-ringing", "abandoned", None),
    ("threeway", "three-way-detected", "threeway_not_allowed"),
])
def test_far_end_outcomes(script, disposition, inmate_prompt):
    r = Run().login().authenticated().number()
    if script == "busy":
        r.send(PromptFinished("hold"), FarEndBusy())
    elif script == "ring-timeout":
        r.send(PromptFinished("hold"), FarEndRinging())
        r.wait_s(46)
    elif script == "inmate-hangs-up-ringing":
        r.send(PromptFinished("hold"), FarEndRinging(), HookChanged(False))
    else:
        r.answered()
        if script == "decline":
            r.send(FarEndDigit("2"))
        elif script == "block":
            r.send(FarEndDigit("6"))
            assert r.of(A.BlockNumber) == [A.BlockNumber("5735550100")]
            assert "party_blocked" in r.prompts("far")
        elif script == "hangup-announcing":
            r.send(FarEndHungUp())
        elif script == "accept-timeout":
            r.wait_s(21)
            assert "party_no_response" in r.prompts("far")
        elif script == "inmate-hangs-up-connected":
            r.send(FarEndDigit("1"))
            r.wait_s(30)
            r.send(HookChanged(False))
            assert r.state.phase is Phase.IDLE
        elif script == "threeway":
            r.send(FarEndDigit("1"))
            r.wait_s(30)
            r.send(ThreeWaySuspected("flash", 0.95, r.now))
    assert r.disposition == disposition
    if inmate_prompt:
        assert inmate_prompt in r.prompts()
    if script not in ("busy", "hangup-announcing"):
        assert A.HangUpFarEnd() in r.actions
    assert bool(r.of(A.Charge)) == (script in ("inmate-hangs-up-connected", "threeway"))


def test_rates_key_quotes_the_rate_then_repeats_the_choices_and_restarts_the_timer():
    r = Run().login().authenticated().number().answered()
    r.wait_s(15)
    r.send(FarEndDigit("0"))
    quote = r.of(A.PlayPrompt)[-1]
    assert quote.to == "far" and quote.names[:3] == ("party_rate_is", "say_number:5", "cents_per_minute")
    assert "party_press_to_accept" in quote.names
    r.wait_s(15)   # 30 s after the announcement: the first timer would have fired
    assert r.disposition is None
    r.send(PromptFinished("rates", "far"))
    r.wait_s(5)
    r.send(FarEndDigit("1"))
    assert r.state.phase is Phase.CONNECTED


def test_rfc4733_and_inband_copy_of_one_key_count_once():
    r = Run().login().authenticated().number().answered()
    r.send(FarEndDigit("0", source="rfc4733"))
    r.wait_s(0.1)
    r.send(FarEndDigit("0", source="inband"))
    assert sum(isinstance(a, A.PlayPrompt) and a.tag == "rates" for a in r.actions) == 1
    r.wait_s(1)
    r.send(FarEndDigit("0", source="inband"))  # a second press later counts
    assert sum(isinstance(a, A.PlayPrompt) and a.tag == "rates" for a in r.actions) == 2


@pytest.mark.parametrize("pins, disposition, prompt", [
    (["9999#", "8888#", "7777#"], "locked", "account_locked"),
])
def test_pin_lockout_after_max_failures(pins, disposition, prompt):
    r = Run()
    r.send(HookChanged(True))
    for i, pin in enumerate(pins):
        r.digits(pin)
        r.send(AuthResult(False, failures=i + 1))
    assert r.disposition == disposition
    assert r.prompts().count("invalid_pin") == len(pins) - 1
    assert prompt in r.prompts()


def test_ledger_lock_ends_at_once_and_wrong_pin_then_hang_up_is_invalid_pin():
    r = Run().login().send(AuthResult(False, locked=True))
    assert r.disposition == "locked"
    r = Run().login().send(AuthResult(False))
    r.send(HookChanged(False))
    assert r.disposition == "invalid-PIN"


def test_pin_by_inter_digit_timeout_and_star_clears():
    r = Run().send(HookChanged(True))
    r.digits("12*1234")
    assert not r.of(A.Authenticate)
    r.wait_s(5.1)
    assert r.of(A.Authenticate)[0].pin == "1234"


def test_no_pin_at_all_abandons_after_reprompts():
    r = Run().send(HookChanged(True), PromptFinished("enter_pin"))
    r.wait_s(10.1)
    assert r.prompts().count("enter_pin") == 2
    r.send(PromptFinished("enter_pin"))
    r.wait_s(10.1)
    r.send(PromptFinished("enter_pin"))
    r.wait_s(10.1)
    assert r.disposition == "abandoned"


def test_barge_in_stops_the_greeting():
    r = Run().send(HookChanged(True), DigitDetected("1"))
    assert r.of(A.StopPrompt) == [A.StopPrompt("inmate")]
    r.send(DigitDetected("2"))
    assert len(r.of(A.StopPrompt)) == 1


@pytest.mark.parametrize("verdict, disposition", [
    (CallAllowedResult(False, reason="restricted", prompt="restricted"), "restricted"),
    (CallAllowedResult(False, reason="outside-hours", prompt="outside_hours"), "outside-hours"),
    (CallAllowedResult(False, reason="", prompt="wait_between_calls"), "wait-required"),
    (CallAllowedResult(False, reason="quota", prompt="quota_reached"), "quota-reached"),
])
def test_policy_refusals(verdict, disposition):
    r = Run().login().send(AuthResult(True, "A100"), verdict)
    assert r.disposition == disposition
    assert verdict.prompt in r.prompts()
    assert not r.of(A.Dial)


@pytest.mark.parametrize("result, disposition", [
    (dict(ok=False, reason="toll-free", prompt="number_toll_free", disposition="toll-free-attempt"),
     "toll-free-attempt"),
    (dict(ok=False, prompt="number_blocked", disposition="not-allowed-number"), "not-allowed-number"),
    (dict(ok=False, prompt="insufficient_funds", disposition="insufficient-funds"), "insufficient-funds"),
    (dict(affordable_minutes=0), "insufficient-funds"),
])
def test_number_refusals(result, disposition):
    r = Run().login().authenticated().number(**result)
    assert r.disposition == disposition
    assert not r.of(A.Dial)


def test_number_taken_after_ten_digits_and_a_pause():
    r = Run().login().authenticated()
    r.digits("3")
    r.digits("5735550100")
    assert not r.of(A.CheckNumber)
    r.wait_s(2.1)
    assert r.of(A.CheckNumber) == [A.CheckNumber("5735550100", "prepaid", "A100", request_id=3)]


def test_bad_call_type_reprompts_then_gives_up():
    r = Run().login().authenticated()
    r.digits("797")
    assert r.prompts().count("call_type_menu") == 3
    assert r.disposition == "abandoned"


def test_privileged_call_is_not_recorded_not_monitored_and_free():
    r = Run().accepted(privileged=True, cents_per_min=0, affordable_minutes=None)
    assert A.StartRecording() not in r.actions
    assert "party_monitored" not in r.prompts("far")
    r.wait_s(130)
    assert r.of(A.Charge) == [A.Charge(0, 0, "free", ""), A.Charge(1, 0, "free", ""),
                              A.Charge(2, 0, "free", "")]
    assert r.of(A.SetCdr)[-1].as_dict() == {"billed_minutes": 3}
    r.send(ThreeWaySuspected("flash", 0.99, r.now))   # not detected on privileged calls
    assert r.state.phase is Phase.CONNECTED
    r.send(HookChanged(False))
    assert r.disposition == "hung-up"


@pytest.mark.parametrize("action, disposition, spoken", [
    ("log", None, False), ("warn", None, True), ("disconnect", "three-way-detected", True)])
def test_threeway_policy_actions(action, disposition, spoken):
    cfg = load_config(search=False, overrides={"profile.threeway.on_confirmed": action})
    r = Run(cfg).accepted()
    r.wait_s(40)
    r.send(ThreeWaySuspected("stutter", 0.9, r.now))
    assert r.disposition == disposition
    assert ("threeway_not_allowed" in r.prompts()) == spoken
    assert any(a.kind == "three-way" for a in r.of(A.LogEvent))
    prompts_before = len(r.prompts())
    r.send(ThreeWaySuspected("stutter", 0.5, r.now))  # suspected (below confirm_confidence): only logged
    assert len(r.prompts()) == prompts_before
    if disposition is None:
        assert r.state.phase is Phase.CONNECTED
        assert [a.as_dict()["action"] for a in r.of(A.LogEvent) if a.kind == "three-way"] == [action, "log"]


def test_bop_profile_keys_and_inbound_refused(tmp_path):
    (tmp_path / "phonesim.toml").write_text('[facility]\nprofile = "federal-bop"\n')
    cfg = load_config(tmp_path / "phonesim.toml")
    r = Run(cfg).login(pin="123456789#").authenticated().number(call_type="1").answered()
    far = r.prompts("far")
    assert far[0] == "party_debit_call_from"
    assert far[far.index("party_press_to_accept") + 1] == "digit_5"
    r.send(FarEndDigit("1"))
    assert r.state.phase is Phase.ANNOUNCING
    r.send(InboundCall("5551234567"))
    assert r.of(A.RejectInbound) == [A.RejectInbound("5551234567")]
    r.send(FarEndDigit("5"))
    assert r.state.phase is Phase.CONNECTED


def test_shutdown_ends_a_connected_call_and_idle_ignores_it():
    r = Run().accepted()
    r.send(Shutdown())
    assert r.disposition == "hung-up"
    assert A.HangUpFarEnd() in r.actions
    assert Run().send(Shutdown()).actions == []


def test_stale_timers_are_ignored_and_on_hook_resets():
    r = Run().login()
    r.send(HookChanged(False))
    assert r.state == CallState(request_seq=1)      # the look-up count survives: answers stay unique
    r.wait_s(30)
    assert len(r.of(A.EndCall)) == 1


def test_every_frame_time_is_exact():
    r = Run().accepted()
    start = r.state.connected_frame
    assert r.state.timer("limit") == start + 900 * FRAMES_PER_SECOND
    assert r.state.timer("warn_60") == start + 840 * FRAMES_PER_SECOND
    assert r.state.timer("minute") == start + 60 * FRAMES_PER_SECOND


def test_every_disposition_is_reachable():
    """Each disposition of the CDR store (but inbound-refused, a CDR of its own) is reached above."""
    from phonesim.facility.callflow import _KNOWN_DISPOSITIONS
    from phonesim.facility.cdr import DISPOSITIONS

    assert set(DISPOSITIONS) == _KNOWN_DISPOSITIONS
    reached = {"inbound-refused"}                # a CDR of its own, see test_inbound_calls...
    from phonesim.events import CutOff, FarEndFailed, Lockdown, LookupFailed
    for make in (
        lambda: Run().accepted().wait_s(100).send(FarEndHungUp()),                       # completed
        lambda: Run().accepted().wait_s(30).send(HookChanged(False)),                    # hung-up
        lambda: Run().accepted().wait_s(901),                                            # time-limit
        lambda: Run().accepted(affordable_minutes=1).wait_s(61),                         # funds-exhausted
        lambda: Run().accepted().send(ThreeWaySuspected("flash", 0.9, 0)),               # three-way
        lambda: Run().login().authenticated().number().answered().send(FarEndDigit("2")),
        lambda: Run().login().authenticated().number().answered().send(FarEndDigit("6")),
        lambda: Run().login().authenticated().number().answered().wait_s(21),            # no-answer
        lambda: Run().login().authenticated().number().send(PromptFinished("hold"), FarEndBusy()),
        lambda: Run().login().send(AuthResult(False)).send(HookChanged(False)),          # invalid-PIN
        lambda: Run().login().send(AuthResult(False, locked=True)),                      # locked
        lambda: Run().login().send(HookChanged(False)),                                  # abandoned
        lambda: Run().login().authenticated().number(affordable_minutes=0),              # insufficient
        *(lambda v=v: Run().login().send(AuthResult(True, "A1"), CallAllowedResult(False, prompt=v))
          for v in ("restricted", "outside_hours", "wait_between_calls", "quota_reached")),
        *(lambda d=d: Run().login().authenticated().number(ok=False, disposition=d)
          for d in ("not-allowed-number", "toll-free-attempt", "refused-party-block", "no-contact-order")),
        lambda: Run().login().authenticated().number().send(PromptFinished("hold"),
                                                            FarEndFailed("503")),        # failed
        lambda: Run().accepted().send(Lockdown("count")),                                # lockdown
        lambda: Run().accepted().send(CutOff("officer 7", "threats")),                   # cut-off
        lambda: Run().login().send(LookupFailed(1, "authenticate", "database away")),    # system-error
        lambda: Run().login().authenticated().number(**SETUP_ONLY).answered(tag="setup"),  # no-account
    ):
        reached.add(make().disposition)
    assert reached == _KNOWN_DISPOSITIONS


COURTESY = dict(call_type="2", cents_per_min=0, payer_kind="free", payer_id="", affordable_minutes=3,
                courtesy="free-call")
SETUP_ONLY = dict(COURTESY, courtesy="setup-only", affordable_minutes=1)
PROVIDER = ("digit_1", "digit_8", "digit_0", "digit_0", "digit_8", "digit_4", "digit_4", "digit_6", "digit_5",
            "digit_9", "digit_1")


def test_a_collect_call_to_a_number_without_an_account_is_a_free_courtesy_call():
    """The called party is reached, told the call is free and how to set up an account (the
    provider's number, digit by digit); no rates are offered; the call is free and limited."""
    r = Run().accepted(**COURTESY)
    heard = r.prompts("far")
    assert heard[:2] == ["party_collect_call_from", "inmate_name_default"]
    i = heard.index("party_no_account")
    assert heard[i:i + 3 + len(PROVIDER)] == ["party_no_account", "party_courtesy_free", "party_setup_account",
                                               *PROVIDER]
    assert "party_monitored" in heard and "party_press_for_rates" not in heard
    (hold,) = [a for a in r.of(A.PlayPrompt) if a.tag == "hold"]
    assert hold.names == ("please_hold", "inmate_courtesy_call", "call_limit_is", "say_number:3", "minutes")
    assert {c.cents for c in r.of(A.Charge)} == {0}
    assert any(a.as_dict().get("courtesy") == "free-call" for a in r.of(A.SetCdr))
    r.send(FarEndDigit("0"))                                   # no rates on a free call
    assert "party_rate_is" not in r.prompts("far")
    r.wait_s(181)
    assert r.disposition == "time-limit"


def test_a_number_whose_courtesy_call_is_used_is_told_how_to_set_up_an_account():
    r = Run().login().authenticated().number(**SETUP_ONLY).answered(tag="setup")
    heard = r.prompts("far")
    assert heard[-(len(PROVIDER) + 2):] == ["party_setup_account", *PROVIDER, "goodbye"]
    assert "party_press_to_accept" not in heard and "party_courtesy_free" not in heard
    assert r.disposition == "no-account" and not r.of(A.Bridge) and not r.of(A.Charge)
    assert r.prompts("inmate")[-2:] == ["inmate_needs_account", "goodbye"]
    assert "call_limit_is" not in r.prompts("inmate")


def test_an_attorney_call_is_announced_as_free_without_rates():
    r = Run().accepted(privileged=True, cents_per_min=0, payer_kind="free", payer_id="")
    heard = r.prompts("far")
    assert heard[0] == "party_free_call_from" and "party_monitored" not in heard
    assert "party_press_for_rates" not in heard and "party_prepaid_call_from" not in heard


def test_a_failed_outside_line_ends_a_connected_call_and_is_logged():
    from phonesim.events import FarEndFailed

    r = Run().accepted().wait_s(70)
    r.send(FarEndFailed("RTP timeout"))
    assert r.disposition == "completed"
    assert any(a.kind == "far-end-failed" and a.as_dict() == {"reason": "RTP timeout"}
               for a in r.of(A.LogEvent))
    assert A.HangUpFarEnd() not in r.actions


def test_star_restarts_entry_and_the_first_digit_timeout_still_applies():
    r = Run().send(HookChanged(True))
    r.digits("12*")
    r.wait_s(10.5)                      # nothing more keyed: the PIN prompt is repeated
    assert r.prompts().count("enter_pin") == 2 and r.state.phase is Phase.PIN
    r = Run().login().authenticated()
    r.digits("3")
    r.digits("57*")
    r.wait_s(10.5)                      # nothing more keyed: the attempt ends
    assert r.disposition == "abandoned" and not r.of(A.CheckNumber)


# --- the seam with the platform: type-ahead, request ids, deadlines, failures -------------
def test_keys_typed_while_a_look_up_is_pending_are_applied_in_order():
    """The whole call keyed while the PIN check is pending: nothing is lost, nothing reordered."""
    r = Run().send(HookChanged(True), PromptFinished("enter_pin"))
    r.digits("1234#35735550100#", gap_s=0.12)
    assert r.state.phase is Phase.AUTHENTICATING and r.state.typeahead == "35735550100#"
    r.send(AuthResult(True, "A100"))
    assert r.state.phase is Phase.CHECKING_ALLOWED and r.state.typeahead == "35735550100#"
    r.send(CallAllowedResult(True, max_call_s=900))
    assert r.state.phase is Phase.CHECKING_NUMBER and r.state.typeahead == ""
    assert r.of(A.CheckNumber) == [A.CheckNumber("5735550100", "prepaid", "A100", request_id=3)]
    # the menu prompt started and was barged into by the kept key, in the same frame
    kinds = [type(a).__name__ for a in r.actions]
    assert kinds.index("PlayPrompt", kinds.index("CheckCallAllowed")) < kinds.index("StopPrompt",
                                                                                     kinds.index("CheckCallAllowed"))


def test_same_key_timeline_same_call_at_any_look_up_latency():
    """Answers after 0, 50 ms, 500 ms or 3 s: the same look-ups, payer and charges."""
    answer = {A.Authenticate: AuthResult(True, "A100"),
              A.CheckCallAllowed: CallAllowedResult(True, max_call_s=900),
              A.CheckNumber: NumberResult(True, "5735550100", jurisdiction="local", cents_per_min=5,
                                          payer_kind="prepaid", payer_id="5735550100",
                                          affordable_minutes=100)}

    def run(latency_s: float) -> tuple:
        r = Run().send(HookChanged(True), PromptFinished("enter_pin"))
        due: list = []
        asked = 0

        def pump():
            nonlocal asked
            while True:
                lookups = [a for a in r.actions if type(a) in answer]
                for a in lookups[asked:]:
                    due.append((r.now + frames_from_s(latency_s),
                                dataclasses.replace(answer[type(a)], request_id=a.request_id)))
                asked = len(lookups)
                ready = [d for d in due if d[0] <= r.now]
                if not ready:
                    return
                for d in ready:
                    due.remove(d)
                    r.send(d[1])

        def wait(seconds):
            for _ in range(frames_from_s(seconds)):
                r.wait_s(0.02)
                pump()

        for digit in "1234#35735550100#":
            wait(0.12)
            r.send(DigitDetected(digit))
            pump()
        wait(3 * latency_s + 1)          # three look-ups, one after the other
        r.send(PromptFinished("hold"))
        return (tuple(r.of(A.CheckNumber)), r.state.phase, r.state.payer_kind, r.state.payer_id,
                tuple(r.of(A.Dial)))

    results = {latency: run(latency) for latency in (0.0, 0.05, 0.5, 3.0)}
    assert len(set(results.values())) == 1, results
    check, phase, payer_kind, payer_id, dial = results[3.0]
    assert check[0].number == "5735550100" and phase is Phase.RINGING
    assert dial == (A.Dial("5735550100"),)
    assert (payer_kind, payer_id) == ("prepaid", "5735550100")


def test_an_answer_to_an_earlier_question_is_not_taken():
    r = Run().login()
    first = r.state.request_id
    r.wait_s(11)                               # the PIN check never answers: system-error
    assert r.disposition == "system-error"
    r.send(HookChanged(False), HookChanged(True), PromptFinished("enter_pin"))
    r.digits("9999#")
    assert r.state.request_id != first
    r.send(AuthResult(True, "A100", request_id=first))      # late: for the call that ended
    assert r.state.phase is Phase.AUTHENTICATING
    assert any(a.kind == "late-answer" for a in r.of(A.LogEvent))


@pytest.mark.parametrize("phase_of", ["authenticate", "call-allowed", "number"])
def test_a_look_up_that_raises_or_never_answers_apologises_and_ends(phase_of):
    from phonesim.events import LookupFailed

    for failure in ("raises", "silent"):
        r = Run().login()
        if phase_of != "authenticate":
            r.send(AuthResult(True, "A100"))
        if phase_of == "number":
            r.send(CallAllowedResult(True, max_call_s=900), PromptFinished("menu"))
            r.digits("3")
            r.send(PromptFinished("enter_number"))
            r.digits("5735550100#")
        assert r.state.lookup == phase_of
        if failure == "raises":
            r.send(LookupFailed(r.state.request_id, phase_of, "RateNotFound: no rate on 2026-01-01"))
        else:
            r.wait_s(9.5)
            assert r.disposition is None            # the deadline is the profile's 10 s
            r.wait_s(0.5)
        assert r.disposition == "system-error"
        assert r.prompts()[-2:] == ["system_error", "goodbye"]
        logged = [a.as_dict() for a in r.of(A.LogEvent) if a.kind == "lookup-failed"]
        assert logged and logged[0]["what"] == phase_of
        assert ("RateNotFound" in logged[0]["error"]) == (failure == "raises")


def test_every_waiting_phase_has_a_deadline():
    r = Run()
    for phase in Phase:
        if phase in (Phase.IDLE, Phase.DONE):
            continue
        state = r.flow.handle(CallState(phase=Phase.IDLE), HookChanged(True), 0)[0]
        state = r.flow._entered(dataclasses.replace(state, phase=phase), 0)[0]
        own = {Phase.RINGING: "ring", Phase.CONNECTED: "limit", Phase.ENDING: "end"}
        assert state.timer("deadline") is not None or phase in own, phase


def test_charges_the_database_cannot_take_are_retried_and_the_call_stays_up():
    r = Run().accepted()
    r.send(ChargeResult(0, False, error="database is away"))
    assert r.state.phase is Phase.CONNECTED and r.state.unbilled == (0,)
    r.wait_s(5.1)
    assert r.of(A.Charge)[-1] == A.Charge(0, 5, "prepaid", "5735550100")    # retried
    r.send(ChargeResult(0, True, 95))
    assert r.state.unbilled == () and r.state.billing_down_frame == -1
    assert any(a.kind == "charge-made-late" for a in r.of(A.LogEvent))
    r.wait_s(60)                                                             # minute 2 as usual
    assert [c.minute_index for c in r.of(A.Charge)] == [0, 0, 1]


def test_billing_away_longer_than_the_profile_allows_ends_the_call():
    r = Run().accepted()
    for _ in range(30):
        r.send(ChargeResult(0, False, error="database is away"))
        r.wait_s(5)
        if r.disposition:
            break
    assert r.disposition == "system-error"
    assert 115 <= (r.now - r.state.connected_frame) / FRAMES_PER_SECOND <= 130


def test_the_flow_decides_who_pays_and_which_detectors_listen():
    r = Run().login().authenticated().number(call_type="1", number="3145550150#", payer_kind="",
                                             payer_id="")
    assert (r.state.payer_kind, r.state.payer_id) == ("debit", "A100")
    assert r.state.listening.inmate_dtmf and not r.state.listening.far_dtmf
    r.answered()
    assert r.state.listening.far_dtmf and not r.state.listening.threeway
    r.send(FarEndDigit("1"))
    assert r.state.listening.threeway and not r.state.listening.far_dtmf
    assert r.of(A.Charge)[0] == A.Charge(0, 5, "debit", "A100")
    p = Run().accepted(privileged=True, cents_per_min=0, affordable_minutes=None)
    assert not p.state.listening.threeway and p.state.payer_kind == "free"


@pytest.mark.parametrize("phase_of", ["ringing", "connected"])
def test_a_lockdown_or_a_cut_off_ends_the_call_with_its_own_disposition(phase_of):
    from phonesim.events import CutOff, Lockdown

    for event, disposition, prompt in ((Lockdown("count time"), "lockdown", "lockdown_now"),
                                       (CutOff("officer 7", "threats"), "cut-off", "call_cut_off")):
        r = Run().login().authenticated().number().send(PromptFinished("hold"), FarEndRinging())
        if phase_of == "connected":
            r.wait_s(1).send(FarEndAnswered(), PromptFinished("announce", "far"), FarEndDigit("1"))
        r.send(event)
        assert r.disposition == disposition
        assert prompt in r.prompts("inmate")
        if phase_of == "connected":
            assert prompt in r.prompts("far")             # both parties hear why
        if isinstance(event, CutOff):
            assert A.SetCdr.of(cut_off_by="officer 7") in r.actions
    idle = Run().send(Lockdown("count"))
    assert idle.actions == [] and idle.state.phase is Phase.IDLE


def test_the_first_call_records_the_inmates_name_for_the_announcement():
    r = Run().login()
    r.send(AuthResult(True, "A100", ""))                   # no name yet
    assert r.state.phase is Phase.RECORDING_NAME and r.prompts()[-1] == "record_name"
    r.digits("3")                                          # kept for later, not lost
    r.send(PromptFinished("record_name"))
    assert r.of(A.StartNameCapture) == [A.StartNameCapture("A100", 4.0)]
    r.wait_s(4.1)
    assert r.of(A.SaveName) == [A.SaveName("A100", "name:A100")]
    assert r.state.phase is Phase.CHECKING_ALLOWED
    r.send(CallAllowedResult(True, max_call_s=900))
    assert r.state.phase is Phase.NUMBER and r.state.call_type == "prepaid"     # the kept key
    r.send(PromptFinished("enter_number")).digits("5735550100#")
    r.send(NumberResult(True, "5735550100", jurisdiction="local", cents_per_min=5, payer_kind="prepaid",
                        payer_id="5735550100", affordable_minutes=100))
    r.answered()
    assert r.prompts("far")[:2] == ["party_prepaid_call_from", "name:A100"]


def test_an_inmate_without_a_name_is_announced_without_one_when_names_are_not_recorded():
    cfg = load_config(search=False, overrides={"profile.names.record_on_first_call": False})
    r = Run(cfg).login()
    r.send(AuthResult(True, "A100", ""), CallAllowedResult(True, max_call_s=900), PromptFinished("menu"))
    r.number().answered()
    assert r.prompts("far")[:3] == ["party_prepaid_call_from", "party_an_inmate_at", "facility_name"]
