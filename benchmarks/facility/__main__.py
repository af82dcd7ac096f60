"""The facility simulation benchmark (printed tables, nothing asserted).

1. **A housing unit's day** (``day``): ``--phones`` wall phones (8) from 05:50 to 22:45, people
   arriving at each phone as a Poisson process (``--arrivals`` an hour), queueing, keying
   PINs (a few wrong), call types and numbers; called parties answering or not, declining,
   blocking, accepting, talking (assumed figures: :mod:`benchmarks.facility.population`);
   low-funds accounts running out. Through the real platform — call flow, executor,
   interfaces, SQL, CDRs, charges — without audio and jumping the clock between the frames
   where something is due (:mod:`benchmarks.facility.day`). The same day on SQLite and on a
   private PostgreSQL, side by side: simulated line-hours per CPU minute, charges per
   second, the interfaces' latency (p50/p99), lock waits, and every ledger check.
2. **The same slice with and without audio** (``audio``): ``--audio-minutes`` (20) from
   06:00 with every frame's DSP (keys as DTMF decoded by the line, the called party's
   speech, the three-way detector, prompts and warnings mixed, recordings), and the same
   slice without: the cost of each, and whether the calls come out alike.
3. **Many platform processes on one PostgreSQL** (``multi``): ``--processes`` (8) processes,
   each its own housing unit's day, at once: totals, reconcile(), discrepancies.
4. **Real-time capacity** (``realtime``): how many lines this machine carries in a call,
   null audio paced by the clock, with no late frame over ``--rt-seconds`` (60)
   (:mod:`benchmarks.facility.realtime`).

Run: ``python -m benchmarks.facility`` (all: about 30-40 minutes on 2 cores), ``--sections day,audio``,
or ``--quick`` (a few minutes: 3-hour days, a 3-minute audio slice, 15-second real-time runs of 8
and 16 lines; the same code paths and checks, smaller figures and noisier timings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.facility.day import day_clock, run_day
from benchmarks.facility.measure import (
    CHARGES,
    LOOKUPS,
    RECORDS,
    Timings,
    ledger_checks,
    problem_count,
    server_cpu_s,
    time_pin_lookups,
    time_transactions,
)
from benchmarks.facility.population import Assumptions, build_unit, seed_facility, seed_unit
from phonesim.config import load_config
from phonesim.facility.platform import Platform

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("day", "audio", "multi", "realtime")
#: What ``--quick`` changes (options given explicitly still win).
QUICK = {"hours": 3.0, "audio_minutes": 3.0, "multi_phones": 2, "rt_seconds": 15.0, "rt_lines": "8,16",
         "rt_one_process": "", "rt_tries": 1, "rt_idle": 4}
UNIT_NAMES = ("A-1", "B-2", "C-3", "D-4", "E-5", "F-6", "G-7", "H-8", "J-9", "K-10", "L-11", "M-12")


def private_postgres():
    """A private PostgreSQL server (tests/pg_server.py), or None when it is not installed."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_server import PrivatePostgres, postgres_bin

    return PrivatePostgres().start() if postgres_bin() is not None else None


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def one_day(database, phones: int, arrivals: float, seed: int, tmp: Path, *, transport: str = "events",
            start: dt.time = dt.time(5, 50), span_s: float | None = None, pg=None) -> dict:
    """One unit's day (or slice) on ``database``: the figures, the checks and the calls."""
    cfg = load_config(search=False)
    a = Assumptions(arrivals_per_phone_hour=arrivals)
    clock = day_clock(cfg.facility["timezone"], start)
    with Platform.open(cfg, database=database, clock=clock) as plat:
        seed_facility(plat)
        unit = build_unit(UNIT_NAMES[0], phones, a, seed=seed, unit_index=0)
        seed_unit(plat, unit, host="bench")
        timings = Timings()
        time_transactions(plat.ledger.db, timings)
        time_pin_lookups(plat.ledger, timings)
        server0 = server_cpu_s(pg.pid if pg else None)
        r = run_day(plat, unit, transport=transport, a=a, seed=seed, recordings=tmp / "rec",
                    timings=timings, arrivals_s=span_s, span_s=span_s)
        server = server_cpu_s(pg.pid if pg else None) - server0
        checks = ledger_checks(plat, timings)
        calls = [tuple(row) for row in plat.ledger.db.query(
            "SELECT terminal, inmate_id, number, disposition, billed_minutes, amount_cents, offhook_s FROM cdrs "
            "ORDER BY terminal, offhook_s")]
    return {"result": r, "server_cpu_s": server, "checks": checks, "calls": calls, "timings": timings}


