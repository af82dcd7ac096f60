"""An experiment beside the real-time search: a host's connected lines stepped by ONE thread.

``phonesim facility`` in real time gives each terminal its own thread and real-time driver
(:mod:`benchmarks.facility.realtime` measures that). Here the same lines (same scripted
callers, same robots, same platform) are served by the host's virtual loop
(``FacilityHost.step_virtual``: every terminal's frame in turn), each frame waited for on
the monotonic clock, at the host's priority. The platform's work then runs inline on that
thread (``realtime=False``); recorders keep their own threads. It prints the loop's late
frames (a frame started more than 20 ms after it was due) and the CPU per line-frame, to
set beside the thread-per-line figures: how much of a connected line's real-time cost is
its thread rather than its work.

``python -m benchmarks.facility.onethread --lines 16 --seconds 30``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.facility.realtime import OVERRIDES, seed, terminal_spec
from phonesim.clock import FRAME_MS
from phonesim.config import load_config
from phonesim.facility.callflow import Phase
from phonesim.facility.platform import Platform
from phonesim.terminals.facility_host import FacilityHost

#: Line time allowed for every caller to key and every robot to accept.
CONNECT_FRAMES = 180 * 50


def connected(host: FacilityHost) -> int:
    return sum(1 for line in host.lines().values() if line.state.phase is Phase.CONNECTED)


def run(lines: int, seconds: float, tmp: Path, *, raise_priority: bool = True) -> dict:
    database = str(tmp / "one-thread.sqlite3")
    seed(database, lines)
    cfg = load_config(search=False, overrides=OVERRIDES)
    with Platform.open(cfg, database=database) as platform:
        host = FacilityHost(cfg, platform, terminals=[terminal_spec(i) for i in range(lines)], realtime=False,
                            recordings_dir=tmp / "rec", host_name="one-thread")
        priority = host.raise_priority() if raise_priority else "normal"
        host.register()
        host.open_virtual()
        try:
            for _ in range(CONNECT_FRAMES):          # setting the calls up: as fast as it goes
                if connected(host) == lines:
                    break
                host.step_virtual()
            at_start = connected(host)
            frames, late, worst_s = round(seconds * 1000 / FRAME_MS), 0, 0.0
            thread0, process0, t0 = time.thread_time(), time.process_time(), time.monotonic()
            for k in range(frames):
                due = t0 + k * FRAME_MS / 1000
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                lateness = time.monotonic() - due
                worst_s = max(worst_s, lateness)
                late += lateness > FRAME_MS / 1000
                host.step_virtual()
            thread_s, process_s = time.thread_time() - thread0, time.process_time() - process0
            at_end = connected(host)
        finally:
            host.close_virtual()
    line_frames = frames * lines
    return {"lines": lines, "connected": (at_start, at_end), "late": late, "frames": frames,
            "worst_ms": worst_s * 1e3, "thread_us": 1e6 * thread_s / line_frames,
            "process_us": 1e6 * process_s / line_frames, "cpu_pct": 100 * process_s / seconds,
            "priority": priority}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.facility.onethread",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--lines", default="8,16,24", help="line counts tried, in order (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0, help="each run (default %(default)s)")
    parser.add_argument("--normal-priority", action="store_true",
                        help="do not raise the priority as the host does (SCHED_RR where allowed)")
    args = parser.parse_args(argv)
    print("| lines (one thread) | in a call (start / end) | late frames of the loop | worst lateness ms "
          "| CPU µs per line-frame: stepping thread / process | process CPU % | priority |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.lines.split(",") if x):
        with tempfile.TemporaryDirectory(prefix="facbench-1t.") as tmp:
            r = run(n, args.seconds, Path(tmp), raise_priority=not args.normal_priority)
        print(f"| {r['lines']} | {r['connected'][0]} / {r['connected'][1]} | {r['late']} of {r['frames']} | "
              f"{r['worst_ms']:.1f} | {r['thread_us']:.0f} / {r['process_us']:.0f} | {r['cpu_pct']:.0f} | "
              f"{r['priority']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
