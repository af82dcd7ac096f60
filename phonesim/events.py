"""Events: frozen dataclasses that flow from devices and detectors to the call flow.

Events are plain data.  Devices (keypads, audio ports, the far end) and
detectors (DTMF, three-way) produce them; :class:`phonesim.facility.callflow.CallFlow`
consumes them.  Times are in frames or samples of the 8 kHz line (see
:mod:`phonesim.clock`), never wall-clock seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEYS = "0123456789*#ABCD"


# --- the handset and the keypad ----------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyDown:
    """A key went down on the keypad.  ``seq`` is the device's sequence number (or -1)."""

    key: str
    seq: int = -1


@dataclass(frozen=True, slots=True)
class KeyUp:
    """A key was released."""

    key: str
    seq: int = -1


@dataclass(frozen=True, slots=True)
class HookChanged:
    """The handset was lifted (``off_hook=True``) or put back."""

    off_hook: bool
    seq: int = -1


@dataclass(frozen=True, slots=True)
class LinkChanged:
    """The keypad link went down or came back (``up``), with a reason for the log."""

    up: bool
    reason: str = ""


# --- detectors ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DigitDetected:
    """A DTMF digit decoded from the handset's uplink audio.

    ``start_sample``/``end_sample`` count samples of the 8 kHz stream since the
    detector started; levels are per tone in dBm0; ``twist_db`` is high minus low.
    """

    digit: str
    start_sample: int = 0
    end_sample: int = 0
    low_dbm0: float = 0.0
    high_dbm0: float = 0.0
    twist_db: float = 0.0
    channel: int = 0


@dataclass(frozen=True, slots=True)
class FarEndDigit:
    """A DTMF digit decoded from the far end's audio (or received as RFC 4733)."""

    digit: str
    start_sample: int = 0
    end_sample: int = 0
    low_dbm0: float = 0.0
    high_dbm0: float = 0.0
    source: str = "inband"


@dataclass(frozen=True, slots=True)
class ThreeWaySuspected:
    """A three-way-call detector fired on the far-end audio, with its evidence.

    ``level`` is empty as the detector reports it; the facility's policy labels it
    "suspected" (logged, flagged for review) or "confirmed" (acted on), or leaves
    it empty for a note below suspicion (``ThreeWayPolicy.label``).
    """

    kind: str
    confidence: float
    at_frame: int
    evidence: dict = field(default_factory=dict, hash=False, compare=False)
    level: str = ""


# --- the far end ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FarEndRinging:
    """The outside line is ringing (ringback is heard by the caller)."""


@dataclass(frozen=True, slots=True)
class FarEndAnswered:
    """The called party picked up."""


@dataclass(frozen=True, slots=True)
class FarEndBusy:
    """The called number is busy."""


@dataclass(frozen=True, slots=True)
class FarEndNoAnswer:
    """Nobody answered within the ring timeout."""


@dataclass(frozen=True, slots=True)
class FarEndFailed:
    """The outside line could not place the call (network error, SIP 4xx/5xx)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class FarEndHungUp:
    """The called party hung up."""


@dataclass(frozen=True, slots=True)
class InboundCall:
    """Someone tried to call into a facility line; inmates cannot receive calls."""

    caller: str = ""


# --- the platform -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PromptFinished:
    """A prompt (or a queue of prompts) finished playing in one direction."""

    tag: str
    direction: str = "inmate"
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer the call flow set has expired."""

    name: str


@dataclass(frozen=True, slots=True)
class Lockdown:
    """The line's housing unit was locked down (count time, an incident): a call ends now."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class CutOff:
    """An officer cut the call off from the console; ``by`` is who (the CDR keeps it)."""

    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The program is stopping (Ctrl-C, SIGTERM): end any call cleanly."""

    reason: str = "shutdown"


# --- results of the call flow's look-ups (the line's executor feeds them back) -----
# A look-up is an action carrying a ``request_id``; its answer comes back frames later
# (real time: the database works on another thread) with the same ``request_id``, so the
# flow takes only the answer to the question it is waiting for, never a late answer to a
# question of an attempt that has already ended.  The platform's interfaces return these
# types with ``request_id=0``; the executor stamps the id.
@dataclass(frozen=True, slots=True)
class AuthResult:
    """The identity service's answer to an ``Authenticate`` action (PIN check)."""

    ok: bool
    inmate_id: str = ""
    name_prompt: str = "inmate_name_default"   # "": the inmate has no recorded name yet
    locked: bool = False
    failures: int = 0
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class CallAllowedResult:
    """The policy's answer to ``CheckCallAllowed`` (status, hours, wait, quota)."""

    ok: bool
    reason: str = ""
    prompt: str = ""
    max_call_s: int = 0
    disposition: str = ""
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class NumberResult:
    """The policy's answer to ``CheckNumber`` (blocks, approved list, funds, rate, who pays)."""

    ok: bool
    number: str = ""
    reason: str = ""
    prompt: str = ""
    disposition: str = ""
    jurisdiction: str = ""
    privileged: bool = False
    cents_per_min: int = 0
    payer_kind: str = ""
    payer_id: str = ""
    affordable_minutes: int | None = None
    minute_charge_cents: int = 0   # what one billed minute costs with taxes (0: the bare rate)
    request_id: int = 0
    courtesy: str = ""             # a collect call with no account: "free-call" or "setup-only"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The billing service's answer to a ``Charge`` action for one billed minute.

    ``ok=False`` with an empty ``error`` is a refusal (no funds, credit limit): nothing
    was charged and the call must end.  A non-empty ``error`` means the charge could not
    be made at all (the database is away): the flow retries it, idempotently.
    """

    minute_index: int
    ok: bool
    balance_after_cents: int = 0
    duplicate: bool = False
    error: str = ""
    amount_cents: int = 0


@dataclass(frozen=True, slots=True)
class LookupFailed:
    """A look-up raised instead of answering (the database is away, a rate is missing ...).

    ``what`` is a :class:`phonesim.facility.vocabulary.LookupKind` value; ``error`` the
    one-line cause, kept in the CDR timeline and the log.
    """

    request_id: int
    what: str
    error: str
