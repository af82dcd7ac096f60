"""The officers' and investigators' console, in a browser, on its own.

Serves the console (live board, cut-off, call records, playback, export, incidents,
no-contact orders, administration, audit log) for the configured facility from its
database — SQLite, or the PostgreSQL that every host of the facility shares.  A console
started here cannot listen to calls: listening needs the lines' audio, which only the
platform process serving them has (run ``phonesim facility --console`` for that).

It is bound to 127.0.0.1 unless --host says otherwise.  Accounts:

    phonesim console --add-staff alice --role officer      (prints a random password once)
    phonesim console --new-password alice
    phonesim console --disable-staff alice
"""

from __future__ import annotations

import argparse

from phonesim.commands import heal_left_open, number_in, positive_seconds, wait_for_stop
from phonesim.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from phonesim.console.server import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument("--database", metavar="URL",
                        help="the facility database (default: paths.database): a path, sqlite:///PATH "
                             "or postgresql://...")
    parser.add_argument("--recordings", metavar="DIR", help="the recordings folder (default: paths.recordings)")
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="ADDRESS",
                        help=f"the address to listen on (default {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=number_in(0, 65535, integer=True), default=DEFAULT_PORT, metavar="N",
                        help=f"the port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--max-s", type=positive_seconds, metavar="S", help="stop after S seconds")
    staff = parser.add_mutually_exclusive_group()
    staff.add_argument("--add-staff", metavar="USERNAME", help="add a console account (with --role) and exit")
    staff.add_argument("--new-password", metavar="USERNAME", help="give an account a new random password and exit")
    staff.add_argument("--disable-staff", metavar="USERNAME", help="disable an account (its sessions end) and exit")
    parser.add_argument("--role", choices=("officer", "investigator", "administrator"),
                        help="with --add-staff: what the account may do")


def run(args: argparse.Namespace) -> int:
    from phonesim.exc import UsageError

    cfg = load_config(args.config)
    database = args.database or cfg.resolve_path(cfg.paths.database)
    from phonesim.facility.ledger import Ledger

    with Ledger.open(database, cfg=cfg, create=False) as ledger:     # a missing database is an error
        heal_left_open(ledger, "phonesim console")
    if args.add_staff or args.new_password or args.disable_staff:
        return _staff(args, database)
    if args.role:
        raise UsageError("--role goes with --add-staff")
    from phonesim.console.server import serve_console

    recordings = args.recordings or cfg.resolve_path(cfg.paths.recordings)
    server = serve_console(cfg, database, recordings, bind=args.host, port=args.port)
    try:
        wait_for_stop(args.max_s)
    finally:
        server.close()
    return 0


def _staff(args: argparse.Namespace, database: str) -> int:
    from phonesim.console.staff import StaffStore, new_password
    from phonesim.exc import UsageError
    from phonesim.facility.db import Database
    from phonesim.facility.oversight import Oversight
    from phonesim.facility.schema import migrate

    with Database.open(database, create=False) as db:
        migrate(db)
        store, oversight = StaffStore(db), Oversight(db)
        if args.add_staff:
            if not args.role:
                raise UsageError("--add-staff needs --role officer, investigator or administrator")
            password = new_password()
            person = store.add(args.add_staff, args.role, password)
            oversight.audit("(command line)", "staff-added", target=person.username, staff_role=person.role)
            print(f"{person.username} ({person.role}) added; password: {password}")
        elif args.new_password:
            password = new_password()
            store.set_password(args.new_password, password)
            oversight.audit("(command line)", "staff-password", target=args.new_password)
            print(f"{args.new_password}: new password: {password}")
        else:
            store.set_disabled(args.disable_staff, True)
            oversight.audit("(command line)", "staff-disable", target=args.disable_staff)
            print(f"{args.disable_staff} disabled")
    return 0
