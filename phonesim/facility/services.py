"""The seam between a line and the platform: four small interfaces and their SQL-backed forms.

A line asks the platform four kinds of question, each behind its own interface so
that the line, its executor and the call flow never see a database:

* :class:`Identity` — who keyed this PIN at this terminal (and the lockout);
* :class:`CallPolicy` — may this inmate call now; may they call this number this way,
  who pays and for how long; and the called party's own block;
* :class:`Billing` — charge one minute, once (idempotent by call and minute);
* :class:`CallRecords` — the call detail record and its timeline.

Every answer is one of the frozen result types the call flow consumes
(:mod:`phonesim.events`), so a test can stand anything in for the platform. The
implementations here put the questions to the facility database (the ledger, the
policy rules and the CDR store); SQL lives only behind them. Times are calendar
seconds (``wall_s``): the line converts its frame clock, the platform never sees it.

Implementations are called on the line's worker thread in real time, one at a time
per line, and may raise; the executor turns an exception into
:class:`~phonesim.events.LookupFailed` (the caller hears an apology) or, for a
charge or a record, into a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from phonesim.events import AuthResult, CallAllowedResult, ChargeResult, NumberResult
from phonesim.facility.calllog import LogEntry


class Identity(Protocol):
    def authenticate(self, pin: str, *, terminal: str, wall_s: float, failures_before: int = 0) -> AuthResult: ...

    def name_audio(self, inmate_id: str) -> Any: ...

    def save_name(self, inmate_id: str, samples: Any) -> None: ...


class CallPolicy(Protocol):
    def may_call(self, inmate_id: str, *, terminal: str, wall_s: float) -> CallAllowedResult: ...

    def check_number(self, inmate_id: str, number: str, call_type: str, *,
                     wall_s: float) -> NumberResult: ...

    def block_by_called_party(self, number: str, *, wall_s: float) -> None: ...


class Billing(Protocol):
    def charge_minute(self, call_id: int, minute_index: int, *, payer_kind: str, payer_id: str,
                      cents: int, wall_s: float) -> ChargeResult: ...


class CallRecords(Protocol):
    def open_call(self, *, call_key: str, terminal: str, offhook_wall_s: float) -> int: ...

    def update_call(self, call_id: int, fields: dict[str, Any]) -> None: ...

    def add_call_events(self, call_id: int, entries: Sequence[LogEntry]) -> None: ...

    def close_call(self, call_id: int, *, disposition: str, ended_wall_s: float) -> None: ...


@dataclass(frozen=True)
class Services:
    """The four interfaces a line uses, as one bundle (built by :mod:`phonesim.facility.platform`)."""

    identity: Identity
    policy: CallPolicy
    billing: Billing
    records: CallRecords


# --- the facility database's forms ---------------------------------------------------------
class LedgerIdentity:
    """PINs checked against the ledger's inmates (one key derivation per attempt)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def __repr__(self) -> str:
        return f"<LedgerIdentity {self.ledger!r}>"

    def authenticate(self, pin: str, *, terminal: str, wall_s: float, failures_before: int = 0) -> AuthResult:
        """The inmate's name as the called party will hear it: ``name:ID`` (a recorded name the
        platform keeps), a shipped prompt's name, or ``""`` (none yet: the first call records it).
        ``failures_before``: wrong PINs keyed earlier in this attempt (charged to the PIN's owner)."""
        result = self.ledger.authenticate(pin, wall_s=wall_s, terminal=terminal, failures_before=failures_before)
        inmate = result.inmate
        name = ""
        if inmate is not None:
            name = f"name:{inmate.id}" if self.ledger.has_voice_name("inmate", inmate.id) else inmate.name_prompt
        return AuthResult(bool(result.ok), inmate.id if inmate else "", name,
                          bool(result.locked), int(result.failures))

    def name_audio(self, inmate_id: str) -> Any:
        return self.ledger.voice_name("inmate", inmate_id)

    def save_name(self, inmate_id: str, samples: Any) -> None:
        self.ledger.set_voice_name("inmate", inmate_id, samples, source="recorded on the first call")


class PolicyChecks:
    """The facility's rules (:class:`phonesim.facility.policy.Policy`) as the line asks them."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def __repr__(self) -> str:
        return f"<PolicyChecks {self.policy!r}>"

    def may_call(self, inmate_id: str, *, terminal: str, wall_s: float) -> CallAllowedResult:
        v = self.policy.may_call(inmate_id, wall_s=wall_s, terminal=terminal)
        return CallAllowedResult(bool(v.ok), v.reason or "", v.prompt or "", int(v.max_call_s or 0),
                                 v.disposition or "")

    def check_number(self, inmate_id: str, number: str, call_type: str, *, wall_s: float) -> NumberResult:
        v = self.policy.check_number(inmate_id, number, call_type, wall_s=wall_s)
        return NumberResult(bool(v.ok), v.number or number, v.reason or "", v.prompt or "",
                            v.disposition or "", v.jurisdiction or "", bool(v.privileged),
                            int(v.cents_per_min or 0), v.payer_kind or "", str(v.payer_id or ""),
                            v.affordable_minutes, int(v.minute_charge_cents or 0),
                            courtesy=str(v.courtesy or ""))

    def block_by_called_party(self, number: str, *, wall_s: float) -> None:
        self.policy.ledger.block_number(number, kind="keypad", by="called party")


class LedgerBilling:
    """Per-minute charges in the ledger's money journal."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def __repr__(self) -> str:
        return f"<LedgerBilling {self.ledger!r}>"

    def charge_minute(self, call_id: int, minute_index: int, *, payer_kind: str, payer_id: str,
                      cents: int, wall_s: float) -> ChargeResult:
        r = self.ledger.charge_minute(call_id, minute_index, payer_kind=payer_kind, payer_id=payer_id,
                                      amount_cents=cents)
        return ChargeResult(minute_index, bool(r.ok), int(r.balance_after_cents), bool(r.duplicate),
                            amount_cents=int(r.amount_cents))


class CdrRecords:
    """Call detail records and their timelines in the CDR store."""

    def __init__(self, cdrs: Any) -> None:
        self.cdrs = cdrs

    def __repr__(self) -> str:
        return f"<CdrRecords {self.cdrs!r}>"

    def open_call(self, *, call_key: str, terminal: str, offhook_wall_s: float) -> int:
        return self.cdrs.open_call(call_key=call_key, terminal=terminal, offhook_s=offhook_wall_s)

    def update_call(self, call_id: int, fields: dict[str, Any]) -> None:
        self.cdrs.update(call_id, **fields)

    def add_call_events(self, call_id: int, entries: Sequence[LogEntry]) -> None:
        self.cdrs.add_events(call_id, [(e.seq, e.wall_s, e.kind, dict(e.data)) for e in entries])

    def close_call(self, call_id: int, *, disposition: str, ended_wall_s: float) -> None:
        self.cdrs.close_call(call_id, disposition=disposition, ended_s=ended_wall_s)
