"""hid://: the evdev mapping fed with real ``evdev.InputEvent`` objects (no uinput here),
and the backend's read/vanish path through a device object with evdev's surface."""

from __future__ import annotations

import errno
import os

import pytest

evdev = pytest.importorskip("evdev")
from evdev import InputEvent, ecodes  # noqa: E402

from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged  # noqa: E402
from phonesim.exc import DeviceNotFound, InvalidUrl  # noqa: E402
from phonesim.hw.keypad import open_keypad  # noqa: E402
from phonesim.hw.keypad_hid import HidKeyMapper, HidKeypad  # noqa: E402


def key(name: str, value: int) -> InputEvent:
    return InputEvent(1700000000, 0, ecodes.EV_KEY, ecodes.ecodes[name], value)


def tap(name: str) -> list[InputEvent]:
    return [key(name, 1), InputEvent(1700000000, 0, ecodes.EV_SYN, 0, 0), key(name, 0)]


class FakeInputDevice:
    """evdev.InputDevice's surface (fd, read, grab, ungrab, close) over a pipe."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.queue: list[InputEvent] = []
        self.grabbed = False
        self.vanished = False
        self.closed = False

    @property
    def fd(self) -> int:
        return self.read_fd

    def push(self, events) -> None:
        self.queue.extend(events)
        os.write(self.write_fd, b"x")

    def vanish(self) -> None:
        self.vanished = True
        os.write(self.write_fd, b"x")

    def read(self):
        os.read(self.read_fd, 4096)
        if self.vanished:
            raise OSError(errno.ENODEV, "No such device")
        if not self.queue:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        events, self.queue = self.queue, []
        return iter(events)

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.read_fd)
            os.close(self.write_fd)


def test_keypad_codes_numlock_off_codes_and_kiosk_keys():
    mapper = HidKeyMapper()
    names = {"KEY_KP0": "0", "KEY_KP9": "9", "KEY_KPASTERISK": "*", "KEY_KPENTER": "#",
             "KEY_INSERT": "0", "KEY_END": "1", "KEY_DOWN": "2", "KEY_PAGEDOWN": "3",
             "KEY_LEFT": "4", "KEY_KP5": "5", "KEY_RIGHT": "6", "KEY_HOME": "7", "KEY_UP": "8",
             "KEY_PAGEUP": "9", "KEY_KPSLASH": "A", "KEY_KPMINUS": "B", "KEY_BACKSPACE": "C",
             "KEY_KPDOT": "D"}
    for name, want in names.items():
        got = [e for ev in tap(name) for e in mapper.map(ev)]
        assert [(type(e), e.key) for e in got] == [(KeyDown, want), (KeyUp, want)], name


def test_repeat_sync_and_unknown_keys_are_ignored():
    mapper = HidKeyMapper()
    assert mapper.map(key("KEY_KP1", 2)) == []  # auto-repeat
    assert mapper.map(InputEvent(0, 0, ecodes.EV_MSC, 4, 458841)) == []  # scan code
    assert mapper.map(key("KEY_F1", 1)) == []
    assert mapper.ignored == 1


def test_hook_key_toggle_and_hold_modes():
    toggle = HidKeyMapper(hook_key="KEY_KPPLUS")
    seen = [e for ev in tap("KEY_KPPLUS") + tap("KEY_KPPLUS") for e in toggle.map(ev)]
    assert seen == [HookChanged(True, 0), HookChanged(False, 1)]
    hold = HidKeyMapper(hook_key="KEY_NUMLOCK", hook_mode="hold")
    seen = [e for ev in tap("KEY_NUMLOCK") for e in hold.map(ev)]
    assert seen == [HookChanged(True, 0), HookChanged(False, 1)]
    with pytest.raises(ValueError, match="KEY_KPPLUS"):
        HidKeyMapper(hook_key="PLUS")


@pytest.mark.timeout(10)
def test_backend_reads_grabs_and_survives_a_vanishing_device(tmp_path):
    device = FakeInputDevice()
    keypad = HidKeypad("hid:///dev/input/by-id/usb-test-event-kbd", device=device, retry_s=0.01)
    assert device.grabbed
    device.push(tap("KEY_KPPLUS") + [key("KEY_KP4", 1), key("KEY_KP4", 2)])
    assert keypad.read_event(timeout_s=1) == HookChanged(True, 0)
    assert keypad.read_event(timeout_s=1) == KeyDown("4", 1)
    device.vanish()  # pulled out while 4 is held
    gone = [keypad.read_event(timeout_s=1), keypad.read_event(timeout_s=1)]
    assert isinstance(gone[0], LinkChanged) and not gone[0].up and "vanished" in gone[0].reason
    assert gone[1] == KeyUp("4", -1)
    assert keypad.off_hook  # the call goes on
    # the path does not exist here, so reopening keeps failing quietly
    assert keypad.read_event(timeout_s=0.05) is None and not keypad.link_up
    keypad.close()
    keypad.close()
    assert device.closed


def test_missing_device_and_bad_url_are_clear_errors(tmp_path):
    with pytest.raises(DeviceNotFound, match="does not exist"):
        open_keypad(f"hid://{tmp_path}/event99")
    with pytest.raises(InvalidUrl, match="hook"):
        open_keypad("hid:///dev/input/event0?hook=PLUS")
    with pytest.raises(InvalidUrl, match="device path"):
        open_keypad("hid://")
