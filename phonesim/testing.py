"""Public fakes for fast unit tests and for people without hardware.

These stand in for devices in unit tests and on a laptop; the tests that prove
the real path works use the real parts (a pty with the real firmware, a
PortAudio stream through PulseAudio, a SQLite file, a SIP peer).
"""

from __future__ import annotations

from phonesim.clock import VirtualClock

__all__ = ["VirtualClock"]


# --- keypads: a keypad the test drives (also reachable as open_keypad("mock://")) ----------
from phonesim.hw.keypad_script import MockKeypad  # noqa: E402

__all__ += ["MockKeypad"]
