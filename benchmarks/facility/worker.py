"""One platform process of the multi-process run: its own housing unit's day on a shared database.

``python -m benchmarks.facility.worker --database URL --unit B-2 --unit-index 1 --phones 8
--seed 2 --recordings DIR``: seeds the unit (people, money, phones), prints ``ready``, waits
for a line on stdin (so every process starts its day at once), runs the day without audio
and prints one JSON line: its figures and timings. The parent checks the shared ledger.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

from benchmarks.facility.day import day_clock, run_day
from benchmarks.facility.measure import Timings, time_transactions
from benchmarks.facility.population import Assumptions, build_unit, seed_unit
from phonesim.config import load_config
from phonesim.facility.platform import Platform


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.facility.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--unit", required=True)
    parser.add_argument("--unit-index", type=int, required=True)
    parser.add_argument("--phones", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--arrivals", type=float, default=Assumptions().arrivals_per_phone_hour)
    parser.add_argument("--recordings", required=True)
    parser.add_argument("--span-s", type=float, default=None, help="only this much of the day (default: all)")
    args = parser.parse_args(argv)
    cfg = load_config(search=False)
    a = Assumptions(arrivals_per_phone_hour=args.arrivals)
    clock = day_clock(cfg.facility["timezone"])
    with Platform.open(cfg, database=args.database, clock=clock) as platform:
        unit = build_unit(args.unit, args.phones, a, seed=args.seed, unit_index=args.unit_index)
        seed_unit(platform, unit, host=f"{socket.gethostname()}-{args.unit}")
        timings = Timings()
        time_transactions(platform.ledger.db, timings)
        print("ready", flush=True)
        sys.stdin.readline()
        r = run_day(platform, unit, transport="events", a=a, seed=args.seed, recordings=Path(args.recordings),
                    timings=timings, arrivals_s=args.span_s, span_s=args.span_s)
    print(json.dumps({"unit": args.unit, "phones": r.phones, "simulated_s": r.simulated_s, "cpu_s": r.cpu_s,
                      "wall_s": r.wall_s, "steps": r.steps, "attempts": r.attempts,
                      "timings": timings.as_dict()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
