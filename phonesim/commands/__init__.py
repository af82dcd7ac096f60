"""Subcommands of the ``phonesim`` command line, one module each (see :mod:`phonesim.cli`).

The argument types here make a bad value a usage error (exit 2) that names what
was expected and shows what came, before any work is done.
"""

from __future__ import annotations

import argparse
import math


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def number_in(low: float, high: float, *, integer: bool = False, unit: str = ""):
    """An argparse type: a finite number from ``low`` to ``high`` (a whole one with ``integer``)."""
    what = "a whole number" if integer else "a number"

    def parse(text: str) -> float | int:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"expected {what} from {low:g} to {high:g}{unit}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


def clean(value: object) -> str:
    """Text from a file, a database or the user made safe to print on a terminal.

    Control characters, terminal escapes (ESC, CSI) and invisible formatting
    characters (bidirectional overrides) are shown as ``\\xNN`` / ``\\uNNNN``
    instead of acting on the terminal; everything printable is unchanged.
    """
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else
                   f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}" for ch in text)


def heal_left_open(ledger, prog: str = "phonesim") -> list[int]:
    """Close the calls a crashed process left open (:meth:`CdrStore.heal_left_open`), saying so
    on stderr; every command that opens the facility database runs it first."""
    import sys
    import time

    from phonesim.facility.cdr import CdrStore

    closed = CdrStore(ledger).heal_left_open(wall_s=time.time())
    if closed:
        print(f"{prog}: closed {len(closed)} call(s) a stopped process left open (ended at their last "
              f"sign of life, billed as charged, marked recovered): {', '.join(map(str, closed))}",
              file=sys.stderr)
    return closed
