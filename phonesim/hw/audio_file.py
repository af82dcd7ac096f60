"""WAV files: the one reader (streaming, header checked) and ``file://IN.wav?out=OUT.wav``.

Every WAV phonesim reads — a recording to decode or to search for three-way
calling, the microphone of a ``file://`` port, a prompt, the robot's speech —
goes through :class:`WavReader`, because a file is input like any other and its
header is a claim, not a fact:

* **Only regular files.**  The path is opened (symlinks followed, without
  blocking on a FIFO) and the opened file is checked: a directory, a device such
  as ``/dev/zero`` (which would read for ever) or a FIFO is refused.
* **Sane headers.**  The sample rate must be :data:`MIN_RATE_HZ` ..
  :data:`MAX_RATE_HZ` and a multiple of 8, 10 or 25 Hz (every rate in use is;
  the resampling filter for 8 kHz then has at most 1000 phases, so its size is
  bounded), 1 .. :data:`MAX_CHANNELS` channels, PCM of 8/16/24/32 bits, float of
  32/64 bits or G.711 (A-law, mu-law), a block size that matches them; every
  chunk must fit in the file (a ``data`` chunk that claims more than the file
  holds, as a recording cut off by a crash or a streamed WAV with size
  ``0xFFFFFFFF`` does, is read to the end of the file: :attr:`WavReader.truncated`).
* **Bounded memory.**  Audio is read :data:`READ_BYTES` at a time at most and
  resampled to 8 kHz by a stateful filter as it goes (:func:`iter_wav_8k`), so a
  two-hour 48 kHz recording costs the same memory as a two-second one.  The
  whole-file helpers (:func:`read_wav_8k`, :func:`read_wav_as_line`) refuse files
  longer than ``max_s`` (:data:`WHOLE_FILE_MAX_S` by default).

Every refusal is a :class:`~phonesim.exc.BadAudioFile` naming the file, what was
expected and what came.

The ``file://`` port: the input file is streamed 20 ms at a time (the same
samples, sample for sample, as reading it whole); after its end the microphone
is silent and ``finished`` is True.  The earpiece side is written to ``out`` (8
kHz, 16-bit, mono) as frames arrive; without ``out`` it is discarded.  An empty
IN (``file://?out=OUT.wav``) is a silent microphone.  This port does file I/O on
the caller's thread: it is meant for the virtual-time driver, never for a live
headset.
"""

from __future__ import annotations

import os
import stat
import struct
import wave
from collections.abc import Iterable, Iterator
from math import gcd
from pathlib import Path

import numpy as np

from phonesim.clock import FRAME_SAMPLES, SAMPLE_RATE_HZ
from phonesim.dsp.g711 import alaw_decode, ulaw_decode
from phonesim.dsp.resample import Resampler
from phonesim.exc import BadAudioFile, InvalidUrl

from .audio import AudioPort, check_query

__all__ = ["WavReader", "WavWriter", "FileAudioPort", "iter_wav_8k", "rechunk", "read_wav_8k",
           "read_wav_as_line", "open_file_url", "MIN_RATE_HZ", "MAX_RATE_HZ", "MAX_CHANNELS"]

#: Sample rates accepted (and a multiple of 8, 10 or 25 Hz, see the module docstring).
MIN_RATE_HZ = 4000
MAX_RATE_HZ = 192_000
MAX_CHANNELS = 64
#: The most bytes read from a file at once: with the resampler's state, the memory ceiling.
READ_BYTES = 1 << 20
#: Frames per block when the caller does not say (about 0.34 s at 48 kHz).
DEFAULT_CHUNK_FRAMES = 16_384
#: The longest file the whole-file helpers return as one array (10 min: 38 MB of float64).
WHOLE_FILE_MAX_S = 600.0
#: A ``fmt`` chunk is 16, 18 or 40 bytes; anything near this is not one.
MAX_FMT_BYTES = 1024
#: Chunks skipped before ``data`` (LIST, fact, cue ... a handful in real files).
MAX_CHUNKS = 1000

