"""What happened on a line, in words: the transcript ``phonesim demo`` prints.

Each entry of a line's log (:mod:`phonesim.facility.calllog`) becomes one line a
person reads: what each side heard (the prompts' own words, from
:mod:`phonesim.terminals.prompt_texts`), the keys decoded from the audio, the
charges in dollars with whose account paid them, and the call flow's own notes
said in words, never as raw event data.  :class:`Transcript` keeps what later
lines need (who pays), so the same lines come out whether they are printed as
the call happens (``--realtime``) or all at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phonesim.clock import FRAMES_PER_SECOND
from phonesim.facility.numbers import format_number
from phonesim.facility.rates import format_cents
from phonesim.terminals.prompt_texts import spoken_text

__all__ = ["Transcript", "mmss"]

_WHO = {"inmate": "inmate hears", "far": "called party hears"}
_FAR_END = {"ringing": "far end ringing", "answered": "far end answered", "busy": "far end busy",
            "hung-up": "called party hung up", "no-answer": "no answer",
            "failed": "the outside line failed"}


def mmss(frame: int) -> str:
    """A line frame as ``MM:SS.ss`` since the handset was lifted."""
    seconds = frame / FRAMES_PER_SECOND
    return f"{int(seconds // 60):02d}:{seconds % 60:05.2f}"


class Transcript:
    """Turns log entries (``LogEntry.as_dict()``) into transcript lines, in order."""

    def __init__(self, texts: Mapping[str, str] | None = None) -> None:
        self.texts = texts
        self.payer_kind = ""
        self.number = ""

    def __repr__(self) -> str:
        return f"<Transcript payer={self.payer_kind!r}>"

    def line(self, t: Mapping[str, Any]) -> str:
        """``"00:05.38  inmate keyed 1 ..."``, or "" for an entry a reader does not need."""
        text = self.describe(t)
        return f"{mmss(int(t['frame']))}  {text}" if text else ""

    def describe(self, t: Mapping[str, Any]) -> str:
        kind = t["kind"]
        if kind == "answer" and t.get("what") == "number" and t.get("ok"):
            self.payer_kind = str(t.get("payer_kind") or "")
            self.number = str(t.get("number") or "")
        method = getattr(self, "_" + kind.replace("-", "_"), None)
        return method(t) if method is not None else ""

    # --- one method per kind a reader needs ------------------------------------------------
    def _prompt(self, t) -> str:
        return f"{_WHO[t['to']]}: \"{spoken_text(t.get('words') or t['names'], self.texts)}\""

    def _tone(self, t) -> str:
        return f"{_WHO[t['to']]}: {t['name']} tone"

    def _digit(self, t) -> str:
        who = "inmate keyed" if t["side"] == "inmate" else "called party keyed"
        src = "" if t["side"] == "inmate" else f", {t.get('source', 'inband')}"
        return (f"{who} {t['digit']!s:<2} (decoded from the audio: {t['low_dbm0']:.1f} / "
                f"{t['high_dbm0']:.1f} dBm0{src})")

    def _charge(self, t) -> str:
        minute = f"minute {int(t['minute_index']) + 1}"
        if t.get("error"):
            return f"{minute} not charged yet: the ledger did not answer ({t['error']})"
        if not t.get("ok"):
            return f"{minute} could not be charged: {self._payer()} has {self._left(t)} left"
        cents = int(t.get("cents", 0))
        if cents == 0:
            return f"{minute}: no charge"
        return f"{minute} charged {format_cents(cents)}; {self._payer()}: {self._left(t)} left"

    def _payer(self) -> str:
        if self.payer_kind == "collect":
            return "the called party's Direct Bill credit"
        if self.payer_kind == "prepaid":
            return f"prepaid account {format_number(self.number)}" if self.number else "the prepaid account"
        return "the inmate's phone account"

    @staticmethod
    def _left(t) -> str:
        return format_cents(int(t.get("balance_after_cents", 0)))

    def _warning(self, t) -> str:
        return "warning message injected into both directions"

    def _phase(self, t) -> str:
        return f"[{t['phase']}]" if t["phase"] in ("connected", "done") else ""

    def _offhook(self, t) -> str:
        return "handset lifted"

    def _onhook(self, t) -> str:
        return "handset put down"

    def _far_end(self, t) -> str:
        text = _FAR_END.get(t["name"], str(t["name"]))
        return f"{text}: {t['reason']}" if t.get("reason") else text

    def _recording(self, t) -> str:
        return f"recording to {t['path']}"

    def _end(self, t) -> str:
        return f"call ended: {t['disposition']}"

    def _three_way_suspected(self, t) -> str:
        return f"three-way call suspected: {t['attempt']} (confidence {float(t['confidence']):.2f})"

    # --- the call flow's own notes, in words ------------------------------------------------
    def _pin_invalid(self, t) -> str:
        return f"PIN not accepted ({t['failures']} wrong in a row)"

    def _three_way(self, t) -> str:
        did = {"disconnect": "the call is cut off", "warn": "both parties are warned",
               "log": "logged for review"}.get(str(t.get("action")), str(t.get("action")))
        return (f"three-way calling {t.get('level', '')}: {str(t.get('kind', '')).replace('-', ' ')} "
                f"(confidence {float(t.get('confidence', 0)):.2f}); {did}")

    def _charge_refused(self, t) -> str:
        return f"minute {int(t['minute_index']) + 1} refused: the funds have run out"

    def _charge_failed(self, t) -> str:
        return f"minute {int(t['minute_index']) + 1} not charged: the ledger failed ({t.get('error', '')})"

    def _charge_made_late(self, t) -> str:
        return f"minute {int(t['minute_index']) + 1} charged late, once the ledger answered again"

    def _limit_warning(self, t) -> str:
        seconds = int(t.get("before_s", 60))
        left = "one minute" if seconds == 60 else f"{seconds} seconds"
        return f"both parties are told: {left} left before the call's time limit"

    def _far_end_failed(self, t) -> str:
        return f"the call could not be placed: {t.get('reason') or 'the outside line failed'}"

    def _inbound_refused(self, t) -> str:
        return f"an incoming call from {t.get('caller') or 'an unknown caller'} refused: inmates cannot receive calls"

    def _lookup_failed(self, t) -> str:
        return f"the platform did not answer the {t.get('what')} look-up: {t.get('error')}"

    def _late_answer(self, t) -> str:
        return "a look-up answered after its deadline: ignored"

    def _shutdown(self, t) -> str:
        return f"the phone was stopped ({t.get('reason') or 'stopped'}): the call ends cleanly"
