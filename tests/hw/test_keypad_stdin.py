"""stdin://: a pipe (not a terminal) and a real pty (cbreak mode, restored on close)."""

from __future__ import annotations

import os
import termios

import pytest

from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.hw.keypad_stdin import StdinKeypad


class Fd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def read_all(keypad, count: int) -> list:
    out = []
    for _ in range(count):
        event = keypad.read_event(timeout_s=2.0)
        assert event is not None, f"only {out} arrived"
        out.append(event)
    return out


@pytest.mark.timeout(10)
def test_piped_input_plays_keys_one_at_a_time_then_reports_the_end():
    read_fd, write_fd = os.pipe()
    try:
        keypad = StdinKeypad("stdin://?hold_ms=20", stream=Fd(read_fd))
        assert not keypad.is_tty
        os.write(write_fd, b"h1 1x#\n")  # a paste: must not become a chord; x is ignored
        os.close(write_fd)
        write_fd = None
        events = read_all(keypad, 8)
        assert events == [HookChanged(True, 0), KeyDown("1", 1), KeyUp("1", 2), KeyDown("1", 3),
                          KeyUp("1", 4), KeyDown("#", 5), KeyUp("#", 6),
                          LinkChanged(False, "end of input")]
        assert keypad.ignored == 1
        keypad.close()
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)


@pytest.mark.timeout(10)
def test_terminal_mode_is_set_and_restored():
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with StdinKeypad("stdin://?hold_ms=10", stream=Fd(slave)) as keypad:
            assert keypad.is_tty
            during = termios.tcgetattr(slave)
            assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
            os.write(master, b"bH")  # no Enter needed in cbreak mode
            assert read_all(keypad, 3) == [KeyDown("B", 0), KeyUp("B", 1), HookChanged(True, 2)]
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
