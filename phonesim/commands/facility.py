"""Run the platform for a facility's terminals: every wall phone and kiosk of this host, at once.

The terminals come from the configuration's [[terminals]] tables (name, kind = phone or
kiosk, unit, keypad, audio, far_end URLs); with --demo, a demo facility of 8 wall phones
and a kiosk on loopback audio, scripted callers and robot called parties, with its own
demo inmates and accounts.  The records go to paths.database (or --database): a SQLite
file, or postgresql://... for a facility whose phones hang off several hosts, each
running this command for its own terminals.

One terminal failing (keypad or audio device gone) never stops the others: it is
reported and opened again every few seconds.  Ctrl-C or SIGTERM ends every call
cleanly.  Watch it live from any host with: phonesim calls --follow.

With more terminals than one process carries (--lines-per-process), the platform
spreads them over worker processes itself (--workers to choose how many).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import subprocess
import sys
import time

from phonesim.commands import heal_left_open, number_in, positive_seconds
from phonesim.config import load_config

NAME = "facility"
HELP = "run the platform for a facility's terminals (wall phones and kiosks), in one process or several"

log = logging.getLogger(__name__)

#: Lines one process carries in real time here with room to spare (benchmarks.facility measures it).
LINES_PER_PROCESS = 16
DEMO_PHONES = 8
#: The demo facility runs at any hour, and its callers may call again at once.
DEMO_OVERRIDES = {"profile.limits.wait_between_calls_s": 0, "profile.hours.windows": ["00:00-24:00"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true",
                        help=f"a demo facility: {DEMO_PHONES} wall phones with scripted callers and robot "
                             "called parties, and a kiosk, on loopback audio (ignores [[terminals]])")
    parser.add_argument("--phones", type=number_in(1, 512, integer=True), default=DEMO_PHONES, metavar="N",
                        help=f"with --demo: how many wall phones (default {DEMO_PHONES})")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="realtime", action="store_true", default=True,
                      help="run in real time (the default)")
    pace.add_argument("--virtual", dest="realtime", action="store_false",
                      help="run as fast as the CPU allows (scripted keypads and robots only)")
    parser.add_argument("--database", metavar="URL",
                        help="the facility database (default: paths.database): a path, sqlite:///PATH "
                             "or postgresql://...")
    parser.add_argument("--recordings", metavar="DIR", help="where recordings go (default: paths.recordings)")
    parser.add_argument("--max-s", type=positive_seconds, metavar="S", help="stop after this many seconds")
    parser.add_argument("--workers", type=number_in(0, 64, integer=True), default=0, metavar="N",
                        help="worker processes (default 0: as many as the terminals need, "
                             "--lines-per-process each)")
    parser.add_argument("--lines-per-process", type=number_in(1, 512, integer=True), default=LINES_PER_PROCESS,
                        metavar="N", help=f"terminals one process serves at most (default {LINES_PER_PROCESS})")
    parser.add_argument("--only", metavar="NAMES", help=argparse.SUPPRESS)   # a worker's share
    parser.add_argument("--quiet", action="store_true", help="no status table")
    # the officers' console, served by this process so it can listen to its lines
    from phonesim.console.server import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument("--console", action="store_true",
                        help="serve the officers' and investigators' console in a browser from this process "
                             "(with --demo: demo logins with new passwords are printed)")
    parser.add_argument("--console-host", default=DEFAULT_HOST, metavar="ADDRESS",
                        help=f"with --console: the address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--console-port", type=number_in(0, 65535, integer=True), default=DEFAULT_PORT,
                        metavar="N", help=f"with --console: the port (default {DEFAULT_PORT}; 0: any free port)")


def demo_terminals(phones: int) -> list[dict[str, str]]:
    """The demo facility's terminals: phones in two housing units, each with a scripted caller,
    and a kiosk (see :func:`seed_demo_facility` for who calls whom)."""
    terminals = []
    for i in range(phones):
        unit = "A-1" if i % 2 == 0 else "B-2"
        pin, number = demo_caller(i)
        # lift after a staggered pause, key the PIN, prepaid, the number; talk; hang up; wait; again
        pause = "," * (4 + 6 * i)
        call = f"+{pin}%23,,,,,,,,,,,,3,,,,,,,,{number}%23" + "," * 400 + "-" + "," * 40
        terminals.append({"name": f"{unit}-phone-{i + 1}", "kind": "phone", "unit": unit,
                          "keypad": f"script://{pause}{call * 3}?interval_ms=250&hold_ms=100",
                          "audio": f"loopback://demo-{i + 1}",
                          "far_end": f"robot://accept?answer_after={1 + i % 3}&talk_s={45 + 20 * (i % 4)}&seed={i}"})
    terminals.append({"name": "A-1-kiosk", "kind": "kiosk", "unit": "A-1",
                      "keypad": "script://,,,,,,,,5000%23,,,,1,,,,,,,,,,*?interval_ms=500", "audio": "",
                      "far_end": ""})
    return terminals


def demo_caller(i: int) -> tuple[str, str]:
    """The PIN and the prepaid number of demo phone ``i``'s caller."""
    return f"{5000 + i:04d}", f"573555{2000 + i:04d}"


