"""DTMF (touch-tone) generation and detection, streaming and multi-channel.

Every PIN, every number and every called-party key in phonesim travels as DTMF
in the audio, so the detector is held to the ITU-T Q.24 / Bellcore limits and
measured against spandsp and multimon-ng (``python -m benchmarks.dtmf``).

Detector design
---------------
The audio is cut into 51-sample *sub-blocks* on an absolute sample grid; a
vectorised DFT bank (:mod:`phonesim.dsp.goertzel`) measures the eight DTMF
frequencies and the high group's second harmonics in every sub-block,
phase-referenced to absolute time (so two adjacent sub-blocks add up to the DFT
of their 102 samples, and their phase difference measures the frequency).  Two consecutive sub-blocks form
a 102-sample (12.75 ms) analysis *window*; windows advance by 51 samples, so
timing decisions have 6.4 ms resolution.  Each window is tested for the
strongest row and column tone:

* absolute level: each tone >= ``min_level_dbm0``;
* twist: high group at most ``max_normal_twist_db`` weaker and at most
  ``max_reverse_twist_db`` stronger than the low group;
* relative peak: each tone ``min_relative_peak_db`` above the other tones of
  its group;
* energy share: the two tones carry ``min_energy_share`` of the window's total
  energy (rejects speech and music, and windows only partly covered by a tone);
* second harmonic of the high-group tone ``min_harmonic_rejection_db`` down
  (rejects voiced speech and square-ish waves; computed only for windows that
  passed everything else).

A window passing all of them is a *strict hit*; a relaxed version of the same
tests (``loose_*`` margins) keeps a digit alive.  A digit starts after
``on_windows`` consecutive strict hits and ends after ``off_windows`` (3)
consecutive windows that are not even loose hits.  A window partly covered
by a tone has an energy share equal to the covered fraction, so with
``loose_energy_share`` = 0.54 a window misses when a gap takes more than 47 of
its 102 samples: a 10 ms gap then costs at most 2 windows (bridged) and a
20 ms pause at least 3 (split), whatever its phase against the grid.  When a
digit ends it must also pass:

* duration: the tone's start and end are located to a few samples from the
  sub-block amplitudes; shorter than ``min_duration_ms`` is dropped
  (so <= 20 ms tones are never reported, >= 40 ms always are);
* energy share over the whole digit: the two tones must carry
  ``min_digit_energy_share`` of the energy of all its windows.  Averaged over
  the digit this separates DTMF in 6 dB SNR noise (>= 0.65) from most of the
  vowel-formant pairs that talk-off is made of;
* frequency: the phase advance between sub-blocks 51 and 102 samples apart
  gives each tone's frequency offset to about a hertz; beyond
  ``max_freq_dev_percent`` (1.9 %: 1.5 % plus the estimate's spread at 6 dB
  SNR) the digit is dropped, so ±1.5 % is accepted and ±3.5 % rejected, which
  a 102-sample window alone cannot do.  Formant pairs that pass the energy
  tests are almost always more than 2 % off one of the tones.

A digit is reported once, when it ends, at most ``off_windows + 1`` windows
(about 25 ms) after the tone stops.  Results are identical for any chunking of
the input and for any number of channels, because every decision is made on
the absolute sub-block grid and the state machine only sees per-window results.

Speed: the DFT, the window powers and the energy-share screen are array
operations over many windows and all channels at once, and cost the same on
any audio.  What DTMF adds is work per candidate window (the other tests, all
candidates of up to 16 slices together) and per digit.  The digit state
machine steps window by window in Python only when few windows are busy (one
line's 20 ms frame: a few microseconds), and otherwise is solved with array
operations over all windows and channels, over runs of hits rather than
each hit (:meth:`DtmfDetector._machine_runs`); a digit's sub-blocks are kept
in a per-channel arena by array operations, not in Python lists; all digits
that end in a call are checked together.  :meth:`DtmfDetector.feed_arrays`
returns them as one structured array, with no Python work per digit at all
(``phonesim decode`` uses it); :meth:`DtmfDetector.feed` makes one
``DtmfDigit`` each.  So the cost grows with the audio and with the digits in
it, never with Python per window, per digit or per channel: back-to-back
keying at the fastest legal rate (12.5 digits a second) is the worst case,
and still faster than spandsp's C; noise, speech and music decode several
times faster (figures in ``docs/benchmarks-dtmf.md``).  A line fed alone in
20 ms frames pays numpy's fixed cost per call, a few dozen calls a frame;
lines that share one detector (``channels=N``) pay it once per frame for all.

Spec limits met (see ``tests/dsp/test_dtmf_spec.py`` and the benchmark):
frequency ±1.5 % accepted, ±3.5 % rejected; twist 8 dB normal / 4 dB reverse
accepted; -3..-45 dBm0 per tone decoded, -55 dBm0 silent; >= 40 ms decoded,
<= 20 ms ignored; <= 10 ms dropouts bridged, >= 20 ms pauses split; 6 dB SNR in
white telephone-band noise; no digit on the codec2 speech, the prompts or
synthetic music; 99.7 % of 1 000 realistic PIN strings exact; a digit reported
at most 26 ms after its tone ends.

Known weaknesses: tones of 20-40 ms are decided by an estimated duration, so
around 30 ms the outcome depends on noise; the talk-off margin rests mostly
on the energy-share and frequency tests, so speech that holds a vowel whose
formants sit on a DTMF pair (most often 697 + 1209 Hz, "1") for 40 ms comes
closest to a false digit; two different digits with no gap between them are split only after ``on_windows`` windows of the new one; a
loss reported through :meth:`DtmfDetector.fill_in` longer than
``max_fill_in_ms`` closes a digit in progress (a key held across a long
overflow may then be reported twice); the second-harmonic test is not applied
to the low group (its harmonics fall next to high-group tones).
"""

from __future__ import annotations

import collections
import itertools
import math
from dataclasses import dataclass, fields

import numpy as np

from phonesim.dsp.goertzel import ToneBank
from phonesim.dsp.levels import DBM0_RMS, dbm0_to_peak, dbm0_to_rms

KEYS = "0123456789*#ABCD"
ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
_LAYOUT = ("123A", "456B", "789C", "*0#D")
#: digit -> (low Hz, high Hz)
DIGIT_FREQS_HZ = {_LAYOUT[r][c]: (ROW_HZ[r], COL_HZ[c]) for r in range(4) for c in range(4)}
_CODE_TO_DIGIT = [_LAYOUT[r][c] for r in range(4) for c in range(4)]  # code = row * 4 + col
_DIGIT_OF_CODE = np.array(_CODE_TO_DIGIT)

