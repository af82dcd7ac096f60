"""Actions: what the call flow asks the line's executor to do.

The call flow (:mod:`phonesim.facility.callflow`) is a pure function; it never
touches a device, the ledger or a file.  It returns these frozen dataclasses and
the executor (:class:`phonesim.facility.line.FacilityLine`) carries them out.
Look-ups (PIN, policy, numbers, charges) come back to the flow as result events
(:mod:`phonesim.events`), so every rule can be tested as a table of
``(state, event) -> (state, actions)``.

Prompt names are the names of :class:`phonesim.facility.prompts.PromptSet`;
an item ``"say_number:15"`` or ``"say_cents:5"`` asks the executor to expand a
number into words with the prompt set (the flow stays free of the prompt set).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phonesim.facility.vocabulary import Direction

INMATE = Direction.INMATE
FAR = Direction.FAR


@dataclass(frozen=True, slots=True)
class OpenCdr:
    """Start a call detail record for this off-hook (one CDR per attempt)."""


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    """Queue prompts for one direction; ``barge_in`` prompts stop at the next key."""

    names: tuple[str, ...]
    to: str = INMATE
    tag: str = ""
    barge_in: bool = False


@dataclass(frozen=True, slots=True)
class StopPrompt:
    """Stop the prompt playing in one direction (barge-in)."""

    to: str = INMATE


@dataclass(frozen=True, slots=True)
class PlayTone:
    """Play a call-progress tone (``ringback``, ``busy`` ...) until stopped."""

    name: str
    to: str = INMATE


@dataclass(frozen=True, slots=True)
class StopTone:
    to: str = INMATE


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check a PIN; the answer comes back as :class:`phonesim.events.AuthResult`
    (or :class:`phonesim.events.LookupFailed`) with the same ``request_id``."""

    pin: str = field(repr=False)
    request_id: int = 0
    failures_before: int = 0      # wrong PINs already keyed in this attempt (charged to the PIN's owner)


@dataclass(frozen=True, slots=True)
class CheckCallAllowed:
    """Ask the policy whether this inmate may call now (CallAllowedResult)."""

    inmate_id: str
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class CheckNumber:
    """Validate a dialled number for a call type (NumberResult)."""

    number: str
    call_type: str
    inmate_id: str = ""
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class StartNameCapture:
    """Beep, then keep what the handset sends (the inmate says their name), up to ``max_s``."""

    inmate_id: str
    max_s: float


@dataclass(frozen=True, slots=True)
class SaveName:
    """Stop keeping the handset's audio; store it as the inmate's recorded name (a job) and make
    it the prompt ``prompt`` the called party hears."""

    inmate_id: str
    prompt: str


@dataclass(frozen=True, slots=True)
class Dial:
    number: str


@dataclass(frozen=True, slots=True)
class Bridge:
    """Connect the inmate's audio and the far end's audio."""


@dataclass(frozen=True, slots=True)
class Unbridge:
    pass


@dataclass(frozen=True, slots=True)
class StartRecording:
    pass


@dataclass(frozen=True, slots=True)
class StopRecording:
    pass


@dataclass(frozen=True, slots=True)
class StartWarnings:
    """Start injecting the warning message into both directions (profile schedule)."""


@dataclass(frozen=True, slots=True)
class StopWarnings:
    pass


@dataclass(frozen=True, slots=True)
class Charge:
    """Bill one started minute to its payer (idempotent by call id and minute index)."""

    minute_index: int
    cents: int
    payer_kind: str = ""
    payer_id: str = ""


@dataclass(frozen=True, slots=True)
class BlockNumber:
    """The called party pressed the block key: block calls from this facility."""

    number: str


@dataclass(frozen=True, slots=True)
class SetCdr:
    """Update fields of the current CDR (``fields`` is a tuple of pairs, hashable)."""

    fields: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, **fields: object) -> SetCdr:
        return cls(tuple(sorted(fields.items())))

    def as_dict(self) -> dict[str, object]:
        return dict(self.fields)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """Add an event to the CDR timeline (``detail`` pairs, hashable)."""

    kind: str
    detail: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, kind: str, /, **detail: object) -> LogEvent:
        return cls(kind, tuple(sorted(detail.items())))

    def as_dict(self) -> dict[str, object]:
        return dict(self.detail)


@dataclass(frozen=True, slots=True)
class HangUpFarEnd:
    pass


@dataclass(frozen=True, slots=True)
class RejectInbound:
    """Refuse a call into the facility line (inmates cannot receive calls)."""

    caller: str = ""


@dataclass(frozen=True, slots=True)
class EndCall:
    """Close the CDR with this disposition; the line waits for the handset to go down."""

    disposition: str


Action = (OpenCdr | PlayPrompt | StopPrompt | PlayTone | StopTone | Authenticate | CheckCallAllowed
          | CheckNumber | StartNameCapture | SaveName | Dial | Bridge | Unbridge | StartRecording | StopRecording | StartWarnings
          | StopWarnings | Charge | BlockNumber | SetCdr | LogEvent | HangUpFarEnd | RejectInbound
          | EndCall)
