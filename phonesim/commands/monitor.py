"""Watch a keypad live: every event with its time and sequence number, and the link's health.

Like pyserial's miniterm for the keypad.  Prints one line per event (seconds since start,
the event, its sequence number), a warning when sequence numbers skip (events lost) or
damaged lines arrive, and, for serial keypads, a health line every few seconds: heartbeat
round trip, garbage / bad-checksum / overlong counters, gaps, duplicates and reconnects.
Examples: 'phonesim monitor serial:///dev/serial/by-id/usb-MicroPython_Board_in_FS_mode_E66-if00',
'phonesim monitor stdin://', 'phonesim monitor "script://%2B1234%23?interval_ms=300"'.
"""

from __future__ import annotations

import argparse
import sys
import time

from phonesim.commands import url_from_command_line
from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.hw.keypad import open_keypad

_COUNTERS = ("garbage", "bad_checksum", "overlong", "unknown", "seq_gaps", "lost_events",
             "duplicates", "reboots", "device_errors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="keypad URL: serial://..., hid://..., stdin://, script://...")
    parser.add_argument("--duration-s", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    parser.add_argument("--stats-every-s", type=float, default=5.0,
                        help="print the link-health line this often (0: only at the end)")
    parser.add_argument("--display", metavar="TEXT", help="put TEXT on display line 0 first")


def describe(event) -> str:
    seq = getattr(event, "seq", None)
    tail = f"  seq={seq}" if seq is not None and seq >= 0 else ""
    if isinstance(event, KeyDown):
        return f"key {event.key} down{tail}"
    if isinstance(event, KeyUp):
        return f"key {event.key} up{tail}" + ("  (released: link lost)" if seq == -1 else "")
    if isinstance(event, HookChanged):
        return ("handset lifted (off hook)" if event.off_hook else "handset down (on hook)") + tail
    if isinstance(event, LinkChanged):
        return f"LINK {'UP' if event.up else 'DOWN'}: {event.reason}"
    return repr(event)


def health(keypad) -> str:
    stats = getattr(keypad, "stats", None)
    if not stats:
        return f"{keypad!r}"
    rtt = stats.get("last_rtt_ms")
    rtt_text = "rtt -" if rtt is None else f"rtt {rtt:.2f} ms (max {stats['max_rtt_ms']:.2f})"
    return (f"link {'up' if keypad.link_up else 'DOWN'}, {rtt_text}, pongs "
            f"{stats['pongs']}/{stats['pings_sent']}, lines {stats['lines_ok']}, garbage "
            f"{stats['garbage']}, bad checksum {stats['bad_checksum']}, overlong "
            f"{stats['overlong']}, unknown {stats['unknown']}, gaps {stats['seq_gaps']} (lost "
            f"{stats['lost_events']}), duplicates {stats['duplicates']}, reconnects "
            f"{stats['reconnects']}")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    start = time.monotonic()
    with url_from_command_line("URL", args.url):
        keypad = open_keypad(args.url)
    with keypad:
        print(f"{0.0:9.3f}  opened {keypad!r}", file=out, flush=True)
        if args.display:
            keypad.set_display(0, args.display)
        seen = dict.fromkeys(_COUNTERS, 0)
        events = 0
        next_stats = start + args.stats_every_s if args.stats_every_s > 0 else None
        try:
            while True:
                now = time.monotonic()
                if args.duration_s is not None and now - start >= args.duration_s:
                    break
                if args.count is not None and events >= args.count:
                    break
                event = keypad.read_event(timeout_s=0.1)
                now = time.monotonic()
                if event is not None:
                    events += 1
                    print(f"{now - start:9.3f}  {describe(event)}", file=out, flush=True)
                stats = getattr(keypad, "stats", None) or {}
                for name in _COUNTERS:
                    value = stats.get(name, 0)
                    if value > seen[name]:
                        print(f"{now - start:9.3f}  !! {name.replace('_', ' ')} +{value - seen[name]} "
                              f"(total {value})", file=out, flush=True)
                        seen[name] = value
                if next_stats is not None and now >= next_stats:
                    print(f"{now - start:9.3f}  -- {health(keypad)}", file=out, flush=True)
                    next_stats = now + args.stats_every_s
        except KeyboardInterrupt:
            pass
        print(f"{time.monotonic() - start:9.3f}  -- {events} events; {health(keypad)}",
              file=out, flush=True)
    return 0
