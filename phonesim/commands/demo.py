"""Run a complete call in loopback mode: no hardware, virtual time, a readable transcript.

Everything is real except the people: a fresh SQLite facility database seeded
with the demo inmate and accounts, the shipped prompts, a scripted keypad whose
presses become DTMF tones in the handset's audio, the facility line that decodes
them from that audio, a robot called party that answers, listens to the
announcement and presses its key as DTMF, a conversation with the warning
message injected, per-minute charges in the ledger, a recording, and the CDR.
In virtual time a 4-minute call takes seconds; ``--realtime`` paces it to the clock.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phonesim.clock import (
    FRAME_MS,
    FRAME_SAMPLES,
    FRAMES_PER_SECOND,
    RealTimeClock,
    VirtualClock,
    frames_from_s,
)
from phonesim.commands import heal_left_open
from phonesim.config import load_config
from phonesim.events import HookChanged
from phonesim.exc import ConfigError

if TYPE_CHECKING:
    from phonesim.facility.calllog import CallSummary
    from phonesim.facility.cdr import Cdr

NAME = "demo"
HELP = "run a complete loopback call and print its transcript and CDR"

#: Where the inmate's own voice comes from (real speech at 8 kHz, Debian codec2-examples).
INMATE_SPEECH = ("/usr/share/codec2/raw/hts2a.raw", "/usr/share/codec2/raw/hts1a.raw")


@dataclass(frozen=True)
class Scenario:
    """One scripted call: what the inmate keys and how the called party behaves."""

    name: str
    description: str
    expect: str                              # the disposition this scenario should end with
    far_end: str = "robot://accept?talk_s=240"
    pin: str = "1234"
    call_type: str = "3"
    number: str = "5735550100"
    pins: tuple[str, ...] = ()               # several PIN attempts (lockout)
    prepaid_cents: dict = field(default_factory=dict)   # extra prepaid BTNs to fund
    overrides: dict = field(default_factory=dict)       # config overrides ("profile.limits...")
    max_s: float = 1200.0


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
             far_end="robot://rates?talk_s=90"),
    Scenario("decline", "the called party presses the decline key", "declined",
             far_end="robot://decline"),
    Scenario("block", "the called party blocks future calls from the facility (a debit call)",
             "blocked-by-called-party", far_end="robot://block", call_type="1", number="5735550188"),
    Scenario("busy", "the called number is busy", "busy", far_end="robot://busy"),
    Scenario("no-answer", "nobody answers within the ring timeout", "no-answer",
             far_end="robot://noanswer"),
    Scenario("no-accept", "answered, but no key is pressed within the accept timeout", "no-answer",
             far_end="robot://silent"),
    Scenario("toll-free", "the inmate tries a toll-free number", "toll-free-attempt",
             number="8005551234"),
    Scenario("wrong-pin-lockout", "three wrong PINs lock the phone", "locked",
             pins=("9999", "8888", "7777")),
    Scenario("restricted", "an inmate on restricted status calls a non-privileged number",
             "restricted", pin="2345"),
    Scenario("funds-run-out", "a prepaid account with 15 cents: three minutes, then cut off",
             "funds-exhausted", far_end="robot://accept?talk_s=600", number="5735550177",
             prepaid_cents={"5735550177": 15}),
    Scenario("time-limit", "the call runs into the profile's 15-minute limit", "time-limit",
             far_end="robot://talk?talk_s=0"),
    Scenario("privileged", "a call to the public defender: free, never recorded", "completed",
             far_end="robot://accept?talk_s=90", number="5735550123"),
    Scenario("threeway", "the called party hook-flashes to add a third party", "three-way-detected",
             far_end="robot://accept?talk_s=300&threeway=flash&threeway_after_s=60"),
)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="prepaid", metavar="NAME",
                        help="which scripted call (default: prepaid; see --list-scenarios)")
    parser.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary only")
    parser.add_argument("--realtime", action="store_true", help="pace the call to the wall clock")
    parser.add_argument("--data", metavar="DIR",
                        help="folder for the database and recordings (default: a new temporary folder)")
    parser.add_argument("--far-end", metavar="URL", help="override the scenario's far end (e.g. sip:...)")


def run(args: argparse.Namespace) -> int:
    if args.list_scenarios:
        width = max(len(n) for n in SCENARIOS)
        for s in SCENARIOS.values():
            print(f"{s.name:<{width}}  {s.description} -> {s.expect}")
        return 0
    if args.scenario not in SCENARIOS:
        raise ConfigError(f"--scenario: expected one of {', '.join(SCENARIOS)}, got {args.scenario!r}")
    scenario = SCENARIOS[args.scenario]
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="phonesim-demo-"))
    result = run_scenario(scenario, data_dir=data, config_path=args.config, realtime=args.realtime,
                          far_end_url=args.far_end)
    if args.json:
        print(json.dumps(result.summary(), indent=2, default=str))
    else:
        print(result.transcript_text())
    # the exit status says whether the platform did what the scenario expects (make demo, CI)
    if result.reconcile_problems:
        print("phonesim demo: the ledger does not reconcile: " + "; ".join(result.reconcile_problems),
              file=sys.stderr)
        return 1
    if not result.expect_ok and not args.far_end:
        print(f"phonesim demo: expected the call to end {scenario.expect!r}, it ended "
              f"{result.summary()['disposition']!r}", file=sys.stderr)
        return 1
    return 0


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


def key_script(scenario: Scenario, prompts) -> str:
    """The inmate's key script: lift, listen to each prompt, key the answer (``,`` = 250 ms)."""
    def pause(*names: str) -> str:
        seconds = sum(prompts.duration_s(n) + 0.1 for n in names) + 0.75
        return "," * int(np.ceil(seconds / 0.25))

    script = "+" + pause("welcome", "enter_pin")
    if scenario.pins:
        for i, pin in enumerate(scenario.pins):
            script += pin + "#"
            if i + 1 < len(scenario.pins):
                script += pause("invalid_pin", "enter_pin")
        return script
    script += scenario.pin + "#" + pause("call_type_menu")
    script += scenario.call_type + pause("enter_number")
    script += scenario.number + "#"
    return script


