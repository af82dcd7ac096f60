"""Subcommands of the ``phonesim`` command line, one module each (see :mod:`phonesim.cli`)."""

from __future__ import annotations

import argparse


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value
