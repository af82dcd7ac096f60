"""The words of the platform: dispositions, call types, payers, directions, three-way kinds.

Each is a :class:`enum.StrEnum`, so a member is also the plain string that is
stored in the database, printed in a transcript and written to JSON
(``Disposition.COMPLETED == "completed"``): records and older tests keep working,
while the code gets one place that lists every value and a typo becomes an
``AttributeError`` at import time instead of a CDR nobody can search for.
"""

from __future__ import annotations

import enum


class Disposition(enum.StrEnum):
    """How a call attempt ended (the CDR's ``disposition``)."""

    COMPLETED = "completed"                      # connected; the called party hung up
    HUNG_UP = "hung-up"                          # connected; the inmate hung up
    TIME_LIMIT = "time-limit"
    FUNDS_EXHAUSTED = "funds-exhausted"
    THREE_WAY_DETECTED = "three-way-detected"
    DECLINED = "declined"
    BLOCKED_BY_CALLED_PARTY = "blocked-by-called-party"  # the called party pressed block in this call
    REFUSED_PARTY_BLOCK = "refused-party-block"          # refused: the called party had blocked it before
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"                            # the outside line could not place the call
    INVALID_PIN = "invalid-PIN"
    LOCKED = "locked"
    RESTRICTED = "restricted"
    OUTSIDE_HOURS = "outside-hours"
    WAIT_REQUIRED = "wait-required"
    QUOTA_REACHED = "quota-reached"
    NOT_ALLOWED_NUMBER = "not-allowed-number"
    NO_CONTACT_ORDER = "no-contact-order"        # this inmate may not call this number
    TOLL_FREE_ATTEMPT = "toll-free-attempt"
    INSUFFICIENT_FUNDS = "insufficient-funds"
    NO_ACCOUNT = "no-account"                    # reached: the called party was told how to set one up
    ABANDONED = "abandoned"
    INBOUND_REFUSED = "inbound-refused"
    SYSTEM_ERROR = "system-error"                # a look-up failed or timed out: the caller was told
    LOCKDOWN = "lockdown"                        # the unit was locked down (count, an incident)
    CUT_OFF = "cut-off"                          # an officer cut the call off


#: Dispositions of calls that were connected (the called party accepted).
CONNECTED_DISPOSITIONS = frozenset({
    Disposition.COMPLETED, Disposition.HUNG_UP, Disposition.TIME_LIMIT,
    Disposition.FUNDS_EXHAUSTED, Disposition.THREE_WAY_DETECTED,
})


class CallType(enum.StrEnum):
    """What the inmate chose at the call-type menu (who pays, see :class:`PayerKind`)."""

    DEBIT = "debit"          # the inmate's own phone balance
    COLLECT = "collect"      # the called party's Direct Bill account
    PREPAID = "prepaid"      # the called party's AdvanceConnect account


class PayerKind(enum.StrEnum):
    """Whose money a billed minute moves."""

    DEBIT = "debit"
    PREPAID = "prepaid"
    COLLECT = "collect"
    FREE = "free"            # privileged calls: a zero charge is recorded


class Courtesy(enum.StrEnum):
    """A collect call to a number with no account (``profile.billing.no_account``)."""

    FREE_CALL = "free-call"      # a free courtesy call: the called party also hears how to set one up
    SETUP_ONLY = "setup-only"    # the called party is reached and told how to set one up; no call


class Direction(enum.StrEnum):
    """Which way audio goes: to the inmate's earpiece or to the called party."""

    INMATE = "inmate"
    FAR = "far"


class ThreeWayKind(enum.StrEnum):
    """Which detector suspected a three-way call."""

    HOOK_FLASH = "hook-flash"
    PROGRESS_TONE = "progress-tone"
    FAR_DTMF = "far-dtmf"
    NOISE_DROP = "noise-drop"


class LookupKind(enum.StrEnum):
    """The platform questions a line asks while the caller waits."""

    AUTHENTICATE = "authenticate"
    CALL_ALLOWED = "call-allowed"
    NUMBER = "number"
    CHARGE = "charge"
