"""The family line answering real SIP callers on 127.0.0.1.

A headless baresip calls the provider's number at :class:`FamilyIvrServer` from a
family's number (its SIP user) and keys the menu either as RFC 4733 telephone-events
(``sndcode``) or in-band, switching its audio source to a WAV of DTMF tones that our own
detector decodes from the RTP audio.  The facility database is a real SQLite file: the
test checks the accounts it changed and, from the session's log, what the caller heard.
SIPp calls a user that is not the provider's number and requires the 404.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from sip_peers import BaresipPeer, SippPeer, free_port, wait_until, write_wav

from phonesim.config import load_config
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.facility.family_ivr import MENU_PROMPTS, FamilyBackend, FamilyIvrSession
from phonesim.facility.ledger import Ledger
from phonesim.facility.payments import SimulatedCardProcessor
from phonesim.facility.platform import Platform
from phonesim.facility.prompts import PromptSet

pytest.importorskip("aiosipua")
from phonesim.facility.sip_inbound import FamilyIvrServer  # noqa: E402 - needs the sip extra

FAMILY = "5735550142"


@pytest.fixture(scope="module")
def prompts():
    return PromptSet.load()


@pytest.fixture
def cfg():
    return load_config(search=False)


@pytest.fixture
def ledger(tmp_path, cfg, prompts):
    with Ledger.open(tmp_path / "family.sqlite3", cfg=cfg) as led:
        Platform(cfg, ledger=led, prompts=prompts)
        yield led


def family_line(ledger, cfg, prompts, **session_options) -> FamilyIvrServer:
    backend = FamilyBackend(ledger, cfg, processor=SimulatedCardProcessor(ledger.db))
    rtp_low = free_port(span=10)
    return FamilyIvrServer(
        "127.0.0.1:0", provider_number=cfg.profile.family.provider_phone,
        session_factory=lambda caller, call_id: FamilyIvrSession(backend, prompts, caller=caller,
                                                                 call_id=call_id, **session_options),
        rtp_ports=f"{rtp_low}-{rtp_low + 9}")


class Family:
    """A baresip calling the family line, keying the menu."""

    def __init__(self, tmp_path, server: FamilyIvrServer, user: str) -> None:
        self.tmp_path, self.server = tmp_path, server
        quiet = write_wav(tmp_path / "quiet.wav", np.zeros(120 * 8000, dtype=np.int16))
        self.peer = BaresipPeer(tmp_path, quiet, user=user).start()
        self.tones = DtmfGenerator(level_dbm0=-10.0)
        self.wavs = 0

    def call(self):
        self.peer.command("dial", self.server.uri)
        wait_until(lambda: self.server.sessions, 10, "the family line to answer")
        self.peer.wait_event("CALL_ESTABLISHED", 5)
        return self.server.sessions[-1]

    def key_rfc4733(self, keys: str) -> None:
        for key in keys:
            self.peer.command("sndcode", key)

    def key_in_band(self, keys: str) -> None:
        """Switch baresip's microphone to a WAV of the tones, then two minutes of silence
        (baresip hangs up when its source file ends)."""
        self.wavs += 1
        tones = self.tones.digits(keys, on_ms=100, off_ms=100, lead_ms=60)
        path = write_wav(self.tmp_path / f"keys-{self.wavs}.wav",
                         np.concatenate([tones, np.zeros(120 * 8000, dtype=np.int16)]))
        self.peer.command("ausrc", f"aufile,{path}")

    def stop(self) -> None:
        self.peer.stop()


def wait_state(session, state: str, timeout_s: float = 10) -> None:
    wait_until(lambda: session.state == state, timeout_s, f"the session to reach {state!r} (log {session.log})")


@pytest.mark.timeout(60)
def test_block_then_unblock_by_rfc4733_keys_then_the_caller_hangs_up(tmp_path, ledger, cfg, prompts):
    with family_line(ledger, cfg, prompts) as server:
        family = Family(tmp_path, server, FAMILY)
        try:
            session = family.call()
            wait_state(session, "menu")
            assert session.btn == FAMILY
            family.key_rfc4733("5")
            wait_state(session, "block")
            family.key_rfc4733("1")
            wait_until(lambda: ledger.is_blocked(FAMILY), 10, "the family's block")
            assert [b.kind for b in ledger.blocks_of(FAMILY)] == ["keypad"]
            family.key_rfc4733("5")
            wait_until(lambda: session.heard()[-1] == "family_press_to_unblock", 10, "the offer to lift it")
            family.key_rfc4733("1")
            wait_until(lambda: not ledger.is_blocked(FAMILY), 10, "the block lifted")
            assert [a[0] for a in session.actions()] == ["block", "unblock"]
            assert {k[2] for k in session.log if k[0] == "key"} == {"rfc4733"}
            family.peer.command("hangup")
            wait_until(lambda: server.active_calls() == 0, 10, "the call to end on the caller's BYE")
            assert session.state == "ended" and ("hung-up", "caller") in session.log
        finally:
            family.stop()


@pytest.mark.timeout(90)
def test_fund_by_card_keyed_in_band_raises_the_balance(tmp_path, ledger, cfg, prompts):
    ledger.fund_prepaid(FAMILY, 300)
    with family_line(ledger, cfg, prompts) as server:
        family = Family(tmp_path, server, FAMILY)
        try:
            session = family.call()
            wait_state(session, "menu")
            for keys, state in (("2", "card"), ("4242424242424242#", "expiry"), ("1230#", "cvv"),
                                ("123#", "amount"), ("15#", "confirm_payment")):
                family.key_in_band(keys)
                wait_state(session, state)
            assert "family_card_simulator" in session.heard()
            family.key_in_band("1")
            wait_until(lambda: ledger.prepaid_balance_cents(FAMILY) == 1800, 10, "the card payment")
            wait_until(lambda: "family_payment_accepted" in session.heard(), 5, "the receipt prompt")
            assert ledger.reconcile() == []
            assert [p["amount_cents"] for p in ledger.card_payments(FAMILY)] == [1500]
            assert "4242" not in repr(session.log)
        finally:
            family.stop()


@pytest.mark.timeout(60)
def test_balance_keyed_in_band_is_said_from_the_ledger(tmp_path, ledger, cfg, prompts):
    ledger.fund_prepaid(FAMILY, 2575)
    with family_line(ledger, cfg, prompts) as server:
        family = Family(tmp_path, server, FAMILY)
        try:
            session = family.call()
            wait_state(session, "menu")
            mark = len(session.heard())
            family.key_in_band("1")
            wait_until(lambda: "family_prepaid_balance_is" in session.heard()[mark:], 10, "the balance")
            assert session.heard()[mark:] == ["family_prepaid_balance_is", *PromptSet.say_cents(2575),
                                              "family_no_recent_charges", *MENU_PROMPTS]
            assert ("key", "1", "in-band") in session.log
        finally:
            family.stop()


@pytest.mark.timeout(60)
def test_an_entered_number_is_not_changed(tmp_path, ledger, cfg, prompts):
    """An unknown caller keys a number in-band and asks for Direct Bill: refused, since it
    is not the caller's own number."""
    with family_line(ledger, cfg, prompts) as server:
        family = Family(tmp_path, server, "anonymous")
        try:
            session = family.call()
            assert session.state == "number"
            family.key_in_band(FAMILY + "#")
            wait_state(session, "menu")
            assert session.btn == FAMILY
            family.key_in_band("3")
            wait_until(lambda: "family_own_number_only" in session.heard(), 10, "the refusal")
            assert not ledger.has_direct_bill(FAMILY)
        finally:
            family.stop()


