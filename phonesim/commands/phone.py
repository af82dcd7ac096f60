"""Run one wall phone against the facility platform until stopped.

On a Raspberry Pi: --keypad serial:///dev/phonesim-keypad --audio "pyaudio://?device=USB".
On a laptop: --keypad stdin:// --audio loopback:// --far robot://accept (type h to lift
or hang up the handset, then the keys 0-9 * #); --speaker also plays the earpiece
audio on the laptop's sound device.  Defaults come from the configuration.

A status line shows the phase, the keys entered (a PIN is always masked), the call
timer, the balance and warnings; --json-events streams every event as a JSON line on
stdout (the status line then goes to stderr).  Ctrl-C or SIGTERM ends an active call
cleanly (CDR closed, charges final, recording finalised) and exits 0.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Any

from phonesim.clock import RealTimeClock, VirtualClock, frames_from_s
from phonesim.commands import heal_left_open, positive_seconds
from phonesim.config import load_config
from phonesim.exc import NotFound
from phonesim.terminals.chores import ChoresThread, TerminalChores
from phonesim.terminals.phone_app import PhoneApp, StopSignals, TeeAudioPort

NAME = "phone"
HELP = "run one wall phone (keypad + headset) against the facility platform"

DEFAULT_SPEAKER = "pyaudio://?device=default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keypad", metavar="URL",
                        help="keypad backend (default: devices.keypad), e.g. stdin://, "
                             "serial:///dev/phonesim-keypad, script://%%2B1234%%23 (+ lifts)")
    parser.add_argument("--audio", metavar="URL",
                        help="the handset's audio port (default: devices.audio), e.g. loopback:// "
                             "(a channel named after --terminal), "
                             "pyaudio://?device=USB")
    parser.add_argument("--sip-registrar", metavar="HOST[:PORT]",
                        help="register the sip: far end with this registrar, e.g. pbx.example.org "
                             "(default: sip.registrar; username and password from [sip] in the config)")
    parser.add_argument("--far", metavar="URL",
                        help="the outside line (default: devices.far_end), e.g. robot://accept, "
                             "sip:alice@192.168.1.20")
    parser.add_argument("--speaker", nargs="?", const=DEFAULT_SPEAKER, metavar="URL",
                        help=f"also play the earpiece audio here (default when given: {DEFAULT_SPEAKER})")
    parser.add_argument("--json-events", action="store_true",
                        help="stream every event as one JSON object per line on stdout")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="realtime", action="store_true", default=True,
                      help="run frames in real time (the default; needed for people and devices)")
    pace.add_argument("--virtual", dest="realtime", action="store_false",
                      help="run frames as fast as the CPU allows (scripted keypads and robots)")
    parser.add_argument("--database", metavar="PATH", help="the facility database (default: paths.database)")
    parser.add_argument("--recordings", metavar="DIR", help="where recordings go (default: paths.recordings)")
    parser.add_argument("--terminal", default="phone-1", metavar="NAME",
                        help="this phone's station name in CDRs (default: phone-1)")
    parser.add_argument("--unit", metavar="UNIT",
                        help="this phone's housing unit (its lockdowns end and refuse calls); default: "
                             "the unit [[terminals]] gives this name, else the one it was registered with")
    parser.add_argument("--seed-demo", action="store_true",
                        help="add the demo inmate (PIN 1234), accounts and numbers to the database first")
    parser.add_argument("--max-s", type=positive_seconds, metavar="S",
                        help="stop after this many seconds of line time")
    parser.add_argument("--exit-after-call", action="store_true",
                        help="stop when the first call attempt has ended and the handset is on the hook")


def run(args: argparse.Namespace) -> int:
    from phonesim.facility.farend import open_far_end
    from phonesim.facility.platform import Platform
    from phonesim.hw.audio import open_audio
    from phonesim.hw.driver import RealTimeDriver, VirtualDriver
    from phonesim.hw.keypad import open_keypad
    from phonesim.terminals.wallphone import WallPhone

    cfg = load_config(args.config)
    clock = RealTimeClock() if args.realtime else VirtualClock(epoch_s=time.time())
    database = args.database or cfg.resolve_path(cfg.paths.database)
    recordings = args.recordings or cfg.resolve_path(cfg.paths.recordings)
    status_out = sys.stderr if args.json_events else sys.stdout
    json_out = sys.stdout if args.json_events else None

    # the prompts load first: a missing or corrupt prompt refuses to start, naming the file
    platform = Platform.open(cfg, database=database, clock=clock)
    opened: list = [platform]
    try:
        if args.seed_demo:
            platform.ledger.seed_demo(cfg)
        # The phone is one of the facility's terminals: registered with its unit, and alive in
        # the records (the heartbeat) while it runs, so nobody takes its call for a crashed one.
        unit = terminal_unit(cfg, platform, args.terminal, args.unit)
        platform.sites.register_terminal(args.terminal, facility_id=cfg.facility["id"], unit=unit,
                                         kind="phone", host=socket.gethostname())
        # A call this phone had open when it crashed (power cut, kill -9) is closed
        # first, from the charges already recorded; other terminals' calls are theirs.
        recovered = platform.cdrs.recover_open_calls(terminal=args.terminal)
        heal_left_open(platform.ledger)
        if recovered:
            print(f"phonesim: closed {len(recovered)} call(s) left open by a crash: "
                  + ", ".join(str(i) for i in recovered), file=sys.stderr)
        sip = cfg.sip_options()
        if args.sip_registrar:
            sip["registrar"] = args.sip_registrar
        far_end = open_far_end(args.far or cfg.devices.far_end, clock=clock, prompts=platform.prompts,
                               sip=sip, keys=dict(cfg.profile.called_party))
        opened.append(far_end)
        line = platform.line(far_end=far_end, clock=clock, recordings_dir=recordings, terminal=args.terminal,
                             realtime=args.realtime)
        opened.append(line)
        audio_url = args.audio or cfg.devices.audio
        if audio_url.rstrip("/") == "loopback:":
            # the laptop form of the issue: a loopback channel named after this phone
            audio_url = f"loopback://{args.terminal}"
        audio = open_audio(audio_url)
        opened.append(audio)
        if args.speaker:
            audio = TeeAudioPort(audio, open_audio(args.speaker))
            opened.append(audio)
        keypad = open_keypad(args.keypad or cfg.devices.keypad, clock=clock)
        opened.append(keypad)
        phone = WallPhone(keypad, audio, line, clock, cfg.profile)
        opened.append(phone)
        app = PhoneApp(phone, clock, status_out=status_out, json_out=json_out)
        if args.realtime:
            driver = RealTimeDriver(clock, paced_by_device=bool(getattr(audio, "paced", False)))
        else:
            driver = VirtualDriver(clock)
        max_frames = frames_from_s(args.max_s) if args.max_s else None
        chores = TerminalChores(platform, cfg.facility["id"], units={args.terminal: unit},
                                line_of=lambda name: line, statuses=lambda: {args.terminal: "up"})
        with StopSignals(lambda: app.stop("signal")), ChoresThread(chores):
            app.run(driver, max_frames=max_frames, exit_after_call=args.exit_after_call)
        platform.sites.heartbeat({args.terminal: "stopped"})
        problems = platform.ledger.reconcile()
        if problems:
            print("phonesim: the ledger does not reconcile: " + "; ".join(problems), file=sys.stderr)
            return 1
    finally:
        for thing in reversed(opened):
            try:
                thing.close()
            except Exception as err:  # closing must go on for the others
                print(f"phonesim: closing {thing!r}: {err}", file=sys.stderr)
    return 0


def terminal_unit(cfg: Any, platform: Any, name: str, given: str | None) -> str:
    """The housing unit of terminal ``name``: as given, else as ``[[terminals]]`` lists it, else
    as it was registered before (a phone moved between units keeps the last one), else none."""
    if given is not None:
        return given
    listed = next((dict(t) for t in cfg.terminals if dict(t)["name"] == name), None)
    if listed is not None:
        return str(listed["unit"])
    try:
        return platform.sites.terminal(name).unit
    except NotFound:
        return ""
