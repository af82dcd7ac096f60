"""``phonesim monitor``: events, damage warnings and link health, through the real CLI."""

from __future__ import annotations

import os
import re
import select
import threading
import tty

import pytest

from firmware_stubs.host.runner import FirmwareProcess, find_micropython
from phonesim.cli import main
from phonesim.hw.keypad_protocol import encode_line


def test_monitor_prints_each_event(capsys):
    assert main(["monitor", "script://%2B1%23?interval_ms=40&hold_ms=20", "--count", "5",
                 "--stats-every-s", "0"]) == 0
    out = capsys.readouterr().out
    lines = [line.split(None, 1)[1] for line in out.splitlines()]
    assert lines[1:6] == ["handset lifted (off hook)  seq=0", "key 1 down  seq=1", "key 1 up  seq=2",
                          "key # down  seq=3", "key # up  seq=4"]
    assert "-- 5 events" in lines[-1]


def test_monitor_rejects_a_bad_url(capsys):
    assert main(["monitor", "usb://keypad"]) == 2          # a usage error: the URL typed is bad
    assert "unknown scheme 'usb'" in capsys.readouterr().err


@pytest.mark.timeout(20)
def test_monitor_reports_damage_and_gaps(capsys):
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def device():  # answers HELLO?, then sends a damaged line and a gap
        buffer = b""
        while not stop.is_set():
            if not select.select([master], [], [], 0.05)[0]:
                continue
            buffer += os.read(master, 256)
            if b"HELLO?" in buffer:
                buffer = b""
                os.write(master, encode_line("HELLO PHONEPAD 1 4x3 0001 ON 0")
                         + b"K 0 5 D*FF\n" + encode_line("K 2 5 D"))

    thread = threading.Thread(target=device, name="monitor-test-device", daemon=True)
    thread.start()
    try:
        assert main(["monitor", f"serial://{os.ttyname(slave)}?heartbeat_ms=60000", "--count", "1",
                     "--stats-every-s", "0"]) == 0
    finally:
        stop.set()
        thread.join(timeout=2)
        os.close(master)
        os.close(slave)
    out = capsys.readouterr().out
    assert "key 5 down  seq=2" in out
    assert "!! bad checksum +1" in out
    assert re.search(r"!! lost events \+2", out)


@pytest.mark.timeout(30)
def test_monitor_shows_heartbeat_round_trip_of_the_firmware(capsys):
    micropython = find_micropython()
    if micropython is None:
        message = "the MicroPython unix port is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with FirmwareProcess(micropython=micropython) as fw:
        assert main(["monitor", f"serial://{fw.device_path}?heartbeat_ms=50", "--duration-s", "0.5",
                     "--stats-every-s", "0.2"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"rtt (\d+\.\d+) ms .* pongs (\d+)/(\d+)", out.splitlines()[-1])
    assert match, out
    assert float(match.group(1)) > 0 and int(match.group(2)) >= 2
    assert "-- link up" in out
