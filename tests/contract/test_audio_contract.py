"""One contract, every audio backend: loopback, file, null, and PyAudio through PulseAudio.

Whatever the URL, a port moves int16 frames of 160 samples, refuses anything
else with a clear error, counts what it lost, closes idempotently, and refuses
use after close.
"""

from __future__ import annotations

import uuid
import wave

import numpy as np
import pytest

from phonesim.exc import DeviceClosed
from phonesim.hw.audio import AudioPort, open_audio

BACKENDS = ["loopback", "file", "null", "pyaudio"]


@pytest.fixture(params=BACKENDS)
def port_url(request, tmp_path):
    kind = request.param
    if kind == "pyaudio":
        request.getfixturevalue("pulse_server")
        pytest.importorskip("pyaudio")
        return "pyaudio://?device=pulse&rate=48000"
    if kind == "loopback":
        return f"loopback://contract-{uuid.uuid4().hex}"
    if kind == "file":
        src = tmp_path / "in.wav"
        with wave.open(str(src), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((np.arange(1600) % 100 * 50).astype("<i2").tobytes())
        return f"file://{src}?out={tmp_path / 'out.wav'}"
    return "null://"


@pytest.mark.timeout(30)
def test_frames_in_and_out(port_url):
    with open_audio(port_url) as port:
        assert isinstance(port, AudioPort)
        assert isinstance(port.paced, bool)
        for _ in range(10):
            port.write_frame(np.zeros(160, np.int16))
            frame = port.read_frame()
            assert isinstance(frame, np.ndarray) and frame.dtype == np.int16 and frame.shape == (160,)
            frame[:] = 1  # the caller owns the frame it got
        assert port.frames_read == 10 and port.frames_written == 10
        assert isinstance(port.overflows, int) and isinstance(port.underflows, int)
        lost = port.take_lost_samples()
        assert isinstance(lost, int) and lost >= 0
        assert "open" in repr(port)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", [np.zeros(160, np.float32), np.zeros(159, np.int16),
                                 np.zeros((2, 160), np.int16), [0] * 160])
def test_bad_frames_are_refused(port_url, bad):
    with open_audio(port_url) as port:
        with pytest.raises(ValueError, match="expected an int16 array of 160 samples"):
            port.write_frame(bad)


@pytest.mark.timeout(30)
def test_close_is_idempotent_and_final(port_url):
    port = open_audio(port_url)
    port.close()
    port.close()
    assert port.closed and "closed" in repr(port)
    with pytest.raises(DeviceClosed, match="closed audio port"):
        port.read_frame()
    with pytest.raises(DeviceClosed):
        port.write_frame(np.zeros(160, np.int16))
    with open_audio(port_url) as again:  # the device/name is free again
        assert not again.closed
    assert again.closed
