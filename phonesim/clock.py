"""Time on the line, counted in frames.

Everything on the line moves in 20 ms frames of 8 kHz audio (160 samples).  The
facility never reads the wall clock: a :class:`Clock` is injected.  The real-time
driver paces frames to the audio device; the virtual driver runs them as fast as
the CPU allows.  Both advance the clock by one frame per frame processed, so a
15-minute call with billing and warnings runs in a test in well under a second
and behaves the same on a Raspberry Pi.
"""

from __future__ import annotations

import os
import time

from phonesim.exc import InvalidInput

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000  # 160
FRAMES_PER_SECOND = 1000 // FRAME_MS  # 50


def frames_from_s(seconds: float) -> int:
    """Whole frames in ``seconds`` (rounded to the nearest frame)."""
    return int(round(seconds * FRAMES_PER_SECOND))


def frames_from_ms(milliseconds: float) -> int:
    """Whole frames in ``milliseconds`` (rounded to the nearest frame)."""
    return int(round(milliseconds / FRAME_MS))


class Clock:
    """A frame counter; ``now_s`` is derived from it, never from the wall clock.

    ``epoch_s`` is the wall-clock time (seconds since 1970) of frame 0: it is used
    only to stamp records (CDR dates, phone hours), never to measure durations.
    """

    def __init__(self, *, epoch_s: float | None = None) -> None:
        self._frame = 0
        self.epoch_s = time.time() if epoch_s is None else float(epoch_s)

    @property
    def frame(self) -> int:
        """Frames elapsed since the clock started."""
        return self._frame

    @property
    def now_s(self) -> float:
        """Seconds elapsed since the clock started (frame-exact)."""
        return self._frame / FRAMES_PER_SECOND

    @property
    def now_ms(self) -> int:
        return self._frame * FRAME_MS

    def wall_time_s(self) -> float:
        """The calendar time of the current frame, for stamping records."""
        return self.epoch_s + self.now_s

    def wall_time_at(self, frame: int) -> float:
        """The calendar time of another frame of this clock."""
        return self.epoch_s + frame / FRAMES_PER_SECOND

    def tick(self) -> int:
        """Advance by one frame (drivers call this once per frame processed)."""
        self._frame += 1
        return self._frame

    def __repr__(self) -> str:
        return f"<{type(self).__name__} frame={self._frame} now_s={self.now_s:.2f}>"


class VirtualClock(Clock):
    """A clock that only moves when told to: tests and the loopback driver."""

    def __init__(self, *, epoch_s: float = 1_767_225_600.0) -> None:  # 2026-01-01 00:00 UTC
        super().__init__(epoch_s=epoch_s)

    def advance(self, frames: int = 1) -> int:
        if frames < 0:
            raise InvalidInput(f"advance: expected frames >= 0, got {frames}")
        self._frame += frames
        return self._frame

    def advance_s(self, seconds: float) -> int:
        return self.advance(frames_from_s(seconds))


class RealTimeClock(Clock):
    """A frame clock paced to the monotonic wall clock.

    :meth:`wait_next_frame` sleeps until the next frame is due.  When an audio
    device paces the line (its blocking read returns every 20 ms) the driver does
    not call it: the device is the clock.
    """

    def __init__(self) -> None:
        super().__init__()
        self._start_mono = time.monotonic()

    def frames_due(self) -> int:
        """Frames that should have been processed by now, by the wall clock."""
        return int((time.monotonic() - self._start_mono) * FRAMES_PER_SECOND)

    def wait_next_frame(self) -> None:
        due_at = self._start_mono + (self._frame + 1) / FRAMES_PER_SECOND
        delay = due_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def normal_priority() -> None:
    """Run the calling thread at the normal scheduling priority.

    A platform process raises itself to real time for its lines' frames (``SCHED_RR``), and
    threads it starts inherit that.  Helpers that are not on a frame's path (the recorder's
    writer, the live-event publisher, the console) call this first, so on a busy machine they
    wait for the lines rather than the lines for them.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (OSError, AttributeError):     # not permitted, or not Linux: nothing was raised
        pass

