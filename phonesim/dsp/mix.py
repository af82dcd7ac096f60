"""Mixing prompts and the warning message into live 20 ms frames.

Two things are added to the conversation in real time:

* :class:`PromptPlayer` plays queued prompts into one direction (the inmate's
  earpiece or the called party), reports which prompts finished in each frame
  (the line turns those into ``PromptFinished`` events), and can be cut short
  by a key press (barge-in) with a short fade instead of a click.
* :class:`WarningInjector` plays the recorded warning ("this call is from a
  correctional facility") into **both** directions, first a configured time
  after the call connects and then at a fixed interval, while lowering
  ("ducking") the conversation by ``duck_db``.  It starts exactly on the frame
  it was scheduled for (never more than one frame late, even if frames were
  skipped), fades the message and the ducking in and out over ``fade_ms``, and
  mixes with saturation so a loud talker plus the message clips instead of
  wrapping round to the opposite sign.

Real-time rules: everything is decoded, faded and enveloped once, in the
constructor or in ``play()``; ``mix_into``/``process`` only slice precomputed
arrays and allocate frame-sized temporaries.  Frames are int16 and are changed
in place.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from phonesim.dsp.levels import db_to_gain

__all__ = ["PromptPlayer", "WarningInjector", "saturating_add", "fade_ramp"]

SAMPLE_RATE_HZ = 8000
FRAME_SAMPLES = 160


def saturating_add(a, b, out=None) -> np.ndarray:
    """``a + b`` for int16 audio, clipped to -32768..32767 instead of wrapping.

    ``out`` may be ``a`` itself (mix in place).  ``b`` may be float (already
    scaled audio); the result is rounded.
    """
    total = np.add(a, b, dtype=np.float64 if np.asarray(b).dtype.kind == "f" else np.int32)
    if total.dtype.kind == "f":
        np.rint(total, out=total)
    np.clip(total, -32768, 32767, out=total)
    if out is None:
        return total.astype(np.int16)
    out[...] = total
    return out


def fade_ramp(n_samples: int) -> np.ndarray:
    """A raised-cosine ramp from 0 to 1 over ``n_samples`` (first sample > 0, last == 1)."""
    if n_samples <= 0:
        return np.ones(0)
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(1, n_samples + 1) / n_samples)


def _check_frame(frame: np.ndarray, what: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.int16 or frame.shape != (FRAME_SAMPLES,):
        got = (f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray)
               else type(frame).__name__)
        raise ValueError(f"{what}: expected an int16 frame of {FRAME_SAMPLES} samples, got {got}")


def _as_prompt(samples, what: str) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1 or x.dtype != np.int16:
        raise ValueError(f"{what}: expected 1-D int16 samples, got {x.dtype} {x.shape}")
    return x


class PromptPlayer:
    """Queued prompts for one direction of the line.

    ``play(samples, tag)`` appends a prompt to the queue (it starts as soon as
    the prompts before it have finished); ``queue([...])`` appends several.
    ``mix_into(frame)`` adds the next 20 ms into ``frame`` and returns the tags
    of prompts that finished inside that frame.  ``stop()`` is barge-in: the
    prompt playing fades out over ``fade_ms`` and the queue is emptied; its tag
    is *not* reported as finished (the caller knows it interrupted it).

    Parameters
    ----------
    fade_ms : float
        Fade applied to the start of every prompt and to a prompt cut short.
    gain_db : float
        Gain applied to every prompt (0 = as recorded).
    """

    def __init__(self, *, fade_ms: float = 5, gain_db: float = 0.0) -> None:
        self.fade_samples = max(1, int(round(fade_ms * SAMPLE_RATE_HZ / 1000)))
        self._ramp = fade_ramp(self.fade_samples)
        self._gain = float(db_to_gain(gain_db))
        self._queue: deque[tuple[np.ndarray, str]] = deque()
        self._current: np.ndarray | None = None
        self._tag: str | None = None
        self._pos = 0
        self._stop_at: int | None = None  # sample index where a barge-in fade ends
        self._acc = np.zeros(FRAME_SAMPLES)
        self.played: list[str] = []  # tags of prompts that finished naturally, in order

    @property
    def busy(self) -> bool:
        """True while a prompt is playing or queued."""
        return self._current is not None or bool(self._queue)

    def play(self, samples, tag: str) -> None:
        """Queue one prompt (int16 at 8 kHz) under ``tag``."""
        self._queue.append((_as_prompt(samples, f"PromptPlayer.play({tag!r})"), str(tag)))

    def queue(self, items) -> None:
        """Queue several ``(samples, tag)`` pairs in order."""
        for samples, tag in items:
            self.play(samples, tag)

    def stop(self, tag: str | None = None) -> bool:
        """Barge-in: fade out the current prompt and drop queued ones.

        With ``tag``, only prompts with that tag are stopped.  Returns True if
        anything was playing or queued and is now stopped.
        """
        stopped = False
        if self._queue:
            kept = deque(item for item in self._queue if tag is not None and item[1] != tag)
            stopped = len(kept) != len(self._queue)
            self._queue = kept
        if self._current is not None and (tag is None or tag == self._tag) and self._stop_at is None:
            self._stop_at = min(len(self._current), self._pos + self.fade_samples)
            stopped = True
        return stopped

    def mix_into(self, frame: np.ndarray) -> list[str]:
        """Add the next 160 samples of prompt audio into ``frame`` (in place, saturating)."""
        _check_frame(frame, "PromptPlayer.mix_into")
        if not self.busy:
            return []
        finished: list[str] = []
        acc = self._acc
        acc[:] = 0.0
        filled = 0
        while filled < FRAME_SAMPLES:
            if self._current is None:
                if not self._queue:
                    break
                self._current, self._tag = self._queue.popleft()
                self._pos = 0
                self._stop_at = None
            end = len(self._current) if self._stop_at is None else self._stop_at
            n = min(FRAME_SAMPLES - filled, end - self._pos)
            if n > 0:
                seg = acc[filled:filled + n]
                seg[:] = self._current[self._pos:self._pos + n]
                # fade in at the start of the prompt
                if self._pos < self.fade_samples:
                    k = min(n, self.fade_samples - self._pos)
                    seg[:k] *= self._ramp[self._pos:self._pos + k]
                # fade out a prompt cut short
                if self._stop_at is not None:
                    idx = np.arange(self._pos, self._pos + n)
                    seg *= (self._stop_at - idx) / self.fade_samples
                self._pos += n
                filled += n
            if self._pos >= end:
                if self._stop_at is None:
                    finished.append(self._tag)
                    self.played.append(self._tag)
                self._current, self._tag, self._stop_at = None, None, None
        if self._gain != 1.0:
            acc *= self._gain
        saturating_add(frame, acc, out=frame)
        return finished

    def __repr__(self) -> str:
        state = f"playing {self._tag!r} at {self._pos}" if self._current is not None else "idle"
        return f"<PromptPlayer {state}, {len(self._queue)} queued>"


class WarningInjector:
    """The periodic warning message, mixed into both directions with ducking.

    Parameters
    ----------
    warning : int16 array
        The recorded warning message at 8 kHz.
    first_after_frames : int
        Frames from :meth:`start` to the first warning.
    interval_frames : int
        Frames from the start of one warning to the start of the next (at
        least the warning's own length).
    duck_db : float
        How much the conversation is lowered while the warning plays.
    fade_ms : float
        Fade of the message and of the ducking at both edges.
    beep : int16 array, optional
        Beep mode: play this (e.g. a 1400 Hz beep) instead of the message.
    gain_db : float
        Gain applied to the message (0 = as recorded).
    """

    def __init__(self, warning, *, first_after_frames: int, interval_frames: int, duck_db: float,
                 fade_ms: float = 5, beep=None, gain_db: float = 0.0) -> None:
        sound = _as_prompt(beep if beep is not None else warning, "WarningInjector")
        if len(sound) == 0:
            raise ValueError("WarningInjector: expected a non-empty warning, got 0 samples")
        if first_after_frames < 0 or interval_frames <= 0:
            raise ValueError(f"WarningInjector: expected first_after_frames >= 0 and interval_frames > 0, "
                             f"got {first_after_frames} and {interval_frames}")
        if duck_db < 0:
            raise ValueError(f"WarningInjector: expected duck_db >= 0 (a cut), got {duck_db}")
        self.mode = "beep" if beep is not None else "message"
        self.first_after_frames = int(first_after_frames)
        self.length_frames = -(-len(sound) // FRAME_SAMPLES)
        self.interval_frames = max(int(interval_frames), self.length_frames)
        self.duck_db = float(duck_db)
        self.fade_samples = max(1, int(round(fade_ms * SAMPLE_RATE_HZ / 1000)))
        total = self.length_frames * FRAME_SAMPLES
        ramp = fade_ramp(min(self.fade_samples, len(sound) // 2))
        # the message, faded at both ends, zero-padded to whole frames
        message = np.zeros(total)
        message[:len(sound)] = sound * db_to_gain(gain_db)
        message[:len(ramp)] *= ramp
        message[len(sound) - len(ramp):len(sound)] *= ramp[::-1]
        # the conversation's gain: 1 -> duck over the fade, duck, duck -> 1 at the end
        duck = float(db_to_gain(-self.duck_db))
        envelope = np.full(total, duck)
        envelope[:len(ramp)] = 1 - (1 - duck) * ramp
        envelope[len(sound) - len(ramp):len(sound)] = 1 - (1 - duck) * ramp[::-1]
        envelope[len(sound):] = 1.0
        self._message = message.reshape(self.length_frames, FRAME_SAMPLES)
        self._envelope = envelope.reshape(self.length_frames, FRAME_SAMPLES)
        self._next_start: int | None = None
        self._playing_since: int | None = None
        self._offset = 0  # frame of the message playing now
        self._tmp = np.zeros(FRAME_SAMPLES)
        self.played_at_frames: list[int] = []

    @property
    def active(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._next_start is not None or self._playing_since is not None

    @property
    def playing(self) -> bool:
        return self._playing_since is not None

    @property
    def next_start_frame(self) -> int | None:
        return self._next_start

    def start(self, at_frame: int) -> None:
        """The call connected at ``at_frame``: schedule the first warning."""
        self._next_start = int(at_frame) + self.first_after_frames
        self._playing_since = None
        self._offset = 0

    def stop(self) -> None:
        """No more warnings (the call ended); one playing now is cut at the frame edge."""
        self._next_start = None
        self._playing_since = None
        self._offset = 0

    def process(self, frame_to_inmate: np.ndarray, frame_to_far: np.ndarray, frame_index: int) -> bool:
        """Mix this frame's part of the warning into both frames (in place); True while playing.

        If ``frame_index`` has passed the scheduled start (frames were skipped),
        the warning starts now; the next one stays on the original grid.
        """
        _check_frame(frame_to_inmate, "WarningInjector.process(frame_to_inmate)")
        _check_frame(frame_to_far, "WarningInjector.process(frame_to_far)")
        if self._playing_since is None:
            if self._next_start is None or frame_index < self._next_start:
                return False
            self._playing_since = int(frame_index)
            self._offset = 0
            self.played_at_frames.append(int(frame_index))
            while self._next_start <= frame_index:
                self._next_start += self.interval_frames
        envelope = self._envelope[self._offset]
        message = self._message[self._offset]
        tmp = self._tmp
        for frame in (frame_to_inmate, frame_to_far):
            np.multiply(frame, envelope, out=tmp)
            tmp += message
            np.rint(tmp, out=tmp)
            np.clip(tmp, -32768, 32767, out=tmp)
            frame[:] = tmp
        self._offset += 1
        if self._offset >= self.length_frames:
            self._playing_since = None
            self._offset = 0
        return True

    def __repr__(self) -> str:
        if self._playing_since is not None:
            state = f"playing since frame {self._playing_since} ({self._offset}/{self.length_frames})"
        elif self._next_start is not None:
            state = f"next at frame {self._next_start}"
        else:
            state = "stopped"
        return (f"<WarningInjector {self.mode} {state}, every {self.interval_frames} frames, "
                f"duck {self.duck_db:g} dB>")
