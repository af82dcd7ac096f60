"""Keypads: the base class every backend shares, and ``open_keypad(url)``.

A keypad gives the terminal (wall phone, kiosk) key presses and the hook
switch as events: :class:`~phonesim.events.KeyDown`, :class:`~phonesim.events.KeyUp`,
:class:`~phonesim.events.HookChanged` and :class:`~phonesim.events.LinkChanged`.
Down *and* up, not just "pressed", because the handset turns a key into a DTMF
tone for as long as it is held.

Backends, chosen by URL (like pyserial's ``serial_for_url``):

====================================  =============================================
``serial:///dev/ttyACM0``             the Pico firmware over USB serial (any pyserial
                                      URL: ``serial+hwgrep://2e8a:0005``,
                                      ``serial+socket://127.0.0.1:7000``)
``hid:///dev/input/by-id/...-kbd``    a USB numeric keypad (python-evdev)
``stdin://``                          the laptop's keyboard (``h`` toggles the hook)
``mock://``                           :class:`~phonesim.hw.keypad_script.MockKeypad`
``script://1234%23?interval_ms=200``  a fixed key script, for demos and tests
====================================  =============================================

The base class implements what all of them share once (a template method: a
backend only provides ``_read_raw(timeout_s) -> list of events``): the hook
state (a :class:`HookChanged` is delivered only when the state really changes,
so a device that re-reports its state after a reconnect does not hang up a
call), held keys (a repeated down or a stray up is dropped; when the link goes
down every held key is released, so a tone never sounds forever), blocking and
non-blocking reads, and closing.
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.parse

from phonesim.events import KEYS, HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.exc import DeviceClosed, InvalidInput, InvalidUrl, NotSupported

__all__ = ["Keypad", "SCHEMES", "open_keypad", "parse_keypad_url"]

#: URL scheme -> "module:class" (imported only when used: evdev and pyserial are optional).
SCHEMES = {
    "serial": "phonesim.hw.keypad_serial:SerialKeypad",
    "hid": "phonesim.hw.keypad_hid:HidKeypad",
    "stdin": "phonesim.hw.keypad_stdin:StdinKeypad",
    "mock": "phonesim.hw.keypad_script:MockKeypad",
    "script": "phonesim.hw.keypad_script:ScriptKeypad",
}

# The longest a blocking read sleeps in one go, so close() from another thread is noticed.
_READ_SLICE_S = 0.25


def parse_keypad_url(url: str, allowed: dict[str, type]) -> tuple[urllib.parse.SplitResult, dict]:
    """Split ``url`` and convert its query to ``{name: value}`` with the types in ``allowed``.

    Unknown or badly typed parameters raise :class:`~phonesim.exc.InvalidUrl`
    naming the URL, the parameter and what was expected.
    """
    parts = urllib.parse.urlsplit(url)
    params: dict = {}
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name not in allowed:
            raise InvalidUrl(f"keypad URL {url!r}: unknown parameter {name!r}; "
                             f"expected one of {sorted(allowed)}")
        kind = allowed[name]
        try:
            if kind is bool:
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise InvalidInput(value)
                params[name] = value.lower() in ("1", "true", "yes")
            else:
                params[name] = kind(value)
        except ValueError as err:
            raise InvalidUrl(f"keypad URL {url!r}: parameter {name}={value!r}: expected "
                             f"{kind.__name__}") from err
    return parts, params


class Keypad:
    """Base of every keypad backend: events out, LEDs and display lines in.

    Subclasses implement :meth:`_read_raw` and may override :meth:`_set_led`,
    :meth:`_set_display` and :meth:`_close`.  Use as a context manager;
    :meth:`close` is idempotent.
    """

    #: the URL scheme this backend serves
    scheme = ""

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.kind = "4x3"  # "4x4" for a kiosk keypad with keys A-D
        self._off_hook = False
        self._link_up = True
        self._held: list[str] = []
        self._pending: collections.deque = collections.deque()
        self._closed = False
        self._lock = threading.Lock()
        self.leds: dict[int, bool] = {}
        self.display: list[str] = ["", "", "", ""]
        self.events_delivered = 0

    # -- state ---------------------------------------------------------------------------------
    @property
    def off_hook(self) -> bool:
        """Whether the handset is lifted (as far as the delivered events tell)."""
        return self._off_hook

    @property
    def link_up(self) -> bool:
        return self._link_up

    @property
    def held_keys(self) -> tuple[str, ...]:
        return tuple(self._held)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- reading -------------------------------------------------------------------------------
    def read_event(self, timeout_s: float | None = None):
        """The next event, waiting up to ``timeout_s`` (``None``: forever); ``None`` on timeout.

        Raises :class:`~phonesim.exc.DeviceClosed` once the keypad is closed.
        """
        deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
        first = True
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise DeviceClosed(f"{self!r}: read_event after close()")
            if deadline is None:
                wait_s = _READ_SLICE_S
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not first:
                    return None
                wait_s = min(max(remaining, 0.0), _READ_SLICE_S)
            first = False
            self._accept_all(self._read_raw(wait_s))

    def poll(self) -> list:
        """Every event available now, without waiting."""
        if self._closed:
            raise DeviceClosed(f"{self!r}: poll after close()")
        self._accept_all(self._read_raw(0.0))
        events = list(self._pending)
        self._pending.clear()
        return events

    def __iter__(self):
        """Events forever (until closed): ``for event in keypad: ...``."""
        while not self._closed:
            event = self.read_event(timeout_s=_READ_SLICE_S)
            if event is not None:
                yield event

    def _accept_all(self, events) -> None:
        for event in events:
            self._accept(event)

    def _accept(self, event) -> None:
        """Apply the shared rules to one raw event and queue what survives."""
        if isinstance(event, HookChanged):
            if event.off_hook == self._off_hook:
                return
            self._off_hook = event.off_hook
        elif isinstance(event, KeyDown):
            if event.key not in KEYS or event.key in self._held:
                return  # not a key, or auto-repeat / a duplicate down
            self._held.append(event.key)
        elif isinstance(event, KeyUp):
            if event.key not in self._held:
                return  # released already (e.g. by a link loss)
            self._held.remove(event.key)
        elif isinstance(event, LinkChanged):
            if event.up == self._link_up:
                return
            self._link_up = event.up
            self._pending.append(event)
            self.events_delivered += 1
            if not event.up:
                for key in self._held:
                    self._pending.append(KeyUp(key, -1))
                    self.events_delivered += 1
                self._held.clear()
            return
        self._pending.append(event)
        self.events_delivered += 1

    def _read_raw(self, timeout_s: float) -> list:
        """Backend hook: raw events, waiting at most ``timeout_s`` for the first one."""
        raise NotSupported(f"{type(self).__name__} does not implement _read_raw()")

    # -- output --------------------------------------------------------------------------------
    def set_led(self, n: int, on: bool) -> None:
        """Turn LED ``n`` (0 = the status LED) on or off."""
        if not isinstance(n, int) or not 0 <= n < 8:
            raise InvalidInput(f"LED number: expected 0..7, got {n!r}")
        self._check_open("set_led")
        self.leds[n] = bool(on)
        self._set_led(n, bool(on))

    def set_display(self, line_no: int, text: str) -> None:
        """Show ``text`` (at most 20 printable ASCII characters) on display line 0..3."""
        if not isinstance(line_no, int) or not 0 <= line_no < 4:
            raise InvalidInput(f"display line: expected 0..3, got {line_no!r}")
        if len(text) > 20 or not all(" " <= ch <= "~" for ch in text):
            raise InvalidInput(f"display text: expected at most 20 printable ASCII characters, "
                             f"got {text!r}")
        self._check_open("set_display")
        self.display[line_no] = text
        self._set_display(line_no, text)

    def _set_led(self, n: int, on: bool) -> None:
        """Backend hook; the default only remembers the state (``self.leds``)."""

    def _set_display(self, line_no: int, text: str) -> None:
        """Backend hook; the default only remembers the text (``self.display``)."""

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise DeviceClosed(f"{self!r}: {what} after close()")

    # -- life cycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the device; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._close()

    def _close(self) -> None:
        """Backend hook: release what the backend holds."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _state_text(self) -> str:
        if self._closed:
            return "closed"
        hook = "off-hook" if self._off_hook else "on-hook"
        link = "" if self._link_up else " link-down"
        held = f" held={''.join(self._held)}" if self._held else ""
        return f"{hook}{link}{held}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r} {self.kind} {self._state_text()}>"


def open_keypad(url: str, *, clock=None, **kwargs) -> Keypad:
    """Open the keypad named by ``url`` (see the module docstring for the schemes).

    ``clock`` (a :class:`~phonesim.clock.Clock`) times ``mock://`` and
    ``script://`` in frames so tests are deterministic; the real devices ignore it.
    Extra keyword arguments go to the backend's constructor.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidUrl(f"keypad URL: expected SCHEME://..., one of {sorted(SCHEMES)}, got {url!r}")
    scheme = url.split("://", 1)[0].lower()
    base = scheme.split("+", 1)[0]
    if base not in SCHEMES or (scheme != base and base != "serial"):
        raise InvalidUrl(f"keypad URL {url!r}: unknown scheme {scheme!r}; expected one of "
                         f"{sorted(SCHEMES)} (or serial+<pyserial scheme>://)")
    module_name, class_name = SCHEMES[base].split(":")
    import importlib

    cls = getattr(importlib.import_module(module_name), class_name)
    if base in ("mock", "script"):
        kwargs["clock"] = clock
    return cls(url, **kwargs)
