"""The ``phonesim`` command line.

Each subcommand is a module in :mod:`phonesim.commands` with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; it is listed in
:data:`COMMANDS` when its feature lands.

Exit status: 0 success, 1 a runtime error (one line on stderr; the traceback
only with ``-v``), 2 a usage error (argparse), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from phonesim import __version__
from phonesim.exc import PhoneSimError

#: Subcommand modules, in the order ``--help`` shows them.
COMMANDS: tuple[str, ...] = (
    "demo",
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
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        return int(args._run(args) or 0)
    except PhoneSimError as err:
        if args.verbose:
            traceback.print_exc()
        print(f"phonesim: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("phonesim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
