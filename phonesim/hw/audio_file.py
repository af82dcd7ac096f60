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

__all__ = ["FileAudioPort", "read_wav_as_line", "open_file_url"]


def read_wav_as_line(path: str | Path) -> np.ndarray:
    """A WAV file as 8 kHz mono int16 (resampled and mixed down if needed)."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except FileNotFoundError as err:
        raise BadAudioFile(f"{path}: expected a WAV file, got no such file") from err
    except (wave.Error, EOFError, OSError) as err:
        raise BadAudioFile(f"{path}: expected a PCM WAV file, got an unreadable file ({err})") from err
    if width == 1:
        x = np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0
        x *= 256.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        x = v.astype(np.float64) / 256.0
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    else:  # pragma: no cover - wave refuses other widths already
        raise BadAudioFile(f"{path}: expected 8, 16, 24 or 32-bit PCM, got {8 * width}-bit")
    x = x[: len(x) // channels * channels]
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        x = resample_once(x, rate, SAMPLE_RATE_HZ)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


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
