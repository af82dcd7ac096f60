"""The per-frame audio of one line: mixing, prompts, tones, warnings, detectors, recorder taps.

:class:`LineAudio` holds no call rules.  Once per 20 ms frame the line asks it to

1. listen to what the handset *sends* (never the mixed earpiece audio) for keys
   (:meth:`detect_uplink`);
2. build the two directions (:meth:`mix`): the bridged conversation, a call-progress
   tone and prompts per direction, and the warning message injected into both once
   the call is accepted;
3. tap the recorder (:meth:`record`): the inmate's audio left, what the inmate hears
   right (the far end's audio plus the injected warnings and prompts — what an
   investigator needs);
4. listen to the far end's audio (:meth:`detect_far`) for the called party's keys and
   for three-way calling, as the call flow's :class:`~phonesim.facility.callflow.Listening`
   says.

The executor switches its parts on and off (play, stop, bridge, warnings,
recording).  Real-time rules: no allocation beyond frame-sized numpy temporaries,
no file or database I/O (the recorder's writer thread opens and writes the file),
no logging; every method returns at once.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from phonesim.clock import FRAME_SAMPLES, frames_from_s
from phonesim.dsp.dtmf import DtmfDetector
from phonesim.dsp.mix import PromptPlayer, WarningInjector, saturating_add
from phonesim.dsp.tones import ToneSource, render_tone
from phonesim.events import DigitDetected, FarEndDigit, ThreeWaySuspected
from phonesim.facility.recorder import CallRecorder
from phonesim.facility.threeway import ThreeWayDetector
from phonesim.facility.vocabulary import Direction

#: After the accept key, far-end audio this long is not taken for three-way dialling.
THREEWAY_GRACE_FRAMES = frames_from_s(0.5)
TONE_LEVEL_DBM0 = -16.0


def _digit_event(d) -> DigitDetected:
    return DigitDetected(d.digit, d.start_sample, d.end_sample, d.low_dbm0, d.high_dbm0, d.twist_db,
                         d.channel)


class LineAudio:
    """The audio graph of one line (see the module docstring)."""

    def __init__(self) -> None:
        self._uplink_detector = DtmfDetector()
        self._far_detector = DtmfDetector()
        self._threeway = ThreeWayDetector()
        self._players = {Direction.INMATE: PromptPlayer(), Direction.FAR: PromptPlayer()}
        self._tones: dict[Direction, ToneSource] = {}
        self._injector: WarningInjector | None = None
        self._recorder: CallRecorder | None = None
        self.bridged = False
        self._far_rx = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._to_far = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._to_inmate = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._capture: np.ndarray | None = None
        self._captured = 0

    def __repr__(self) -> str:
        return (f"<LineAudio bridged={self.bridged} warnings={self._injector is not None} "
                f"recording={self._recorder is not None}>")

    # --- the per-frame path -------------------------------------------------------------
    def detect_uplink(self, uplink: np.ndarray) -> list[DigitDetected]:
        """Keys in what the handset sends."""
        return [_digit_event(d) for d in self._uplink_detector.feed(uplink)]

    def uplink_lost(self, n_samples: int) -> list[DigitDetected]:
        """The handset's audio lost samples (an input overflow): the detector never joins
        audio across the gap."""
        return [_digit_event(d) for d in self._uplink_detector.fill_in(n_samples)]

    def mix(self, uplink: np.ndarray, now_frame: int) -> tuple[np.ndarray, np.ndarray, list, bool]:
        """This frame's audio: ``(to_far, to_inmate, finished, warning_started)``.

        ``finished`` lists ``(direction, tag)`` of prompts that ended in this frame;
        ``warning_started`` is True in the frame a warning message starts.  The arrays
        are reused from frame to frame: copy what must outlive the frame.
        """
        to_far, to_inmate = self._to_far, self._to_inmate
        if self.bridged:
            to_far[:] = uplink
            to_inmate[:] = self._far_rx
        else:
            to_far[:] = 0
            to_inmate[:] = 0
        tone = self._tones.get(Direction.INMATE)
        if tone is not None:
            saturating_add(to_inmate, tone.read(FRAME_SAMPLES), out=to_inmate)
        finished = [(Direction.INMATE, t) for t in self._players[Direction.INMATE].mix_into(to_inmate)]
        finished += [(Direction.FAR, t) for t in self._players[Direction.FAR].mix_into(to_far)]
        warning_started = False
        if self._injector is not None:
            before = len(self._injector.played_at_frames)
            self._injector.process(to_inmate, to_far, now_frame)
            warning_started = len(self._injector.played_at_frames) > before
        return to_far, to_inmate, finished, warning_started

    def capture(self, uplink: np.ndarray) -> None:
        """Keep the handset's audio while a capture is on (the inmate saying their name)."""
        buf = self._capture
        if buf is not None and self._captured < buf.size:
            n = min(FRAME_SAMPLES, buf.size - self._captured)
            buf[self._captured:self._captured + n] = uplink[:n]
            self._captured += n

    def far_received(self, far_rx: np.ndarray | None) -> np.ndarray:
        """What the far end sent this frame (None: nothing, the line is not up); bridged to the
        inmate in the next frame's :meth:`mix`."""
        if far_rx is None:
            self._far_rx[:] = 0
        else:
            self._far_rx[:] = far_rx
        return self._far_rx

    def record(self, uplink: np.ndarray, to_inmate: np.ndarray) -> None:
        if self._recorder is not None:
            self._recorder.write(uplink, to_inmate)

    def detect_far(self, far_rx: np.ndarray, now_frame: int, *, far_dtmf: bool, threeway: bool) -> list:
        """The called party's keys and three-way suspicions in what the far end sent."""
        events: list = []
        if far_dtmf:
            events += [FarEndDigit(d.digit, d.start_sample, d.end_sample, d.low_dbm0, d.high_dbm0, "inband")
                       for d in self._far_detector.feed(far_rx)]
        if threeway:
            events += self._threeway.feed(far_rx, now_frame)
        return events

    # --- switched by the executor ----------------------------------------------------------
    def play(self, to: Direction, samples: np.ndarray, tag: str) -> None:
        self._players[to].play(samples, tag)

    def stop_prompt(self, to: Direction) -> None:
        self._players[to].stop()

    def start_tone(self, to: Direction, name: str) -> None:
        self._tones[to] = ToneSource(name, level_dbm0=TONE_LEVEL_DBM0)

    def stop_tone(self, to: Direction | None = None) -> None:
        if to is None:
            self._tones.clear()
        else:
            self._tones.pop(to, None)

    def reset_uplink_detector(self) -> None:
        self._uplink_detector.reset()

    def reset_far_detector(self) -> None:
        self._far_detector.reset()

    def bridge(self, now_frame: int) -> None:
        """Connect the two parties; the three-way detector starts afresh and ignores the tail
        of the accept key."""
        self.bridged = True
        self._threeway.reset()
        self._threeway.ignore_digits_until(now_frame + THREEWAY_GRACE_FRAMES)
        self._far_rx[:] = 0

    def unbridge(self) -> None:
        self.bridged = False

    def start_warnings(self, warning: np.ndarray, now_frame: int, *, first_after_s: float,
                       interval_s: float, duck_db: float, fade_ms: float, beep: bool) -> None:
        self._injector = WarningInjector(
            warning, first_after_frames=frames_from_s(first_after_s),
            interval_frames=frames_from_s(interval_s), duck_db=float(duck_db), fade_ms=float(fade_ms),
            beep=render_tone("warning_beep", 0.2) if beep else None)
        self._injector.start(now_frame)

    def stop_warnings(self) -> None:
        if self._injector is not None:
            self._injector.stop()
            self._injector = None

    def start_capture(self, max_samples: int) -> None:
        self._capture = np.zeros(max_samples, dtype=np.int16)
        self._captured = 0

    def stop_capture(self) -> np.ndarray:
        """What was kept since :meth:`start_capture` (empty when none was on)."""
        buf, n = self._capture, self._captured
        self._capture, self._captured = None, 0
        return buf[:n] if buf is not None else np.zeros(0, dtype=np.int16)

    def start_recording(self, recorder: CallRecorder) -> None:
        self._recorder = recorder

    def stop_recording(self) -> CallRecorder | None:
        """Detach the recorder (the caller closes it off the per-frame path)."""
        recorder, self._recorder = self._recorder, None
        return recorder


