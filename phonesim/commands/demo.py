"""Run a complete call in loopback mode: no hardware, virtual time, a readable transcript.

Everything is real except the people: a fresh SQLite facility database seeded
with the demo inmates and accounts, the shipped prompts, a scripted keypad whose
presses become DTMF tones in the handset's audio, the facility line that decodes
them from that audio, a robot called party that answers, listens to the
announcement and presses its key as DTMF, a conversation with the warning
message injected, per-minute charges in the ledger, a recording, and the CDR.

In virtual time a 4-minute call takes seconds; --realtime paces it to the clock
and prints the transcript as it happens (Ctrl-C ends the call cleanly).  A real
far end (--far-end sip:... or audio://...) always runs in real time: a person or
a PBX cannot be raced.

The scripted keys fit the configuration's profile (its PIN length and login, its
called-party keys; an approved-list profile gets the scenario's number approved
first); a scenario the profile rules out is skipped, saying why.  The demo prints
which configuration it used.

Without --data the database and the recording go to a temporary folder that is
removed at exit; --keep keeps it, --data DIR uses (and keeps) DIR.  Either way the
demo prints the 'phonesim admin' command that opens the call's record.

Exit status: 0 when the call ended as the scenario expects (with --far-end: when it
was accepted and connected) or when it was interrupted; 1 otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phonesim.clock import (
    FRAME_MS,
    FRAME_SAMPLES,
    FRAMES_PER_SECOND,
    RealTimeClock,
    VirtualClock,
    frames_from_s,
)
from phonesim.commands import cdr_lines, heal_left_open, program_name, url_from_command_line
from phonesim.config import load_config
from phonesim.events import HookChanged
from phonesim.exc import UsageError
from phonesim.facility.rates import format_cents

if TYPE_CHECKING:
    from phonesim.config import Config
    from phonesim.facility.calllog import CallSummary
    from phonesim.facility.cdr import Cdr

#: Where the inmate's own voice comes from (real speech at 8 kHz, Debian codec2-examples).
INMATE_SPEECH = ("/usr/share/codec2/raw/hts2a.raw", "/usr/share/codec2/raw/hts1a.raw")
#: The demo's database file in its data folder.
DATABASE_FILE = "phonesim.sqlite3"


# --- what a scenario needs from the profile ---------------------------------------------------
def _rate_cents(cfg: Config, call_type: str) -> int:
    from phonesim.facility.rates import RateTable

    day = dt.datetime.fromtimestamp(VirtualClock().epoch_s, dt.UTC).date()
    try:
        return int(RateTable.from_profile(cfg.profile).minute_charge_cents(call_type, "in-state", day))
    except LookupError:
        return 0


#: name -> (the rule holds for a profile, why the scenario cannot run when it does not)
REQUIREMENTS: dict[str, tuple[Callable[[Config], bool], str]] = {
    "rates-key": (lambda cfg: bool(cfg.profile.called_party.rates),
                  "the called party has no key to hear the rates (called_party.rates is empty)"),
    "block-key": (lambda cfg: bool(cfg.profile.called_party.block),
                  "the called party has no key to block the facility (called_party.block is empty)"),
    "toll-free-refused": (lambda cfg: "800" in cfg.profile.numbers.blocked_prefixes,
                          "the profile does not refuse toll-free numbers (800 is not in "
                          "numbers.blocked_prefixes)"),
    "call-limit": (lambda cfg: 0 < float(cfg.profile.limits.call_limit_s) <= 1080,
                   "the profile's call limit (limits.call_limit_s) is off or longer than the "
                   "scenario's 18 minutes"),
    "prepaid-charged": (lambda cfg: _rate_cents(cfg, "prepaid") > 0,
                        "prepaid calls are free under this profile: funds cannot run out"),
    "disconnects-three-way": (lambda cfg: cfg.profile.threeway.on_confirmed == "disconnect",
                              "the profile does not cut off a three-way call "
                              "(threeway.on_confirmed is not \"disconnect\")"),
}


@dataclass(frozen=True)
class Scenario:
    """One scripted call: who calls, what they key, and how the called party behaves.

    The keys fit the profile: ``inmate``'s seeded PIN (of the profile's length; with
    ``pin.login = "id+pin"`` the ID first), or, with ``wrong_pins``, as many wrong PINs
    as the profile allows before it locks.  ``needs`` names :data:`REQUIREMENTS` the
    profile must meet for the scenario to mean anything.
    """

    name: str
    description: str
    expect: str                              # the disposition this scenario should end with
    far_end: str = "robot://accept?talk_s=240"
    inmate: str = "1001"                     # a demo inmate (Ledger.seed_demo)
    call_type: str = "3"                     # the call type menu's key
    number: str = "5735550100"
    wrong_pins: bool = False                 # key wrong PINs until the phone locks
    prepaid_cents: dict = field(default_factory=dict)   # extra prepaid BTNs to fund
    overrides: dict = field(default_factory=dict)       # config overrides ("profile.limits...")
    needs: tuple[str, ...] = ()
    max_s: float = 1200.0

    def skip_reason(self, cfg: Config) -> str | None:
        """Why this scenario cannot run under ``cfg``'s profile, or None when it can."""
        for need in self.needs:
            holds, why = REQUIREMENTS[need]
            if not holds(cfg):
                return why
        return None


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("prepaid", "prepaid call to 573-555-0100, accepted, 4 minutes of conversation",
             "completed"),
    Scenario("collect", "collect (Direct Bill) call to 314-555-0199, accepted, 2 minutes", "completed",
             far_end="robot://accept?talk_s=120", call_type="2", number="3145550199"),
    Scenario("courtesy", "collect call to a number with no account: a free courtesy call; the called "
             "party hears how to set one up", "completed", far_end="robot://accept?talk_s=90", call_type="2",
             number="6605550142"),
    Scenario("no-account", "collect call to a number with no account, courtesy calls off: the called "
             "party is told how to set one up, nothing is connected", "no-account", call_type="2",
             number="6605550142", overrides={"profile.billing.no_account": "setup-only"}),
    Scenario("debit", "debit call paid from the inmate's phone account, 2 minutes", "completed",
             far_end="robot://accept?talk_s=120", call_type="1", number="3145550150"),
    Scenario("rates", "the called party asks for the rates, then accepts", "completed",
             far_end="robot://rates?talk_s=90", needs=("rates-key",)),
    Scenario("decline", "the called party presses the decline key", "declined",
             far_end="robot://decline"),
    Scenario("block", "the called party blocks future calls from the facility (a debit call)",
             "blocked-by-called-party", far_end="robot://block", call_type="1", number="5735550188",
             needs=("block-key",)),
    Scenario("busy", "the called number is busy", "busy", far_end="robot://busy"),
    Scenario("no-answer", "nobody answers within the ring timeout", "no-answer",
             far_end="robot://noanswer"),
    Scenario("no-accept", "answered, but no key is pressed within the accept timeout", "no-answer",
             far_end="robot://silent"),
    Scenario("toll-free", "the inmate tries a toll-free number", "toll-free-attempt",
             number="8005551234", needs=("toll-free-refused",)),
    Scenario("wrong-pin-lockout", "wrong PINs, one after another, until the phone locks", "locked",
             wrong_pins=True),
    Scenario("restricted", "an inmate on restricted status calls a non-privileged number",
             "restricted", inmate="1002"),
    Scenario("funds-run-out", "a prepaid account with 15 cents: a few minutes, then cut off",
             "funds-exhausted", far_end="robot://accept?talk_s=600", number="5735550177",
             prepaid_cents={"5735550177": 15}, needs=("prepaid-charged",)),
    Scenario("time-limit", "the call runs into the profile's time limit", "time-limit",
             far_end="robot://talk?talk_s=0", needs=("call-limit",)),
    Scenario("privileged", "a call to the public defender: free, never recorded", "completed",
             far_end="robot://accept?talk_s=90", number="5735550123"),
    Scenario("threeway", "the called party hook-flashes to add a third party", "three-way-detected",
             far_end="robot://accept?talk_s=300&threeway=flash&threeway_after_s=60",
             needs=("disconnects-three-way",)),
)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="prepaid", metavar="NAME",
                        help="which scripted call (default: prepaid; see --list-scenarios)")
    parser.add_argument("--list-scenarios", action="store_true",
                        help="list the scenarios (and which ones this profile skips) and exit")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary only")
    parser.add_argument("--realtime", action="store_true",
                        help="pace the call to the wall clock, printing the transcript as it happens")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--data", metavar="DIR",
                      help="folder for the database and recordings, kept (default: a temporary "
                           "folder, removed at exit)")
    data.add_argument("--keep", action="store_true",
                      help="keep the temporary folder and print where it is")
    parser.add_argument("--far-end", metavar="URL",
                        help="call this far end instead of the scenario's robot, e.g. sip:alice@192.168.1.20 "
                             "(a real far end runs in real time)")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.list_scenarios:
        width = max(len(n) for n in SCENARIOS)
        for s in SCENARIOS.values():
            skip = s.skip_reason(cfg)
            print(f"{s.name:<{width}}  {s.description} -> {s.expect}"
                  + (f" (skipped with profile {cfg.profile.name}: {skip})" if skip else ""))
        return 0
    if args.scenario not in SCENARIOS:
        raise UsageError(f"--scenario: expected one of {', '.join(SCENARIOS)}, got {args.scenario!r}")
    scenario = SCENARIOS[args.scenario]
    out = _Output(json_only=args.json)
    out.header(scenario, cfg)
    skip = scenario.skip_reason(cfg)
    if skip:
        if args.json:
            print(json.dumps({"scenario": scenario.name, "skipped": skip, **_configuration(cfg)}, indent=2))
        else:
            print(f"skipped: {skip}")
        return 0
    real_far_end = bool(args.far_end) and not args.far_end.lower().startswith("robot:")
    realtime = args.realtime or real_far_end
    if real_far_end and not args.realtime and not args.json:
        print("(a real far end: the call runs in real time)")
    keep = bool(args.data) or args.keep
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="phonesim-demo-"))
    try:
        out.data_folder(data, kept=keep)
        with url_from_command_line("--far-end", args.far_end):
            result = run_scenario(scenario, data_dir=data, config_path=args.config, realtime=realtime,
                                  far_end_url=args.far_end, on_entry=out.entry)
        result.data_kept = keep
        result.far_end = args.far_end
        out.ending(result)
    finally:
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
    return _exit_status(result, far_end=args.far_end)


