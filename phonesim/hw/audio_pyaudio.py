"""The headset through PortAudio (``pyaudio://?device=NAME&rate=48000``).

The only module that imports ``pyaudio``.  Choices, each from a measured trap
(``docs/hardware.md`` section 4):

* **Two half-duplex blocking streams**, not one full-duplex callback stream:
  on PortAudio 19.6 with the ALSA pulse plugin the callback duplex stream
  duplicated audio without raising any flag.
* **20 ms periods at the device's own rate** (default 48 kHz), resampled to
  the 8 kHz line here with stateful polyphase filters: periods much under
  12 ms at a rate the server must convert lose output.
* ``read(..., exception_on_overflow=False)`` always: with the default ``True``
  an overflow raises *and closes the stream*.  The price is that PyAudio's
  blocking API cannot see xruns, so this port detects them itself:

  - **input overflow**: a named reader thread (``phonesim-audio-in``) reads the
    input stream continuously and timestamps every period.  If the samples read
    fall behind the wall clock by more than the stream's buffer can hold, the
    difference was lost; and if the line stops calling ``read_frame`` and the
    frame queue (``queue_frames``) fills, the oldest frames are dropped.  Both
    count in ``overflows`` and in ``take_lost_samples()`` (8 kHz samples).
  - **latency cap**: after a stall (the line's thread was descheduled, say)
    frames pile up in the queue, and since input and output then run at the
    same device rate the pile would stay for ever as extra delay.  When
    ``read_frame`` finds more than ``backlog_frames`` waiting (default 5 =
    100 ms) it drops all but the newest two and reports them as lost, so the
    round trip returns to its normal ~2 periods.  (Frames that piled up before
    the first ``read_frame`` are discarded silently: the line was not yet
    listening.)
  - **output underflow**: before each write the port asks PortAudio how much
    room the output buffer has; an entirely empty buffer means the earpiece
    ran dry (``underflows`` += 1), and one period of silence is written ahead
    to rebuild the cushion.

* Devices are chosen by a case-insensitive **name substring**, never by index
  (indexes change when a USB device is replugged); a missing device raises
  :class:`~phonesim.exc.DeviceNotFound` listing the devices that exist.
* ``read_frame`` blocks until the device has produced the frame (``paced``:
  the device is the line's clock) and raises
  :class:`~phonesim.exc.AudioDeviceError` if no audio comes for
  ``read_timeout_s``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import numpy as np

from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND, SAMPLE_RATE_HZ
from phonesim.dsp.resample import Resampler
from phonesim.exc import AudioDeviceError, BackendUnavailable, DeviceNotFound, InvalidUrl

from .audio import AudioPort, check_query

log = logging.getLogger(__name__)

__all__ = ["PyAudioPort", "list_audio_devices", "open_pyaudio_url", "STANDARD_RATES_HZ"]

STANDARD_RATES_HZ = (8000, 16000, 44100, 48000)
_FORM = "pyaudio://?device=NAME&rate=48000"


def _import_pyaudio():
    try:
        import pyaudio
    except ImportError as err:
        raise BackendUnavailable(
            "pyaudio:// needs the 'pyaudio' package (install phonesim's 'audio' extra; "
            f"on Debian it builds against portaudio19-dev), got ImportError: {err}") from err
    return pyaudio


def _devices(pa) -> list[dict]:
    return [pa.get_device_info_by_index(i) for i in range(pa.get_device_count())]


def _find_device(pa, name: str | None, direction: str) -> dict:
    """The device whose name contains ``name`` (case-insensitive) and can do ``direction``."""
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    devices = _devices(pa)
    if name is None:
        try:
            info = (pa.get_default_input_device_info() if direction == "input"
                    else pa.get_default_output_device_info())
        except OSError as err:
            raise DeviceNotFound(f"pyaudio: expected a default {direction} device, got none; "
                                 f"devices: {_describe(devices)}") from err
        return info
    wanted = name.lower()
    for info in devices:
        if wanted in info["name"].lower() and info[key] > 0:
            return info
    raise DeviceNotFound(f"pyaudio: expected an {direction} device whose name contains {name!r}, "
                         f"got none; devices: {_describe(devices)}")


def _describe(devices: list[dict]) -> str:
    if not devices:
        return "(no audio devices at all)"
    return "; ".join(f"{d['name']!r} (in {d['maxInputChannels']}, out {d['maxOutputChannels']})"
                     for d in devices)


def list_audio_devices() -> list[dict]:
    """Every PortAudio device with default flags and which standard rates it supports (mono int16).

    Each dict: ``index, name, host_api, inputs, outputs, default_rate_hz,
    default_input, default_output, input_rates_hz, output_rates_hz``.
    """
    pyaudio = _import_pyaudio()
    pa = pyaudio.PyAudio()
    try:
        try:
            default_in = pa.get_default_input_device_info()["index"]
        except OSError:
            default_in = None
        try:
            default_out = pa.get_default_output_device_info()["index"]
        except OSError:
            default_out = None
        result = []
        for info in _devices(pa):
            entry = {
                "index": info["index"], "name": info["name"],
                "host_api": pa.get_host_api_info_by_index(info["hostApi"])["name"],
                "inputs": info["maxInputChannels"], "outputs": info["maxOutputChannels"],
                "default_rate_hz": int(info["defaultSampleRate"]),
                "default_input": info["index"] == default_in,
                "default_output": info["index"] == default_out,
                "input_rates_hz": [], "output_rates_hz": [],
            }
            for rate in STANDARD_RATES_HZ:
                if info["maxInputChannels"] > 0 and _supported(pa, pyaudio, rate, input_device=info["index"]):
                    entry["input_rates_hz"].append(rate)
                if info["maxOutputChannels"] > 0 and _supported(pa, pyaudio, rate, output_device=info["index"]):
                    entry["output_rates_hz"].append(rate)
            result.append(entry)
        return result
    finally:
        pa.terminate()


def _supported(pa, pyaudio, rate: int, *, input_device=None, output_device=None) -> bool:
    kwargs = {}
    if input_device is not None:
        kwargs.update(input_device=input_device, input_channels=1, input_format=pyaudio.paInt16)
    if output_device is not None:
        kwargs.update(output_device=output_device, output_channels=1, output_format=pyaudio.paInt16)
    try:
        return bool(pa.is_format_supported(rate, **kwargs))
    except ValueError:
        return False


class PyAudioPort(AudioPort):
    """A PortAudio device as an 8 kHz frame port (see the module docstring).

    Parameters
    ----------
    device : str, optional
        Name substring for both directions (default: the system's defaults).
    input_device, output_device : str, optional
        Override ``device`` for one direction (e.g. a USB mic and a separate speaker).
    rate_hz : int
        The device rate; the line is resampled to and from it.
    queue_frames : int
        Frames the reader thread may hold before the oldest are dropped.
    backlog_frames : int
        More frames than this waiting at a ``read_frame`` are trimmed (latency cap).
    read_timeout_s : float
        How long ``read_frame`` waits for the device before giving up.
    """

    paced = True

    def __init__(self, device: str | None = None, *, rate_hz: int = 48000,
                 input_device: str | None = None, output_device: str | None = None,
                 queue_frames: int = 25, backlog_frames: int = 5, read_timeout_s: float = 2.0,
                 name: str | None = None) -> None:
        super().__init__(name or f"pyaudio://?device={device or ''}&rate={rate_hz}")
        self._closed = True  # until fully open; close() then does nothing
        pyaudio = _import_pyaudio()
        self.rate_hz = int(rate_hz)
        self.period = self.rate_hz // FRAMES_PER_SECOND
        self.read_timeout_s = float(read_timeout_s)
        self.backlog_frames = max(2, int(backlog_frames))
        self.trimmed_frames = 0
        self._pa = pyaudio.PyAudio()
        self._in = self._out = None
        try:
            in_info = _find_device(self._pa, input_device or device, "input")
            out_info = _find_device(self._pa, output_device or device, "output")
            self.input_device, self.output_device = in_info["name"], out_info["name"]
            for info, direction in ((in_info, "input"), (out_info, "output")):
                kw = {f"{direction}_device": info["index"]}
                if not _supported(self._pa, pyaudio, self.rate_hz, **kw):
                    ok = [r for r in STANDARD_RATES_HZ if _supported(self._pa, pyaudio, r, **kw)]
                    raise AudioDeviceError(f"expected a {direction} device that supports "
                                           f"{self.rate_hz} Hz mono 16-bit, got one supporting {ok}",
                                           device=info["name"])
            self._out = self._pa.open(format=pyaudio.paInt16, channels=1, rate=self.rate_hz,
                                      output=True, output_device_index=out_info["index"],
                                      frames_per_buffer=self.period)
            self._in = self._pa.open(format=pyaudio.paInt16, channels=1, rate=self.rate_hz,
                                     input=True, input_device_index=in_info["index"],
                                     frames_per_buffer=self.period)
        except OSError as err:
            self._teardown()
            if isinstance(err, (AudioDeviceError, DeviceNotFound)):
                raise
            raise AudioDeviceError(f"could not open at {self.rate_hz} Hz: {err}",
                                   code=err.args[0] if err.args and isinstance(err.args[0], int) else None,
                                   device=str(device)) from err
        except BaseException:
            self._teardown()
            raise
        self.input_latency_s = self._in.get_input_latency()
        self.output_latency_s = self._out.get_output_latency()
        self._out_capacity = self._out.get_write_available()
        self._in_capacity = max(2 * self.period, int(round(self.input_latency_s * self.rate_hz)))
        self._up = Resampler(SAMPLE_RATE_HZ, self.rate_hz)
        self._down = Resampler(self.rate_hz, SAMPLE_RATE_HZ)
        self._silence_period = np.zeros(self.period, dtype=np.int16).tobytes()
        self._frames: queue.Queue[np.ndarray] = queue.Queue(maxsize=queue_frames)
        self._lost_lock = threading.Lock()
        self._stop = threading.Event()
        self._reader_error: BaseException | None = None
        self._reader = threading.Thread(target=self._read_loop, name=f"phonesim-audio-in:{self.input_device}",
                                        daemon=True)
        try:
            # a cushion of two periods so the first frames do not underflow
            self._out.write(self._silence_period * 2)
        except BaseException:
            self._teardown()
            raise
        self._closed = False
        self._reader.start()

    # --- the reader thread ---------------------------------------------------
    def _read_loop(self) -> None:
        pending = np.zeros(0, dtype=np.int16)
        read_samples = 0
        start = None
        slack = None  # smallest (elapsed samples - read samples) seen: the stream's own latency
        try:
            while not self._stop.is_set():
                data = self._in.read(self.period, exception_on_overflow=False)
                now = time.monotonic()
                if start is None:
                    start = now
                read_samples += self.period
                behind = (now - start) * self.rate_hz - read_samples
                if slack is None or behind < slack:
                    slack = behind
                elif behind - slack > self._in_capacity + self.period:
                    lost = int(behind - slack - self._in_capacity)
                    read_samples += lost  # resynchronise: count them once
                    self._lost(max(1, lost * SAMPLE_RATE_HZ // self.rate_hz))
                line = self._down.process(np.frombuffer(data, dtype=np.int16))
                pending = np.concatenate((pending, line)) if pending.size else line
                while pending.size >= FRAME_SAMPLES:
                    frame, pending = pending[:FRAME_SAMPLES].copy(), pending[FRAME_SAMPLES:]
                    self._offer(frame)
        except BaseException as err:  # noqa: BLE001 - handed to read_frame()
            if not self._stop.is_set():
                self._reader_error = err

    def _offer(self, frame: np.ndarray) -> None:
        try:
            self._frames.put_nowait(frame)
        except queue.Full:
            try:
                self._frames.get_nowait()
            except queue.Empty:
                pass
            self._lost(FRAME_SAMPLES)
            self._frames.put_nowait(frame)

    def _lost(self, samples: int) -> None:
        with self._lost_lock:
            self._note_lost(samples)

    def take_lost_samples(self) -> int:
        with self._lost_lock:
            return super().take_lost_samples()

    # --- the frame API -------------------------------------------------------
    def _read(self) -> np.ndarray:
        backlog = self._frames.qsize()
        if backlog > self.backlog_frames or (self.frames_read == 0 and backlog > 2):
            drop = backlog - 2
            for _ in range(drop):
                try:
                    self._frames.get_nowait()
                except queue.Empty:
                    break
            if self.frames_read:
                self.trimmed_frames += drop
                self._lost(drop * FRAME_SAMPLES)
        try:
            return self._frames.get(timeout=self.read_timeout_s)
        except queue.Empty:
            if self._reader_error is not None:
                raise AudioDeviceError(f"input stream failed: {self._reader_error}",
                                       device=self.input_device) from self._reader_error
            raise AudioDeviceError(f"expected a frame every 20 ms, got none for "
                                   f"{self.read_timeout_s:g} s", device=self.input_device) from None

    def _write(self, frame: np.ndarray) -> None:
        data = self._up.process(frame).tobytes()
        try:
            if self._out.get_write_available() >= self._out_capacity:
                self.underflows += 1
                self._out.write(self._silence_period)
            self._out.write(data)
        except OSError as err:
            raise AudioDeviceError(f"output stream failed: {err}", device=self.output_device) from err

    def pending_frames(self) -> int:
        """Frames read from the device and not yet taken by ``read_frame``."""
        return self._frames.qsize()

    # --- closing -------------------------------------------------------------
    def _close(self) -> None:
        self._stop.set()
        if self._reader.is_alive():
            self._reader.join(timeout=1.0)
        self._teardown()

    def _teardown(self) -> None:
        for stream in (self._in, self._out):
            if stream is not None:
                try:
                    stream.stop_stream()
                except OSError as err:   # a vanished device: the stream is closed anyway
                    log.debug("%s: stopping a stream: %s", self.name, err)
                try:
                    stream.close()
                except OSError as err:
                    log.debug("%s: closing a stream: %s", self.name, err)
        self._in = self._out = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    def __repr__(self) -> str:
        base = super().__repr__()[:-1]
        return f"{base} rate={self.rate_hz}>"


def open_pyaudio_url(url: str, parts, query: dict[str, str]) -> PyAudioPort:
    check_query(url, query, ("device", "rate", "input", "output", "queue_frames", "backlog_frames"), _FORM)
    if parts.netloc or parts.path not in ("", "/"):
        raise InvalidUrl(f"audio URL: expected {_FORM!r} (options after '?'), got {url!r}")
    try:
        rate_hz = int(query.get("rate", "48000"))
        queue_frames = int(query.get("queue_frames", "25"))
        backlog_frames = int(query.get("backlog_frames", "5"))
    except ValueError as err:
        raise InvalidUrl(f"audio URL: expected {_FORM!r} with an integer rate, got {url!r}") from err
    if rate_hz < 8000:
        raise InvalidUrl(f"audio URL: expected a rate of at least 8000 Hz, got {rate_hz} in {url!r}")
    return PyAudioPort(query.get("device") or None, rate_hz=rate_hz,
                       input_device=query.get("input") or None, output_device=query.get("output") or None,
                       queue_frames=queue_frames, backlog_frames=backlog_frames, name=url)
