"""Measure the keypad path: ``python -m firmware_stubs.host.measure [--presses N]``.

Prints a table: contact-to-event latency through the real firmware (MicroPython on a
pty) and the serial backend, heartbeat round trip, and the host parser's throughput.
Numbers from a laptop or CI machine; on a Pi with a real Pico, run
``phonesim monitor serial:///dev/phonesim-keypad`` for the round trip.
"""

from __future__ import annotations

import argparse
import statistics
import time

from firmware_stubs.host.runner import FirmwareProcess
from phonesim.events import KeyDown, KeyUp
from phonesim.hw.keypad import open_keypad
from phonesim.hw.keypad_protocol import KeypadProtocol, encode_line


def _wait_for(keypad, kind, timeout_s: float = 2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        event = keypad.read_event(timeout_s=0.05)
        if isinstance(event, kind):
            return event
    raise TimeoutError(f"no {kind.__name__} within {timeout_s} s")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0, help="heartbeat measurement time")
    args = parser.parse_args(argv)

    latencies_ms = []
    with FirmwareProcess() as fw, \
            open_keypad(f"serial://{fw.device_path}?heartbeat_ms=20") as keypad:
        for i in range(args.presses):
            key = "0123456789*#"[i % 12]
            start = time.monotonic()
            fw.key_down(key)
            _wait_for(keypad, KeyDown)
            latencies_ms.append((time.monotonic() - start) * 1000.0)
            fw.key_up(key)
            _wait_for(keypad, KeyUp)
        pongs_before = keypad.pongs
        rtts = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            keypad.read_event(timeout_s=0.02)
            if keypad.pongs > pongs_before and keypad.last_rtt_ms is not None:
                rtts.append(keypad.last_rtt_ms)
                pongs_before = keypad.pongs
        stats = keypad.stats

    lines = [encode_line(f"K {i % 65536} {'0123456789'[i % 10]} {'DU'[i % 2]}")
             for i in range(200_000)]
    data = b"".join(lines)
    protocol = KeypadProtocol()
    start = time.perf_counter()
    parsed = len(protocol.feed(data))
    parse_s = time.perf_counter() - start

    print("| what | median | p90 | max | n |")
    print("|---|---|---|---|---|")
    print(f"| contact closed -> KeyDown at the host (incl. 20 ms debounce), ms | "
          f"{statistics.median(latencies_ms):.1f} | {_pct(latencies_ms, 0.9):.1f} | "
          f"{max(latencies_ms):.1f} | {len(latencies_ms)} |")
    if rtts:
        print(f"| PING -> PONG round trip, ms | {statistics.median(rtts):.2f} | "
              f"{_pct(rtts, 0.9):.2f} | {max(rtts):.2f} | {len(rtts)} |")
    print(f"| host parser, lines/s | {parsed / parse_s:,.0f} | | | {parsed} |")
    print(f"\nlink counters: garbage {stats['garbage']}, bad checksum {stats['bad_checksum']}, "
          f"gaps {stats['seq_gaps']}, duplicates {stats['duplicates']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
