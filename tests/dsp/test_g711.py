"""G.711 against an independent scalar reference (the classic Sun g711.c logic).

The reference below is a line-by-line port of the public-domain Sun Microsystems
``g711.c`` (``linear2ulaw``, ``ulaw2linear``, ``linear2alaw``, ``alaw2linear``),
written as plain Python loops so it shares no code with the vectorised tables.
"""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.dsp.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

SEG_AEND = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
SEG_UEND = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
BIAS = 0x84
CLIP = 8159


def _search(val, table):
    for i, end in enumerate(table):
        if val <= end:
            return i
    return len(table)


def ref_linear2alaw(pcm_val):
    pcm_val >>= 3
    if pcm_val >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm_val = -pcm_val - 1
    seg = _search(pcm_val, SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    if seg < 2:
        aval |= (pcm_val >> 1) & 0xF
    else:
        aval |= (pcm_val >> seg) & 0xF
    return aval ^ mask


def ref_alaw2linear(a_val):
    a_val ^= 0x55
    t = (a_val & 0xF) << 4
    seg = (a_val & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if (a_val & 0x80) else -t


def ref_linear2ulaw(pcm_val):
    pcm_val >>= 2
    if pcm_val < 0:
        pcm_val = -pcm_val
        mask = 0x7F
    else:
        mask = 0xFF
    if pcm_val > CLIP:
        pcm_val = CLIP
    pcm_val += BIAS >> 2
    seg = _search(pcm_val, SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    uval = (seg << 4) | ((pcm_val >> (seg + 1)) & 0xF)
    return uval ^ mask


def ref_ulaw2linear(u_val):
    u_val = ~u_val & 0xFF
    t = ((u_val & 0xF) << 3) + BIAS
    t <<= (u_val & 0x70) >> 4
    return (BIAS - t) if (u_val & 0x80) else (t - BIAS)


ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def test_ulaw_encode_matches_reference_for_every_sample():
    expected = np.array([ref_linear2ulaw(int(v)) for v in ALL_PCM], dtype=np.uint8)
    got = ulaw_encode(ALL_PCM)
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"mu-law encode differs at pcm {ALL_PCM[bad[:5]]}: got {got[bad[:5]]}, expected {expected[bad[:5]]}"


def test_alaw_encode_matches_reference_for_every_sample():
    expected = np.array([ref_linear2alaw(int(v)) for v in ALL_PCM], dtype=np.uint8)
    got = alaw_encode(ALL_PCM)
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"A-law encode differs at pcm {ALL_PCM[bad[:5]]}: got {got[bad[:5]]}, expected {expected[bad[:5]]}"


def test_ulaw_decode_matches_reference_for_every_code():
    expected = np.array([ref_ulaw2linear(int(c)) for c in ALL_CODES], dtype=np.int16)
    assert np.array_equal(ulaw_decode(ALL_CODES), expected)


def test_alaw_decode_matches_reference_for_every_code():
    expected = np.array([ref_alaw2linear(int(c)) for c in ALL_CODES], dtype=np.int16)
    assert np.array_equal(alaw_decode(ALL_CODES), expected)


def test_known_wire_values():
    # silence: mu-law 0xFF (positive zero), A-law 0xD5
    assert ulaw_encode(np.int16(0)) == 0xFF
    assert alaw_encode(np.int16(0)) == 0xD5
    # full scale: mu-law 0x80 / 0x00, A-law 0xAA / 0x2A
    assert ulaw_encode(np.int16(32767)) == 0x80 and ulaw_encode(np.int16(-32768)) == 0x00
    assert alaw_encode(np.int16(32767)) == 0xAA and alaw_encode(np.int16(-32768)) == 0x2A


@pytest.mark.parametrize("encode,decode", [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_decode_encode_is_identity_on_codes_and_round_trip_error_is_bounded(encode, decode):
    codes = ALL_CODES
    if encode is ulaw_encode:
        codes = codes[codes != 0x7F]  # 0x7F (-0) and 0xFF (+0) both decode to 0
    assert np.array_equal(encode(decode(codes)), codes)
    x = ALL_PCM.astype(np.int64)
    err = np.abs(decode(encode(ALL_PCM)).astype(np.int64) - x)
    # companding error grows with magnitude: at most ~1/32 of the value plus the first step
    assert np.all(err <= np.abs(x) / 16 + 16), f"max error {err.max()}"


def test_shapes_bytes_and_bad_input():
    frame = np.zeros((2, 160), dtype=np.int16)
    assert ulaw_encode(frame).shape == (2, 160) and ulaw_encode(frame).dtype == np.uint8
    assert np.array_equal(ulaw_decode(bytes([0xFF, 0x7F])), [0, 0])
    assert alaw_encode(np.array([1.4e6, -1.0e6])).tolist() == [0xAA, 0x2A]  # floats clip
    with pytest.raises(ValueError, match="0..255"):
        ulaw_decode(np.array([0, 300]))
    with pytest.raises(TypeError, match="uint8"):
        alaw_decode(np.array([0.5]))