@pytest.mark.timeout(60)
def test_a_silent_caller_hears_goodbye_and_the_line_hangs_up(tmp_path, ledger, cfg, prompts):
    with family_line(ledger, cfg, prompts, timeout_s=1.0, retries=1) as server:
        family = Family(tmp_path, server, "anonymous")
        try:
            session = family.call()
            family.peer.wait_event("CALL_CLOSED", 40)  # our BYE after the goodbye
            assert session.heard() == ["family_welcome", "family_enter_number", "family_enter_number",
                                       "family_no_input", "goodbye"]
            assert ("hung-up", "caller") not in session.log  # the line hung up, not the caller
            assert server.active_calls() == 0
        finally:
            family.stop()


def refused_call(tmp_path, address, *, user: str, payload_type: int, status: int) -> SippPeer:
    host, port = address
    return SippPeer(tmp_path, "uac_family_refused.xml", remote=f"{host}:{port}",
                    fill={"USER": user, "PT": str(payload_type), "STATUS": str(status)})


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("user", "payload_type", "status"), [
    ("inmate", 0, 404),          # not the provider's number
    ("18008446591", 8, 488),     # the provider's number, but only PCMA offered
])
def test_calls_the_line_cannot_take_are_refused(tmp_path, ledger, cfg, prompts, user, payload_type, status):
    with family_line(ledger, cfg, prompts) as server:
        peer = refused_call(tmp_path, server.local_addr, user=user, payload_type=payload_type, status=status)
        try:
            peer.start()
            assert peer.wait(10) == 0, peer.errors()  # the scenario requires that status
        finally:
            peer.stop()
        assert server.refused == [(user, status)]
        assert server.sessions == []


