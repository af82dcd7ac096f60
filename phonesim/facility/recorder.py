"""Call recording: a stereo 8 kHz WAV per call, written off the line's thread.

Left channel: what the inmate's handset sent (the uplink).  Right channel:
what the inmate heard — the far end's audio plus what the facility injected
into the conversation (the warning message, lowered by ``duck_db`` under it as
on the line; the "one minute remaining" and three-way prompts).  Why that
channel: an investigator needs the called party *and* proof of each warning
the call carried, time-aligned with the inmate's side; the far end's own audio
is still there sample for sample outside the warnings, so ``phonesim threeway``
analyses it.  Which frames go in is the line's choice; this class only writes
them.

Why a thread and a bounded queue: the line must produce a frame every 20 ms
and may never wait for a disk.  :meth:`CallRecorder.write` copies the two
frames into a queue and returns at once; a named writer thread
(``phonesim-recorder:<file>``) appends them to the file.  If the disk stalls
long enough for the queue to fill, frames are dropped and counted
(``dropped_frames``) rather than delaying the call.

Why the header is rewritten: a WAV header states the length of the data.
Written only at the end, a killed process would leave a file every player
calls empty or corrupt.  The writer rewrites the RIFF and data sizes after
every second of audio (and at least every half second of wall time while
frames arrive), with the data written straight to the OS (no user-space
buffer), so after a crash or ``kill -9`` the file opens with the ``wave``
module and holds everything except at most the last second.

Never start a recorder for a privileged (attorney) call: that decision is the
line's, and this class has no way to know.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
import time
from pathlib import Path

import numpy as np

from phonesim.clock import normal_priority
from phonesim.exc import DeviceClosed, InvalidInput

__all__ = ["CallRecorder"]

FRAME_SAMPLES = 160
HEADER_BYTES = 44
_STOP = None


def _wav_header(data_bytes: int, sample_rate_hz: int, channels: int = 2) -> bytes:
    block_align = channels * 2
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate_hz,
                                    sample_rate_hz * block_align, block_align, 16)
            + b"data" + struct.pack("<I", data_bytes))


class CallRecorder:
    """Record one call to ``path`` (stereo, 16-bit, ``sample_rate_hz``).

    Parameters
    ----------
    path : path-like
        The WAV to create (its folder is created if needed; an existing file is replaced).
    sample_rate_hz : int
        The line rate (8000).
    queue_frames : int
        Frames that may wait for the disk before new ones are dropped (500 = 10 s).
    block_when_full_s : float or None
        ``None`` (real time): a full queue drops the frame, because the line must
        never wait for the disk.  A number (virtual time, where the line runs as
        fast as the CPU allows and can outrun the disk): wait up to that many
        seconds for room, so a recording made faster than real time loses nothing.
    header_every_s : float
        Seconds of audio between header rewrites (at most 1.0).

    Attributes
    ----------
    frames_written : int
        Stereo frames on disk.
    dropped_frames : int
        Frames lost because the queue was full or the file failed.
    error : OSError or None
        An error creating or writing the file that stopped the recording (the
        call goes on).  The file is created by the writer thread, not here:
        the line starts a recorder on its per-frame path, which never touches
        the disk.
    """

    def __init__(self, path, *, sample_rate_hz: int = 8000, queue_frames: int = 500,
                 header_every_s: float = 1.0, block_when_full_s: float | None = None) -> None:
        self.path = Path(path)
        self.block_when_full_s = block_when_full_s
        self.sample_rate_hz = int(sample_rate_hz)
        self.frames_written = 0
        self._refused_frames = 0   # counted by write() (the line's thread)
        self._lost_frames = 0      # counted by the writer: queued before the file failed to open
        self.error: OSError | None = None
        self._frames_per_header = max(1, int(min(header_every_s, 1.0) * self.sample_rate_hz / FRAME_SAMPLES))
        self._closed = False
        self._fd: int | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        self._thread = threading.Thread(target=self._run, name=f"phonesim-recorder:{self.path.name}",
                                        daemon=True)
        self._thread.start()

    # --- the line's side -----------------------------------------------------
    def write(self, inmate_frame, far_frame) -> bool:
        """Hand one 20 ms frame of each side to the writer thread.

        Never blocks unless ``block_when_full_s`` was given (virtual time).
        Returns False if the frame was dropped (queue full or recording failed).
        """
        if self._closed:
            raise DeviceClosed(f"recorder {self.path}: write after close")
        left = np.asarray(inmate_frame)
        right = np.asarray(far_frame)
        if left.shape != (FRAME_SAMPLES,) or right.shape != (FRAME_SAMPLES,):
            raise InvalidInput(f"recorder: expected two frames of {FRAME_SAMPLES} samples, "
                             f"got shapes {left.shape} and {right.shape}")
        if self.error is not None:
            self._refused_frames += 1
            return False
        stereo = np.empty((FRAME_SAMPLES, 2), dtype="<i2")
        stereo[:, 0] = left
        stereo[:, 1] = right
        try:
            if self.block_when_full_s is None:
                self._queue.put_nowait(stereo)
            else:
                self._queue.put(stereo, timeout=self.block_when_full_s)
        except queue.Full:
            self._refused_frames += 1
            return False
        return True

    # --- the writer thread ---------------------------------------------------
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(self._fd, _wav_header(0, self.sample_rate_hz))

    def _run(self) -> None:
        normal_priority()                  # never preempt a line's frames
        try:
            self._open()
        except OSError as err:
            self.error = err
        since_header = 0
        last_header = time.monotonic()
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                item = False  # idle: just check the header
            batch = []
            while item is not False:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = False
            if batch and self.error is None:
                try:
                    os.write(self._fd, b"".join(f.tobytes() for f in batch))
                    self.frames_written += len(batch)
                    since_header += len(batch)
                except OSError as err:
                    self.error = err
                    self._lost_frames += len(batch)
            elif batch:
                self._lost_frames += len(batch)   # queued before the failure was known
            now = time.monotonic()
            if since_header and (since_header >= self._frames_per_header or now - last_header >= 0.5
                                 or stopping):
                self._rewrite_header()
                since_header = 0
                last_header = now
        if self._fd is not None:
            self._rewrite_header()
            os.close(self._fd)

    def _rewrite_header(self) -> None:
        if self._fd is None or (self.error is not None and self.frames_written == 0):
            return
        data_bytes = self.frames_written * FRAME_SAMPLES * 4
        try:
            os.pwrite(self._fd, struct.pack("<I", 36 + data_bytes), 4)
            os.pwrite(self._fd, struct.pack("<I", data_bytes), 40)
        except OSError as err:
            self.error = self.error or err

    # --- lifecycle -----------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def dropped_frames(self) -> int:
        """Frames that never reached the file (queue full, or the file failed)."""
        return self._refused_frames + self._lost_frames

    @property
    def duration_s(self) -> float:
        """Seconds of audio on disk."""
        return self.frames_written * FRAME_SAMPLES / self.sample_rate_hz

    def close(self, *, wait: bool = True) -> None:
        """Write what is queued, finalise the header, close the file; safe to call twice.

        With ``wait=False`` (for the line's real-time thread) the writer thread
        finishes the file on its own and this returns at once; :meth:`join`
        waits for it.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)  # blocks only if the queue is full: the writer is draining it
        if wait:
            self.join()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until the file is complete and closed; True if it is."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "recording"
        return (f"<CallRecorder {str(self.path)!r} {state} {self.duration_s:.1f} s "
                f"dropped={self.dropped_frames}{' error' if self.error else ''}>")
