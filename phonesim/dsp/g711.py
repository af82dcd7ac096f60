"""ITU-T G.711 mu-law and A-law companding, bit-exact, by table lookup.

The SIP outside line carries G.711 (PCMU/PCMA) and the DTMF benchmarks run every
digit through a G.711 round trip, so these four functions must match the
standard bit for bit.  The tables are computed once, at import, with the
segment/quantisation rules of G.711 (the same arithmetic as the classic Sun
``g711.c``); encoding is then one lookup in a 65 536-entry table indexed by the
16-bit sample, decoding one lookup in a 256-entry table.  Both work on arrays
of any shape and allocate only the output.

Encoders take 16-bit linear PCM (``int16``; other integer or float input is
rounded and clipped to int16 first) and return ``uint8`` codes as they go on
the wire (mu-law with all bits inverted, A-law with even bits inverted).
Decoders take ``uint8`` codes and return ``int16``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode"]

_ULAW_BIAS = 0x84  # 132: added so every segment starts at a power of two
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias


def _segment(magnitude: np.ndarray, first_end: int) -> np.ndarray:
    """Segment number 0..8 of each magnitude; segment ``s`` ends at ``first_end * 2**s + ...``.

    The segment ends are ``(first_end + 1) << s`` minus one; 8 means "above the
    last segment" (only reachable for A-law if the caller did not clip).
    """
    ends = (np.int64(first_end + 1) << np.arange(8, dtype=np.int64)) - 1
    return np.searchsorted(ends, magnitude, side="left").astype(np.int64)


def _build_ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int64)
    value = pcm >> 2  # 14-bit
    negative = value < 0
    magnitude = np.where(negative, -value, value)
    magnitude = np.minimum(magnitude, _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(magnitude, 0x3F)
    mantissa = (magnitude >> np.minimum(seg + 1, 15)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | mantissa)
    mask = np.where(negative, 0x7F, 0xFF)
    table = (code ^ mask).astype(np.uint8)
    # index by the int16's bit pattern viewed as uint16
    return np.roll(table, -32768)


def _build_ulaw_decode_table() -> np.ndarray:
    code = (~np.arange(256, dtype=np.int64)) & 0xFF
    t = ((code & 0x0F) << 3) + _ULAW_BIAS
    t = t << ((code & 0x70) >> 4)
    linear = np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS)
    return linear.astype(np.int16)


def _build_alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int64)
    value = pcm >> 3  # 13-bit
    negative = value < 0
    magnitude = np.where(negative, -value - 1, value)
    seg = _segment(magnitude, 0x1F)
    shift = np.where(seg < 2, 1, seg)
    mantissa = (magnitude >> np.minimum(shift, 15)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | mantissa)
    mask = np.where(negative, 0x55, 0xD5)
    table = (code ^ mask).astype(np.uint8)
    return np.roll(table, -32768)


def _build_alaw_decode_table() -> np.ndarray:
    code = np.arange(256, dtype=np.int64) ^ 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    linear = np.where(code & 0x80, t, -t)
    return linear.astype(np.int16)


_ULAW_ENCODE = _build_ulaw_encode_table()
_ULAW_DECODE = _build_ulaw_decode_table()
_ALAW_ENCODE = _build_alaw_encode_table()
_ALAW_DECODE = _build_alaw_decode_table()
for _table in (_ULAW_ENCODE, _ULAW_DECODE, _ALAW_ENCODE, _ALAW_DECODE):
    _table.flags.writeable = False


def _as_int16(samples) -> np.ndarray:
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x
    if np.issubdtype(x.dtype, np.integer):
        return np.clip(x, -32768, 32767).astype(np.int16)
    if np.issubdtype(x.dtype, np.floating):
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    raise TypeError(f"G.711 encode: expected int16 PCM samples, got dtype {x.dtype}")


def _as_codes(codes) -> np.ndarray:
    c = np.asarray(codes)
    if c.dtype == np.uint8:
        return c
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(codes, dtype=np.uint8)
    if not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"G.711 decode: expected uint8 codes, got dtype {c.dtype}")
    if c.size and (c.min() < 0 or c.max() > 255):
        raise ValueError(f"G.711 decode: expected codes 0..255, got {c.min()}..{c.max()}")
    return c.astype(np.uint8)


def ulaw_encode(samples) -> np.ndarray:
    """Encode 16-bit PCM to mu-law codes (``uint8``, same shape)."""
    return _ULAW_ENCODE[_as_int16(samples).view(np.uint16)]


def ulaw_decode(codes) -> np.ndarray:
    """Decode mu-law codes (``uint8`` or ``bytes``) to 16-bit PCM (``int16``)."""
    return _ULAW_DECODE[_as_codes(codes)]


def alaw_encode(samples) -> np.ndarray:
    """Encode 16-bit PCM to A-law codes (``uint8``, same shape)."""
    return _ALAW_ENCODE[_as_int16(samples).view(np.uint16)]


def alaw_decode(codes) -> np.ndarray:
    """Decode A-law codes (``uint8`` or ``bytes``) to 16-bit PCM (``int16``)."""
    return _ALAW_DECODE[_as_codes(codes)]