def dispositions(calls: list[tuple]) -> list[tuple[str, int, int, int]]:
    out: dict[str, list[int]] = {}
    for _, _, _, disposition, minutes, cents, _ in calls:
        row = out.setdefault(disposition, [0, 0, 0])
        row[0] += 1
        row[1] += minutes
        row[2] += cents
    return sorted(((d, *v) for d, v in out.items()), key=lambda r: -r[1])


def _ms(x: float) -> str:
    return "-" if x != x else (f"{x:.2f}" if x < 10 else f"{x:.0f}")


def latency_rows(named: list[tuple[str, Timings]]) -> None:
    print("| interface (time in the call) | " + " | ".join(f"{n}: calls, p50 / p99 / max ms" for n, _ in named) + " |")
    print("|---|" + "---|" * len(named))
    groups = [("identity.authenticate (PIN key derivation + transaction)", ("authenticate",)),
              ("policy.may_call", ("may_call",)), ("policy.check_number", ("check_number",)),
              ("look-ups together", LOOKUPS), ("billing.charge_minute", CHARGES),
              ("records (open, update, timeline, close)", RECORDS)]
    for label, names in groups:
        cells = []
        for _, t in named:
            n, p50, p99, top = t.summary(names)
            cells.append(f"{n}, {_ms(p50)} / {_ms(p99)} / {_ms(top)}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("| lock waits | " + " | ".join(f"{n}: count, p50 / p99 / max ms, total s" for n, _ in named) + " |")
    print("|---|" + "---|" * len(named))
    for label, names in (("transaction begin (SQLite: BEGIN IMMEDIATE, the write lock; PostgreSQL: "
                          "a pooled connection and BEGIN)", ("tx-begin",)),
                         ("row locks: SELECT ... FOR UPDATE (PostgreSQL; with its round trip)", ("row-lock",))):
        cells = []
        for _, t in named:
            n, p50, p99, top = t.summary(names)
            cells.append(f"{n}, {_ms(p50)} / {_ms(p99)} / {_ms(top)}, {t.total_s(names):.2f}" if n else "0")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()


def checks_text(checks: dict) -> str:
    if checks["clean"]:
        return "clean"
    return (f"{problem_count(checks)} problem(s): reconcile {checks['reconcile'][:3]}, cdr!=charges "
            f"{checks['cdr_vs_charges'][:5]}, twice {checks['twice'][:5]}, interface!=db "
            f"{checks['interface_vs_db'][:5]}, by time {checks['by_time'][:5]}, open {checks['open']}")


def day_span(args) -> tuple[str, float | None]:
    """The day simulated: its label, and its length in seconds (None: the whole day)."""
    if args.hours is None:
        return "05:50-22:45", None
    return f"05:50 + {args.hours:g} h", args.hours * 3600


def section_day(args, tmp: Path) -> None:
    label, span_s = day_span(args)
    print(f"## A housing unit's day without audio: {args.phones} phones, {label}, "
          f"{args.arrivals:g} arrivals per phone-hour\n")
    print(f"Seed {args.seed} is the day the simulation was developed on; seed {args.held_out_seed} was "
          "not looked at before (held out).\n")
    day = (args.phones, args.arrivals)
    runs = [(f"SQLite, seed {args.seed}", one_day(tmp / "day.sqlite3", *day, args.seed, tmp / "sqlite",
                                                  span_s=span_s))]
    pg = private_postgres()
    if pg is None:
        print("(PostgreSQL is not installed: its column is missing)\n")
    else:
        try:
            runs.append((f"PostgreSQL, seed {args.seed}",
                         one_day(pg.create_database("facility_day"), *day, args.seed, tmp / "pg", pg=pg,
                                 span_s=span_s)))
        finally:
            pg.close()
    if args.held_out_seed is not None:
        runs.append((f"SQLite, seed {args.held_out_seed} (held out)",
                     one_day(tmp / "held-out.sqlite3", *day, args.held_out_seed, tmp / "held-out",
                             span_s=span_s)))
    print("| | " + " | ".join(n for n, _ in runs) + " |\n|---|" + "---|" * len(runs))
    rows = [
        ("simulated line-hours", lambda d: f"{d['result'].line_hours:.1f}"),
        ("platform process CPU s (of which PIN key derivations: s, count)",
         lambda d: f"{d['result'].cpu_s:.1f} ({sum(d['timings'].seconds['pin-kdf-cpu']):.1f}, "
                   f"{len(d['timings'].seconds['pin-kdf-cpu'])})"),
        ("database server CPU s", lambda d: f"{d['server_cpu_s']:.1f}" if d["server_cpu_s"] else "in process"),
        ("**simulated line-hours per CPU minute** (platform process)",
         lambda d: f"**{d['result'].line_hours / (d['result'].cpu_s / 60):.0f}**"),
        ("... counting the database server's CPU too",
         lambda d: f"{d['result'].line_hours / ((d['result'].cpu_s + d['server_cpu_s']) / 60):.0f}"),
        ("lines one core simulates at real-time speed",
         lambda d: f"{d['result'].line_hours * 3600 / d['result'].cpu_s:.0f}"),
        ("wall s", lambda d: f"{d['result'].wall_s:.0f}"),
        ("frames stepped (of simulated line-frames)",
         lambda d: f"{d['result'].steps:,} of {d['result'].line_hours * 180_000:,.0f}"),
        ("attempts / CDRs", lambda d: f"{d['result'].attempts} / {d['checks']['cdrs']}"),
        ("charges (billed minutes)", lambda d: f"{len(d['timings'].seconds['charge_minute']):,}"),
        ("charges per wall second / per CPU second",
         lambda d: f"{len(d['timings'].seconds['charge_minute']) / d['result'].wall_s:.0f} / "
                   f"{len(d['timings'].seconds['charge_minute']) / d['result'].cpu_s:.0f}"),
        ("ledger checks", lambda d: checks_text(d["checks"])),
    ]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(d) for _, d in runs) + " |")
    print()
    latency_rows([(n, d["timings"]) for n, d in runs])
    same_seed = [d for n, d in runs if "held out" not in n]
    same = all([c[:6] for c in d["calls"]] == [c[:6] for c in same_seed[0]["calls"]] for d in same_seed)
    print(f"Calls by disposition (seed {args.seed}: {'the same calls on every database' if same else 'NOT the same calls on every database'}):\n")
    disposition_table([(n, d["calls"]) for n, d in runs if "PostgreSQL" not in n])
    print(f"\n(load average before/after: {args.load0} / {load()})\n")