def seed_demo_facility(platform, phones: int) -> None:
    """Demo inmates (one per phone, PIN 5000, 5001 ...) with prepaid numbers to call; idempotent."""
    ledger = platform.ledger
    ledger.seed_demo(platform.cfg)
    for i in range(phones):
        pin, number = demo_caller(i)
        inmate_id = f"{2001 + i}"
        if not ledger.has_inmate(inmate_id):
            ledger.add_inmate(inmate_id, f"Demo Caller {i + 1}", pin, housing_unit="A-1" if i % 2 == 0 else "B-2",
                              name_prompt="inmate_name_default")
            ledger.credit_trust(inmate_id, 2000, memo="demo deposit")
        if not ledger.has_prepaid(number):
            ledger.fund_prepaid(number, 2000, memo="demo deposit")


def run(args: argparse.Namespace) -> int:
    from phonesim.exc import UsageError

    # the demo runs at any hour, and a caller may call again at once
    overrides = DEMO_OVERRIDES if args.demo else None
    cfg = load_config(args.config, overrides=overrides)
    terminals = demo_terminals(args.phones) if args.demo else [dict(t) for t in cfg.terminals]
    if not terminals:
        raise UsageError("no terminals: list them as [[terminals]] tables in the configuration "
                         "(name, kind, unit, keypad, audio), or run --demo")
    if args.only:
        wanted = set(args.only.split(","))
        terminals = [t for t in terminals if t["name"] in wanted]
    workers = args.workers or (1 if args.only else math.ceil(len(terminals) / args.lines_per_process))
    if workers > 1 and not args.only:
        return _supervise(args, terminals, workers)
    return _serve(args, cfg, terminals)


def _serve(args: argparse.Namespace, cfg, terminals: list[dict]) -> int:
    from phonesim.facility.platform import Platform
    from phonesim.terminals.facility_host import FacilityHost
    from phonesim.terminals.phone_app import StopSignals

    database = args.database or cfg.resolve_path(cfg.paths.database)
    recordings = args.recordings or cfg.resolve_path(cfg.paths.recordings)
    with Platform.open(cfg, database=database) as platform:
        heal_left_open(platform.ledger, "phonesim facility")
        if args.demo and not args.only:
            seed_demo_facility(platform, args.phones)
        host = FacilityHost(cfg, platform, terminals=terminals, realtime=args.realtime, recordings_dir=recordings)
        priority = host.raise_priority() if args.realtime else "virtual time"
        if not args.quiet:
            print(f"phonesim facility {cfg.facility.id} ({cfg.facility.name}): {len(terminals)} terminal(s) on "
                  f"{platform.ledger.db.name}, {priority}; follow it with: phonesim calls --follow"
                  + (f" --database {database}" if args.database else ""), flush=True)
        console = _start_console(args, cfg, database, recordings, host=host) if args.console else None
        status_thread = None
        if not args.quiet and args.realtime and console is None:
            status_thread = _StatusPrinter(host)
            status_thread.start()
        try:
            with StopSignals(host.stop):
                host.run(max_s=args.max_s)
        finally:
            if console is not None:
                console.close()
        if status_thread is not None:
            status_thread.stop()
        if not args.quiet:
            print(_status_table(host), flush=True)
        problems = platform.ledger.reconcile()
        if problems:
            print("phonesim: the ledger does not reconcile: " + "; ".join(problems), file=sys.stderr)
            return 1
    return 0


