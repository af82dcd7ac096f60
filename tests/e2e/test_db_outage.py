"""The facility database going away: at start, and under live calls (PostgreSQL).

* An unreachable database at start is one clear error naming the host: from
  ``Ledger.open`` (:class:`~phonesim.exc.DatabaseUnavailable`), and from the ``phonesim``
  commands (one line, exit 1, no traceback).
* Under live calls: real lines (the platform on the private server's URL, in real time,
  platform work on each line's worker thread), wall phones keying the PIN, the call type
  and the number as DTMF, robot called parties, the live publisher — and the server
  stopped (``immediate``: every connection cut, as a crash does) while the calls are being
  placed, so the first minute of each is charged while the database is away. The calls
  must stay up; every started minute must be charged exactly once once the server is
  back; the CDRs must close with billed minutes equal to the charges and tell of the
  outage; the journal must reconcile. An outage longer than
  ``profile.limits.billing_outage_s`` ends the calls ``system-error`` with the apology,
  still consistent.

The tests wait on the lines' log entries (phases, failed and late charges, the end),
never on fixed intervals; the server's downtime is "until every line has retried its
charge at least once", a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from phonesim.clock import RealTimeClock
from phonesim.commands.facility import DEMO_OVERRIDES, demo_caller, seed_demo_facility
from phonesim.config import load_config
from phonesim.exc import DatabaseUnavailable
from phonesim.facility.callflow import Phase
from phonesim.facility.farend import RobotFarEnd
from phonesim.facility.ledger import Ledger
from phonesim.facility.live import LiveFollower, LivePublisher
from phonesim.facility.platform import Platform
from phonesim.hw.audio import NullAudioPort
from phonesim.hw.driver import RealTimeDriver
from phonesim.hw.keypad_script import MockKeypad
from phonesim.terminals.wallphone import WallPhone

REPO = Path(__file__).resolve().parents[2]
PHONES = 2
#: Answers at once, keys "accept" 3 s after answering: the server is stopped while it rings.
FAR_END = "robot://accept?answer_after=0&key_delay_s=3&talk_s=0"
WAIT_S = 60.0


# --- at start ------------------------------------------------------------------------------
def test_an_unreachable_database_at_start_is_one_clear_error_naming_the_host(tmp_path):
    for url, host in [("postgresql://postgres@127.0.0.1:1/facility", '"127.0.0.1", port 1'),
                      (f"postgresql:///facility?host={tmp_path}&user=postgres", str(tmp_path))]:
        with pytest.raises(DatabaseUnavailable) as caught:
            Ledger.open(url)
        message = str(caught.value)
        assert "\n" not in message and "cannot connect to the facility database" in message
        assert host in message, message


@pytest.mark.timeout(120)
@pytest.mark.parametrize("argv", [
    ["facility", "--demo", "--phones", "1", "--max-s", "5", "--database", "postgresql://postgres@127.0.0.1:1/f"],
    ["calls", "--database", "postgresql://postgres@127.0.0.1:1/f"],
    ["admin", "--db", "postgresql://postgres@127.0.0.1:1/f", "inmate", "list"],
    ["--config", "{config}", "calls"],
], ids=["facility", "calls", "admin", "from-the-config"])
def test_a_command_with_an_unreachable_database_says_so_in_one_line(tmp_path, argv):
    config = tmp_path / "phonesim.toml"
    config.write_text('[paths]\ndatabase = "postgresql://postgres@127.0.0.1:1/f"\n')
    argv = [a.replace("{config}", str(config)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "phonesim", *argv], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("phonesim: error: postgresql://postgres@127.0.0.1:1/f: cannot connect")
    assert '"127.0.0.1", port 1' in lines[0]
    assert list(tmp_path.iterdir()) == [config]               # no SQLite file made instead


# --- under live calls ----------------------------------------------------------------------
@pytest.fixture
def server(postgres_server, postgres_url):
    """The session's private server, for a test that stops it: started again after the test
    if the test failed with it stopped (before ``postgres_url`` drops the test's database)."""
    yield postgres_server
    if postgres_server.pid is None:
        server.start()


class LiveLines:
    """``PHONES`` wall phones on one platform in real time, one driver thread, and what their
    logs said (``(terminal, kind, data)`` in order) for the test to wait on."""

    def __init__(self, url: str, tmp_path: Path, **overrides) -> None:
        self.cfg = load_config(search=False, overrides={**DEMO_OVERRIDES, **overrides})
        self.clock = RealTimeClock()
        self.platform = Platform.open(self.cfg, database=url, clock=self.clock)
        seed_demo_facility(self.platform, PHONES)
        self.publisher = LivePublisher(self.platform.ledger.db, self.cfg.facility.id).start()
        self.entries: list[tuple[str, str, dict]] = []
        self.changed = threading.Condition()
        self.lines, self.phones, self.keypads = [], [], []
        for i in range(PHONES):
            terminal = f"A-1-phone-{i + 1}"
            far = RobotFarEnd(FAR_END, clock=self.clock, prompts=self.platform.prompts,
                              keys=dict(self.cfg.profile.called_party))
            line = self.platform.line(far_end=far, clock=self.clock, recordings_dir=tmp_path / "rec",
                                      terminal=terminal, realtime=True)
            self.publisher.attach(line)
            line.log.listeners.append(self._listener(terminal))
            line.executor.records.on_closed = self._record_closed
            pin, number = demo_caller(i)
            keypad = MockKeypad(clock=self.clock)
            keypad.type(f"+{pin}#3{number}#", hold_ms=80, gap_ms=120)   # lift, PIN, prepaid, number
            self.lines.append(line)
            self.keypads.append(keypad)
            self.phones.append(WallPhone(keypad, NullAudioPort(), line, self.clock, self.cfg.profile))
        self.driver = RealTimeDriver(self.clock)
        self.thread = threading.Thread(target=self.driver.run, args=(self._step,), name="outage-lines",
                                       daemon=True)

    def _listener(self, terminal: str) -> Callable:
        def on_entry(entry) -> None:           # on the driver's thread
            with self.changed:
                self.entries.append((terminal, entry.kind, dict(entry.data)))
                self.changed.notify_all()
        return on_entry

    def _record_closed(self, call_key: str, call_id: int | None) -> None:   # on the driver's thread
        with self.changed:
            self.changed.notify_all()

    def _step(self, frame_index: int) -> bool:
        for phone in self.phones:
            phone.step(frame_index)
        return True

    def __enter__(self) -> LiveLines:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.driver.stop()
        self.thread.join(timeout=30)
        for phone in self.phones:
            phone.close()
        self.publisher.close()
        self.platform.close()

    def logged(self, terminal: str, kind: str, **match) -> list[dict]:
        with self.changed:
            return [d for t, k, d in self.entries
                    if t == terminal and k == kind and all(d.get(key) == v for key, v in match.items())]

    def wait_lines(self, what: str, kind: str, n: int = 1, *, lines: list | None = None, **match) -> None:
        """Until each line (default: every one) has logged ``n`` entries of ``kind`` (with ``match``)."""
        def done() -> bool:
            return all(len(self.logged(line.terminal, kind, **match)) >= n for line in lines or self.lines)
        with self.changed:
            if not self.changed.wait_for(done, timeout=WAIT_S):
                tail = [(t, k) for t, k, _ in self.entries[-12:]]
                pytest.fail(f"not every line logged {what} within {WAIT_S:g} s; last entries: {tail}")

    def wait_calls_written(self) -> None:
        """Until every line's call has ended and its record, close included, is in the database."""
        def done() -> bool:
            return all(line.calls for line in self.lines) and all(
                line.executor.records.idle for line in self.lines)
        with self.changed:                     # woken by the log entries and each record's close
            if not self.changed.wait_for(done, timeout=WAIT_S):
                pytest.fail(f"the calls' records were not written within {WAIT_S:g} s")


def minutes_started(lines: LiveLines, terminal: str) -> list[int]:
    """The minutes the flow started to bill (each was tried at least once, failed or not)."""
    return sorted({d["minute_index"] for d in lines.logged(terminal, "charge")})


def check_money_and_records(lines: LiveLines, dispositions: list[str]) -> list[list[str]]:
    """Each call: closed with its disposition, every started minute charged exactly once, the CDR
    billed as charged, the payer's balance down by as much; the journal reconciles. Returns each
    call's CDR timeline (its kinds)."""
    ledger, cdrs = lines.platform.ledger, lines.platform.cdrs
    timelines = []
    for i, (line, disposition) in enumerate(zip(lines.lines, dispositions, strict=True)):
        call = line.calls[-1]
        cdr = cdrs.get(call.cdr_id)
        charges = ledger.charges_for_call(call.cdr_id)
        assert cdr.closed and cdr.disposition == disposition, (line.terminal, cdr.disposition)
        # the calls are shorter than a minute: one started minute each, charged once
        assert [c["minute_index"] for c in charges] == minutes_started(lines, line.terminal) == [0]
        assert (cdr.billed_minutes, cdr.amount_cents) == (1, charges[0]["amount_cents"]) != (1, 0)
        _, number = demo_caller(i)
        assert ledger.prepaid_balance_cents(number) == 2000 - cdr.amount_cents
        timelines.append([e.kind for e in cdr.events])
    journal = ledger.db.query("SELECT COUNT(*) FROM journal WHERE kind='call-charge'")[0][0]
    assert journal == len(ledger.db.query("SELECT 1 FROM charges")) == len(lines.lines)
    assert ledger.reconcile() == []
    return timelines


@pytest.mark.timeout(150)
def test_calls_stay_up_through_an_outage_and_every_minute_is_charged_once_it_is_back(
        server, postgres_url, tmp_path):
    with LiveLines(postgres_url, tmp_path) as lines:
        follower = LiveFollower(lines.platform.ledger.db)     # a board on another host
        lines.wait_lines("the ringing phase", "phase", phase="ringing")
        server.stop(mode="immediate")
        # the called parties accept while the database is away: the first minute's charge fails,
        # and is tried again every 5 s; the server stays away until every line has retried once
        lines.wait_lines("two failed charges", "charge-failed", n=2)
        for line in lines.lines:
            assert not lines.logged(line.terminal, "end"), "a call ended during the outage"
            assert line.state.phase is Phase.CONNECTED
        # the first caller hangs up while the database is still away, the second talks on
        stays, leaves = lines.lines[1], lines.lines[0]
        lines.keypads[0].hang_up()
        lines.wait_lines("the hang-up", "end", disposition="hung-up", lines=[leaves])
        assert follower.poll() == [] and "cannot connect" in follower.unavailable
        server.start()
        lines.wait_lines("the minute charged late", "charge-made-late", lines=[stays])
        assert stays.state.phase is Phase.CONNECTED               # still up
        lines.keypads[1].hang_up()
        lines.wait_calls_written()
        timelines = check_money_and_records(lines, ["hung-up", "hung-up"])
        # (the first call's record was closed during the outage: its timeline ends there)
        assert {"charge-failed", "charges-pending", "records-failed"} <= set(timelines[0]), timelines[0]
        assert {"charge-failed", "charge-made-late", "records-failed", "records-written-again"} <= \
            set(timelines[1]), timelines[1]
        assert timelines[1].count("records-failed") == 1          # the outage noted once, not per retry
        lines.publisher.close()                # its thread's last batch committed, not in flight
        assert lines.publisher.failures > 0
        seen = {(e.terminal, e.kind) for e in follower.poll()}    # the board catches up
        follower.close()
        assert follower.unavailable == ""
        for line in lines.lines:             # what happened during the outage reached the live stream
            assert {(line.terminal, "charge-failed"), (line.terminal, "end")} <= seen


@pytest.mark.timeout(150)
def test_an_outage_longer_than_billing_outage_s_ends_the_calls_with_the_apology(
        server, postgres_url, tmp_path):
    with LiveLines(postgres_url, tmp_path, **{"profile.limits.billing_outage_s": 8}) as lines:
        lines.wait_lines("the ringing phase", "phase", phase="ringing")
        server.stop(mode="immediate")
        lines.wait_lines("the end of the call", "end", disposition="system-error")
        for line in lines.lines:
            said = [d["names"] for d in lines.logged(line.terminal, "prompt", to="inmate")]
            assert said[-1] == ["system_error", "goodbye"], said
            failed = lines.logged(line.terminal, "charge-failed")
            assert len(failed) >= 2 and not lines.logged(line.terminal, "charge-made-late")
        server.start()
        for keypad in lines.keypads:
            keypad.hang_up()
        lines.wait_calls_written()
        # the started minute is charged once the database is back, before the record closes
        for kinds in check_money_and_records(lines, ["system-error", "system-error"]):
            assert {"charge-failed", "charges-pending", "records-failed"} <= set(kinds), kinds


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_server_restart_between_two_operations_fails_neither(server, postgres_url, mode):
    """Connections kept from before a restart are dead: replaced unseen, not reported as an outage."""
    with Ledger.open(postgres_url) as ledger:
        ledger.fund_prepaid("5735550100", 100)
        threads = [threading.Thread(target=ledger.prepaid_balance_cents, args=("5735550100",),
                                    name=f"reader-{i}") for i in range(3)]
        for t in threads:                      # several pooled connections
            t.start()
        for t in threads:
            t.join(timeout=10)
        server.stop(mode=mode)
        server.start()
        assert ledger.charge_minute(1, 0, payer_kind="prepaid", payer_id="5735550100", amount_cents=5).ok
        assert ledger.prepaid_balance_cents("5735550100") == 95
        assert ledger.reconcile() == []
