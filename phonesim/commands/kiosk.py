"""Run the inmate kiosk: PIN login, balances, buy phone time from the trust account,
recent calls, request a number for the approved list.

The screen is this terminal (and the keypad controller's display when it has one);
with --audio the kiosk also speaks its prompts on that headset.  Keys: 0-9, * and #,
A-D as menu keys (on a laptop keyboard, type them; Enter is #).  The session logs
out after --idle-timeout-s without a key.  Ctrl-C or SIGTERM stops the kiosk.
"""

from __future__ import annotations

import argparse
import logging

from phonesim.clock import RealTimeClock
from phonesim.commands import heal_left_open, positive_seconds
from phonesim.config import load_config
from phonesim.terminals.phone_app import StopSignals

NAME = "kiosk"
HELP = "run the inmate kiosk (balances, buy phone time, recent calls, number requests)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keypad", metavar="URL",
                        help="keypad backend (default: devices.keypad from the config), "
                             "e.g. stdin:// or serial:///dev/phonesim-keypad")
    parser.add_argument("--audio", metavar="URL",
                        help="speak the prompts on this audio port, e.g. pyaudio://?device=USB "
                             "(default: silent)")
    parser.add_argument("--database", metavar="PATH",
                        help="the facility database (default: paths.database from the config)")
    parser.add_argument("--idle-timeout-s", type=positive_seconds, default=60.0, metavar="S",
                        help="log out after this many seconds without a key (default: 60)")
    parser.add_argument("--seed-demo", action="store_true",
                        help="add the demo inmate and balances to the database first")


def run(args: argparse.Namespace) -> int:
    from phonesim.facility.platform import Platform
    from phonesim.hw.keypad import open_keypad
    from phonesim.terminals.kiosk import Kiosk, KioskSession, LedgerKioskBackend

    cfg = load_config(args.config)
    clock = RealTimeClock()
    database = args.database or cfg.resolve_path(cfg.paths.database)
    keypad_url = args.keypad or cfg.devices.keypad
    with Platform.open(cfg, database=database, clock=clock) as platform:
        heal_left_open(platform.ledger, "phonesim kiosk")
        if args.seed_demo:
            platform.ledger.seed_demo(cfg)
        backend = LedgerKioskBackend(platform.ledger, cfg, clock=clock, cdrs=platform.cdrs)
        session = KioskSession(backend, clock, pin_length=int(cfg.profile.pin.length),
                               id_first=cfg.profile.pin.login == "id+pin",
                               idle_timeout_s=args.idle_timeout_s)
        with open_keypad(keypad_url) as keypad:
            audio = prompts = None
            if args.audio:
                from phonesim.hw.audio import open_audio

                prompts = platform.prompts
                audio = open_audio(args.audio)
            try:
                kiosk = Kiosk(session, keypad, audio=audio, prompts=prompts)

                def wait_frame() -> None:
                    clock.wait_next_frame()
                    clock.tick()

                with StopSignals(kiosk.stop):
                    kiosk.run(wait_frame=wait_frame)
            finally:
                if audio is not None:
                    audio.close()
    print("\nkiosk stopped")
    return 0

