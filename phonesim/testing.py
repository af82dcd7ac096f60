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
- :class:`LaggedJobs`: a virtual-time job runner whose answers arrive late (in line time),
  to show a line behaves the same at any platform latency.
- :func:`slowed` and :func:`failing`: the platform's interfaces, answering after a real
  delay (real time) or raising, for the same proof in real time and for failures.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from phonesim.clock import VirtualClock, frames_from_s
from phonesim.facility.farend import RobotFarEnd
from phonesim.facility.jobs import Done, Work, run_logged
from phonesim.facility.services import Services
from phonesim.hw.audio import NullAudioPort
from phonesim.hw.audio_loopback import loopback_pair
from phonesim.hw.keypad_script import MockKeypad

__all__ = ["LaggedJobs", "MockKeypad", "NullAudioPort", "RobotFarEnd", "VirtualClock", "failing",
           "loopback_pair", "slowed"]


class LaggedJobs:
    """Runs platform work at once but hands each answer back ``latency_s`` of line time later,
    in submission order: a database that answers slowly, in virtual time."""

    realtime = False

    def __init__(self, clock: Any, latency_s: float) -> None:
        self.clock = clock
        self.latency_frames = frames_from_s(latency_s)
        self._finished: deque[tuple[int, Done, Any, BaseException | None]] = deque()
        self.failures = 0

    def __repr__(self) -> str:
        return f"<LaggedJobs latency={self.latency_frames} frames pending={len(self._finished)}>"

    def submit(self, work: Work, done: Done) -> None:
        result, error = run_logged(work)
        self.failures += error is not None
        self._finished.append((self.clock.frame + self.latency_frames, done, result, error))

    def run_done(self, *, everything: bool = False) -> int:
        n = 0
        while self._finished and (everything or self._finished[0][0] <= self.clock.frame):
            _, done, result, error = self._finished.popleft()
            done(result, error)
            n += 1
        return n

    def drain(self, timeout_s: float = 30.0) -> None:
        while self._finished:
            self.run_done(everything=True)

    def close(self) -> None:
        self.drain()


class _Wrapped:
    """One of the platform's interfaces, each call first passing ``before(name)``."""

    def __init__(self, inner: Any, before: Any) -> None:
        self._inner = inner
        self._before = before

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._before(name)
            return method(*args, **kwargs)
        return call


def slowed(services: Services, delay_s: float) -> Services:
    """The same interfaces, each answer ``delay_s`` late (a real sleep: use on a worker thread)."""
    def sleep(name: str) -> None:
        time.sleep(delay_s)
    return Services(*(_Wrapped(part, sleep) for part in
                      (services.identity, services.policy, services.billing, services.records)))


def failing(services: Services, *methods: str, error: BaseException | None = None) -> Services:
    """The same interfaces, but ``methods`` (e.g. ``"check_number"``) raise ``error``."""
    def fail(name: str) -> None:
        if name in methods:
            raise error if error is not None else OSError(f"{name}: the database is away")
    return Services(*(_Wrapped(part, fail) for part in
                      (services.identity, services.policy, services.billing, services.records)))
