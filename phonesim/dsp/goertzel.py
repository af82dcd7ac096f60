"""A vectorised bank of single-frequency DFTs (the Goertzel filter in matrix form).

A tone detector asks one question per block of samples: how much energy is
there at each of a handful of frequencies?  The Goertzel recurrence answers it
one sample at a time; here the same numbers come out of one matrix product
``blocks @ basis`` over *all* blocks of *all* channels at once, which is what
makes a thousand lines per core possible in numpy.

Two extras that the detectors rely on:

* **Absolute phase reference.**  :meth:`ToneBank.dft` references every block's
  phase to the absolute sample index of its first sample, so consecutive blocks
  of a steady sine at exactly the bank frequency have the *same* phase, and a
  sine that is ``df`` Hz off advances by ``2*pi*df*block_len/fs`` per block.
  That turns a frequency-offset check into a phase comparison.
* **Power in dBm0-ready units.**  :meth:`ToneBank.power` returns the mean square
  of the sine that would produce the bin value (``2|X|^2/N^2``), so a full-block
  sine of amplitude ``A`` reads ``A^2/2`` regardless of the block length.

:func:`goertzel_power` is the textbook recurrence (run with
:func:`scipy.signal.lfilter` along the last axis, still no Python loop over
samples); the tests use it to check the matrix form.
"""

from __future__ import annotations

import functools
import math

import numpy as np


class ToneBank:
    """DFT bins at arbitrary frequencies for fixed-length blocks.

    Parameters
    ----------
    freqs_hz : sequence of float
        Frequencies to measure.
    block_len : int
        Samples per block.
    sample_rate_hz : int
        Sample rate.
    dtype : numpy dtype
        Precision of the matrix product (float32 is ample for 16-bit audio and
        twice as fast).
    """

    def __init__(self, freqs_hz, block_len: int, sample_rate_hz: int = 8000, *, dtype=np.float32) -> None:
        self.freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
        if self.freqs_hz.ndim != 1 or self.freqs_hz.size == 0:
            raise ValueError(f"freqs_hz must be a non-empty 1-D sequence, got {freqs_hz!r}")
        if block_len <= 0:
            raise ValueError(f"block_len must be positive, got {block_len!r}")
        self.block_len = int(block_len)
        self.sample_rate_hz = int(sample_rate_hz)
        self.dtype = np.dtype(dtype)
        m = np.arange(self.block_len)[:, None]
        angle = 2 * np.pi * self.freqs_hz[None, :] * m / self.sample_rate_hz
        # Columns cos, -sin of each frequency side by side: the product's rows, read
        # as complex numbers, are the DFT values without a copy.
        self._basis = np.stack([np.cos(angle), -np.sin(angle)], axis=2).reshape(self.block_len, -1).astype(self.dtype)
        self._complex = np.complex64 if self.dtype == np.float32 else np.complex128
        # Integer frequencies repeat their phase every second: the absolute phase
        # reference is then a table lookup instead of a complex exponential per block.
        self._rot_table, self._rot_step = None, 1
        if np.all(self.freqs_hz == np.round(self.freqs_hz)):
            freqs = tuple(int(f) for f in self.freqs_hz)
            if math.gcd(self.block_len, self.sample_rate_hz) == 1:
                # Blocks one after another start block_len samples apart: with the table
                # in that order they read it in sequence (a cache line, not a page, per block).
                self._rot_table = _rotation_table(freqs, self.sample_rate_hz, self.block_len)
                self._rot_step = pow(self.block_len, -1, self.sample_rate_hz)
            else:
                self._rot_table = _rotation_table(freqs, self.sample_rate_hz, 1)

    @property
    def n_freqs(self) -> int:
        return int(self.freqs_hz.size)

    def dft(self, blocks, start_samples=None, *, max_rows: int | None = None) -> np.ndarray:
        """Complex DFT values, shape ``blocks.shape[:-1] + (n_freqs,)``.

        Parameters
        ----------
        blocks : array_like, shape (..., block_len)
            Any leading shape (channels, blocks, ...).
        start_samples : array_like of int, optional
            Absolute index of each block's first sample, broadcastable to
            ``blocks.shape[:-1]``.  When given, the phase is referenced to
            absolute time (see the module docstring); otherwise to each block's
            own start.
        max_rows : int, optional
            Do the matrix product for at most this many blocks at a time (all
            leading axes flattened, so many channels' blocks make one product).
            BLAS may round a block differently depending on the height of the
            product it is part of, so a caller that promises identical results
            for any chunking of its input fixes the pieces.
        """
        blocks = np.asarray(blocks)
        if blocks.shape[-1] != self.block_len:
            raise ValueError(f"blocks must have {self.block_len} samples in the last axis, got shape {blocks.shape}")
        flat = blocks.reshape(-1, self.block_len).astype(self.dtype, copy=False)
        if max_rows is None or flat.shape[0] <= max_rows:
            y = flat @ self._basis
        else:
            # The whole pieces as one stack: numpy makes a product of each in its C loop.
            y = np.empty((flat.shape[0], self._basis.shape[1]), dtype=self.dtype)
            whole = flat.shape[0] // max_rows * max_rows
            np.matmul(flat[:whole].reshape(-1, max_rows, self.block_len), self._basis,
                      out=y[:whole].reshape(-1, max_rows, self._basis.shape[1]))
            if whole < flat.shape[0]:
                np.matmul(flat[whole:], self._basis, out=y[whole:])
        x = y.view(self._complex).reshape(blocks.shape[:-1] + (self.n_freqs,))
        if start_samples is not None:
            if self._rot_table is not None:
                x *= self.rotation(start_samples)
            else:
                start = np.asarray(start_samples, dtype=np.float64)[..., None]
                # (f * n) mod fs keeps the phase exact for huge sample indices.
                cycles = np.mod(self.freqs_hz * start, self.sample_rate_hz) / self.sample_rate_hz
                x = x * np.exp(-2j * np.pi * cycles)
        return x

    def rotation(self, start_samples) -> np.ndarray:
        """The factors :meth:`dft` multiplies by to reference each block's phase to absolute
        time, shape ``start_samples.shape + (n_freqs,)`` (integer frequencies only).

        For a caller that rotates only some values, or rotates later.
        """
        if self._rot_table is None:
            raise ValueError(f"rotation needs integer frequencies, got {self.freqs_hz.tolist()}")
        index = np.mod(np.asarray(start_samples, dtype=np.int64), self.sample_rate_hz)
        if self._rot_step != 1:
            index = index * self._rot_step % self.sample_rate_hz
        return self._rot_table[index]

    def rotation_run(self, first_start: int, n_blocks: int) -> np.ndarray:
        """:meth:`rotation` of ``n_blocks`` consecutive blocks, the first starting at sample
        ``first_start``, shape ``(n_blocks, n_freqs)``.

        With the table in block order (block length and sample rate coprime) and
        at most a second of blocks, consecutive blocks read consecutive rows of
        it: the result is then a read-only view, no gather and no copy, and a
        caller that rotates a whole run of blocks multiplies two contiguous
        arrays (one long loop instead of one per block).
        """
        n_blocks = int(n_blocks)
        if self._rot_table is None or self._rot_step == 1 or n_blocks > self.sample_rate_hz:
            return self.rotation(int(first_start) + self.block_len * np.arange(n_blocks, dtype=np.int64))
        first = int(first_start) % self.sample_rate_hz * self._rot_step % self.sample_rate_hz
        return self._rot_table[first:first + n_blocks]

    def power(self, blocks) -> np.ndarray:
        """Mean-square power of the sine at each frequency, shape ``(..., n_freqs)``."""
        blocks = np.asarray(blocks)
        if blocks.shape[-1] != self.block_len:
            raise ValueError(f"blocks must have {self.block_len} samples in the last axis, got shape {blocks.shape}")
        y = blocks.astype(self.dtype, copy=False) @ self._basis
        return (y[..., 0::2] ** 2 + y[..., 1::2] ** 2) * (2.0 / self.block_len**2)

    def __repr__(self) -> str:
        freqs = ", ".join(f"{f:g}" for f in self.freqs_hz)
        return f"ToneBank([{freqs}], block_len={self.block_len}, sample_rate_hz={self.sample_rate_hz})"


