"""Subcommands of the ``phonesim`` command line, one module each (see :mod:`phonesim.cli`).

The argument types here make a bad value a usage error (exit 2) that names what
was expected and shows what came, before any work is done.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import threading
from collections.abc import Iterator

from phonesim.exc import InvalidUrl, UsageError


@contextlib.contextmanager
def url_from_command_line(option: str, url: str | None) -> Iterator[None]:
    """A malformed URL the user gave as ``option`` is a usage error (exit 2), found when what it
    names is opened; the same URL from the configuration stays a runtime error (exit 1)."""
    try:
        yield
    except InvalidUrl as err:
        if not url:
            raise
        raise UsageError(f"{option}: {err}") from err


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


def program_name() -> str:
    """How to run phonesim again from this shell, for the commands a command suggests.

    ``phonesim`` when that is on ``PATH`` and is this program; else the path it was started
    by as typed (``.venv/bin/phonesim`` after ``make demo``, with no venv activated); else
    ``python -m phonesim`` with this Python.
    """
    import os
    import shlex
    import shutil
    import sys

    on_path = shutil.which("phonesim")
    started = sys.argv[0] if sys.argv and os.path.basename(sys.argv[0]) == "phonesim" else ""
    script = started or os.path.join(os.path.dirname(sys.executable), "phonesim")
    if on_path and os.path.exists(script) and os.path.samefile(on_path, script):
        return "phonesim"
    if started:
        return shlex.quote(started)
    if os.path.exists(script):
        return shlex.quote(os.path.relpath(script) if script.startswith(os.getcwd() + os.sep) else script)
    return f"{shlex.quote(sys.executable)} -m phonesim"


def cdr_lines(cdr) -> list[tuple[str, str]]:
    """A call detail record as (field, text) pairs a person reads: calendar times only (not the
    raw seconds), money in dollars next to its cents, the talk time rounded (``182.9 (3:02.9)``)."""
    from phonesim.facility.rates import format_cents

    rows = []
    for key, value in cdr.as_dict(events=False).items():
        if key in ("offhook_s", "answered_s", "accepted_s", "ended_s"):
            continue
        if key == "amount_cents":
            value = f"{value} ({format_cents(value)})"
        elif key == "cents_per_min" and value is not None:
            value = f"{value} ({format_cents(value)} a minute)"
        elif key == "duration_s":
            minutes, seconds = divmod(round(float(value), 1), 60)
            value = f"{float(value):.1f} ({int(minutes)}:{seconds:04.1f})"
        rows.append((key, clean(value)))
    return rows


def wait_for_stop(max_s: float | None = None) -> None:
    """Block until Ctrl-C or SIGTERM (or ``max_s`` seconds), for commands that serve something
    on other threads (the console, the family line); the previous handlers are put back."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait(max_s)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

