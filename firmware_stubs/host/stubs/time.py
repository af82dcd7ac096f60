# Stub `time` module for the keypad firmware in the MicroPython unix port.
#
# The unix port's built-in time (reachable as `utime`) already has the Pico's
# ticks_ms/ticks_diff/ticks_add/sleep_ms; this module re-exports it and makes
# sleep_ms also service the simulated wiring in the stub `machine`, so control
# commands from the runner are taken even while the firmware idles.

import utime as _utime
from utime import *  # noqa: F401,F403  (the Pico's time API, unchanged)


def sleep_ms(ms):
    import machine

    machine.pump()
    _utime.sleep_ms(ms)
