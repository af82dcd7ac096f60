"""Decode DTMF digits from WAV files.

Any WAV (any rate, 8/16/24/32-bit, any number of channels) is mixed to mono and
resampled to 8 kHz, then decoded with phonesim's DTMF detector.  With one file
only the digits are printed; with several, PATH<TAB>DIGITS per file.  --events
prints one line per digit (start and end in ms, tone levels in dBm0, twist);
--json prints JSON lines instead.  A file that cannot be read is reported on
stderr and the others are still decoded (exit status 1).  --plot OUT.png draws
a spectrogram with the detected digits marked (needs matplotlib: the 'plot'
extra).
"""

from __future__ import annotations

import argparse
import json
import sys
import wave
from pathlib import Path

import numpy as np

from phonesim.dsp.dtmf import DtmfDetector, DtmfDigit
from phonesim.exc import BadAudioFile, PhoneSimError

NAME = "decode"
HELP = "decode DTMF digits from WAV files"
RATE_HZ = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="WAV files to decode")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--events", action="store_true",
                     help="one line per digit: file, digit, start/end ms, levels, twist")
    out.add_argument("--json", action="store_true", help="JSON lines, one per digit")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="also write a spectrogram with the digits marked (one FILE only)")


def read_wav_8k(path: str | Path) -> np.ndarray:
    """Read any PCM WAV as 8 kHz mono float64 in 16-bit units.

    Raises
    ------
    BadAudioFile
        The file is missing, not a WAV, or in an encoding we do not read.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except FileNotFoundError as err:
        raise BadAudioFile(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise BadAudioFile(f"{path}: is a directory, expected a WAV file") from err
    except (wave.Error, EOFError) as err:
        # Python 3.11's wave reads only plain PCM; float and WAVE_FORMAT_EXTENSIBLE files
        # (what sox and many recorders write) go through a small RIFF reader.
        rate, width, channels, raw, is_float = _read_riff(path, err)
        raw = raw[: len(raw) - len(raw) % width]
        if is_float:
            x = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float64) * 32768.0
            return _to_mono_8k(x, rate, channels, path)
        return _to_mono_8k(_pcm_to_float(raw, width, path), rate, channels, path)
    except OSError as err:
        raise BadAudioFile(f"{path}: cannot read: {err.strerror or err}") from err
    return _to_mono_8k(_pcm_to_float(raw, width, path), rate, channels, path)


def _to_mono_8k(x: np.ndarray, rate: int, channels: int, path: Path | None = None) -> np.ndarray:
    if rate <= 0 or channels <= 0:
        raise BadAudioFile(f"{path}: bad WAV header (rate {rate}, channels {channels})")
    usable = x.size - x.size % channels
    x = x[:usable].reshape(-1, channels).mean(axis=1)
    if rate != RATE_HZ:
        from phonesim.dsp.resample import resample_once

        x = resample_once(x, rate, RATE_HZ)
    return x


_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _read_riff(path: Path, first_error: Exception) -> tuple[int, int, int, bytes, bool]:
    """(rate, bytes per sample, channels, data, is_float) of a float or extensible WAV."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise BadAudioFile(f"{path}: not a WAV file ({first_error})") from first_error
    fmt = None
    at = 12
    while at + 8 <= len(data):
        chunk, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        body = data[at + 8:at + 8 + size]
        if chunk == b"fmt " and len(body) >= 16:
            tag = int.from_bytes(body[0:2], "little")
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")
            bits = int.from_bytes(body[14:16], "little")
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = int.from_bytes(body[24:26], "little")  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data" and fmt is not None:
            tag, channels, rate, bits = fmt
            if tag == _PCM and bits in (8, 16, 24, 32):
                return rate, bits // 8, channels, body, False
            if tag == _FLOAT and bits in (32, 64):
                return rate, bits // 8, channels, body, True
            raise BadAudioFile(f"{path}: WAV encoding {tag} with {bits}-bit samples is not supported "
                               "(expected PCM 8/16/24/32-bit or float 32/64-bit)")
        at += 8 + size + (size & 1)
    raise BadAudioFile(f"{path}: not a usable WAV file ({first_error})") from first_error


def _pcm_to_float(raw: bytes, width: int, path: Path) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if width == 3:
        b = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float64) / 256.0
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    raise BadAudioFile(f"{path}: {8 * width}-bit samples are not supported (expected 8, 16, 24 or 32-bit PCM)")


def decode_samples(x: np.ndarray) -> list[DtmfDigit]:
    """Digits in 8 kHz mono samples (float in 16-bit units)."""
    x = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    det = DtmfDetector()
    # Silence at the end lets a digit that runs to the end of the file finish.
    return det.feed(x) + det.feed(np.zeros(800, dtype=np.int16))


def _ms(sample: int) -> float:
    return round(sample * 1000 / RATE_HZ, 1)


def run(args: argparse.Namespace) -> int:
    if args.plot and len(args.files) != 1:
        raise PhoneSimError(f"--plot takes exactly one FILE, got {len(args.files)}")
    status = 0
    for name in args.files:
        try:
            x = read_wav_8k(name)
        except BadAudioFile as err:
            print(f"phonesim decode: error: {err}", file=sys.stderr)
            status = 1
            continue
        digits = decode_samples(x)
        text = "".join(d.digit for d in digits)
        if args.json:
            for d in digits:
                print(json.dumps({"file": name, "digit": d.digit, "start_ms": _ms(d.start_sample),
                                  "end_ms": _ms(d.end_sample), "low_dbm0": d.low_dbm0,
                                  "high_dbm0": d.high_dbm0, "twist_db": d.twist_db}))
        elif args.events:
            for d in digits:
                print(f"{name}\t{d.digit}\t{_ms(d.start_sample):.1f}\t{_ms(d.end_sample):.1f}\t"
                      f"{d.low_dbm0:.1f}\t{d.high_dbm0:.1f}\t{d.twist_db:+.1f}")
        elif len(args.files) == 1:
            print(text)
        else:
            print(f"{name}\t{text}")
        if args.plot:
            plot_spectrogram(x, digits, args.plot, title=Path(name).name)
    return status


def plot_spectrogram(x: np.ndarray, digits: list[DtmfDigit], out_path: str, *, title: str = "") -> None:
    """Write a spectrogram PNG of ``x`` (8 kHz) with each digit's span and key marked."""
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
    for d in digits:
        t0, t1 = d.start_sample / RATE_HZ, d.end_sample / RATE_HZ
        ax.axvspan(t0, t1, ymin=0.88, ymax=1.0, color="cyan", alpha=0.35)
        ax.axvline(t0, color="cyan", lw=0.6, alpha=0.7)
        ax.axvline(t1, color="cyan", lw=0.6, alpha=0.7, ls="--")
        ax.text((t0 + t1) / 2, 3800, d.digit, ha="center", va="top", color="cyan", fontsize=12, weight="bold")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_ylim(0, 4000)
    ax.set_title(f"{title}: {''.join(d.digit for d in digits) or '(no digits)'}")
    fig.tight_layout()
    try:
        fig.savefig(out_path)
    except OSError as err:
        raise BadAudioFile(f"{out_path}: cannot write the plot: {err.strerror or err}") from err
    finally:
        plt.close(fig)
