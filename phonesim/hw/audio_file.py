"""A WAV file as the microphone, the earpiece written to a WAV (``file://IN.wav?out=OUT.wav``).

For reproducible runs and for decoding recordings: the whole input file is read
and converted to the 8 kHz line once, when the port opens (any rate, 8/16/24/32
bit PCM, channels averaged to mono), so the frames are the same however they
are read.  After the end of the input the microphone is silent and
``finished`` is True.  The earpiece side is written to ``out`` (8 kHz, 16-bit,
mono) as frames arrive; without ``out`` it is discarded.  An empty IN
(``file://?out=OUT.wav``) is a silent microphone.

This port does file I/O on the caller's thread: it is meant for the
virtual-time driver, never for a live headset.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from phonesim.clock import FRAME_SAMPLES, SAMPLE_RATE_HZ
from phonesim.dsp.resample import resample_once
from phonesim.exc import BadAudioFile, InvalidUrl

from .audio import AudioPort, check_query

__all__ = ["FileAudioPort", "read_wav_8k", "read_wav_as_line", "open_file_url"]


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
    if rate != SAMPLE_RATE_HZ:
        x = resample_once(x, rate, SAMPLE_RATE_HZ)
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


def read_wav_as_line(path: str | Path) -> np.ndarray:
    """A WAV file as 8 kHz mono int16 (resampled and mixed down if needed)."""
    return np.clip(np.rint(read_wav_8k(path)), -32768, 32767).astype(np.int16)


class FileAudioPort(AudioPort):
    """Microphone from a WAV file, earpiece to a WAV file."""

    def __init__(self, in_path: str | Path | None, out_path: str | Path | None = None,
                 *, name: str | None = None) -> None:
        super().__init__(name or f"file://{in_path or ''}" + (f"?out={out_path}" if out_path else ""))
        self.in_path = Path(in_path) if in_path else None
        self.out_path = Path(out_path) if out_path else None
        self._samples = read_wav_as_line(self.in_path) if self.in_path else np.zeros(0, np.int16)
        self._pos = 0
        self._writer = None
        if self.out_path is not None:
            try:
                self._writer = wave.open(str(self.out_path), "wb")
            except OSError as err:
                raise BadAudioFile(f"{self.out_path}: expected a writable WAV path, got {err}") from err
            self._writer.setnchannels(1)
            self._writer.setsampwidth(2)
            self._writer.setframerate(SAMPLE_RATE_HZ)

    @property
    def finished(self) -> bool:
        """True once every input sample has been read."""
        return self._pos >= len(self._samples)

    @property
    def duration_s(self) -> float:
        return len(self._samples) / SAMPLE_RATE_HZ

    def _read(self) -> np.ndarray:
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        chunk = self._samples[self._pos:self._pos + FRAME_SAMPLES]
        frame[:len(chunk)] = chunk
        self._pos += FRAME_SAMPLES
        return frame

    def _write(self, frame: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.writeframes(frame.astype("<i2", copy=False).tobytes())

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __repr__(self) -> str:
        base = super().__repr__()[:-1]
        return f"{base} at {self._pos / SAMPLE_RATE_HZ:.2f}/{self.duration_s:.2f} s>"


def open_file_url(url: str, parts, query: dict[str, str]) -> FileAudioPort:
    check_query(url, query, ("out",), "file://IN.wav?out=OUT.wav")
    in_path = parts.netloc + parts.path
    out_path = query.get("out") or None
    if not in_path and not out_path:
        raise InvalidUrl(f"audio URL: expected 'file://IN.wav?out=OUT.wav', got {url!r}")
    return FileAudioPort(in_path or None, out_path, name=url)
