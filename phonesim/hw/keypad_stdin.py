"""``stdin://``: the laptop's keyboard as the keypad.

Keys ``0-9 * #`` and ``A-D`` (or ``a-d``) are presses; ``h`` toggles the hook.
A terminal sends no key-up, so each press is released ``hold_ms`` later
(default 120 ms: long enough to be a valid DTMF digit).  Keys typed or
pasted faster than that are played one after another, 80 ms apart, never as
a chord.  On a terminal the
keypad puts it in cbreak mode (no line editing, no echo; Ctrl-C still works)
and restores the settings on close; when stdin is a pipe or a file it reads
whatever arrives (newlines and spaces are ignored), so
``echo h1234# | phonesim phone --keypad stdin://`` works.  End of input is
reported once as ``LinkChanged(False, "end of input")``.
"""

from __future__ import annotations

import collections
import os
import select
import sys
import termios
import time
import tty

from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.hw.keypad import Keypad, parse_keypad_url

__all__ = ["StdinKeypad"]

_KEYS = {ch: ch for ch in "0123456789*#ABCD"} | {ch: ch.upper() for ch in "abcd"}


class StdinKeypad(Keypad):
    """``stdin://?hold_ms=120``; ``stream`` (anything with ``fileno()``) replaces ``sys.stdin``."""

    scheme = "stdin"

    def __init__(self, url: str = "stdin://", *, stream=None) -> None:
        _, params = parse_keypad_url(url, {"hold_ms": int})
        super().__init__(url)
        self.hold_ms = params.get("hold_ms", 120)
        self.fd = (stream if stream is not None else sys.stdin).fileno()
        self.is_tty = os.isatty(self.fd)
        self._saved_mode = None
        if self.is_tty:
            self._saved_mode = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        self.gap_ms = 80
        self._typed: collections.deque[str] = collections.deque()  # symbols not yet played
        self._holding: str | None = None
        self._release_s = 0.0
        self._next_press_s = 0.0
        self._hook = False
        self._seq = 0
        self._eof = False
        self._end_reported = False
        self.ignored = 0

    def _next_seq(self) -> int:
        seq, self._seq = self._seq, self._seq + 1
        return seq

    def _play(self) -> list:
        """Turn typed symbols into events, one key at a time (a paste must not chord)."""
        out = []
        now = time.monotonic()
        if self._holding is not None and now >= self._release_s:
            out.append(KeyUp(self._holding, self._next_seq()))
            self._holding = None
            self._next_press_s = self._release_s + self.gap_ms / 1000.0
        while self._holding is None and self._typed and now >= self._next_press_s:
            symbol = self._typed.popleft()
            if symbol == "h":
                self._hook = not self._hook
                out.append(HookChanged(self._hook, self._next_seq()))
            else:
                out.append(KeyDown(symbol, self._next_seq()))
                self._holding = symbol
                self._release_s = now + self.hold_ms / 1000.0
        return out

    def _play_then_end(self) -> list:
        """After end of input: the remaining presses, then LinkChanged(False) once."""
        out = self._play()
        if not self._typed and self._holding is None and not self._end_reported:
            self._end_reported = True
            out.append(LinkChanged(False, "end of input"))
        return out

    def _next_due_s(self) -> float | None:
        if self._holding is not None:
            return self._release_s
        if self._typed:
            return self._next_press_s
        return None

    def _read_raw(self, timeout_s: float) -> list:
        out = self._play_then_end() if self._eof else self._play()
        if out:
            return out
        wait_s = max(0.0, timeout_s)
        due = self._next_due_s()
        if due is not None:
            wait_s = min(wait_s, max(0.0, due - time.monotonic()))
        if self._eof:
            time.sleep(wait_s)  # stdin is finished; only queued presses can still come
            return self._play_then_end()
        ready, _, _ = select.select([self.fd], [], [], wait_s)
        if ready:
            data = os.read(self.fd, 256)
            if not data:
                self._eof = True
                return self._play_then_end()
            for ch in data.decode("ascii", errors="replace"):
                if ch in "hH":
                    self._typed.append("h")
                elif ch in _KEYS:
                    self._typed.append(_KEYS[ch])
                elif not ch.isspace():
                    self.ignored += 1
        return self._play()

    def _close(self) -> None:
        if self._saved_mode is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved_mode)
            self._saved_mode = None
