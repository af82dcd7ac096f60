"""In-process audio: a named duplex channel with two ends (``loopback://NAME``).

Laptop mode and tests connect the handset and the facility line without any
sound device: what end ``a`` writes, end ``b`` reads, and the other way round.
Channels are found by name, so two parts of a program (or a test) that agree on
a name meet; unique names isolate tests from each other.

Reading an empty channel returns a frame of silence at once: a loopback port
never blocks, so the virtual-time driver runs a call as fast as the CPU allows.
Each direction holds at most ``capacity_frames`` frames (1 s); writing more
drops the oldest frame and counts it as an overflow (samples lost) on the
reading end, exactly like a device whose reader fell behind.

``loopback_pair(name)`` returns both ends; ``open_audio("loopback://NAME?end=b")``
opens one (``end=a`` is the default).  An end can be open only once at a time;
the channel disappears when both ends are closed.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from phonesim.clock import FRAME_SAMPLES
from phonesim.exc import AudioDeviceError, InvalidUrl

from .audio import AudioPort, check_query

__all__ = ["LoopbackPort", "loopback_pair", "open_loopback_url"]

CAPACITY_FRAMES = 50

_registry_lock = threading.RLock()  # re-entrant: a finaliser may close a port while it is held
_channels: dict[str, _Channel] = {}


class _Channel:
    def __init__(self, name: str, capacity_frames: int) -> None:
        self.name = name
        self.lock = threading.RLock()
        # queue "a" is read by end a (written by b), and vice versa
        self.queues = {"a": deque(maxlen=capacity_frames), "b": deque(maxlen=capacity_frames)}
        self.ends: dict[str, LoopbackPort] = {}


class LoopbackPort(AudioPort):
    """One end of a loopback channel."""

    def __init__(self, channel: _Channel, end: str) -> None:
        super().__init__(f"loopback://{channel.name}?end={end}")
        self.channel = channel
        self.end = end
        self.peer_end = "b" if end == "a" else "a"
        self._inbox = channel.queues[end]
        self._outbox = channel.queues[self.peer_end]
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.empty_reads = 0

    def _read(self) -> np.ndarray:
        with self.channel.lock:
            if self._inbox:
                return self._inbox.popleft()
        self.empty_reads += 1
        return self._silence.copy()

    def _write(self, frame: np.ndarray) -> None:
        with self.channel.lock:
            outbox = self._outbox
            if len(outbox) == outbox.maxlen:
                peer = self.channel.ends.get(self.peer_end)
                if peer is not None:
                    peer._note_lost(FRAME_SAMPLES)
            outbox.append(frame.copy())

    def pending_frames(self) -> int:
        """Frames waiting to be read at this end."""
        with self.channel.lock:
            return len(self._inbox)

    def _close(self) -> None:
        with _registry_lock, self.channel.lock:
            if self.channel.ends.get(self.end) is self:
                del self.channel.ends[self.end]
            if not self.channel.ends and _channels.get(self.channel.name) is self.channel:
                del _channels[self.channel.name]


def _open_end(name: str, end: str, capacity_frames: int = CAPACITY_FRAMES) -> LoopbackPort:
    if not name:
        raise InvalidUrl("audio URL: expected 'loopback://NAME[?end=a|b]', got an empty NAME")
    if end not in ("a", "b"):
        raise InvalidUrl(f"audio URL: expected 'loopback://NAME?end=a' or '?end=b', got end={end!r}")
    with _registry_lock:
        channel = _channels.get(name)
        if channel is None:
            channel = _channels[name] = _Channel(name, capacity_frames)
        with channel.lock:
            if end in channel.ends:
                raise AudioDeviceError(f"end {end!r} is already open (each end opens once; "
                                       "use end=a and end=b)", device=f"loopback://{name}")
            port = LoopbackPort(channel, end)
            channel.ends[end] = port
    return port


def loopback_pair(name: str) -> tuple[LoopbackPort, LoopbackPort]:
    """Both ends of the channel ``name``: what the first writes, the second reads."""
    a = _open_end(name, "a")
    try:
        b = _open_end(name, "b")
    except BaseException:
        a.close()
        raise
    return a, b


def open_loopback_url(url: str, parts, query: dict[str, str]) -> LoopbackPort:
    check_query(url, query, ("end",), "loopback://NAME[?end=a|b]")
    name = (parts.netloc + parts.path).strip("/")
    return _open_end(name, query.get("end", "a"))
