"""Pull the keypad's plug in the middle of a call: the call goes on.

Every keypad event here comes from the real firmware (MicroPython on a pty) through the real
serial backend.  The wall phone runs on a virtual clock, so the test hands it each event at
a chosen frame (through a MockKeypad used as a gate): the tone lengths are then exact in
line time, whatever the machine's load, and the assertions are about what the line did.
"""

from __future__ import annotations

import pytest

from firmware_stubs.host.runner import FirmwareProcess
from phonesim.clock import VirtualClock, frames_from_s
from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged


class Rig:
    def __init__(self, tmp_path, keypad):
        from phonesim.config import load_config
        from phonesim.facility.farend import RobotFarEnd
        from phonesim.facility.ledger import Ledger
        from phonesim.facility.platform import Platform
        from phonesim.hw.audio import NullAudioPort
        from phonesim.hw.keypad_script import MockKeypad
        from phonesim.terminals.wallphone import WallPhone

        self.cfg = load_config(search=False)
        self.clock = VirtualClock()
        self.ledger = Ledger.open(tmp_path / "db.sqlite3", clock=self.clock, cfg=self.cfg)
        self.ledger.seed_demo(self.cfg)
        platform = Platform(self.cfg, ledger=self.ledger)
        self.cdrs = platform.cdrs
        self.line = platform.line(far_end=RobotFarEnd("robot://accept?talk_s=600"), clock=self.clock,
                                  recordings_dir=tmp_path / "rec", keep_history=True)
        self.keypad = keypad  # the real serial keypad
        self.gate = MockKeypad(clock=self.clock)
        self.phone = WallPhone(self.gate, NullAudioPort(), self.line, self.clock, self.cfg.profile)
        self.seen: list = []

    def run_s(self, seconds, until=None) -> bool:
        for _ in range(frames_from_s(seconds)):
            self.phone.step()
            self.clock.tick()
            if until is not None and until():
                return True
        return False

    def next_event(self, kind):
        event = self.keypad.read_event(timeout_s=5.0)
        assert isinstance(event, kind), f"expected {kind.__name__} from the firmware, got {event!r}"
        self.seen.append(event)
        self.gate.inject(event)
        return event

    def press(self, fw, keys: str) -> None:
        for key in keys:
            fw.press(key, 60)
            assert self.next_event(KeyDown).key == key
            self.run_s(0.1)  # a 100 ms tone on the line
            assert self.next_event(KeyUp).key == key
            self.run_s(0.1)

    def close(self):
        self.phone.close()
        self.ledger.close()


@pytest.mark.timeout(120)
def test_unplugging_the_keypad_mid_call_does_not_end_the_call(micropython, tmp_path):
    from phonesim.facility.callflow import Phase
    from phonesim.hw.keypad import open_keypad

    link = tmp_path / "usb-phonesim_keypad-if00"
    fw = FirmwareProcess(micropython=micropython, link=link)
    fw2 = None
    fw.start()
    rig = Rig(tmp_path, open_keypad(f"serial://{link}?heartbeat_ms=200"))
    try:
        phase = lambda: rig.line.state.phase  # noqa: E731
        fw.lift()
        rig.next_event(HookChanged)
        rig.run_s(0.5)
        rig.press(fw, "1234#")
        assert rig.run_s(5, until=lambda: phase() is Phase.CALL_TYPE), phase()
        rig.press(fw, "3")
        assert rig.run_s(5, until=lambda: phase() is Phase.NUMBER), phase()
        rig.press(fw, "5735550100#")
        assert rig.run_s(120, until=lambda: phase() is Phase.CONNECTED), phase()
        rig.run_s(2)

        fw.kill()  # the keypad's USB cable is pulled mid-call
        assert rig.next_event(LinkChanged).up is False
        rig.run_s(10)
        assert phase() is Phase.CONNECTED and rig.line.calls == []

        fw2 = FirmwareProcess(micropython=micropython, link=link, off_hook=True)
        fw2.start()  # plugged back in; the handset is still lifted
        assert rig.next_event(LinkChanged).up is True
        rig.run_s(2)
        assert phase() is Phase.CONNECTED
        assert rig.keypad.poll() == []  # no HookChanged: nothing changed for the call

        fw2.hang_up()
        assert rig.next_event(HookChanged).off_hook is False
        assert rig.run_s(10, until=lambda: bool(rig.line.calls))
        call = rig.line.calls[-1]
        assert call.disposition in ("completed", "hung-up"), call
        inmate_keys = "".join(e.data["digit"] for e in rig.line.log.history
                              if e.kind == "digit" and e.data["side"] == "inmate")
        assert inmate_keys == "\u2022" * 4 + "#35735550100#"  # each key once, PIN masked
        assert rig.keypad.stats["duplicates"] == 0 and rig.keypad.reconnects == 1
    finally:
        rig.keypad.close()
        rig.close()
        fw.stop()
        if fw2 is not None:
            fw2.stop()
