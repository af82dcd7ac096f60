"""Streaming, chunking, multi-channel and lost-audio behaviour of the DTMF detector."""

from __future__ import annotations

import math
import warnings
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.dtmf.conditions import realistic_pin
from phonesim.dsp.dtmf import DIGIT_DTYPE, KEYS, DtmfDetector, DtmfDigit, DtmfGenerator, _levels_db

GEN = DtmfGenerator()


def feed_in_chunks(x, sizes, det=None) -> list[DtmfDigit]:
    det = det or DtmfDetector()
    out, at, i = [], 0, 0
    while at < x.shape[-1]:
        k = sizes[i % len(sizes)]
        out += det.feed(x[..., at:at + k])
        at += k
        i += 1
    return out


@pytest.fixture(scope="module")
def line_signal():
    rng = np.random.default_rng(11)
    return np.concatenate([realistic_pin(rng).audio for _ in range(4)])


@pytest.mark.parametrize("size", [1, 7, 102, 160, 441, 1024, 5000, 20000])
def test_same_digits_and_timing_for_any_chunk_size(line_signal, size):
    whole = DtmfDetector().feed(line_signal)
    assert len(whole) >= 16
    assert feed_in_chunks(line_signal, [size]) == whole


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 700), min_size=1, max_size=20).filter(any),
       digits=st.text(alphabet=KEYS, min_size=1, max_size=6),
       on_ms=st.integers(40, 120), off_ms=st.integers(40, 120), lead=st.integers(0, 400))
def test_random_chunking_and_digit_strings_round_trip(sizes, digits, on_ms, off_ms, lead):
    x = GEN.digits(digits, on_ms=on_ms, off_ms=off_ms, lead_ms=lead / 8, tail_ms=60)
    whole = DtmfDetector().feed(x)
    assert "".join(d.digit for d in whole) == digits
    assert feed_in_chunks(x, sizes) == whole


def test_digits_carry_absolute_sample_positions_across_feeds():
    det = DtmfDetector()
    det.feed(np.zeros(12345, dtype=np.int16))
    (d,) = det.feed(GEN.digits("7", on_ms=100, tail_ms=60))
    assert abs(d.start_sample - 12345) <= 12
    assert abs(d.end_sample - (12345 + 800)) <= 12
    assert det.samples_seen == 12345 + 800 + 480


def test_n_channels_equal_n_single_channel_detectors(line_signal):
    rng = np.random.default_rng(5)
    n = 6
    signals = np.stack([np.roll(line_signal, int(rng.integers(0, line_signal.size))) for _ in range(n)])
    signals[2] = 0  # a silent line among busy ones
    multi = feed_in_chunks(signals, [160], DtmfDetector(channels=n))
    singles = []
    for c in range(n):
        singles += [DtmfDigit(d.digit, d.start_sample, d.end_sample, d.low_dbm0, d.high_dbm0, d.twist_db, c)
                    for d in feed_in_chunks(signals[c], [160])]
    assert len(multi) > 40
    assert sorted(multi, key=lambda d: (d.channel, d.start_sample)) == \
        sorted(singles, key=lambda d: (d.channel, d.start_sample))
    assert not [d for d in multi if d.channel == 2]


def test_fill_in_invents_nothing_and_advances_the_counter():
    det = DtmfDetector()
    assert det.fill_in(5000) == []
    assert det.samples_seen == 5000
    (d,) = det.feed(GEN.digits("9", on_ms=80, tail_ms=60))
    assert abs(d.start_sample - 5000) <= 12


def test_fill_in_drops_the_partial_block_and_keeps_later_digits_exact():
    x = GEN.digits("12", on_ms=80, off_ms=200, tail_ms=60)
    det = DtmfDetector()
    first = det.feed(x[:1300])  # ends in the silence after "1", mid sub-block
    det.fill_in(100)
    rest = det.feed(x[1400:])
    assert "".join(d.digit for d in first + rest) == "12"
    two = (first + rest)[-1]
    assert abs(two.start_sample - 2240) <= 12  # the counter counted the lost samples


def test_short_loss_inside_a_held_key_is_bridged_long_loss_closes_it():
    x = GEN.digits("6", on_ms=300, tail_ms=60)
    det = DtmfDetector()
    out = det.feed(x[:1000])
    out += det.fill_in(80)  # 10 ms lost
    out += det.feed(x[1080:])
    assert [d.digit for d in out] == ["6"]
    det = DtmfDetector()
    out = det.feed(x[:1000])
    out += det.fill_in(400)  # 50 ms lost: the first part is reported, the rest is a new press
    assert [d.digit for d in out] == ["6"]
    assert out[0].end_sample <= 1000


def test_reset_forgets_a_digit_in_progress():
    det = DtmfDetector()
    det.feed(GEN.digits("4", on_ms=100))
    det.reset()
    assert det.samples_seen == 0
    assert det.feed(np.zeros(2000, dtype=np.int16)) == []


def test_float_input_in_16_bit_units_gives_the_same_digits():
    x = GEN.digits("0#", on_ms=60, tail_ms=60)
    assert DtmfDetector().feed(x.astype(np.float64)) == DtmfDetector().feed(x)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=0, max_size=4000), chunk=st.integers(1, 600), lost=st.integers(0, 300))
def test_fuzzed_input_never_crashes_and_reports_sane_digits(data, chunk, lost):
    x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
    det = DtmfDetector()
    found = feed_in_chunks(x, [chunk], det) + det.fill_in(lost) + det.feed(np.zeros(800, dtype=np.int16))
    for d in found:
        assert d.digit in KEYS and 0 <= d.start_sample < d.end_sample <= det.samples_seen
    assert det.samples_seen == x.size + lost + 800