def _supervise(args: argparse.Namespace, terminals: list[dict], workers: int) -> int:
    """Start ``workers`` processes, each serving its share of the terminals; start again one that
    dies; stop them all on Ctrl-C / SIGTERM."""
    shares = [terminals[i::workers] for i in range(workers)]
    base = [sys.executable, "-m", "phonesim"] + (["--config", args.config] if args.config else []) + ["facility"]
    for flag, value in (("--database", args.database), ("--recordings", args.recordings),
                        ("--max-s", args.max_s)):
        if value is not None:
            base += [flag, str(value)]
    if args.demo:
        base += ["--demo", "--phones", str(args.phones)]
    if not args.realtime:
        base.append("--virtual")
    if args.demo:       # the demo data once, before the workers share it
        from phonesim.facility.platform import Platform

        cfg = load_config(args.config, overrides=DEMO_OVERRIDES)
        with Platform.open(cfg, database=args.database or cfg.resolve_path(cfg.paths.database)) as platform:
            seed_demo_facility(platform, args.phones)
    console = None
    if args.console:    # the workers serve the lines: this console shows and cuts off, never listens
        cfg = load_config(args.config, overrides=DEMO_OVERRIDES if args.demo else None)
        console = _start_console(args, cfg, args.database or cfg.resolve_path(cfg.paths.database),
                                 args.recordings or cfg.resolve_path(cfg.paths.recordings), host=None)
    stopping = False

    def on_signal(signum, frame) -> None:
        nonlocal stopping
        stopping = True
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: dict[int, subprocess.Popen] = {}
    restarts = dict.fromkeys(range(workers), 0)
    try:
        for k, share in enumerate(shares):
            procs[k] = subprocess.Popen(base + ["--quiet", "--only", ",".join(t["name"] for t in share)])
        print(f"phonesim facility: {len(terminals)} terminals over {workers} worker processes "
              f"({', '.join(str(p.pid) for p in procs.values())})", flush=True)
        while procs and not stopping:
            time.sleep(0.5)
            for k, proc in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                if code == 0 or args.max_s:
                    procs.pop(k)
                    continue
                restarts[k] += 1
                print(f"phonesim facility: worker {k} (pid {proc.pid}) exited {code}; starting it again",
                      file=sys.stderr, flush=True)
                time.sleep(min(30, 2 ** restarts[k]))
                procs[k] = subprocess.Popen(base + ["--quiet", "--only", ",".join(t["name"] for t in shares[k])])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if console is not None:
            console.close()
    return 0


def _start_console(args: argparse.Namespace, cfg, database, recordings, *, host):
    """The console on this process's thread (see phonesim.console); its URL and demo logins printed."""
    from phonesim.console.server import serve_console

    return serve_console(cfg, database, recordings, host=host, bind=args.console_host, port=args.console_port,
                         demo=args.demo)


def _status_table(host) -> str:
    rows = [f"{'terminal':<20} {'kind':<6} {'unit':<6} {'status':<24} {'calls':>5} {'stalls':>6} {'late':>5}"]
    for st in host.status.values():
        rows.append(f"{st.name:<20} {st.kind:<6} {st.unit:<6} {st.status[:24]:<24} {st.calls:>5} "
                    f"{st.stalls:>6} {st.late_frames:>5}")
    return "\n".join(rows)


class _StatusPrinter:
    """Prints the host's terminals every few seconds (a log line per change when not a terminal)."""

    def __init__(self, host, every_s: float = 10.0) -> None:
        import threading

        self.host = host
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        last = ""
        while not self._stop.wait(self.every_s):
            text = _status_table(self.host)
            if text != last:
                print(text, flush=True)
                last = text

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