@dataclass
class DemoResult:
    scenario: Scenario
    data_dir: Path
    call: CallSummary | None   # None when no attempt ended
    cdr: Cdr | None            # None when the attempt never got a CDR
    transcript: list
    frames: int
    expect_ok: bool
    reconcile_problems: list

    def summary(self) -> dict:
        cdr = self.cdr
        inmate_digits = [t["digit"] for t in self.transcript if t["kind"] == "digit" and t["side"] == "inmate"]
        far_digits = [t["digit"] for t in self.transcript if t["kind"] == "digit" and t["side"] == "far"]
        return {
            "scenario": self.scenario.name,
            "call_id": getattr(cdr, "call_id", None),
            "disposition": getattr(cdr, "disposition", self.call.disposition if self.call else None),
            "expected_disposition": self.scenario.expect,
            "as_expected": self.expect_ok,
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
            "database": str(self.data_dir / "phonesim.sqlite3"),
            "ledger_reconciles": not self.reconcile_problems,
        }

    def transcript_text(self) -> str:
        lines = [f"phonesim demo: {self.scenario.name} -- {self.scenario.description}",
                 f"data folder: {self.data_dir}", ""]
        for t in sorted(self.transcript, key=lambda t: t["frame"]):
            text = _describe(t)
            if text:
                lines.append(f"{_mmss(t['frame'])}  {text}")
        s = self.summary()
        lines += ["", "call detail record:"]
        cdr = self.cdr
        if cdr is not None:
            for key, value in cdr.as_dict(events=False).items():
                lines.append(f"  {key:<16} {value}")
            lines.append(f"  timeline         {len(cdr.events)} events (phonesim admin shows them)")
        lines += ["", f"result: {s['disposition']} (expected {s['expected_disposition']}: "
                  f"{'ok' if s['as_expected'] else 'NOT AS EXPECTED'}); billed {s['billed_minutes']} min, "
                  f"{s['amount_cents']} cents; ledger reconciles: {s['ledger_reconciles']}"]
        return "\n".join(lines)


def _mmss(frame: int) -> str:
    seconds = frame / FRAMES_PER_SECOND
    return f"{int(seconds // 60):02d}:{seconds % 60:05.2f}"


_WHO = {"inmate": "inmate hears", "far": "called party hears"}


def _spoken(names: list[str]) -> str:
    """``["please_hold", "n_15", "minutes"]`` -> ``please hold / 15 / minutes``."""
    words = []
    for name in names:
        head, _, tail = name.partition("_")
        if head in ("digit", "n") and tail.isdigit():
            words.append(tail)
        else:
            words.append(name.replace("_", " "))
    return " / ".join(words)


#: Entries of the call flow's own log shown in the transcript, with their detail.
_SHOWN_FLOW_LOG = ("pin-invalid", "three-way", "charge-refused", "charge-failed", "charge-made-late",
                   "limit-warning", "far-end-failed", "inbound-refused", "lookup-failed", "late-answer")


