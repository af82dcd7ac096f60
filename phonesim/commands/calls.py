"""Every line of a facility, live: who is calling whom, how long, at what cost.

Reads the live events every platform process writes to the facility database (any host:
with PostgreSQL, each Pi's lines appear as they happen), and shows one row per terminal:
its unit, its status, the call's phase, the inmate, the number (a privileged number only
as "privileged"), the call type, the duration, the cost so far, the warnings played and
any three-way suspicion.  --follow redraws it as things happen (Ctrl-C ends it);
without it, the last hour is folded and printed once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from phonesim.commands import clean, heal_left_open, positive_seconds
from phonesim.config import load_config

NAME = "calls"
HELP = "show every line of a facility live (--follow), from any host"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", "-f", action="store_true", help="keep showing changes as they happen")
    parser.add_argument("--database", metavar="URL",
                        help="the facility database (default: paths.database): a path, sqlite:///PATH "
                             "or postgresql://...")
    parser.add_argument("--facility", metavar="ID", help="one facility (default: the configured one; "
                                                         "'all' for every facility of the database)")
    parser.add_argument("--since-s", type=positive_seconds, default=3600.0, metavar="S",
                        help="fold the events of this many seconds back first (default 3600)")
    parser.add_argument("--json", action="store_true", help="one JSON object per event instead of a table")
    parser.add_argument("--max-s", type=positive_seconds, metavar="S", help="with --follow: stop after S seconds")


def run(args: argparse.Namespace) -> int:
    from phonesim.facility.db import Database
    from phonesim.facility.ledger import Ledger
    from phonesim.facility.live import Board, LiveFollower
    from phonesim.facility.schema import migrate
    from phonesim.facility.sites import Sites

    cfg = load_config(args.config)
    url = args.database or cfg.resolve_path(cfg.paths.database)
    facility = None if args.facility == "all" else (args.facility or cfg.facility.id)
    with Database.open(url, create=False) as db:
        migrate(db)
        heal_left_open(Ledger(db, cfg=cfg), "phonesim calls")
        start = db.query("SELECT COALESCE(MIN(id), 1) - 1 FROM live_events WHERE at_s >= ?",
                         (time.time() - args.since_s,))
        follower = LiveFollower(db, facility_id=facility, since_id=int(start[0][0]))
        board = Board()
        for terminal in Sites(db).terminals(facility):
            row = board.row(terminal.id)
            row.unit, row.status = terminal.unit, terminal.status or ""
        tty = sys.stdout.isatty()
        deadline = None if args.max_s is None else time.monotonic() + args.max_s
        try:
            while True:
                events = follower.poll()
                for event in events:
                    board.apply(event)
                    if args.json:
                        print(json.dumps({"id": event.id, "at_s": round(event.at_s, 3), "terminal": event.terminal,
                                          "call_id": event.call_id, "kind": event.kind, **event.detail},
                                         default=str), flush=True)
                if not args.json and (events or not args.follow):
                    text = render(board, facility)
                    sys.stdout.write(("\x1b[2J\x1b[H" if tty and args.follow else "") + text + "\n")
                    sys.stdout.flush()
                if not args.follow or (deadline is not None and time.monotonic() >= deadline):
                    break
                follower.wait(0.5)
        finally:
            follower.close()
    return 0


def render(board, facility: str | None) -> str:
    """The board as a table (privileged numbers already hidden by the board)."""
    from phonesim.facility.rates import format_cents
    from phonesim.terminals.status import format_duration

    now = time.time()
    head = f"{'terminal':<18} {'unit':<6} {'status':<10} {'phase':<16} {'inmate':<7} {'number':<12} " \
           f"{'type':<8} {'time':>6} {'cost':>7} {'warn':>4}  three-way / ended"
    lines = [f"phonesim calls: {facility or 'every facility'}  {time.strftime('%H:%M:%S')}", head, "-" * len(head)]
    for name in sorted(board.rows):
        r = board.rows[name]
        tail = r.threeway or (r.disposition if r.phase in ("done", "idle") and r.disposition else "")
        lines.append(f"{clean(name)[:18]:<18} {clean(r.unit)[:6]:<6} {clean(r.status)[:10]:<10} "
                     f"{clean(r.phase)[:16]:<16} {clean(r.inmate)[:7]:<7} {clean(r.number)[:12]:<12} "
                     f"{clean(r.call_type)[:8]:<8} {format_duration(r.duration_s(now)):>6} "
                     f"{format_cents(r.cents):>7} {r.warnings:>4}  {clean(tail)}")
    return "\n".join(lines)
