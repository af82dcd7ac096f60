"""One event log per call: what happened on a line, in order, in one place.

Everything a person or a program learns about a call comes from this log: the CDR
timeline in the database, the ``phonesim demo`` transcript, ``phonesim phone
--json-events``, the phone's status line and the live stream other processes
follow.  The line appends an entry for each thing that happens (a digit decoded
from the audio, a prompt, a look-up's answer, a charge, a warning injected, a
three-way suspicion, the end), stamped with the line's frame and the calendar
time, so all of them tell the same story in the same order.

A PIN never enters the log: digits keyed before the PIN is accepted are masked
(:data:`MASK`) when they are logged.

Kinds (``LogEntry.kind``) and their data:

========================  ====================================================
``offhook`` / ``onhook``  the handset
``digit``                 ``side`` (inmate/far), ``digit``, ``low_dbm0``, ``high_dbm0``,
                          ``source`` (far: inband/rfc4733)
``prompt``                ``to``, ``names``, ``words`` (what was spoken), ``tag``
``tone``                  ``to``, ``name``
``phase``                 ``phase``
``answer``                a look-up's answer: ``what``, ``ok`` and what may be shown
``charge``                ``minute_index``, ``ok``, ``cents``, ``balance_after_cents``, ``error``
``warning``               the warning message started, both directions
``three-way-suspected``   ``attempt``, ``confidence``, ``level``
``far-end``               ``name`` (ringing, answered, busy, no-answer, failed, hung-up), ``reason``
``recording``             ``path``
``end``                   ``disposition``
(the call flow's)         its :class:`~phonesim.facility.actions.LogEvent` kind and detail
========================  ====================================================
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from phonesim.clock import FRAMES_PER_SECOND

MASK = "\u2022"  # a bullet: unlike '*', it is not a key of the keypad


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One thing that happened on a line.

    ``call`` numbers the line's call attempts (1, 2, ...); ``seq`` numbers the entries
    of one call from 0 (the CDR timeline's order and its idempotency key);
    ``frame`` is the line's frame and ``wall_s`` the calendar time.
    """

    call: int
    seq: int
    frame: int
    wall_s: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def line_s(self) -> float:
        """Seconds of line time (the frame clock) when it happened."""
        return self.frame / FRAMES_PER_SECOND

    def as_dict(self) -> dict[str, Any]:
        """``{"frame": 12, "kind": "digit", ...data}``: the transcript's and JSON's form."""
        return {"frame": self.frame, "kind": self.kind, **self.data}


@dataclass(frozen=True, slots=True)
class CallSummary:
    """A finished call attempt, read off its log (and the CDR id its record got)."""

    call: int
    cdr_id: int | None
    disposition: str
    offhook_frame: int
    ended_frame: int
    number: str
    digits: tuple[str, ...]
    charges: tuple[tuple[int, int, int], ...]      # (minute_index, cents, balance_after_cents)
    warnings_at_s: tuple[float, ...]
    recording: str | None

    @property
    def amount_cents(self) -> int:
        return sum(cents for _, cents, _ in self.charges)

    @property
    def billed_minutes(self) -> int:
        return len(self.charges)


class LineLog:
    """The log of one line: the current call's entries, and a stream of every entry.

    ``stream`` is a :class:`queue.SimpleQueue` of :class:`LogEntry` that a status
    line, a JSON writer or a publisher drains; ``listeners`` are called with each
    entry on the line's thread (keep them cheap: the per-frame path calls them).
    """

    def __init__(self, *, keep_history: bool = False) -> None:
        self.call = 0
        self.entries: list[LogEntry] = []
        self.history: list[LogEntry] | None = [] if keep_history else None
        self.stream: queue.SimpleQueue[LogEntry] = queue.SimpleQueue()
        self.listeners: list = []

    def __repr__(self) -> str:
        return f"<LineLog call={self.call} entries={len(self.entries)}>"

    def begin_call(self) -> int:
        """A new call attempt (off hook): its entries start from seq 0."""
        self.call += 1
        self.entries = []
        return self.call

    def add(self, frame: int, wall_s: float, kind: str, /, **data: Any) -> LogEntry:
        entry = LogEntry(self.call, len(self.entries), frame, wall_s, kind, MappingProxyType(data))
        self.entries.append(entry)
        if self.history is not None:
            self.history.append(entry)
        self.stream.put(entry)
        for listener in self.listeners:
            listener(entry)
        return entry

    def of_kind(self, *kinds: str) -> Iterator[LogEntry]:
        return (e for e in self.entries if e.kind in kinds)

    def summary(self, *, cdr_id: int | None) -> CallSummary:
        """The current call, read off its entries."""
        entries = self.entries
        end = next((e for e in reversed(entries) if e.kind == "end"), None)
        number = next((str(e.data["number"]) for e in reversed(entries) if e.kind == "number-entered"), "")
        charges = tuple((int(e.data["minute_index"]), int(e.data.get("cents", 0)),
                         int(e.data.get("balance_after_cents", 0)))
                        for e in entries if e.kind == "charge" and e.data.get("ok"))
        recording = next((str(e.data["path"]) for e in entries if e.kind == "recording"), None)
        return CallSummary(
            call=self.call, cdr_id=cdr_id, disposition=str(end.data["disposition"]) if end else "",
            offhook_frame=entries[0].frame if entries else 0,
            ended_frame=end.frame if end else (entries[-1].frame if entries else 0),
            number=number,
            digits=tuple(str(e.data["digit"]) for e in entries
                         if e.kind == "digit" and e.data.get("side") == "inmate"),
            charges=charges,
            warnings_at_s=tuple(e.line_s for e in entries if e.kind == "warning"),
            recording=recording)