def _describe(t: dict) -> str:
    kind = t["kind"]
    if kind == "prompt":
        return f"{_WHO[t['to']]}: {_spoken(t.get('words') or t['names'])}"
    if kind == "tone":
        return f"{_WHO[t['to']]}: {t['name']} tone"
    if kind == "digit":
        who = "inmate keyed" if t["side"] == "inmate" else "called party keyed"
        src = "" if t["side"] == "inmate" else f", {t.get('source', 'inband')}"
        return (f"{who} {t['digit']!s:<2} (decoded from the audio: {t['low_dbm0']:.1f} / "
                f"{t['high_dbm0']:.1f} dBm0{src})")
    if kind == "charge":
        if t.get("error"):
            return f"minute {t['minute_index'] + 1} NOT CHARGED YET: {t['error']}"
        state = "charged" if t["ok"] else "REFUSED"
        return f"minute {t['minute_index'] + 1} {state}; balance left {t['balance_after_cents']} cents"
    if kind == "warning":
        return "warning message injected into both directions"
    if kind == "phase":
        return f"[{t['phase']}]" if t["phase"] in ("connected", "done") else ""
    if kind in ("offhook", "onhook"):
        return "handset lifted" if kind == "offhook" else "handset put down"
    if kind == "far-end":
        text = {"ringing": "far end ringing", "answered": "far end answered", "busy": "far end busy",
                "hung-up": "called party hung up", "no-answer": "no answer",
                "failed": "the outside line failed"}.get(t["name"], t["name"])
        return f"{text}: {t['reason']}" if t.get("reason") else text
    if kind == "recording":
        return f"recording to {t['path']}"
    if kind == "end":
        return f"call ended: {t['disposition']}"
    if kind == "three-way-suspected":
        return f"three-way call suspected: {t['attempt']} (confidence {t['confidence']:.2f})"
    if kind in _SHOWN_FLOW_LOG:
        detail = ", ".join(f"{k}={v}" for k, v in t.items() if k not in ("frame", "kind"))
        return f"{kind}: {detail}"
    return ""


def run_scenario(scenario: Scenario, *, data_dir: Path, config_path=None, realtime: bool = False,
                 far_end_url: str | None = None, on_frame=None,
                 platform_on_worker: bool | None = None, database: str | None = None) -> DemoResult:
    """Run one scenario end to end; return the transcript, the CDR and a summary.

    ``on_frame(line)`` is called after every frame (tests use it to pause a call, or to
    pace frames to the wall clock once a real far end is dialled).  ``platform_on_worker``
    runs the platform's work on the line's worker thread, as in real time (default: only
    with ``realtime``), so a frame paced to a real far end never waits for the disk.
    Interrupted (Ctrl-C), the line is still closed: the call ends cleanly, its CDR is
    closed, its charges are final and its recording is finalised.  ``database`` (a URL)
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
        platform = stack.enter_context(Platform.open(cfg, database=database or data_dir / "phonesim.sqlite3",
                                                     clock=clock))
        ledger, cdrs, prompts = platform.ledger, platform.cdrs, platform.prompts
        heal_left_open(ledger, "phonesim demo")
        clock.epoch_s = demo_epoch_s(cfg, cdrs)
        ledger.seed_demo(cfg)
        for btn, cents in scenario.prepaid_cents.items():
            if not ledger.has_prepaid(btn):
                ledger.fund_prepaid(btn, cents, memo="demo deposit")
        far_end = stack.enter_context(open_far_end(far_end_url or scenario.far_end, clock=clock,
                                                   prompts=prompts, keys=dict(cfg.profile.called_party),
                                                   sip=cfg.sip_options()))
        keypad = stack.enter_context(open_keypad(
            f"script://{_quote(key_script(scenario, prompts))}?interval_ms=250&hold_ms=100&hook=none",
            clock=clock))
        on_worker = realtime if platform_on_worker is None else platform_on_worker
        line = stack.enter_context(platform.line(far_end=far_end, clock=clock,
                                                 recordings_dir=data_dir / "recordings", realtime=on_worker,
                                                 keep_history=True))
        phone = WallPhone(keypad, _DemoMic(line), line, clock, cfg.profile)
        ended_at: list[int] = []

        def step(frame_index: int) -> bool:
            phone.step(frame_index)
            if on_worker and not realtime and line.state.request_id:
                line.jobs.wait_oldest(FRAME_MS / 1000)   # virtual time never outruns a real look-up
            if on_frame is not None:
                on_frame(line)
            if line.calls and not ended_at:
                ended_at.append(clock.frame)
            # half a second after the attempt ended, the inmate puts the handset down
            return not (ended_at and clock.frame - ended_at[0] >= FRAMES_PER_SECOND // 2)

        _drive(step, clock, realtime=realtime, max_frames=frames_from_s(scenario.max_s))
        phone.handle(HookChanged(False))
        for _ in range(3):
            phone.step()
            clock.tick()
        line.close()
        call = line.calls[-1] if line.calls else None
        cdr_id = call.cdr_id if call is not None else line.cdr_id
        cdr = cdrs.get(cdr_id) if cdr_id is not None else None
        disposition = getattr(cdr, "disposition", None)
        transcript = [entry.as_dict() for entry in (line.log.history or [])]
        return DemoResult(scenario, data_dir, call, cdr, transcript, clock.frame,
                          disposition == scenario.expect, ledger.reconcile())


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


def _drive(step, clock, *, realtime: bool, max_frames: int) -> None:
    """Run ``step`` once per frame (virtual or real time); SIGINT/SIGTERM end the call cleanly."""
    from phonesim.hw.driver import RealTimeDriver, VirtualDriver
    from phonesim.terminals.phone_app import StopSignals

    driver = RealTimeDriver(clock) if realtime else VirtualDriver(clock)
    with StopSignals(driver.stop):
        driver.run(step, max_frames=max_frames)
