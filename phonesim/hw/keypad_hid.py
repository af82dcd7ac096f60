"""``hid:///dev/input/...``: an off-the-shelf USB numeric keypad, through python-evdev.

python-evdev is imported only here.  The device is grabbed, so its keys do not
also type into the console or a desktop.  A USB keypad has no hook switch: one
key (``?hook=KEY_KPPLUS`` by default) stands in for it, toggling the hook on
each press (``hook_mode=toggle``) or meaning "lifted while held"
(``hook_mode=hold``, for a real hook switch wired into a keyboard encoder).

Key mapping (:data:`KEY_NAMES`): the keypad codes ``KEY_KP0..KEY_KP9``,
``KEY_KPASTERISK`` (*), ``KEY_KPENTER`` (#), and the codes a keypad with its
own NumLock logic sends instead (``KEY_INSERT`` = 0, ``KEY_END`` = 1, ... ,
``KEY_PAGEUP`` = 9); for a kiosk's A-D the remaining keypad keys
(``KEY_KPSLASH`` A, ``KEY_KPMINUS`` B, ``KEY_BACKSPACE`` C, ``KEY_KPDOT`` D).
:class:`HidKeyMapper` holds that logic and is tested by feeding it
``evdev.InputEvent`` objects (no uinput on CI machines).
"""

from __future__ import annotations

import errno
import logging
import select
import time

from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.exc import BackendUnavailable, DeviceNotFound, InvalidInput, InvalidUrl, KeypadError
from phonesim.hw.keypad import Keypad, parse_keypad_url

log = logging.getLogger(__name__)

__all__ = ["KEY_NAMES", "HidKeyMapper", "HidKeypad"]

#: evdev key name -> keypad key
KEY_NAMES: dict[str, str] = {
    **{f"KEY_KP{d}": str(d) for d in range(10)},
    **{f"KEY_{d}": str(d) for d in range(10)},  # a keyboard's top row, for laptops
    "KEY_KPASTERISK": "*", "KEY_KPENTER": "#", "KEY_ENTER": "#",
    # NumLock off (keypads that translate themselves)
    "KEY_INSERT": "0", "KEY_END": "1", "KEY_DOWN": "2", "KEY_PAGEDOWN": "3", "KEY_LEFT": "4",
    "KEY_RIGHT": "6", "KEY_HOME": "7", "KEY_UP": "8", "KEY_PAGEUP": "9",
    # kiosk keys A-D
    "KEY_KPSLASH": "A", "KEY_KPMINUS": "B", "KEY_BACKSPACE": "C", "KEY_KPDOT": "D",
    "KEY_DELETE": "D",  # KEY_KPDOT with NumLock off
}

_EV_KEY = 1
_DOWN, _UP, _REPEAT = 1, 0, 2


def _evdev():
    try:
        import evdev
    except ImportError as err:
        raise BackendUnavailable("hid:// keypads need python-evdev: pip install 'phonesim[hid]'") from err
    return evdev


class HidKeyMapper:
    """``evdev.InputEvent`` -> keypad events; pure logic, one instance per device."""

    def __init__(self, *, hook_key: str = "KEY_KPPLUS", hook_mode: str = "toggle") -> None:
        ecodes = _evdev().ecodes
        if hook_key not in ecodes.ecodes:
            raise InvalidInput(f"hook key: expected an evdev key name like 'KEY_KPPLUS', got {hook_key!r}")
        if hook_mode not in ("toggle", "hold"):
            raise InvalidInput(f"hook mode: expected 'toggle' or 'hold', got {hook_mode!r}")
        self.hook_code = ecodes.ecodes[hook_key]
        self.hook_mode = hook_mode
        self.codes = {ecodes.ecodes[name]: key for name, key in KEY_NAMES.items()
                      if name in ecodes.ecodes and ecodes.ecodes[name] != self.hook_code}
        self.off_hook = False
        self.seq = 0
        self.ignored = 0  # events that were not keypad keys

    def map(self, event) -> list:
        """One input event -> zero or more keypad events (auto-repeat is dropped)."""
        if event.type != _EV_KEY or event.value == _REPEAT:
            return []
        if event.code == self.hook_code:
            if self.hook_mode == "hold":
                off_hook = event.value == _DOWN
            elif event.value == _DOWN:
                off_hook = not self.off_hook
            else:
                return []
            if off_hook == self.off_hook:
                return []
            self.off_hook = off_hook
            seq, self.seq = self.seq, self.seq + 1
            return [HookChanged(off_hook, seq)]
        key = self.codes.get(event.code)
        if key is None:
            self.ignored += 1
            return []
        seq, self.seq = self.seq, self.seq + 1
        return [KeyDown(key, seq) if event.value == _DOWN else KeyUp(key, seq)]


