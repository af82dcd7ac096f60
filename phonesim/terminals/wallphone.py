"""The wall phone: a keypad, a headset and the handset electronics, joined to a facility line.

:class:`Handset` does what the electronics of a real telephone do: a key held
down puts its DTMF tone pair into the microphone signal (the microphone muted
meanwhile), at the profile's level and twist, for as long as the key is held and
at least ``handset.dtmf_min_ms``; and the earpiece carries a little of the
microphone back (sidetone), so the handset does not sound dead.  The facility
then decodes the keys *from that audio*, exactly as on a real line.

:class:`WallPhone` runs one 20 ms frame at a time (:meth:`WallPhone.step`):
keypad events -> handset -> uplink -> :class:`phonesim.facility.line.FacilityLine`
-> downlink -> earpiece.  A driver (:mod:`phonesim.hw.driver`) calls it; the
``phonesim phone`` program adds a status line and signals around the same loop.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

from phonesim.clock import FRAME_SAMPLES, frames_from_ms
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.dsp.levels import db_to_gain
from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged

log = logging.getLogger(__name__)

__all__ = ["Handset", "WallPhone"]


class Handset:
    """Key presses -> DTMF in the uplink; sidetone in the earpiece.

    Parameters
    ----------
    profile
        The facility profile (``profile.handset``: ``dtmf_level_dbm0``,
        ``dtmf_twist_db``, ``dtmf_min_ms``, ``sidetone_db``).

    A key sounds while it is held and at least ``dtmf_min_ms``, as on a real phone.
    Keys that arrive faster than they can sound — a burst of presses read in one frame
    after the program or the USB link stalled — are queued and sounded one after the
    other, each with a gap of silence before the next, instead of cutting each other
    short (a cut tone is a lost digit: a valid wrong number).  A new key while one is
    still *held* replaces it, as a real keypad does.
    """

    #: Silence between queued keys: long enough for the decoder to split them (>= 20 ms).
    GAP_FRAMES = 2

    def __init__(self, profile) -> None:
        h = profile.handset
        self.level_dbm0 = float(h.dtmf_level_dbm0)
        self.twist_db = float(h.dtmf_twist_db)
        self.min_frames = max(1, frames_from_ms(float(h.dtmf_min_ms)))
        self.sidetone_gain = float(db_to_gain(float(h.sidetone_db)))
        self._generator = DtmfGenerator(level_dbm0=self.level_dbm0, twist_db=self.twist_db)
        self._key: str | None = None
        self._frames_sounded = 0
        self._release_pending = False
        self._queue: deque[tuple[str, bool]] = deque()   # (key, released already)
        self._gap = 0
        self._silent_frames = self.GAP_FRAMES      # frames without a tone since the last one stopped
        self._sidetone = np.zeros(FRAME_SAMPLES)
        self.keys_sent: list[str] = []

    def __repr__(self) -> str:
        return f"<Handset key={self._key!r} level_dbm0={self.level_dbm0} sent={''.join(self.keys_sent)!r}>"

    @property
    def sounding(self) -> str | None:
        """The key whose tone is in the uplink now, if any."""
        return self._key

    def key_down(self, key: str) -> None:
        """A key went down: its tone starts with the next frame, or after the keys still
        waiting their turn."""
        if self._queue or self._release_pending or self._gap:
            self._queue.append((key, False))
        elif self._key is None and self._silent_frames < self.GAP_FRAMES:
            # released and pressed again before a gap could sound (events read late, in one
            # frame): without the gap the two tones are one, and "55" dials "5"
            self._queue.append((key, False))
            self._gap = self.GAP_FRAMES - self._silent_frames
        else:
            self._start(key)

    def key_up(self, key: str | None = None) -> None:
        """A key was released: the tone stops, but not before ``dtmf_min_ms``."""
        for i in range(len(self._queue) - 1, -1, -1):       # a queued key released early
            queued, released = self._queue[i]
            if not released and (key is None or queued == key):
                self._queue[i] = (queued, True)
                return
        if self._key is None or (key is not None and key != self._key):
            return
        if self._frames_sounded >= self.min_frames:
            self._stop()
        else:
            self._release_pending = True

    def clear(self) -> None:
        """The handset went down: nothing more sounds."""
        self._queue.clear()
        self._gap = 0
        if self._key is not None:
            self._stop(gap=False)

    def _start(self, key: str, *, released: bool = False) -> None:
        self._generator.key_down(key)
        self._key = key
        self._frames_sounded = 0
        self._release_pending = released
        self.keys_sent.append(key)

    def _stop(self, *, gap: bool = True) -> None:
        self._generator.key_up()
        self._key = None
        self._silent_frames = 0
        self._release_pending = False
        self._gap = self.GAP_FRAMES if gap and self._queue else 0

    def uplink(self, mic: np.ndarray | None) -> np.ndarray:
        """The frame the handset sends: the microphone, or the key's tone while one sounds."""
        if self._key is None and self._gap == 0 and self._queue:
            key, released = self._queue.popleft()
            self._start(key, released=released)
        if self._key is not None:
            frame = np.asarray(self._generator.generate(FRAME_SAMPLES), dtype=np.int16)
            self._frames_sounded += 1
            if self._release_pending and self._frames_sounded >= self.min_frames:
                self._stop()
            return frame
        self._silent_frames += 1
        if self._gap:
            self._gap -= 1
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if mic is None:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return np.asarray(mic, dtype=np.int16)

    def earpiece(self, downlink: np.ndarray, uplink: np.ndarray) -> np.ndarray:
        """What the ear hears: the line plus a little of what the handset sends."""
        side = self._sidetone
        np.multiply(uplink, self.sidetone_gain, out=side)
        side += downlink
        np.clip(side, -32768, 32767, out=side)
        return side.astype(np.int16)


