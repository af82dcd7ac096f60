"""North American call-progress tones with their cadences, as streaming sources.

Frequencies and cadences follow the Precise Tone Plan (ANSI T1.401 / Telcordia
GR-506): every tone is one or two sines, and a *cadence* is a program of
``(frequencies, duration)`` segments, some of which repeat.

=================  =====================  ======================================
name               frequencies (Hz)       cadence
=================  =====================  ======================================
``dial``           350 + 440              continuous
``stutter``        350 + 440              3 x (100 ms on, 100 ms off), then steady
``confirmation``   350 + 440              3 x (100 ms on, 100 ms off), then silent
``ringback``       440 + 480              2 s on, 4 s off
``busy``           480 + 620              0.5 s on, 0.5 s off
``reorder``        480 + 620              0.25 s on, 0.25 s off
``sit``            913.8, 1370.6, 1776.7  274 ms, 274 ms, 380 ms in turn, then silent
``warning_beep``   1400                   200 ms on, then silent
=================  =====================  ======================================

The oscillators are computed from the absolute sample index, so a source is
phase-continuous whatever the chunk sizes: ``read(100)`` then ``read(60)`` gives
exactly the samples of ``read(160)``.  ``level_dbm0`` is the level of *each*
frequency component (dial tone is -13 dBm0 per frequency on a real line).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonesim.dsp.levels import dbm0_to_peak

DIAL_HZ = (350.0, 440.0)
RINGBACK_HZ = (440.0, 480.0)
BUSY_HZ = (480.0, 620.0)
SIT_HZ = (913.8, 1370.6, 1776.7)
WARNING_BEEP_HZ = (1400.0,)


@dataclass(frozen=True, slots=True)
class Cadence:
    """A tone program: ``segments`` of ``(frequencies_hz, duration_ms)``.

    Segments from index ``loop_from`` on repeat forever; with ``loop_from=None``
    the source is silent after the last segment.  An empty frequency tuple is a
    silent segment.
    """

    segments: tuple[tuple[tuple[float, ...], int], ...]
    loop_from: int | None = 0


_STUTTER_BURSTS = ((DIAL_HZ, 100), ((), 100)) * 3

CADENCES: dict[str, Cadence] = {
    "dial": Cadence(((DIAL_HZ, 1000),), 0),
    "stutter": Cadence(_STUTTER_BURSTS + ((DIAL_HZ, 1000),), 6),
    "confirmation": Cadence(_STUTTER_BURSTS, None),
    "ringback": Cadence(((RINGBACK_HZ, 2000), ((), 4000)), 0),
    "busy": Cadence(((BUSY_HZ, 500), ((), 500)), 0),
    "reorder": Cadence(((BUSY_HZ, 250), ((), 250)), 0),
    "sit": Cadence((((SIT_HZ[0],), 274), ((SIT_HZ[1],), 274), ((SIT_HZ[2],), 380)), None),
    "warning_beep": Cadence(((WARNING_BEEP_HZ, 200),), None),
}

TONE_NAMES = tuple(CADENCES)


class ToneSource:
    """A streaming call-progress tone generator.

    Parameters
    ----------
    name : str
        One of :data:`TONE_NAMES`.
    sample_rate_hz : int
        Output rate.
    level_dbm0 : float
        Level of each frequency component.

    Raises
    ------
    ValueError
        For an unknown tone name or a non-positive rate.
    """

    def __init__(self, name: str, *, sample_rate_hz: int = 8000, level_dbm0: float = -13.0) -> None:
        if name not in CADENCES:
            raise ValueError(f"unknown tone {name!r}: expected one of {', '.join(TONE_NAMES)}")
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be positive, got {sample_rate_hz!r}")
        self.name = name
        self.sample_rate_hz = int(sample_rate_hz)
        self.level_dbm0 = float(level_dbm0)
        self._peak = float(dbm0_to_peak(level_dbm0))
        cadence = CADENCES[name]
        self._freqs = [seg[0] for seg in cadence.segments]
        lengths = np.array([round(seg[1] * self.sample_rate_hz / 1000) for seg in cadence.segments])
        self._ends = np.cumsum(lengths)
        if cadence.loop_from is None:
            self._loop_start = None
        else:
            self._loop_start = int(self._ends[cadence.loop_from - 1]) if cadence.loop_from else 0
        self._total = int(self._ends[-1])
        self._n = 0

    @property
    def position(self) -> int:
        """Samples produced so far."""
        return self._n

    def reset(self) -> None:
        """Start the cadence again from its first segment."""
        self._n = 0

    def read(self, n_samples: int) -> np.ndarray:
        """Return the next ``n_samples`` samples as int16."""
        n_samples = int(n_samples)
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        n = np.arange(self._n, self._n + n_samples, dtype=np.int64)
        self._n += n_samples
        # Position inside the program: the looping tail wraps around.
        pos = n.copy()
        if self._loop_start is not None:
            loop_len = self._total - self._loop_start
            over = pos >= self._total
            pos[over] = self._loop_start + (pos[over] - self._loop_start) % loop_len
        seg = np.searchsorted(self._ends, pos, side="right")
        out = np.zeros(n_samples, dtype=np.float64)
        t = n / self.sample_rate_hz
        for index, freqs in enumerate(self._freqs):
            mask = seg == index
            if not freqs or not mask.any():
                continue
            tm = t[mask]
            for f in freqs:
                out[mask] += self._peak * np.sin(2 * np.pi * f * tm)
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)

    def __repr__(self) -> str:
        return (f"ToneSource({self.name!r}, sample_rate_hz={self.sample_rate_hz}, "
                f"level_dbm0={self.level_dbm0}, position={self._n})")


def render_tone(name: str, duration_s: float, **kw) -> np.ndarray:
    """Render ``duration_s`` seconds of tone ``name`` (keyword arguments go to :class:`ToneSource`)."""
    source = ToneSource(name, **kw)
    return source.read(round(duration_s * source.sample_rate_hz))
