"""Write DTMF digits to a WAV file (16-bit mono).

Each digit sounds for --on-ms with --off-ms of silence between digits, at
--level-dbm0 (the mean of the two tone levels) with --twist-db (high group
minus low group), at --rate Hz.  Digits are 0-9, *, #, A-D.
"""

from __future__ import annotations

import argparse
import wave

from phonesim.dsp.dtmf import KEYS, DtmfGenerator
from phonesim.exc import BadAudioFile, ConfigError

NAME = "tones"
HELP = "write DTMF digits to a WAV file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("digits", metavar="DIGITS", help=f"keys to sound, from {KEYS}")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV file to write")
    parser.add_argument("--on-ms", type=float, default=80.0, help="tone duration per digit (default 80)")
    parser.add_argument("--off-ms", type=float, default=80.0, help="silence between digits (default 80)")
    parser.add_argument("--level-dbm0", type=float, default=-8.0, help="mean tone level (default -8)")
    parser.add_argument("--twist-db", type=float, default=2.0, help="high minus low level (default 2)")
    parser.add_argument("--rate", type=int, default=8000, help="sample rate in Hz (default 8000)")


def run(args: argparse.Namespace) -> int:
    bad = sorted({c for c in args.digits.upper() if c not in KEYS})
    if bad or not args.digits:
        raise ConfigError(f"DIGITS must be keys from {KEYS}, got {args.digits!r}")
    if args.on_ms <= 0 or args.off_ms < 0:
        raise ConfigError(f"--on-ms must be > 0 and --off-ms >= 0, got {args.on_ms} and {args.off_ms}")
    if not 1000 <= args.rate <= 384000:
        raise ConfigError(f"--rate must be 1000..384000 Hz, got {args.rate}")
    if args.level_dbm0 + abs(args.twist_db) / 2 > 0:
        raise ConfigError(f"--level-dbm0 {args.level_dbm0} with --twist-db {args.twist_db} would clip: "
                          "each tone must stay at or below 0 dBm0")
    gen = DtmfGenerator(args.rate, level_dbm0=args.level_dbm0, twist_db=args.twist_db)
    x = gen.digits(args.digits, on_ms=args.on_ms, off_ms=args.off_ms)
    try:
        with wave.open(args.output, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(args.rate)
            w.writeframes(x.astype("<i2").tobytes())
    except OSError as err:
        raise BadAudioFile(f"{args.output}: cannot write: {err.strerror or err}") from err
    print(f"{args.output}: {len(args.digits)} digits, {x.size / args.rate:.2f} s at {args.rate} Hz")
    return 0