_PCM, _ALAW, _ULAW, _FLOAT, _EXTENSIBLE = 1, 6, 7, 3, 0xFFFE
_ENCODINGS = {_PCM: "pcm", _FLOAT: "float", _ALAW: "alaw", _ULAW: "ulaw"}
_EXPECTED_ENCODINGS = "PCM 8/16/24/32-bit, float 32/64-bit, or G.711 A-law/mu-law 8-bit"
_UNKNOWN_LENGTH = 0xFFFFFFFF


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular_file(path: str | os.PathLike, what: str = "a WAV file"):
    """Open ``path`` for reading in binary, refusing anything but a regular file.

    Symlinks are followed and the *opened* file is checked (no race between a
    check and the open); a FIFO is opened without blocking.  Returns ``(file,
    size_bytes)``; raises :class:`BadAudioFile` naming the file and what it is.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as err:
        raise BadAudioFile(f"{path}: expected {what}, got no such file") from err
    except IsADirectoryError as err:
        raise BadAudioFile(f"{path}: expected {what}, got a directory") from err
    except OSError as err:
        raise BadAudioFile(f"{path}: expected {what}, got a file that cannot be opened "
                           f"({err.strerror or err})") from err
    except ValueError as err:  # a NUL byte in the name
        raise BadAudioFile(f"{str(path)!r}: expected {what}, got a name the system refuses ({err})") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            target = os.path.realpath(path)
            shown = f" ({target})" if target != str(path) else ""
            raise BadAudioFile(f"{path}: expected {what}, got {_kind_of(info.st_mode)}{shown}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def check_rate(rate_hz: int, *, source: str) -> None:
    """Refuse a sample rate outside the limits of the module docstring."""
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ or gcd(rate_hz, SAMPLE_RATE_HZ) < 8:
        raise BadAudioFile(f"{source}: expected a sample rate of {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz "
                           f"(a multiple of 8, 10 or 25 Hz), got {rate_hz} Hz")


class WavReader:
    """An open WAV file whose header was checked; audio is read in bounded blocks.

    Attributes: ``path``, ``rate_hz``, ``channels``, ``width_bytes`` (bytes per
    sample in the file), ``encoding`` (``pcm`` | ``float`` | ``alaw`` | ``ulaw``),
    ``frames`` (sample frames available), ``claimed_frames`` (what the header
    says), ``truncated`` (the header claimed more than the file holds), ``duration_s``.  A context manager; ``close()`` is idempotent.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file, self.file_bytes = open_regular_file(self.path)
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    # --- the header -------------------------------------------------------------------
    def _bad(self, message: str) -> BadAudioFile:
        return BadAudioFile(f"{self.path}: {message}")

    def _parse(self) -> None:
        head = self._file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise self._bad(f"expected a WAV file (starting 'RIFF....WAVE'), got {head[:12]!r}")
        fmt = None
        at, size = 12, self.file_bytes
        for _ in range(MAX_CHUNKS):
            self._file.seek(at)
            header = self._file.read(8)
            if len(header) < 8:
                break
            chunk, length = header[:4], int.from_bytes(header[4:], "little")
            body, left = at + 8, size - at - 8
            name = chunk.decode("latin-1")
            if chunk == b"data":
                if fmt is None:
                    raise self._bad("expected a 'fmt ' chunk before the 'data' chunk, got 'data' first")
                self._data_at = body
                available = left - left % self.block_bytes
                claimed = length - length % self.block_bytes
                self.truncated = length > left
                self.claimed_frames = claimed // self.block_bytes
                self.frames = (available if self.truncated else claimed) // self.block_bytes
                self.duration_s = self.frames / self.rate_hz
                self._left_bytes = self.frames * self.block_bytes
                return
            if length > left:
                raise self._bad(f"expected chunk {name!r} to fit in the file ({left} bytes left), "
                                f"got a size of {length} bytes")
            if chunk == b"fmt ":
                if not 16 <= length <= MAX_FMT_BYTES:
                    raise self._bad(f"expected a 'fmt ' chunk of 16..{MAX_FMT_BYTES} bytes, got {length}")
                fmt = self._parse_fmt(self._file.read(length))
            at = body + length + (length & 1)
        else:
            raise self._bad(f"expected the 'data' chunk within the first {MAX_CHUNKS} chunks, got more")
        raise self._bad("expected a 'fmt ' and a 'data' chunk, got " +
                        ("no 'data' chunk" if fmt else "neither") + f" in {size} bytes")

    def _parse_fmt(self, body: bytes) -> bool:
        tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
        if tag == _EXTENSIBLE:
            if len(body) < 40:
                raise self._bad(f"expected a 40-byte WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk, got {len(body)} bytes")
            tag = int.from_bytes(body[24:26], "little")  # the first two bytes of the sub-format GUID
        encoding = _ENCODINGS.get(tag)
        width = (bits + 7) // 8 if encoding == "pcm" else bits // 8 if bits % 8 == 0 else 0  # 12-bit: 2 bytes
        ok_widths = {"pcm": (1, 2, 3, 4), "float": (4, 8), "alaw": (1,), "ulaw": (1,)}.get(encoding, ())
        if encoding is None or width not in ok_widths:
            raise self._bad(f"expected {_EXPECTED_ENCODINGS}, got encoding {tag} with {bits}-bit samples")
        if not 1 <= channels <= MAX_CHANNELS:
            raise self._bad(f"expected 1..{MAX_CHANNELS} channels, got {channels}")
        check_rate(rate, source=str(self.path))
        if block_align != channels * width:
            raise self._bad(f"expected a block size of {channels} channel(s) x {width} byte(s) = "
                            f"{channels * width} bytes, got {block_align}")
        self.rate_hz, self.channels, self.width_bytes, self.encoding = rate, channels, width, encoding
        self.block_bytes = block_align
        return True

    # --- the audio ----------------------------------------------------------------------
    def blocks(self, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Iterator[np.ndarray]:
        """The audio as float64 arrays of shape ``(frames, channels)`` in 16-bit units.

        At most ``chunk_frames`` frames and :data:`READ_BYTES` bytes per block.
        Reads from where the last call stopped; a file that shrinks ends early.
        """
        if self._file is None:
            raise BadAudioFile(f"{self.path}: the reader is closed")
        per_block = max(1, min(int(chunk_frames), READ_BYTES // self.block_bytes))
        self._file.seek(self._data_at)
        while self._left_bytes > 0:
            want = min(self._left_bytes, per_block * self.block_bytes)
            raw = self._file.read(want)
            raw = raw[: len(raw) - len(raw) % self.block_bytes]
            if not raw:
                self._left_bytes = 0
                return
            self._left_bytes -= len(raw)
            self._data_at += len(raw)
            yield self._decode(raw).reshape(-1, self.channels)

    def _decode(self, raw: bytes) -> np.ndarray:
        if self.encoding == "float":
            x = np.frombuffer(raw, dtype="<f4" if self.width_bytes == 4 else "<f8").astype(np.float64)
            x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)  # full scale is +-1
            return x * 32768.0
        if self.encoding == "ulaw":
            return ulaw_decode(np.frombuffer(raw, dtype=np.uint8)).astype(np.float64)
        if self.encoding == "alaw":
            return alaw_decode(np.frombuffer(raw, dtype=np.uint8)).astype(np.float64)
        return _pcm_to_float(raw, self.width_bytes)

    def blocks_8k(self, *, channel: int | None = None,
                  chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Iterator[np.ndarray]:
        """The audio as int16 blocks at 8 kHz (see :func:`iter_wav_8k`)."""
        for block in _iter_float_8k(self, channel, chunk_frames):
            yield _to_int16(block)

    def close(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> WavReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if not hasattr(self, "frames"):
            return f"<WavReader {str(self.path)!r} (bad header)>"
        return (f"<WavReader {str(self.path)!r} {self.rate_hz} Hz {self.channels} ch {self.encoding} "
                f"{8 * self.width_bytes}-bit, {self.duration_s:.2f} s"
                + (", truncated" if self.truncated else "") + (", closed" if self._file is None else "") + ">")


def _pcm_to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float64) / 256.0
    return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0


def _select(block: np.ndarray, channel: int | None, reader: WavReader) -> np.ndarray:
    if channel is None:
        return block.mean(axis=1) if reader.channels > 1 else block[:, 0]
    return block[:, channel]


def _check_channel(reader: WavReader, channel: int | None) -> None:
    if channel is not None and not -reader.channels <= channel < reader.channels:
        raise BadAudioFile(f"{reader.path}: expected a channel of 0..{reader.channels - 1}, got {channel} "
                           f"(the file has {reader.channels})")


def _iter_float_8k(reader: WavReader, channel: int | None, chunk_frames: int) -> Iterator[np.ndarray]:
    """8 kHz mono float64 blocks; exactly :func:`~phonesim.dsp.resample.resample_once` of the whole."""
    _check_channel(reader, channel)
    if reader.rate_hz == SAMPLE_RATE_HZ:
        for block in reader.blocks(chunk_frames):
            yield _select(block, channel, reader)
        return
    r = Resampler(reader.rate_hz, SAMPLE_RATE_HZ)
    skip, emitted, consumed = r.delay_samples, 0, 0
    for block in reader.blocks(chunk_frames):
        consumed += len(block)
        y = r.process(_select(block, channel, reader))
        cut = min(skip, len(y))
        skip -= cut
        if len(y) > cut:
            emitted += len(y) - cut
            yield y[cut:]
    n_out = int(round(consumed * r.up / r.down))
    y = r.flush()[skip:][: max(0, n_out - emitted)]
    if emitted + len(y) < n_out:
        y = np.concatenate((y, np.zeros(n_out - emitted - len(y))))
    if len(y):
        yield y


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def iter_wav_8k(path: str | os.PathLike, *, channel: int | None = None,
                chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Iterator[np.ndarray]:
    """A WAV file as int16 blocks at 8 kHz, in bounded memory whatever its length.

    ``channel``: None mixes every channel down (their mean); an index picks one
    (negative counts from the end: -1 is the right channel of a stereo file).
    ``chunk_frames``: file frames read per block.  The header is checked when the
    first block is asked for; errors are :class:`BadAudioFile`.
    """
    with WavReader(path) as reader:
        yield from reader.blocks_8k(channel=channel, chunk_frames=chunk_frames)


def rechunk(blocks: Iterable[np.ndarray], size: int, *, pad: bool = True) -> Iterator[np.ndarray]:
    """Blocks of any length as blocks of exactly ``size`` samples; a short last one is
    zero-padded (``pad``) or dropped."""
    pending: list[np.ndarray] = []
    have = 0
    for block in blocks:
        pending.append(block)
        have += len(block)
        if have < size:
            continue
        joined = np.concatenate(pending)
        whole = len(joined) - len(joined) % size
        yield from joined[:whole].reshape(-1, size)
        pending, have = [joined[whole:]], len(joined) - whole
    if have and pad:
        tail = np.concatenate(pending)
        yield np.concatenate((tail, np.zeros(size - len(tail), dtype=tail.dtype)))


def read_wav_8k(path: str | os.PathLike, *, max_s: float = WHOLE_FILE_MAX_S,
                channel: int | None = None) -> np.ndarray:
    """A whole WAV file as 8 kHz mono float64 in 16-bit units (any rate, width, channel count).

    For short files (prompts, test material): longer than ``max_s`` seconds is a
    :class:`BadAudioFile` (use :func:`iter_wav_8k` for long recordings).
    """
    with WavReader(path) as reader:
        if reader.duration_s > max_s:
            raise BadAudioFile(f"{reader.path}: expected at most {max_s:g} s of audio to read whole, "
                               f"got {reader.duration_s:.1f} s (stream it with iter_wav_8k)")
        parts = list(_iter_float_8k(reader, channel, DEFAULT_CHUNK_FRAMES))
    return np.concatenate(parts) if parts else np.zeros(0)


def read_wav_as_line(path: str | os.PathLike, *, max_s: float = WHOLE_FILE_MAX_S) -> np.ndarray:
    """A whole WAV file as 8 kHz mono int16 (resampled and mixed down if needed)."""
    return _to_int16(read_wav_8k(path, max_s=max_s))


class WavWriter:
    """A 16-bit PCM WAV being written; :class:`BadAudioFile` if the path cannot be.

    The file is opened here, not by :mod:`wave`, so a path that cannot be
    written leaves no half-made ``Wave_write`` behind (whose ``__del__`` prints
    "Exception ignored" noise).
    """

    def __init__(self, path: str | os.PathLike, rate_hz: int = SAMPLE_RATE_HZ, channels: int = 1) -> None:
        self.path = Path(path)
        try:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as err:
            raise BadAudioFile(f"{self.path}: expected a writable WAV path, got {err.strerror or err}") from err
        self._wav = wave.open(self._file, "wb")
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate_hz)

    def write(self, samples: np.ndarray) -> None:
        try:
            self._wav.writeframes(np.asarray(samples).astype("<i2", copy=False).tobytes())
        except OSError as err:
            raise BadAudioFile(f"{self.path}: cannot write: {err.strerror or err}") from err

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self._wav.close()
        except OSError as err:
            raise BadAudioFile(f"{self.path}: cannot write: {err.strerror or err}") from err
        finally:
            self._file.close()
            self._file = None

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileAudioPort(AudioPort):
    """Microphone from a WAV file (streamed), earpiece to a WAV file."""

    def __init__(self, in_path: str | os.PathLike | None, out_path: str | os.PathLike | None = None,
                 *, name: str | None = None) -> None:
        super().__init__(name or f"file://{in_path or ''}" + (f"?out={out_path}" if out_path else ""))
        self.in_path = Path(in_path) if in_path else None
        self.out_path = Path(out_path) if out_path else None
        self._reader = WavReader(self.in_path) if self.in_path else None
        self._total = 0
        self._frames: Iterator[np.ndarray] = iter(())
        if self._reader is not None:
            r = self._reader
            self._total = r.frames if r.rate_hz == SAMPLE_RATE_HZ else \
                int(round(r.frames * SAMPLE_RATE_HZ / r.rate_hz))
            self._frames = rechunk(r.blocks_8k(), FRAME_SAMPLES)
        self._pos = 0
        self._writer = None
        if self.out_path is not None:
            try:
                self._writer = WavWriter(self.out_path)
            except BadAudioFile:
                if self._reader is not None:
                    self._reader.close()
                raise

    @property
    def finished(self) -> bool:
        """True once every input sample has been read."""
        return self._pos >= self._total

    @property
    def duration_s(self) -> float:
        return self._total / SAMPLE_RATE_HZ

    def _read(self) -> np.ndarray:
        frame = next(self._frames, None)
        if frame is None:
            self._total = min(self._total, self._pos)   # the file ended early (it shrank)
            frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._pos += FRAME_SAMPLES
        return frame

    def _write(self, frame: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.write(frame)

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
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
