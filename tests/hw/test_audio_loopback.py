"""loopback:// — two ends of a named channel, never blocking, deterministic."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from phonesim.exc import AudioDeviceError, InvalidUrl
from phonesim.hw.audio import open_audio
from phonesim.hw.audio_loopback import CAPACITY_FRAMES, loopback_pair


def _name():
    return f"t-{uuid.uuid4().hex}"


def test_what_one_end_writes_the_other_reads_in_both_directions():
    a, b = loopback_pair(_name())
    with a, b:
        frames = [np.full(160, i, np.int16) for i in range(5)]
        for f in frames:
            a.write_frame(f)
        b.write_frame(np.full(160, 99, np.int16))
        assert b.pending_frames() == 5
        for f in frames:
            assert np.array_equal(b.read_frame(), f)
        assert np.array_equal(a.read_frame(), np.full(160, 99, np.int16))
        assert not a.read_frame().any()  # empty: silence, at once


def test_written_frames_are_copied():
    a, b = loopback_pair(_name())
    with a, b:
        frame = np.full(160, 7, np.int16)
        a.write_frame(frame)
        frame[:] = 0
        assert (b.read_frame() == 7).all()


def test_empty_channel_returns_silence_without_blocking():
    a, b = loopback_pair(_name())
    with a, b:
        for _ in range(1000):  # would take 20 s if it waited for real time
            assert not b.read_frame().any()
        assert b.empty_reads == 1000 and b.take_lost_samples() == 0


def test_overflow_drops_oldest_and_tells_the_reader():
    a, b = loopback_pair(_name())
    with a, b:
        for i in range(CAPACITY_FRAMES + 3):
            a.write_frame(np.full(160, i, np.int16))
        assert b.overflows == 3 and b.take_lost_samples() == 3 * 160 and b.take_lost_samples() == 0
        assert b.read_frame()[0] == 3  # frames 0..2 were dropped


def test_urls_open_ends_and_names_isolate():
    name = _name()
    with open_audio(f"loopback://{name}") as a, open_audio(f"loopback://{name}?end=b") as b:
        with open_audio(f"loopback://{_name()}?end=b") as stranger:
            a.write_frame(np.ones(160, np.int16))
            assert not stranger.read_frame().any()
            assert b.read_frame().all()
        with pytest.raises(AudioDeviceError, match="already open"):
            open_audio(f"loopback://{name}?end=a")
    with open_audio(f"loopback://{name}?end=a"):  # free again after close
        pass


def test_channel_is_forgotten_when_both_ends_close():
    name = _name()
    a, b = loopback_pair(name)
    a.write_frame(np.ones(160, np.int16))
    a.close()
    b.close()
    a2, b2 = loopback_pair(name)
    with a2, b2:
        assert b2.pending_frames() == 0


@pytest.mark.parametrize("url,match", [
    ("loopback://", "empty NAME"),
    ("loopback://x?end=c", "end='c'"),
    ("loopback://x?side=a", "unknown option"),
])
def test_bad_loopback_urls(url, match):
    with pytest.raises(InvalidUrl, match=match):
        open_audio(url)


def test_deterministic_across_runs():
    def run():
        a, b = loopback_pair(_name())
        with a, b:
            rng = np.random.default_rng(5)
            out = []
            for _ in range(50):
                a.write_frame(rng.integers(-1000, 1000, 160).astype(np.int16))
                out.append(b.read_frame())
            return np.concatenate(out)
    assert np.array_equal(run(), run())