def disposition_table(named: list[tuple[str, list[tuple]]]) -> None:
    tables = [(name, {d: (n, m, c) for d, n, m, c in dispositions(calls)}) for name, calls in named]
    order = sorted({d for _, t in tables for d in t}, key=lambda d: -sum(t.get(d, (0,))[0] for _, t in tables))
    print("| disposition | " + " | ".join(f"{name}: calls, billed minutes, cents" for name, _ in tables) + " |")
    print("|---|" + "---|" * len(tables))
    for d in order:
        print(f"| {d} | " + " | ".join("{}, {}, {}".format(*t.get(d, (0, 0, 0))) for _, t in tables) + " |")
    print()


def section_audio(args, tmp: Path) -> None:
    minutes = args.audio_minutes
    seeds = [args.seed] + ([args.held_out_seed] if args.held_out_seed is not None else [])
    print(f"## The same slice with and without audio: {args.phones} phones, 06:00 + {minutes:g} min, "
          f"{args.audio_arrivals:g} arrivals per phone-hour (phones busy: the costly case for audio)\n")
    load0 = load()
    runs = {(seed, t): one_day(tmp / f"slice-{seed}-{t}.sqlite3", args.phones, args.audio_arrivals, seed,
                               tmp / f"slice-{seed}-{t}", transport=t, start=dt.time(6, 0), span_s=minutes * 60)
            for seed in seeds for t in ("audio", "events")}
    names = {seed: f"seed {seed}" + (" (held out)" if seed != args.seed else "") for seed in seeds}
    print("| | " + " | ".join(f"{names[s]} {'with audio (every frame, all DSP)' if t == 'audio' else 'without audio'}"
                             for s, t in runs) + " |")
    print("|---|" + "---|" * len(runs))
    results = [d["result"] for d in runs.values()]
    rows = [("CPU s", lambda r: f"{r.cpu_s:.2f}"),
            ("simulated line-hours per CPU minute", lambda r: f"{r.line_hours / (r.cpu_s / 60):.1f}"),
            ("µs per simulated line-frame", lambda r: f"{r.cpu_s / (r.line_hours * 180_000) * 1e6:.2f}"),
            ("frames stepped", lambda r: f"{r.steps:,}"),
            ("attempts", lambda r: f"{r.attempts}")]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")
    print("| ledger checks | " + " | ".join(checks_text(d["checks"]) for d in runs.values()) + " |\n")
    for seed in seeds:
        ca, ce = runs[(seed, "audio")]["calls"], runs[(seed, "events")]["calls"]
        alike = sum(1 for x, y in zip(ca, ce, strict=False) if x[:6] == y[:6])
        shift = max((abs(x[6] - y[6]) for x, y in zip(ca, ce, strict=False)), default=0.0)
        print(f"{names[seed]}: calls alike with and without audio (terminal, inmate, number, disposition, billed "
              f"minutes, cents): **{alike} of {max(len(ca), len(ce))}**; largest shift of an off-hook time: "
              f"{shift:.2f} s\n")
        for x, y in zip(ca, ce, strict=False):
            if x[:6] != y[:6]:
                print(f"- with audio {x[:6]} / without {y[:6]}")
    print()
    disposition_table([(f"{names[s]} with audio", runs[(s, "audio")]["calls"]) for s in seeds])
    print(f"(load average before/after: {load0} / {load()})\n")