class _PromptTimes:
    """When each prompt queued in one direction ends, in samples of line time (no audio).

    The same queue rules as :class:`~phonesim.dsp.mix.PromptPlayer`: a prompt starts where
    the one before it ends (mid-frame included); a stop lets the prompt playing fade out
    over the player's fade and drops the rest, reporting none of them as finished.
    """

    def __init__(self, fade_samples: int) -> None:
        self.fade_samples = fade_samples
        self._items: deque[tuple[str, int, int]] = deque()     # (tag, start sample, end sample)
        self._end = 0                                           # where the queue ends

    def play(self, n_samples: int, tag: str, at_sample: int) -> None:
        start = max(self._end, at_sample)
        self._end = start + n_samples
        self._items.append((tag, start, self._end))

    def stop(self, at_sample: int) -> None:
        playing = self._items[0] if self._items and self._items[0][1] < at_sample else None
        self._items.clear()
        self._end = at_sample if playing is None else min(playing[2], at_sample + self.fade_samples)

    def finished(self, through_sample: int) -> list[str]:
        """Tags of the prompts whose last sample is before ``through_sample``, in order."""
        done = []
        while self._items and self._items[0][2] <= through_sample:
            done.append(self._items.popleft()[0])
        return done

    def next_end_frame(self) -> int | None:
        """The frame in which the first queued prompt plays its last sample."""
        return (self._items[0][2] - 1) // FRAME_SAMPLES if self._items else None


