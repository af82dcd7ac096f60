"""Decode DTMF digits from WAV files.

Any WAV (any rate, 8/16/24/32-bit PCM, float, G.711, any number of channels) is
mixed to mono and resampled to 8 kHz as it is read, a block at a time, and
decoded with phonesim's DTMF detector: a recording of any length costs the same
memory.  With one file only the digits are printed; with several, PATH<TAB>DIGITS
per file.  --events prints one line per digit (start and end in ms, tone levels
in dBm0, twist); --json prints JSON lines instead.  A file that cannot be read
(missing, not a regular file, not a WAV, a header out of bounds) is reported on
stderr and the others are still decoded (exit status 1).  --plot OUT.png draws a
spectrogram with the detected digits marked (one file of at most 10 minutes;
needs matplotlib: the 'plot' extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from phonesim.commands import clean
from phonesim.dsp.dtmf import DIGIT_DTYPE, DtmfDetector
from phonesim.exc import BadAudioFile, PhoneSimError
from phonesim.hw.audio_file import WavReader

NAME = "decode"
HELP = "decode DTMF digits from WAV files"
RATE_HZ = 8000
#: The longest file --plot draws (its whole 8 kHz audio is kept for the figure).
PLOT_MAX_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="WAV files to decode")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--events", action="store_true",
                     help="one line per digit: file, digit, start/end ms, levels, twist")
    out.add_argument("--json", action="store_true", help="JSON lines, one per digit")
    parser.add_argument("--plot", metavar="OUT.png",
                        help=f"also write a spectrogram with the digits marked (one FILE of at most "
                             f"{PLOT_MAX_S:g} s)")


def _int16(block: np.ndarray) -> np.ndarray:
    if block.dtype == np.int16:
        return block
    return np.clip(np.round(block), -32768, 32767).astype(np.int16)


def decode_blocks(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """Digits in 8 kHz mono blocks (int16, or float in 16-bit units), fed one by one, as one
    structured array of :data:`phonesim.dsp.dtmf.DIGIT_DTYPE` (``digits["digit"]``,
    ``digits["start_sample"]``, ...).

    The detector's batch path (:meth:`DtmfDetector.feed_arrays`): a long recording's
    thousands of digits never become one Python object each.
    """
    det = DtmfDetector()
    found = [det.feed_arrays(_int16(block)) for block in blocks]
    # Silence at the end lets a digit that runs to the end of the file finish.
    found.append(det.feed_arrays(np.zeros(800, dtype=np.int16)))
    found = [f for f in found if f.size]
    return np.concatenate(found) if found else np.zeros(0, dtype=DIGIT_DTYPE)


def decode_samples(x: np.ndarray) -> np.ndarray:
    """Digits in 8 kHz mono samples (int16, or float in 16-bit units); see :func:`decode_blocks`."""
    return decode_blocks([x])


def decode_file(path: str, *, keep_audio: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The digits of a WAV file, streamed; with ``keep_audio`` also its 8 kHz samples (for --plot)."""
    with WavReader(path) as reader:
        if keep_audio and reader.duration_s > PLOT_MAX_S:
            raise BadAudioFile(f"{path}: --plot draws at most {PLOT_MAX_S:g} s, got a file of "
                               f"{reader.duration_s:.1f} s")
        kept: list[np.ndarray] = []

        def blocks():
            for block in reader.blocks_8k():
                if keep_audio:
                    kept.append(block)
                yield block

        digits = decode_blocks(blocks())
    if not keep_audio:
        return digits, None
    return digits, np.concatenate(kept).astype(np.float64) if kept else np.zeros(0)


def _ms(sample: int) -> float:
    return round(sample * 1000 / RATE_HZ, 1)


def run(args: argparse.Namespace) -> int:
    if args.plot and len(args.files) != 1:
        raise PhoneSimError(f"--plot takes exactly one FILE, got {len(args.files)}")
    status = 0
    for name in args.files:
        try:
            digits, x = decode_file(name, keep_audio=bool(args.plot))
        except BadAudioFile as err:
            print(f"phonesim decode: error: {clean(err)}", file=sys.stderr)
            status = 1
            continue
        text = "".join(digits["digit"].tolist())
        if args.json:
            for digit, start, end, low, high, twist, _ in digits.tolist():
                print(json.dumps({"file": name, "digit": digit, "start_ms": _ms(start), "end_ms": _ms(end),
                                  "low_dbm0": low, "high_dbm0": high, "twist_db": twist}))
        elif args.events:
            for digit, start, end, low, high, twist, _ in digits.tolist():
                print(f"{name}\t{digit}\t{_ms(start):.1f}\t{_ms(end):.1f}\t{low:.1f}\t{high:.1f}\t{twist:+.1f}")
        elif len(args.files) == 1:
            print(text)
        else:
            print(f"{name}\t{text}")
        if args.plot:
            plot_spectrogram(x, digits, args.plot, title=Path(name).name)
    return status


def plot_spectrogram(x: np.ndarray, digits: np.ndarray, out_path: str, *, title: str = "") -> None:
    """Write a spectrogram PNG of ``x`` (8 kHz) with each digit's span and key marked
    (``digits`` as :func:`decode_samples` returns them)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        from phonesim.exc import BackendUnavailable

        raise BackendUnavailable("--plot needs matplotlib: pip install 'phonesim[plot]'") from err
    from phonesim.dsp.dtmf import COL_HZ, ROW_HZ

    fig, ax = plt.subplots(figsize=(max(6.0, min(30.0, x.size / RATE_HZ * 2)), 4), dpi=100)
    if x.size >= 256:
        # A whisper of noise keeps log10 finite in digital silence.
        dither = np.random.default_rng(0).normal(0, 0.1, x.size)
        ax.specgram(x + dither, NFFT=256, Fs=RATE_HZ, noverlap=192, cmap="magma", vmin=-20)
    for f in ROW_HZ + COL_HZ:
        ax.axhline(f, color="white", lw=0.3, alpha=0.4)
    for digit, start, end, *_ in digits.tolist():
        t0, t1 = start / RATE_HZ, end / RATE_HZ
        ax.axvspan(t0, t1, ymin=0.88, ymax=1.0, color="cyan", alpha=0.35)
        ax.axvline(t0, color="cyan", lw=0.6, alpha=0.7)
        ax.axvline(t1, color="cyan", lw=0.6, alpha=0.7, ls="--")
        ax.text((t0 + t1) / 2, 3800, digit, ha="center", va="top", color="cyan", fontsize=12, weight="bold")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_ylim(0, 4000)
    ax.set_title(f"{title}: {''.join(digits['digit'].tolist()) or '(no digits)'}")
    fig.tight_layout()
    try:
        fig.savefig(out_path)
    except OSError as err:
        raise BadAudioFile(f"{out_path}: cannot write the plot: {err.strerror or err}") from err
    finally:
        plt.close(fig)
