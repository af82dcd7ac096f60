"""Drivers: one step function, virtual or real time."""

from __future__ import annotations

import threading

import pytest

from phonesim.clock import RealTimeClock, VirtualClock
from phonesim.hw.driver import RealTimeDriver, VirtualDriver


def test_virtual_driver_calls_step_once_per_frame_until_false():
    clock = VirtualClock()
    seen = []

    def step(i):
        seen.append(i)
        return i < 9

    driver = VirtualDriver(clock)
    assert driver.run(step) == 10
    assert seen == list(range(10)) and clock.frame == 10
    assert driver.run(lambda i: True, max_frames=5) == 5 and clock.frame == 15
    assert "frames_run=15" in repr(driver)


def test_fifteen_minute_call_in_virtual_time():
    clock = VirtualClock()
    count = VirtualDriver(clock).run(lambda i: True, max_frames=15 * 60 * 50)
    assert count == 45000 and clock.now_s == 900.0


def test_max_frames_is_checked():
    with pytest.raises(ValueError, match="max_frames"):
        VirtualDriver(VirtualClock()).run(lambda i: True, max_frames=-1)


@pytest.mark.timeout(10)
def test_real_time_driver_runs_the_same_step():
    clock = RealTimeClock()
    seen = []
    driver = RealTimeDriver(clock)
    assert driver.run(lambda i: seen.append(i) or True, max_frames=5) == 5
    assert seen == [0, 1, 2, 3, 4] and clock.frame == 5


@pytest.mark.timeout(10)
def test_stop_from_another_thread_ends_a_run():
    clock = RealTimeClock()
    driver = RealTimeDriver(clock)
    started = threading.Event()

    def step(i):
        started.set()
        return True

    t = threading.Thread(target=driver.run, args=(step,), name="test-driver")
    t.start()
    assert started.wait(5)
    driver.stop()
    t.join(5)
    assert not t.is_alive() and driver.frames_run >= 1


@pytest.mark.timeout(10)
def test_device_paced_driver_never_sleeps():
    clock = VirtualClock()
    driver = RealTimeDriver(clock, paced_by_device=True)
    assert driver.run(lambda i: True, max_frames=5000) == 5000  # 100 s of frames: no pacing here