def section_multi(args, tmp: Path) -> None:
    n = args.processes
    label, span_s = day_span(args)
    print(f"## {n} platform processes on one PostgreSQL, each its own unit of {args.multi_phones} phones, "
          f"one day each ({label})\n")
    pg = private_postgres()
    if pg is None:
        print("PostgreSQL is not installed: skipped.\n")
        return
    load0 = load()
    try:
        url = pg.create_database("facility_multi")
        cfg = load_config(search=False)
        with Platform.open(cfg, database=url) as plat:      # the facility and what units share, once
            seed_facility(plat)
        procs = []
        for k in range(n):
            cmd = [sys.executable, "-m", "benchmarks.facility.worker", "--database", url,
                   "--unit", UNIT_NAMES[k % len(UNIT_NAMES)] + ("" if k < len(UNIT_NAMES) else f"-{k}"),
                   "--unit-index", str(k), "--phones", str(args.multi_phones), "--seed", str(args.seed + k),
                   "--arrivals", str(args.arrivals), "--recordings", str(tmp / f"multi-rec-{k}")]
            cmd += [] if span_s is None else ["--span-s", str(span_s)]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a worker did not get ready: {line!r}")
        server0, wall0 = server_cpu_s(pg.pid), time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, _ = p.communicate(timeout=3600)
            reports.append(json.loads(out.strip().splitlines()[-1]))
        wall = time.perf_counter() - wall0
        server = server_cpu_s(pg.pid) - server0
        timings = Timings()
        for r in reports:
            timings.add(r["timings"])
        with Platform.open(cfg, database=url) as plat:
            checks = ledger_checks(plat, timings)
            charges = plat.ledger.db.query("SELECT COUNT(*), COALESCE(SUM(amount_cents), 0) FROM charges")[0]
    finally:
        pg.close()
    line_hours = sum(r["phones"] * r["simulated_s"] for r in reports) / 3600
    cpu = sum(r["cpu_s"] for r in reports)
    print("| | total |\n|---|---|")
    print(f"| processes x phones | {n} x {args.multi_phones} |")
    print(f"| simulated line-hours | {line_hours:.0f} |")
    print(f"| platform processes' CPU s / database server CPU s | {cpu:.0f} / {server:.0f} |")
    print(f"| simulated line-hours per CPU minute (platform processes; with the server) | "
          f"{line_hours / (cpu / 60):.0f}; {line_hours / ((cpu + server) / 60):.0f} |")
    print(f"| wall s (all at once, {os.cpu_count()} cores) | {wall:.0f} |")
    print(f"| attempts / CDRs | {sum(r['attempts'] for r in reports)} / {checks['cdrs']} |")
    print(f"| charges / cents | {charges[0]:,} / {charges[1]:,} |")
    print(f"| charges per wall second | {charges[0] / wall:.0f} |")
    print(f"| reconcile() | {'clean' if not checks['reconcile'] else checks['reconcile'][:3]} |")
    print(f"| discrepancies (CDR vs charges, minute charged twice, interface vs database, minutes vs "
          f"connected time, calls left open) | {problem_count(checks) - len(checks['reconcile'])} |\n")
    latency_rows([(f"{n} processes", timings)])
    print(f"(load average before/after: {load0} / {load()})\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.facility", description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"which (default all: {','.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true",
                        help="about 5 minutes instead of 30-40: " + ", ".join(f"--{k.replace('_', '-')} {v}"
                                                                             for k, v in QUICK.items()))
    parser.add_argument("--hours", type=float, default=None,
                        help="simulate only this many hours of each day from 05:50 (default: the whole day)")
    parser.add_argument("--phones", type=int, default=8, help="wall phones of a unit (default 8)")
    parser.add_argument("--arrivals", type=float, default=Assumptions().arrivals_per_phone_hour,
                        help="people arriving at each phone per hour (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--held-out-seed", type=int, default=2,
                        help="a second day (SQLite) and slice, not looked at while developing (default 2)")
    parser.add_argument("--audio-minutes", type=float, default=20.0, help="the slice run with audio (default 20)")
    parser.add_argument("--audio-arrivals", type=float, default=12.0,
                        help="arrivals per phone-hour in the slice (default 12: phones always busy)")
    parser.add_argument("--processes", type=int, default=8, help="platform processes of the multi run (default 8)")
    parser.add_argument("--multi-phones", type=int, default=4, help="phones of each process's unit (default 4)")
    from benchmarks.facility.realtime import add_arguments

    add_arguments(parser)
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}: expected some of {', '.join(SECTIONS)}")
    args.load0 = load()
    print(f"# Facility simulation ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load average {args.load0})\n")
    print("Assumed behaviour (benchmarks/facility/population.py): " + ", ".join(
        f"{k}={v}" for k, v in Assumptions(arrivals_per_phone_hour=args.arrivals).table()) + "\n")
    with tempfile.TemporaryDirectory(prefix="facbench.") as tmp:
        for name in sections:
            t0 = time.perf_counter()
            if name == "realtime":
                from benchmarks.facility.realtime import section_realtime

                section_realtime(args, Path(tmp))
            else:
                globals()[f"section_{name}"](args, Path(tmp) / name)
            print(f"({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
