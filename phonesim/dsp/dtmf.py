"""DTMF (touch-tone) generation and detection, streaming and multi-channel.

Every PIN, every number and every called-party key in phonesim travels as DTMF
in the audio, so the detector is held to the ITU-T Q.24 / Bellcore limits and
measured against spandsp and multimon-ng (``python -m benchmarks.dtmf``).

Detector design
---------------
The audio is cut into 51-sample *sub-blocks* on an absolute sample grid; a
vectorised DFT bank (:mod:`phonesim.dsp.goertzel`) measures the eight DTMF
frequencies in every sub-block, phase-referenced to absolute time (so two
adjacent sub-blocks add up to the DFT of their 102 samples, and their phase
difference measures the frequency).  Two consecutive sub-blocks form
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

Spec limits met (see ``tests/dsp/test_dtmf_spec.py`` and the benchmark):
frequency ±1.5 % accepted, ±3.5 % rejected; twist 8 dB normal / 4 dB reverse
accepted; -3..-45 dBm0 per tone decoded, -55 dBm0 silent; >= 40 ms decoded,
<= 20 ms ignored; <= 10 ms dropouts bridged, >= 20 ms pauses split; 6 dB SNR in
white telephone-band noise; no digit on the codec2 speech, the prompts or
synthetic music; 99.7 % of 1 000 realistic PIN strings exact; a digit reported
at most 26 ms after its tone ends; about 3 000 streaming channels per core.
Slower than spandsp's C on digit-dense files (the per-digit work is Python).

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

import cmath
import math
from dataclasses import dataclass

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

SUB_LEN = 51
WINDOW_LEN = 2 * SUB_LEN
_BANK_HZ = ROW_HZ + COL_HZ
_HARMONIC_HZ = tuple(2 * f for f in COL_HZ)
_SLICE_SAMPLES = 51 * 1024  # samples (all channels together) analysed at a time
_CARRY_SUBS = 8  # sub-blocks of history kept per channel (>= on_windows + 2)


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


class _Channel:
    """Per-channel state of the digit state machine (plain Python scalars)."""

    __slots__ = ("cand_code", "cand_n", "cand_first", "active", "code", "first_win", "last_hit",
                 "misses", "z_row", "z_col", "sub_start", "list_first_sub", "cand_tone", "cand_total",
                 "tone_energy", "total_energy", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.cand_code = -1
        self.cand_n = 0
        self.cand_first = 0
        self.active = False
        self.code = -1
        self.first_win = 0
        self.last_hit = 0
        self.misses = 0
        self.z_row: list[complex] = []
        self.z_col: list[complex] = []
        self.sub_start: list[int] = []
        self.list_first_sub = 0
        self.cand_tone = 0.0  # tone and total energy of the candidate's windows
        self.cand_total = 0.0
        self.tone_energy = 0.0  # ... and of the active digit's hit windows
        self.total_energy = 0.0

    @property
    def idle(self) -> bool:
        return not self.active and self.cand_n == 0


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
        self._harmonic_bank = ToneBank(_HARMONIC_HZ, WINDOW_LEN, sample_rate_hz)
        self._min_power = float(dbm0_to_rms(self.min_level_dbm0)) ** 2
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio and digits in progress; the sample counter restarts at 0."""
        c = self.channels
        self._rest = np.zeros((c, 0), dtype=np.float32)
        self._position = 0  # absolute index of the first sample of self._rest
        self._next_sub = 0  # absolute index of the next sub-block
        self._z_hist = np.zeros((c, _CARRY_SUBS, len(_BANK_HZ)), dtype=np.complex64)
        self._e_hist = np.zeros((c, 1), dtype=np.float32)
        self._last_block = np.zeros((c, SUB_LEN), dtype=np.float32)
        self._start_hist = np.full(_CARRY_SUBS, -(10**12), dtype=np.int64)  # sub-block starts
        self._chans = [_Channel(i) for i in range(c)]
        self._busy = np.zeros(c, dtype=bool)
        self._active_code = np.full(c, -1, dtype=np.int64)  # code of each channel's digit in progress

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
        found: list[DtmfDigit] = []
        if n_samples == 0:
            return found
        lost = self._rest.shape[1] + n_samples
        self._position += lost
        self._rest = np.zeros((self.channels, 0), dtype=np.float32)
        self._z_hist[:] = 0
        self._e_hist[:] = 0
        self._last_block[:] = 0
        long_gap = lost * 1000 / self.sample_rate_hz > self.max_fill_in_ms
        for index, ch in enumerate(self._chans):
            ch.cand_code, ch.cand_n = -1, 0
            if ch.active and long_gap:
                digit = self._finish(ch, index)
                if digit is not None:
                    found.append(digit)
            self._busy[index] = ch.active
        return found

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
        x = np.asarray(samples)
        if x.ndim == 1 and self.channels == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected samples of shape (n,) for 1 channel or ({self.channels}, n), got {x.shape}")
        if x.dtype.kind == "f":  # NaN, inf and overload are clipped like a 16-bit converter would
            x = np.clip(np.nan_to_num(x, nan=0.0, posinf=32767.0, neginf=-32768.0), -32768.0, 32767.0)
        found: list[DtmfDigit] = []
        # Long inputs go through in slices that stay in the CPU cache.
        step = max(SUB_LEN, (_SLICE_SAMPLES // self.channels) // SUB_LEN * SUB_LEN)
        for at in range(0, x.shape[1], step):
            found += self._feed_slice(x[:, at:at + step])
        found.sort(key=lambda d: (d.end_sample, d.channel))
        return found

    def _feed_slice(self, x: np.ndarray) -> list[DtmfDigit]:
        x = x.astype(np.float32)
        if self._rest.shape[1]:
            x = np.concatenate([self._rest, x], axis=1)
        k = x.shape[1] // SUB_LEN
        used = k * SUB_LEN
        start0 = self._position
        self._rest = x[:, used:].copy()
        self._position += used
        if k == 0:
            return []
        blocks = x[:, :used].reshape(self.channels, k, SUB_LEN)
        starts = start0 + SUB_LEN * np.arange(k, dtype=np.int64)
        z = self._bank.dft(blocks, starts)  # (C, k, 8) complex64
        energy = np.einsum("ckn,ckn->ck", blocks, blocks)
        z_all = np.concatenate([self._z_hist, z], axis=1)  # (C, H + k, 8)
        e_all = np.concatenate([self._e_hist, energy], axis=1)  # (C, 1 + k)
        start_all = np.concatenate([self._start_hist, starts])
        # Window i = sub-blocks i-1 and i; only pairs that are truly adjacent count.
        adjacent = (start_all[_CARRY_SUBS:] - start_all[_CARRY_SUBS - 1:-1]) == SUB_LEN
        zw = z_all[:, _CARRY_SUBS - 1:-1] + z_all[:, _CARRY_SUBS:]
        total = (e_all[:, :-1] + e_all[:, 1:]) * (1.0 / WINDOW_LEN)
        strict, loose, tone_power = self._classify(zw, total, blocks)
        strict[:, ~adjacent] = -1
        loose[:, ~adjacent] = -1
        self._z_hist = z_all[:, -_CARRY_SUBS:].copy()
        self._e_hist = e_all[:, -1:].copy()
        self._start_hist = start_all[-_CARRY_SUBS:].copy()
        self._last_block = blocks[:, -1].copy()
        first_sub = self._next_sub
        self._next_sub += k
        found: list[DtmfDigit] = []
        # Mid-digit fast path: a channel whose digit stays a loose hit in every window
        # of this slice only appends; no state machine step can change anything else.
        steady = (self._active_code >= 0) & (loose == self._active_code[:, None]).all(axis=1)
        if steady.any():
            self._extend_steady(np.flatnonzero(steady), z, starts, tone_power, total, first_sub + k - 1)
        todo = np.flatnonzero((self._busy | (strict >= 0).any(axis=1)) & ~steady)
        if todo.size:
            # Integer energies (1/16 of a 16-bit unit squared) make every sum exact.
            tone_q = np.rint(tone_power[todo] * 16).astype(np.int64)
            total_q = np.rint(total[todo] * 16).astype(np.int64)
        for index, c in enumerate(todo.tolist()):
            self._run_channel(c, strict[c], loose[c], tone_q[index], total_q[index], z_all[c], start_all,
                              first_sub, found)
        found.sort(key=lambda d: (d.end_sample, d.channel))
        return found

    def _classify(self, zw: np.ndarray, total: np.ndarray, blocks: np.ndarray):
        """Per-window strict and loose digit codes (-1 for none) and the two tones' power, shape (C, W).

        The energy-share test is done first on all windows; the other tests run
        only on the few windows that carry enough tone energy (speech and noise
        mostly do not), which halves the cost on long files.
        """
        p = zw.real**2 + zw.imag**2
        p *= np.float32(2.0 / WINDOW_LEN**2)
        # Pairwise maxima: numpy's reduction over a 4-long strided axis is ten times slower.
        tone = (np.maximum(np.maximum(p[..., 0], p[..., 1]), np.maximum(p[..., 2], p[..., 3]))
                + np.maximum(np.maximum(p[..., 4], p[..., 5]), np.maximum(p[..., 6], p[..., 7])))
        strict = np.full(tone.shape, -1, dtype=np.int64)
        loose = np.full(tone.shape, -1, dtype=np.int64)
        ch_idx, win_idx = np.nonzero(tone >= min(self.loose_energy_share, self.min_energy_share) * total)
        if not ch_idx.size:
            return strict, loose, tone
        sub = p[ch_idx, win_idx]  # (n, 8)
        rows, cols = sub[:, 0:4], sub[:, 4:8]
        r = np.argmax(rows, axis=-1)
        c = np.argmax(cols, axis=-1)
        pick = np.arange(r.size)
        pr = rows[pick, r]
        pc = cols[pick, c]
        # Second-strongest tone of each group: the largest after removing the best.
        r2 = np.max(np.where(np.arange(4) == r[:, None], 0, rows), axis=-1)
        c2 = np.max(np.where(np.arange(4) == c[:, None], 0, cols), axis=-1)
        code = r * 4 + c
        tone_sub = tone[ch_idx, win_idx]
        total_sub = total[ch_idx, win_idx]

        def passes(level_db, twist_extra_db, rel_db, share):
            thr = self._min_power * 10 ** (-level_db / 10)
            ok = (pr >= thr) & (pc >= thr)
            ok &= pc <= pr * 10 ** ((self.max_reverse_twist_db + twist_extra_db) / 10)
            ok &= pc * 10 ** ((self.max_normal_twist_db + twist_extra_db) / 10) >= pr
            rel = 10 ** (rel_db / 10)
            ok &= (pr >= rel * r2) & (pc >= rel * c2)
            ok &= tone_sub >= share * total_sub
            return ok

        loose_ok = passes(self.loose_level_db, self.loose_twist_db, self.loose_relative_peak_db,
                          self.loose_energy_share)
        strict_ok = loose_ok & passes(0.0, 0.0, self.min_relative_peak_db, self.min_energy_share)
        # Second harmonic of the high tone, only where everything else passed.
        hit = np.flatnonzero(strict_ok)
        if hit.size:
            hc, hw = ch_idx[hit], win_idx[hit]
            first = blocks[hc, np.maximum(hw - 1, 0)]
            at_start = hw == 0
            if at_start.any():
                first[at_start] = self._last_block[hc[at_start]]
            window = np.concatenate([first, blocks[hc, hw]], axis=1)
            harm = self._harmonic_bank.power(window)[np.arange(hit.size), c[hit]]
            strict_ok[hit[harm * 10 ** (self.min_harmonic_rejection_db / 10) > pc[hit]]] = False
        strict[ch_idx, win_idx] = np.where(strict_ok, code, -1)
        loose[ch_idx, win_idx] = np.where(loose_ok, code, -1)
        return strict, loose, tone

    # ---------------------------------------------------------- state machine
    def _extend_steady(self, chans: np.ndarray, z: np.ndarray, starts: np.ndarray, tone_power: np.ndarray,
                       total: np.ndarray, last_window: int) -> None:
        """Append a slice to digits that are a loose hit in every window of it.

        The candidate is cleared: while a digit is active only a candidate of a
        *different* key matters, and there is none when every window is a hit of
        the active one (a strict hit implies a loose hit of the same key).
        """
        codes = self._active_code[chans]
        pick = np.arange(chans.size)
        z_row = z[chans][pick, :, codes // 4].tolist()
        z_col = z[chans][pick, :, 4 + codes % 4].tolist()
        tone = np.rint(tone_power[chans] * 16).astype(np.int64).sum(axis=1).tolist()
        tot = np.rint(total[chans] * 16).astype(np.int64).sum(axis=1).tolist()
        start_list = starts.tolist()
        for idx, c in enumerate(chans.tolist()):
            ch = self._chans[c]
            ch.z_row.extend(z_row[idx])
            ch.z_col.extend(z_col[idx])
            ch.sub_start.extend(start_list)
            ch.misses = 0
            ch.last_hit = last_window
            ch.tone_energy += tone[idx]
            ch.total_energy += tot[idx]
            ch.cand_code, ch.cand_n = -1, 0

    def _run_channel(self, c: int, strict: np.ndarray, loose: np.ndarray, tone_q: np.ndarray,
                     total_q: np.ndarray, z_c: np.ndarray, start_all: np.ndarray, first_sub: int,
                     found: list) -> None:
        """Advance channel ``c``'s state machine over this feed's windows.

        Idle stretches are skipped to the next strict hit, so the Python work is
        proportional to the windows near and inside digits, not to the audio.
        Energies are integers (``*_q``), so the sums are exact and the results
        cannot depend on how the input was chunked.
        """
        ch = self._chans[c]
        hits = np.flatnonzero(strict >= 0).tolist()
        n = strict.size
        strict_l = strict.tolist()
        h = 0
        i = 0
        while i < n:
            if ch.active:
                i = self._advance_active(ch, c, i, strict_l, loose, tone_q, total_q, z_c, start_all,
                                         first_sub, found)
                continue
            if ch.cand_n == 0:  # idle windows before a strict hit change nothing
                while h < len(hits) and hits[h] < i:
                    h += 1
                if h == len(hits):
                    break
                i = hits[h]
            sc = strict_l[i]
            if sc >= 0 and sc == ch.cand_code:
                ch.cand_n += 1
                ch.cand_tone += int(tone_q[i])
                ch.cand_total += int(total_q[i])
            elif sc >= 0:
                ch.cand_code, ch.cand_n, ch.cand_first = sc, 1, first_sub + i
                ch.cand_tone, ch.cand_total = int(tone_q[i]), int(total_q[i])
            else:
                ch.cand_code, ch.cand_n = -1, 0
            if ch.cand_n >= self.on_windows and ch.cand_code >= 0:
                self._activate(ch, first_sub + i, z_c, start_all, first_sub - _CARRY_SUBS)
            i += 1
        self._busy[c] = not ch.idle

    def _advance_active(self, ch: _Channel, c: int, i: int, strict_l: list, loose: np.ndarray,
                        tone_q: np.ndarray, total_q: np.ndarray, z_c: np.ndarray, start_all: np.ndarray,
                        first_sub: int, found: list) -> int:
        """Carry the active digit from window ``i`` to its end (or the feed's end); return the next window.

        Window by window in plain Python (a digit lasts a few dozen windows, and a
        dozen numpy calls would cost more), converting the arrays in spans.
        """
        n = loose.size
        code = ch.code
        span = 32
        while i < n:
            stop = min(n, i + span)
            rows = slice(i + _CARRY_SUBS, stop + _CARRY_SUBS)
            z_row = z_c[rows, code // 4].tolist()
            z_col = z_c[rows, 4 + code % 4].tolist()
            starts = start_all[rows].tolist()
            loose_l = loose[i:stop].tolist()
            tone_l = tone_q[i:stop].tolist()
            total_l = total_q[i:stop].tolist()
            j = i
            while j < stop:
                k = j - i
                if loose_l[k] == code:
                    # A run of hits: only appends (a strict hit inside it is of this key,
                    # and a candidate of this key never matters while it is active).
                    e = k
                    while e + 1 < stop - i and loose_l[e + 1] == code:
                        e += 1
                    ch.z_row.extend(z_row[k:e + 1])
                    ch.z_col.extend(z_col[k:e + 1])
                    ch.sub_start.extend(starts[k:e + 1])
                    ch.tone_energy += sum(tone_l[k:e + 1])
                    ch.total_energy += sum(total_l[k:e + 1])
                    ch.misses = 0
                    ch.last_hit = first_sub + i + e
                    ch.cand_code, ch.cand_n = -1, 0
                    j = i + e + 1
                    continue
                sc = strict_l[j]
                if sc >= 0 and sc == ch.cand_code:
                    ch.cand_n += 1
                    ch.cand_tone += tone_l[k]
                    ch.cand_total += total_l[k]
                elif sc >= 0:
                    ch.cand_code, ch.cand_n, ch.cand_first = sc, 1, first_sub + j
                    ch.cand_tone, ch.cand_total = tone_l[k], total_l[k]
                else:
                    ch.cand_code, ch.cand_n = -1, 0
                ch.z_row.append(z_row[k])
                ch.z_col.append(z_col[k])
                ch.sub_start.append(starts[k])
                ch.misses += 1
                j += 1
                if ch.misses < self.off_windows:
                    continue
                digit = self._finish(ch, c)
                if digit is not None:
                    found.append(digit)
                if ch.cand_n >= self.on_windows and ch.cand_code >= 0:
                    self._activate(ch, first_sub + j - 1, z_c, start_all, first_sub - _CARRY_SUBS)
                return j
            i = stop
            span *= 4
        return n

    def _activate(self, ch: _Channel, w: int, z_c: np.ndarray, start_all: np.ndarray, base: int) -> None:
        ch.active = True
        self._active_code[ch.index] = ch.cand_code
        ch.code = ch.cand_code
        ch.first_win = ch.cand_first
        ch.last_hit = w
        ch.misses = 0
        ch.tone_energy, ch.total_energy = ch.cand_tone, ch.cand_total
        row, col = ch.code // 4, ch.code % 4
        # Keep the sub-blocks from two before the first hit window's first half.
        lo = max(ch.first_win - 2, base)
        ch.list_first_sub = lo
        ch.z_row = z_c[lo - base:w - base + 1, row].tolist()
        ch.z_col = z_c[lo - base:w - base + 1, 4 + col].tolist()
        ch.sub_start = start_all[lo - base:w - base + 1].tolist()
        ch.cand_code, ch.cand_n = -1, 0

    def _finish(self, ch: _Channel, channel: int) -> DtmfDigit | None:
        """Close the active digit; return it if it passes its whole-digit checks.

        Plain Python on short lists: a digit has a few dozen sub-blocks at most,
        where numpy's per-call overhead would dominate.
        """
        ch.active = False
        self._active_code[ch.index] = -1
        ch.misses = 0
        zr, zc, starts = ch.z_row, ch.z_col, ch.sub_start
        ch.z_row, ch.z_col, ch.sub_start = [], [], []
        n = len(zr)
        if n < 3:
            return None
        amp = [math.sqrt(a.real * a.real + a.imag * a.imag + b.real * b.real + b.imag * b.imag)
               for a, b in zip(zr, zc, strict=True)]
        # The lists hold consecutive sub-blocks from ch.list_first_sub on.
        i_first = min(ch.first_win - ch.list_first_sub, n - 1)
        i_last = min(ch.last_hit - ch.list_first_sub, n - 1)
        ref = max(amp[i_first:i_last + 1]) if i_last >= i_first else max(amp)
        if ref <= 0:
            return None
        r = [min(a / ref, 1.0) for a in amp]

        def contiguous(i: int, j: int) -> bool:
            return 0 <= i < n and 0 <= j < n and starts[j] - starts[i] == SUB_LEN * (j - i)

        # Start: the first hit window is sub-blocks first-1 (A) and first (B).
        start = float(starts[i_first])
        if contiguous(i_first - 1, i_first):
            start -= SUB_LEN * r[i_first - 1]
            if r[i_first - 1] > 0.85 and contiguous(i_first - 2, i_first - 1):
                start -= SUB_LEN * r[i_first - 2]
        # End: the last hit window is sub-blocks last-1 and last.
        end = float(starts[i_last]) + SUB_LEN * r[i_last]
        if r[i_last] > 0.85 and contiguous(i_last, i_last + 1):
            end += SUB_LEN * r[i_last + 1]
        start_sample, end_sample = int(round(start)), int(round(end))
        if (end_sample - start_sample) * 1000 / self.sample_rate_hz < self.min_duration_ms:
            return None
        if ch.tone_energy < self.min_digit_energy_share * ch.total_energy:
            return None
        lo = max(i_first - 1, 0)
        full = [i for i in range(lo, i_last + 1) if r[i] >= 0.8]
        if not full:
            return None
        row, col = ch.code // 4, ch.code % 4
        max_dev = self.max_freq_dev_percent / 100
        for z, f0 in ((zr, ROW_HZ[row]), (zc, COL_HZ[col])):
            dev = self._freq_offset_hz(z, starts, lo, i_last + 1)
            if dev is None or abs(dev) > f0 * max_dev:
                return None
        scale = 2.0 / SUB_LEN**2 / len(full) / DBM0_RMS**2
        low = 10 * math.log10(max(sum(abs(zr[i]) ** 2 for i in full) * scale, 1e-30))
        high = 10 * math.log10(max(sum(abs(zc[i]) ** 2 for i in full) * scale, 1e-30))
        return DtmfDigit(_CODE_TO_DIGIT[ch.code], start_sample, end_sample, round(low, 2), round(high, 2),
                         round(high - low, 2), channel)

    def _freq_offset_hz(self, z: list, starts: list, lo: int, hi: int) -> float | None:
        """Frequency offset of a tone from the phase advance of its absolute-referenced DFT values.

        The lag-1 (51-sample) phase advance is unambiguous to ±78 Hz; it unwraps
        the lag-2 (102-sample) advance, which is twice as precise.
        """
        c1 = 0j
        c2 = 0j
        for i in range(lo, hi - 1):
            if starts[i + 1] - starts[i] == SUB_LEN:
                c1 += z[i + 1] * z[i].conjugate()
            if i + 2 < hi and starts[i + 2] - starts[i] == 2 * SUB_LEN:
                c2 += z[i + 2] * z[i].conjugate()
        if c1 == 0:
            return None
        fs = self.sample_rate_hz
        coarse = cmath.phase(c1) * fs / (2 * math.pi * SUB_LEN)
        if c2 == 0:
            return coarse
        predicted = 2 * math.pi * coarse * 2 * SUB_LEN / fs
        measured = cmath.phase(c2)
        measured += 2 * math.pi * round((predicted - measured) / (2 * math.pi))
        return measured * fs / (2 * math.pi * 2 * SUB_LEN)

    def __repr__(self) -> str:
        active = sum(ch.active for ch in self._chans)
        return f"DtmfDetector(channels={self.channels}, samples_seen={self.samples_seen}, digits_in_progress={active})"
