"""The call flow: a pure transition function from (state, event) to (state, actions).

``CallFlow(cfg).handle(state, event, now_frame) -> (state, actions)`` holds every
rule of a call on a facility line — greeting, PIN, policy, call type, number,
dialling, the called-party announcement and keys, billing, warnings, limits,
three-way decisions, and how each attempt ends — and nothing else.  It performs
no I/O and reads no clock: time is the ``now_frame`` argument, timers are
absolute frames kept in the state, and look-ups (PIN, policy, numbers, charges)
are actions whose answers come back as result events.  So every transition is a
line of a table in ``tests/facility/test_callflow.py``, and the same flow runs
under the virtual clock in a test and paced by a headset on a Raspberry Pi.

How an attempt ends (the CDR disposition), when the flow decides it:

* ``abandoned`` — the inmate hung up, timed out or fumbled a menu before a call
  was connected; ``invalid-PIN`` when this happened after a wrong PIN;
* ``locked`` — ``pin.max_failures`` wrong PINs in a row, or the ledger says the
  account is locked;
* ``restricted``/``outside-hours``/``wait-required``/``quota-reached`` — the policy;
* ``not-allowed-number``/``toll-free-attempt``/``insufficient-funds`` — the number check;
* ``busy``, ``no-answer`` (no answer within ``ring_timeout_s``, or answered but
  no key within ``accept_timeout_s``: the called party never accepted, so the
  call is not billed), ``declined`` (decline key, or the called party hung up
  during the announcement), ``blocked-by-called-party``;
* ``completed`` (the called party hung up), ``hung-up`` (the inmate hung up while
  connected), ``time-limit``, ``funds-exhausted``, ``three-way-detected``;
* ``failed`` — the outside line could not place the call (the cause is logged);
* ``system-error`` — a look-up raised or did not answer within
  ``limits.lookup_timeout_s``, or billing stayed unreachable for
  ``limits.billing_outage_s`` during a call: the caller hears an apology, never silence.

The seam with the platform (look-ups answer frames later, in real time from another
thread):

* **type-ahead** — digits keyed while a look-up is pending are kept and applied in
  order as soon as the flow is back at an input phase, so the same key timeline gives
  the same call whatever the look-up latency;
* **request ids** — each look-up carries a ``request_id`` and only the answer with the
  id the flow waits for is taken (a late answer of an ended attempt is dropped);
* **deadlines** — every waiting phase has a timer; nothing waits for ever;
* **who pays** and **which detector listens when** are decided here (``Charge`` carries
  the payer; :attr:`CallState.listening` tells the line which detectors to run).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from phonesim.clock import frames_from_ms, frames_from_s
from phonesim.events import (
    AuthResult,
    CallAllowedResult,
    ChargeResult,
    CutOff,
    DigitDetected,
    FarEndAnswered,
    FarEndBusy,
    FarEndDigit,
    FarEndFailed,
    FarEndHungUp,
    FarEndNoAnswer,
    FarEndRinging,
    HookChanged,
    InboundCall,
    Lockdown,
    LookupFailed,
    NumberResult,
    PromptFinished,
    Shutdown,
    ThreeWaySuspected,
    Timer,
)
from phonesim.facility.actions import (
    FAR,
    INMATE,
    Authenticate,
    BlockNumber,
    Bridge,
    Charge,
    CheckCallAllowed,
    CheckNumber,
    Dial,
    EndCall,
    HangUpFarEnd,
    LogEvent,
    OpenCdr,
    PlayPrompt,
    PlayTone,
    RejectInbound,
    SaveName,
    SetCdr,
    StartNameCapture,
    StartRecording,
    StartWarnings,
    StopPrompt,
    StopRecording,
    StopTone,
    StopWarnings,
    Unbridge,
)
from phonesim.facility.rates import minute_charge_at_cents
from phonesim.facility.threeway import ThreeWayPolicy
from phonesim.facility.vocabulary import CallType, Courtesy, Disposition, LookupKind, PayerKind

CALL_TYPES = {"1": CallType.DEBIT, "2": CallType.COLLECT, "3": CallType.PREPAID}
#: A digit seen from both the audio and RFC 4733 within this window is one key.
DUPLICATE_KEY_WINDOW_FRAMES = frames_from_ms(250)
#: After 10 digits (11 with a leading 1) the number is taken after this pause even without '#'.
NUMBER_COMPLETE_PAUSE_FRAMES = frames_from_s(2)
#: Prompts that end an attempt get this long to play before the call is ended anyway.
ENDING_GRACE_FRAMES = frames_from_s(30)
#: A "warn" three-way decision speaks at most this often.
THREEWAY_WARN_GAP_FRAMES = frames_from_s(10)
MAX_MENU_TRIES = 3
#: The most digits a login keeps (an ID and a PIN with room to spare).
MAX_LOGIN_DIGITS = 32
#: Digits kept while a look-up is pending (a PIN, a call type and a number with room to spare).
TYPEAHEAD_MAX = 40
#: A charge the database could not take is tried again this often while the call goes on.
CHARGE_RETRY_FRAMES = frames_from_s(5)
#: Deadlines of the phases that wait for a person or a prompt rather than for a look-up
#: (the look-ups' own deadline is the profile's ``limits.lookup_timeout_s``).
INPUT_DEADLINE_FRAMES = frames_from_s(120)
HOLD_DEADLINE_FRAMES = frames_from_s(60)
ANNOUNCE_DEADLINE_EXTRA_FRAMES = frames_from_s(120)

#: Policy prompt -> disposition, when the policy's verdict does not name one.
_REFUSAL_DISPOSITIONS = {
    "phones_locked_down": "lockdown",
    "restricted": "restricted",
    "outside_hours": "outside-hours",
    "wait_between_calls": "wait-required",
    "quota_reached": "quota-reached",
    "account_locked": "locked",
}
_KNOWN_DISPOSITIONS = frozenset(Disposition)
_KEY_WORDS = {"*": "star", "#": "pound"}


class Phase(enum.Enum):
    IDLE = "idle"                        # handset down
    PIN = "pin"                          # greeting and PIN entry
    AUTHENTICATING = "authenticating"
    RECORDING_NAME = "recording-name"    # first call: "at the tone, say your name"
    CHECKING_ALLOWED = "checking-allowed"
    CALL_TYPE = "call-type"
    NUMBER = "number"
    CHECKING_NUMBER = "checking-number"
    HOLD = "hold"                        # "please hold, this call is limited to N minutes"
    RINGING = "ringing"
    ANNOUNCING = "announcing"            # the called party hears who calls and the keys
    CONNECTED = "connected"
    ENDING = "ending"                    # final prompts play, then the call ends
    DONE = "done"                        # the attempt is over; waiting for on-hook


#: Phases that wait for a look-up: keys are kept (type-ahead), the look-up deadline runs.
LOOKUP_PHASES = frozenset({Phase.AUTHENTICATING, Phase.CHECKING_ALLOWED, Phase.CHECKING_NUMBER})
#: Phases in which keys are kept for later (type-ahead): the look-ups and the name recording.
KEEP_KEYS_PHASES = LOOKUP_PHASES | {Phase.RECORDING_NAME}
#: Phases that take the inmate's keys; kept keys are applied on entering one of them.
INPUT_PHASES = frozenset({Phase.PIN, Phase.CALL_TYPE, Phase.NUMBER})


@dataclass(frozen=True, slots=True)
class Listening:
    """Which detectors the line runs this frame (the flow decides, the line obeys).

    ``inmate_dtmf``: the handset's uplink (keys), whenever a call attempt is active;
    ``far_dtmf``: the called party's keys while the announcement waits for a choice;
    ``threeway``: the three-way detector on the far end while connected (not on a
    privileged call unless the profile says so).
    """

    inmate_dtmf: bool = False
    far_dtmf: bool = False
    threeway: bool = False


@dataclass(frozen=True, slots=True)
class CallState:
    """Everything the flow remembers about one line; timers are absolute frames."""

    phase: Phase = Phase.IDLE
    digits: str = ""
    pin_failures: int = 0
    menu_tries: int = 0
    inmate_id: str = ""
    name_prompt: str = ""                # the inmate's name as the called party hears it ("": none)
    call_type: str = ""
    number: str = ""
    privileged: bool = False
    courtesy: str = ""                   # a collect call with no account (Courtesy): free call or setup only
    cents_per_min: int = 0               # charged per billed minute (rate + taxes)
    rate_cents: int = 0                  # the bare per-minute rate the called party is quoted
    payer_kind: str = ""                 # who pays each minute (PayerKind) ...
    payer_id: str = ""                   # ... and which account: inmate id or BTN
    max_call_s: int = 0
    limit_frames: int = 0
    limit_disposition: str = Disposition.TIME_LIMIT
    timers: tuple[tuple[str, int], ...] = ()
    inmate_prompt: str = ""              # tag of the barge-in prompt playing to the inmate
    far_active: bool = False             # dialled and not yet hung up
    ringback: bool = False
    bridged: bool = False
    recording: bool = False
    warnings: bool = False
    connected_frame: int = -1
    minutes_started: int = 0
    disposition: str = ""                # decided, pending the final prompts
    awaiting: tuple[str, ...] = ()       # final prompt tags still playing
    last_far_key: tuple[str, int, str] = ("", -10**9, "")
    threeway_warned_frame: int = -10**9
    request_seq: int = 0                 # look-ups asked on this line so far (kept across calls)
    request_id: int = 0                  # the look-up being waited for (0: none)
    lookup: str = ""                     # what it asks (LookupKind), for the deadline's message
    typeahead: str = ""                  # keys kept while a look-up is pending
    unbilled: tuple[int, ...] = ()       # minutes whose charge could not be made yet
    billing_down_frame: int = -1         # when charging first failed (-1: it works)
    listening: Listening = Listening()

    def timer(self, name: str) -> int | None:
        for n, frame in self.timers:
            if n == name:
                return frame
        return None


def _set_timer(state: CallState, name: str, frame: int) -> CallState:
    timers = tuple((n, f) for n, f in state.timers if n != name) + ((name, frame),)
    return replace(state, timers=timers)


def _clear_timers(state: CallState, *names: str) -> CallState:
    if not names:
        return replace(state, timers=())
    return replace(state, timers=tuple((n, f) for n, f in state.timers if n not in names))


#: Answers to look-ups: taken only when their ``request_id`` is the one the flow waits for.
_ANSWERS = (AuthResult, CallAllowedResult, NumberResult, LookupFailed)


class CallFlow:
    """The rules of one facility line, from the configuration's facility profile.

    Parameters
    ----------
    cfg
        A :class:`phonesim.config.Config`; only ``cfg.profile`` is read.
    threeway_policy
        Something with ``.decide(event, *, privileged) -> "log"|"warn"|"disconnect"|None``;
        by default :class:`phonesim.facility.threeway.ThreeWayPolicy` of the profile.
    """

    def __init__(self, cfg, *, threeway_policy=None) -> None:
        p = cfg.profile
        self.profile = p
        self.keys = {name: str(p.called_party[name]) for name in ("accept", "decline", "rates", "block")}
        self.pin_max_failures = int(p.pin.max_failures)
        self.tax_percent = float(p.billing.tax_percent)
        self.courtesy_call_s = int(p.billing.courtesy_call_max_s)
        # the provider's number, said digit by digit to a family that needs an account
        self.provider_digits = "".join(ch for ch in str(p.family.provider_phone) if ch.isdigit())
        # "id+pin": the ID number, then the PIN, keyed together (the ledger splits them)
        self.enter_pin = "enter_id_pin" if p.pin.login == "id+pin" else "enter_pin"
        self.first_digit_frames = frames_from_s(p.pin.first_digit_timeout_s)
        self.inter_digit_frames = frames_from_s(p.pin.inter_digit_timeout_s)
        self.call_limit_s = int(p.limits.call_limit_s)
        self.warn_before_s = tuple(int(w) for w in p.limits.warn_before_limit_s)
        self.ring_timeout_frames = frames_from_s(p.limits.ring_timeout_s)
        self.accept_timeout_frames = frames_from_s(p.limits.accept_timeout_s)
        self.minute_frames = frames_from_s(60)
        self.lookup_timeout_s = float(p.limits.lookup_timeout_s)
        self.lookup_timeout_frames = frames_from_s(self.lookup_timeout_s)
        self.billing_outage_frames = frames_from_s(p.limits.billing_outage_s)
        self.threeway_on_privileged = bool(p.threeway.detect_on_privileged)
        self.record_names = bool(p.names.record_on_first_call)
        self.name_max_s = float(p.names.record_max_s)
        if threeway_policy is None:
            threeway_policy = ThreeWayPolicy(p.threeway)
        self.threeway_policy = threeway_policy

    # --- the entry points ---------------------------------------------------------
    def initial_state(self) -> CallState:
        return CallState()

    def due_timers(self, state: CallState, now_frame: int) -> list[Timer]:
        """The timers that have expired at ``now_frame``, earliest first."""
        due = sorted((f, n) for n, f in state.timers if f <= now_frame)
        return [Timer(n) for _, n in due]

    def handle(self, state: CallState, event, now_frame: int) -> tuple[CallState, list]:
        """Apply one event; return the new state and the actions to carry out."""
        new, actions = self._route(state, event, now_frame)
        if new.phase is not state.phase:
            new, more = self._entered(new, now_frame)
            actions = actions + more
        return new, actions

    def _route(self, state: CallState, event, now: int) -> tuple[CallState, list]:
        if isinstance(event, HookChanged):
            return self._on_hook(state, event, now)
        if isinstance(event, Shutdown):
            if state.phase in (Phase.IDLE, Phase.DONE):
                return state, []
            return self._finish(state, self._abandon_disposition(state), extra=[
                StopPrompt(INMATE), StopPrompt(FAR), LogEvent.of("shutdown", reason=event.reason)])
        if isinstance(event, InboundCall):
            return state, [RejectInbound(event.caller),
                           LogEvent.of("inbound-refused", caller=event.caller)]
        if isinstance(event, Lockdown | CutOff):
            return self._stop_now(state, event, now)
        if isinstance(event, _ANSWERS):
            if not state.request_id or event.request_id != state.request_id:
                # the answer to a question nobody waits for any more (timed out, hung up)
                if state.phase in (Phase.IDLE, Phase.DONE):
                    return state, []
                return state, [LogEvent.of("late-answer", answer=type(event).__name__,
                                           request_id=event.request_id)]
            state = replace(_clear_timers(state, "deadline"), request_id=0, lookup="")
            if isinstance(event, LookupFailed):
                return self._system_error(state, now, event.what, event.error)
        if isinstance(event, Timer):
            if state.timer(event.name) is None:
                return state, []                       # stale: cancelled or already handled
            state = _clear_timers(state, event.name)
            if event.name == "deadline":
                return self._deadline(state, now)
        if isinstance(event, DigitDetected) and state.phase in KEEP_KEYS_PHASES:
            if len(state.typeahead) >= TYPEAHEAD_MAX:
                return state, [LogEvent.of("typeahead-full", kept=len(state.typeahead))]
            return replace(state, typeahead=state.typeahead + event.digit), []
        if isinstance(event, PromptFinished) and event.direction == INMATE \
                and event.tag == state.inmate_prompt:
            state = replace(state, inmate_prompt="")
        handler = getattr(self, f"_in_{state.phase.name.lower()}")
        return handler(state, event, now)

    def _entered(self, state: CallState, now: int) -> tuple[CallState, list]:
        """What entering a phase does, whichever transition led there: its deadline, the
        detectors that listen in it, and the keys typed ahead while a look-up was pending."""
        state = _clear_timers(state, "deadline")
        deadline = self._deadline_frames(state.phase)
        if deadline:
            state = _set_timer(state, "deadline", now + deadline)
        state = replace(state, listening=self.listening(state))
        actions: list = []
        if state.phase in INPUT_PHASES:
            while state.typeahead and state.phase in INPUT_PHASES:
                digit = state.typeahead[0]
                state, more = self.handle(replace(state, typeahead=state.typeahead[1:]),
                                          DigitDetected(digit), now)
                actions += more
        elif state.phase not in KEEP_KEYS_PHASES and state.typeahead:
            state = replace(state, typeahead="")     # as if they had come after the look-up: ignored
        return state, actions

    def listening(self, state: CallState) -> Listening:
        """Which detectors run in the state's phase (see :class:`Listening`)."""
        phase = state.phase
        return Listening(
            inmate_dtmf=phase not in (Phase.IDLE, Phase.DONE),
            far_dtmf=phase is Phase.ANNOUNCING,
            threeway=phase is Phase.CONNECTED and (not state.privileged or self.threeway_on_privileged))

    def _deadline_frames(self, phase: Phase) -> int | None:
        if phase in LOOKUP_PHASES:
            return self.lookup_timeout_frames
        if phase in INPUT_PHASES:
            return INPUT_DEADLINE_FRAMES
        if phase in (Phase.HOLD, Phase.RECORDING_NAME):
            return HOLD_DEADLINE_FRAMES
        if phase is Phase.ANNOUNCING:
            return self.accept_timeout_frames + ANNOUNCE_DEADLINE_EXTRA_FRAMES
        return None                 # IDLE, DONE; RINGING, CONNECTED and ENDING have their own timers

    def _deadline(self, state: CallState, now: int) -> tuple[CallState, list]:
        if state.phase in LOOKUP_PHASES:
            what = state.lookup
            state = replace(state, request_id=0, lookup="")
            return self._system_error(state, now, what,
                                      f"no answer within {self.lookup_timeout_s:g} s")
        if state.phase in INPUT_PHASES:
            return self._end(state, self._abandon_disposition(state), now, inmate=("goodbye",))
        if state.phase is Phase.ANNOUNCING:
            return self._end(state, Disposition.NO_ANSWER, now, inmate=("no_answer", "goodbye"),
                             far=("party_no_response",))
        state, actions = self._end(state, Disposition.SYSTEM_ERROR, now,
                                   inmate=("system_error", "goodbye"))
        return state, [LogEvent.of("deadline", phase=state.phase.value)] + actions

    def _stop_now(self, state: CallState, event: Lockdown | CutOff, now: int):
        """A lockdown of the unit or an officer's cut-off: whatever the phase, both parties hear
        why and the attempt ends with its own disposition."""
        if state.phase in (Phase.IDLE, Phase.DONE, Phase.ENDING):
            return state, []
        if isinstance(event, Lockdown):
            disposition, prompt = Disposition.LOCKDOWN, "lockdown_now"
            log = LogEvent.of("lockdown", reason=event.reason)
        else:
            disposition, prompt = Disposition.CUT_OFF, "call_cut_off"
            log = LogEvent.of("cut-off", by=event.by, reason=event.reason)
        who = [SetCdr.of(cut_off_by=event.by)] if isinstance(event, CutOff) else []
        state, actions = self._end(state, disposition, now, inmate=(prompt, "goodbye"), far=(prompt,))
        return state, [log, *who, StopPrompt(INMATE), StopPrompt(FAR)] + actions

    def _system_error(self, state: CallState, now: int, what: str, error: str):
        """A look-up failed or never answered: say so to the caller, end with its own disposition."""
        state, actions = self._end(state, Disposition.SYSTEM_ERROR, now,
                                   inmate=("system_error", "goodbye"), far=("system_error",))
        return state, [LogEvent.of("lookup-failed", what=what, error=error)] + actions

    @staticmethod
    def _ask(state: CallState, phase: Phase, what: str) -> tuple[CallState, int]:
        """Enter a look-up phase with a fresh request id (the answer must carry it)."""
        request_id = state.request_seq + 1
        return replace(state, phase=phase, request_seq=request_id, request_id=request_id,
                       lookup=what), request_id

    # --- hook and teardown -------------------------------------------------------------
    def _on_hook(self, state: CallState, event: HookChanged, now: int):
        fresh = CallState(request_seq=state.request_seq)
        if event.off_hook:
            if state.phase is not Phase.IDLE:
                return state, []
            state = replace(fresh, phase=Phase.PIN, inmate_prompt="enter_pin")
            return state, [OpenCdr(),
                           PlayPrompt(("welcome", self.enter_pin), INMATE, "enter_pin", barge_in=True)]
        if state.phase in (Phase.IDLE, Phase.DONE):
            return fresh, []
        if state.phase is Phase.ENDING:
            disposition = state.disposition
        else:
            disposition = self._abandon_disposition(state)
        state, actions = self._finish(state, disposition, extra=[
            StopPrompt(INMATE), StopPrompt(FAR), LogEvent.of("inmate-hung-up")])
        return fresh, actions

    def _abandon_disposition(self, state: CallState) -> str:
        if state.phase is Phase.CONNECTED:
            return Disposition.HUNG_UP
        if state.phase is Phase.ENDING:
            return state.disposition
        if not state.inmate_id and state.pin_failures > 0:
            return Disposition.INVALID_PIN
        return Disposition.ABANDONED

    def _teardown(self, state: CallState) -> tuple[CallState, list]:
        actions: list = []
        if state.ringback:
            actions.append(StopTone(INMATE))
        if state.warnings:
            actions.append(StopWarnings())
        if state.recording:
            actions.append(StopRecording())
        if state.bridged:
            actions.append(Unbridge())
        state = replace(_clear_timers(state), ringback=False, warnings=False, recording=False,
                        bridged=False)
        return state, actions

    def _end(self, state: CallState, disposition: str, now: int, *,
             inmate: tuple[str, ...] = (), far: tuple[str, ...] = (), hang_up_far: bool = True):
        """End the attempt: tear down, play the final prompts, then EndCall."""
        state, actions = self._teardown(state)
        actions.append(LogEvent.of("ending", disposition=disposition))
        awaiting: tuple[str, ...] = ()
        if inmate:
            actions.append(PlayPrompt(inmate, INMATE, "final"))
            awaiting += ("final",)
        if far and state.far_active:
            actions.append(PlayPrompt(far, FAR, "final_far"))
            awaiting += ("final_far",)
        elif state.far_active and hang_up_far:
            actions.append(HangUpFarEnd())
            state = replace(state, far_active=False)
        if not awaiting:
            state, more = self._finish(state, disposition)
            return state, actions + more
        state = replace(state, phase=Phase.ENDING, disposition=disposition, awaiting=awaiting,
                        inmate_prompt="")
        state = _set_timer(state, "end", now + ENDING_GRACE_FRAMES)
        return state, actions

    def _finish(self, state: CallState, disposition: str, *, extra: list | None = None):
        state, actions = self._teardown(state)
        actions = list(extra or []) + actions
        if state.far_active:
            actions.append(HangUpFarEnd())
        actions.append(EndCall(disposition))
        return replace(state, phase=Phase.DONE, far_active=False, disposition=disposition,
                       awaiting=(), timers=()), actions

    # --- PIN ---------------------------------------------------------------------------
    def _in_idle(self, state, event, now):
        return state, []

    def _in_done(self, state, event, now):
        if isinstance(event, FarEndHungUp):
            return replace(state, far_active=False), []
        return state, []

    def _barge(self, state: CallState) -> tuple[CallState, list]:
        if state.inmate_prompt:
            return replace(state, inmate_prompt=""), [StopPrompt(INMATE)]
        return state, []

    def _in_pin(self, state, event, now):
        if isinstance(event, PromptFinished) and event.direction == INMATE and event.tag == "enter_pin":
            if not event.interrupted and not state.digits:
                return _set_timer(state, "pin_first", now + self.first_digit_frames), []
            return state, []
        if isinstance(event, DigitDetected):
            state, actions = self._barge(state)
            state = _clear_timers(state, "pin_first")
            if event.digit == "#":
                return self._submit_pin(state, actions)
            if event.digit == "*":                     # start the PIN again
                state = _clear_timers(replace(state, digits=""), "digit")
                return _set_timer(state, "pin_first", now + self.first_digit_frames), actions
            if event.digit.isdigit():
                if len(state.digits) < MAX_LOGIN_DIGITS:      # more is no login: kept out of memory
                    state = replace(state, digits=state.digits + event.digit)
                state = _set_timer(state, "digit", now + self.inter_digit_frames)
            return state, actions
        if isinstance(event, Timer):
            if event.name == "digit" and state.digits:
                return self._submit_pin(state, [])
            if event.name == "pin_first":
                if state.menu_tries + 1 < MAX_MENU_TRIES:
                    state = replace(state, menu_tries=state.menu_tries + 1, inmate_prompt="enter_pin")
                    return state, [PlayPrompt((self.enter_pin,), INMATE, "enter_pin", barge_in=True)]
                return self._end(state, self._abandon_disposition(state), now, inmate=("goodbye",))
        return state, []

    def _submit_pin(self, state: CallState, actions: list):
        pin = state.digits
        state = replace(_clear_timers(state, "digit", "pin_first"), digits="")
        state, request = self._ask(state, Phase.AUTHENTICATING, LookupKind.AUTHENTICATE)
        return state, actions + [LogEvent.of("pin-entered", digits=len(pin)),
                                 Authenticate(pin, request, state.pin_failures)]

    def _in_authenticating(self, state, event, now):
        if not isinstance(event, AuthResult):
            return state, []
        if event.ok:
            state = replace(state, inmate_id=event.inmate_id, name_prompt=event.name_prompt, menu_tries=0)
            actions: list = [SetCdr.of(inmate_id=event.inmate_id), LogEvent.of("pin-ok")]
            if not event.name_prompt and self.record_names:
                # the first call: the called party must hear who calls, in the inmate's own voice
                state = replace(state, phase=Phase.RECORDING_NAME, inmate_prompt="record_name")
                return state, actions + [PlayPrompt(("record_name",), INMATE, "record_name")]
            state, request = self._ask(state, Phase.CHECKING_ALLOWED, LookupKind.CALL_ALLOWED)
            return state, actions + [CheckCallAllowed(event.inmate_id, request)]
        failures = state.pin_failures + 1
        state = replace(state, pin_failures=failures)
        if event.locked or failures >= self.pin_max_failures:
            return self._end(state, Disposition.LOCKED, now, inmate=("account_locked", "goodbye"))
        state = replace(state, phase=Phase.PIN, inmate_prompt="enter_pin", menu_tries=0)
        return state, [LogEvent.of("pin-invalid", failures=failures),
                       PlayPrompt(("invalid_pin", self.enter_pin), INMATE, "enter_pin", barge_in=True)]

    def _in_recording_name(self, state, event, now):
        if isinstance(event, PromptFinished) and event.direction == INMATE and event.tag == "record_name":
            state = _set_timer(state, "name", now + frames_from_s(self.name_max_s))
            return state, [StartNameCapture(state.inmate_id, self.name_max_s)]
        if isinstance(event, Timer) and event.name == "name":
            prompt = f"name:{state.inmate_id}"
            state = replace(state, name_prompt=prompt)
            actions: list = [SaveName(state.inmate_id, prompt), LogEvent.of("name-recorded"),
                             PlayPrompt(("name_recorded",), INMATE, "name_recorded")]
            state, request = self._ask(state, Phase.CHECKING_ALLOWED, LookupKind.CALL_ALLOWED)
            return state, actions + [CheckCallAllowed(state.inmate_id, request)]
        return state, []

    # --- policy, call type, number ------------------------------------------------------
    def _in_checking_allowed(self, state, event, now):
        if not isinstance(event, CallAllowedResult):
            return state, []
        if not event.ok:
            disposition = next((d for d in (event.disposition, event.reason) if d in _KNOWN_DISPOSITIONS),
                               _REFUSAL_DISPOSITIONS.get(event.prompt, Disposition.RESTRICTED))
            prompts = tuple(x for x in (event.prompt, "goodbye") if x)
            return self._end(state, disposition, now, inmate=prompts)
        max_call_s = int(event.max_call_s) if event.max_call_s else self.call_limit_s
        state = replace(state, max_call_s=max_call_s, phase=Phase.CALL_TYPE, inmate_prompt="menu")
        return state, [PlayPrompt(("call_type_menu",), INMATE, "menu", barge_in=True)]

    def _menu_retry(self, state: CallState, now: int):
        tries = state.menu_tries + 1
        if tries >= MAX_MENU_TRIES:
            return self._end(replace(state, menu_tries=tries), Disposition.ABANDONED, now,
                             inmate=("goodbye",))
        state = replace(_clear_timers(state, "menu"), menu_tries=tries, inmate_prompt="menu")
        return state, [PlayPrompt(("call_type_menu",), INMATE, "menu", barge_in=True)]

    def _in_call_type(self, state, event, now):
        if isinstance(event, PromptFinished) and event.direction == INMATE and event.tag == "menu":
            if not event.interrupted:
                return _set_timer(state, "menu", now + self.first_digit_frames), []
            return state, []
        if isinstance(event, DigitDetected):
            state, actions = self._barge(state)
            call_type = CALL_TYPES.get(event.digit)
            if call_type is None:
                state, more = self._menu_retry(state, now)
                return state, actions + more
            state = replace(_clear_timers(state, "menu"), call_type=call_type, phase=Phase.NUMBER,
                            digits="", menu_tries=0, inmate_prompt="enter_number")
            return state, actions + [SetCdr.of(call_type=call_type), LogEvent.of("call-type", call_type=call_type),
                                     PlayPrompt(("enter_number",), INMATE, "enter_number", barge_in=True)]
        if isinstance(event, Timer) and event.name == "menu":
            return self._menu_retry(state, now)
        return state, []

    def _in_number(self, state, event, now):
        if isinstance(event, PromptFinished) and event.direction == INMATE and event.tag == "enter_number":
            if not event.interrupted and not state.digits:
                return _set_timer(state, "number_first", now + self.first_digit_frames), []
            return state, []
        if isinstance(event, DigitDetected):
            state, actions = self._barge(state)
            state = _clear_timers(state, "number_first")
            if event.digit == "#":
                if state.digits:
                    return self._submit_number(state, actions)
                return state, actions
            if event.digit == "*":                     # start the number again
                state = _clear_timers(replace(state, digits=""), "number_done", "digit")
                return _set_timer(state, "number_first", now + self.first_digit_frames), actions
            if event.digit.isdigit():
                digits = state.digits + event.digit
                state = _set_timer(replace(state, digits=digits), "digit", now + self.inter_digit_frames)
                complete = (len(digits) == 10 and digits[0] not in "01") or \
                    (len(digits) == 11 and digits[0] == "1")
                if complete:
                    state = _set_timer(state, "number_done", now + NUMBER_COMPLETE_PAUSE_FRAMES)
                else:
                    state = _clear_timers(state, "number_done")
            return state, actions
        if isinstance(event, Timer):
            if event.name in ("digit", "number_done") and state.digits:
                return self._submit_number(state, [])
            if event.name == "number_first":
                return self._end(state, Disposition.ABANDONED, now, inmate=("goodbye",))
        return state, []

    def _submit_number(self, state: CallState, actions: list):
        number = state.digits
        state = replace(_clear_timers(state, "digit", "number_done", "number_first"), digits="",
                        number=number)
        state, request = self._ask(state, Phase.CHECKING_NUMBER, LookupKind.NUMBER)
        return state, actions + [SetCdr.of(number=number),
                                 LogEvent.of("number-entered", number=number),
                                 CheckNumber(number, state.call_type, state.inmate_id, request)]

    def _in_checking_number(self, state, event, now):
        if not isinstance(event, NumberResult):
            return state, []
        if not event.ok:
            disposition = event.disposition if event.disposition in _KNOWN_DISPOSITIONS \
                else Disposition.NOT_ALLOWED_NUMBER
            prompt = event.prompt or "number_invalid"
            return self._end(state, disposition, now, inmate=(prompt, "goodbye"))
        number = event.number or state.number
        rate = 0 if event.privileged else int(event.cents_per_min)
        cents = 0 if event.privileged else int(event.minute_charge_cents or event.cents_per_min)
        limit_s = state.max_call_s or self.call_limit_s
        limit_disposition = Disposition.TIME_LIMIT
        if cents > 0 and event.affordable_minutes is not None:
            if event.affordable_minutes <= 0:
                return self._end(state, Disposition.INSUFFICIENT_FUNDS, now,
                                 inmate=("insufficient_funds", "goodbye"))
            funds_s = int(event.affordable_minutes) * 60
            if funds_s < limit_s:
                limit_s, limit_disposition = funds_s, Disposition.FUNDS_EXHAUSTED
        if event.courtesy == Courtesy.FREE_CALL:
            limit_s = min(limit_s, self.courtesy_call_s)
        minutes = max(1, math.ceil(limit_s / 60))
        payer_kind, payer_id = self._payer(state, event, number)
        state = replace(state, number=number, privileged=event.privileged, cents_per_min=cents,
                        rate_cents=rate, payer_kind=payer_kind, payer_id=payer_id, courtesy=event.courtesy,
                        limit_frames=frames_from_s(limit_s), limit_disposition=limit_disposition,
                        phase=Phase.HOLD)
        hold: tuple[str, ...] = ("please_hold",)
        if event.courtesy == Courtesy.FREE_CALL:
            hold += ("inmate_courtesy_call",)
        if event.courtesy != Courtesy.SETUP_ONLY:
            hold += ("call_limit_is", f"say_number:{minutes}", "minute" if minutes == 1 else "minutes")
        cdr = {"courtesy": event.courtesy} if event.courtesy else {}
        return state, [
            SetCdr.of(number=number, jurisdiction=event.jurisdiction, privileged=event.privileged,
                      cents_per_min=rate, payer_kind=payer_kind, payer_id=payer_id, **cdr),
            PlayPrompt(hold, INMATE, "hold"),
        ]

    @staticmethod
    def _payer(state: CallState, event: NumberResult, number: str) -> tuple[str, str]:
        """Who pays each minute: nobody for a privileged call; else the payer the number
        check found, by default the inmate (debit) or the called number's account."""
        if event.privileged:
            return PayerKind.FREE, ""
        kind = event.payer_kind or {CallType.DEBIT: PayerKind.DEBIT, CallType.COLLECT: PayerKind.COLLECT,
                                    CallType.PREPAID: PayerKind.PREPAID}[CallType(state.call_type)]
        return PayerKind(kind), event.payer_id or (state.inmate_id if kind == PayerKind.DEBIT else number)

    # --- dialling and the called party --------------------------------------------------
    def _in_hold(self, state, event, now):
        if isinstance(event, PromptFinished) and event.direction == INMATE and event.tag == "hold":
            state = _set_timer(replace(state, phase=Phase.RINGING, far_active=True), "ring",
                               now + self.ring_timeout_frames)
            return state, [SetCdr.of(dialled_frame=now), LogEvent.of("dial", number=state.number),
                           Dial(state.number)]
        return state, []

    def _in_ringing(self, state, event, now):
        if isinstance(event, FarEndRinging):
            if state.ringback:
                return state, []
            return replace(state, ringback=True), [PlayTone("ringback", INMATE)]
        if isinstance(event, FarEndBusy):
            state = replace(state, far_active=False)
            return self._end(state, Disposition.BUSY, now, inmate=("busy", "goodbye"))
        if isinstance(event, FarEndNoAnswer) or (isinstance(event, Timer) and event.name == "ring"):
            return self._end(state, Disposition.NO_ANSWER, now, inmate=("no_answer", "goodbye"))
        if isinstance(event, FarEndFailed):
            state = replace(state, far_active=False)
            state, actions = self._end(state, Disposition.FAILED, now, inmate=("call_failed", "goodbye"))
            return state, [LogEvent.of("far-end-failed", reason=event.reason)] + actions
        if isinstance(event, FarEndHungUp):
            state = replace(state, far_active=False)
            return self._end(state, Disposition.NO_ANSWER, now, inmate=("no_answer", "goodbye"))
        if isinstance(event, FarEndAnswered):
            state = replace(_clear_timers(state, "ring"), phase=Phase.ANNOUNCING)
            if state.courtesy == Courtesy.SETUP_ONLY:        # told how to set up an account; no call
                return state, [SetCdr.of(answered_frame=now), LogEvent.of("answered"),
                               PlayPrompt(self.announcement(state), FAR, "setup")]
            return state, [SetCdr.of(answered_frame=now), LogEvent.of("answered"),
                           PlayPrompt(self.announcement(state), FAR, "announce", barge_in=True)]
        return state, []

    def key_words(self, key: str) -> str:
        return _KEY_WORDS.get(key, f"digit_{key}")

    def choices(self, *, rates: bool = True) -> tuple[str, ...]:
        """The called party's keys, spoken: accept, decline, block, and rates when the call costs."""
        k = self.keys
        spoken = ("party_press_to_accept", self.key_words(k["accept"]),
                  "party_press_to_decline", self.key_words(k["decline"]),
                  "party_press_to_block", self.key_words(k["block"]))
        return spoken + (("party_press_for_rates", self.key_words(k["rates"])) if rates else ())

    @staticmethod
    def _free(state: CallState) -> bool:
        """A call nobody pays for: an attorney's (privileged) or a courtesy call."""
        return state.privileged or bool(state.courtesy)

    def announcement(self, state: CallState) -> tuple[str, ...]:
        """What the called party hears on answering.

        A free call (an attorney's, or a courtesy call) is announced as free and offers no
        rates; an attorney's call has no monitoring notice; a number with no account hears
        how to set one up (the provider's number, digit by digit)."""
        call_type = state.call_type or "collect"
        who = (state.name_prompt,) if state.name_prompt else ()
        opening = "party_free_call_from" if state.privileged else f"party_{call_type}_call_from"
        names = (opening, *who, "party_an_inmate_at", "facility_name")
        if state.courtesy:
            setup = ("party_no_account",) + (("party_courtesy_free",) if state.courtesy == Courtesy.FREE_CALL
                                             else ()) + ("party_setup_account",) + self.spoken_provider_phone()
            if state.courtesy == Courtesy.SETUP_ONLY:
                return names + setup + ("goodbye",)
            names += setup
        if not state.privileged:
            names += ("party_monitored",)
        return names + self.choices(rates=not self._free(state))

    def spoken_provider_phone(self) -> tuple[str, ...]:
        return tuple(f"digit_{d}" for d in self.provider_digits)

    def rate_quote(self, state: CallState) -> tuple[str, ...]:
        return ("party_rate_is", f"say_number:{state.rate_cents}", "cents_per_minute") + self.choices()

    def _far_key(self, state: CallState, event: FarEndDigit, now: int) -> tuple[CallState, str | None]:
        """Merge in-band and RFC 4733 digits: the same digit from the other source is one key."""
        digit, frame, source = state.last_far_key
        if digit == event.digit and source != event.source and now - frame <= DUPLICATE_KEY_WINDOW_FRAMES:
            return state, None
        return replace(state, last_far_key=(event.digit, now, event.source)), event.digit

    def _in_announcing(self, state, event, now):
        if state.courtesy == Courtesy.SETUP_ONLY:
            return self._in_setup_announcement(state, event, now)
        if isinstance(event, PromptFinished) and event.direction == FAR:
            if event.tag in ("announce", "rates") and not event.interrupted:
                return _set_timer(state, "accept", now + self.accept_timeout_frames), []
            return state, []
        if isinstance(event, Timer) and event.name == "accept":
            return self._end(state, Disposition.NO_ANSWER, now, inmate=("no_answer", "goodbye"),
                             far=("party_no_response",))
        if isinstance(event, FarEndHungUp | FarEndFailed):
            state = replace(state, far_active=False)
            return self._end(state, Disposition.DECLINED, now, inmate=("call_declined", "goodbye"))
        if not isinstance(event, FarEndDigit):
            return state, []
        state, key = self._far_key(state, event, now)
        if key is None:
            return state, []
        log = LogEvent.of("far-key", digit=key, source=event.source)
        k = self.keys
        if key == k["rates"] and not self._free(state):
            state = _clear_timers(state, "accept")
            return state, [log, StopPrompt(FAR), PlayPrompt(self.rate_quote(state), FAR, "rates",
                                                            barge_in=True)]
        if key == k["decline"]:
            state, actions = self._end(state, Disposition.DECLINED, now, inmate=("call_declined", "goodbye"))
            return state, [log, StopPrompt(FAR)] + actions
        if key == k["block"]:
            state, actions = self._end(state, Disposition.BLOCKED_BY_CALLED_PARTY, now,
                                       inmate=("number_blocked_by_party", "goodbye"),
                                       far=("party_blocked",))
            return state, [log, StopPrompt(FAR), BlockNumber(state.number)] + actions
        if key == k["accept"]:
            return self._accept(state, now, [log, StopPrompt(FAR)])
        return state, [log]

    def _in_setup_announcement(self, state, event, now):
        """The number has no account: once the called party has heard how to set one up (or hung
        up on it), the attempt ends ``no-account``; keys change nothing."""
        done = (isinstance(event, PromptFinished) and event.direction == FAR and event.tag == "setup") or \
            isinstance(event, FarEndHungUp | FarEndFailed)
        if not done:
            return state, []
        if isinstance(event, FarEndHungUp | FarEndFailed):
            state = replace(state, far_active=False)
        return self._end(state, Disposition.NO_ACCOUNT, now, inmate=("inmate_needs_account", "goodbye"))

    def _accept(self, state: CallState, now: int, actions: list):
        if state.ringback:
            actions.append(StopTone(INMATE))
        actions += [PlayPrompt(("party_accepted",), FAR, "accepted"), Bridge()]
        recording = not state.privileged
        if recording:
            actions.append(StartRecording())
        actions += [StartWarnings(), SetCdr.of(accepted_frame=now), LogEvent.of("accepted")]
        state = replace(_clear_timers(state, "accept"), phase=Phase.CONNECTED, ringback=False,
                        bridged=True, recording=recording, warnings=True, connected_frame=now,
                        minutes_started=0)
        state = _set_timer(state, "limit", now + state.limit_frames)
        for w in self.warn_before_s:
            at = now + state.limit_frames - frames_from_s(w)
            if at > now:
                state = _set_timer(state, f"warn_{w}", at)
        state, more = self._start_minute(state, now)
        return state, actions + more

    # --- connected -----------------------------------------------------------------------
    def _charge(self, state: CallState, index: int) -> Charge:
        """Minute ``index``'s charge: the call's tax is rounded once, so the minutes of one call
        may differ by a cent (:func:`phonesim.facility.rates.minute_charge_at_cents`)."""
        cents = minute_charge_at_cents(state.rate_cents, self.tax_percent, index) if state.cents_per_min else 0
        return Charge(index, cents, state.payer_kind, state.payer_id)

    def _start_minute(self, state: CallState, now: int):
        index = state.minutes_started
        # privileged calls are charged 0 cents: the ledger records the free minute
        actions: list = [self._charge(state, index), SetCdr.of(billed_minutes=index + 1)]
        state = replace(state, minutes_started=index + 1)
        next_at = state.connected_frame + (index + 1) * self.minute_frames
        if next_at < state.connected_frame + state.limit_frames:
            state = _set_timer(state, "minute", next_at)
        return state, actions

    def _in_connected(self, state, event, now):
        if isinstance(event, Timer):
            if event.name == "minute":
                return self._start_minute(state, now)
            if event.name == "limit":
                prompt = "time_limit_reached" if state.limit_disposition == "time-limit" \
                    else "funds_exhausted"
                return self._end(state, state.limit_disposition, now, inmate=(prompt, "goodbye"),
                                 far=(prompt,))
            if event.name == "charge_retry":
                if not state.unbilled:
                    return state, []
                state = _set_timer(state, "charge_retry", now + CHARGE_RETRY_FRAMES)
                return state, [self._charge(state, i) for i in state.unbilled]
            if event.name.startswith("warn_"):
                return state, [PlayPrompt(("one_minute_remaining",), INMATE, "one_minute"),
                               PlayPrompt(("one_minute_remaining",), FAR, "one_minute"),
                               LogEvent.of("limit-warning", before_s=int(event.name[5:]))]
            return state, []
        if isinstance(event, ChargeResult):
            return self._charged(state, event, now)
        if isinstance(event, FarEndHungUp | FarEndFailed):     # a lost line ends the call too
            state = replace(state, far_active=False)
            state, actions = self._end(state, Disposition.COMPLETED, now, inmate=("goodbye",))
            if isinstance(event, FarEndFailed):
                actions.insert(0, LogEvent.of("far-end-failed", reason=event.reason))
            return state, actions
        if isinstance(event, ThreeWaySuspected):
            return self._threeway(state, event, now)
        if isinstance(event, FarEndDigit):
            state, key = self._far_key(state, event, now)
            if key is None:
                return state, []
            return state, [LogEvent.of("far-key", digit=key, source=event.source)]
        if isinstance(event, DigitDetected):
            return state, [LogEvent.of("inmate-key", digit=event.digit)]
        return state, []

    def _charged(self, state: CallState, event: ChargeResult, now: int):
        """A minute's charge answered: fine, refused (the money ran out), or not made at all
        (the database is away: keep the call up, retry idempotently, and end it only when
        billing stays away longer than ``limits.billing_outage_s``)."""
        index = event.minute_index
        if event.error:
            unbilled = state.unbilled if index in state.unbilled else state.unbilled + (index,)
            down = state.billing_down_frame if state.billing_down_frame >= 0 else now
            state = replace(state, unbilled=unbilled, billing_down_frame=down)
            log = LogEvent.of("charge-failed", minute_index=index, error=event.error)
            if now - down >= self.billing_outage_frames:
                state, actions = self._end(state, Disposition.SYSTEM_ERROR, now,
                                           inmate=("system_error", "goodbye"), far=("system_error",))
                return state, [log] + actions
            if state.timer("charge_retry") is None:
                state = _set_timer(state, "charge_retry", now + CHARGE_RETRY_FRAMES)
            return state, [log]
        actions: list = []
        if index in state.unbilled:
            unbilled = tuple(i for i in state.unbilled if i != index)
            state = replace(state, unbilled=unbilled)
            actions.append(LogEvent.of("charge-made-late", minute_index=index))
            if not unbilled:
                state = replace(_clear_timers(state, "charge_retry"), billing_down_frame=-1)
        if event.ok:
            return state, actions
        state, more = self._end(state, Disposition.FUNDS_EXHAUSTED, now,
                                inmate=("funds_exhausted", "goodbye"), far=("funds_exhausted",))
        return state, actions + [LogEvent.of("charge-refused", minute_index=index)] + more

    def _threeway(self, state: CallState, event: ThreeWaySuspected, now: int):
        """A detection: ``confirmed`` ones are acted on (``on_confirmed``), ``suspected`` ones are
        logged and flag the call for review (``on_suspected``); below that a ``three-way-note``
        keeps the evidence in the CDR without flagging anything."""
        policy = self.threeway_policy
        level = policy.classify(event)
        decision = policy.action_for(level, privileged=state.privileged)
        if decision is None:
            return state, []
        log = LogEvent.of("three-way" if level else "three-way-note", kind=event.kind,
                          confidence=round(float(event.confidence), 3), level=level or "note", action=decision)
        if decision == "disconnect":
            state, actions = self._end(state, Disposition.THREE_WAY_DETECTED, now,
                                       inmate=("threeway_not_allowed", "goodbye"),
                                       far=("threeway_not_allowed",))
            return state, [log] + actions
        if decision == "warn" and now - state.threeway_warned_frame >= THREEWAY_WARN_GAP_FRAMES:
            state = replace(state, threeway_warned_frame=now)
            return state, [log, PlayPrompt(("threeway_not_allowed",), INMATE, "threeway"),
                           PlayPrompt(("threeway_not_allowed",), FAR, "threeway")]
        return state, [log]

    # --- ending ------------------------------------------------------------------------
    def _in_ending(self, state, event, now):
        if isinstance(event, FarEndHungUp | FarEndFailed):
            state = replace(state, far_active=False, awaiting=tuple(a for a in state.awaiting
                                                                    if a != "final_far"))
            if not state.awaiting:
                return self._finish(state, state.disposition)
            return state, []
        if isinstance(event, Timer) and event.name == "end":
            return self._finish(state, state.disposition)
        if isinstance(event, PromptFinished) and event.tag in state.awaiting and \
                event.direction == (INMATE if event.tag == "final" else FAR):
            state = replace(state, awaiting=tuple(a for a in state.awaiting if a != event.tag))
            actions: list = []
            if event.tag == "final_far" and state.far_active:
                actions.append(HangUpFarEnd())
                state = replace(state, far_active=False)
            if not state.awaiting:
                state, more = self._finish(state, state.disposition)
                actions += more
            return state, actions
        return state, []