@functools.cache
def _rotation_table(freqs_hz: tuple[int, ...], sample_rate_hz: int, order_step: int) -> np.ndarray:
    """exp(-2 pi j f n / fs) for n = order_step * i mod fs, i in 0..2 fs - 1 (integer frequencies
    repeat every second; the second copy lets any second of rows be one slice), read-only."""
    n = (order_step * np.arange(2 * sample_rate_hz) % sample_rate_hz)[:, None]
    cycles = np.mod(np.array(freqs_hz, dtype=np.int64)[None, :] * n, sample_rate_hz)
    table = np.exp(-2j * np.pi * cycles / sample_rate_hz).astype(np.complex64)
    table.flags.writeable = False
    return table


def goertzel_power(blocks, freq_hz: float, sample_rate_hz: int = 8000) -> np.ndarray:
    """Mean-square sine power at ``freq_hz`` of each block (last axis) by the Goertzel recurrence.

    ``s[n] = x[n] + 2 cos(w) s[n-1] - s[n-2]``; ``|X|^2 = s1^2 + s2^2 - 2 cos(w) s1 s2``
    from the last two states.  Same units as :meth:`ToneBank.power`.
    """
    from scipy.signal import lfilter  # scipy.signal takes most of a second to import: only here

    x = np.asarray(blocks, dtype=np.float64)
    n = x.shape[-1]
    w = 2 * np.pi * freq_hz / sample_rate_hz
    coeff = 2 * np.cos(w)
    s = lfilter([1.0], [1.0, -coeff, 1.0], x, axis=-1)
    s1 = s[..., -1]
    s2 = s[..., -2] if n > 1 else np.zeros_like(s1)
    mag2 = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return mag2 * (2.0 / n**2)
