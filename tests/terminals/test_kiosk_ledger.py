"""The kiosk on the real ledger (a SQLite file), the real rate table and the real config."""

from __future__ import annotations

import pytest

from phonesim.config import load_config
from phonesim.facility.ledger import Ledger
from phonesim.terminals.kiosk import KioskSession, LedgerKioskBackend


@pytest.fixture
def cfg():
    return load_config(search=False)


@pytest.fixture
def ledger(tmp_path, cfg, clock):
    with Ledger.open(tmp_path / "facility.sqlite3", clock=clock, cfg=cfg) as ledger:
        ledger.seed_demo(cfg)
        yield ledger


@pytest.fixture
def session(ledger, cfg, clock):
    backend = LedgerKioskBackend(ledger, cfg, clock=clock, terminal="kiosk-test")
    return KioskSession(backend, clock, pin_length=int(cfg.profile.pin.length), idle_timeout_s=60)


def press(session, keys):
    screen = session.screen
    for key in keys:
        screen = session.key(key)
    return screen


@pytest.mark.timeout(30)
def test_purchase_end_to_end_moves_money_with_a_receipt(session, ledger):
    trust0, debit0 = ledger.trust_balance_cents("1001"), ledger.debit_balance_cents("1001")
    screen = press(session, "1234")  # John Doe's demo PIN
    assert screen.state == "menu" and "John Doe" in screen.text()
    screen = press(session, "2" "1250" "#")
    assert screen.state == "confirm"
    assert "buys 250 min all calls at 5c/min" in screen.text()  # Missouri: $0.05/min, no tax
    screen = session.key("#")
    assert screen.state == "receipt"
    assert ledger.trust_balance_cents("1001") == trust0 - 1250
    assert ledger.debit_balance_cents("1001") == debit0 + 1250
    assert screen.receipt.startswith("receipt #")
    assert f"trust ${(trust0 - 1250) // 100}.{(trust0 - 1250) % 100:02d}" in screen.receipt
    # one transaction: the receipt's journal row and its counterpart, nothing else
    receipt_id = int(screen.receipt.split("#")[1].split()[0])
    rows = [row for row in ledger.journal()
            if row["id"] == receipt_id or row["memo"].endswith(f"#{receipt_id}")]
    assert sorted((row["account_kind"], row["amount_cents"]) for row in rows) == [
        ("debit", 1250), ("trust", -1250)]
    assert ledger.reconcile() == []


@pytest.mark.timeout(30)
def test_overdraft_is_refused_and_the_ledger_is_unchanged(session, ledger):
    trust0 = ledger.trust_balance_cents("1001")
    journal0 = len(ledger.journal())
    screen = press(session, "1234" "2" + str(trust0 + 1) + "#")
    assert screen.state == "buy"
    assert "is more than your trust balance" in screen.message
    assert ledger.trust_balance_cents("1001") == trust0
    assert len(ledger.journal()) == journal0
    assert ledger.reconcile() == []


@pytest.mark.timeout(30)
def test_wrong_pins_lock_the_kiosk_terminal(session, ledger, cfg):
    for _ in range(int(cfg.profile.pin.max_failures)):
        screen = press(session, "9999")
    assert "account locked until" in screen.message
    screen = press(session, "1234")
    assert screen.state == "login" and not session.logged_in


@pytest.mark.timeout(60)
def test_guessing_between_ones_own_logins_locks_only_oneself(session, ledger, cfg, clock):
    """Two wrong PINs, one's own PIN, log out, again: the wrong ones are charged to the person
    whose right PIN followed them, and their account locks; other inmates still log in."""
    from phonesim.clock import frames_from_s

    pin = cfg.profile.pin
    logins = 0
    for _ in range(20):
        for guess in ("9998", "9997"):
            screen = press(session, guess)
            if "locked until" in screen.message:                 # the kiosk pauses: wait it out
                clock.advance(frames_from_s(float(pin.lockout_max_s) + 1))
        screen = press(session, "1234")
        if screen.state != "menu":
            break
        logins += 1
        press(session, "*")
    assert "account locked until" in screen.message
    assert 2 * logins < int(pin.inmate_max_failures) <= 2 * (logins + 1)
    assert ledger.inmate("1001").locked_until_s > clock.wall_time_s()
    clock.advance(frames_from_s(float(pin.lockout_max_s) + 1))      # any pause of the kiosk is over
    assert press(session, "2345").state == "menu"                   # Richard Roe is not locked out


