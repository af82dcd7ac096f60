"""Drivers: what calls the line once per 20 ms frame.

The line is a step function ``step(frame_index) -> bool`` (False ends the
run).  The same step runs under both drivers, which is what lets a 15-minute
call with billing and warnings run in a test in a fraction of a second and
behave identically on a Raspberry Pi:

* :class:`VirtualDriver` calls it back to back, as fast as the CPU allows;
  time exists only as the injected clock's frame count.
* :class:`RealTimeDriver` paces it to real time.  With ``paced_by_device``
  the audio port's blocking ``read_frame`` inside the step is the pacing (the
  device is the clock, so the line can never drift from the sound card);
  otherwise the driver sleeps until each next 20 ms boundary on the monotonic
  clock, and counts frames that started more than one frame late
  (``late_frames``) instead of silently drifting.

Both advance the clock with ``clock.tick()`` once per frame, after the step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from phonesim.clock import FRAME_MS, Clock
from phonesim.exc import InvalidInput

__all__ = ["VirtualDriver", "RealTimeDriver"]

Step = Callable[[int], bool]


class _Driver:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.frames_run = 0
        self._stop = threading.Event()
        self.running = False

    def stop(self) -> None:
        """End the run after the current frame (safe from any thread)."""
        self._stop.set()

    def run(self, step: Step, *, max_frames: int | None = None) -> int:
        """Call ``step(frame_index)`` once per frame until it returns False; returns frames run."""
        if max_frames is not None and max_frames < 0:
            raise InvalidInput(f"run: expected max_frames >= 0 or None, got {max_frames}")
        self._stop.clear()
        self.running = True
        n = 0
        try:
            self._begin()
            while (max_frames is None or n < max_frames) and not self._stop.is_set():
                self._before_frame(n)
                if self._stop.is_set():
                    break
                keep_going = step(self.clock.frame)
                self.clock.tick()
                n += 1
                self.frames_run += 1
                if keep_going is False:
                    break
        finally:
            self.running = False
        return n

    def _begin(self) -> None:
        pass

    def _before_frame(self, n: int) -> None:
        pass

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<{type(self).__name__} {state} frames_run={self.frames_run} clock={self.clock!r}>"


class VirtualDriver(_Driver):
    """Frames back to back: virtual time, as fast as the CPU allows."""


class RealTimeDriver(_Driver):
    """Frames paced to real time, by the audio device or by the monotonic clock.

    Parameters
    ----------
    clock : Clock
        Advanced once per frame.
    paced_by_device : bool
        True when the step blocks on a paced audio port (``port.paced``);
        the driver then never sleeps.
    """

    def __init__(self, clock: Clock, *, paced_by_device: bool = False) -> None:
        super().__init__(clock)
        self.paced_by_device = paced_by_device
        self.late_frames = 0
        self.lateness_ms = 0.0          # how late the current frame started (0 when on time)
        self._start_mono = 0.0

    def _begin(self) -> None:
        self._start_mono = time.monotonic()

    def _before_frame(self, n: int) -> None:
        if self.paced_by_device:
            return
        due = self._start_mono + n * FRAME_MS / 1000
        delay = due - time.monotonic()
        self.lateness_ms = max(0.0, -delay * 1000)
        if delay > 0:
            # wait on the stop event, so stop() ends a run promptly
            self._stop.wait(delay)
            # a process stopped (SIGSTOP, a swapped-out page) while it waited wakes up late too
            delay = due - time.monotonic()
            self.lateness_ms = max(0.0, -delay * 1000)
        if -delay > FRAME_MS / 1000:
            self.late_frames += 1
