"""Show or check the effective configuration and where each value came from."""

from __future__ import annotations

import argparse
import json

from phonesim.config import format_config, load_config, profile_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    show = sub.add_parser("show", help="print the effective configuration with the origin of each value")
    show.add_argument("--json", action="store_true", help="print JSON instead of annotated TOML")
    sub.add_parser("check", help="validate the configuration and print nothing but errors")
    sub.add_parser("profiles", help="list the facility profiles shipped with phonesim")


def run(args: argparse.Namespace) -> int:
    if args.action == "profiles":
        for name in profile_names():
            print(name)
        return 0
    cfg = load_config(args.config)
    if args.action == "show":
        if args.json:
            print(json.dumps({"source": cfg.source, "config": cfg.shown(),
                              "origins": {k: cfg.origin(k) for k in cfg.flat()}}, indent=2))
        else:
            print(format_config(cfg), end="")
    return 0
