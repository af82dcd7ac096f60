"""The real keypad firmware (firmware_stubs/pico/main.py), unmodified, in the MicroPython
unix port on a pty: golden vectors, debounce with injected contact bounce, heartbeat,
garbage.  The host side here is raw pyserial + the protocol parser, no backend."""

from __future__ import annotations

import random
import time

import pytest
import serial

from firmware_stubs.host.runner import FirmwareProcess
from firmware_stubs.host.vectors import load_vectors
from phonesim.events import HookChanged, KeyDown, KeyUp
from phonesim.hw.keypad_protocol import Hello, KeypadProtocol, Pong, encode_line, split_line


class RawHost:
    """pyserial on the pty slave, reading whole lines with a deadline."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05, exclusive=True)
        self.buffer = b""
        self.protocol = KeypadProtocol()

    def read_line(self, timeout_s: float = 2.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            if time.monotonic() > deadline:
                raise AssertionError(f"no line from the firmware within {timeout_s} s "
                                     f"(partial: {self.buffer!r})")
            self.buffer += self.port.read(256)
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line + b"\n"

    def messages_until(self, count: int, timeout_s: float = 5.0) -> list:
        out: list = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count and time.monotonic() < deadline:
            out.extend(self.protocol.feed(self.read_line(deadline - time.monotonic())))
        return out

    def hello(self) -> Hello:
        """Ask HELLO?, then read up to a PONG so the firmware's boot announcement (if the
        open did not flush it) cannot be mistaken for a later reply."""
        self.port.write(b"\n" + encode_line("HELLO?") + encode_line("PING 4242"))
        hello = None
        for _ in range(10):
            for message in self.protocol.feed(self.read_line()):
                if isinstance(message, Hello):
                    hello = message
                elif message == Pong(4242) and hello is not None:
                    return hello
        raise AssertionError("no HELLO reply")

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def firmware(micropython, tmp_path):
    processes = []

    def start(**kwargs):
        fw = FirmwareProcess(micropython=micropython, sim_log=tmp_path / f"sim{len(processes)}.log",
                             **kwargs)
        processes.append(fw)
        fw.start()
        host = RawHost(fw.device_path)
        processes.append(host)
        return fw, host

    yield start
    for item in reversed(processes):
        if isinstance(item, RawHost):
            item.close()
        else:
            item.stop()


def expected_events(plan: str) -> list:
    events, seq = [], 0
    for symbol in plan:
        if symbol in "+-":
            events.append(HookChanged(symbol == "+", seq))
            seq += 1
        elif symbol != ",":
            events += [KeyDown(symbol, seq), KeyUp(symbol, seq + 1)]
            seq += 2
    return events


@pytest.mark.timeout(60)
def test_golden_host_to_device_vectors(firmware):
    fw, host = firmware()
    boot_id = host.hello().boot_id
    h2d = [v for v in load_vectors() if v.direction == "h2d"]
    assert len(h2d) >= 10
    for vector in h2d:
        host.port.write(vector.wire)
        reply = host.read_line()
        payload, why = split_line(reply[:-1])
        assert why == "", f"PROTOCOL.md:{vector.line_no}: the firmware's reply {reply!r} is damaged"
        assert payload == vector.meaning.replace("XXXX", boot_id), f"PROTOCOL.md:{vector.line_no}"
    assert fw.process.poll() is None  # survived every bad line


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind, plan", [("4x3", "+159#0*-"), ("4x4", "+A2B#CD-")])
def test_bouncing_keys_and_hook_report_once(firmware, kind, plan):
    fw, host = firmware(kind=kind, bounce_ms=12)
    hello = host.hello()
    assert (hello.kind, hello.off_hook, hello.next_seq) == (kind, False, 0)
    fw.play(plan, interval_ms=120, hold_ms=60)
    want = expected_events(plan)
    got = host.messages_until(len(want))
    # a little longer: a bounce reported twice would show up after the last expected event
    host.port.timeout = 0.3
    got += host.protocol.feed(host.port.read(4096))
    assert got == want
    assert host.protocol.stats.errors == 0 and host.protocol.stats.seq_gaps == 0
    # the bounce was really there: the firmware read each key's contact change several times
    edges = dict(line.split() for line in fw.sim_log.read_text().splitlines())
    for key in set(plan) - set("+-,"):
        assert int(edges[key]) > 2, f"key {key}: no bounce was read ({edges[key]} edges)"
    assert int(edges["hook"]) > 2


@pytest.mark.timeout(30)
def test_heartbeat_and_garbage(firmware):
    fw, host = firmware()
    host.hello()
    rng = random.Random(5)
    for n in (0, 1, 65535, 300):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        host.port.write(noise.replace(b"\n", b"") + b"\x03\x04\n")  # Ctrl-C/D must be harmless
        host.port.write(encode_line(f"PING {n}"))
        replies = []
        while not replies or not isinstance(replies[-1], Pong):
            replies += host.protocol.feed(host.read_line())
        assert replies[-1] == Pong(n)
    assert fw.process.poll() is None


@pytest.mark.timeout(30)
def test_hook_state_at_boot_is_in_hello(firmware):
    _, host = firmware(off_hook=True)
    assert host.hello().off_hook is True