def _exit_status(result: DemoResult, *, far_end: str | None) -> int:
    """0 when the platform did what was asked (make demo and CI read it), else 1 saying why."""
    if result.reconcile_problems:
        print("phonesim demo: the ledger does not reconcile: " + "; ".join(result.reconcile_problems),
              file=sys.stderr)
        return 1
    if result.interrupted:
        return 0                                 # a person stopped it: not a failure
    disposition = result.summary()["disposition"]
    if far_end:
        if result.connected:
            return 0
        reason = result.failure_reason()
        print(f"phonesim demo: the call to {far_end} ended {disposition!r}"
              + (f": {reason}" if reason else ""), file=sys.stderr)
        return 1
    if not result.expect_ok:
        print(f"phonesim demo: expected the call to end {result.scenario.expect!r}, it ended "
              f"{disposition!r}", file=sys.stderr)
        return 1
    return 0


def _configuration(cfg: Config) -> dict[str, str]:
    return {"configuration": cfg.source, "profile": str(cfg.profile.name)}


def admin_command(database: Path, call_id: int | None) -> str:
    """The command that shows the call's record (the same program, the database by path)."""
    return (f"{program_name()} admin --db {shlex.quote(str(database))} cdr show "
            f"{call_id if call_id is not None else 'N'}")


