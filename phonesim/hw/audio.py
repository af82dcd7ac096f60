"""Audio ports: the headset (or its stand-ins) as a stream of 20 ms frames.

An :class:`AudioPort` is one end of a telephone audio path at the line rate:
``read_frame()`` returns the next 160 samples (8 kHz int16) from the
microphone, ``write_frame(frame)`` sends 160 samples to the earpiece.  The
device may run at another rate (USB headsets: 48 kHz); the port resamples at
this boundary with stateful filters, so nothing above ``hw/`` ever sees
anything but 8 kHz frames.

Backends, chosen by URL with :func:`open_audio`:

==============================================  ========================================================
``pyaudio://?device=NAME&rate=48000``           a real device through PortAudio (``audio_pyaudio``); NAME is a
                                                substring of the device name; default: the system default
``loopback://NAME[?end=a|b]``                   a named in-process duplex channel with two ends (``audio_loopback``)
``file://IN.wav?out=OUT.wav``                   a WAV file as the microphone, the earpiece written to a WAV
``null://``                                     silence in, everything out discarded
==============================================  ========================================================

Real-time rules every backend keeps (docs/architecture.md):

* ``read_frame`` and ``write_frame`` always move exactly one full frame; they
  never allocate more than a frame-sized array, never log, never touch a file
  or database on the caller's thread (``file://`` is the deliberate exception:
  it is not real-time), and never block for ever: a device that stops
  delivering raises :class:`~phonesim.exc.AudioDeviceError` after a timeout.
* A port whose ``read_frame`` blocks until the device has produced the frame
  has ``paced = True``: the device is then the clock, and the real-time driver
  does not sleep.  Loopback, file and null ports never block (``paced =
  False``): the virtual-time driver runs them as fast as the CPU allows.
* Audio lost to an input overflow is counted in ``overflows`` and its length in
  samples is returned once by :meth:`AudioPort.take_lost_samples`, so the DTMF
  detector can ``fill_in()`` the gap instead of joining two halves of
  different tones; output underflows (the earpiece ran dry) are counted in
  ``underflows``.
* Ports are context managers; ``close()`` is idempotent; using a closed port
  raises :class:`~phonesim.exc.DeviceClosed`.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qs, urlsplit

import numpy as np

from phonesim.clock import FRAME_SAMPLES, SAMPLE_RATE_HZ
from phonesim.exc import DeviceClosed, InvalidInput, InvalidUrl, NotSupported

__all__ = ["AudioPort", "NullAudioPort", "open_audio", "AUDIO_SCHEMES", "parse_audio_url"]

#: URL scheme -> "module:callable" taking (url, parts, query) and returning an AudioPort.
AUDIO_SCHEMES: dict[str, str] = {
    "pyaudio": "phonesim.hw.audio_pyaudio:open_pyaudio_url",
    "loopback": "phonesim.hw.audio_loopback:open_loopback_url",
    "file": "phonesim.hw.audio_file:open_file_url",
    "null": "phonesim.hw.audio:open_null_url",
}

_URL_FORMS = ("'pyaudio://?device=NAME&rate=48000', 'loopback://NAME[?end=a|b]', "
              "'file://IN.wav?out=OUT.wav' or 'null://'")


class AudioPort:
    """Base of all audio ports: frame API, format checks, counters, closing.

    Subclasses implement ``_read() -> int16[160]``, ``_write(frame)`` and
    optionally ``_close()``.
    """

    sample_rate_hz = SAMPLE_RATE_HZ
    frame_samples = FRAME_SAMPLES
    #: True if read_frame() blocks until the device produced the frame (the device is the clock).
    paced = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.overflows = 0
        self.underflows = 0
        self.frames_read = 0
        self.frames_written = 0
        self._lost_samples = 0
        self._closed = False

    # --- the frame API -------------------------------------------------------
    def read_frame(self) -> np.ndarray:
        """The next 20 ms from the microphone: int16, 160 samples."""
        self._check_open("read_frame")
        frame = self._read()
        self.frames_read += 1
        return frame

    def write_frame(self, frame) -> None:
        """Send 20 ms (int16, 160 samples) to the earpiece."""
        self._check_open("write_frame")
        if (not isinstance(frame, np.ndarray) or frame.dtype != np.int16
                or frame.shape != (FRAME_SAMPLES,)):
            got = (f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray)
                   else type(frame).__name__)
            raise InvalidInput(f"{self.name}: write_frame expected an int16 array of "
                             f"{FRAME_SAMPLES} samples, got {got}")
        self._write(frame)
        self.frames_written += 1

    def take_lost_samples(self) -> int:
        """Samples (8 kHz) lost to input overflow since the last call; resets to 0."""
        lost, self._lost_samples = self._lost_samples, 0
        return lost

    def _note_lost(self, samples: int) -> None:
        """Backends call this when input audio was dropped."""
        self.overflows += 1
        self._lost_samples += int(samples)

    # --- lifecycle -----------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the device; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._close()

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise DeviceClosed(f"{self.name}: {what} on a closed audio port")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten port must not keep a device or thread alive
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"<{type(self).__name__} {self.name!r} {state} read={self.frames_read} "
                f"written={self.frames_written} overflows={self.overflows} "
                f"underflows={self.underflows}>")

    # --- for subclasses ------------------------------------------------------
    def _read(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotSupported(f"{type(self).__name__} does not implement _read()")

    def _write(self, frame: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotSupported(f"{type(self).__name__} does not implement _write()")

    def _close(self) -> None:
        pass


class NullAudioPort(AudioPort):
    """Silence in, everything out discarded (``null://``)."""

    def __init__(self, name: str = "null://") -> None:
        super().__init__(name)
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)

    def _read(self) -> np.ndarray:
        return self._silence.copy()

    def _write(self, frame: np.ndarray) -> None:
        pass


def parse_audio_url(url: str) -> tuple[str, object, dict[str, str]]:
    """Split an audio URL into (scheme, urlsplit parts, {query key: last value})."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidUrl(f"audio URL: expected one of {_URL_FORMS}, got {url!r}")
    parts = urlsplit(url)
    try:
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True,
                                               strict_parsing=bool(parts.query)).items()}
    except ValueError as err:
        raise InvalidUrl(f"audio URL {url!r}: expected a query like 'key=value&key=value', "
                         f"got {parts.query!r}") from err
    return parts.scheme.lower(), parts, query


def check_query(url: str, query: dict[str, str], allowed: tuple[str, ...], form: str) -> None:
    """Refuse unknown query keys, naming the expected form."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise InvalidUrl(f"audio URL: expected {form!r} (options: {', '.join(allowed) or 'none'}), "
                         f"got unknown option(s) {', '.join(unknown)} in {url!r}")


def open_null_url(url: str, parts, query: dict[str, str]) -> NullAudioPort:
    check_query(url, query, (), "null://")
    if parts.netloc or parts.path not in ("", "/"):
        raise InvalidUrl(f"audio URL: expected 'null://', got {url!r}")
    return NullAudioPort(url)


def open_audio(url: str) -> AudioPort:
    """Open the audio port a URL names (see the module docstring for the forms)."""
    scheme, parts, query = parse_audio_url(url)
    target = AUDIO_SCHEMES.get(scheme)
    if target is None:
        raise InvalidUrl(f"audio URL: expected one of {_URL_FORMS}, got {url!r} "
                         f"(unknown scheme {scheme!r})")
    module_name, _, attr = target.partition(":")
    opener = getattr(importlib.import_module(module_name), attr)
    return opener(url, parts, query)
