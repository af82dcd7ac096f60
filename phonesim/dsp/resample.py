"""Streaming polyphase resampling between the 8 kHz line and device rates.

USB headsets run at 48 kHz (some at 44.1 or 16 kHz); the line runs at 8 kHz.
Audio crosses that boundary 20 ms at a time, so the resampler must be
*stateful*: it keeps the last input samples and its output phase between
calls, and the output for any chunking of the input is identical, sample for
sample, to processing the whole signal at once.  A resampler that restarts on
every frame clicks at every frame edge, and clicks look like energy bursts to
the DTMF and three-way detectors.

Design: rational ratio ``up/down`` (8000 -> 44100 is 441/80), one linear-phase
Kaiser-window low-pass designed at the upsampled rate, applied as a polyphase
filter (only the non-zero taps are multiplied).  The pass band ends at 85 % of
the lower rate's Nyquist frequency (3400 Hz for the 8 kHz line, the telephone
band), the stop band starts at that Nyquist frequency and is attenuated by at
least ``stopband_db`` (80 dB by default).  The filter delays the signal by
``delay_samples`` output samples; :func:`resample_once` removes that delay.

Arithmetic is float64; ``int16`` input gives rounded, saturated ``int16``
output, ``float32`` input ``float32`` output.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["Resampler", "resample_once"]

_PHASE_LOOP_MAX = 8


def _design(up: int, down: int, from_rate_hz: int, to_rate_hz: int, stopband_db: float) -> np.ndarray:
    """The prototype low-pass at ``from_rate_hz * up``, gain ``up`` in the pass band."""
    from scipy import signal  # most of a second to import: not for programs that never resample

    fs_up = from_rate_hz * up
    nyquist_low = min(from_rate_hz, to_rate_hz) / 2
    passband_hz = 0.85 * nyquist_low
    # Nothing may alias into the pass band: energy between the Nyquist frequency and
    # (2 * Nyquist - pass band) folds onto the band edge above the pass band only.
    stopband_hz = 2 * nyquist_low - passband_hz
    width = (stopband_hz - passband_hz) / (fs_up / 2)
    numtaps, beta = signal.kaiserord(stopband_db, width)
    numtaps = max(numtaps, 2 * max(up, down) + 1)
    # round up to a whole number of taps per phase, keep it odd (integer delay)
    taps_per_phase = -(-numtaps // up)
    numtaps = taps_per_phase * up
    if numtaps % 2 == 0:
        numtaps += up if up % 2 else 1
        taps_per_phase = -(-numtaps // up)
    cutoff_hz = (passband_hz + stopband_hz) / 2
    h = signal.firwin(numtaps, cutoff_hz, window=("kaiser", beta), fs=fs_up) * up
    padded = np.zeros(taps_per_phase * up)
    padded[:numtaps] = h
    return padded


class Resampler:
    """A stateful rational resampler from ``from_rate_hz`` to ``to_rate_hz``.

    Parameters
    ----------
    from_rate_hz, to_rate_hz : int
        Input and output sample rates (any positive integers; 8000, 16000,
        44100 and 48000 are the ones used).
    stopband_db : float
        Minimum attenuation of everything that would alias.

    Notes
    -----
    ``process(x)`` returns every output sample whose input window is complete,
    so the number of output samples per call varies by at most one around
    ``len(x) * to / from``.  Equal rates pass samples through unchanged.
    """

    def __init__(self, from_rate_hz: int, to_rate_hz: int, *, stopband_db: float = 80.0) -> None:
        if int(from_rate_hz) <= 0 or int(to_rate_hz) <= 0:
            raise ValueError(
                f"Resampler: expected positive sample rates, got {from_rate_hz} -> {to_rate_hz}")
        self.from_rate_hz = int(from_rate_hz)
        self.to_rate_hz = int(to_rate_hz)
        g = gcd(self.from_rate_hz, self.to_rate_hz)
        self.up = self.to_rate_hz // g
        self.down = self.from_rate_hz // g
        self._passthrough = self.up == 1 and self.down == 1
        if self._passthrough:
            self._taps = 1
            self._phases = np.ones((1, 1))
            self.delay_samples = 0
        else:
            h = _design(self.up, self.down, self.from_rate_hz, self.to_rate_hz, stopband_db)
            self._taps = len(h) // self.up
            # phase p uses h[p + k*up] against x[i0 - k]; store reversed so a
            # forward window x[i0-K+1 .. i0] is multiplied element by element.
            self._phases = np.ascontiguousarray(h.reshape(self._taps, self.up).T[:, ::-1])
            group_delay_up = (len(np.trim_zeros(h, "b")) - 1) / 2
            self.delay_samples = int(round(group_delay_up / self.down))
        self.reset()

    def reset(self) -> None:
        """Forget all history (as if freshly constructed)."""
        self._history = np.zeros(self._taps - 1)
        self._consumed = 0  # input samples seen so far
        self._produced = 0  # output samples emitted so far

    def process(self, x) -> np.ndarray:
        """Resample the next chunk; returns the same dtype (int16 or float)."""
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"Resampler.process: expected a 1-D chunk, got shape {x.shape}")
        out_dtype = x.dtype if x.dtype in (np.int16, np.float32, np.float64) else np.float64
        if self._passthrough:
            self._consumed += len(x)
            self._produced += len(x)
            return x.astype(out_dtype, copy=True)
        xf = x.astype(np.float64)
        buffer = np.concatenate((self._history, xf))
        base = self._consumed - (self._taps - 1)  # input index of buffer[0]
        self._consumed += len(xf)
        last_n = (self._consumed * self.up - 1) // self.down
        n = np.arange(self._produced, last_n + 1, dtype=np.int64)
        self._produced = int(last_n + 1)
        if self._taps > 1:
            self._history = buffer[len(buffer) - (self._taps - 1):].copy()
        if n.size == 0:
            return np.zeros(0, dtype=out_dtype)
        t = n * self.down
        newest = t // self.up - base  # buffer index of the newest input in each window
        phase = t % self.up
        windows = sliding_window_view(buffer, self._taps)
        first = newest - (self._taps - 1)  # window index of each output
        if self.up <= _PHASE_LOOP_MAX:
            # few phases (8k <-> 16k/48k): one matrix-vector product per phase over a
            # strided view of the windows, no gathered copy of them
            y = np.empty(n.size)
            for p in range(min(self.up, n.size)):
                rows = first[p::self.up] if self.up > 1 else first
                if rows.size == 0:
                    continue
                step = int(rows[1] - rows[0]) if rows.size > 1 else 1
                view = windows[rows[0]:rows[-1] + 1:step]
                y[p::self.up] = view @ self._phases[phase[p]]
            return _cast(y, out_dtype)
        y = np.einsum("nk,nk->n", windows[first], self._phases[phase])
        return _cast(y, out_dtype)

    def flush(self, dtype=np.float64) -> np.ndarray:
        """Push ``delay_samples`` worth of zeros through: the tail still inside the filter."""
        pad = -(-(self.delay_samples * self.down) // self.up) + 1
        return self.process(np.zeros(pad, dtype=dtype))

    def __repr__(self) -> str:
        return (f"<Resampler {self.from_rate_hz}->{self.to_rate_hz} Hz ({self.up}/{self.down}), "
                f"{self._taps} taps/phase, delay {self.delay_samples}>")


def _cast(y: np.ndarray, dtype) -> np.ndarray:
    if dtype == np.int16:
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    return y.astype(dtype, copy=False)


def resample_once(x, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample a whole signal, delay removed: ``round(len(x) * to / from)`` samples out.

    For prompts and files (done once at start-up), not for streams.
    """
    x = np.asarray(x)
    out_dtype = x.dtype if x.dtype in (np.int16, np.float32, np.float64) else np.float64
    r = Resampler(from_hz, to_hz)
    n_out = int(round(len(x) * r.up / r.down))
    body = r.process(x.astype(np.float64))
    tail = r.flush()
    y = np.concatenate((body, tail))[r.delay_samples:r.delay_samples + n_out]
    if len(y) < n_out:
        y = np.concatenate((y, np.zeros(n_out - len(y))))
    return _cast(y, out_dtype)
