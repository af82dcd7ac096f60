"""Listening to a call live: the line's tap, paced out over a WebSocket.

A :class:`~phonesim.facility.line.FacilityLine` hands every frame of a connected,
recorded call to its taps as ``(uplink, to_inmate)`` pairs of 160 int16 samples at 8 kHz:
the inmate's audio and what the inmate hears (the far end with the warnings injected) —
the two channels of the recording, sample for sample.  A privileged call is never
recorded, so never tapped; the console refuses it before it even asks.

:func:`stream_call` sends what the tap collected every :data:`SEND_EVERY_S` as one binary
message of interleaved little-endian int16 pairs (left inmate, right what the inmate
hears), so the page is at most a few frames behind the line; text messages (JSON) say
what is happening: ``{"listening": ...}``, ``{"waiting": ...}`` (the call is not
connected yet), ``{"ended": ...}``, ``{"refused": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import numpy as np

from phonesim.clock import FRAME_SAMPLES, SAMPLE_RATE_HZ

#: How often the collected frames are sent (a little latency for far fewer messages).
SEND_EVERY_S = 0.04
#: Frames a tap holds if the page falls behind (the oldest are dropped): 10 s.
TAP_FRAMES = 500
#: How long a listener waits for a call in progress to be connected (announcement, ringing).
WAIT_CONNECT_S = 120.0


def lines_of(host: Any) -> dict[str, Any]:
    """The host's lines now (its table of terminals may change while it is read)."""
    if host is None:
        return {}
    for _ in range(5):
        try:
            return host.lines()
        except RuntimeError:          # a terminal came or went during the read
            continue
    return {}


def pack_frames(frames: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Frames -> interleaved little-endian int16 (inmate, heard) pairs."""
    inmate = np.concatenate([f[0] for f in frames])
    heard = np.concatenate([f[1] for f in frames])
    return np.column_stack((inmate, heard)).astype("<i2").tobytes()


def refusal(line: Any) -> str:
    """Why a line may not be listened to now ('' when it may)."""
    if line is None:
        return "no line of that name is served by this process"
    state = line.state
    if state.privileged:
        return "a privileged call is never monitored"
    if state.phase.value in ("idle", "done"):
        return "no call in progress on this line"
    return ""


async def stream_call(websocket: Any, line: Any, on_start: Any = None) -> dict[str, Any]:
    """Send the call on ``line`` until it ends or the page goes; returns what was sent
    (``frames``, ``seconds``, ``call_id``, ``why`` it stopped).  ``on_start(call_id)`` is
    called when the audio starts (the audit entry)."""
    tap: deque = deque(maxlen=TAP_FRAMES)
    call_id = line.cdr_id
    call_key = line.executor.records.call_key
    sent_frames = 0
    started = time.monotonic()
    receiver = asyncio.create_task(websocket.receive())
    line.add_tap(tap)
    why = ""
    try:
        if not line.state.recording:
            await websocket.send_text(json.dumps({"waiting": "the call is not connected yet"}))
        announced = False
        while True:
            if receiver.done():
                why = "page closed"
                break
            reason = refusal(line)
            if line.executor.records.call_key != call_key or (announced and not line.state.recording):
                reason = reason or "the call ended"
            frames = []
            while tap:
                frames.append(tap.popleft())
            if frames:
                if not announced:
                    announced = True
                    call_id = line.cdr_id
                    if on_start is not None:
                        await on_start(call_id)
                    await websocket.send_text(json.dumps({"listening": line.terminal, "call_id": call_id,
                                                          "rate_hz": SAMPLE_RATE_HZ,
                                                          "channels": ["inmate", "heard"]}))
                await websocket.send_bytes(pack_frames(frames))
                sent_frames += len(frames)
            if reason:
                why = reason
                await websocket.send_text(json.dumps({"ended": reason, "call_id": call_id}))
                break
            if not announced and time.monotonic() - started > WAIT_CONNECT_S:
                why = "the call was not connected in time"
                await websocket.send_text(json.dumps({"ended": why}))
                break
            await asyncio.sleep(SEND_EVERY_S)
    finally:
        line.remove_tap(tap)
        receiver.cancel()
    return {"frames": sent_frames, "seconds": sent_frames * FRAME_SAMPLES / SAMPLE_RATE_HZ,
            "call_id": call_id, "why": why}