class HidKeypad(Keypad):
    """``hid:///dev/input/by-id/usb-...-event-kbd?hook=KEY_KPPLUS&hook_mode=toggle&grab=1``.

    ``device`` (optional) is an already open object with evdev's ``InputDevice``
    surface (``fd``, ``read()``, ``grab()``, ``ungrab()``, ``close()``); tests pass one.
    When the device vanishes (``ENODEV``) the keypad reports ``LinkChanged(False)``
    and tries to reopen the path every ``retry_s``.
    """

    scheme = "hid"

    def __init__(self, url: str, *, device=None, retry_s: float = 0.5) -> None:
        parts, params = parse_keypad_url(url, {"hook": str, "hook_mode": str, "grab": bool,
                                               "kind": str})
        super().__init__(url)
        self.path = parts.netloc + parts.path
        if not self.path and device is None:
            raise InvalidUrl(f"keypad URL {url!r}: expected a device path, e.g. "
                             "hid:///dev/input/by-id/usb-...-event-kbd")
        self.kind = params.get("kind", "4x3")
        if self.kind not in ("4x3", "4x4"):
            raise InvalidUrl(f"keypad URL {url!r}: kind={self.kind!r}: expected '4x3' or '4x4'")
        try:
            self.mapper = HidKeyMapper(hook_key=params.get("hook", "KEY_KPPLUS"),
                                       hook_mode=params.get("hook_mode", "toggle"))
        except ValueError as err:
            raise InvalidUrl(f"keypad URL {url!r}: {err}") from err
        self.grab = params.get("grab", True)
        self.retry_s = retry_s
        self.reconnects = 0
        self._next_retry_s = 0.0
        self._device = device if device is not None else self._open()
        if device is not None and self.grab:
            device.grab()

    def _open(self):
        evdev = _evdev()
        try:
            device = evdev.InputDevice(self.path)
        except FileNotFoundError as err:
            raise DeviceNotFound(f"keypad {self.url!r}: {self.path} does not exist "
                                 f"(input devices here: {evdev.list_devices() or 'none'})") from err
        except PermissionError as err:
            raise KeypadError(f"keypad {self.url!r}: no permission to read {self.path}; "
                              "add the user to the 'input' group") from err
        except OSError as err:
            raise KeypadError(f"keypad {self.url!r}: cannot open {self.path}: {err}") from err
        if self.grab:
            try:
                device.grab()
            except OSError as err:
                device.close()
                raise KeypadError(f"keypad {self.url!r}: cannot grab {self.path} "
                                  f"(another program holds it?): {err}") from err
        return device

    def _read_raw(self, timeout_s: float) -> list:
        if self._device is None:
            return self._reconnect(timeout_s)
        try:
            ready, _, _ = select.select([self._device.fd], [], [], max(0.0, timeout_s))
            if not ready:
                return []
            out = []
            for event in self._device.read():
                out.extend(self.mapper.map(event))
            return out
        except BlockingIOError:
            return []
        except OSError as err:
            if err.errno not in (errno.ENODEV, errno.EIO, errno.EBADF):
                raise KeypadError(f"keypad {self.url!r}: read failed: {err}") from err
            self._forget_device()
            self._next_retry_s = time.monotonic() + self.retry_s
            return [LinkChanged(False, f"device vanished: {err}")]

    def _reconnect(self, timeout_s: float) -> list:
        now = time.monotonic()
        if now < self._next_retry_s:
            time.sleep(min(timeout_s, self._next_retry_s - now))  # idle wait: nothing to read
            return []
        self._next_retry_s = now + self.retry_s
        try:
            self._device = self._open()
        except (KeypadError, DeviceNotFound, BackendUnavailable):
            return []
        self.reconnects += 1
        return [LinkChanged(True, f"reopened {self.path}")]

    def _forget_device(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except OSError as err:   # an unplugged keypad: forgotten anyway
                log.debug("hid keypad: closing the device: %s", err)

    def _close(self) -> None:
        if self._device is not None and self.grab:
            try:
                self._device.ungrab()
            except OSError as err:   # an unplugged keypad cannot be ungrabbed: closed anyway
                log.debug("hid keypad: ungrab: %s", err)
        self._forget_device()