class _Output:
    """What the demo prints, in order: the header, each transcript line as it happens, the
    record and the result; with ``json_only``, the JSON summary at the end and nothing else."""

    def __init__(self, *, json_only: bool) -> None:
        from phonesim.terminals.transcript import Transcript

        self.json_only = json_only
        self.transcript = Transcript()

    def __repr__(self) -> str:
        return f"<_Output json_only={self.json_only}>"

    def _print(self, text: str = "") -> None:
        if not self.json_only:
            print(text, flush=True)

    def header(self, scenario: Scenario, cfg: Config) -> None:
        self._print(f"phonesim demo: {scenario.name} -- {scenario.description}")
        self._print(configuration_line(cfg))

    def data_folder(self, data: Path, *, kept: bool) -> None:
        self._print(f"data folder: {data}" + ("" if kept else " (temporary: removed at exit; --keep keeps it)"))
        self._print()

    def entry(self, t: dict) -> None:
        if not self.json_only:
            line = self.transcript.line(t)
            if line:
                self._print(line)

    def ending(self, result: DemoResult) -> None:
        if self.json_only:
            print(json.dumps(result.summary(), indent=2, default=str))
            return
        self._print("\n".join(result.ending_lines()))


def configuration_line(cfg: Config) -> str:
    """``configuration: built-in defaults, profile missouri-doc`` (a stray ./phonesim.toml shows)."""
    source = cfg.source if cfg.source == "built-in defaults" else f"file {os.path.abspath(cfg.source)}"
    return f"configuration: {source}, profile {cfg.profile.name}"


