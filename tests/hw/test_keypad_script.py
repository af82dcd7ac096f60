"""script://, mock:// and the rules the base class applies to every backend."""

from __future__ import annotations

import pytest

from phonesim.clock import VirtualClock
from phonesim.events import HookChanged, KeyDown, KeyUp
from phonesim.exc import DeviceClosed, InvalidUrl
from phonesim.hw.keypad import open_keypad
from phonesim.hw.keypad_script import MockKeypad, ScriptKeypad
from phonesim.testing import MockKeypad as PublicMockKeypad


def events_by_frame(keypad, clock, frames: int) -> list[tuple[int, object]]:
    out = []
    for _ in range(frames):
        out += [(clock.frame, e) for e in keypad.poll()]
        clock.advance(1)
    return out


def test_script_timing_is_in_frames_of_the_injected_clock():
    clock = VirtualClock()
    with open_keypad("script://12%23?interval_ms=200&hold_ms=100", clock=clock) as keypad:
        got = events_by_frame(keypad, clock, 60)
        assert keypad.done
    # lift at 0, then one key every 10 frames (200 ms) from frame 10, each held 5 frames
    assert got == [(0, HookChanged(True, 0)),
                   (10, KeyDown("1", 1)), (15, KeyUp("1", 2)),
                   (20, KeyDown("2", 3)), (25, KeyUp("2", 4)),
                   (30, KeyDown("#", 5)), (35, KeyUp("#", 6))]


def test_script_with_explicit_hook_and_pauses():
    clock = VirtualClock()
    keypad = open_keypad("script://%2B5,-?interval_ms=100", clock=clock)
    got = events_by_frame(keypad, clock, 30)
    assert got == [(0, HookChanged(True, 0)), (5, KeyDown("5", 1)), (8, KeyUp("5", 2)),  # 150 ms = 7.5 -> 8
                   (15, HookChanged(False, 3))]


def test_script_without_a_clock_runs_in_real_time():
    keypad = open_keypad("script://7?interval_ms=20&hold_ms=10")
    events = [keypad.read_event(timeout_s=2.0) for _ in range(3)]
    assert events == [HookChanged(True, 0), KeyDown("7", 1), KeyUp("7", 2)]
    assert keypad.read_event(timeout_s=0.05) is None


@pytest.mark.parametrize("url, message", [
    ("script://12x", "symbol 'x'"),
    ("script://1?interval_ms=soon", "interval_ms"),
    ("script://1?speed=2", "unknown parameter 'speed'"),
    ("script://1?interval_ms=100&hold_ms=100", "interval_ms > hold_ms"),
    ("script://1?hook=maybe", "hook='maybe'"),
    ("mock://?x=1", "unknown parameter"),
    ("bluetooth://pad", "unknown scheme"),
    ("/dev/ttyACM0", "SCHEME://"),
    ("hid+x://a", "unknown scheme"),
])
def test_bad_urls_say_what_was_expected(url, message):
    with pytest.raises(InvalidUrl, match=message):
        open_keypad(url)


def test_mock_actions_queue_like_a_person_typing():
    clock = VirtualClock()
    keypad = open_keypad("mock://", clock=clock)
    assert isinstance(keypad, PublicMockKeypad) and PublicMockKeypad is MockKeypad
    keypad.lift()
    keypad.type("12", hold_ms=100, gap_ms=60)
    keypad.hang_up()
    got = events_by_frame(keypad, clock, 30)
    assert got == [(0, HookChanged(True, 0)), (0, KeyDown("1", 1)), (5, KeyUp("1", 2)),
                   (8, KeyDown("2", 3)), (13, KeyUp("2", 4)), (16, HookChanged(False, 5))]


def test_base_rules_hook_repeats_and_link_loss():
    keypad = MockKeypad(clock=VirtualClock())
    keypad.inject(HookChanged(True))
    keypad.inject(HookChanged(True))  # no change: dropped
    keypad.inject(KeyDown("5"))
    keypad.inject(KeyDown("5"))  # auto-repeat: dropped
    keypad.inject(KeyUp("9"))  # never pressed: dropped
    keypad.unplug("cable")
    keypad.inject(KeyUp("5"))  # already released by the link loss: dropped
    keypad.replug()
    kinds = [(type(e).__name__, getattr(e, "seq", None)) for e in keypad.poll()]
    assert kinds == [("HookChanged", 0), ("KeyDown", 2), ("LinkChanged", None), ("KeyUp", -1),
                     ("LinkChanged", None)]
    assert keypad.off_hook and keypad.link_up and keypad.held_keys == ()


def test_outputs_are_validated_and_remembered():
    keypad = MockKeypad(kind="4x4")
    keypad.set_led(2, True)
    keypad.set_display(1, "Balance $4.20")
    assert keypad.leds == {2: True} and keypad.display[1] == "Balance $4.20"
    with pytest.raises(ValueError, match="0..7"):
        keypad.set_led(9, True)
    with pytest.raises(ValueError, match="at most 20"):
        keypad.set_display(0, "x" * 21)
    with pytest.raises(ValueError, match="0..3"):
        keypad.set_display(4, "x")


def test_close_is_idempotent_and_reads_after_close_fail():
    keypad = MockKeypad()
    keypad.press("1", hold_ms=1)
    assert "MockKeypad" in repr(keypad) and "on-hook" in repr(keypad)
    keypad.close()
    keypad.close()
    assert "closed" in repr(keypad)
    with pytest.raises(DeviceClosed):
        keypad.read_event(timeout_s=0)
    with pytest.raises(DeviceClosed):
        keypad.set_led(0, True)


def test_mock_without_clock_blocks_until_due():
    keypad = MockKeypad()
    keypad.press("4", hold_ms=30)
    assert keypad.read_event(timeout_s=1.0) == KeyDown("4", 0)
    assert keypad.read_event(timeout_s=1.0) == KeyUp("4", 1)


def test_script_keypad_class_repr():
    assert "ScriptKeypad" in repr(ScriptKeypad("script://1", clock=VirtualClock()))


def test_h_toggles_the_hook_in_scripts_like_on_stdin():
    clock = VirtualClock()
    keypad = open_keypad("script://h1h?interval_ms=100", clock=clock)
    got = [e for _, e in events_by_frame(keypad, clock, 20)]
    assert got == [HookChanged(True, 0), KeyDown("1", 1), KeyUp("1", 2), HookChanged(False, 3)]
    mock = MockKeypad(clock=clock)
    mock.type("h2h", hold_ms=20, gap_ms=20)
    got = [e for _, e in events_by_frame(mock, clock, 20)]
    assert got == [HookChanged(True, 0), KeyDown("2", 1), KeyUp("2", 2), HookChanged(False, 3)]
