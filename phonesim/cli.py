"""The ``phonesim`` command line.

Each subcommand is a module of :mod:`phonesim.commands` named after it, with
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` lists the
names with their one-line help.  Only the module of the command that runs is
imported (``phonesim --version`` or ``decode`` need no database, SIP or audio
code), so ``--help`` reads the help from the table, not from the modules.

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
from collections.abc import Sequence

from phonesim import __version__
from phonesim.commands import clean
from phonesim.exc import PhoneSimError, UsageError

#: Every command with its one-line help, in the order ``--help`` shows them; the
#: command ``NAME`` is the module ``phonesim.commands.NAME`` (``-`` read as ``_``).
COMMANDS: dict[str, str] = {
    "demo": "run a complete loopback call and print its transcript and CDR",
    "facility": "run the platform for a facility's terminals (wall phones and kiosks), in one "
                "process or several",
    "calls": "show every line of a facility live (--follow), from any host",
    "console": "serve the officers' and investigators' console in a browser (records, board, "
               "cut-off)",
    "phone": "run one wall phone (keypad + headset) against the facility platform",
    "kiosk": "run the inmate kiosk (balances, buy phone time, recent calls, number requests)",
    "decode": "decode DTMF digits from WAV files",
    "tones": "write DTMF digits to a WAV file",
    "devices": "list the usable audio devices and the keypads (serial ports)",
    "monitor": "show keypad events and link health live",
    "threeway": "analyse recorded calls for three-way calling",
    "admin": "administer inmates, accounts, numbers, call records and rates",
    "config": "show or check the configuration",
    "family-ivr": "answer the family line over SIP (balance, card payments, Direct Bill, rates, blocks)",
}

log = logging.getLogger("phonesim")


class _LazyCommands(argparse._SubParsersAction):
    """The subcommands' action: a command's module is imported, and its options added to its
    parser, only when that command is parsed (or for every command with :func:`load_command`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        load_command(self, values[0])
        super().__call__(parser, namespace, values, option_string)


def load_command(commands: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name`` with its module's options (imported the first time)."""
    cmd = commands.choices.get(name)
    if cmd is None or cmd.get_default("_run") is not None:
        return cmd
    module = importlib.import_module(f"phonesim.commands.{name.replace('-', '_')}")
    cmd.description = module.__doc__
    module.add_arguments(cmd)
    cmd.set_defaults(_run=module.run)
    return cmd


def build_parser(*, load_all: bool = False) -> argparse.ArgumentParser:
    """The ``phonesim`` parser; ``load_all`` imports every command's module at once (to walk
    every option, as the tests do)."""
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
    parser.register("action", "lazy_parsers", _LazyCommands)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action="lazy_parsers")
    sub.required = True
    for name, help_text in COMMANDS.items():
        # the module's docstring as written: its paragraphs and examples keep their lines
        sub.add_parser(name, help=help_text, formatter_class=argparse.RawDescriptionHelpFormatter)
    if load_all:
        for name in COMMANDS:
            load_command(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
