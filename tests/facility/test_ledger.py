"""The ledger on a real SQLite file and a real PostgreSQL database: schema, PINs, money, numbers,
the journal.  Tests taking ``ledger`` run on both engines; the file's own settings on SQLite."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import pytest

from phonesim.clock import VirtualClock
from phonesim.config import load_config
from phonesim.exc import InsufficientFunds, InvalidNumber, LedgerError, NotFound, SchemaTooNew
from phonesim.facility import schema
from phonesim.facility.db import Database
from phonesim.facility.ledger import DEMO, Ledger

T0 = VirtualClock().epoch_s      # 2026-01-01T00:00:00Z: the tests' clocks start here


def at(seconds: float) -> float:
    """Calendar time ``seconds`` after the tests' clocks started."""
    return T0 + seconds


@pytest.fixture
def cfg():
    return load_config(search=False)


@pytest.fixture
def ledger(db_url, cfg):
    with Ledger.open(db_url, clock=VirtualClock(), cfg=cfg) as led:
        yield led


@pytest.fixture
def sqlite_ledger(tmp_path, cfg):
    with Ledger.open(tmp_path / "facility.sqlite3", clock=VirtualClock(), cfg=cfg) as led:
        yield led


def test_file_settings_and_schema(sqlite_ledger, tmp_path):
    ledger = sqlite_ledger
    conn = sqlite3.connect(tmp_path / "facility.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [v for v, _ in schema.MIGRATIONS]
    assert ledger.schema_version == schema.LATEST
    assert ledger.db._sqlite.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert ledger.db._sqlite.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert "sqlite" in repr(ledger)


def test_the_same_schema_on_both_engines(ledger):
    versions = [r[0] for r in ledger.db.query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [v for v, _ in schema.MIGRATIONS] and ledger.schema_version == schema.LATEST


def test_a_newer_schema_is_refused(db_url, cfg):
    with Ledger.open(db_url, cfg=cfg) as led:
        with led.db.transaction() as tx:
            tx.execute("INSERT INTO schema_version(version, applied_at) VALUES (?, 'later')",
                       (schema.LATEST + 1,))
    with pytest.raises(SchemaTooNew, match=f"schema version {schema.LATEST + 1}, newer than this phonesim"):
        Ledger.open(db_url, cfg=cfg)


def test_a_v1_file_is_migrated_on_open(tmp_path, cfg):
    path = tmp_path / "old.sqlite3"
    with Database.open(path) as db:
        assert schema.migrate(db, target=1) == [1]
        with db.transaction() as tx:
            tx.execute("INSERT INTO cdrs(offhook_s, offhook_at, number) VALUES (1.0, 'x', '5735550100')")
    with Ledger.open(path, cfg=cfg) as led:
        assert led.schema_version == schema.LATEST
        names = {r[1] for r in led.db._sqlite.execute("PRAGMA index_list(cdrs)")}
        assert "cdrs_number" in names  # v2
        cols = {r[1] for r in led.db._sqlite.execute("PRAGMA table_info(cdrs)")}
        assert {"accepted_s", "extra"} <= cols  # v3
        assert led._query("SELECT number FROM cdrs")[0][0] == "5735550100"
    with Ledger.open(path, cfg=cfg) as led:  # opening again applies nothing
        assert [r[0] for r in led._query("SELECT version FROM schema_version")] == \
            list(range(1, schema.LATEST + 1))


def test_a_pin_stored_before_lookup_keys_still_logs_in_and_is_upgraded(tmp_path, cfg):
    """A v3 file's PINs were salted per inmate: found once the old way, then by their lookup key."""
    import hashlib
    import hmac
    import os

    path = tmp_path / "v3.sqlite3"
    with Database.open(path) as db:
        schema.migrate(db, target=3)
    conn = sqlite3.connect(path, isolation_level=None)
    key = os.urandom(16).hex()
    conn.execute("INSERT INTO meta(key, value) VALUES ('pin_key', ?)", (key,))
    salt = os.urandom(16)
    pin_hash = hashlib.scrypt(b"1234", salt=salt, n=2**14, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32)
    tag = hmac.new(bytes.fromhex(key), b"1234", hashlib.sha256).digest()[0]
    conn.execute("INSERT INTO inmates(id, name, name_prompt, pin_tag, pin_salt, pin_hash, pin_kdf, created_at) "
                 "VALUES ('1001', 'John Doe', 'inmate_name_default', ?, ?, ?, 'scrypt:16384:8:1', 'x')",
                 (tag, salt, pin_hash))
    conn.close()
    with Ledger.open(path, cfg=cfg) as led:
        assert led._query("SELECT pin_lookup FROM inmates")[0][0] is None
        assert not led.authenticate("4321", terminal="t").ok
        assert led.authenticate("1234", terminal="t").inmate.id == "1001"
        assert bytes(led._query("SELECT pin_lookup FROM inmates")[0][0]) == led.pin_lookup("1234")
        assert led.authenticate("1234", terminal="t").ok            # now by the index
        with pytest.raises(LedgerError, match="already used"):
            led.add_inmate("1002", "Richard Roe", "1234")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="junk.sqlite3: cannot open"):
        Ledger.open(path)


def test_close_is_idempotent_and_use_after_close_is_an_error(tmp_path):
    led = Ledger.open(tmp_path / "x.sqlite3")
    led.close()
    led.close()
    assert "closed" in repr(led)
    with pytest.raises(LedgerError, match="closed"):
        led.fund_prepaid("5735550100", 100)


# --- PINs ---------------------------------------------------------------------------
def test_pins_are_stored_as_keyed_scrypt_lookups(sqlite_ledger, tmp_path):
    ledger = sqlite_ledger
    ledger.add_inmate("1", "A", "1234")
    ledger.add_inmate("2", "B", "4321")
    rows = ledger._query("SELECT pin_lookup, pin_kdf FROM inmates ORDER BY id")
    assert all(len(r["pin_lookup"]) == 32 and r["pin_kdf"].startswith("lookup:scrypt:") for r in rows)
    assert rows[0]["pin_lookup"] != rows[1]["pin_lookup"]
    with Ledger.open(tmp_path / "other.sqlite3") as other:      # another database, another secret
        assert other.pin_lookup("1234") != bytes(rows[0]["pin_lookup"])
    assert ledger.pin_lookup("1234") == bytes(rows[0]["pin_lookup"])
    dump = "\n".join(ledger.db._sqlite.iterdump())
    assert "1234" not in dump.replace("'1'", "")  # the PIN itself is nowhere in the file


def test_pin_rules(ledger):
    with pytest.raises(ValueError, match="expected 4 digits"):
        ledger.add_inmate("1", "A", "12345")
    with pytest.raises(ValueError, match="the digits 0-9 only"):
        ledger.add_inmate("1", "A", "12a4")
    ledger.add_inmate("1", "A", "1234")
    with pytest.raises(LedgerError, match="already used"):
        ledger.add_inmate("2", "B", "1234")
    with pytest.raises(LedgerError, match="already exists"):
        ledger.add_inmate("1", "C", "5555")
    with pytest.raises(ValueError, match="status"):
        ledger.add_inmate("3", "C", "5556", status="vip")


def test_wrong_pins_pause_a_phone_longer_each_burst_and_a_right_pin_does_not_reset_it(ledger):
    ledger.add_inmate("1001", "John Doe", "1234")
    ok = ledger.authenticate("1234", wall_s=at(10), terminal="t1")
    assert ok.ok and ok.inmate.id == "1001" and not ok.locked
    r1 = ledger.authenticate("1111", wall_s=at(11), terminal="t1")
    assert ledger.authenticate("1234", wall_s=at(11.5), terminal="t1").ok      # a right PIN between ...
    r2 = ledger.authenticate("2222", wall_s=at(12), terminal="t1")
    assert (r1.ok, r1.failures, r2.failures, r2.locked) == (False, 1, 2, False)  # ... resets nothing
    other = ledger.authenticate("3333", wall_s=at(12), terminal="t2")
    assert other.failures == 1  # counted per phone
    r3 = ledger.authenticate("3333", wall_s=at(13), terminal="t1")
    assert r3.locked and r3.failures == 3 and r3.locked_until_s == pytest.approx(at(13 + 60))
    # while the phone pauses even the right PIN is not checked: a guess tells nothing
    assert ledger.authenticate("1234", wall_s=at(40), terminal="t1").locked
    assert ledger.authenticate("1234", wall_s=at(74), terminal="t1").ok
    # the next burst pauses twice as long, then four times ...
    for i in range(3):
        burst = ledger.authenticate(f"{5550 + i}", wall_s=at(80 + i), terminal="t1")
    assert burst.locked and burst.locked_until_s == pytest.approx(at(82 + 120))
    for i in range(3):
        burst = ledger.authenticate(f"{5560 + i}", wall_s=at(300 + i), terminal="t1")
    assert burst.locked_until_s == pytest.approx(at(302 + 240))
    # ... and after quiet (twice the longest pause) the pauses start small again
    for i in range(3):
        burst = ledger.authenticate(f"{5570 + i}", wall_s=at(302 + 3600 + 1 + i), terminal="t1")
    assert burst.locked_until_s == pytest.approx(at(302 + 3600 + 3 + 60))


def test_wrong_pins_before_ones_own_count_against_oneself_only(ledger):
    """The defect as filed: keying one's own PIN after every two wrong guesses tried all 9,999 PINs."""
    ledger.add_inmate("1001", "Attacker", "1234")
    ledger.add_inmate("1002", "Bystander", "5678")
    t, guesses, locked_out, calls = 0.0, 0, None, 0
    while calls < 6:                               # lift, two guesses, one's own PIN, hang up ...
        for _g in range(2):
            t += 5
            r = ledger.authenticate(f"{9000 + guesses:04d}", wall_s=at(t), terminal="phone-1")
            guesses += 1
            if r.locked:
                t = r.locked_until_s - T0 + 1      # the phone paused: wait it out
        t += 5
        own = ledger.authenticate("1234", wall_s=at(t), terminal="phone-1", failures_before=2)
        if own.locked:
            locked_out = own
            break
        calls += 1
    assert locked_out is not None and calls == 4            # 10 wrong PINs charged to them: locked
    assert locked_out.inmate.id == "1001" and ledger.inmate("1001").locked_until_s > at(t)
    assert ledger.authenticate("5678", wall_s=at(t + 1), terminal="phone-2").ok   # nobody else's
    assert not ledger.authenticate("1234", wall_s=at(t + 2), terminal="phone-2").ok


def test_guesses_an_attacker_gets_in_an_hour_at_one_phone(ledger):
    """Always wrong, always waiting out the pause: the figure the README states."""
    t, guesses = 0.0, 0
    while t < 3600:
        r = ledger.authenticate(f"{guesses % 10000:04d}", wall_s=at(t), terminal="phone-1")
        guesses += r.failures > 0            # evaluated (a paused phone checks nothing)
        t = max(t + 5, (r.locked_until_s - T0) if r.locked else t + 5)
    assert 15 <= guesses <= 21, guesses           # 3 per pause of 1, 2, 4, 8, 16, 30, 30 ... minutes


def test_id_plus_passcode_counts_against_the_inmate(ledger):
    ledger.add_inmate("1001", "John Doe", "1234")
    ledger.add_inmate("1002", "Jane Roe", "5678")
    for i in range(ledger.inmate_max_failures):
        r = ledger.authenticate("5678", wall_s=at(i), inmate_id="1001")  # someone else's PIN
    assert r.locked and not r.ok and r.inmate is None
    assert ledger.inmate("1001").locked_until_s == at(ledger.inmate_max_failures - 1) + ledger.inmate_lockout_s
    assert ledger.authenticate("1234", wall_s=at(50), inmate_id="1001").locked
    assert ledger.authenticate("5678", wall_s=at(51), inmate_id="1002").ok     # only the one named
    ledger.unlock("1001")
    assert ledger.authenticate("1234", wall_s=at(60), inmate_id="1001").ok


@pytest.fixture
def id_ledger(tmp_path, db_url):
    """A ledger whose profile logs in by ID number, then PIN (``pin.login = "id+pin"``)."""
    from phonesim.config import load_config

    cfg = load_config(search=False, overrides={"profile.pin.login": "id+pin"})
    with Ledger.open(db_url, clock=VirtualClock(), cfg=cfg) as led:
        led.add_inmate("100201", "John Doe", "1234")
        led.add_inmate("100202", "Jane Roe", "5678")
        yield led


def test_id_plus_pin_login_at_a_phone(id_ledger):
    """ID then PIN keyed together: the PIN alone never logs in, another's PIN with one's ID never
    does; a wrong PIN counts at the phone (pauses) and against the person named (a lock of theirs);
    an unknown ID only at the phone."""
    led = id_ledger
    assert led.authenticate("1002011234", wall_s=at(0), terminal="p1").inmate.id == "100201"
    assert not led.authenticate("1234", wall_s=at(1), terminal="p2").ok                # PIN alone
    assert not led.authenticate("1002015678", wall_s=at(2), terminal="p3").ok          # Jane's PIN
    assert not led.authenticate("9999991234", wall_s=at(3), terminal="p4").ok          # no such ID
    assert not led.authenticate("1002x1234", wall_s=at(4), terminal="p5").ok           # not digits
    assert led.inmate("100201").failed_pins == 1 and led.inmate("100202").failed_pins == 0
    # one phone, three wrong: it pauses, and while it pauses not even the right login is checked
    for i in range(3):
        r = led.authenticate("1002020000", wall_s=at(10 + i), terminal="p6")
    assert r.locked and r.locked_until_s == at(12) + led.pin_lockout_s
    assert not led.authenticate("1002025678", wall_s=at(13), terminal="p6").ok
    assert led.authenticate("1002025678", wall_s=at(13), terminal="p7").ok             # her PIN, elsewhere
    assert led.inmate("100202").failed_pins == 0          # her right login cleared what was charged to her


def test_id_plus_pin_guessing_one_persons_pin_is_slow(id_ledger):
    """The attacker who knows a victim's ID, on 40 phones, one try every 30 s for a day:
    ``inmate_max_failures`` wrong PINs lock the victim's account for an hour, and within the
    day every further wrong one locks it again: 10 + 1 an hour, about 34 checked guesses a
    day (a 4-digit PIN: half the PINs tried in some five months)."""
    import hashlib

    led = id_ledger
    # every guess is wrong: a cheap key for them keeps 2,880 logins fast (the limits are under test)
    led.pin_lookup = lambda pin: hashlib.sha256(b"test:" + pin.encode()).digest()
    checked = 0
    for k in range(2880):
        r = led.authenticate(f"100201{k:04d}", wall_s=at(30.0 * k), terminal=f"p{k % 40}")
        paused_phone = r.locked and r.inmate is None and r.failures == 0
        locked_person = r.locked and r.inmate is not None
        checked += not (paused_phone or locked_person)
        assert not r.ok
    assert 10 + 20 <= checked <= 10 + 24, checked   # the limit, not something else, is what holds


def test_set_pin_and_status(ledger):
    ledger.add_inmate("1001", "John Doe", "1234", housing_unit="A-1")
    ledger.set_pin("1001", "9876")
    assert not ledger.authenticate("1234", wall_s=at(1)).ok
    assert ledger.authenticate("9876", wall_s=at(2)).ok
    assert ledger.set_status("1001", "segregation", housing_unit="SEG").status == "segregation"
    assert ledger.inmate("1001").housing_unit == "SEG"
    with pytest.raises(NotFound, match="'9999'"):
        ledger.set_status("9999", "general")


# --- money --------------------------------------------------------------------------
def test_trust_to_debit_transfer(ledger):
    ledger.add_inmate("1001", "John Doe", "1234")
    assert ledger.credit_trust("1001", 5000) == 5000
    receipt = ledger.transfer_trust_to_debit("1001", 1234)
    assert (receipt.trust_after_cents, receipt.debit_after_cents) == (3766, 1234)
    assert ledger.trust_balance_cents("1001") == 3766 and ledger.debit_balance_cents("1001") == 1234
    with pytest.raises(InsufficientFunds, match="3766c, cannot transfer 4000c"):
        ledger.transfer_trust_to_debit("1001", 4000)
    assert ledger.trust_balance_cents("1001") == 3766  # nothing moved
    with pytest.raises(ValueError, match="whole cents > 0"):
        ledger.credit_trust("1001", -5)
    with pytest.raises(ValueError, match="whole cents > 0"):
        ledger.credit_trust("1001", 1.5)
    assert ledger.reconcile() == []


def test_charges_are_idempotent_and_never_overdraw(ledger):
    ledger.fund_prepaid("573-555-0100", 12)
    r0 = ledger.charge_minute(7, 0, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    again = ledger.charge_minute(7, 0, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    assert (r0.ok, r0.balance_after_cents, r0.duplicate) == (True, 7, False)
    assert (again.ok, again.balance_after_cents, again.duplicate) == (True, 7, True)
    assert ledger.charge_minute(7, 1, payer_kind="prepaid", payer_id="5735550100", amount_cents=5).ok
    short = ledger.charge_minute(7, 2, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    assert not short.ok and short.balance_after_cents == 2 and "2c < 5c" in short.reason
    assert ledger.prepaid_balance_cents("5735550100") == 2
    # the failed minute was not recorded: it can succeed after a deposit
    ledger.fund_prepaid("5735550100", 100)
    assert ledger.charge_minute(7, 2, payer_kind="prepaid", payer_id="5735550100", amount_cents=5).ok
    assert [c["minute_index"] for c in ledger.charges_for_call(7)] == [0, 1, 2]
    assert ledger.reconcile() == []


def test_debit_and_free_charges(ledger):
    ledger.add_inmate("1001", "John Doe", "1234")
    ledger.credit_debit("1001", 10)
    assert ledger.charge_minute(1, 0, payer_kind="debit", payer_id="1001", amount_cents=5).balance_after_cents == 5
    free = ledger.charge_minute(2, 0, payer_kind="free", payer_id="", amount_cents=0)
    assert free.ok and free.amount_cents == 0
    assert ledger.debit_balance_cents("1001") == 5
    no_account = ledger.charge_minute(3, 0, payer_kind="prepaid", payer_id="3145550100", amount_cents=5)
    assert not no_account.ok and "no prepaid account" in no_account.reason
    with pytest.raises(ValueError, match="payer_kind"):
        ledger.charge_minute(4, 0, payer_kind="cash", payer_id="1001", amount_cents=5)
    assert ledger.reconcile() == []


def test_direct_bill_accrues_up_to_the_limit_and_pays(ledger):
    ledger.open_direct_bill("3145550199", credit_limit_cents=12)
    assert ledger.charge_minute(1, 0, payer_kind="collect", payer_id="3145550199", amount_cents=5).balance_after_cents == 7
    assert ledger.charge_minute(1, 1, payer_kind="collect", payer_id="3145550199", amount_cents=5).balance_after_cents == 2
    over = ledger.charge_minute(1, 2, payer_kind="collect", payer_id="3145550199", amount_cents=5)
    assert not over.ok and "credit limit 12c" in over.reason
    assert ledger.direct_bill("3145550199").owed_cents == 10
    assert ledger.pay_direct_bill("3145550199", 10) == 0
    with pytest.raises(ValueError, match="at most the 0c owed"):
        ledger.pay_direct_bill("3145550199", 1)
    month = ledger.statement("3145550199", "2026-01")
    assert (month.charges_cents, month.payments_cents, month.owed_cents) == (10, 10, 0)
    assert [line.kind for line in month.lines] == ["call-charge", "call-charge", "payment"]
    assert ledger.reconcile() == []


def test_unusual_increase_blocks_the_direct_bill_btn(db_url, cfg):
    clock = VirtualClock()  # 2026-01-01
    with Ledger.open(db_url, clock=clock, cfg=cfg) as led:
        led.open_direct_bill("3145550199", credit_limit_cents=10_000)
        led.charge_minute(1, 0, payer_kind="collect", payer_id="3145550199", amount_cents=500)
        clock.advance_s(31 * 86400)  # February; the profile blocks at +100 % and +$10
        for minute in range(3):
            assert led.charge_minute(2, minute, payer_kind="collect", payer_id="3145550199",
                                     amount_cents=500).ok
        account = led.direct_bill("3145550199")
        assert account.blocked and account.blocked_reason == (
            "unusual increase: $15.00 in 2026-02 vs $5.00 in 2026-01 (more than +100 % and $10.00)")
        refused = led.charge_minute(3, 0, payer_kind="collect", payer_id="3145550199", amount_cents=100)
        assert not refused.ok and "blocked" in refused.reason
        led.set_direct_bill_block("3145550199", False)
        assert not led.direct_bill("3145550199").blocked
        assert led.reconcile() == []


@pytest.mark.parametrize(("history_cents", "this_month_cents", "blocked"), [
    ((10,), 25, False),             # the defect as filed: 10 cents -> 25 cents was "unusual"
    ((500,), 1499, False),          # +$9.99: under the floor
    ((500,), 1600, True),           # +$11, +220 %
    ((1500, 0, 500), 2900, False),  # +480 % on last month, but under +100 % on the largest of 3
    ((1500, 0, 500), 3100, True),
    ((), 1995, False),              # a new account under the review amount
    ((), 2000, True),               # the defect as filed: $0 -> $30 never fired
])
def test_the_unusual_increase_rule(tmp_path, cfg, history_cents, this_month_cents, blocked):
    """The profile's rule: over the largest of the last 3 months by 100 % and at least $10; a
    number with no history, at $20."""
    clock = VirtualClock(epoch_s=VirtualClock().epoch_s + 4 * 86400)     # 2026-01-05
    with Ledger.open(tmp_path / "u.sqlite3", clock=clock, cfg=cfg) as led:
        led.open_direct_bill("3145550199", credit_limit_cents=10_000)
        history = (0,) * (3 - len(history_cents)) + tuple(history_cents)   # January .. March
        for month, cents in enumerate(history, start=1):
            if cents:
                led.charge_minute(month, 0, payer_kind="collect", payer_id="3145550199", amount_cents=cents)
                led.pay_direct_bill("3145550199", led.direct_bill("3145550199").owed_cents)
            clock.advance_s(31 * 86400)
        assert dt.datetime.fromtimestamp(clock.wall_time_s(), dt.UTC).month == 4
        for minute in range(this_month_cents // 5):
            led.charge_minute(99, minute, payer_kind="collect", payer_id="3145550199", amount_cents=5)
        assert led.direct_bill("3145550199").blocked is blocked, led.direct_bill("3145550199").blocked_reason


def test_the_journal_is_append_only_and_reconcile_finds_tampering(ledger):
    ledger.fund_prepaid("5735550100", 100)

    def sql(statement):
        with ledger.db.transaction() as tx:
            tx.execute(statement)
    with pytest.raises(LedgerError, match="append-only"):
        sql("UPDATE journal SET amount_cents=1")
    with pytest.raises(LedgerError, match="append-only"):
        sql("DELETE FROM journal")
    with pytest.raises(LedgerError, match="(?i)check constraint"):
        sql("UPDATE accounts SET balance_cents=-1")
    sql("UPDATE accounts SET balance_cents=99 WHERE kind='prepaid'")
    problems = ledger.reconcile()
    assert len(problems) == 1 and "balance 99c but journal sums to 100c" in problems[0]


def test_bad_btn_is_a_clear_error(ledger):
    with pytest.raises(InvalidNumber, match="BTN: expected a 10-digit number, got '57355501'"):
        ledger.fund_prepaid("57355501", 100)


def test_two_threads_charging_at_once(ledger):
    ledger.fund_prepaid("5735550100", 1000)
    errors = []

    def work(call_id):
        try:
            for minute in range(50):
                ledger.charge_minute(call_id, minute % 25, payer_kind="prepaid", payer_id="5735550100",
                                     amount_cents=3)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,), name=f"charger-{i}") for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert ledger.prepaid_balance_cents("5735550100") == 1000 - 2 * 25 * 3
    assert ledger.reconcile() == []


# --- numbers ------------------------------------------------------------------------
def test_approved_list_and_requests(ledger):
    ledger.add_inmate("1001", "John Doe", "1234")
    req = ledger.request_number("1001", "(573) 555-0100")
    assert req.status == "pending" and req.number == "5735550100"
    assert [r.number for r in ledger.pending_requests()] == ["5735550100"]
    assert not ledger.is_approved("1001", "5735550100")
    ledger.approve_number("1001", "5735550100")
    assert ledger.is_approved("1001", "1-573-555-0100")
    assert ledger.pending_requests() == []
    ledger.reject_number("1001", "2125551234")
    assert not ledger.is_approved("1001", "2125551234")
    with pytest.raises(NotFound):
        ledger.request_number("nobody", "5735550100")


def test_blocks_and_privileged(ledger):
    block = ledger.block_number("816-555-0111", kind="keypad", by="called party")
    assert block.kind == "keypad" and ledger.is_blocked("8165550111")
    with pytest.raises(ValueError, match="expected a note"):
        ledger.block_number("8165550111", kind="facility")          # staff say why
    ledger.block_number("8165550111", kind="facility", by="officer 7", note="victim request")
    assert [b.kind for b in ledger.blocks_of("8165550111")] == ["keypad", "facility"]   # two records
    assert ledger.block_info("8165550111").kind == "keypad"
    # lifting the facility's block leaves the called party's own, and the other way round
    assert ledger.unblock_number("8165550111", kind="facility")
    assert not ledger.unblock_number("8165550111", kind="facility")
    assert [b.kind for b in ledger.blocks_of("8165550111")] == ["keypad"]
    assert ledger.unblock_number("8165550111", kind="keypad") and not ledger.is_blocked("8165550111")
    with pytest.raises(ValueError, match="block kind"):
        ledger.block_number("8165550111", kind="casual")
    ledger.set_privileged("5735550123", name="Public Defender")
    assert ledger.is_privileged("573-555-0123")
    ledger.set_privileged("5735550123", False)
    assert not ledger.is_privileged("5735550123")
    assert not ledger.is_privileged("garbage")


def test_seed_demo_is_idempotent(ledger, cfg):
    first = ledger.seed_demo(cfg)
    snapshot = ledger._query("SELECT COUNT(*) FROM journal")[0][0]
    second = ledger.seed_demo(cfg)
    assert first["created"] == ["1001", "1002", "1003"] and second["created"] == []
    assert ledger._query("SELECT COUNT(*) FROM journal")[0][0] == snapshot
    assert ledger.trust_balance_cents("1001") == 5000 and ledger.debit_balance_cents("1001") == 1000
    assert ledger.authenticate("1234", wall_s=at(1)).inmate.name == "John Doe"
    assert ledger.inmate("1002").status == "restricted" and ledger.inmate("1003").status == "segregation"
    assert ledger.inmate("1001").facility_id == cfg.facility.id == "jccc"
    assert ledger.prepaid_balance_cents(DEMO["prepaid_btn"]) == 2500
    assert ledger.direct_bill(DEMO["direct_bill_btn"]).credit_limit_cents == 3000
    assert ledger.is_privileged(DEMO["attorney"]) and ledger.is_blocked(DEMO["blocked_by_party"])
    assert ledger.reconcile() == []


def test_seed_demo_follows_the_pin_length_of_the_profile(tmp_path):
    bop = tmp_path / "bop.toml"
    bop.write_text('[facility]\nprofile = "federal-bop"\n')
    cfg = load_config(bop)
    with Ledger.open(tmp_path / "bop.sqlite3", cfg=cfg) as led:
        seeded = led.seed_demo(cfg)
        assert seeded["pins"]["1001"] == "123456789"
        assert led.authenticate("123456789", wall_s=at(1)).ok


def test_a_pin_works_only_at_the_inmates_current_facility_and_follows_a_transfer(ledger, cfg):
    from phonesim.facility.sites import Sites

    sites = Sites(ledger.db)
    sites.add_facility("jccc", "Jefferson City Correctional Center", state="MO",
                       timezone="America/Chicago", profile="missouri-doc")
    sites.add_facility("acc", "Algoa Correctional Center", state="MO", timezone="America/Chicago",
                       profile="missouri-doc")
    ledger.add_inmate("1001", "John Doe", "1234")                          # at jccc (the config's)
    ledger.add_inmate("2001", "Ann Algoa", "1234", facility_id="acc")      # the same PIN, another site
    assert ledger.authenticate("1234", terminal="jccc-1").inmate.id == "1001"
    assert ledger.authenticate("1234", terminal="acc-1", facility_id="acc").inmate.id == "2001"
    ledger.approve_number("1001", "5735550100")
    ledger.credit_trust("1001", 700)
    with pytest.raises(LedgerError, match="same PIN"):
        ledger.transfer_inmate("1001", "acc")                              # 1234 is taken there
    ledger.set_pin("1001", "4321")
    moved = ledger.transfer_inmate("1001", "acc", housing_unit="C-1")
    assert (moved.facility_id, moved.housing_unit) == ("acc", "C-1")
    assert not ledger.authenticate("4321", terminal="jccc-1").ok           # not at the old facility
    assert ledger.authenticate("4321", terminal="acc-1", facility_id="acc").inmate.id == "1001"
    assert ledger.is_approved("1001", "5735550100") and ledger.trust_balance_cents("1001") == 700
    with pytest.raises(NotFound, match="facility 'nope'"):
        ledger.transfer_inmate("1001", "nope")


def test_a_v4_database_keyed_by_the_facility_name_is_migrated(tmp_path, cfg):
    path = tmp_path / "v4.sqlite3"
    with Database.open(path) as db:
        schema.migrate(db, target=4)
        with db.transaction() as tx:
            tx.execute("INSERT INTO facilities(id, name, state, created_at) VALUES "
                       "('Jefferson City Correctional Center', 'Jefferson City Correctional Center', 'MO', 'x')")
            tx.execute("INSERT INTO inmates(id, name, name_prompt, facility_id, pin_tag, pin_salt, pin_hash, "
                       "pin_kdf, created_at) VALUES ('1001', 'John Doe', '', "
                       "'Jefferson City Correctional Center', 0, x'', x'00', 'x', 'x')")
            tx.execute("INSERT INTO blocks(number, kind, by, note, at) VALUES "
                       "('8165550111', 'keypad', 'called party', '', 'x')")
    with Ledger.open(path, cfg=cfg) as led:
        assert led.inmate("1001").facility_id == "jccc"
        assert [b.kind for b in led.blocks_of("8165550111")] == ["keypad"]
        assert led.db.query("SELECT name FROM facilities WHERE id='jccc'")[0][0] == \
            "Jefferson City Correctional Center"


def test_voice_names_are_kept_for_every_host(ledger):
    import numpy as np

    ledger.add_inmate("1001", "John Doe", "1234")
    assert ledger.voice_name("inmate", "1001") is None
    samples = (np.arange(800) % 50 * 100).astype(np.int16)
    ledger.set_voice_name("inmate", "1001", samples, source="recorded on the first call")
    assert np.array_equal(ledger.voice_name("inmate", "1001"), samples)
    with pytest.raises(ValueError, match="no audio"):
        ledger.set_voice_name("inmate", "1001", samples[:0])
