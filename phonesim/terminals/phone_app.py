"""The ``phonesim phone`` program: one wall phone on the facility platform, until stopped.

It joins what others build: a keypad and an audio port (by URL), the handset
(:class:`phonesim.terminals.wallphone.WallPhone`: key presses become DTMF in the
uplink), the facility line (:class:`phonesim.facility.line.FacilityLine`: the
platform that decodes, places, bills and records the call) and a driver that
runs one 20 ms frame at a time.  Around them it adds what a person or another
program needs:

* a status line in the terminal (:class:`~phonesim.terminals.status.PhoneStatus`),
  redrawn when it changes: phase, digits (PIN masked), call timer, balance, warnings;
* ``--json-events``: every event as one JSON line on stdout;
* signals: Ctrl-C or SIGTERM ends an active call cleanly — the line is closed,
  which closes the CDR, makes the charges final and finalises the recording —
  before the program exits (:class:`StopSignals`).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


class StopSignals:
    """Turn SIGINT and SIGTERM into a call to ``on_stop`` while inside the ``with``.

    The first signal asks the program to stop at the end of the current frame (so
    the call is ended by the normal path: CDR closed, charges final); a second
    SIGINT raises :class:`KeyboardInterrupt` for a person who really wants out.
    The previous handlers are restored on exit.  Outside the main thread (where
    Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.on_stop = on_stop
        self.received: list[str] = []
        self._previous: dict[int, Any] = {}

    def __repr__(self) -> str:
        return f"<StopSignals received={self.received}>"

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        if signum == signal.SIGINT and self.received.count("SIGINT") > 1:
            raise KeyboardInterrupt
        self.on_stop()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