class WallPhone:
    """A keypad and an audio port joined through a :class:`Handset` to a facility line.

    Parameters
    ----------
    keypad
        A :class:`phonesim.hw.keypad.Keypad` (``poll()`` gives its events).
    audio
        A :class:`phonesim.hw.audio.AudioPort` (microphone in, earpiece out).
    line
        A :class:`phonesim.facility.line.FacilityLine`.
    clock
        The frame clock (the driver ticks it).
    profile
        The facility profile (handset levels).
    listener
        Optional ``callable(event)`` told about every keypad event (status lines).
    """

    def __init__(self, keypad, audio, line, clock, profile, *, listener=None) -> None:
        self.keypad = keypad
        self.audio = audio
        self.line = line
        self.clock = clock
        self.handset = Handset(profile)
        self.listener = listener
        self.off_hook = False
        self.frames = 0
        self.lost_samples = 0

    def __repr__(self) -> str:
        return (f"<WallPhone off_hook={self.off_hook} frames={self.frames} keypad={self.keypad!r} "
                f"audio={self.audio!r}>")

    def handle(self, event) -> None:
        """Apply one keypad event (also usable by a program feeding its own events)."""
        if self.listener is not None:
            self.listener(event)
        if isinstance(event, HookChanged):
            if event.off_hook != self.off_hook:
                self.off_hook = event.off_hook
                if not event.off_hook:
                    self.handset.clear()
                self.line.hook(event.off_hook)
        elif isinstance(event, KeyDown):
            if self.off_hook:
                self.handset.key_down(event.key)
        elif isinstance(event, KeyUp):
            self.handset.key_up(event.key)
        elif isinstance(event, LinkChanged):
            if not event.up:
                self.handset.key_up()

    def step(self, frame_index: int | None = None) -> bool:
        """One 20 ms frame; returns True (the driver's ``step`` contract: keep going)."""
        for event in self.keypad.poll():
            self.handle(event)
        if self.frames == 0 and bool(getattr(self.keypad, "off_hook", False)) and not self.off_hook:
            # the handset was already lifted when the phone started: no event will say so
            self.handle(HookChanged(True))
        mic = self.audio.read_frame()
        lost = self.audio.take_lost_samples()
        if lost:
            self.lost_samples += lost
            self.line.uplink_lost(lost)
        uplink = self.handset.uplink(mic if self.off_hook else None)
        downlink = self.line.step(uplink)
        if not self.off_hook:
            downlink = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.audio.write_frame(self.handset.earpiece(downlink, uplink) if self.off_hook else downlink)
        self.frames += 1
        return True

    def run(self, driver, *, max_frames: int | None = None, until=None) -> int:
        """Run frames with ``driver`` until ``until()`` is true or ``max_frames``; returns frames run."""
        start = self.frames

        def step(frame_index: int) -> bool:
            self.step(frame_index)
            return not (until is not None and until())
        driver.run(step, max_frames=max_frames)
        return self.frames - start

    def close(self) -> None:
        """Close the line (ends an active call cleanly), then the keypad and the audio port."""
        try:
            self.line.close()
        finally:
            for device in (self.keypad, self.audio):
                try:
                    device.close()
                except Exception:  # closing must go on for the other device
                    log.exception("closing %r", device)

    def __enter__(self) -> WallPhone:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
