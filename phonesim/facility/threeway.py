"""Three-way-call detection on the far end's audio, and the policy that acts on it.

Three-way calls are forbidden, and real systems look for them in what the called
party's line sends back (``docs/domain.md`` section 6).  False alarms
that cut a family's call are the most common complaint about those systems, so
every detector here looks for a *pattern* that ordinary conversation does not
make, and reports a confidence with the measurements that made it fire.

:class:`ThreeWayDetector` is fed the far-end audio one 20 ms frame at a time, only
while the call is bridged, and returns :class:`phonesim.events.ThreeWaySuspected`
events.  Its detectors:

``hook-flash``
    The loop opening and closing: a near-silent gap of ``gap_min_ms``..``gap_max_ms``
    with a *break* edge before it (a click, the room or a voice cut within 12 ms,
    or the far room's floor gone), a *make* click after it, and then the first
    party *held*: the line dead for ``hold_ms``.  A click is a short pulse
    (``pulse_max_ms``) of mostly low frequencies (a step of the loop current),
    standing out of the audio next to it and over within ``ring_down_ms`` (a knock
    on a door or a table rings on).  A mute, the exchange's call-waiting
    cut or a gap between beeps has no hook-switch click and the same sound
    comes back after it; a handset put down on a table still hears the room.
    A frame that repeats the one before it, quieter, is a lost VoIP packet
    concealed, not the far end's sound: it is left out of those judgements.
``progress-tone``
    Dial, stutter, ringback, busy, reorder or SIT tone while connected, found by
    :class:`phonesim.dsp.progress.ProgressDetector` (a connected far end never
    sends them; after a flash the exchange does).
``far-dtmf``
    DTMF digits from the far end during the conversation, found by
    :class:`phonesim.dsp.dtmf.DtmfDetector`; the answer key is ignored through
    :meth:`ThreeWayDetector.ignore_digits_until`.  One stray key is weak evidence,
    three within ``dtmf_window_s`` are a number being dialled.  A-D are ignored
    (no home phone has them; they come from talk-off), and so is a digit that does
    not stand ``dtmf_above_line_db`` above the line right before it (talk-off in a
    bell or a machine in the room, not a key on a held line).
``noise-drop``
    The far end's background-noise floor falling well below its running baseline
    and staying there: the first party was put on hold.  A person who mutes the
    phone, music on hold ending or a TV switched off do the same, so alone it is
    only a note.

Confidences are set per verdict from the benchmark's tuning corpus
(``docs/threeway.md``): a verdict that never fired on ordinary calls and catches
attempts on its own is confirmed (>= 0.8: a held flash, dial tone, ringback,
three keys); one that everyday events also make is suspected at most.  Evidence
from different detectors within ``combine_window_s`` is combined (noisy-OR:
``1 - prod(1 - c)``) only when one of them is confirmed on its own, so a flash
followed by dial tone reaches 0.99 and two weak cues never make a strong one.

:class:`ThreeWayPolicy` sorts an event into "suspected" or "confirmed" and turns it
into the facility profile's action.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND, SAMPLE_RATE_HZ
from phonesim.dsp.dtmf import DtmfDetector
from phonesim.dsp.levels import DBM0_RMS, power_to_dbm0
from phonesim.dsp.progress import ProgressDetector
from phonesim.events import ThreeWaySuspected
from phonesim.exc import ConfigError

#: Detector kinds, as they appear in :attr:`ThreeWaySuspected.kind`.
KINDS = ("hook-flash", "progress-tone", "far-dtmf", "noise-drop")
#: Actions :meth:`ThreeWayPolicy.decide` can return (besides ``None``).
ACTIONS = ("log", "warn", "disconnect")
#: Actions for a suspected detection: never a disconnect.
SUSPECT_ACTIONS = ("log", "warn")
#: The shipped thresholds (``profile.threeway``), chosen on the benchmark's trade-off curve.
SUSPECT_CONFIDENCE = 0.5
CONFIRM_CONFIDENCE = 0.8

_BLOCK_SAMPLES = 16  # 2 ms analysis blocks inside each 20 ms frame
_BLOCKS_PER_FRAME = FRAME_SAMPLES // _BLOCK_SAMPLES
_BLOCK_MS = 1000 * _BLOCK_SAMPLES // 8000
_FLOOR_DBM0 = -90.0  # levels are clamped here: digital silence is not -inf
_PULSE_FFT = 512  # a click's spectrum: 15.6 Hz bins
_ROOM_MAX_DBM0 = -30.0  # louder and steady is a voice holding a vowel, not a room
_COPY_MIN_CORRELATION = 0.98  # a concealed packet: the last frame again (normalised correlation)...
_COPY_MAX_POWER_RATIO = 10 ** (-1.0 / 10)  # ...at least 1 dB down

#: The keys of a home phone: far-end A-D "digits" are music or speech, never dialling.
PHONE_KEYS = "0123456789*#"
#: Confidence of each progress tone heard while connected.  ``ProgressDetector`` calls a
#: stutter only after three 350 + 440 Hz bursts at the 200 ms stutter period (or two and
#: then steady dial tone), which music on hold does not make, so a stutter is strong too.
TONE_CONFIDENCE = {"dial": 0.95, "stutter": 0.9, "ringback": 0.9, "busy": 0.85,
                   "reorder": 0.85, "sit": 0.8}


def _level_dbm0(mean_square):
    """Level in dBm0, clamped at the floor (silence would be -inf)."""
    return np.maximum(power_to_dbm0(mean_square), _FLOOR_DBM0)


def _repeats(frame: np.ndarray, before: np.ndarray) -> bool:
    """Is ``frame`` the frame ``before`` played again, quieter: a lost packet concealed?

    A VoIP receiver that loses a packet plays the last one again, attenuated.
    On a quiet line that copy is a dip; after a click it is a second click 20 ms
    later.  Neither is the far end's sound, so the flash detector leaves such
    frames out when it judges whether a line is steady and whether a click rang
    on.  A steady tone also repeats itself every frame when its period divides
    20 ms, but at the same level, so the copy must be at least 1 dB down.
    """
    energy, energy_before = float(np.dot(frame, frame)), float(np.dot(before, before))
    if energy <= 0.0 or energy > _COPY_MAX_POWER_RATIO * energy_before:
        return False
    cross = float(np.dot(frame, before))
    return cross > 0.0 and cross * cross >= _COPY_MIN_CORRELATION**2 * energy * energy_before


class _FlashDetector:
    """Abrupt fall -> near-silent gap -> abrupt rise, judged with what comes after it.

    Works on 2 ms block levels kept in a fixed history buffer; a candidate gap is
    judged once ``hold_ms`` of audio after it has arrived: after a real flash the
    exchange holds the first party, so the line stays dead (or carries dial tone),
    while after a mute, a call-waiting cut, a gap between beeps or a pause in
    speech the same sound comes back.
    """

    def __init__(self, *, quiet_dbm0, edge_db, strong_edge_db, gap_min_ms, gap_max_ms, context_ms,
                 click_max_ms, click_min_dbm0, steady_db, steady_fraction, hold_ms, dead_db, dead_fraction,
                 hold_max_db, pulse_max_ms, click_rise_db, click_low_share, low_band_hz, floor_ms,
                 room_gone_db, ring_down_ms, ring_down_db, ring_floor_db, certain_db, room_sure_db,
                 held_confidence, confidence, weak_confidence, faint_confidence):
        self.quiet_dbm0 = quiet_dbm0
        self.edge_db = edge_db
        self.gap_min_blocks = int(np.ceil(gap_min_ms / _BLOCK_MS))
        self.gap_max_blocks = int(gap_max_ms // _BLOCK_MS)
        self.context_blocks = int(round(context_ms / _BLOCK_MS)) // _BLOCKS_PER_FRAME * _BLOCKS_PER_FRAME
        self.hold_blocks = int(round(hold_ms / _BLOCK_MS)) // _BLOCKS_PER_FRAME * _BLOCKS_PER_FRAME
        self.click_blocks = int(np.ceil(click_max_ms / _BLOCK_MS))
        self.pulse_max_blocks = int(np.ceil(pulse_max_ms / _BLOCK_MS))
        self.steady_db = steady_db
        self.strong_edge_db = strong_edge_db
        self.steady_fraction = steady_fraction
        self.click_min_dbm0 = click_min_dbm0
        self.click_rise_db = click_rise_db
        self.click_low_share = click_low_share
        self.ring_down_blocks = int(round(ring_down_ms / _BLOCK_MS))
        self.ring_down_db = ring_down_db
        self.ring_floor_db = ring_floor_db
        self.certain_db = certain_db
        self.room_sure_db = room_sure_db
        self.low_bins = int(round(low_band_hz * _PULSE_FFT / SAMPLE_RATE_HZ))
        self.dead_db = dead_db
        self.dead_fraction = dead_fraction
        self.hold_max_db = hold_max_db
        self.held_confidence = held_confidence
        self.confidence = confidence
        self.weak_confidence = weak_confidence
        self.faint_confidence = faint_confidence
        self.edge_blocks = 2
        self.after_blocks = max(self.context_blocks, self.hold_blocks)
        self.floor_blocks = int(round(floor_ms / _BLOCK_MS)) // _BLOCKS_PER_FRAME * _BLOCKS_PER_FRAME
        self.room_gone_db = room_gone_db
        self.before_blocks = max(self.context_blocks, self.floor_blocks)
        history = (self.before_blocks + self.after_blocks + self.gap_max_blocks + 2 * self.click_blocks
                   + 4 * self.edge_blocks + 2 * _BLOCKS_PER_FRAME)
        self.history = -(-history // _BLOCKS_PER_FRAME) * _BLOCKS_PER_FRAME  # whole frames (the sample ring)
        self.reset()

    def reset(self) -> None:
        self.levels = np.full(self.history, _FLOOR_DBM0)
        self.concealed = np.zeros(self.history, dtype=bool)  # blocks of a frame that repeats the one before
        self.samples = np.zeros(self.history * _BLOCK_SAMPLES)  # the same blocks' samples, a ring
        self.n_blocks = 0  # blocks seen
        self.gap_start = None  # absolute block index where the current quiet run began
        self.pending = []  # (gap_start, gap_end) waiting for the audio after them
        self.ignore_before_block = 0

    def _lv(self, start: int, stop: int) -> np.ndarray:
        """Levels of absolute blocks [start, stop) (must still be in the history)."""
        base = self.n_blocks - self.history
        return self.levels[start - base:stop - base]

    def _concealed(self, start: int, stop: int) -> np.ndarray:
        """Which of absolute blocks [start, stop) belong to a concealed frame."""
        base = self.n_blocks - self.history
        return self.concealed[start - base:stop - base]

    def _samples(self, start: int, stop: int) -> np.ndarray:
        """Samples of absolute blocks [start, stop) (must still be in the history)."""
        index = np.arange(start * _BLOCK_SAMPLES, stop * _BLOCK_SAMPLES) % self.samples.size
        return self.samples[index]

    def feed(self, block_levels: np.ndarray, samples: np.ndarray) -> list[dict]:
        n = len(block_levels)
        self.levels[:-n] = self.levels[n:]
        self.levels[-n:] = block_levels
        at = self.n_blocks * _BLOCK_SAMPLES % self.samples.size
        self.concealed[:-n] = self.concealed[n:]
        self.concealed[-n:] = self.n_blocks > 0 and _repeats(samples, self.samples[at - samples.size:at or None])
        self.samples[at:at + samples.size] = samples  # the ring holds whole frames
        first = self.n_blocks
        self.n_blocks += n
        quiet = block_levels <= self.quiet_dbm0
        if self.gap_start is None and not quiet.any():
            pass
        elif self.gap_start is not None and quiet.all():
            pass
        else:
            for i in range(n):
                if quiet[i]:
                    if self.gap_start is None:
                        self.gap_start = first + i
                elif self.gap_start is not None:
                    length = first + i - self.gap_start
                    if (self.gap_min_blocks <= length <= self.gap_max_blocks
                            and self.gap_start >= self.ignore_before_block):
                        self.pending.append((self.gap_start, first + i))
                    self.gap_start = None
        found = []
        while self.pending:
            start, end = self.pending[0]
            if self.n_blocks < end + self.click_blocks + self.after_blocks:
                break
            self.pending.pop(0)
            evidence = self._judge(start, end, self.after_blocks)
            if evidence is not None:
                found.append(evidence)
        return found

    def level_before(self, block: int) -> float | None:
        """The line's level just before absolute block ``block``: the median of 60..10 ms before it.

        None when that audio is no longer (or not yet) in the history.
        """
        first, stop = block - 30, block - 5
        if first < max(0, self.n_blocks - self.history) or stop > self.n_blocks:
            return None
        return float(np.median(self._lv(first, stop)))

    def flush(self) -> list[dict]:
        """Judge the gaps still waiting for audio after them, with what there is (at least 100 ms)."""
        found = []
        for start, end in self.pending:
            have = (self.n_blocks - end - self.click_blocks) // _BLOCKS_PER_FRAME * _BLOCKS_PER_FRAME
            if have >= 5 * _BLOCKS_PER_FRAME:
                evidence = self._judge(start, end, min(have, self.after_blocks))
                if evidence is not None:
                    found.append(evidence)
        self.pending = []
        return found

    def _steady(self, first: int, stop: int) -> tuple[bool, float, float]:
        """Is absolute blocks [first, stop) silence, room noise or a steady tone (not speech)?

        Returns ``(steady, spread_db, median_dbm0)``.

        Speech, even an echo of it far below the talker's level, swings by more
        than ``steady_db`` from one 20 ms frame to the next; an open line, a room
        or a tone does not.  Concealed packets are left out: a lost packet's copy
        is a dip of 6 dB or more in a quiet line, not the far end's sound.
        """
        frames = self._lv(first, stop).reshape(-1, _BLOCKS_PER_FRAME)
        kept = ~self._concealed(first, stop).reshape(-1, _BLOCKS_PER_FRAME).any(axis=1)
        if kept.any():
            frames = frames[kept]
        frame_db = _level_dbm0(np.mean(10 ** (frames / 10), axis=1) * DBM0_RMS**2)
        spread = np.abs(frame_db - np.median(frame_db))
        within = np.count_nonzero(spread <= self.steady_db) / frame_db.size
        return bool(within >= self.steady_fraction), float(np.max(spread)), float(np.median(frame_db))

    def _room_floor(self, first: int, stop: int) -> float | None:
        """The far room's own level in absolute blocks [first, stop), or None if it was never heard alone.

        The level of the quietest steady 300 ms (room noise between words); talk
        without a pause has no such stretch, and its quietest frames are still
        speech, not the room.
        """
        frames = self._lv(first, stop).reshape(-1, _BLOCKS_PER_FRAME)
        frame_db = _level_dbm0(np.mean(10 ** (frames / 10), axis=1) * DBM0_RMS**2)
        width = self.context_blocks // _BLOCKS_PER_FRAME
        windows = np.lib.stride_tricks.sliding_window_view(frame_db, width)[::width // 3]
        medians = np.median(windows, axis=1)
        within = np.mean(np.abs(windows - medians[:, None]) <= self.steady_db, axis=1)
        steady = medians[(within >= self.steady_fraction) & (medians <= _ROOM_MAX_DBM0)]
        return float(np.min(steady)) if steady.size else None

    def _pulse(self, first: int, stop: int, floor_dbm0: float, *, rises: bool, after_dbm0: float
               ) -> tuple[int, float, float, float]:
        """The loudest pulse in absolute blocks [first, stop): (its length in blocks, its low-band share,
        how far it has died ``ring_down_ms`` after its peak, and its measured decay, in dB).

        The pulse is the run of blocks around the loudest one that stay within 20 dB
        of it and 10 dB above ``floor_dbm0``.  It must stand out of what is next to it:
        rise inside the window (``rises``, the break: not the tail of a word) or fall
        back inside it (the make: not the start of a sound); otherwise its length is
        returned as longer than any click.  A hook switch's transient is a step of
        the loop current: short, and most of its energy at low frequencies (below
        ``low_band_hz``); a knock, a key, a ring-tone blip ring at their own
        resonances, higher up.  The step is also over at once (the line
        transformer rings for ~3 ms, the contacts bounce for ~8 ms), where a knock
        on a door or a table rings for tens of milliseconds: the third value is
        how far below its peak the pulse is between ``ring_down_ms`` and twice that
        after it (infinite when it is back within ``ring_floor_db`` of ``after_dbm0``,
        the line that follows), and the last is that fall as measured, floor or not
        (whether the click can be *seen* to die).
        """
        levels = self._lv(first, stop)
        above = levels >= max(floor_dbm0 + 10.0, float(np.max(levels)) - 20.0)
        peak = int(np.argmax(levels))
        lo = peak
        while lo > 0 and above[lo - 1]:
            lo -= 1
        hi = peak
        while hi + 1 < len(levels) and above[hi + 1]:
            hi += 1
        if (rises and lo == 0) or (not rises and hi == len(levels) - 1):
            return len(levels) + 1, 0.0, 0.0, 0.0
        if rises and levels[peak] - float(np.max(self._lv(first + lo - _BLOCKS_PER_FRAME, first + lo))) < 10.0:
            return len(levels) + 1, 0.0, 0.0, 0.0  # no louder than the 20 ms before it: a glottal pulse of a word
        # A lost packet's copy of the click (the frame played again, quieter) is not ringing.
        ring_first, ring_stop = first + peak + self.ring_down_blocks, first + peak + 2 * self.ring_down_blocks
        tail = float(np.max(self._lv(ring_first, ring_stop)[~self._concealed(ring_first, ring_stop)],
                            initial=_FLOOR_DBM0))
        # Back within ring_floor_db of the line that follows counts as died, however faint the pulse.
        decay_db = float(levels[peak]) - tail
        ring_down_db = np.inf if tail <= after_dbm0 + self.ring_floor_db else decay_db
        spectrum = np.abs(np.fft.rfft(self._samples(first + lo, first + hi + 1), n=_PULSE_FFT)) ** 2
        total = float(np.sum(spectrum))
        low = float(np.sum(spectrum[:self.low_bins]))
        return hi - lo + 1, low / total if total > 0 else 0.0, ring_down_db, decay_db

    def _judge(self, start: int, end: int, after_blocks: int) -> dict | None:
        if start - self.before_blocks - self.click_blocks < self.n_blocks - self.history:
            return None  # not enough audio before the gap (start of the call)
        gap = self._lv(start, end)
        gap_dbm0 = float(np.median(gap))
        fall_zone = self._lv(start - self.click_blocks, start)
        rise_zone = self._lv(end, end + self.click_blocks)
        fall_peak, rise_peak = float(np.max(fall_zone)), float(np.max(rise_zone))
        fall_db, rise_db = fall_peak - gap_dbm0, rise_peak - gap_dbm0
        if fall_db < self.edge_db or rise_db < self.edge_db:
            return None
        context = min(after_blocks, self.context_blocks)
        pre_ok, pre_spread, pre_dbm0 = self._steady(start - self.click_blocks - self.context_blocks,
                                                    start - self.click_blocks)
        after = self._lv(end + self.click_blocks, end + self.click_blocks + after_blocks)
        post_ok, post_spread, post_dbm0 = self._steady(end + self.click_blocks, end + self.click_blocks + context)
        # The audio after the gap must be steady (a held line, a tone, the room back), never
        # speech: a recording spliced onto silence looks like that.  Before it: steady
        # too, or loud sharp edges, or (tested below) a make click and the line held.
        if not post_ok:
            return None
        gate = pre_ok or min(fall_db, rise_db) >= self.strong_edge_db
        # The edges.  A cut keeps the room's level up to the last 4 ms before the gap and
        # is at the gap's level within 8 ms (the line's band filter rings for a few ms); a
        # resume is as quick (speech fades over tens of ms).
        last = float(np.max(self._lv(start - self.edge_blocks, start)))
        first = float(np.max(self._lv(end, end + self.edge_blocks)))
        gap_head = float(np.min(self._lv(start, start + 2 * self.edge_blocks)))
        gap_tail = float(np.min(self._lv(end - 2 * self.edge_blocks, end)))
        cut = (pre_ok and pre_dbm0 - gap_dbm0 >= self.edge_db and last >= pre_dbm0 - 6.0
               and gap_head <= gap_dbm0 + 10.0)
        # A voice cut off mid-word: within 12 ms of full level the line is at its floor.
        # Words fade over tens of milliseconds; an opening loop cuts them at once (its
        # click and the line's filters ringing out for a few ms).  Full level is within
        # 15 dB of the loudest 2 ms of the last 40: a syllable swings that much.
        # Something must have been going on to be cut: the 20 ms before the click window are
        # above the gap too (a tap in a pause rises out of the gap's own level and falls back).
        loudest = float(np.max(fall_zone))
        tail_blocks = len(fall_zone) - 1 - int(np.flatnonzero(fall_zone >= loudest - 15.0)[-1])
        before_dbm0 = float(np.median(self._lv(start - self.click_blocks - _BLOCKS_PER_FRAME,
                                               start - self.click_blocks)))
        cut = cut or (tail_blocks <= 6 and loudest - gap_dbm0 >= self.strong_edge_db
                      and gap_head <= gap_dbm0 + 10.0 and before_dbm0 >= gap_dbm0 + self.edge_db)
        resumed = (post_ok and post_dbm0 - gap_dbm0 >= self.edge_db and first >= post_dbm0 - 6.0
                   and gap_tail <= gap_dbm0 + 10.0)
        # The far room gone: its floor well above the gap.  A handset put down on a
        # table still hears the room; an open loop or a held line does not.
        room_floor_dbm0 = self._room_floor(start - self.click_blocks - self.floor_blocks, start - self.click_blocks)
        room_gone = room_floor_dbm0 is not None and room_floor_dbm0 - gap_dbm0 >= self.room_gone_db
        fall_pulse, fall_low, fall_ring, fall_decay = self._pulse(start - self.click_blocks, start, max(pre_dbm0, gap_dbm0),
                                                      rises=True, after_dbm0=gap_dbm0)
        rise_pulse, rise_low, rise_ring, rise_decay = self._pulse(end, end + self.click_blocks, max(post_dbm0, gap_dbm0),
                                                      rises=False, after_dbm0=max(post_dbm0, gap_dbm0))
        # A click stands click_rise_db over the line on its side, and it is over (ring_down_db
        # under its peak, or back to the line after it) by ring_down_ms: a knock rings on.
        # When talk comes before the break, the line on its side is the 20 ms just before
        # the click's window, not the talk's median over 300 ms.
        fall_side_dbm0 = pre_dbm0 if pre_ok else min(pre_dbm0, before_dbm0)
        fall_click = (fall_peak >= max(self.click_min_dbm0, fall_side_dbm0 + self.click_rise_db)
                      and fall_pulse <= self.pulse_max_blocks and fall_low >= self.click_low_share
                      and fall_ring >= self.ring_down_db)
        rise_click = (rise_peak >= max(self.click_min_dbm0, post_dbm0 + self.click_rise_db)
                      and rise_pulse <= self.pulse_max_blocks and rise_low >= self.click_low_share
                      and rise_ring >= self.ring_down_db)
        # After the make: the first party held (the line dead for hold_ms), or not.
        # A held line is dead: a few frames may sit above the gap's level (the click's tail,
        # a concealed packet), none may carry a sound (a clock ticking, a ring tone's blips).
        frame_max = after.reshape(-1, _BLOCKS_PER_FRAME).max(axis=1)
        dead_frames = frame_max <= gap_dbm0 + self.dead_db
        held = bool(after_blocks >= self.hold_blocks
                    and np.count_nonzero(dead_frames) >= self.dead_fraction * dead_frames.size
                    and float(np.max(frame_max[2:], initial=_FLOOR_DBM0)) <= gap_dbm0 + self.hold_max_db)
        # Speech right before the flash ("hang on") leaves no steady context there: a
        # click into a line that then stays dead is enough.
        if not gate and not (held and rise_click):
            return None
        broken = fall_click or cut or room_gone
        # The clicks must be seen to die: certain_db under their peaks 16 ms on.  A tap on the
        # handset that rings for 5 ms or more does not, nor does a click too faint to tell.
        # Some taps die that fast, so one such click needs a second (a double tap in a quiet
        # room is click, gap, click), or a break that a tap can't make: the voice or the room
        # cut off.  Or the far room, heard room_sure_db over the dead line, is gone: a tap
        # can't do that (a steady stretch of talk can pass for a quiet room, hence the margin).
        fall_dies = fall_click and fall_decay >= self.certain_db
        rise_dies = rise_click and rise_decay >= self.certain_db
        certain = ((room_gone and room_floor_dbm0 - gap_dbm0 >= self.room_sure_db)
                   or (fall_dies and rise_dies) or ((cut or room_gone) and (fall_dies or rise_dies)))
        if held and rise_click and broken and certain:
            confidence = self.held_confidence  # click, open loop, click, and the line held
        elif broken and rise_click:
            confidence = self.confidence
        elif broken and (rise_click or resumed) or held:
            confidence = self.weak_confidence
        else:
            confidence = self.faint_confidence
        return {"confidence": confidence,
                "edges": "+".join(name for name, on in (("cut", cut), ("click", fall_click), ("room-gone", room_gone),
                                                        ("resumed", resumed), ("click", rise_click),
                                                        ("held", held))
                                  if on) or "faint",
                "gap_ms": (end - start) * _BLOCK_MS, "gap_dbm0": round(gap_dbm0, 1),
                "gap_max_dbm0": round(float(np.max(gap)), 1),
                "fall_peak_dbm0": round(fall_peak, 1), "rise_peak_dbm0": round(rise_peak, 1),
                "fall_db": round(fall_db, 1), "rise_db": round(rise_db, 1),
                "fall_pulse_ms": fall_pulse * _BLOCK_MS, "rise_pulse_ms": rise_pulse * _BLOCK_MS,
                "fall_low_share": round(fall_low, 2), "rise_low_share": round(rise_low, 2),
                "fall_ring_down_db": min(99.0, round(fall_ring, 1)), "rise_ring_down_db": min(99.0, round(rise_ring, 1)),
                "fall_decay_db": round(fall_decay, 1), "rise_decay_db": round(rise_decay, 1),
                "pre_spread_db": round(pre_spread, 1), "post_spread_db": round(post_spread, 1),
                "pre_dbm0": round(pre_dbm0, 1), "post_dbm0": round(post_dbm0, 1),
                "held_fraction": round(float(np.mean(dead_frames)), 2),
                "room_floor_dbm0": None if room_floor_dbm0 is None else round(room_floor_dbm0, 1),
                "gap_start_sample": start * _BLOCK_SAMPLES, "gap_end_sample": end * _BLOCK_SAMPLES}


class _NoiseDropDetector:
    """The background-noise floor falls well below its running baseline, and stays there."""

    def __init__(self, *, baseline_s, sustain_s, drop_db, min_baseline_dbm0, confidence):
        self.baseline_frames = int(round(baseline_s * FRAMES_PER_SECOND))
        self.sustain_frames = int(round(sustain_s * FRAMES_PER_SECOND))
        self.drop_db = drop_db
        self.min_baseline_dbm0 = min_baseline_dbm0
        self.confidence = confidence
        self.levels = np.full(self.baseline_frames + self.sustain_frames, _FLOOR_DBM0)
        self.reset()

    def reset(self) -> None:
        self.levels[:] = _FLOOR_DBM0
        self.n_frames = 0
        self.armed = True
        self.baseline_dbm0 = None

    def feed(self, frame_dbm0: float) -> dict | None:
        self.levels[:-1] = self.levels[1:]
        self.levels[-1] = frame_dbm0
        self.n_frames += 1
        if self.n_frames < len(self.levels) or self.n_frames % 5:
            return None
        # The floor of the baseline: the 10th percentile of frame levels (speech pauses).
        self.baseline_dbm0 = float(np.percentile(self.levels[:self.baseline_frames], 10))
        recent_max = float(np.max(self.levels[self.baseline_frames:]))
        drop_db = self.baseline_dbm0 - recent_max
        if not self.armed:
            if drop_db < self.drop_db / 2:
                self.armed = True
            return None
        if drop_db >= self.drop_db and self.baseline_dbm0 >= self.min_baseline_dbm0:
            self.armed = False
            return {"baseline_dbm0": round(self.baseline_dbm0, 1), "recent_max_dbm0": round(recent_max, 1),
                    "drop_db": round(drop_db, 1),
                    "sustained_s": self.sustain_frames / FRAMES_PER_SECOND}
        return None


class ThreeWayDetector:
    """Streaming three-way-call detection on the far end's audio.

    Parameters
    ----------
    sample_rate_hz : int
        Must be 8000 (the line rate).
    quiet_dbm0 : float
        A 2 ms block at or below this level counts as near-silence (an open loop).
    edge_db : float
        The loudest 2 ms block within ``click_max_ms`` before and after the gap (the
        clicks, or the cut and return of the room noise) must be this much above
        the gap's median level.
    strong_edge_db : float
        Edges this strong need only the audio after the gap to be steady (the held
        line), not the audio before it too; a voice must fall this far to count as cut.
    gap_min_ms, gap_max_ms : float
        Accepted length of the near-silent gap of a hook flash.
    context_ms : float
        Audio judged on each side of a gap (steady: silence, noise, tone, not speech).
    click_max_ms : float
        Audio right next to the gap where its clicks are looked for.
    steady_db, steady_fraction : float
        A context is steady when ``steady_fraction`` of its 20 ms frames are
        within ``steady_db`` of their median level.
    click_min_dbm0, click_rise_db, pulse_max_ms : float
        A click reaches ``click_min_dbm0`` (2 ms block level), stands ``click_rise_db``
        above the audio on its side, and lasts at most ``pulse_max_ms``.
    click_low_share, low_band_hz : float
        ...with at least ``click_low_share`` of its energy below ``low_band_hz`` (a
        step of the loop current; knocks, keys and beeps ring higher up).
    ring_down_ms, ring_down_db, ring_floor_db : float
        ...and it is over at once: from ``ring_down_ms`` to twice that after its peak
        it is ``ring_down_db`` under the peak or within ``ring_floor_db`` of the line
        that follows; a knock on a door or a table rings on for tens of ms.
    click_certain_db, room_sure_db : float
        A held flash is confirmed only if both of its clicks are seen to die (this
        far under their peaks from ``ring_down_ms`` on), or one of them with the break
        also a cut or the room gone, or if the far room, heard ``room_sure_db`` over
        the gap, is gone.  A tap on the handset that rings for 5 ms or more does not
        die that fast, a click too faint cannot be seen to, a tap cannot silence a
        room, and two taps that both die at once are rarer than one.
    hold_ms, dead_db, dead_fraction, hold_max_db : float
        The first party held: for ``hold_ms`` after the make click, ``dead_fraction``
        of the 20 ms frames within ``dead_db`` of the gap's level and none more than
        ``hold_max_db`` above it.
    floor_ms, room_gone_db : float
        The room gone: the quietest steady 300 ms of the ``floor_ms`` before the gap
        is at least ``room_gone_db`` above the gap.
    held_flash_confidence, flash_confidence, weak_flash_confidence, faint_flash_confidence : float
        Confidence of a hook flash on its own: a break edge, a make click and the
        line held; a break edge and a make click; a break edge and the sound resumed,
        or only the hold; anything else that passed the gap test.
    noise_baseline_s, noise_sustain_s, noise_drop_db, noise_min_baseline_dbm0 : float
        Noise drop: the loudest frame of the last ``noise_sustain_s`` is at least
        ``noise_drop_db`` below the 10th-percentile level of the ``noise_baseline_s``
        before, and that baseline is at least ``noise_min_baseline_dbm0``.
    noise_confidence : float
        Confidence of a noise drop on its own.
    dtmf_window_s : float
        Far-end digits within this window are counted together.
    dtmf_confidence : tuple of float
        Confidence for 1, 2 and 3-or-more digits in the window.
    dtmf_above_line_db : float
        A far-end digit counts only if its stronger tone stands this far above the
        line right before it (the median 2 ms level from 60 to 10 ms before the
        tone).  A number is keyed on a held line, or over a room the keypad's tones
        drown; talk-off (a bell, a machine, a voice) comes out of a sound as loud as
        itself.
    combine_window_s : float
        Detections of different kinds this close together reinforce each other...
    strong_confidence : float
        ...provided at least one of them reaches this confidence on its own.
    progress : bool
        Run the call-progress-tone detector (needs :mod:`phonesim.dsp.progress`).
    dtmf : bool
        Run the far-end DTMF detector (needs :mod:`phonesim.dsp.dtmf`).

    Notes
    -----
    Feed only the far end's audio, only while the call is bridged (the prompts
    and the answer key come before).  ``at_frame`` of an event is the frame index
    passed to :meth:`feed`; the evidence carries sample positions counted from the
    first frame fed after the last :meth:`reset`.
    """

    def __init__(self, *, sample_rate_hz: int = 8000, quiet_dbm0: float = -50.0,
                 edge_db: float = 15.0, strong_edge_db: float = 35.0, gap_min_ms: float = 70.0,
                 gap_max_ms: float = 1200.0, context_ms: float = 300.0, click_max_ms: float = 40.0,
                 steady_db: float = 2.5, steady_fraction: float = 0.9, click_min_dbm0: float = -50.0,
                 click_rise_db: float = 12.0, pulse_max_ms: float = 32.0, click_low_share: float = 0.4,
                 low_band_hz: float = 1000.0, hold_ms: float = 2000.0, dead_db: float = 8.0,
                 dead_fraction: float = 0.9, hold_max_db: float = 20.0, floor_ms: float = 4000.0,
                 room_gone_db: float = 10.0, ring_down_ms: float = 16.0, ring_down_db: float = 20.0,
                 ring_floor_db: float = 6.0, click_certain_db: float = 28.0, room_sure_db: float = 20.0,
                 held_flash_confidence: float = 0.9,
                 flash_confidence: float = 0.55, weak_flash_confidence: float = 0.45,
                 faint_flash_confidence: float = 0.3,
                 noise_baseline_s: float = 10.0, noise_sustain_s: float = 1.5,
                 noise_drop_db: float = 12.0, noise_min_baseline_dbm0: float = -62.0,
                 noise_confidence: float = 0.45, dtmf_window_s: float = 10.0,
                 dtmf_confidence: tuple[float, float, float] = (0.6, 0.7, 0.9),
                 dtmf_above_line_db: float = 10.0, combine_window_s: float = 30.0, strong_confidence: float = 0.8,
                 progress: bool = True, dtmf: bool = True) -> None:
        if sample_rate_hz != 8000:
            raise ValueError(f"ThreeWayDetector works on the 8000 Hz line, got sample_rate_hz={sample_rate_hz!r}")
        if not gap_min_ms < gap_max_ms:
            raise ValueError(f"gap_min_ms must be below gap_max_ms, got {gap_min_ms!r} and {gap_max_ms!r}")
        self.sample_rate_hz = sample_rate_hz
        self._flash = _FlashDetector(quiet_dbm0=quiet_dbm0, edge_db=edge_db,
                                     strong_edge_db=strong_edge_db, gap_min_ms=gap_min_ms,
                                     gap_max_ms=gap_max_ms, context_ms=context_ms,
                                     click_max_ms=click_max_ms, steady_db=steady_db,
                                     steady_fraction=steady_fraction, click_min_dbm0=click_min_dbm0,
                                     hold_ms=hold_ms, dead_db=dead_db, dead_fraction=dead_fraction,
                                     hold_max_db=hold_max_db,
                                     pulse_max_ms=pulse_max_ms, click_rise_db=click_rise_db,
                                     click_low_share=click_low_share, low_band_hz=low_band_hz,
                                     floor_ms=floor_ms, room_gone_db=room_gone_db,
                                     ring_down_ms=ring_down_ms, ring_down_db=ring_down_db,
                                     ring_floor_db=ring_floor_db, certain_db=click_certain_db,
                                     room_sure_db=room_sure_db,
                                     held_confidence=held_flash_confidence, confidence=flash_confidence,
                                     weak_confidence=weak_flash_confidence,
                                     faint_confidence=faint_flash_confidence)
        self._noise = _NoiseDropDetector(baseline_s=noise_baseline_s, sustain_s=noise_sustain_s,
                                         drop_db=noise_drop_db, min_baseline_dbm0=noise_min_baseline_dbm0,
                                         confidence=noise_confidence)
        self.dtmf_window_frames = int(round(dtmf_window_s * FRAMES_PER_SECOND))
        self.dtmf_confidence = tuple(dtmf_confidence)
        self.dtmf_above_line_db = float(dtmf_above_line_db)
        self.combine_window_frames = int(round(combine_window_s * FRAMES_PER_SECOND))
        self.strong_confidence = float(strong_confidence)
        self._progress = ProgressDetector(SAMPLE_RATE_HZ) if progress else None
        self._dtmf = DtmfDetector() if dtmf else None
        self.reset()

    @property
    def detectors(self) -> tuple[str, ...]:
        """The detector kinds that are running."""
        kinds = ["hook-flash", "noise-drop"]
        if self._progress is not None:
            kinds.insert(1, "progress-tone")
        if self._dtmf is not None:
            kinds.insert(-1, "far-dtmf")
        return tuple(kinds)

    # --- control ----------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: call this when a new call is bridged."""
        self._flash.reset()
        self._noise.reset()
        if self._progress is not None:
            self._progress.reset()
        if self._dtmf is not None:
            self._dtmf.reset()
        self._samples = 0
        self._frames_fed = 0
        self._ignore_until_frame = None
        self._digits = deque()  # (frame, digit) within the DTMF window
        self._recent = deque()  # (frame, kind, confidence) within the combine window

    def ignore_digits_until(self, frame_index: int) -> None:
        """Ignore far-end digits (and flash gaps) that start before ``frame_index``.

        The line calls this with the frame the called party's answer key ended
        in, plus a margin, so accepting the call is not taken for dialling.
        """
        self._ignore_until_frame = int(frame_index)

    # --- the per-frame path ------------------------------------------------------------
    def feed(self, far_frame: np.ndarray, frame_index: int) -> list[ThreeWaySuspected]:
        """Analyse one 20 ms frame of far-end audio; return the detections it completed."""
        frame = np.asarray(far_frame)
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"far_frame must be {FRAME_SAMPLES} samples, got shape {frame.shape}")
        x = frame.astype(np.float64)
        blocks = x.reshape(_BLOCKS_PER_FRAME, _BLOCK_SAMPLES)
        block_db = _level_dbm0(np.mean(blocks * blocks, axis=1))
        frame_dbm0 = float(_level_dbm0(np.mean(x * x)))
        first_frame = frame_index - self._frames_fed  # frame index of sample 0
        self._frames_fed += 1
        if self._ignore_until_frame is not None:
            ignore_block = (self._ignore_until_frame - first_frame) * _BLOCKS_PER_FRAME
            self._flash.ignore_before_block = max(self._flash.ignore_before_block, ignore_block)

        found: list[tuple[str, float, dict]] = []
        for ev in self._flash.feed(block_db, x):
            found.append(("hook-flash", ev.pop("confidence"), ev))
        ev = self._noise.feed(frame_dbm0)
        if ev is not None:
            found.append(("noise-drop", self._noise.confidence, ev))
        if self._progress is not None:
            for tone in self._progress.feed(frame):
                confidence = TONE_CONFIDENCE.get(tone.kind, 0.8)
                found.append(("progress-tone", confidence,
                              {"tone": tone.kind, "level_dbm0": round(float(tone.level_dbm0), 1),
                               "start_sample": int(tone.start_sample), "end_sample": int(tone.end_sample),
                               "duration_ms": round(1000 * (tone.end_sample - tone.start_sample) / 8000)}))
        if self._dtmf is not None:
            for digit in self._dtmf.feed(frame):
                digit_frame = first_frame + digit.start_sample // FRAME_SAMPLES
                if self._ignore_until_frame is not None and digit_frame < self._ignore_until_frame:
                    continue
                if digit.digit not in PHONE_KEYS:  # no home phone has A-D: talk-off, not dialling
                    continue
                line_dbm0 = self._flash.level_before(int(digit.start_sample) // _BLOCK_SAMPLES)
                tone_dbm0 = max(float(digit.low_dbm0), float(digit.high_dbm0))
                if line_dbm0 is not None and tone_dbm0 < line_dbm0 + self.dtmf_above_line_db:
                    continue  # no louder than the sound it came in: talk-off, not a key
                self._digits.append((frame_index, digit.digit))
                while self._digits and self._digits[0][0] < frame_index - self.dtmf_window_frames:
                    self._digits.popleft()
                count = len(self._digits)
                confidence = self.dtmf_confidence[min(count, len(self.dtmf_confidence)) - 1]
                found.append(("far-dtmf", confidence,
                              {"digit": digit.digit, "digits": "".join(d for _, d in self._digits),
                               "count": count, "low_dbm0": round(float(digit.low_dbm0), 1),
                               "high_dbm0": round(float(digit.high_dbm0), 1),
                               "line_before_dbm0": None if line_dbm0 is None else round(line_dbm0, 1),
                               "start_sample": int(digit.start_sample), "end_sample": int(digit.end_sample)}))
        self._samples += FRAME_SAMPLES
        if not found:
            return []
        return [self._combine(kind, confidence, evidence, frame_index) for kind, confidence, evidence in found]

    def flush(self, frame_index: int) -> list[ThreeWaySuspected]:
        """At the end of a recording: judge what is still waiting for more audio.

        A hook flash is judged on the audio after it; when a recording stops
        right after one (the call was cut for it), this decides on the shorter
        context that there is.  Not needed on a live line.
        """
        found = [self._combine("hook-flash", ev.pop("confidence"), ev, frame_index)
                 for ev in self._flash.flush()]
        return found

    def _combine(self, kind: str, confidence: float, evidence: dict, frame_index: int) -> ThreeWaySuspected:
        while self._recent and self._recent[0][0] < frame_index - self.combine_window_frames:
            self._recent.popleft()
        best: dict[str, float] = {}
        for _, other_kind, other_conf in self._recent:
            if other_kind != kind:
                best[other_kind] = max(best.get(other_kind, 0.0), other_conf)
        self._recent.append((frame_index, kind, confidence))
        evidence = dict(evidence, own_confidence=confidence)
        # Two weak cues (a mute and one stray key) do not make a strong one: evidence
        # is combined only when one of the detections is strong on its own, or for a
        # faint flash followed (or preceded) by the far room going silent.
        if best and max(confidence, *best.values()) >= self.strong_confidence:
            miss = 1.0 - confidence
            for other_conf in best.values():
                miss *= 1.0 - other_conf
            confidence = min(0.99, 1.0 - miss)
            evidence["combined_with"] = sorted(best)
        return ThreeWaySuspected(kind=kind, confidence=round(confidence, 3), at_frame=frame_index,
                                 evidence=evidence)

    def __repr__(self) -> str:
        return (f"ThreeWayDetector(detectors={list(self.detectors)}, frames_fed={self._frames_fed}, "
                f"ignore_digits_until={self._ignore_until_frame})")


class ThreeWayPolicy:
    """What the facility does about a detection (``profile.threeway``), in two levels.

    A detection at or above ``confirm_confidence`` is **confirmed** and acted on
    (``on_confirmed``: "log", "warn" or "disconnect"); one at or above
    ``suspect_confidence`` is **suspected**: logged and flagged for an officer's
    review (``on_suspected``: "log" or "warn", never a disconnect); below that
    it is a note kept in the CDR.  The thresholds are chosen on the trade-off
    curve of ``docs/threeway.md``.  ``block_after_confirmed`` confirmed
    detections on one number within ``block_window_days`` block the number
    pending review (0 = never): :meth:`should_block` says when.

    Parameters
    ----------
    section : mapping or attribute object
        The keys above and ``detect_on_privileged`` (bool), e.g. ``cfg.profile.threeway``.

    Raises
    ------
    phonesim.exc.ConfigError
        For an unknown action, a confidence outside 0..1, a suspect threshold
        above the confirm threshold, or a negative escalation setting.
    """

    def __init__(self, section) -> None:
        def get(key, default):
            if isinstance(section, dict):
                return section.get(key, default)
            return getattr(section, key, default)

        self.suspect_confidence = float(get("suspect_confidence", SUSPECT_CONFIDENCE))
        self.confirm_confidence = float(get("confirm_confidence", CONFIRM_CONFIDENCE))
        self.on_suspected = str(get("on_suspected", "log"))
        self.on_confirmed = str(get("on_confirmed", "disconnect"))
        self.detect_on_privileged = bool(get("detect_on_privileged", False))
        self.block_after_confirmed = int(get("block_after_confirmed", 0))
        self.block_window_days = int(get("block_window_days", 30))
        problem = check_settings(self.__dict__)
        if problem is not None:
            key, expected, value = problem
            raise ConfigError(f"profile.threeway.{key}: expected {expected}, got {value!r}")

    # Read by code written for the one-level policy (``phonesim threeway``'s summary line).
    @property
    def action(self) -> str:
        """The action on a confirmed detection (``on_confirmed``)."""
        return self.on_confirmed

    @property
    def min_confidence(self) -> float:
        """The threshold of a confirmed detection (``confirm_confidence``)."""
        return self.confirm_confidence

    def classify(self, event: ThreeWaySuspected) -> str | None:
        """ "confirmed", "suspected", or ``None`` (a note below suspicion)."""
        if event.confidence >= self.confirm_confidence:
            return "confirmed"
        if event.confidence >= self.suspect_confidence:
            return "suspected"
        return None

    def label(self, event: ThreeWaySuspected) -> ThreeWaySuspected:
        """``event`` with its :attr:`~phonesim.events.ThreeWaySuspected.level` filled in."""
        return replace(event, level=self.classify(event) or "")

    def action_for(self, level: str | None, *, privileged: bool) -> str | None:
        """The action for a detection of ``level``: "log", "warn", "disconnect", or ``None`` (ignore).

        A privileged (attorney) call is never acted on, nor logged, unless the
        profile asks for it.  A note below suspicion is logged: the CDR keeps every
        detection with its evidence.
        """
        if privileged and not self.detect_on_privileged:
            return None
        if level == "confirmed":
            return self.on_confirmed
        if level == "suspected":
            return self.on_suspected
        if level is None:
            return "log"
        raise ValueError(f"expected a level 'suspected', 'confirmed' or None, got {level!r}")

    def decide(self, event: ThreeWaySuspected, *, privileged: bool) -> str | None:
        """The action for ``event`` (:meth:`classify`, then :meth:`action_for`)."""
        return self.action_for(self.classify(event), privileged=privileged)

    def should_block(self, confirmed_in_window: int) -> bool:
        """Whether a number with this many confirmed detections in the last ``block_window_days`` is blocked."""
        return 0 < self.block_after_confirmed <= confirmed_in_window

    def __repr__(self) -> str:
        return (f"ThreeWayPolicy(suspect_confidence={self.suspect_confidence}, "
                f"confirm_confidence={self.confirm_confidence}, on_suspected={self.on_suspected!r}, "
                f"on_confirmed={self.on_confirmed!r}, detect_on_privileged={self.detect_on_privileged}, "
                f"block_after_confirmed={self.block_after_confirmed}, block_window_days={self.block_window_days})")


def check_settings(settings) -> tuple[str, str, object] | None:
    """The first problem with ``profile.threeway`` settings as ``(key, expected, value)``, or ``None``.

    Shared by :class:`ThreeWayPolicy` and the configuration loader, so a bad value
    is refused the same way wherever it comes from.
    """
    get = settings.get if isinstance(settings, dict) else lambda k, d=None: getattr(settings, k, d)
    for key in ("suspect_confidence", "confirm_confidence"):
        value = get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            return key, "a number from 0 to 1", value
    if get("suspect_confidence") > get("confirm_confidence"):
        return ("suspect_confidence", f"at most confirm_confidence ({get('confirm_confidence')})",
                get("suspect_confidence"))
    if get("on_suspected") not in SUSPECT_ACTIONS:
        return "on_suspected", f"one of {', '.join(SUSPECT_ACTIONS)}", get("on_suspected")
    if get("on_confirmed") not in ACTIONS:
        return "on_confirmed", f"one of {', '.join(ACTIONS)}", get("on_confirmed")
    for key in ("block_after_confirmed", "block_window_days"):
        value = get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return key, "a whole number >= 0", value
    return None
