"""Signal levels in dBm0 for 16-bit linear PCM.

G.711 puts the overload point of a sine at +3.14 dBm0 (mu-law).  Following the
same convention as spandsp, a full-scale 16-bit sine (peak 32768) is +3.14 dBm0,
so a 0 dBm0 sine has a peak of ``32768 * 10**(-3.14/20)`` (about 22 870) and an
RMS of about 16 170.  Functions accept floats or numpy arrays.
"""

from __future__ import annotations

import numpy as np

#: Level of a full-scale 16-bit sine, in dBm0 (mu-law: +3.14 dBm0 overload).
FULL_SCALE_SINE_DBM0 = 3.14
#: Peak amplitude of a 0 dBm0 sine in 16-bit PCM.
DBM0_PEAK_AMPLITUDE = 32768.0 * 10 ** (-FULL_SCALE_SINE_DBM0 / 20)
#: RMS of a 0 dBm0 signal in 16-bit PCM.
DBM0_RMS = DBM0_PEAK_AMPLITUDE / np.sqrt(2.0)


def dbm0_to_peak(level_dbm0):
    """Peak amplitude (16-bit PCM units) of a sine at ``level_dbm0``."""
    return DBM0_PEAK_AMPLITUDE * 10 ** (np.asarray(level_dbm0, dtype=float) / 20)


def dbm0_to_rms(level_dbm0):
    """RMS (16-bit PCM units) of any signal at ``level_dbm0``."""
    return DBM0_RMS * 10 ** (np.asarray(level_dbm0, dtype=float) / 20)


def rms_to_dbm0(rms):
    """Level in dBm0 of a signal whose RMS is ``rms`` (16-bit PCM units); -inf for silence."""
    rms = np.asarray(rms, dtype=float)
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms / DBM0_RMS)


def power_to_dbm0(mean_square):
    """Level in dBm0 of a signal whose mean square is ``mean_square``."""
    mean_square = np.asarray(mean_square, dtype=float)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(mean_square / DBM0_RMS**2)


def signal_dbm0(samples) -> float:
    """Level in dBm0 of a block of samples (its RMS)."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return float("-inf")
    return float(rms_to_dbm0(np.sqrt(np.mean(x * x))))


def db_to_gain(db):
    """Linear amplitude gain for ``db`` decibels."""
    return 10 ** (np.asarray(db, dtype=float) / 20)
