"""Write DTMF digits to a WAV file (16-bit mono).

Each digit sounds for --on-ms with --off-ms of silence between digits, at
--level-dbm0 (the mean of the two tone levels) with --twist-db (high group
minus low group), at --rate Hz (a rate ``phonesim decode`` reads back).  Digits
are 0-9, *, #, A-D.  The file is written a digit at a time, so its length costs
no memory; at most an hour of audio is written.
"""

from __future__ import annotations

import argparse

from phonesim.commands import number_in
from phonesim.dsp.dtmf import KEYS, DtmfGenerator
from phonesim.exc import UsageError
from phonesim.hw.audio_file import MAX_RATE_HZ, MIN_RATE_HZ, WavWriter, check_rate

#: The longest tone or gap, and the longest file.
MAX_MS = 10_000.0
MAX_TOTAL_S = 3600.0


def keys(text: str) -> str:
    """An argparse type: one or more DTMF keys."""
    if not text or any(c not in KEYS for c in text.upper()):
        raise argparse.ArgumentTypeError(f"DIGITS must be keys from {KEYS}, got {text!r}")
    return text.upper()


def sample_rate(text: str) -> int:
    """An argparse type: a rate the WAV reader accepts, so the file can be decoded again."""
    try:
        rate = int(text)
        check_rate(rate, source="--rate")
    except ValueError:   # not a whole number (BadAudioFile is a ValueError too)
        raise argparse.ArgumentTypeError(f"expected a sample rate of {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz "
                                         f"(a multiple of 8, 10 or 25 Hz), got {text!r}") from None
    return rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("digits", type=keys, metavar="DIGITS", help=f"keys to sound, from {KEYS}")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    parser.add_argument("--on-ms", type=number_in(1, MAX_MS, unit=" ms"), default=80.0,
                        help="tone duration per digit (default 80)")
    parser.add_argument("--off-ms", type=number_in(0, MAX_MS, unit=" ms"), default=80.0,
                        help="silence between digits (default 80)")
    parser.add_argument("--level-dbm0", type=number_in(-90, 0, unit=" dBm0"), default=-8.0,
                        help="mean tone level (default -8)")
    parser.add_argument("--twist-db", type=number_in(-20, 20, unit=" dB"), default=2.0,
                        help="high minus low level (default 2)")
    parser.add_argument("--rate", type=sample_rate, default=8000, help="sample rate in Hz (default 8000)")


def run(args: argparse.Namespace) -> int:
    if args.level_dbm0 + abs(args.twist_db) / 2 > 0:
        raise UsageError(f"--level-dbm0 {args.level_dbm0} with --twist-db {args.twist_db} would clip: "
                         "each tone must stay at or below 0 dBm0")
    total_s = (len(args.digits) * args.on_ms + (len(args.digits) - 1) * args.off_ms) / 1000
    if total_s > MAX_TOTAL_S:
        raise UsageError(f"expected at most {MAX_TOTAL_S:g} s of tones, got {len(args.digits)} digits "
                         f"making {total_s:.0f} s")
    gen = DtmfGenerator(args.rate, level_dbm0=args.level_dbm0, twist_db=args.twist_db)
    gap = gen.digits("", lead_ms=args.off_ms)
    samples = 0
    with WavWriter(args.output, args.rate) as out:
        for i, digit in enumerate(args.digits):
            tone = gen.digits(digit, on_ms=args.on_ms)
            if i:
                out.write(gap)
            out.write(tone)
            samples += len(tone) + (len(gap) if i else 0)
    print(f"{args.output}: {len(args.digits)} digits, {samples / args.rate:.2f} s at {args.rate} Hz")
    return 0
