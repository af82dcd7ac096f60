"""``python -m firmware_stubs.host --pty``: a virtual keypad device on a laptop.

Runs the unmodified Pico firmware in the MicroPython unix port on a new pty and
prints the device path on the first line of stdout; then open it with
``phonesim monitor serial:///dev/pts/N`` or give it to ``phonesim phone``.

Who presses the keys:

* ``--script "+1234#"``: after ``--wait-ms`` the script is played once (``+`` lift, ``-`` hang up,
  ``,`` pause), then the device stays up until Ctrl-C;
* a terminal on stdin: each key you type is pressed for ``--hold-ms``, ``h``
  toggles the hook, ``q`` quits;
* a pipe on stdin: each line is a key script.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import termios
import tty
from pathlib import Path

from firmware_stubs.host.runner import FirmwareProcess, find_micropython

PROG = "python -m firmware_stubs.host"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pty", action="store_true", required=True,
                        help="run the firmware on a new pty and print its path")
    parser.add_argument("--kind", choices=("4x3", "4x4"), default="4x3",
                        help="keypad kind the strap pin reports (default 4x3)")
    parser.add_argument("--link", metavar="PATH",
                        help="also make PATH a symlink to the pty (a stable name, like by-id)")
    parser.add_argument("--off-hook", action="store_true", help="handset lifted at power-up")
    parser.add_argument("--bounce-ms", type=int, default=5, help="contact bounce to inject (5)")
    parser.add_argument("--script", metavar="KEYS", help="play this key script, e.g. '+1234#'")
    parser.add_argument("--interval-ms", type=int, default=200, help="script pace (200)")
    parser.add_argument("--hold-ms", type=int, default=100, help="how long a key is held (100)")
    parser.add_argument("--wait-ms", type=int, default=2000,
                        help="pause before the script, so a host can open the port first (2000)")
    return parser


def _interactive(fw: FirmwareProcess, hold_ms: int) -> None:
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    off_hook = fw.off_hook
    print("keys: 0-9 * # A-D press, h hook, q quit", file=sys.stderr)
    try:
        while fw.process is not None and fw.process.poll() is None:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            for ch in os.read(fd, 64).decode("ascii", errors="ignore"):
                if ch == "q":
                    return
                if ch == "h":
                    off_hook = not off_hook
                    fw.lift() if off_hook else fw.hang_up()
                    print("handset lifted" if off_hook else "handset down", file=sys.stderr)
                elif ch.upper() in "0123456789*#ABCD":
                    fw.press(ch.upper(), hold_ms)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def venv_python() -> str:
    """How to start the project's venv Python from here (what ``make test`` sets up)."""
    venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
    try:
        return str(venv.relative_to(Path.cwd()))
    except ValueError:
        return str(venv)


def missing_micropython() -> str:
    """One line for a Python without the MicroPython unix port (not the project's venv)."""
    return (f"{PROG}: the MicroPython unix port ('micropython') is neither next to this Python "
            f"({sys.executable}) nor on PATH; it comes with the dev extra: run "
            f"'{venv_python()} -m firmware_stubs.host --pty' after 'make test' (or "
            f"'.venv/bin/pip install -e \".[dev]\"'), or activate the venv first")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if find_micropython() is None:
        print(missing_micropython(), file=sys.stderr)
        return 1
    fw = FirmwareProcess(kind=args.kind, link=args.link, off_hook=args.off_hook,
                         bounce_ms=args.bounce_ms)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(fw.start(), flush=True)
        print(f"firmware pid {fw.pid} on {fw.pty_path}", file=sys.stderr)
        if args.script:
            pauses = "," * (max(0, args.wait_ms) // max(1, args.interval_ms))
            fw.play(pauses + args.script, interval_ms=args.interval_ms, hold_ms=args.hold_ms)
        elif sys.stdin.isatty():
            _interactive(fw, args.hold_ms)
            return 0
        else:
            for line in sys.stdin:
                if line.strip():
                    fw.play(line.strip(), interval_ms=args.interval_ms, hold_ms=args.hold_ms)
        code = fw.process.wait()  # until Ctrl-C / SIGTERM, or the firmware dies
        print(f"firmware exited with status {code}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        fw.stop()


if __name__ == "__main__":
    sys.exit(main())
