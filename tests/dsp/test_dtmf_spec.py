"""The Mitel / ITU-T Q.24-style acceptance procedure for the DTMF detector.

Every test builds its signal with :class:`DtmfGenerator` (checked separately in
``test_dtmf_generator.py``) and asserts what the detector reports.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.dtmf.conditions import band_noise, mean_power
from phonesim.dsp.dtmf import COL_HZ, DIGIT_FREQS_HZ, KEYS, ROW_HZ, DtmfDetector, DtmfGenerator

GEN = DtmfGenerator(level_dbm0=-10.0, twist_db=0.0)


def decode(x, **kw) -> str:
    return "".join(d.digit for d in DtmfDetector(**kw).feed(np.asarray(x)))


def tone(digit, *, on_ms=60, **kw) -> np.ndarray:
    return GEN.digits(digit, on_ms=on_ms, lead_ms=30, tail_ms=60, **kw)


def test_every_digit_ten_times():
    keys = "".join(k * 10 for k in KEYS)
    x = GEN.digits(keys, on_ms=50, off_ms=50, lead_ms=20, tail_ms=50)
    assert decode(x) == keys


def _digit_with(tone_hz: float) -> tuple[str, int]:
    """A digit using ``tone_hz`` and the index (0 low, 1 high) of that tone."""
    for digit, pair in DIGIT_FREQS_HZ.items():
        if pair[0] == tone_hz:
            return digit, 0
        if pair[1] == tone_hz:
            return digit, 1
    raise AssertionError(tone_hz)


@pytest.mark.parametrize("tone_hz", ROW_HZ + COL_HZ)
def test_frequency_within_1_5_percent_accepted_3_5_and_beyond_rejected(tone_hz):
    digit, which = _digit_with(tone_hz)
    for err in (-0.015, -0.01, 0.0, 0.01, 0.015):
        errors = (err, 0.0) if which == 0 else (0.0, err)
        assert decode(tone(digit, freq_error=errors)) == digit, f"{tone_hz} Hz {err:+.1%}"
    for err in (-0.05, -0.045, -0.035, 0.035, 0.045, 0.05):
        errors = (err, 0.0) if which == 0 else (0.0, err)
        assert decode(tone(digit, freq_error=errors)) == "", f"{tone_hz} Hz {err:+.1%}"


def test_both_tones_off_by_1_5_percent_in_opposite_directions():
    for digit in KEYS:
        for err in ((0.015, -0.015), (-0.015, 0.015), (0.015, 0.015), (-0.015, -0.015)):
            assert decode(tone(digit, freq_error=err)) == digit, (digit, err)


@pytest.mark.parametrize("twist_db", [-8.0, -6.0, -3.0, 0.0, 2.0, 4.0])
def test_twist_within_limits_accepted(twist_db):
    keys = KEYS
    x = GEN.digits(keys, on_ms=50, off_ms=50, twist_db=twist_db, lead_ms=20, tail_ms=50)
    assert decode(x) == keys


@pytest.mark.parametrize("twist_db", [-12.0, -14.0, 8.0, 10.0])
def test_twist_beyond_limits_rejected(twist_db):
    x = GEN.digits(KEYS, on_ms=50, off_ms=50, twist_db=twist_db, lead_ms=20, tail_ms=50)
    assert decode(x) == ""


def test_measured_levels_and_twist():
    (d,) = DtmfDetector().feed(tone("5", level_dbm0=-20.0, twist_db=3.0))
    assert d.low_dbm0 == pytest.approx(-21.5, abs=0.5)
    assert d.high_dbm0 == pytest.approx(-18.5, abs=0.5)
    assert d.twist_db == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize("level_dbm0", [-3.0, -10.0, -20.0, -30.0, -40.0, -45.0])
def test_dynamic_range_decoded(level_dbm0):
    x = GEN.digits(KEYS, on_ms=50, off_ms=50, level_dbm0=level_dbm0, lead_ms=20, tail_ms=50)
    assert decode(x) == KEYS


@pytest.mark.parametrize("level_dbm0", [-55.0, -60.0])
def test_below_dynamic_range_silent(level_dbm0):
    x = GEN.digits(KEYS, on_ms=50, off_ms=50, level_dbm0=level_dbm0, lead_ms=20, tail_ms=50)
    assert decode(x) == ""


@pytest.mark.parametrize("on_ms", [40, 45, 50, 70, 500])
def test_tones_of_40_ms_and_longer_decoded_at_every_alignment(on_ms):
    for lead in range(0, 51, 7):  # every phase of the 51-sample analysis grid
        x = GEN.digits("1D5#", on_ms=on_ms, off_ms=40, lead_ms=lead / 8, tail_ms=40)
        assert decode(x) == "1D5#", f"{on_ms} ms, lead {lead} samples"


@pytest.mark.parametrize("on_ms", [5, 10, 15, 20])
def test_tones_of_20_ms_and_shorter_ignored_at_every_alignment(on_ms):
    for lead in range(0, 51, 7):
        x = GEN.digits("1D5#", on_ms=on_ms, off_ms=40, lead_ms=lead / 8, tail_ms=40)
        assert decode(x) == "", f"{on_ms} ms, lead {lead} samples"


def _with_gap(digit: str, gap_ms: float, gap_at: int) -> np.ndarray:
    x = GEN.digits(digit, on_ms=170, lead_ms=20, tail_ms=60)
    start = 160 + gap_at
    x[start:start + round(gap_ms * 8)] = 0
    return x


# Every phase of the gap against the 51-sample analysis grid (two samples apart).
GAP_POSITIONS = range(480, 480 + 51, 2)


@pytest.mark.parametrize("gap_ms", [2, 5, 8, 10])
@pytest.mark.parametrize("digit", ["1", "8", "#", "D"])
def test_dropouts_up_to_10_ms_bridged(gap_ms, digit):
    for at in GAP_POSITIONS:
        assert decode(_with_gap(digit, gap_ms, at)) == digit, f"gap {gap_ms} ms at sample {at}"


@pytest.mark.parametrize("gap_ms", [20, 25, 40])
@pytest.mark.parametrize("digit", ["1", "8", "#", "D"])
def test_pauses_of_20_ms_and_more_split(gap_ms, digit):
    for at in GAP_POSITIONS:
        assert decode(_with_gap(digit, gap_ms, at)) == digit * 2, f"gap {gap_ms} ms at sample {at}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_digit_at_6_db_snr_in_telephone_band_white_noise(seed):
    rng = np.random.default_rng(seed)
    keys = KEYS * 2
    x = GEN.digits(keys, on_ms=50, off_ms=50, lead_ms=40, tail_ms=60).astype(np.float64)
    tone_power = mean_power(GEN.digits("5", on_ms=200))
    noise = band_noise(x.size, 0.0, rng)
    noise *= np.sqrt(tone_power / 10 ** (6 / 10) / mean_power(noise))
    assert decode(np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)) == keys


def test_noise_alone_yields_nothing():
    rng = np.random.default_rng(9)
    assert decode(band_noise(8000 * 20, -10.0, rng)) == ""


def test_report_comes_within_30_ms_of_the_tone_end():
    x = GEN.digits("3", on_ms=80, lead_ms=20, tail_ms=200)
    tone_end = round(100 * 8)
    det = DtmfDetector()
    for at in range(0, x.size, 8):
        found = det.feed(x[at:at + 8])
        if found:
            assert found[0].digit == "3"
            assert at + 8 - tone_end <= 30 * 8
            assert abs(found[0].end_sample - tone_end) <= 16
            assert abs(found[0].start_sample - 160) <= 16
            break
    else:
        pytest.fail("digit never reported")


def test_unsupported_rate_and_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="8000 Hz"):
        DtmfDetector(sample_rate_hz=16000)
    with pytest.raises(ValueError, match=r"\(2, n\)"):
        DtmfDetector(channels=2).feed(np.zeros(100, dtype=np.int16))


@pytest.mark.parametrize("bad", [{"on_windows": 0}, {"on_windows": 7}, {"off_windows": 0}, {"channels": 0}])
def test_machine_parameters_out_of_range_are_refused(bad):
    name, value = next(iter(bad.items()))
    with pytest.raises(ValueError, match=rf"{name} must be .*got {value}"):
        DtmfDetector(**bad)