@pytest.mark.timeout(30)
def test_number_request_is_pending_until_staff_approve(session, ledger):
    screen = press(session, "1234" "4" "3145550142" "#")
    assert screen.message == "(314) 555-0142 requested: pending staff approval"
    pending = [(r.inmate_id, r.number, r.status) for r in ledger.pending_requests()]
    assert ("1001", "3145550142", "pending") in pending
    assert not ledger.is_approved("1001", "3145550142")
    ledger.approve_number("1001", "3145550142", by="staff")
    screen = press(session, "3145550142" "#")
    assert screen.message == "(314) 555-0142 is already on your approved list"


@pytest.mark.timeout(30)
def test_idle_logout_then_the_next_person_starts_fresh(session, clock):
    press(session, "1234" "2" "500")
    clock.advance_s(60)
    screen = session.poll()
    assert screen is not None and screen.state == "login"
    assert not session.logged_in and session.amount_cents == 0


@pytest.mark.timeout(30)
def test_recent_calls_show_the_billed_minutes_and_charges(session, ledger, clock):
    from phonesim.facility.cdr import CdrStore

    cdrs = CdrStore(ledger)
    call_id = cdrs.open_call(terminal="phone1", inmate_id="1001", offhook_s=clock.now_s)
    cdrs.update(call_id, number="5735550100", call_type="debit", answered_s=clock.now_s + 20)
    for minute in range(3):
        result = ledger.charge_minute(call_id, minute, payer_kind="debit", payer_id="1001", amount_cents=5)
        assert result.ok
    cdrs.close_call(call_id, disposition="completed", ended_s=clock.now_s + 180)
    screen = press(session, "1234" "3")
    assert screen.state == "calls"
    assert "(573) 555-0100    3 min    $0.15  completed" in screen.text()
    assert "total charged: $0.15" in screen.text()
    assert ledger.reconcile() == []


@pytest.mark.timeout(60)
def test_kiosk_request_is_approved_by_staff_with_the_admin_cli(tmp_path, cfg, clock):
    """The request a kiosk makes is what ``phonesim admin number requests`` lists, and
    ``phonesim admin number approve`` puts the number on the list the kiosk then shows."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    db = tmp_path / "facility.sqlite3"
    with Ledger.open(db, clock=clock, cfg=cfg) as ledger:
        ledger.seed_demo(cfg)
        session = KioskSession(LedgerKioskBackend(ledger, cfg, clock=clock), clock)
        screen = press(session, "1234" "4" "8165550142" "#")
        assert screen.message == "(816) 555-0142 requested: pending staff approval"

    def admin(*args):
        env = {**os.environ, "PYTHONPATH": str(repo)}
        return subprocess.run([sys.executable, "-m", "phonesim", "admin", "--db", str(db), *args],
                              capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path)

    listed = admin("number", "requests")
    assert listed.returncode == 0, listed.stderr
    assert "1001" in listed.stdout and "816" in listed.stdout and "0142" in listed.stdout
    approved = admin("number", "approve", "1001", "816-555-0142")
    assert approved.returncode == 0, approved.stderr
    with Ledger.open(db, clock=clock, cfg=cfg) as ledger:
        assert ledger.is_approved("1001", "8165550142")
        session = KioskSession(LedgerKioskBackend(ledger, cfg, clock=clock), clock)
        screen = press(session, "1234" "4" "8165550142" "#")
        assert screen.message == "(816) 555-0142 is already on your approved list"


@pytest.mark.timeout(60)
def test_id_plus_pin_login_at_the_kiosk(tmp_path, clock):
    """With ``pin.login = "id+pin"`` the kiosk waits for # (IDs differ in length) and logs in by
    the ID then the PIN; the PIN alone is refused."""
    cfg = load_config(search=False, overrides={"profile.pin.login": "id+pin"})
    with Ledger.open(tmp_path / "id.sqlite3", clock=clock, cfg=cfg) as ledger:
        ledger.seed_demo(cfg)
        backend = LedgerKioskBackend(ledger, cfg, clock=clock, terminal="kiosk-id")
        session = KioskSession(backend, clock, pin_length=4, id_first=True)
        screen = press(session, "1234")
        assert screen.state == "login" and "ID and PIN: ****" in screen.text()
        assert screen.display[0] == "Enter ID, PIN then #"
        assert "not accepted" in press(session, "#").message
        screen = press(session, "10011234#")
        assert screen.state == "menu" and "John Doe" in screen.text()
