"""The ``phonesim`` command line.

Each subcommand is a module in :mod:`phonesim.commands` with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; it is listed in
:data:`COMMANDS` when its feature lands.

Exit status: 0 success, 1 a runtime error (one line on stderr; the traceback
only with ``-v``), 2 a usage error (argparse, or :class:`~phonesim.exc.UsageError`),
130 interrupted.  Whatever goes wrong, without ``-v`` the user sees one line:
an error that is not a :class:`~phonesim.exc.PhoneSimError` (a bug, or a
failure nobody anticipated) is printed with its type and a hint to rerun with
``-v`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from phonesim import __version__
from phonesim.commands import clean
from phonesim.exc import PhoneSimError, UsageError

#: Subcommand modules, in the order ``--help`` shows them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "facility",
    "calls",
    "console",
    "phone",
    "kiosk",
    "decode",
    "tones",
    "devices",
    "monitor",
    "threeway",
    "admin",
    "config",
)

log = logging.getLogger("phonesim")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phonesim",
        description="An emulator of the facility side of a prison phone system.",
        epilog="Run 'phonesim COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"phonesim {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info and tracebacks, -vv debug)")
    parser.add_argument("--config", metavar="PATH",
                        help="configuration file (default: $PHONESIM_CONFIG, else ./phonesim.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"phonesim.commands.{name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verbose = any(a in ("-v", "-vv", "--verbose") for a in argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        raise
    except BaseException as err:  # a command module that cannot even be imported
        return _report(err, verbose)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        return int(args._run(args) or 0)
    except BaseException as err:
        return _report(err, bool(args.verbose))


def _report(err: BaseException, verbose: bool) -> int:
    """One line on stderr (the traceback too with -v); the exit status for ``err``."""
    if isinstance(err, SystemExit):
        raise err
    if isinstance(err, KeyboardInterrupt):
        print("phonesim: interrupted", file=sys.stderr)
        return 130
    if isinstance(err, BrokenPipeError):
        # The reader went away (phonesim ... | head): say nothing, and let no later flush fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    if verbose:
        traceback.print_exception(err)
    if isinstance(err, PhoneSimError):
        print(f"phonesim: error: {clean(err)}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1
    text = clean(str(err).replace("\n", " ").strip()) or "(no message)"
    hint = "" if verbose else " (run with -v for the traceback)"
    print(f"phonesim: error: unexpected {type(err).__name__}: {text}{hint}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
