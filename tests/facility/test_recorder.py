"""Call recorder: stereo WAV, never blocking the line, playable after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from phonesim.exc import DeviceClosed
from phonesim.facility.recorder import CallRecorder

ROOT = Path(__file__).resolve().parents[2]


def _frames(i):
    """Frame i of a recognisable call: left counts up, right counts down."""
    return np.full(160, i % 30000, np.int16), np.full(160, -(i % 30000), np.int16)


def _read(path):
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    return data


def test_records_both_sides_in_order(tmp_path):
    path = tmp_path / "calls" / "call-1.wav"
    with CallRecorder(path) as rec:
        for i in range(300):
            assert rec.write(*_frames(i))
        assert "recording" in repr(rec)
    assert rec.closed and rec.frames_written == 300 and rec.dropped_frames == 0
    data = _read(path)
    assert data.shape == (300 * 160, 2)
    assert np.array_equal(data[::160, 0], np.arange(300)) and np.array_equal(data[::160, 1], -np.arange(300))
    rec.close()  # idempotent
    with pytest.raises(DeviceClosed):
        rec.write(*_frames(0))


def test_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    rec = CallRecorder(tmp_path / "x.wav", queue_frames=3)
    # hold the writer back by filling the queue faster than any disk: many frames at once
    results = [rec.write(*_frames(i)) for i in range(2000)]
    rec.close()
    assert results.count(False) == rec.dropped_frames
    assert rec.frames_written + rec.dropped_frames == 2000
    assert len(_read(tmp_path / "x.wav")) == rec.frames_written * 160


def test_virtual_time_waits_for_the_writer_and_loses_nothing(tmp_path):
    # the same flood as above, as the virtual-time line makes it: nothing is dropped
    rec = CallRecorder(tmp_path / "x.wav", queue_frames=3, block_when_full_s=10.0)
    results = [rec.write(*_frames(i)) for i in range(2000)]
    rec.close()
    assert all(results) and rec.dropped_frames == 0 and rec.frames_written == 2000
    data = _read(tmp_path / "x.wav")
    assert np.array_equal(data[::160, 0], np.arange(2000))


def test_close_without_waiting_finishes_the_file_in_the_background(tmp_path):
    rec = CallRecorder(tmp_path / "bg.wav")
    for i in range(100):
        rec.write(*_frames(i))
    rec.close(wait=False)
    assert rec.closed
    assert rec.join(10)
    assert len(_read(tmp_path / "bg.wav")) == 100 * 160


def test_bad_frames_are_refused(tmp_path):
    with CallRecorder(tmp_path / "x.wav") as rec, pytest.raises(ValueError, match="160 samples"):
        rec.write(np.zeros(80, np.int16), np.zeros(160, np.int16))


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from phonesim.clock import RealTimeClock
    from phonesim.facility.recorder import CallRecorder
    from phonesim.hw.driver import RealTimeDriver

    rec = CallRecorder(sys.argv[1])
    def step(i):
        rec.write(np.full(160, i % 30000, np.int16), np.full(160, -(i % 30000), np.int16))
        return True
    RealTimeDriver(RealTimeClock()).run(step)   # records until killed
""")


@pytest.mark.timeout(60)
def test_killed_process_leaves_a_playable_file_missing_at_most_the_last_second(tmp_path):
    path = tmp_path / "killed.wav"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], env=env)
    try:
        bytes_for_2_s = 44 + 2 * 8000 * 4
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size >= bytes_for_2_s:
                break
            assert child.poll() is None, f"recorder child exited early with {child.returncode}"
            time.sleep(0.05)  # polling the file size with a deadline, not synchronisation
        else:
            pytest.fail("the child never wrote 2 s of audio")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    on_disk_frames = (path.stat().st_size - 44) // (160 * 4)
    data = _read(path)  # opens with the standard wave module
    in_header_frames = len(data) // 160
    assert in_header_frames >= 50, f"only {in_header_frames} frames in the header (2 s were on disk)"
    assert on_disk_frames - in_header_frames <= 50, (
        f"header covers {in_header_frames} of {on_disk_frames} frames on disk: more than 1 s missing")
    # every frame the header covers is intact and in order
    assert np.array_equal(data[::160, 0], np.arange(in_header_frames))
    assert np.array_equal(data[::160, 1], -np.arange(in_header_frames))
    assert np.array_equal(data[:, 0], np.repeat(np.arange(in_header_frames), 160))


def test_a_file_that_cannot_be_created_stops_the_recording_not_the_caller(tmp_path):
    """The line starts a recorder on its per-frame path: creating the file is the writer's job,
    and failing to is an ``error`` like a failed write, never an exception into the call."""
    (tmp_path / "recordings").write_text("a file where the folder should be")
    rec = CallRecorder(tmp_path / "recordings" / "call-1.wav")
    for i in range(50):
        rec.write(*_frames(i))
    rec.close()
    assert isinstance(rec.error, OSError)
    assert rec.frames_written == 0 and rec.dropped_frames == 50
    assert "error" in repr(rec)


def test_the_writer_thread_runs_at_normal_priority_under_a_real_time_line(tmp_path):
    """A platform raises its lines to SCHED_RR and threads inherit it; the writer must not
    preempt the lines it records (it wakes 50 times a second per line)."""
    import threading

    found = {}

    def line_thread():
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
        except PermissionError:
            found["skip"] = "no permission to raise a thread to SCHED_RR (run as root, as CI does)"
            return
        rec = CallRecorder(tmp_path / "call.wav")
        try:
            rec.write(np.zeros(160, np.int16), np.zeros(160, np.int16))
            found["line"] = os.sched_getscheduler(0)
            deadline = time.monotonic() + 10
            while os.sched_getscheduler(rec._thread.native_id) != os.SCHED_OTHER and time.monotonic() < deadline:
                threading.Event().wait(0.01)        # the writer lowers itself as it starts
            found["writer"] = os.sched_getscheduler(rec._thread.native_id)
        finally:
            rec.close()

    t = threading.Thread(target=line_thread)
    t.start()
    t.join(timeout=30)
    if "skip" in found:
        pytest.skip(found["skip"])
    assert found == {"line": os.SCHED_RR, "writer": os.SCHED_OTHER}
