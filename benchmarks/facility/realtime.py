"""Real-time capacity: how many lines in a call this machine carries with no late frame.

Each run serves N wall phones the way ``phonesim facility`` does — a
:class:`~phonesim.terminals.facility_host.FacilityHost` per worker process, a thread and a
real-time driver per terminal, ``--rt-lines-per-process`` terminals per process — with
null audio ports paced by the monotonic clock (``null://``), scripted keypads that place a
prepaid call, and robot called parties that accept and then talk (real speech), so every
line is **connected**, the costliest state: DTMF detection on the uplink, the three-way
detector on the far end's speech, the warning injector, the recorder, per-minute charges
on the line's worker thread. Once every line of every process is connected, each process
counts its terminals' late frames (a frame started more than one frame late, the driver's
count) and its CPU over ``--rt-seconds``. The search tries N in order and stops after the
first N with a late frame. The machine is shared: the load average is printed per run.

``python -m benchmarks.facility.realtime --worker ...`` is one such worker process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from phonesim.config import load_config
from phonesim.facility.callflow import Phase
from phonesim.facility.platform import Platform

ROOT = Path(__file__).resolve().parents[2]
#: Every line runs at any hour, may call again at once, and is not cut by the limit in a run.
OVERRIDES = {"profile.hours.windows": ["00:00-24:00"], "profile.limits.wait_between_calls_s": 0,
             "profile.limits.call_limit_s": 3600}
CONNECT_TIMEOUT_S = 180.0


def caller(i: int) -> tuple[str, str]:
    """PIN and prepaid number of line ``i``."""
    return f"{1000 + i:04d}", f"573555{3000 + i:04d}"


def terminal_spec(i: int, *, idle: bool = False) -> dict:
    """Line ``i``: a caller who places a prepaid call, or (``idle``) a phone nobody lifts."""
    if idle:
        return {"name": f"rt-idle-{i + 1}", "kind": "phone", "unit": "RT-1", "keypad": "script://,?hook=none",
                "audio": "null://", "far_end": "robot://accept"}
    pin, number = caller(i)
    pause = "," * (2 + i % 20)         # staggered: not every PIN at once
    return {"name": f"rt-phone-{i + 1}", "kind": "phone", "unit": "RT-1",
            "keypad": f"script://+{pause}{pin}%23,,,,3,,,,{number}%23?interval_ms=250&hold_ms=100",
            "audio": "null://", "far_end": f"robot://accept?answer_after=0&key_delay_s=2&talk_s=0&seed={i}"}


def seed(database: str, lines: int) -> None:
    cfg = load_config(search=False, overrides=OVERRIDES)
    with Platform.open(cfg, database=database) as platform:
        platform.sites.ensure_unit(cfg.facility["id"], "RT-1")
        for i in range(lines):
            pin, number = caller(i)
            platform.ledger.add_inmate(f"rt-{i + 1}", f"Line {i + 1}", pin, housing_unit="RT-1",
                                       name_prompt="inmate_name_default")
            platform.ledger.fund_prepaid(number, 100_000, memo="real-time run")


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of this process's threads, by kind (the name before its first '-' or ':')."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        kind = thread.name.replace(":", "-").split("-")[0]
        out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def worker(args: argparse.Namespace) -> int:
    """Serve lines ``first .. first+count-1`` in real time; once all are connected say ``ready``,
    wait for ``go``, measure ``seconds``, print the figures as JSON, stop."""
    from phonesim.terminals.facility_host import FacilityHost

    cfg = load_config(search=False, overrides=OVERRIDES)
    specs = [terminal_spec(i, idle=args.idle) for i in range(args.first, args.first + args.count)]
    wanted = Phase.IDLE if args.idle else Phase.CONNECTED
    with Platform.open(cfg, database=args.database) as platform:
        host = FacilityHost(cfg, platform, terminals=specs, realtime=True, recordings_dir=args.recordings,
                            host_name=f"rt-worker-{args.first}")
        if not args.normal_priority:
            host.raise_priority()
        runner = threading.Thread(target=host.run, name="host", daemon=True)
        runner.start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            lines = host.lines()
            if len(lines) == len(specs) and all(line.state.phase is wanted for line in lines.values()):
                break
            time.sleep(0.2)
        connected = sum(1 for line in host.lines().values() if line.state.phase is wanted)
        print("ready", flush=True)
        sys.stdin.readline()
        before = {n: (s.late_frames, s.frames, s.stalls) for n, s in host.status.items()}
        t0, c0, k0 = time.monotonic(), os.times(), thread_cpu_s()
        time.sleep(args.seconds)
        after = {n: (s.late_frames, s.frames, s.stalls) for n, s in host.status.items()}
        t1, c1, k1 = time.monotonic(), os.times(), thread_cpu_s()
        still = sum(1 for line in host.lines().values() if line.state.phase is wanted)
        host.stop()
        runner.join(timeout=120)
    print(json.dumps({
        "lines": len(specs), "connected": connected, "still_connected": still, "seconds": t1 - t0,
        "cpu_s": (c1.user - c0.user) + (c1.system - c0.system), "sys_s": c1.system - c0.system,
        "priority": host.priority, "threads_cpu_s": {k: round(v - k0.get(k, 0.0), 2) for k, v in k1.items()},
        "late": {n: after[n][0] - before[n][0] for n in after},
        "frames": {n: after[n][1] - before[n][1] for n in after},
        "stalls": {n: after[n][2] - before[n][2] for n in after}}), flush=True)
    return 0


def probe(args: argparse.Namespace) -> int:
    """A line that does nothing, paced like the others and at their priority: its late frames
    are the machine's own hiccups (the machine is shared), not the lines' cost."""
    from phonesim.clock import RealTimeClock
    from phonesim.hw.driver import RealTimeDriver
    from phonesim.terminals.facility_host import FacilityHost

    priority = "normal" if args.normal_priority else FacilityHost.raise_priority(argparse.Namespace())
    print("ready", flush=True)
    sys.stdin.readline()
    driver = RealTimeDriver(RealTimeClock())
    worst = 0.0

    def step(frame: int) -> bool:
        nonlocal worst
        worst = max(worst, driver.lateness_ms)
        return True
    t0 = time.monotonic()
    driver.run(step, max_frames=round(args.seconds * 50))
    print(json.dumps({"late": driver.late_frames, "worst_ms": round(worst, 1), "seconds": time.monotonic() - t0,
                      "priority": priority}), flush=True)
    return 0


def run(lines: int, per_process: int, seconds: float, tmp: Path, *, idle: bool = False,
        normal_priority: bool = False) -> dict:
    """N lines over ceil(N / per_process) worker processes; their merged figures."""
    database = str(tmp / f"rt-{lines}{'-idle' if idle else ''}.sqlite3")
    seed(database, 0 if idle else lines)
    workers = math.ceil(lines / per_process)
    shares = [(k * lines // workers, (k + 1) * lines // workers) for k in range(workers)]
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.facility.realtime", "--worker", "--database",
                               database, "--first", str(a), "--count", str(b - a), "--seconds", str(seconds),
                               "--recordings", str(tmp / f"rt-rec-{lines}-{k}")] + (["--idle"] if idle else [])
                              + (["--normal-priority"] if normal_priority else []),
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for k, (a, b) in enumerate(shares)]
    procs.append(subprocess.Popen([sys.executable, "-m", "benchmarks.facility.realtime", "--probe", "--seconds",
                                   str(seconds)] + (["--normal-priority"] if normal_priority else []), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a real-time worker (pid {p.pid}) did not get ready")
        load0 = os.getloadavg()[0]
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = [json.loads(p.communicate(timeout=seconds + 300)[0].strip().splitlines()[-1]) for p in procs]
        machine = reports.pop()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    line_frames = seconds * 50 * lines
    threads: dict[str, float] = {}
    for r in reports:
        for kind, cpu in r["threads_cpu_s"].items():
            threads[kind] = threads.get(kind, 0.0) + cpu
    late = [v for r in reports for v in r["late"].values()]
    frames = [v for r in reports for v in r["frames"].values()]
    return {"lines": lines, "workers": workers, "connected": sum(r["connected"] for r in reports),
            "still_connected": sum(r["still_connected"] for r in reports),
            "late_total": sum(late), "late_max": max(late), "lines_late": sum(1 for v in late if v),
            "frames_min": min(frames), "seconds": max(r["seconds"] for r in reports),
            "cpu_pct": [round(100 * r["cpu_s"] / r["seconds"]) for r in reports],
            "stalls": sum(v for r in reports for v in r["stalls"].values()), "priority": reports[0]["priority"],
            "load": (load0, os.getloadavg()[0]), "probe_late": machine["late"], "probe_worst_ms": machine["worst_ms"],
            "us_per_line_frame": {"all": 1e6 * sum(r["cpu_s"] for r in reports) / line_frames,
                                  "line": 1e6 * threads.get("terminal", 0.0) / line_frames,
                                  "recorder": 1e6 * threads.get("phonesim", 0.0) / line_frames}}


def _row(r: dict) -> str:
    us = r["us_per_line_frame"]
    return (f"| {r['lines']} | {r['workers']} | {r['connected']} / {r['still_connected']} | {r['late_total']}; "
            f"{r['late_max']}; {r['lines_late']} | {r['stalls']} | {r['probe_late']} ({r['probe_worst_ms']:.0f} ms) | "
            f"{r['frames_min']} of {round(r['seconds'] * 50)} | {', '.join(map(str, r['cpu_pct']))} | "
            f"{us['all']:.0f} ({us['line']:.0f} / {us['recorder']:.0f}) | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")


HEADER = ("| lines | processes | in a call (start / end) | late frames (total; worst line; lines with any) "
          "| stalls >= 100 ms | probe's late frames (worst lateness) | frames of the slowest line "
          "| CPU % per process | CPU µs per line-frame (line threads / recorders) | load average (start / end) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def _search(tried: list[int], per_process: int, seconds: float, tmp: Path, tries: int, *,
            normal_priority: bool = False) -> int:
    """Run each N in order (a run whose probe saw the machine stall, with late frames, is tried
    again up to ``tries`` times); stop after the first N with late frames. Returns the most
    lines carried without one."""
    print(HEADER)
    best = 0
    for n in tried:
        for _ in range(tries):
            tmp.mkdir(parents=True, exist_ok=True)
            r = run(n, per_process, seconds, tmp, normal_priority=normal_priority)
            print(_row(r), flush=True)
            if not (r["late_total"] and r["probe_late"]):
                break
        if r["late_total"] or r["connected"] < n:
            return best
        best = n
    return best


def section_realtime(args: argparse.Namespace, tmp: Path) -> None:
    priority = "normal priority" if args.rt_normal_priority else "the host's priority (SCHED_RR where allowed)"
    print(f"## Real-time capacity: lines in a call, null audio paced by the clock, {args.rt_seconds:g} s each, "
          f"{priority}\n")
    print("A probe process (a line that does nothing, at the same priority) runs beside each run: its "
          "late frames are the shared machine's own hiccups. A run with late frames that the probe saw "
          f"too is tried again (at most {args.rt_tries} times).\n")
    per_one = [int(x) for x in args.rt_one_process.split(",") if x]
    if per_one:
        print("### One process (what one core and one interpreter carry)\n")
        one = _search(per_one, 10**6, args.rt_seconds, tmp / "one", args.rt_tries,
                      normal_priority=args.rt_normal_priority)
        print(f"\nOne process carries **{one or 'none of those tried'}** connected lines with zero late frames.\n")
    print(f"### The machine: {args.rt_lines_per_process} lines per process\n")
    best = _search([int(x) for x in args.rt_lines.split(",") if x], args.rt_lines_per_process, args.rt_seconds,
                   tmp / "machine", args.rt_tries, normal_priority=args.rt_normal_priority)
    print(f"\nMost lines carried with zero late frames over {args.rt_seconds:g} s: **{best or 'none of those tried'}**.\n")
    if args.rt_idle:
        print(f"### Idle lines: {args.rt_idle} phones on hook, one process\n")
        print(HEADER)
        print(_row(run(args.rt_idle, 10**6, min(args.rt_seconds, 20.0), tmp / "idle", idle=True)) + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rt-lines", default="16,24,32,40,48",
                        help="lines tried over several processes, in order; the search stops after the first "
                             "with late frames (default %(default)s)")
    parser.add_argument("--rt-one-process", default="8,12,16",
                        help="lines tried in one process first (default %(default)s; '' to skip)")
    parser.add_argument("--rt-lines-per-process", type=int, default=8, help="(default %(default)s)")
    parser.add_argument("--rt-seconds", type=float, default=60.0, help="each run (default %(default)s)")
    parser.add_argument("--rt-tries", type=int, default=2, help="(default %(default)s)")
    parser.add_argument("--rt-normal-priority", action="store_true",
                        help="run the lines at normal priority instead of the host's (SCHED_RR where allowed)")
    parser.add_argument("--rt-idle", type=int, default=16, help="idle lines measured at the end (default %(default)s; 0: none)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.facility.realtime", description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--idle", action="store_true")
    parser.add_argument("--normal-priority", action="store_true")
    parser.add_argument("--database")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--recordings", default="rt-recordings")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.probe:
        return probe(args)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="facbench-rt.") as tmp:
        section_realtime(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
