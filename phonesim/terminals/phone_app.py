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
import os
import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from phonesim.terminals.status import (
    JsonEventWriter,
    PhoneStatus,
    entry_record,
    event_record,
    phase_name,
)

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


class TeeAudioPort:
    """An audio port whose earpiece audio also goes to a second port (``--speaker``)."""

    def __init__(self, port: Any, speaker: Any) -> None:
        self.port = port
        self.speaker = speaker
        self.paced = bool(getattr(port, "paced", False) or getattr(speaker, "paced", False))

    def __repr__(self) -> str:
        return f"<TeeAudioPort {self.port!r} + speaker {self.speaker!r}>"

    def read_frame(self) -> Any:
        return self.port.read_frame()

    def write_frame(self, frame: Any) -> None:
        self.port.write_frame(frame)
        self.speaker.write_frame(frame)

    def take_lost_samples(self) -> int:
        return int(self.port.take_lost_samples())

    def close(self) -> None:
        try:
            self.port.close()
        finally:
            self.speaker.close()


def fit_width(text: str, columns: int) -> str:
    """``text`` cut to ``columns - 1`` characters (ending in ``...``); ``columns`` 0: unknown, uncut."""
    if columns <= 1 or len(text) < columns:
        return text
    return text[:max(0, columns - 4)] + "..."


class PhoneApp:
    """Runs a :class:`~phonesim.terminals.wallphone.WallPhone` and shows what happens.

    Parameters
    ----------
    phone
        The wall phone (its ``line`` is the :class:`~phonesim.facility.line.FacilityLine`).
        The app becomes its ``listener``, so it sees every keypad event.
    clock
        The frame clock the driver ticks.
    status_out
        Where the status line goes (a terminal: redrawn in place; a pipe or a
        log: a new line whenever it changes, without the call timer); None for none.
    json_out
        Where the JSON events go, one per line; None for none.
    """

    def __init__(self, phone: Any, clock: Any, *, status_out: Any = None, json_out: Any = None) -> None:
        self.phone = phone
        self.line = phone.line
        self.clock = clock
        self.status = PhoneStatus()
        self.status_out = status_out
        self.json = JsonEventWriter(json_out) if json_out is not None else None
        self._tty = bool(status_out is not None and getattr(status_out, "isatty", lambda: False)())
        self._pin_mode = False
        self._phase = self._phase_now()
        self._shown = ""
        self._calls_seen = 0
        self._stop = threading.Event()
        self._driver: Any = None
        self.stop_reason = ""
        self.phone.listener = self.on_keypad_event

    def __repr__(self) -> str:
        return f"<PhoneApp phase={self._phase} stop_reason={self.stop_reason!r}>"

    def _phase_now(self) -> str:
        return phase_name(self.line.state)

    # --- events ------------------------------------------------------------------------
    def on_keypad_event(self, event: Any) -> None:
        """The wall phone's listener: every keypad event, before the handset acts on it."""
        name = type(event).__name__
        if name == "HookChanged":
            # From lifting the handset until the PIN is accepted, keys are a PIN.
            self._pin_mode = bool(event.off_hook)
        self.status.update(event)
        if self.json is not None:
            mask = self._pin_mode and name in ("KeyDown", "KeyUp")
            self.json.write(event_record(event, frame=self.clock.frame, mask_keys=mask))

    def _on_entry(self, entry: Any) -> None:
        """An entry of the line's log: the status line and the JSON stream."""
        self.status.update(entry)
        if entry.kind == "answer" and entry.data.get("what") == "authenticate" and entry.data.get("ok"):
            self._pin_mode = False
        if entry.kind == "phase" and entry.data.get("phase") in ("idle", "done"):
            self._pin_mode = False
        if self.json is not None:
            self.json.write(entry_record(entry))

    def _drain_line_events(self) -> None:
        stream = self.line.log.stream
        while True:
            try:
                entry = stream.get_nowait()
            except queue.Empty:
                break
            self._on_entry(entry)
        while self._calls_seen < len(self.line.calls):
            call = self.line.calls[self._calls_seen]
            self._calls_seen += 1
            self.status.call_ended(call.disposition)
        self._phase = self._phase_now()

    def _draw(self, *, final: bool = False) -> None:
        if self.status_out is None:
            return
        if self._tty:
            # one screen line: a wrapped line could not be redrawn in place
            columns = self._columns()
            text = fit_width(self.status.render(self.line.state, frame=self.clock.frame,
                                                width=max(0, columns - 1)), columns)
            if text != self._shown or final:
                self.status_out.write("\r\x1b[K" + text + ("\n" if final else ""))
                self.status_out.flush()
        else:
            # a log gets a line per change; the running timer alone is no change
            text = self.status.render(self.line.state, frame=self.clock.frame, timer=False)
            if text != self._shown:
                self.status_out.write(text + "\n")
                self.status_out.flush()
        self._shown = text

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.status_out.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return 0

    def after_frame(self) -> None:
        """Collect the frame's events: JSON lines, status line."""
        self._drain_line_events()
        self._draw()

    # --- running -------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """End the run after the current frame (safe from a signal handler or another thread)."""
        if not self.stop_reason:
            self.stop_reason = reason
        self._stop.set()
        if self._driver is not None:
            self._driver.stop()

    def run(self, driver: Any, *, max_frames: int | None = None, exit_after_call: bool = False) -> int:
        """Run frames until :meth:`stop`, ``max_frames`` or (``exit_after_call``) the first
        call attempt has ended and the handset is back on the hook; then close the phone
        (an active call ends cleanly: CDR closed, charges final, recording finalised).
        Returns the frames run.
        """
        self._driver = driver
        if self.json is not None:
            self.json.write({"event": "Started", "frame": self.clock.frame,
                             "terminal": getattr(self.line, "terminal", ""),
                             "keypad": getattr(self.phone.keypad, "url", repr(self.phone.keypad)),
                             "realtime": type(driver).__name__ == "RealTimeDriver"})
        self._draw()

        def step(frame_index: int) -> bool:
            self.phone.step(frame_index)
            self.after_frame()
            if exit_after_call and self.line.calls and not self.phone.off_hook:
                self.stop("call ended")
            return not self._stop.is_set()

        try:
            frames = driver.run(step, max_frames=max_frames)
        finally:
            self._driver = None
            self.phone.close()   # Shutdown -> the flow ends the call; CDR and recording finalised
            self.after_frame()
            self._draw(final=True)
        if self.json is not None:
            for call in self.line.calls:
                self.json.write({"event": "CallSummary", "frame": self.clock.frame, "call": call.call,
                                 "cdr_id": call.cdr_id, "disposition": call.disposition,
                                 "recording": call.recording, "number": call.number,
                                 "billed_minutes": call.billed_minutes, "amount_cents": call.amount_cents})
            self.json.write({"event": "Stopped", "frame": self.clock.frame,
                             "reason": self.stop_reason or "end"})
        return frames