class SilentLineAudio:
    """The audio graph's timing without its audio: a facility's day simulated in virtual time.

    It has :class:`LineAudio`'s interface, so a :class:`~phonesim.facility.line.FacilityLine`
    built with it (``Platform.line(..., audio=SilentLineAudio(clock))``) runs the same call
    flow, executor, platform interfaces, SQL, CDRs and charges — but nothing audible is
    computed:

    * **keys are not decoded from audio**: a simulated handset and called party hand them
      over (:meth:`handset_key`, :meth:`far_key`), and a simulated three-way attempt its
      suspicion (:meth:`far_threeway`); they reach the flow through :meth:`detect_uplink` /
      :meth:`detect_far`, so only while the flow listens, as the detectors would;
    * **prompts and warnings are only timed**: each prompt ends when its samples would have
      played (:class:`PromptFinished` on the same frame as with :class:`LineAudio`), each
      warning starts on the injector's grid, and no samples are mixed;
    * **nothing is recorded**: a call's recorder is started and stopped as usual, so its
      file exists, but it gets no frames (a header-only WAV); a name capture is empty.

    Because nothing happens between the frames :meth:`next_due_frame` names (with the flow's
    timers and the simulated parties' own schedule), a driver may jump the clock from one of
    those frames to the next instead of stepping every 20 ms (``benchmarks.facility``).
    ``clock`` is the line's clock (read only).
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.bridged = False
        self._prompts = {d: _PromptTimes(PromptPlayer().fade_samples) for d in (Direction.INMATE, Direction.FAR)}
        self._mixed_frame = -1
        self._warning_next: int | None = None
        self._warning_interval = 0
        self._uplink_keys: list[tuple[int, DigitDetected]] = []
        self._far_events: list[tuple[int, Any]] = []
        self._recorder: CallRecorder | None = None
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._silence.flags.writeable = False

    def __repr__(self) -> str:
        return (f"<SilentLineAudio bridged={self.bridged} warnings={self._warning_next is not None} "
                f"recording={self._recorder is not None}>")

    # --- what the simulated parties put on the line ------------------------------------------
    def handset_key(self, digit: str) -> None:
        """The handset sends ``digit`` now (what the uplink detector would report)."""
        self._uplink_keys.append((self.clock.frame, DigitDetected(digit)))

    def far_key(self, digit: str) -> None:
        """The called party presses ``digit`` now (what the far end's detector would report)."""
        self._far_events.append((self.clock.frame, FarEndDigit(digit, source="inband")))

    def far_threeway(self, kind: str, confidence: float) -> None:
        """The three-way detector would suspect an attempt of ``kind`` now."""
        frame = self.clock.frame
        self._far_events.append((frame, ThreeWaySuspected(kind, confidence, frame)))

    def next_due_frame(self) -> int | None:
        """The next frame at which this graph has something to report (a prompt ending, a
        warning starting) or has been handed a key not yet delivered; None when nothing."""
        due = [f for f in (self._prompts[Direction.INMATE].next_end_frame(),
                           self._prompts[Direction.FAR].next_end_frame(), self._warning_next) if f is not None]
        due += [frame for frame, _ in self._uplink_keys[:1] + self._far_events[:1]]
        return min(due) if due else None

    # --- the per-frame path -------------------------------------------------------------------
    def _now_sample(self) -> int:
        """The first sample not yet mixed: this frame's, or the next one's once it is mixed."""
        frame = self.clock.frame
        return (frame + 1 if self._mixed_frame >= frame else frame) * FRAME_SAMPLES

    def detect_uplink(self, uplink: np.ndarray) -> list[DigitDetected]:
        now = self.clock.frame
        events = [e for frame, e in self._uplink_keys if frame <= now]
        self._uplink_keys = [(frame, e) for frame, e in self._uplink_keys if frame > now]
        return events

    def uplink_lost(self, n_samples: int) -> list[DigitDetected]:
        return []

    def mix(self, uplink: np.ndarray, now_frame: int) -> tuple[np.ndarray, np.ndarray, list, bool]:
        """Which prompts end and whether a warning starts in this frame; the audio is silence.
        Keys handed over before this frame and not taken (nobody listened) are dropped."""
        through = (now_frame + 1) * FRAME_SAMPLES
        finished = [(d, tag) for d in (Direction.INMATE, Direction.FAR)
                    for tag in self._prompts[d].finished(through)]
        warning_started = self._warning_next is not None and now_frame >= self._warning_next
        if warning_started:
            while self._warning_next <= now_frame:
                self._warning_next += self._warning_interval
        self._uplink_keys = [(frame, e) for frame, e in self._uplink_keys if frame >= now_frame]
        self._far_events = [(frame, e) for frame, e in self._far_events if frame >= now_frame]
        self._mixed_frame = now_frame
        return self._silence, self._silence, finished, warning_started

    def capture(self, uplink: np.ndarray) -> None:
        pass

    def far_received(self, far_rx: np.ndarray | None) -> np.ndarray:
        return self._silence

    def record(self, uplink: np.ndarray, to_inmate: np.ndarray) -> None:
        pass

    def detect_far(self, far_rx: np.ndarray, now_frame: int, *, far_dtmf: bool, threeway: bool) -> list:
        taken = [e for frame, e in self._far_events if frame <= now_frame]
        self._far_events = [(frame, e) for frame, e in self._far_events if frame > now_frame]
        return [e for e in taken if (far_dtmf if isinstance(e, FarEndDigit) else threeway)]

    # --- switched by the executor ---------------------------------------------------------------
    def play(self, to: Direction, samples: np.ndarray, tag: str) -> None:
        self._prompts[to].play(len(samples), tag, self._now_sample())

    def stop_prompt(self, to: Direction) -> None:
        self._prompts[to].stop(self._now_sample())

    def start_tone(self, to: Direction, name: str) -> None:
        pass

    def stop_tone(self, to: Direction | None = None) -> None:
        pass

    def reset_uplink_detector(self) -> None:
        pass

    def reset_far_detector(self) -> None:
        pass

    def bridge(self, now_frame: int) -> None:
        self.bridged = True

    def unbridge(self) -> None:
        self.bridged = False

    def start_warnings(self, warning: np.ndarray, now_frame: int, *, first_after_s: float,
                       interval_s: float, duck_db: float, fade_ms: float, beep: bool) -> None:
        sound_samples = len(render_tone("warning_beep", 0.2)) if beep else len(warning)
        length_frames = -(-sound_samples // FRAME_SAMPLES)
        self._warning_interval = max(frames_from_s(interval_s), length_frames)
        self._warning_next = now_frame + frames_from_s(first_after_s)

    def stop_warnings(self) -> None:
        self._warning_next = None

    def start_capture(self, max_samples: int) -> None:
        pass

    def stop_capture(self) -> np.ndarray:
        return np.zeros(0, dtype=np.int16)

    def start_recording(self, recorder: CallRecorder) -> None:
        self._recorder = recorder

    def stop_recording(self) -> CallRecorder | None:
        recorder, self._recorder = self._recorder, None
        return recorder