SUB_LEN = 51
WINDOW_LEN = 2 * SUB_LEN
_HARMONIC_HZ = tuple(2 * f for f in COL_HZ)
_BANK_HZ = ROW_HZ + COL_HZ + _HARMONIC_HZ  # bins 0-3 rows, 4-7 columns, 8-11 their harmonics
_SLICE_SAMPLES = 51 * 1024  # samples (all channels together) analysed at a time
# Sub-blocks per matrix product: small enough that BLAS does it on the calling thread
# (OpenBLAS threads a product above 262 144 multiply-adds; threads that spin-wait for a
# product this small cost more CPU than they save), large enough to amortise the call.
_PRODUCT_ROWS = 192
_SLICES_PER_SPAN = 4  # slices analysed together (DFT, window powers, energy screen): small for the cache
_SLICES_PER_RUN = 16  # slices whose candidates are classified and run through the digit machine at once
_CARRY_SUBS = 8  # sub-blocks of history kept per channel (>= on_windows + 2)
_ARENA_SUBS = 64  # sub-blocks of a digit in progress kept in the arena (400 ms; a longer one spills)
_WINDOW_MACHINE_CELLS = 64  # busy channels x windows up to which the machine steps window by window


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One detected key press.

    ``start_sample``/``end_sample`` are absolute sample indices (end exclusive)
    of the tone on the detector's input; levels are per tone in dBm0 and
    ``twist_db`` is high-group level minus low-group level.
    """

    digit: str
    start_sample: int
    end_sample: int
    low_dbm0: float
    high_dbm0: float
    twist_db: float
    channel: int = 0


_DIGIT_SETTERS = tuple(getattr(DtmfDigit, f.name).__set__ for f in fields(DtmfDigit))

#: The structured dtype of :meth:`DtmfDetector.feed_arrays`: one field per
#: :class:`DtmfDigit` field, same names, same values.
DIGIT_DTYPE = np.dtype([("digit", "U1"), ("start_sample", np.int64), ("end_sample", np.int64),
                        ("low_dbm0", np.float64), ("high_dbm0", np.float64), ("twist_db", np.float64),
                        ("channel", np.int64)])


def _make_digits(*columns: list) -> list[DtmfDigit]:
    """:class:`DtmfDigit` objects from one list per field, twice as fast as calling the class.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
    the detector makes a digit for every key press on every line, and there that
    cost is as large as all of the digit's checks.  This makes bare objects and
    sets each field of all of them through its slot's descriptor, in C loops:
    the objects are the same in every respect.
    """
    if len(columns) != len(_DIGIT_SETTERS):
        raise TypeError(f"expected {len(_DIGIT_SETTERS)} columns (one per DtmfDigit field), got {len(columns)}")
    digits = list(map(object.__new__, itertools.repeat(DtmfDigit, len(columns[0]))))
    for setter, values in zip(_DIGIT_SETTERS, columns, strict=True):
        collections.deque(map(setter, digits, values), maxlen=0)
    return digits


def _digit_objects(columns) -> list[DtmfDigit]:
    """The digits of ``columns`` (one array per :class:`DtmfDigit` field, or None) as objects."""
    if columns is None:
        return []
    return _make_digits(*(column.tolist() for column in columns))


def _digit_array(columns) -> np.ndarray:
    """The digits of ``columns`` (one array per :class:`DtmfDigit` field, or None) as one
    structured array of :data:`DIGIT_DTYPE`."""
    if columns is None:
        return np.empty(0, dtype=DIGIT_DTYPE)
    out = np.empty(columns[0].size, dtype=DIGIT_DTYPE)
    for name, column in zip(DIGIT_DTYPE.names, columns, strict=True):
        out[name] = column
    return out


def _join_columns(found: list) -> tuple[np.ndarray, ...] | None:
    """Digits' columns found piece by piece as one set of columns, ordered by end sample, then
    channel (a stable sort: digits that tie keep the order they were found in)."""
    found = [columns for columns in found if columns is not None]
    if not found:
        return None
    columns = found[0] if len(found) == 1 else tuple(map(np.concatenate, zip(*found, strict=True)))
    if columns[0].size > 1:
        order = np.lexsort((columns[DIGIT_DTYPE.names.index("channel")], columns[DIGIT_DTYPE.names.index("end_sample")]))
        columns = tuple(column[order] for column in columns)
    return columns


def _check_digit(digit) -> str:
    if not isinstance(digit, str) or len(digit) != 1 or digit.upper() not in DIGIT_FREQS_HZ:
        raise ValueError(f"expected one DTMF key of {KEYS!r}, got {digit!r}")
    return digit.upper()


class DtmfGenerator:
    """Make DTMF tones, offline (:meth:`digits`) or streaming (:meth:`key_down`/:meth:`generate`).

    Parameters
    ----------
    sample_rate_hz : int
        Output rate.
    level_dbm0 : float
        Mean of the two tone levels: the low tone is at ``level_dbm0 - twist_db/2``
        and the high tone at ``level_dbm0 + twist_db/2`` (defaults: -9 and -7 dBm0,
        a typical telephone set).
    twist_db : float
        High-group level minus low-group level.
    freq_error : float or (float, float)
        Relative frequency error of both tones (``0.015`` = +1.5 %), or of the
        (low, high) tones separately.
    """

    def __init__(self, sample_rate_hz: int = 8000, *, level_dbm0: float = -8.0, twist_db: float = 2.0,
                 freq_error=0.0) -> None:
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be positive, got {sample_rate_hz!r}")
        self.sample_rate_hz = int(sample_rate_hz)
        self.level_dbm0 = float(level_dbm0)
        self.twist_db = float(twist_db)
        self.freq_error = freq_error
        self._key: str | None = None
        self._phase = np.zeros(2)  # cycles of the low and high oscillators
        self._freqs = (0.0, 0.0)
        self._amps = (0.0, 0.0)

    def _tone_params(self, digit, level_dbm0, twist_db, freq_error):
        level = self.level_dbm0 if level_dbm0 is None else float(level_dbm0)
        twist = self.twist_db if twist_db is None else float(twist_db)
        err = self.freq_error if freq_error is None else freq_error
        err_low, err_high = (err, err) if np.isscalar(err) else tuple(err)
        low, high = DIGIT_FREQS_HZ[_check_digit(digit)]
        freqs = (low * (1 + float(err_low)), high * (1 + float(err_high)))
        amps = (float(dbm0_to_peak(level - twist / 2)), float(dbm0_to_peak(level + twist / 2)))
        return freqs, amps

    def digits(self, digits: str, *, on_ms: float = 80, off_ms: float = 80, level_dbm0=None, twist_db=None,
               freq_error=None, lead_ms: float = 0, tail_ms: float = 0) -> np.ndarray:
        """Render ``digits`` as int16: ``lead_ms`` silence, then each digit ``on_ms`` with
        ``off_ms`` silence between digits, then ``tail_ms`` silence."""
        fs = self.sample_rate_hz
        on = round(on_ms * fs / 1000)
        off = round(off_ms * fs / 1000)
        parts = [np.zeros(round(lead_ms * fs / 1000))]
        t = np.arange(on) / fs
        for i, digit in enumerate(digits):
            (f1, f2), (a1, a2) = self._tone_params(digit, level_dbm0, twist_db, freq_error)
            if i:
                parts.append(np.zeros(off))
            parts.append(a1 * np.sin(2 * np.pi * f1 * t) + a2 * np.sin(2 * np.pi * f2 * t))
        parts.append(np.zeros(round(tail_ms * fs / 1000)))
        return _to_int16(np.concatenate(parts))

    @property
    def key(self) -> str | None:
        """The key sounding now, or None."""
        return self._key

    def key_down(self, digit: str) -> None:
        """Start sounding ``digit`` (replaces a key already down); it sounds until :meth:`key_up`."""
        self._freqs, self._amps = self._tone_params(digit, None, None, None)
        self._key = _check_digit(digit)
        self._phase[:] = 0.0

    def key_up(self) -> None:
        """Stop the tone; :meth:`generate` returns silence from the next sample on."""
        self._key = None

    def generate(self, n_samples: int) -> np.ndarray:
        """The next ``n_samples`` of output (int16), phase-continuous across calls."""
        n_samples = int(n_samples)
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        if self._key is None:
            return np.zeros(n_samples, dtype=np.int16)
        k = np.arange(n_samples)
        out = np.zeros(n_samples)
        for i in range(2):
            step = self._freqs[i] / self.sample_rate_hz
            out += self._amps[i] * np.sin(2 * np.pi * (self._phase[i] + step * k))
            self._phase[i] = (self._phase[i] + step * n_samples) % 1.0
        return _to_int16(out)

    def __repr__(self) -> str:
        return (f"DtmfGenerator(sample_rate_hz={self.sample_rate_hz}, level_dbm0={self.level_dbm0}, "
                f"twist_db={self.twist_db}, freq_error={self.freq_error!r}, key={self._key!r})")


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


class DtmfDetector:
    """Streaming multi-channel DTMF detector (design and limits: module docstring).

    Parameters
    ----------
    channels : int
        Number of independent lines decoded together.
    sample_rate_hz : int
        Only 8000 is supported (resample first).
    min_level_dbm0 : float
        Weakest tone accepted in a strict window.
    max_normal_twist_db, max_reverse_twist_db : float
        Largest accepted twist with the high group weaker / stronger.
    min_relative_peak_db : float
        How far each tone must stand above the other tones of its group.
    min_energy_share : float
        Fraction (0..1) of the window energy the two tones must carry.
    min_harmonic_rejection_db : float
        How far the high tone's second harmonic must be below the tone.
    loose_level_db, loose_twist_db, loose_relative_peak_db, loose_energy_share : float
        The relaxed tests that keep a started digit alive.
    on_windows, off_windows : int
        Consecutive strict hits to start, consecutive misses to end a digit.
    min_duration_ms : float
        Shortest reported tone (estimated duration).
    min_digit_energy_share : float
        Fraction (0..1) of the energy of a digit's windows its two tones must carry.
    max_freq_dev_percent : float
        Largest accepted frequency error of either tone.
    max_fill_in_ms : float
        Longest loss (:meth:`fill_in`) bridged inside a digit.
    """

    def __init__(self, channels: int = 1, sample_rate_hz: int = 8000, *, min_level_dbm0: float = -49.0,
                 max_normal_twist_db: float = 10.0, max_reverse_twist_db: float = 6.5,
                 min_relative_peak_db: float = 5.0, min_energy_share: float = 0.55,
                 min_harmonic_rejection_db: float = 10.0, loose_level_db: float = 6.0,
                 loose_twist_db: float = 2.0, loose_relative_peak_db: float = 3.0,
                 loose_energy_share: float = 0.54, on_windows: int = 2, off_windows: int = 3,
                 min_duration_ms: float = 30.0, max_freq_dev_percent: float = 1.9,
                 max_fill_in_ms: float = 20.0, min_digit_energy_share: float = 0.63) -> None:
        if sample_rate_hz != 8000:
            raise ValueError(f"DtmfDetector works at 8000 Hz, got sample_rate_hz={sample_rate_hz!r}; resample first")
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        if not 1 <= int(on_windows) <= _CARRY_SUBS - 2:
            raise ValueError(f"on_windows must be 1..{_CARRY_SUBS - 2}, got {on_windows!r}")
        if int(off_windows) < 1:
            raise ValueError(f"off_windows must be >= 1 (a digit ends after that many misses), got {off_windows!r}")
        self.channels = int(channels)
        self.sample_rate_hz = sample_rate_hz
        self.min_level_dbm0 = float(min_level_dbm0)
        self.max_normal_twist_db = float(max_normal_twist_db)
        self.max_reverse_twist_db = float(max_reverse_twist_db)
        self.min_relative_peak_db = float(min_relative_peak_db)
        self.min_energy_share = float(min_energy_share)
        self.min_harmonic_rejection_db = float(min_harmonic_rejection_db)
        self.loose_level_db = float(loose_level_db)
        self.loose_twist_db = float(loose_twist_db)
        self.loose_relative_peak_db = float(loose_relative_peak_db)
        self.loose_energy_share = float(loose_energy_share)
        self.on_windows = int(on_windows)
        self.off_windows = int(off_windows)
        self.min_duration_ms = float(min_duration_ms)
        self.max_freq_dev_percent = float(max_freq_dev_percent)
        self.max_fill_in_ms = float(max_fill_in_ms)
        self.min_digit_energy_share = float(min_digit_energy_share)
        self._bank = ToneBank(_BANK_HZ, SUB_LEN, sample_rate_hz)
        self._min_power = float(dbm0_to_rms(self.min_level_dbm0)) ** 2
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio and digits in progress; the sample counter restarts at 0."""
        c = self.channels
        self._rest = np.zeros((c, 0), dtype=np.float32)
        self._scratch = np.zeros((c, 0), dtype=np.float32)  # float32 copy of the slice being analysed
        self._position = 0  # absolute index of the first sample of self._rest
        self._next_sub = 0  # absolute index of the next sub-block (= of the next window)
        self._z_hist = np.zeros((c, _CARRY_SUBS, len(_BANK_HZ)), dtype=np.complex64)
        self._e_hist = np.zeros((c, 1), dtype=np.float32)
        self._start_hist = np.full(_CARRY_SUBS, -(10**12), dtype=np.int64)  # sub-block starts
        # The candidate: the run of equal strict codes ending at the last window
        # (code -1 and length 0: none), with its integer energies.
        self._cand_code = np.full(c, -1, dtype=np.int64)
        self._cand_n = np.zeros(c, dtype=np.int64)
        self._cand_tone = np.zeros(c, dtype=np.int64)
        self._cand_total = np.zeros(c, dtype=np.int64)
        # The digit in progress (code -1: none): absolute window of its first and last
        # hit windows, first kept sub-block, and energies of its hit windows.
        self._act_code = np.full(c, -1, dtype=np.int64)
        self._act_first = np.zeros(c, dtype=np.int64)
        self._act_last = np.zeros(c, dtype=np.int64)
        self._act_lo = np.zeros(c, dtype=np.int64)
        self._act_tone = np.zeros(c, dtype=np.int64)
        self._act_total = np.zeros(c, dtype=np.int64)
        # Its sub-blocks so far (row and column tone DFT, start sample): the first
        # _ARENA_SUBS in the arena, older ones of a held key moved to a list of chunks.
        self._dig_row = np.zeros((c, _ARENA_SUBS), dtype=np.complex64)
        self._dig_col = np.zeros((c, _ARENA_SUBS), dtype=np.complex64)
        self._dig_start = np.zeros((c, _ARENA_SUBS), dtype=np.int64)
        self._dig_n = np.zeros(c, dtype=np.int64)
        self._dig_spill: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    @property
    def samples_seen(self) -> int:
        """Samples consumed so far (fed plus filled in), per channel."""
        return self._position + self._rest.shape[1]

    def fill_in(self, n_samples: int) -> list[DtmfDigit]:
        """Account for ``n_samples`` lost samples (an input overflow).

        The partial sub-block is discarded, the sample counter advances, and no
        window spans the gap.  A digit in progress stays open across a loss of up
        to ``max_fill_in_ms``; after a longer loss it is closed (and returned if
        it passes its checks).  Nothing is ever invented from the gap.
        """
        n_samples = int(n_samples)
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        if n_samples == 0:
            return []
        lost = self._rest.shape[1] + n_samples
        self._position += lost
        self._rest = np.zeros((self.channels, 0), dtype=np.float32)
        self._z_hist[:] = 0
        self._e_hist[:] = 0
        self._cand_code[:] = -1
        self._cand_n[:] = 0
        if lost * 1000 / self.sample_rate_hz <= self.max_fill_in_ms:
            return []
        chans = np.flatnonzero(self._act_code >= 0)
        ended = (chans, self._act_code[chans], self._act_first[chans], self._act_lo[chans], self._act_last[chans],
                 self._act_last[chans], self._act_tone[chans], self._act_total[chans], np.ones(chans.size, dtype=bool))
        found = self._close(ended, None, None, 0)
        self._act_code[chans] = -1
        return _digit_objects(found)  # in channel order

    # ------------------------------------------------------------------- feed
    def feed(self, samples) -> list[DtmfDigit]:
        """Decode the next chunk; return the digits that ended in it.

        Parameters
        ----------
        samples : array_like
            int16 (or float in 16-bit units) of shape ``(n,)`` for one channel
            or ``(channels, n)``; any ``n`` >= 0.

        Returns
        -------
        list of DtmfDigit
            Ordered by end sample, then channel.
        """
        return _digit_objects(self._feed(samples))

    def feed_arrays(self, samples) -> np.ndarray:
        """:meth:`feed`, with the digits as one structured array of :data:`DIGIT_DTYPE`.

        The same digits in the same order with the same values, field for field
        (``found["digit"]``, ``found["start_sample"]``, ...), made without a
        Python object per digit: for a long recording or many channels, where
        making thousands of :class:`DtmfDigit` objects would cost as much as
        finding them.  Both calls advance the same state and may be mixed.
        """
        return _digit_array(self._feed(samples))

    def _feed(self, samples):
        """:meth:`feed`'s digits as columns (one array per :class:`DtmfDigit` field), or None."""
        x = np.asarray(samples)
        if x.ndim == 1 and self.channels == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected samples of shape (n,) for 1 channel or ({self.channels}, n), got {x.shape}")
        if x.dtype.kind == "f":  # NaN, inf and overload are clipped like a 16-bit converter would
            x = np.clip(np.nan_to_num(x, nan=0.0, posinf=32767.0, neginf=-32768.0), -32768.0, 32767.0)
        found = []
        # Long inputs are cut into slices of `step` samples per channel (about 52 000 in
        # all); the DFT and the element-wise tests run over _SLICES_PER_SPAN slices and
        # the classification and digit state machine over _SLICES_PER_RUN at a time, so
        # their fixed cost of some hundred numpy calls is spread out, while the
        # temporaries stay small enough for the CPU cache.
        step = max(SUB_LEN, (_SLICE_SAMPLES // self.channels) // SUB_LEN * SUB_LEN)
        for at in range(0, x.shape[1], step * _SLICES_PER_RUN):
            found.append(self._feed_run(x[:, at:at + step * _SLICES_PER_RUN], step))
        return _join_columns(found)

    def _feed_run(self, x: np.ndarray, step: int):
        """Analyse ``x`` span by span, classify its candidate windows and run the digits over it."""
        z_hist, start_hist, first_sub = self._z_hist, self._start_hist, self._next_sub
        span = step * _SLICES_PER_SPAN
        parts = [self._analyse(x[:, at:at + span]) for at in range(0, x.shape[1], span)]
        parts = [part for part in parts if part is not None]
        if not parts:
            return None
        if not any(part[2].size for part in parts) and not (self._act_code >= 0).any():
            self._cand_code[:] = -1  # every window is a miss: no candidate survives
            self._cand_n[:] = 0
            return None
        if len(parts) == 1:  # a frame: nothing to join
            (tone, total, flat, p, z, starts), = parts
            z_all = np.concatenate([z_hist, z], axis=1)  # (C, H + k, 12)
            start_all = np.concatenate([start_hist, starts])
        else:
            tone = np.concatenate([part[0] for part in parts], axis=1)
            total = np.concatenate([part[1] for part in parts], axis=1)
            k = tone.shape[1]
            # Candidate windows as flat indices into the run's (channel, window) grid.
            flat, at = [], 0
            for part in parts:
                c, w = np.divmod(part[2], part[0].shape[1])
                flat.append(c * k + (w + at))
                at += part[0].shape[1]
            flat = np.concatenate(flat)
            p = np.concatenate([part[3] for part in parts])
            z_all = np.concatenate([z_hist] + [part[4] for part in parts], axis=1)  # (C, H + k, 12)
            start_all = np.concatenate([start_hist] + [part[5] for part in parts])
        strict, loose = self._classify(flat, p, tone, total, z_all)
        if not (self._act_code >= 0).any() and not (strict >= 0).any():
            self._cand_code[:] = -1  # every window is a miss: no candidate survives
            self._cand_n[:] = 0
            return None
        # Integer energies (1/16 of a 16-bit unit squared) make every sum exact.
        tone_q = np.rint(tone * 16).astype(np.int64)
        total_q = np.rint(total * 16).astype(np.int64)
        return self._run_digits(strict, loose, tone_q, total_q, z_all, start_all, first_sub)

    def _analyse(self, x: np.ndarray):
        """DFT of a span of slices and the windows' powers; None if it completes no sub-block.

        Returns per window the two strongest tones' power and the total power,
        the candidates (flat indices of the windows whose two tones carry enough
        of the energy to be worth the other tests: speech and noise mostly do
        not) with their eight tone powers, and the sub-blocks' DFT values and
        starts.  The matrix products take
        ``_PRODUCT_ROWS`` sub-blocks at a time; everything else is element-wise
        over the whole span.  Spans stay small enough for the CPU cache; the
        candidates of a whole run are classified together (:meth:`_classify`).
        """
        # The float32 copy goes into a reused buffer (fewer allocations per slice).
        n_rest = self._rest.shape[1]
        n = n_rest + x.shape[1]
        if self._scratch.shape[1] < n:
            self._scratch = np.empty((self.channels, n), dtype=np.float32)
        buf = self._scratch[:, :n]
        buf[:, :n_rest] = self._rest
        buf[:, n_rest:] = x
        x = buf
        k = x.shape[1] // SUB_LEN
        used = k * SUB_LEN
        start0 = self._position
        self._rest = x[:, used:].copy()
        self._position += used
        if k == 0:
            return None
        blocks = x[:, :used].reshape(self.channels, k, SUB_LEN)
        starts = start0 + SUB_LEN * np.arange(k, dtype=np.int64)
        # DFT of every sub-block, phase-referenced to absolute time: all twelve bins, which
        # is one long loop over two contiguous arrays (the rotation table's rows for
        # consecutive sub-blocks are consecutive), where the tones' eight alone would be
        # a short loop per sub-block.
        z = self._bank.dft(blocks, max_rows=_PRODUCT_ROWS)  # (C, k, 12) complex64
        z *= self._bank.rotation_run(start0, k)
        energy = np.einsum("ckn,ckn->ck", blocks, blocks)
        start_all = np.concatenate([self._start_hist, starts])
        # Window i = sub-blocks i-1 and i (the first one's first from the history); all
        # twelve bins for the same reason (the harmonics' window powers are not used).
        zw = np.empty((self.channels, k, len(_BANK_HZ)), dtype=np.complex64)
        np.add(self._z_hist[:, -1], z[:, 0], out=zw[:, 0])
        np.add(z[:, :-1], z[:, 1:], out=zw[:, 1:])
        total = np.empty((self.channels, k), dtype=np.float32)
        np.add(self._e_hist[:, 0], energy[:, 0], out=total[:, 0])
        np.add(energy[:, :-1], energy[:, 1:], out=total[:, 1:])
        total *= np.float32(1.0 / WINDOW_LEN)
        p = zw.real**2 + zw.imag**2
        p *= np.float32(2.0 / WINDOW_LEN**2)
        # Pairwise maxima: numpy's reduction over a 4-long strided axis is ten times slower.
        tone = (np.maximum(np.maximum(p[..., 0], p[..., 1]), np.maximum(p[..., 2], p[..., 3]))
                + np.maximum(np.maximum(p[..., 4], p[..., 5]), np.maximum(p[..., 6], p[..., 7])))
        enough = tone >= min(self.loose_energy_share, self.min_energy_share) * total
        # Every hit needs both tones at the loose level or above, so their sum at twice it
        # (exact in float32): silence and faint windows are misses without the other tests.
        enough &= tone >= 2 * self._limits()[0, 0, 0]
        # Only pairs that are truly adjacent count: this call's sub-blocks are, and so is the
        # first with the history's last unless samples were lost in between (fill_in).
        if self._start_hist[-1] + SUB_LEN != start0:
            enough[:, 0] = False
        # Flat indices (all arrays here are fresh and C-contiguous): cheaper than pairs.
        flat = np.flatnonzero(enough)
        self._z_hist = (z if k >= _CARRY_SUBS else np.concatenate([self._z_hist, z], axis=1))[:, -_CARRY_SUBS:].copy()
        self._e_hist = energy[:, -1:].copy()
        self._start_hist = start_all[-_CARRY_SUBS:].copy()
        self._next_sub += k
        return tone, total, flat, np.take(p.reshape(-1, len(_BANK_HZ)), flat, axis=0), z, starts

    def _limits(self) -> np.ndarray:
        """The window tests' limits, loose (row 0) and strict (row 1), in float32 as numpy
        converts the Python floats they come from, shape (5, 2, 1): level, reverse and
        normal twist factors, relative peak factor, energy share.  Kept until a
        parameter changes."""
        key = (self._min_power, self.loose_level_db, self.loose_twist_db, self.loose_relative_peak_db,
               self.min_relative_peak_db, self.max_reverse_twist_db, self.max_normal_twist_db,
               self.loose_energy_share, self.min_energy_share)
        if getattr(self, "_limits_key", None) != key:
            lo_db, tw_db = (self.loose_level_db, 0.0), (self.loose_twist_db, 0.0)
            rel_db = (self.loose_relative_peak_db, self.min_relative_peak_db)
            self._limits_array = np.array([
                [self._min_power * 10 ** (-db / 10) for db in lo_db],
                [10 ** ((self.max_reverse_twist_db + db) / 10) for db in tw_db],
                [10 ** ((self.max_normal_twist_db + db) / 10) for db in tw_db],
                [10 ** (db / 10) for db in rel_db],
                [self.loose_energy_share, self.min_energy_share]], dtype=np.float32)[:, :, None]
            self._limits_key = key
        return self._limits_array

    def _classify(self, flat: np.ndarray, p: np.ndarray, tone: np.ndarray, total: np.ndarray, z_all: np.ndarray):
        """Strict and loose digit codes (-1 for none) of the run's windows, shape (C, W).

        ``flat`` are the candidate windows (flat indices into ``tone``) and
        ``p`` their tone powers (the eight tones in the first eight of each
        row); every other window is a miss.
        """
        strict = np.full(tone.shape, -1, dtype=np.int8)  # codes 0..15: small grids
        loose = np.full(tone.shape, -1, dtype=np.int8)
        if not flat.size:
            return strict, loose
        # Tones as rows, (group, tone, candidate), so that every test runs along candidates.
        tones = np.ascontiguousarray(p[:, :8].T).reshape(2, 4, -1).transpose(1, 0, 2)
        (r, c), (pr, pc), (r2, c2) = _top_two(tones)
        code = r * 4 + c
        tone_sub = np.take(tone, flat)
        total_sub = np.take(total, flat)
        thr, rev, norm, rel, share = self._limits()
        ok = (pr >= thr) & (pc >= thr) & (pc <= pr * rev) & (pc * norm >= pr)
        ok &= (pr >= rel * r2) & (pc >= rel * c2) & (tone_sub >= share * total_sub)
        loose_ok, strict_ok = ok[0], ok[0] & ok[1]
        # Second harmonic of the high tone, only where everything else passed: the window's
        # two sub-blocks of the harmonic's bin (phase-referenced to absolute time, so they add).
        hit = np.flatnonzero(strict_ok)
        if hit.size:
            hc, hw = np.divmod(flat[hit], tone.shape[1])
            # Flat index of the window's first sub-block's harmonic bin (z_all is contiguous).
            at = ((hc * z_all.shape[1] + hw + _CARRY_SUBS - 1) * len(_BANK_HZ)) + 8 + c[hit]
            z_flat = z_all.reshape(-1)
            zh = np.take(z_flat, at) + np.take(z_flat, at + len(_BANK_HZ))
            harm = (zh.real**2 + zh.imag**2) * np.float32(2.0 / WINDOW_LEN**2)
            strict_ok[hit[harm * 10 ** (self.min_harmonic_rejection_db / 10) > pc[hit]]] = False
        strict.ravel()[flat] = np.where(strict_ok, code, -1)
        loose.ravel()[flat] = np.where(loose_ok, code, -1)
        return strict, loose

    # ---------------------------------------------------------- state machine
    def _run_digits(self, s: np.ndarray, loose: np.ndarray, tone_q: np.ndarray, total_q: np.ndarray,
                    z_all: np.ndarray, start_all: np.ndarray, first_sub: int):
        """Run the digit state machine over a run of windows, all channels at once.

        The machine, window by window (:meth:`_machine_windows` is it, literally):
        while idle, a digit of key ``x`` starts at the ``on_windows``-th
        consecutive strict hit of ``x`` (the candidate); while active, a loose
        hit of its key is a hit, anything else is a miss, and ``off_windows``
        consecutive misses end it; a candidate of another key that has reached
        ``on_windows`` by then starts the next digit in that same window.

        Its cost must not depend on what the line carries, so the machine only
        decides where digits start and end (:meth:`_machine_windows` in Python
        when few windows have anything in them, as when one line is fed a 20 ms
        frame; :meth:`_machine_runs` with array operations otherwise); the
        digits' sub-blocks are kept in a per-channel arena by array operations
        (:meth:`_keep_open`) and every ended digit is checked at once
        (:meth:`_close`).  Python works once per digit at most, never per
        channel and window.

        Energies are integers (``*_q``), so every sum is exact and the results
        cannot depend on how the input was chunked.
        """
        busy = np.flatnonzero((self._act_code >= 0) | (s >= 0).any(axis=1))
        if busy.size * s.shape[1] <= _WINDOW_MACHINE_CELLS:
            ended, opened = self._machine_windows(s, loose, tone_q, total_q, first_sub, busy)
            found = self._close_few(ended, z_all, start_all, first_sub) if ended else None
            for digit in ended:
                self._act_code[digit[0]] = -1
            for digit in opened:
                self._keep_one(*digit, z_all, start_all, first_sub)
            return found
        ended, opened = self._machine_runs(s, loose, tone_q, total_q, first_sub)
        found = self._close(ended, z_all, start_all, first_sub)
        self._act_code[ended[0]] = -1
        self._keep_open(opened, z_all, start_all, first_sub)
        return found  # feed() sorts

    def _machine_windows(self, s, loose, tone_q, total_q, first_sub: int, busy: np.ndarray):
        """The state machine stepped window by window, for the ``busy`` channels
        (a digit in progress or a strict hit); the others only lose their candidate.

        Returns ``(ended, opened)``: the digits that ended in these windows as
        tuples (channel, code, first hit window, first kept sub-block, last hit
        window, end window, tone energy, total energy, carried in from an earlier
        call) and those still open at the end (the same without the end window).
        Windows and sub-blocks are absolute indices.
        """
        on, off = self.on_windows, self.off_windows
        k = s.shape[1]
        ended, opened = [], []
        cand = (self._cand_code[busy].tolist(), self._cand_n[busy].tolist(), self._cand_tone[busy].tolist(),
                self._cand_total[busy].tolist())
        act = (self._act_code[busy].tolist(), self._act_first[busy].tolist(), self._act_last[busy].tolist(),
               self._act_lo[busy].tolist(), self._act_tone[busy].tolist(), self._act_total[busy].tolist())
        self._cand_code[:] = -1
        self._cand_n[:] = 0
        for i, c in enumerate(busy.tolist()):
            s_c, l_c, t_c, e_c = s[c].tolist(), loose[c].tolist(), tone_q[c].tolist(), total_q[c].tolist()
            run_code, run_n, run_tone, run_total = cand[0][i], cand[1][i], cand[2][i], cand[3][i]
            run_first = first_sub - run_n
            code, first, last, lo, tone, total = (a[i] for a in act)
            carried = code >= 0
            for j in range(k):
                w = first_sub + j
                sj = s_c[j]
                if sj < 0:
                    run_code, run_n = -1, 0
                elif sj == run_code:
                    run_n += 1
                    run_tone += t_c[j]
                    run_total += e_c[j]
                else:
                    run_code, run_n, run_first, run_tone, run_total = sj, 1, w, t_c[j], e_c[j]
                if code >= 0:
                    if l_c[j] == code:
                        last, tone, total = w, tone + t_c[j], total + e_c[j]
                        continue
                    if w - last < off:
                        continue
                    ended.append((c, code, first, lo, last, w, tone, total, carried))
                    code = -1
                if run_n >= on:
                    code, first, last, tone, total, carried = sj, run_first, w, run_tone, run_total, False
                    lo = max(first - 2, first_sub - _CARRY_SUBS)
            if code >= 0:
                opened.append((c, code, first, lo, last, tone, total, carried))
            if run_code >= 0 and run_code != code:
                self._cand_code[c], self._cand_n[c] = run_code, run_n
                self._cand_tone[c], self._cand_total[c] = run_tone, run_total
        return ended, opened

    def _machine_runs(self, s, loose, tone_q, total_q, first_sub: int):
        """The state machine of :meth:`_machine_windows` solved with array operations
        over all channels and windows; Python only hops from digit to digit.

        * a digit can start only at a strict hit whose run of equal strict
          codes (continuing the carried candidate) is ``on_windows`` long or
          longer, and after a digit ends at window ``e`` the next one starts at
          the first such window ``>= e`` (the first one after ``e`` is always
          the ``on_windows``-th of its run, because a run of another key cannot
          span the digit's last hit);
        * a digit of key ``x`` starting at ``a`` ends ``off_windows`` after the
          first loose hit of ``x`` (from ``a`` on) that is followed by a gap of
          more than ``off_windows`` windows without one.  Loose hits come in
          runs of one key (a key press is a few of them), and no such gap is
          inside a run, so the runs, sorted by (channel, key, window), make
          that a reverse running minimum over a few entries per key press.

        Returns ``(ended, opened)`` as :meth:`_machine_windows` does, as arrays
        (one per field).  Windows are handled as flat indices into the
        (channel, window) grid: ``c * k + w``.
        """
        n_chan, k = s.shape
        on, off = self.on_windows, self.off_windows
        win = np.arange(k)
        # Runs of equal strict codes, continuing the carried candidate.
        prev = np.empty_like(s)
        prev[:, 0] = self._cand_code
        prev[:, 1:] = s[:, :-1]
        strict_hit = s >= 0
        run_first = np.maximum.accumulate(np.where(strict_hit & (s != prev), win, -1), axis=1)
        run_first = np.where(run_first >= 0, run_first, -self._cand_n[:, None])  # window of the run start
        run_len = win - run_first + 1  # meaningful at strict hits only
        # Energies summed over the flat grid: a difference of two sums inside one channel is its sum.
        tone_cum = np.zeros(n_chan * k + 1, dtype=np.int64)
        total_cum = np.zeros(n_chan * k + 1, dtype=np.int64)
        np.cumsum(tone_q, out=tone_cum[1:])
        np.cumsum(total_q, out=total_cum[1:])
        run_first_flat = run_first.ravel()

        def run_energy(c, i):
            """Tone and total energy of the strict run ending at window ``i`` of channel ``c``."""
            start = run_first_flat[c * k + i]
            lo = c * k + np.maximum(start, 0)
            carried = start < 0
            return (tone_cum[c * k + i + 1] - tone_cum[lo] + np.where(carried, self._cand_tone[c], 0),
                    total_cum[c * k + i + 1] - total_cum[lo] + np.where(carried, self._cand_total[c], 0))

        # Runs of equal loose codes: where each starts and ends (flat), its key and energies.
        loose_flat = loose.ravel()
        hit = loose_flat >= 0
        new = hit.copy()
        new[1:] &= loose_flat[1:] != loose_flat[:-1]
        new[::k] = hit[::k]  # a channel's first window starts a run
        goes_on = np.zeros_like(hit)
        goes_on[:-1] = hit[1:] & ~new[1:]
        r_from = np.flatnonzero(new)
        r_to = np.flatnonzero(hit & ~goes_on)
        r_c = r_from // k
        # Sorted by (channel, key, window); a carried digit enters as a run of one window
        # at its last hit, carrying no energy.  The entries come in (channel, window)
        # order, carried digits first, so a stable sort by (channel, key) alone keeps
        # each key's runs in window order (a radix sort when the keys fit 16 bits).
        act_c = np.flatnonzero(self._act_code >= 0)
        n_virtual = act_c.size
        ent_group = np.concatenate([act_c * 16 + self._act_code[act_c], r_c * 16 + loose_flat[r_from]])
        v_pos = self._act_last[act_c] - first_sub
        ent_first = np.concatenate([v_pos, r_from - r_c * k])
        ent_last = np.concatenate([v_pos, r_to - r_c * k])
        ent_tone = np.concatenate([np.zeros(n_virtual, np.int64), tone_cum[r_to + 1] - tone_cum[r_from]])
        ent_total = np.concatenate([np.zeros(n_virtual, np.int64), total_cum[r_to + 1] - total_cum[r_from]])
        order = np.argsort(ent_group.astype(np.int16 if n_chan * 16 <= 2**15 else np.int64), kind="stable")
        group, first_w, last_w = ent_group[order], ent_first[order], ent_last[order]
        n_ent = order.size
        # A run ends a digit (holds its last hit) when the next run of its key starts more
        # than off windows after it.
        last = np.ones(n_ent, dtype=bool)
        last[:-1] = (group[1:] != group[:-1]) | (first_w[1:] - last_w[:-1] > off)
        last_of = np.minimum.accumulate(np.where(last, np.arange(n_ent), n_ent)[::-1])[::-1]
        tone_s = np.cumsum(ent_tone[order])
        total_s = np.cumsum(ent_total[order])
        rank = np.empty(n_ent, dtype=np.int64)
        rank[order] = np.arange(n_ent)
        run_at = np.cumsum(new) - 1  # at a loose hit: the (unsorted) run it belongs to

        # Carried digits: they end at their last hit + off (in these windows or later).
        v_rank = rank[:n_virtual]
        v_last = last_w[last_of[v_rank]]
        v_end = v_last + off
        v_tone = self._act_tone[act_c] + tone_s[last_of[v_rank]] - tone_s[v_rank]
        v_total = self._act_total[act_c] + total_s[last_of[v_rank]] - total_s[v_rank]
        walk_from = np.zeros(n_chan, dtype=np.int64)
        walk_from[act_c] = v_end

        # Windows where a digit may start: the on_windows-th strict hit of a run, or a
        # later one of the run if a digit may end there (a last hit + off); and where
        # each digit would have its last hit.
        may_start = (strict_hit & (run_len >= on)).ravel()
        starts_here = (strict_hit & (run_len == on)).ravel()
        end_c, end_w = group[last] // 16, last_w[last] + off
        ends = (end_c * k + end_w)[(end_w >= 0) & (end_w < k)]
        starts_here[ends] |= may_start[ends]
        st_flat = np.flatnonzero(starts_here)
        st_c = st_flat // k
        st_w = st_flat - st_c * k
        # A start is a loose hit too (a strict hit of the same key): its run, and the
        # chain of that key's runs it ends with.
        st_rank = rank[n_virtual + run_at[st_flat]]
        st_last = last_w[last_of[st_rank]]
        # The digit that would follow each one: the first start window >= its end
        # (keys order the start windows by channel, then window).
        span = k + off + 1
        keys = st_c * span + st_w
        follow = np.searchsorted(keys, st_c * span + st_last + off)
        # Hop from digit to digit.  Where each start's follower is the next start (no
        # candidate skipped) a stretch is taken whole, so Python hops only where a
        # candidate is skipped and at a channel's end.
        n_st = st_c.size
        each = np.arange(n_st)
        hop = follow != each + 1
        hop[:-1] |= st_c[1:] != st_c[:-1]
        hop[-1:] = True
        stretch_end = np.minimum.accumulate(np.where(hop, each, n_st)[::-1])[::-1].tolist()
        follow = follow.tolist()
        chan_first = np.flatnonzero(np.r_[True, st_c[1:] != st_c[:-1]]) if n_st else each
        chans = st_c[chan_first]
        first = np.searchsorted(keys, chans * span + walk_from[chans]).tolist()
        stretch_from, stretch_to = [], []
        for p, p_end in zip(first, np.r_[chan_first[1:], n_st][:len(first)].tolist(), strict=True):
            while p < p_end:
                stretch_from.append(p)
                p = stretch_end[p]
                stretch_to.append(p + 1)
                p = follow[p]
        row, step = _ranges(np.array(stretch_to, dtype=np.int64) - np.array(stretch_from, dtype=np.int64))
        picked = np.array(stretch_from, dtype=np.int64)[row] + step
        n_c, n_a, n_flat = st_c[picked], st_w[picked], st_flat[picked]
        n_rank = st_rank[picked]
        n_tone, n_total = run_energy(n_c, n_a)
        # Its hits after the start: the rest of the start's run, then the chain's later runs.
        n_run_to = r_to[run_at[n_flat]] + 1
        n_tone = n_tone + tone_cum[n_run_to] - tone_cum[n_flat + 1] + tone_s[last_of[n_rank]] - tone_s[n_rank]
        n_total = n_total + total_cum[n_run_to] - total_cum[n_flat + 1] + total_s[last_of[n_rank]] - total_s[n_rank]
        n_first = run_first_flat[n_flat] + first_sub
        n_lo = np.maximum(n_first - 2, first_sub - _CARRY_SUBS)  # two sub-blocks before the first hit window
        n_last = st_last[picked] + first_sub
        n_end = n_last + off
        v_last = v_last + first_sub
        v_end = v_end + first_sub
        n_code = s.ravel()[n_flat]
        a_code = self._act_code[act_c]
        a_first, a_lo = self._act_first[act_c], self._act_lo[act_c]
        # The candidate left at the end: the last run, unless it is the digit in progress.
        open_code = self._act_code.copy()
        open_code[act_c[v_end < first_sub + k]] = -1
        going = n_end >= first_sub + k
        open_code[n_c[going]] = n_code[going]
        s_end = s[:, -1]
        cand = (s_end >= 0) & (s_end != open_code)
        tone_end, total_end = run_energy(np.arange(n_chan), np.full(n_chan, k - 1))
        self._cand_code = np.where(cand, s_end, -1)
        self._cand_n = np.where(cand, run_len[:, -1], 0)
        self._cand_tone = np.where(cand, tone_end, 0)
        self._cand_total = np.where(cand, total_end, 0)

        v_done, n_done = v_end < first_sub + k, n_end < first_sub + k
        yes, no = np.ones(1, dtype=bool), np.zeros(1, dtype=bool)
        ended = tuple(np.concatenate(pair) for pair in (
            (act_c[v_done], n_c[n_done]), (a_code[v_done], n_code[n_done]), (a_first[v_done], n_first[n_done]),
            (a_lo[v_done], n_lo[n_done]), (v_last[v_done], n_last[n_done]), (v_end[v_done], n_end[n_done]),
            (v_tone[v_done], n_tone[n_done]), (v_total[v_done], n_total[n_done]),
            (np.repeat(yes, v_done.sum()), np.repeat(no, n_done.sum()))))
        opened = tuple(np.concatenate(pair) for pair in (
            (act_c[~v_done], n_c[going]), (a_code[~v_done], n_code[going]), (a_first[~v_done], n_first[going]),
            (a_lo[~v_done], n_lo[going]), (v_last[~v_done], n_last[going]), (v_tone[~v_done], n_tone[going]),
            (v_total[~v_done], n_total[going]), (np.repeat(yes, (~v_done).sum()), np.repeat(no, going.sum()))))
        return ended, opened

    # ------------------------------------------------------ digits' sub-blocks
    def _keep_open(self, opened, z_all: np.ndarray, start_all: np.ndarray, first_sub: int) -> None:
        """Record the open digits (arrays, one per field) and append their new sub-blocks
        to the arena, all channels at once.

        A digit carried in gets this call's sub-blocks; one that started here
        gets them from its first kept sub-block (which may lie in the carried
        history).  A channel whose digit outgrows the arena spills
        (:meth:`_spill`).
        """
        c, code, first, lo, last, tone, total, carried = opened
        if not c.size:
            return
        self._act_code[c], self._act_first[c], self._act_last[c] = code, first, last
        self._act_lo[c], self._act_tone[c], self._act_total[c] = lo, tone, total
        self._dig_n[c[~carried]] = 0
        src0 = np.where(carried, _CARRY_SUBS, lo - (first_sub - _CARRY_SUBS))
        m = z_all.shape[1] - src0
        for i in np.flatnonzero(self._dig_n[c] + m > _ARENA_SUBS).tolist():
            m[i] = self._spill(int(c[i]), int(code[i]), int(src0[i]), z_all, start_all)
        row, off = _ranges(m)
        ch, src = c[row], src0[row] + off
        dst = self._dig_n[ch] + off
        self._dig_row[ch, dst] = z_all[ch, src, code[row] // 4]
        self._dig_col[ch, dst] = z_all[ch, src, 4 + code[row] % 4]
        self._dig_start[ch, dst] = start_all[src]
        self._dig_n[c] += m

    def _keep_one(self, c: int, code: int, first: int, lo: int, last: int, tone: int, total: int,
                  carried: bool, z_all: np.ndarray, start_all: np.ndarray, first_sub: int) -> None:
        """:meth:`_keep_open` for one digit, with slices (a few channels in a frame)."""
        self._act_code[c], self._act_first[c], self._act_last[c] = code, first, last
        self._act_lo[c], self._act_tone[c], self._act_total[c] = lo, tone, total
        if not carried:
            self._dig_n[c] = 0
        src0 = _CARRY_SUBS if carried else lo - (first_sub - _CARRY_SUBS)
        n, m = int(self._dig_n[c]), z_all.shape[1] - src0
        if n + m > _ARENA_SUBS:
            n, m = 0, self._spill(c, code, src0, z_all, start_all)
        self._dig_row[c, n:n + m] = z_all[c, src0:src0 + m, code // 4]
        self._dig_col[c, n:n + m] = z_all[c, src0:src0 + m, 4 + code % 4]
        self._dig_start[c, n:n + m] = start_all[src0:src0 + m]
        self._dig_n[c] = n + m

    def _spill(self, c: int, code: int, src0: int, z_all: np.ndarray, start_all: np.ndarray) -> int:
        """Move channel ``c``'s arena to its spill list (a key held past ``_ARENA_SUBS``
        sub-blocks: Python once per that many).  The sub-blocks from ``src0`` on go
        there too if the arena could not take them; returns how many it still should."""
        n = int(self._dig_n[c])
        chunks = self._dig_spill.setdefault(c, [])
        if n:
            chunks.append((self._dig_row[c, :n].copy(), self._dig_col[c, :n].copy(), self._dig_start[c, :n].copy()))
            self._dig_n[c] = 0
        if z_all.shape[1] - src0 <= _ARENA_SUBS:
            return z_all.shape[1] - src0
        chunks.append((z_all[c, src0:, code // 4].copy(), z_all[c, src0:, 4 + code % 4].copy(),
                       start_all[src0:].copy()))
        return 0

    def _close_few(self, ended: list[tuple], z_all, start_all, first_sub: int):
        """:meth:`_close` for the one or two digits that end in a frame, gathered with slices."""
        zr, zc, st, seg_len = [], [], [], []
        for c, code, _, lo, _, end, _, _, carried in ended:
            parts = [(self._dig_row[c, :self._dig_n[c]], self._dig_col[c, :self._dig_n[c]],
                      self._dig_start[c, :self._dig_n[c]])] if carried else []
            parts[:0] = self._dig_spill.pop(c, []) if carried else []
            src0 = _CARRY_SUBS if carried else lo - (first_sub - _CARRY_SUBS)
            stop = end - (first_sub - _CARRY_SUBS) + 1
            parts.append((z_all[c, src0:stop, code // 4], z_all[c, src0:stop, 4 + code % 4], start_all[src0:stop]))
            for part_r, part_c, part_s in parts:
                zr.append(part_r)
                zc.append(part_c)
                st.append(part_s)
            seg_len.append(sum(len(part[2]) for part in parts))
        c, code, first, lo, last, end, tone, total, carried = _columns(ended, 9)
        n_ent = sum(seg_len)
        z = np.empty((n_ent + 2, 2), dtype=np.complex128)  # both tones; two zero rows close the lags
        z[:n_ent, 0], z[:n_ent, 1], z[n_ent:] = np.concatenate(zr), np.concatenate(zc), 0
        return self._finish_digits(c, code, z, np.concatenate(st), np.array(seg_len, dtype=np.int64),
                                   first - lo, last - lo, tone, total)

    def _close(self, ended, z_all, start_all, first_sub: int):
        """Gather each ended digit's sub-blocks (spilled, arena, then this call's up to
        its end window) and check them all at once (:meth:`_finish_digits`).

        ``z_all`` None closes carried digits with what is stored (a long loss).
        The digits carried in (the only ones with stored sub-blocks) come first,
        as :meth:`_machine_runs` returns them, so the others' sub-blocks fill
        one stretch, gathered without a scatter.
        """
        c, code, first, lo, last, end, tone, total, carried = ended
        n = c.size
        if not n:
            return None
        base = first_sub - _CARRY_SUBS
        src0 = np.where(carried, _CARRY_SUBS, lo - base)
        call_len = np.zeros(n, dtype=np.int64) if z_all is None else end - base - src0 + 1
        stored_len = np.where(carried, self._dig_n[c], 0)
        spill_len = np.zeros(n, dtype=np.int64)
        spilled = [i for i in np.flatnonzero(carried).tolist() if int(c[i]) in self._dig_spill]
        spills = [self._dig_spill.pop(int(c[i])) for i in spilled]
        for i, chunks in zip(spilled, spills, strict=True):
            spill_len[i] = sum(len(chunk[0]) for chunk in chunks)
        seg_len = spill_len + stored_len + call_len
        seg_start = np.cumsum(seg_len) - seg_len
        n_ent = int(seg_len.sum())
        z = np.empty((n_ent + 2, 2), dtype=np.complex128)  # both tones; two zero rows close the lags
        z[n_ent:] = 0
        st = np.empty(n_ent, dtype=np.int64)
        for i, chunks in zip(spilled, spills, strict=True):
            at = slice(int(seg_start[i]), int(seg_start[i] + spill_len[i]))
            z[at, 0], z[at, 1], st[at] = (np.concatenate(parts) for parts in zip(*chunks, strict=True))
        held = np.flatnonzero(stored_len)
        row, off = _ranges(stored_len[held])
        dst, ch = (seg_start + spill_len)[held][row] + off, c[held][row]
        z[dst, 0], z[dst, 1], st[dst] = self._dig_row[ch, off], self._dig_col[ch, off], self._dig_start[ch, off]
        if z_all is None:
            return self._finish_digits(c, code, z, st, seg_len, first - lo, last - lo, tone, total)
        pre = spill_len + stored_len
        n_pre = int(np.count_nonzero(pre))
        split = n_pre if not pre[n_pre:].any() else n  # digits from `split` on: one stretch
        # Flat indices into z_all (contiguous, 12 bins a sub-block) of each digit's row and column tone.
        row_at = (c * z_all.shape[1] + src0) * len(_BANK_HZ) + code // 4
        col_shift = 4 + code % 4 - code // 4
        z_flat = z_all.reshape(-1)
        row, off = _ranges(call_len[:split])
        dst = (seg_start + pre)[row] + off
        at = row_at[row] + off * len(_BANK_HZ)
        z[dst, 0], z[dst, 1], st[dst] = np.take(z_flat, at), np.take(z_flat, at + col_shift[row]), start_all[src0[row] + off]
        if split < n:
            row, off = _ranges(call_len[split:])
            row += split
            stretch = slice(int(seg_start[split]), n_ent)
            at = row_at[row] + off * len(_BANK_HZ)
            z[stretch, 0], z[stretch, 1] = np.take(z_flat, at), np.take(z_flat, at + col_shift[row])
            st[stretch] = np.take(start_all, src0[row] + off)
        return self._finish_digits(c, code, z, st, seg_len, first - lo, last - lo, tone, total)

    def _finish_digits(self, chans, codes, z, starts, seg_len, i_first, i_last, tone, total):
        """The ended digits that pass their whole-digit checks (module docstring), in input
        order, as columns (one array per :class:`DtmfDigit` field), or None.

        Digit ``d`` owns ``seg_len[d]`` consecutive rows of ``z`` (its row and
        column tone's DFT per sub-block; two rows of zeros follow the last digit's) and of ``starts``, from two
        sub-blocks before its first hit window to its last window; ``i_first``
        and ``i_last`` index its first and last hit windows in them.  All digits
        and both tones are checked together with array operations, in float64.
        Per-digit sums are ``reduceat`` over each digit's whole segment, with
        zeros where an entry does not count: ``reduceat`` adds pairwise, so the
        rounding of a sum depends on where its terms sit, and keeping the
        segments as they are keeps every sum, and so every digit, bit for bit
        as it was (``python -m benchmarks.dtmf --digits-out`` checks it).
        """
        n_dig = len(chans)
        if n_dig == 0:
            return None
        seg_start = np.cumsum(seg_len) - seg_len
        seg = np.repeat(np.arange(n_dig), seg_len)
        pos = np.arange(seg.size) - seg_start[seg]
        n = seg.size
        parts = z[:n].view(np.float64)  # row re, row im, column re, column im
        amp = np.empty(n + 1)
        amp[n] = -np.inf
        np.sqrt(parts[:, 0] * parts[:, 0] + parts[:, 1] * parts[:, 1] + parts[:, 2] * parts[:, 2]
                + parts[:, 3] * parts[:, 3], out=amp[:n])
        # Reference amplitude: the strongest sub-block of the hit windows.
        bounds = np.empty(2 * n_dig, dtype=np.int64)
        bounds[0::2], bounds[1::2] = seg_start + i_first, seg_start + i_last + 1
        ref = np.maximum.reduceat(amp, bounds)[0::2]
        ok = (seg_len >= 3) & (ref > 0)
        ref = np.where(ref > 0, ref, 1.0)

        # The entries at the digit's edges, each digit a row: first-2, first-1 and first
        # (the first hit window is sub-blocks first-1 and first), last and last+1.
        edge = np.stack([i_first - 2, i_first - 1, i_first, i_last, i_last + 1], axis=1)
        exists = (edge >= 0) & (edge < seg_len[:, None])
        g = seg_start[:, None] + np.clip(edge, 0, (seg_len - 1)[:, None])
        edge_start = starts[g]
        r = np.minimum(amp[g] / ref[:, None], 1.0)  # amplitude relative to the reference, at most 1
        # Entry j and j + 1 exist and are adjacent sub-blocks.
        joined = exists[:, :-1] & exists[:, 1:] & (edge_start[:, 1:] - edge_start[:, :-1] == SUB_LEN)
        # Start: back from the first hit window by the covered share of the sub-blocks before it.
        start = edge_start[:, 2].astype(np.float64)
        start = np.where(joined[:, 1], start - SUB_LEN * r[:, 1], start)
        start = np.where(joined[:, 1] & (r[:, 1] > 0.85) & joined[:, 0], start - SUB_LEN * r[:, 0], start)
        # End: on from the last hit window's start by the covered share of its sub-blocks.
        end = edge_start[:, 3] + SUB_LEN * r[:, 3]
        end = np.where((r[:, 3] > 0.85) & joined[:, 3], end + SUB_LEN * r[:, 4], end)
        start_sample = np.rint(start).astype(np.int64)
        end_sample = np.rint(end).astype(np.int64)
        ok &= (end_sample - start_sample) * 1000 / self.sample_rate_hz >= self.min_duration_ms
        ok &= ~(tone < self.min_digit_energy_share * total)
        lo, hi = np.maximum(i_first - 1, 0)[seg], i_last[seg]
        full = (pos >= lo) & (pos <= hi) & (amp[:n] / ref[seg] >= 0.8)
        n_full = np.bincount(seg[full], minlength=n_dig)
        ok &= n_full > 0
        # Frequency: phase advance over 51 and 102 samples, summed in order.
        step = np.zeros(n + 2, dtype=np.int64)
        step[:n - 1] = starts[1:] - starts[:-1]
        lag1 = (pos >= lo) & (pos <= hi - 1) & (step[:n] == SUB_LEN)
        step[:n - 2] += step[1:n - 1]
        lag2 = (pos >= lo) & (pos <= hi - 2) & (step[:n] == 2 * SUB_LEN)
        # Masks as (n, 2) arrays of their own: broadcast from (n, 1), they would make
        # every loop two elements long.
        z_conj = np.conj(z[:n])
        cross1 = np.where(np.repeat(lag1, 2).reshape(n, 2), z[1:n + 1] * z_conj, 0)
        cross2 = np.where(np.repeat(lag2, 2).reshape(n, 2), z[2:n + 2] * z_conj, 0)
        c1 = np.add.reduceat(cross1, seg_start) + 0j  # + 0j: a sum of nothing is +0, as bincount's
        c2 = np.add.reduceat(cross2, seg_start) + 0j
        fs = self.sample_rate_hz
        coarse = np.arctan2(c1.imag, c1.real) * fs / (2 * math.pi * SUB_LEN)
        predicted = 2 * math.pi * coarse * 2 * SUB_LEN / fs
        measured = np.arctan2(c2.imag, c2.real)
        measured = measured + 2 * math.pi * np.rint((predicted - measured) / (2 * math.pi))
        dev = np.where(c2 == 0, coarse, measured * fs / (2 * math.pi * 2 * SUB_LEN))
        f0 = np.stack([np.array(ROW_HZ)[codes // 4], np.array(COL_HZ)[codes % 4]], axis=1)
        ok &= ((c1 != 0) & ~(np.abs(dev) > f0 * (self.max_freq_dev_percent / 100))).all(axis=1)
        keep = np.flatnonzero(ok)
        if not keep.size:
            return None
        power = np.zeros((n, 2))  # |z|^2 where an entry counts (np.abs is a hypot: only there)
        np.abs(z[:n], out=power, where=np.repeat(full, 2).reshape(n, 2))
        np.square(power, out=power)
        power = np.add.reduceat(power, seg_start)[keep]
        scale = 2.0 / SUB_LEN**2 / n_full[keep] / DBM0_RMS**2
        low, high, twist = _levels_db(power[:, 0] * scale, power[:, 1] * scale)
        return (_DIGIT_OF_CODE[codes[keep]], start_sample[keep], end_sample[keep], low, high, twist, chans[keep])

    def __repr__(self) -> str:
        active = int((self._act_code >= 0).sum())
        return f"DtmfDetector(channels={self.channels}, samples_seen={self.samples_seen}, digits_in_progress={active})"


def _top_two(x: np.ndarray):
    """Index of the largest of the 4 values along the first axis (the first if tied), the
    largest, and the second-largest (the largest again if it occurs twice).

    Pairwise comparisons of the four rows: exact, and much faster than argmax
    and masked reductions over a 4-long axis on many values.
    """
    if x.size <= 256:  # a handful of values (a frame): one sort beats twelve passes
        ranked = np.sort(x, axis=0)
        return np.argmax(x, axis=0), ranked[3], ranked[2]
    a, b, c, d = x[0], x[1], x[2], x[3]
    hi_ab, lo_ab = np.maximum(a, b), np.minimum(a, b)
    hi_cd, lo_cd = np.maximum(c, d), np.minimum(c, d)
    index = np.where(hi_cd > hi_ab, np.where(d > c, 3, 2), np.where(b > a, 1, 0))
    return index, np.maximum(hi_ab, hi_cd), np.maximum(np.minimum(hi_ab, hi_cd), np.maximum(lo_ab, lo_cd))


def _levels_db(low_power: np.ndarray, high_power: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reported levels of the low and high tones in dBm0 and the twist, rounded to 0.01 dB:
    ``round(10 * math.log10(p), 2)`` of each power (at least 1e-30) and ``round(high - low, 2)``
    of the unrounded levels, vectorised.

    ``rint(100 v) / 100`` is the same float as Python's correctly rounded
    ``round(v, 2)``, and numpy's vectorised ``log10`` (which may differ from
    ``math.log10`` in the last bit) gives the same rounded value, unless
    ``100 v`` lies next to a half-way point; those few digits are computed
    with ``math.log10`` and ``round``, as a scalar loop would.
    """
    low_power, high_power = np.maximum(low_power, 1e-30), np.maximum(high_power, 1e-30)
    low, high = 10 * np.log10(low_power), 10 * np.log10(high_power)
    values = np.stack([low, high, high - low])
    scaled = values * 100
    rounded = np.rint(scaled) / 100
    near_half = (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6).any(axis=0)
    for i in np.flatnonzero(near_half).tolist():
        exact_low = 10 * math.log10(float(low_power[i]))
        exact_high = 10 * math.log10(float(high_power[i]))
        rounded[:, i] = round(exact_low, 2), round(exact_high, 2), round(exact_high - exact_low, 2)
    return rounded[0], rounded[1], rounded[2]


def _ranges(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For consecutive ranges of ``lengths``: each element's range number and offset in its range."""
    row = np.repeat(np.arange(lengths.size), lengths)
    return row, np.arange(row.size) - (np.cumsum(lengths) - lengths)[row]


def _columns(rows: list[tuple], n: int) -> tuple[np.ndarray, ...]:
    """Tuples of ``n`` values (ints, the last a bool) as ``n`` arrays."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * n
    return tuple(np.array(col, dtype=np.int64) for col in cols[:-1]) + (np.array(cols[-1], dtype=bool),)
