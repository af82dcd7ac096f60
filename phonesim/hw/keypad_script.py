"""Keypads without hardware: ``script://`` (a fixed key script) and ``mock://``.

Both keep a timeline of events due at given times.  With an injected
:class:`~phonesim.clock.Clock` the times are frames of that clock, so a test
(or the loopback demo) is deterministic: an event is due when the clock has
reached its frame.  ``poll()`` never waits; ``read_event(timeout_s)`` waits at
most its timeout for another thread to advance the clock (or press a key).  Without a
clock they run on the monotonic wall clock, as a person would type.

The key-script language (shared with the firmware runner,
``python -m firmware_stubs.host``): keys ``0-9 * # A-D``, ``+`` lifts the
handset, ``-`` hangs up, ``h`` toggles the hook (as on ``stdin://``), ``,`` pauses
one interval.  In a URL write ``#`` as ``%23`` and ``+`` as ``%2B``:
``script://%2B1234%23?interval_ms=200`` (or ``script://h1234%23``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import urllib.parse

from phonesim.clock import frames_from_ms
from phonesim.events import KEYS, HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.exc import InvalidInput, InvalidUrl
from phonesim.hw.keypad import Keypad, parse_keypad_url

__all__ = ["MockKeypad", "ScriptKeypad", "TimedKeypad", "parse_key_script"]

SCRIPT_SYMBOLS = "+-h,"


def parse_key_script(script: str) -> str:
    """Check a key script; return it without spaces.  Raises ``ValueError`` naming a bad symbol."""
    cleaned = "".join(script.split())
    for position, symbol in enumerate(cleaned):
        if symbol not in KEYS and symbol not in SCRIPT_SYMBOLS:
            raise InvalidInput(f"key script {script!r}: symbol {symbol!r} at {position} is not a key "
                             f"({KEYS}) nor one of '+' (lift), '-' (hang up), 'h' (toggle the "
                             f"hook), ',' (pause)")
    return cleaned


class TimedKeypad(Keypad):
    """A keypad fed from a timeline of ``(due, event)``; see the module docstring."""

    def __init__(self, url: str = "", *, clock=None) -> None:
        super().__init__(url)
        self.clock = clock
        self._timeline: list = []  # heap of (due, order, event)
        self._order = itertools.count()
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._origin_s = time.monotonic()

    def _now(self) -> float:
        """Frames of the injected clock, else seconds on the monotonic clock."""
        return self.clock.frame if self.clock is not None else time.monotonic()

    def _due_after(self, delay_ms: float, start=None) -> float:
        start = self._now() if start is None else start
        if self.clock is not None:
            return start + frames_from_ms(delay_ms)
        return start + delay_ms / 1000.0

    def _schedule(self, due: float, event) -> None:
        with self._wake:
            heapq.heappush(self._timeline, (due, next(self._order), event))
            self._wake.notify_all()

    def _numbered(self, event):
        """The event with the next sequence number (the firmware numbers its events too)."""
        seq = next(self._seq)
        if isinstance(event, KeyDown):
            return KeyDown(event.key, seq)
        if isinstance(event, KeyUp):
            return KeyUp(event.key, seq)
        if isinstance(event, HookChanged):
            return HookChanged(event.off_hook, seq)
        return event

    @property
    def pending_count(self) -> int:
        """Events still on the timeline (not yet due or not yet read)."""
        return len(self._timeline)

    def _read_raw(self, timeout_s: float) -> list:
        with self._wake:
            due = self._take_due()
            if due or timeout_s <= 0:
                return due
            wait_s = timeout_s
            if self.clock is not None:
                # virtual time moves only when another thread advances the clock: look again soon
                wait_s = min(wait_s, 0.005)
            elif self._timeline:
                wait_s = min(wait_s, max(0.0, self._timeline[0][0] - time.monotonic()))
            self._wake.wait(wait_s)
            return self._take_due()

    def _take_due(self) -> list:
        now = self._now()
        out = []
        while self._timeline and self._timeline[0][0] <= now:
            out.append(self._numbered(heapq.heappop(self._timeline)[2]))
        return out

    def _close(self) -> None:
        with self._wake:
            self._wake.notify_all()


class ScriptKeypad(TimedKeypad):
    """``script://KEYS?interval_ms=200&hold_ms=100&hook=auto&start_ms=0&kind=4x3``.

    Plays the key script once: one symbol every ``interval_ms``, each key held
    ``hold_ms`` (default: half the interval, at most 100 ms).  ``hook=auto``
    lifts the handset first when the script has no ``+``/``-`` of its own;
    ``hook=none`` never touches the hook.  The script starts ``start_ms`` after
    opening (default: one interval after the lift, so a dial tone can play).
    """

    scheme = "script"

    def __init__(self, url: str, *, clock=None) -> None:
        parts, params = parse_keypad_url(url, {"interval_ms": int, "hold_ms": int, "hook": str,
                                               "start_ms": int, "kind": str})
        super().__init__(url, clock=clock)
        raw = urllib.parse.unquote(parts.netloc + parts.path)
        try:
            self.script = parse_key_script(raw)
        except ValueError as err:
            raise InvalidUrl(f"keypad URL {url!r}: {err}") from err
        self.kind = params.get("kind", "4x4" if any(k in self.script for k in "ABCD") else "4x3")
        if self.kind not in ("4x3", "4x4"):
            raise InvalidUrl(f"keypad URL {url!r}: kind={self.kind!r}: expected '4x3' or '4x4'")
        self.interval_ms = params.get("interval_ms", 200)
        self.hold_ms = params.get("hold_ms", min(100, self.interval_ms // 2))
        hook = params.get("hook", "auto")
        if hook not in ("auto", "none"):
            raise InvalidUrl(f"keypad URL {url!r}: hook={hook!r}: expected 'auto' or 'none'")
        if self.interval_ms <= 0 or not 0 < self.hold_ms < self.interval_ms:
            raise InvalidUrl(f"keypad URL {url!r}: expected interval_ms > hold_ms > 0, got "
                             f"interval_ms={self.interval_ms} hold_ms={self.hold_ms}")
        start = self._now()
        at_ms = 0.0
        off_hook = False
        if hook == "auto" and not any(s in self.script for s in "+-h"):
            self._schedule(start, HookChanged(True))
            off_hook = True
            at_ms = float(self.interval_ms)
        at_ms = float(params.get("start_ms", at_ms))
        for symbol in self.script:
            at = self._due_after(at_ms, start)
            if symbol in "+-h":
                off_hook = symbol == "+" or (symbol == "h" and not off_hook)
                self._schedule(at, HookChanged(off_hook))
            elif symbol != ",":
                self._schedule(at, KeyDown(symbol))
                self._schedule(self._due_after(at_ms + self.hold_ms, start), KeyUp(symbol))
            at_ms += self.interval_ms

    @property
    def done(self) -> bool:
        """Every event of the script has been read."""
        return not self._timeline and not self._pending


class MockKeypad(TimedKeypad):
    """A keypad driven by the test (``mock://?kind=4x4``), also :class:`phonesim.testing.MockKeypad`.

    Actions queue one after the other like a person typing: each starts when
    the previous one ended (``hold_ms`` + ``gap_ms`` after a press), or now if
    the keypad has been idle.  With a clock, times are frames of it.

    >>> kp = MockKeypad()
    >>> kp.lift(); kp.press("5", hold_ms=1)
    """

    scheme = "mock"

    def __init__(self, url: str = "mock://", *, clock=None, kind: str | None = None) -> None:
        _, params = parse_keypad_url(url, {"kind": str})
        super().__init__(url, clock=clock)
        kind = kind or params.get("kind", "4x3")
        if kind not in ("4x3", "4x4"):
            raise InvalidInput(f"keypad kind: expected '4x3' or '4x4', got {kind!r}")
        self.kind = kind
        self._cursor = self._now()
        self._script_off_hook = False  # where the queued actions leave the hook

    def _start(self) -> float:
        now = self._now()
        self._cursor = max(self._cursor, now)
        return self._cursor

    def press(self, key: str, hold_ms: float = 100, gap_ms: float = 80) -> None:
        """Press ``key`` for ``hold_ms``; the next action starts ``gap_ms`` after the release."""
        if len(key) != 1 or key not in KEYS:
            raise InvalidInput(f"key: expected one of {KEYS!r}, got {key!r}")
        start = self._start()
        self._schedule(start, KeyDown(key))
        self._schedule(self._due_after(hold_ms, start), KeyUp(key))
        self._cursor = self._due_after(hold_ms + gap_ms, start)

    def type(self, keys: str, hold_ms: float = 100, gap_ms: float = 80) -> None:
        """Press several keys, or play a key script (``+`` lift, ``-`` hang up, ``h`` toggle
        the hook, ``,`` pause)."""
        for symbol in parse_key_script(keys):
            if symbol == "h":
                self._script_off_hook = not self._script_off_hook
                self.lift() if self._script_off_hook else self.hang_up()
            elif symbol == "+":
                self.lift()
            elif symbol == "-":
                self.hang_up()
            elif symbol == ",":
                self._cursor = self._due_after(hold_ms + gap_ms, self._start())
            else:
                self.press(symbol, hold_ms=hold_ms, gap_ms=gap_ms)

    def lift(self) -> None:
        """Lift the handset (off hook)."""
        self._script_off_hook = True
        self._schedule(self._start(), HookChanged(True))

    def hang_up(self) -> None:
        """Put the handset back (on hook)."""
        self._script_off_hook = False
        self._schedule(self._start(), HookChanged(False))

    def unplug(self, reason: str = "unplugged") -> None:
        """The link goes down now (held keys are released by the base class)."""
        self._schedule(self._now(), LinkChanged(False, reason))

    def replug(self, reason: str = "plugged in") -> None:
        self._schedule(self._now(), LinkChanged(True, reason))

    def inject(self, event) -> None:
        """Deliver any event now (the shared rules still apply)."""
        self._schedule(self._now(), event)