def test_extreme_float_input_is_handled():
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30] * 200, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert DtmfDetector().feed(x) == []


def test_a_key_held_past_the_arena_is_one_digit_for_any_chunking():
    """A digit's sub-blocks outgrow the per-channel arena after 400 ms and move to a list."""
    x = np.concatenate([GEN.digits("5", on_ms=2500, lead_ms=30, tail_ms=60),
                        GEN.digits("17#", on_ms=700, off_ms=60, tail_ms=60)])
    whole = DtmfDetector().feed(x)
    assert "".join(d.digit for d in whole) == "517#"
    assert abs((whole[0].end_sample - whole[0].start_sample) - 20000) <= 24
    for sizes in ([160], [8], [5000], [1, 700, 31]):
        assert feed_in_chunks(x, sizes) == whole


@pytest.mark.parametrize("n", [3, 40])  # frames of 3 busy lines step window by window, of 40 by runs
def test_dense_keying_on_many_lines_is_the_same_in_frames_and_whole(n):
    rng = np.random.default_rng(n)
    lines = []
    for _ in range(n):
        keys = "".join(rng.choice(list(KEYS), 12))
        x = GEN.digits(keys, on_ms=float(rng.uniform(40, 70)), off_ms=float(rng.uniform(40, 70)),
                       lead_ms=float(rng.uniform(0, 200)), tail_ms=100)
        lines.append(np.pad(x, (0, 16000 - x.size)))
    x = np.stack(lines)
    whole = DtmfDetector(channels=n).feed(x)
    assert len(whole) == 12 * n
    assert feed_in_chunks(x, [160], DtmfDetector(channels=n)) == whole


def test_a_digit_open_at_the_end_of_a_feed_ends_in_a_long_silent_one():
    """The machine over many windows with a digit carried in and no strict hit at all."""
    det = DtmfDetector()
    assert det.feed(GEN.digits("5", on_ms=150)) == []
    (d,) = det.feed(np.zeros(8000, dtype=np.int16))
    assert d.digit == "5" and abs(d.end_sample - 1200) <= 12


def dense_keying_lines(n_lines: int, seconds: float, seed: int) -> np.ndarray:
    """``n_lines`` lines of back-to-back keying at the fastest legal rate (40 ms tones and
    gaps), each starting at a different point of its key sequence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    x = GEN.digits("".join(rng.choice(list(KEYS), int(seconds * 12.5) + 40)), on_ms=40, off_ms=40)
    return np.stack([x[at:at + n] for at in rng.integers(0, x.size - n, n_lines)])


@pytest.mark.parametrize("n", [8, 32, 128])
def test_lines_in_one_detector_equal_one_detector_each_bit_for_bit(n):
    """What a host that batches its lines' detectors gets: the same digits, field for field,
    as a detector per line, with every line keying back to back in 20 ms frames."""
    x = dense_keying_lines(n, 1.5, n)
    together = feed_in_chunks(x, [160], DtmfDetector(channels=n))
    alone = [DtmfDigit(d.digit, d.start_sample, d.end_sample, d.low_dbm0, d.high_dbm0, d.twist_db, c)
             for c in range(n) for d in feed_in_chunks(x[c], [160])]
    assert len(together) >= 12 * n
    assert sorted(together, key=lambda d: (d.channel, d.end_sample)) == alone


def test_feed_arrays_gives_feeds_digits_field_for_field(line_signal):
    x = np.stack([line_signal, np.roll(line_signal, 4321), np.zeros_like(line_signal)])
    objects = DtmfDetector(channels=3).feed(x)
    arrays = DtmfDetector(channels=3).feed_arrays(x)
    assert arrays.dtype == DIGIT_DTYPE and arrays.dtype.names == tuple(f.name for f in fields(DtmfDigit))
    assert len(objects) > 30
    assert [DtmfDigit(*row) for row in arrays.tolist()] == objects
    # In frames, mixed with feed(): the same state advances.
    det = DtmfDetector(channels=3)
    mixed = []
    for at in range(0, x.shape[1], 160):
        mixed += det.feed(x[:, at:at + 160]) if at % 320 else [DtmfDigit(*r) for r in
                                                             det.feed_arrays(x[:, at:at + 160]).tolist()]
    assert mixed == objects


def test_feed_arrays_with_nothing_found_is_empty_of_the_digit_dtype():
    found = DtmfDetector().feed_arrays(np.zeros(4000, dtype=np.int16))
    assert found.dtype == DIGIT_DTYPE and found.shape == (0,)


@pytest.mark.parametrize("target_db", [-18.595, -42.455, -20.005, -7.125, 0.015])
def test_levels_next_to_a_rounding_half_way_point_are_rounded_as_round_would(target_db):
    """Levels are rounded to 0.01 dB with numpy; next to a half-way point ``rint`` and a
    last-bit difference between numpy's and math's log10 can change the rounding, so
    those few go through math.log10 and round, as a scalar loop would.  Powers a few
    units in the last place apart, around a level that ends in 5 in the third decimal."""
    low = 10 ** (target_db / 10) * (1 + np.arange(-200, 200) * 2.0**-52)
    high = low[::-1] * 2.5
    got = _levels_db(low, high)
    for i in range(low.size):
        exact_low, exact_high = 10 * math.log10(low[i]), 10 * math.log10(high[i])
        assert (got[0][i], got[1][i], got[2][i]) == \
            (round(exact_low, 2), round(exact_high, 2), round(exact_high - exact_low, 2))
