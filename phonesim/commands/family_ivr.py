"""Answer the family line: the IVR families call at the provider's number, over SIP.

Listens for SIP (UDP) on --listen and answers INVITEs to the provider's number
(``[family] provider_phone`` of the profile, with or without its leading 1) with the
family menu: balance and recent charges, adding money by card (through the payment
simulator: no real card is charged), Direct Bill with the profile's credit limit, the
rates of each facility, and blocking or unblocking the facility's calls.  Calls to any
other user get 404.  The account is the caller's number (the SIP From user) or one the
caller keys in.  Keys are read from the audio (DTMF tones) and from RFC 4733 events.

Point a softphone or a PBX route at it, for example with baresip:

    phonesim family-ivr --listen 127.0.0.1:5070
    baresip: /dial sip:18008446591@127.0.0.1:5070
"""

from __future__ import annotations

import argparse

from phonesim.commands import number_in, positive_seconds, wait_for_stop
from phonesim.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:5070", metavar="HOST:PORT",
                        help="the SIP address to answer on (default 127.0.0.1:5070: this machine only)")
    parser.add_argument("--database", metavar="URL",
                        help="the facility database (default: paths.database): a path, sqlite:///PATH "
                             "or postgresql://...")
    parser.add_argument("--rtp-ports", metavar="LOW-HIGH", help="the calls' RTP ports (default 20000-20999)")
    parser.add_argument("--max-calls", type=number_in(1, 100, integer=True), default=8, metavar="N", help="calls at once (default 8)")
    parser.add_argument("--max-s", type=positive_seconds, metavar="S", help="stop after S seconds")


def run(args: argparse.Namespace) -> int:
    from phonesim.facility.family_ivr import FamilyBackend, FamilyIvrSession
    from phonesim.facility.ledger import Ledger
    from phonesim.facility.payments import SimulatedCardProcessor
    from phonesim.facility.platform import Platform
    from phonesim.facility.prompts import PromptSet
    from phonesim.facility.sip_inbound import FamilyIvrServer

    cfg = load_config(args.config)
    database = args.database or cfg.resolve_path(cfg.paths.database)
    prompts = PromptSet.load()
    with Ledger.open(database, cfg=cfg) as ledger:
        Platform(cfg, ledger=ledger, prompts=prompts)  # the facility's record and spoken name
        backend = FamilyBackend(ledger, cfg, processor=SimulatedCardProcessor(ledger.db))

        def new_session(caller: str, call_id: str) -> FamilyIvrSession:
            return FamilyIvrSession(backend, prompts, caller=caller, call_id=call_id)

        server = FamilyIvrServer(args.listen, provider_number=cfg.profile.family.provider_phone,
                                 session_factory=new_session, rtp_ports=args.rtp_ports,
                                 max_calls=args.max_calls)
        with server:
            print(f"family line: {server.uri} (the provider's number {cfg.profile.family.provider_phone}); "
                  "Ctrl-C to stop", flush=True)
            wait_for_stop(args.max_s)
        print(f"family line: {len(server.sessions)} call(s) answered, {len(server.refused)} refused", flush=True)
    return 0

