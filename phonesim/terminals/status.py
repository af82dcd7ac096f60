"""What a person at a wall phone sees in the terminal, and what other programs read.

:class:`PhoneStatus` keeps a one-line summary of a line — the call's phase, the
digits entered (a PIN is always masked), the call timer, the payer's balance and
the latest warning — from the events that pass and the call flow's state.  The
phone's menu is audio only, so while the inmate keys (PIN, call type, number)
the line also shows the words of the prompt just played (from
:mod:`phonesim.terminals.prompt_texts`), and it says when the warning message
was played into the call.
:func:`event_record` turns any event (a frozen dataclass of
:mod:`phonesim.events`) into a JSON-ready dict for ``phonesim phone --json-events``,
masking PIN digits the same way: a PIN never reaches a screen, a log or a pipe.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, TextIO

from phonesim.clock import FRAMES_PER_SECOND
from phonesim.facility.calllog import MASK
from phonesim.facility.rates import format_cents
from phonesim.terminals.prompt_texts import spoken_text

#: Call-flow phases in which the digits typed are a PIN.
PIN_PHASES = frozenset({"pin", "authenticating"})
#: Phases in which the inmate keys an answer to the prompt just played (its words are shown).
PROMPTED_PHASES = frozenset({"pin", "call-type", "number"})
#: Event types that carry one key or digit.
_KEY_FIELDS = {"KeyDown": "key", "KeyUp": "key", "DigitDetected": "digit"}


def phase_name(state: Any) -> str:
    """The call flow's phase as a string (``"idle"``, ``"pin"``, ``"connected"`` ...)."""
    phase = getattr(state, "phase", state)
    if isinstance(phase, enum.Enum):
        return str(phase.value)
    return str(phase) if phase is not None else "?"


def format_duration(seconds: float) -> str:
    """``75.3`` -> ``"01:15"``; an hour or more -> ``"1:02:03"``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def event_record(event: Any, *, frame: int, mask_keys: bool = False) -> dict[str, Any]:
    """A JSON-ready dict for one event: ``{"event": "KeyDown", "frame": 12, "t_s": 0.24, ...}``.

    With ``mask_keys`` (the digits are a PIN) the key or digit is replaced by a
    bullet, so a PIN never leaves the process.
    """
    name = type(event).__name__
    record: dict[str, Any] = {"event": name, "frame": int(frame),
                              "t_s": round(frame / FRAMES_PER_SECOND, 2)}
    if dataclasses.is_dataclass(event):
        for f in dataclasses.fields(event):
            if f.repr:
                record[f.name] = _plain(getattr(event, f.name))
    if mask_keys and name in _KEY_FIELDS and str(record.get(_KEY_FIELDS[name], "")).isdigit():
        record[_KEY_FIELDS[name]] = MASK
        record["masked"] = True
    return record


def entry_record(entry: Any) -> dict[str, Any]:
    """A JSON-ready dict for one entry of a line's log: ``{"event": "digit", "frame": 12,
    "t_s": 0.24, "call": 1, ...}`` (a PIN digit is already masked in the log; ``masked``
    says so)."""
    record: dict[str, Any] = {"event": entry.kind, "frame": int(entry.frame),
                              "t_s": round(entry.frame / FRAMES_PER_SECOND, 2), "call": entry.call}
    record.update({k: _plain(v) for k, v in entry.data.items()})
    if entry.kind == "digit" and record.get("digit") == MASK:
        record["masked"] = True
    return record


class JsonEventWriter:
    """Writes one JSON object per line to ``stream`` (flushed: a pipe reader sees it at once)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.written = 0

    def __repr__(self) -> str:
        return f"<JsonEventWriter written={self.written}>"

    def write(self, record: dict[str, Any]) -> None:
        try:
            self.stream.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            # The reader went away; the phone keeps working.
            self.stream = _NullStream()
        self.written += 1


