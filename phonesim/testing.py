"""Public fakes for fast unit tests and for people without hardware.

These stand in for devices in unit tests and on a laptop; the tests that prove
the real path works use the real parts (a pty with the real firmware, a
PortAudio stream through PulseAudio, a SQLite file, a SIP peer).

- :class:`VirtualClock`: time that moves only when told (a frame at a time).
- :class:`MockKeypad`: a keypad the test drives (``press``, ``lift``, ``hang_up``,
  ``unplug``); also ``open_keypad("mock://")``.
- :func:`loopback_pair`: two ends of an in-process audio line (what one end writes,
  the other reads), like a wire between a handset and a test; also ``loopback://NAME``.
- :class:`NullAudioPort`: a microphone that is silent and an earpiece that discards.
- :class:`RobotFarEnd`: a scripted called party (``robot://accept`` ...) that answers,
  presses its keys as DTMF in its audio, talks and hangs up in frame time.
"""

from __future__ import annotations

from phonesim.clock import VirtualClock
from phonesim.facility.farend import RobotFarEnd
from phonesim.hw.audio import NullAudioPort
from phonesim.hw.audio_loopback import loopback_pair
from phonesim.hw.keypad_script import MockKeypad

__all__ = ["MockKeypad", "NullAudioPort", "RobotFarEnd", "VirtualClock", "loopback_pair"]
