"""SIP outside line benchmarks (printed tables, nothing asserted).

1. **Call set-up**: ``dial()`` to ``FarEndAnswered`` against a headless baresip on
   127.0.0.1 that auto-answers (INVITE, 180, 200, ACK; no ring delay), per call.
2. **Round trip through the network side**: SIPp answers with ``-rtp_echo`` and
   sends our RTP back.  A 50 ms 1 kHz burst goes out once a second inside the
   frames given to ``exchange()``; the delay until it comes back out of
   ``exchange()`` is measured sample-exactly (cross-correlation).  It is our
   tx queue + pacer + the echo + our jitter/re-framing buffer: what SIP adds to
   the line's own delay, without any network.
3. **CPU**: process CPU time during the echo call (both directions flowing,
   SIP thread + the 20 ms frame loop) as a share of one core.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "sip"))

from sip_peers import BaresipPeer, SippPeer, write_wav  # noqa: E402

from phonesim.clock import FRAME_SAMPLES, RealTimeClock  # noqa: E402
from phonesim.events import FarEndAnswered  # noqa: E402
from phonesim.facility.farend_sip import SipFarEnd  # noqa: E402


def frames_until(far_end, clock, predicate, timeout_s=5.0, send=None):
    for _ in range(int(timeout_s * 50)):
        clock.wait_next_frame()
        clock.tick()
        frame = send(clock.frame) if send else np.zeros(FRAME_SAMPLES, dtype=np.int16)
        got = far_end.exchange(frame)
        events = far_end.poll_events()
        if predicate(events, got):
            return
    raise RuntimeError("timed out")


def call_setup(workdir: Path, calls: int) -> list[float]:
    workdir.mkdir(parents=True, exist_ok=True)
    wav = write_wav(workdir / "silence.wav", np.zeros(30 * 8000, dtype=np.int16))
    peer = BaresipPeer(workdir, wav).start()
    times_ms = []
    try:
        with SipFarEnd(peer.uri, clock=None) as far_end:
            clock = RealTimeClock()
            for i in range(calls):
                started = time.perf_counter()
                far_end.dial(f"573555010{i}")
                answered = []

                def done(events, _frame, answered=answered):
                    if any(isinstance(e, FarEndAnswered) for e in events):
                        answered.append(time.perf_counter())
                    return bool(answered)

                frames_until(far_end, clock, done)
                times_ms.append((answered[0] - started) * 1000)
                far_end.hang_up()
                frames_until(far_end, clock, lambda e, f: True)
                for _ in range(10):  # let baresip close the call before the next one
                    clock.wait_next_frame()
                    clock.tick()
                    far_end.exchange(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    finally:
        peer.stop()
    return times_ms


def echo_round_trip(workdir: Path, seconds: int) -> tuple[list[float], float, dict]:
    peer = SippPeer(workdir, "uas_early_media_echo.xml", extra_args=("-rtp_echo",)).start()
    burst_n = 400  # 50 ms of 1 kHz
    burst = np.round(8000 * np.sin(2 * np.pi * 1000 * np.arange(burst_n) / 8000)).astype(np.int16)
    sent = np.zeros((seconds + 3) * 8000, dtype=np.int16)
    try:
        with SipFarEnd(peer.uri, clock=None) as far_end:
            clock = RealTimeClock()
            far_end.dial("5735550100")
            frames_until(
                far_end, clock, lambda ev, f: any(isinstance(e, FarEndAnswered) for e in ev)
            )
            starts = [8000 * (k + 1) for k in range(seconds)]
            for s in starts:
                sent[s : s + burst_n] = burst
            received = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for k in range(sent.size // FRAME_SAMPLES):
                clock.wait_next_frame()
                clock.tick()
                received.append(far_end.exchange(sent[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES]))
                far_end.poll_events()
            cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            counters = {
                "tx_packets": far_end.tx_packets,
                "rx_underruns": far_end.rx_underruns,
                "rx_dropped_samples": far_end.rx_dropped_samples,
            }
            far_end.hang_up()
        peer.wait(10)
    finally:
        peer.stop()
    rx = np.concatenate(received).astype(float)
    delays_ms = []
    for s in starts:
        window = rx[s : s + 8000]
        corr = np.correlate(window, burst.astype(float), mode="valid")
        lag = int(np.argmax(corr))
        if corr[lag] > 0.5 * float(np.dot(burst, burst.astype(float))):
            delays_ms.append(lag / 8.0)
    return delays_ms, cpu_share, counters


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument(
        "--seconds", type=int, default=10, help="echo call length, 1-15 (SIPp quits after 20 s)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 15:
        parser.error(f"--seconds must be 1-15 (SIPp's global timeout is 20 s), got {args.seconds}")
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        setup = call_setup(Path(tmp) / "setup", args.calls)
        delays, cpu, counters = echo_round_trip(Path(tmp) / "echo", args.seconds)
    print("\n| measure | value |\n|---|---|")
    print(
        f"| call set-up to baresip, dial -> FarEndAnswered ({len(setup)} calls) | "
        f"median {np.median(setup):.1f} ms, max {max(setup):.1f} ms |"
    )
    if delays:
        print(
            f"| round trip exchange -> SIPp rtp_echo -> exchange ({len(delays)} bursts) | "
            f"median {np.median(delays):.1f} ms, min {min(delays):.1f}, max {max(delays):.1f} ms |"
        )
    else:
        print("| round trip | no burst came back |")
    print(f"| CPU during a call with audio both ways (process) | {100 * cpu:.1f} % of one core |")
    print(f"| counters after {args.seconds} s | {counters} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
