"""Call-progress tones: generator frequencies and cadences, and the progress-tone classifier."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.dtmf.conditions import (
    band_noise,
    conceal_lost_packets,
    g711_round_trip,
    mean_power,
    speech_files,
    telephone_band,
)
from phonesim.dsp.progress import ProgressDetector, ProgressTone
from phonesim.dsp.tones import CADENCES, TONE_NAMES, ToneSource, render_tone


def on_off(x, block=40):
    """Per-5 ms-block on/off flags of a rendered tone."""
    x = np.asarray(x, dtype=np.float64)
    return (np.abs(x[: x.size // block * block].reshape(-1, block)).max(axis=1) > 0)


@pytest.mark.parametrize("name", TONE_NAMES)
def test_tone_frequencies_and_level(name):
    cadence = CADENCES[name]
    freqs, dur_ms = cadence.segments[0]
    x = render_tone(name, dur_ms / 1000, level_dbm0=-13.0).astype(np.float64)
    n = x.size
    seg = x
    # Level from a correlation over the whole segment (exact for these frequencies).
    t = np.arange(n) / 8000
    for f in freqs:
        z = np.sum(seg * np.exp(-2j * np.pi * f * t))
        level = 10 * np.log10(2 * abs(z) ** 2 / n**2 / (32768 * 10 ** (-3.14 / 20)) ** 2 * 2)
        assert level == pytest.approx(-13.0, abs=0.15), (name, f)
    # Nothing else: a least-squares fit of exactly these sines leaves only rounding noise.
    basis = np.column_stack([fn(2 * np.pi * f * t) for f in freqs for fn in (np.sin, np.cos)])
    coef, *_ = np.linalg.lstsq(basis, seg, rcond=None)
    residual = seg - basis @ coef
    assert np.mean(residual**2) < 1e-5 * np.mean(seg**2)


def test_cadences():
    ring = on_off(render_tone("ringback", 12.0))
    assert ring[:400].all() and not ring[400:1200].any() and ring[1200:1600].all()
    busy = on_off(render_tone("busy", 2.0))
    assert busy[:100].all() and not busy[100:200].any() and busy[200:300].all()
    reorder = on_off(render_tone("reorder", 1.0))
    assert reorder[:50].all() and not reorder[50:100].any() and reorder[100:150].all()
    stutter = on_off(render_tone("stutter", 3.0))
    assert stutter[:20].all() and not stutter[20:40].any() and stutter[120:].all()
    confirmation = on_off(render_tone("confirmation", 2.0))
    assert confirmation[:20].all() and not confirmation[120:].any()
    sit = render_tone("sit", 1.5)
    assert sit[: round(0.928 * 8000)].any() and not sit[round(0.93 * 8000):].any()


def test_streaming_is_continuous_for_any_chunking():
    whole = render_tone("busy", 3.0)
    src = ToneSource("busy")
    rng = np.random.default_rng(1)
    parts, total = [], 0
    while total < whole.size:
        k = min(int(rng.integers(0, 900)), whole.size - total)
        parts.append(src.read(k))
        total += k
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert src.position == whole.size


def test_unknown_tone_refused():
    with pytest.raises(ValueError, match="unknown tone 'howler'"):
        ToneSource("howler")


def classify(x, chunk=160) -> list[ProgressTone]:
    det = ProgressDetector()
    out = []
    for at in range(0, len(x), chunk):
        out += det.feed(x[at:at + chunk])
    return out


@pytest.mark.parametrize("name,kind", [("dial", "dial"), ("ringback", "ringback"), ("busy", "busy"),
                                       ("reorder", "reorder"), ("sit", "sit"), ("stutter", "stutter")])
@pytest.mark.parametrize("level_dbm0", [-10.0, -30.0])
def test_each_progress_tone_is_classified(name, kind, level_dbm0):
    lead = np.zeros(1234, dtype=np.int16)
    x = g711_round_trip(telephone_band(np.concatenate([lead, render_tone(name, 6.0, level_dbm0=level_dbm0)])))
    found = classify(x)
    assert found, name
    assert found[0].kind == kind
    assert 1000 <= found[0].start_sample <= 1800
    assert found[0].level_dbm0 == pytest.approx(level_dbm0, abs=1.5)
    kinds = [f.kind for f in found]
    assert len(set(kinds)) == len(kinds)  # each reported once per episode
    assert set(kinds) <= ({"stutter", "dial"} if kind == "stutter" else {kind})


def test_same_result_for_any_chunk_size():
    x = np.concatenate([render_tone(n, 3.0) for n in ("dial", "busy", "sit", "ringback")])
    ref = classify(x, chunk=x.size)
    assert [t.kind for t in ref] == ["dial", "busy", "sit", "ringback"]
    for chunk in (1, 7, 160, 441):
        assert classify(x, chunk) == ref


def test_dtmf_and_speech_are_not_progress_tones():
    from phonesim.dsp.dtmf import DtmfGenerator

    assert classify(DtmfGenerator().digits("0123456789*#" * 4, on_ms=100, off_ms=100)) == []
    for path in speech_files():
        x = np.fromfile(path, dtype="<i2")
        assert classify(x, chunk=x.size) == [], path.name


def test_wrong_pair_is_not_ringback():
    # 440 + 620 Hz is no North American tone.
    t = np.arange(8000 * 4) / 8000
    x = (3000 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 620 * t))).astype(np.int16)
    assert classify(x) == []


@pytest.mark.parametrize("name", ["dial", "ringback", "busy", "reorder", "sit", "stutter"])
def test_classified_at_6_db_snr(name):
    rng = np.random.default_rng(len(name))
    x = render_tone(name, 6.0, level_dbm0=-20.0).astype(np.float64)
    on_power = mean_power(x[x != 0])  # the tone's power while it sounds
    noise = band_noise(x.size, 0.0, rng)
    noise *= np.sqrt(on_power / 10 ** 0.6 / mean_power(noise))
    found = classify(g711_round_trip(telephone_band(x + noise)))
    assert found and found[0].kind == name


def dial_bursts(count: int, then: np.ndarray, level_dbm0: float = -13.0) -> np.ndarray:
    """``count`` 100 ms dial-pair bursts 100 ms apart after 0.5 s of silence, then ``then``."""
    burst = render_tone("dial", 0.1, level_dbm0=level_dbm0)
    gap = np.zeros(800, dtype=np.int16)
    parts = [np.zeros(4000, dtype=np.int16)] + [np.concatenate([burst, gap])] * count + [then]
    return g711_round_trip(telephone_band(np.concatenate(parts)))


@pytest.mark.parametrize("level_dbm0", [-13.0, -30.0])
def test_two_isolated_dial_bursts_are_not_a_stutter(level_dbm0):
    # Music sounding F4 + A4 twice in short notes makes exactly this; a stutter has three bursts.
    for after in (np.zeros(16000, dtype=np.int16), render_tone("busy", 2.0, level_dbm0=level_dbm0)):
        x = dial_bursts(2, after, level_dbm0)
        for chunk in (160, x.size):
            assert "stutter" not in [t.kind for t in classify(x, chunk)]


@pytest.mark.parametrize("name", ["stutter", "confirmation"])
def test_three_dial_bursts_are_a_stutter(name):
    x = g711_round_trip(telephone_band(np.concatenate([np.zeros(4000, dtype=np.int16),
                                                       render_tone(name, 3.0, level_dbm0=-20.0)])))
    found = classify(x)
    assert [t.kind for t in found][:1] == ["stutter"]
    assert 3900 <= found[0].start_sample <= 4400
    # Decided when the third burst ends (0.5 s after the first began), before any dial tone.
    assert found[0].end_sample - found[0].start_sample <= 0.6 * 8000


def test_two_bursts_then_steady_dial_tone_are_a_stutter():
    # A stutter whose third burst was lost (noise, a slip at the far end) still counts.
    x = dial_bursts(2, render_tone("dial", 2.0))
    found = classify(x)
    assert [t.kind for t in found] == ["stutter", "dial"]
    assert 3900 <= found[0].start_sample <= 4400
    assert found[0].end_sample < found[1].end_sample


def test_stutter_steady_time_must_exceed_a_burst():
    with pytest.raises(ValueError, match="stutter_steady_s must be longer than a burst .* got 0.1"):
        ProgressDetector(stutter_steady_s=0.1)


def test_dial_pair_flickering_faster_than_a_stutter_is_not_one():
    # A held F4 + A4 chord in music flickers in and out of the classifier 50 ms at a time.
    pair = render_tone("dial", 0.05)
    x = np.concatenate([np.zeros(4000, dtype=np.int16)]
                       + [np.concatenate([pair, np.zeros(400, dtype=np.int16)])] * 6
                       + [np.zeros(8000, dtype=np.int16)])
    assert classify(x) == []


@pytest.mark.parametrize("name,lost", [("ringback", [66, 96, 126]), ("dial", list(range(52, 350, 30))),
                                       ("busy", [61, 111, 161, 211, 261])])
def test_a_tone_is_recognised_through_concealed_lost_packets(name, lost):
    # Each copy is out of phase with the tone around it: two 25 ms blocks without the pair, which
    # cut every ringback cycle, dial tone and busy burst here into pieces too short to report.
    x = g711_round_trip(telephone_band(np.concatenate([np.zeros(8000, dtype=np.int16),
                                                       render_tone(name, 6.0, level_dbm0=-20.0)])))
    y = conceal_lost_packets(x, lost)
    blocks = y[:y.size // 200 * 200].reshape(-1, 200).astype(float)
    classes, _ = ProgressDetector()._classify(blocks)
    assert np.count_nonzero(classes[40:] == 0) > np.count_nonzero(
        ProgressDetector()._classify(x[:blocks.size].reshape(-1, 200).astype(float))[0][40:] == 0)
    assert [t.kind for t in classify(y)][:1] == [name]


def test_a_tone_broken_for_75_ms_is_two_tones():
    # Three blocks without the pair is a real silence, as in a cadence: not bridged.
    on = render_tone("ringback", 1.0, level_dbm0=-20.0)
    x = np.concatenate([np.zeros(4000, dtype=np.int16), on, np.zeros(600, dtype=np.int16), on,
                        np.zeros(8000, dtype=np.int16)])
    assert classify(x) == []
    assert [t.kind for t in classify(np.concatenate([x[:4000 + on.size], on]))] == ["ringback"]