@pytest.mark.timeout(30)
def test_a_call_cancelled_while_the_line_answers_is_never_answered(tmp_path, ledger, cfg, prompts):
    """The session is still being made (its factory waits for the test) when the CANCEL
    comes: the INVITE gets 487, and the line does not answer it afterwards."""
    backend = FamilyBackend(ledger, cfg)
    factory_called, release = threading.Event(), threading.Event()

    def slow_session(caller: str, call_id: str) -> FamilyIvrSession:
        factory_called.set()
        release.wait(10)
        return FamilyIvrSession(backend, prompts, caller=caller, call_id=call_id)

    rtp_low = free_port(span=10)
    server = FamilyIvrServer("127.0.0.1:0", provider_number=cfg.profile.family.provider_phone,
                             session_factory=slow_session, rtp_ports=f"{rtp_low}-{rtp_low + 9}")
    with server:
        host, port = server.local_addr
        peer = SippPeer(tmp_path, "uac_family_cancel.xml", remote=f"{host}:{port}")
        try:
            peer.start()
            assert peer.wait(10) == 0, peer.errors()  # 200 to the CANCEL, 487 to the INVITE
            assert factory_called.is_set()
        finally:
            release.set()
            peer.stop()
        wait_until(lambda: not server._tasks, 5, "the answering task to give up")
        assert server.sessions == [] and server.active_calls() == 0  # never answered


@pytest.mark.timeout(60)
def test_the_command_answers_on_its_address_and_refuses_another_user(tmp_path):
    """``phonesim family-ivr`` as a user runs it: SIPp's INVITE to another user gets 404,
    SIGTERM stops it with status 0 and a count of the calls."""
    port = free_port()
    rtp_low = free_port(span=10)
    env = {**os.environ, "PHONESIM_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "phonesim", "family-ivr", "--listen", f"127.0.0.1:{port}",
         "--database", str(tmp_path / "family.sqlite3"), "--rtp-ports", f"{rtp_low}-{rtp_low + 9}",
         "--max-s", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith(f"family line: sip:8008446591@127.0.0.1:{port}"), (first, proc.stderr.read())
        peer = refused_call(tmp_path, ("127.0.0.1", port), user="inmate", payload_type=0, status=404)
        try:
            peer.start()
            assert peer.wait(10) == 0, peer.errors()
        finally:
            peer.stop()
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "0 call(s) answered, 1 refused" in out
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