class _NullStream:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class PhoneStatus:
    """The status line of one wall phone.

    Feed it every event (:meth:`update`); ask for the line with :meth:`render`,
    passing the call flow's state (duck-typed: ``phase``, ``digits``, ``number``,
    ``connected_frame``, ``call_type``) and the current frame.
    """

    def __init__(self) -> None:
        self.off_hook = False
        self.balance_cents: int | None = None
        self.warning = ""
        self.keypad_up = True
        self.affordable_minutes: int | None = None
        self.ended = ""
        self.prompt_text = ""          # the words of the last prompt the inmate heard
        self.warnings_played = 0       # the warning message, injected into the call
        self.payer_kind = ""           # whose balance the charges report

    def __repr__(self) -> str:
        return f"<PhoneStatus off_hook={self.off_hook} balance_cents={self.balance_cents}>"

    def update(self, event: Any) -> None:
        """Take a keypad event (hook, link) or an entry of the line's log."""
        name = type(event).__name__
        if name == "HookChanged":
            self.off_hook = bool(event.off_hook)
            if self.off_hook:  # a new attempt
                self.warning = ""
                self.ended = ""
                self.balance_cents = None
                self.affordable_minutes = None
                self.prompt_text = ""
                self.warnings_played = 0
                self.payer_kind = ""
        elif name == "LinkChanged":
            self.keypad_up = bool(event.up)
            self.warning = "" if event.up else f"keypad link down ({event.reason})"
        elif name == "LogEntry":
            self._entry(event.kind, event.data)

    def _entry(self, kind: str, data: Any) -> None:
        if kind == "charge":
            if data.get("error"):
                self.warning = "billing unavailable, retrying"
                return
            self.balance_cents = int(data["balance_after_cents"])
            if not data.get("ok"):
                self.warning = "funds exhausted"
        elif kind == "three-way-suspected":
            self.warning = f"three-way call suspected ({data['attempt']}, {float(data['confidence']):.2f})"
        elif kind == "far-end" and data.get("name") in ("busy", "no-answer", "failed"):
            reason = data.get("reason") or ""
            self.warning = {"busy": "busy", "no-answer": "no answer"}.get(data["name"], f"call failed: {reason}")
        elif kind == "limit-warning":
            seconds = int(data.get("before_s", 60))
            self.warning = ("one minute remaining" if seconds == 60
                            else f"{format_duration(seconds)} remaining")
        elif kind == "end" and data.get("disposition") == "time-limit":
            self.warning = "time limit reached"
        elif kind == "lookup-failed":
            self.warning = f"the platform did not answer ({data.get('what')})"
        elif kind == "answer":
            self._answer(data)
        elif kind == "prompt" and data.get("to") == "inmate":
            self.prompt_text = spoken_text(data.get("words") or data.get("names") or ())
        elif kind == "warning":
            self.warnings_played += 1

    def _answer(self, data: Any) -> None:
        what, ok = data.get("what"), bool(data.get("ok"))
        if what == "authenticate":
            self.warning = "" if ok else ("account locked" if data.get("locked")
                                          else f"PIN not accepted ({data.get('failures', 0)})")
        elif not ok:
            self.warning = f"refused: {data.get('reason') or what}"
        elif what == "number":
            self.warning = ""
            self.affordable_minutes = data.get("affordable_minutes")
            self.payer_kind = str(data.get("payer_kind") or "")

    def call_ended(self, disposition: str) -> None:
        """The attempt is over (the line's summary): show how it ended."""
        self.ended = disposition

    def render(self, state: Any, *, frame: int, timer: bool = True, width: int = 0) -> str:
        """The status line; with ``width``, a prompt's words too long for it keep their end
        (the instruction: "... Please enter your PIN.")."""
        phase = phase_name(state)
        parts = [f"[{phase}]"]
        if not self.off_hook and phase == "idle":
            parts.append("on hook: lift the handset")
        digits = str(getattr(state, "digits", "") or "")
        if digits:
            shown = MASK * len(digits) if phase in PIN_PHASES else digits
            parts.append(f"keys {shown}")
        number = str(getattr(state, "number", "") or "")
        if number and phase not in PIN_PHASES:
            parts.append(f"to {number}")
        call_type = str(getattr(state, "call_type", "") or "")
        if call_type and phase not in PIN_PHASES:
            parts.append(call_type)
        connected = int(getattr(state, "connected_frame", -1))
        if timer and connected >= 0 and phase in ("connected", "ending"):
            parts.append(format_duration((frame - connected) / FRAMES_PER_SECOND))
        if self.balance_cents is None and self.affordable_minutes is not None:
            parts.append(f"{self.affordable_minutes} min affordable")
        if self.balance_cents is not None:
            parts.append(self._balance_text())
        if self.warnings_played:
            parts.append("warning message played" + (f" x{self.warnings_played}" if self.warnings_played > 1 else ""))
        if self.ended:
            parts.append(f"ended: {self.ended}")
        if self.warning:
            parts.append(f"! {self.warning}")
        if self.prompt_text and phase in PROMPTED_PHASES:
            words = self.prompt_text
            room = width - len("  ".join(parts)) - len('  hears: ""') if width else len(words)
            if len(words) > room:
                words = "..." + words[len(words) - max(0, room - 3):] if room > 3 else ""
            if words:
                parts.append(f'hears: "{words}"')
        return "  ".join(parts)

    def _balance_text(self) -> str:
        """The money left, named by whose it is (a collect call's is the called party's credit)."""
        left = format_cents(int(self.balance_cents or 0))
        if self.payer_kind == "collect":
            return f"called party's credit {left}"
        if self.payer_kind == "prepaid":
            return f"prepaid account {left}"
        return f"balance {left}"