# --------------------------------------------------------------------------------------------
class _DemoMic:
    """The inmate's microphone: silence, then real speech while the call is connected."""

    def __init__(self, line, seed: int = 2) -> None:
        from phonesim.facility.callflow import Phase

        self.line = line
        self._phase_connected = Phase.CONNECTED
        self._speech = _load_inmate_speech(seed)
        self._pos = 0
        self.closed = False

    def read_frame(self) -> np.ndarray:
        if self.line.state.phase is not self._phase_connected or self._speech is None:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        idx = (self._pos + np.arange(FRAME_SAMPLES)) % self._speech.size
        self._pos = (self._pos + FRAME_SAMPLES) % self._speech.size
        return self._speech[idx]

    def write_frame(self, frame) -> None:
        pass

    def take_lost_samples(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"<_DemoMic pos={self._pos}>"


def _load_inmate_speech(seed: int) -> np.ndarray | None:
    from phonesim.facility.farend import load_speech

    for path in INMATE_SPEECH:
        if Path(path).exists():
            # a little quieter than the robot: people speak softly into a wall phone
            return (load_speech(path).astype(np.float64) * 0.6).astype(np.int16)
    return None


def logins(scenario: Scenario, cfg: Config, pins: dict[str, str]) -> list[str]:
    """What the inmate keys to log in, one string per try (``#`` follows each).

    The seeded PIN of ``scenario.inmate`` (``pins``: :meth:`Ledger.seed_demo`'s), with the ID
    first under ``pin.login = "id+pin"``; with ``wrong_pins``, ``pin.max_failures`` wrong PINs
    of the profile's length (``99..9``, ``88..8``, ...), which no demo inmate has.
    """
    pin = cfg.profile.pin
    prefix = scenario.inmate if pin.login == "id+pin" else ""
    if scenario.wrong_pins:
        return [prefix + str(9 - i % 9) * int(pin.length) for i in range(int(pin.max_failures))]
    return [prefix + pins[scenario.inmate]]


def key_script(scenario: Scenario, prompts, keyed_logins: list[str], *, enter: str = "enter_pin") -> str:
    """The inmate's key script: lift, listen to each prompt (``enter``: the PIN prompt the
    profile plays), key the answer (``,`` = 250 ms)."""
    def pause(*names: str) -> str:
        seconds = sum(prompts.duration_s(n) + 0.1 for n in names) + 0.75
        return "," * int(np.ceil(seconds / 0.25))

    script = "+" + pause("welcome", enter)
    if scenario.wrong_pins:
        for i, login in enumerate(keyed_logins):
            script += login + "#"
            if i + 1 < len(keyed_logins):
                script += pause("invalid_pin", enter)
        return script
    script += keyed_logins[0] + "#" + pause("call_type_menu")
    script += scenario.call_type + pause("enter_number")
    script += scenario.number + "#"
    return script


@dataclass
class DemoResult:
    """One demo call: its transcript (log entries as dicts), record and summary."""

    scenario: Scenario
    data_dir: Path
    call: CallSummary | None   # None when no attempt ended
    cdr: Cdr | None            # None when the attempt never got a CDR
    transcript: list
    frames: int
    expect_ok: bool
    reconcile_problems: list
    configuration: dict = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C or SIGTERM ended the call
    data_kept: bool = True     # the data folder outlives the demo
    far_end: str | None = None  # --far-end: a far end of the user's, not the scenario's robot

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_FILE

    @property
    def connected(self) -> bool:
        """The called party accepted and the call was connected."""
        return getattr(self.cdr, "accepted_s", None) is not None

    def failure_reason(self) -> str:
        """Why the outside line failed, as the far end said it ("" when it did not)."""
        return next((str(t.get("reason") or "") for t in reversed(self.transcript)
                     if t["kind"] in ("far-end-failed", "far-end") and t.get("reason")), "")

    def summary(self) -> dict:
        cdr = self.cdr
        inmate_digits = [t["digit"] for t in self.transcript if t["kind"] == "digit" and t["side"] == "inmate"]
        far_digits = [t["digit"] for t in self.transcript if t["kind"] == "digit" and t["side"] == "far"]
        call_id = getattr(cdr, "call_id", None)
        return {
            "scenario": self.scenario.name,
            **self.configuration,
            "call_id": call_id,
            "disposition": getattr(cdr, "disposition", self.call.disposition if self.call else None),
            "expected_disposition": self.scenario.expect,
            "as_expected": self.expect_ok,
            "interrupted": self.interrupted,
            "billed_minutes": getattr(cdr, "billed_minutes", None),
            "amount_cents": getattr(cdr, "amount_cents", None),
            "payer": {"kind": getattr(cdr, "payer_kind", None), "id": getattr(cdr, "payer_id", None)},
            "number": getattr(cdr, "number", None),
            "call_type": getattr(cdr, "call_type", None),
            "privileged": bool(getattr(cdr, "privileged", False)),
            "warning_times_s": [round(t["frame"] / FRAMES_PER_SECOND, 2)
                                for t in self.transcript if t["kind"] == "warning"],
            "recording_path": self.call.recording if self.call else None,
            "digits_decoded": {"inmate": "".join(inmate_digits), "far_end": "".join(far_digits)},
            "charges": [{"minute_index": m, "cents": c, "balance_after_cents": b}
                        for m, c, b in (self.call.charges if self.call else ())],
            "call_seconds": round(self.frames / FRAMES_PER_SECOND, 2),
            "data_kept": self.data_kept,
            "database": str(self.database) if self.data_kept else None,
            "admin_command": admin_command(self.database, call_id) if self.data_kept else None,
            "ledger_reconciles": not self.reconcile_problems,
        }

    def ending_lines(self) -> list[str]:
        """The record, the result and where the data is: what follows the transcript."""
        s = self.summary()
        lines = []
        if self.interrupted:
            lines.append("interrupted: the call was ended cleanly (record closed, charges final)")
        lines += ["", "call detail record:"]
        cdr = self.cdr
        if cdr is not None:
            lines += [f"  {key:<16} {value}" for key, value in cdr_lines(cdr)]
            shown_by = (f"shown by: {s['admin_command']}" if self.data_kept
                        else "in the database, removed at exit: --keep keeps it")
            lines.append(f"  {'timeline':<16} {len(cdr.events)} events ({shown_by})")
        else:
            lines.append("  (none: the attempt never got a record)")
        amount = format_cents(s["amount_cents"] or 0)
        if self.interrupted:
            verdict = f"interrupted (the call ended {s['disposition']})"
        else:
            if self.far_end:
                verdict = (f"{s['disposition']} (the call to {self.far_end} "
                           f"{'was connected' if self.connected else 'was not connected'})")
            else:
                verdict = (f"{s['disposition']} (expected {s['expected_disposition']}: "
                           f"{'ok' if s['as_expected'] else 'NOT AS EXPECTED'})")
            reason = self.failure_reason() if s["disposition"] == "failed" else ""
            verdict += f": {reason}" if reason else ""
        lines += ["", f"result: {verdict}; billed {s['billed_minutes'] or 0} min, {amount}; "
                  f"ledger reconciles: {s['ledger_reconciles']}"]
        if self.data_kept:
            lines += [f"data: the database and the recording are in {self.data_dir}",
                      f"      open the call's record with: {s['admin_command']}"]
        else:
            lines.append("data: the database and the recording were in a temporary folder, now removed; "
                         "rerun with --keep (or --data DIR) to keep them")
        return lines

    def transcript_text(self) -> str:
        """The whole demo output as one text (what the command prints, for tests and logs)."""
        from phonesim.terminals.transcript import Transcript

        words = Transcript()
        lines = [f"phonesim demo: {self.scenario.name} -- {self.scenario.description}",
                 f"configuration: {self.configuration.get('configuration')}, "
                 f"profile {self.configuration.get('profile')}",
                 f"data folder: {self.data_dir}", ""]
        lines += [line for line in map(words.line, self.transcript) if line]
        return "\n".join(lines + self.ending_lines())


def run_scenario(scenario: Scenario, *, data_dir: Path, config_path=None, realtime: bool = False,
                 far_end_url: str | None = None, on_frame=None, on_entry: Callable[[dict], Any] | None = None,
                 platform_on_worker: bool | None = None, database: str | None = None) -> DemoResult:
    """Run one scenario end to end; return the transcript, the CDR and a summary.

    ``on_frame(line)`` is called after every frame (tests use it to pause a call, or to
    pace frames to the wall clock once a real far end is dialled); ``on_entry(entry)``
    with each entry of the line's log as it happens (``LogEntry.as_dict()``: the live
    transcript).  ``platform_on_worker`` runs the platform's work on the line's worker
    thread, as in real time (default: only with ``realtime``), so a frame paced to a
    real far end never waits for the disk.  Interrupted (Ctrl-C, SIGTERM), the line is
    still closed: the call ends cleanly, its CDR is closed, its charges are final and its
    recording is finalised, and the result says ``interrupted``.  ``database`` (a URL)
    replaces ``DATA_DIR/phonesim.sqlite3``; the recordings stay in ``data_dir``.
    """
    from phonesim.facility.farend import open_far_end
    from phonesim.facility.platform import Platform
    from phonesim.hw.keypad import open_keypad
    from phonesim.terminals.wallphone import WallPhone

    cfg = load_config(config_path, overrides=scenario.overrides or None)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    clock = RealTimeClock() if realtime else VirtualClock()
    with contextlib.ExitStack() as stack:
        # the prompts load first: a missing or corrupt prompt refuses to start, naming the file
        platform = stack.enter_context(Platform.open(cfg, database=database or data_dir / DATABASE_FILE,
                                                     clock=clock))
        ledger, cdrs, prompts = platform.ledger, platform.cdrs, platform.prompts
        heal_left_open(ledger, "phonesim demo")
        clock.epoch_s = demo_epoch_s(cfg, cdrs)
        seeded = ledger.seed_demo(cfg)
        for btn, cents in scenario.prepaid_cents.items():
            if not ledger.has_prepaid(btn):
                ledger.fund_prepaid(btn, cents, memo="demo deposit")
        if cfg.profile.numbers.approved_list_required and not scenario.wrong_pins:
            # as staff would have approved the family's number before the first call
            ledger.approve_number(scenario.inmate, scenario.number, by="phonesim demo")
        keyed = logins(scenario, cfg, seeded["pins"])
        enter = "enter_id_pin" if cfg.profile.pin.login == "id+pin" else "enter_pin"
        far_end = stack.enter_context(open_far_end(far_end_url or scenario.far_end, clock=clock,
                                                   prompts=prompts, keys=dict(cfg.profile.called_party),
                                                   sip=cfg.sip_options()))
        keypad = stack.enter_context(open_keypad(
            f"script://{_quote(key_script(scenario, prompts, keyed, enter=enter))}?interval_ms=250&hold_ms=100&hook=none",
            clock=clock))
        on_worker = realtime if platform_on_worker is None else platform_on_worker
        line = stack.enter_context(platform.line(far_end=far_end, clock=clock,
                                                 recordings_dir=data_dir / "recordings", realtime=on_worker,
                                                 keep_history=True))
        phone = WallPhone(keypad, _DemoMic(line), line, clock, cfg.profile)
        ended_at: list[int] = []

        def pass_entries() -> None:
            if on_entry is not None:
                while not line.log.stream.empty():
                    on_entry(line.log.stream.get().as_dict())

        def step(frame_index: int) -> bool:
            phone.step(frame_index)
            if on_worker and not realtime and line.state.request_id:
                line.jobs.wait_oldest(FRAME_MS / 1000)   # virtual time never outruns a real look-up
            if on_frame is not None:
                on_frame(line)
            pass_entries()
            if line.calls and not ended_at:
                ended_at.append(clock.frame)
            # half a second after the attempt ended, the inmate puts the handset down
            return not (ended_at and clock.frame - ended_at[0] >= FRAMES_PER_SECOND // 2)

        interrupted = _drive(step, clock, realtime=realtime, max_frames=frames_from_s(scenario.max_s))
        phone.handle(HookChanged(False))
        for _ in range(3):
            phone.step()
            clock.tick()
        line.close()
        pass_entries()
        call = line.calls[-1] if line.calls else None
        cdr_id = call.cdr_id if call is not None else line.cdr_id
        cdr = cdrs.get(cdr_id) if cdr_id is not None else None
        disposition = getattr(cdr, "disposition", None)
        transcript = [entry.as_dict() for entry in (line.log.history or [])]
        return DemoResult(scenario, data_dir, call, cdr, transcript, clock.frame,
                          disposition == scenario.expect, ledger.reconcile(),
                          configuration=_configuration(cfg), interrupted=interrupted)


def demo_epoch_s(cfg, cdrs) -> float:
    """The calendar time the demo call starts: 2026-01-01 00:00 UTC (inside phone hours), or as
    many whole days later as needed to be past the wait between calls after the last call
    already in the database (``--data DIR`` reused), so a rerun is never refused."""
    epoch = VirtualClock().epoch_s
    last = cdrs.list(newest_first=True, limit=1)
    if last:
        ready = max(t or 0.0 for t in (last[0].ended_s, last[0].offhook_s)) + \
            float(cfg.profile.limits.wait_between_calls_s) + float(cfg.profile.pin.lockout_s)
        while epoch <= ready:
            epoch += 86400.0
    return epoch


def _quote(script: str) -> str:
    return script.replace("#", "%23").replace("+", "%2B").replace(",", "%2C")


def _drive(step, clock, *, realtime: bool, max_frames: int) -> bool:
    """Run ``step`` once per frame (virtual or real time); SIGINT/SIGTERM end the call cleanly.
    Returns whether a signal stopped it."""
    from phonesim.hw.driver import RealTimeDriver, VirtualDriver
    from phonesim.terminals.phone_app import StopSignals

    driver = RealTimeDriver(clock) if realtime else VirtualDriver(clock)
    with StopSignals(driver.stop) as signals:
        driver.run(step, max_frames=max_frames)
    return bool(signals.received)
