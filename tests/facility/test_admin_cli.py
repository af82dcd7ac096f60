"""``phonesim admin`` through ``phonesim.cli.main`` on a real database file."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import time

import pytest

from phonesim.cli import main
from phonesim.clock import VirtualClock
from phonesim.commands.admin import amount_cents
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger
from phonesim.facility.sites import Sites

T0 = VirtualClock().epoch_s      # 2026-01-01T00:00:00Z: the tests' clocks start here


def at(seconds: float) -> float:
    """Calendar time ``seconds`` after the tests' clocks started."""
    return T0 + seconds


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory):
    """``admin seed-demo`` once (PIN hashing is slow on purpose); each test gets a copy."""
    folder = tmp_path_factory.mktemp("seed")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("PHONESIM_CONFIG", raising=False)
        assert main(["admin", "--db", str(folder / "seed.sqlite3"), "seed-demo"]) == 0
    return folder / "seed.sqlite3"


@pytest.fixture
def db(tmp_path, monkeypatch, seeded_file):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHONESIM_CONFIG", raising=False)
    path = tmp_path / "facility.sqlite3"
    shutil.copyfile(seeded_file, path)
    return path


def admin(db, *args):
    return main(["admin", "--db", str(db), *args])


@pytest.mark.parametrize("text, cents", [("12.34", 1234), ("$12.34", 1234), ("12", 1200), ("0.1", 10),
                                         ("$0.01", 1), ("19.99", 1999), ("12.5", 1250), (" 7 ", 700),
                                         ("$100000", 10_000_000)])
def test_amounts_are_exact(text, cents):
    assert amount_cents(text) == cents


@pytest.mark.parametrize("bad", ["12.345", "-5", "0", "ten", "$", "", "nan", "inf", "1,000", "1e3", "1E+30",
                                 "1_000", "100000.01", "12.", ".5", "+5", "$-5", "٥", "１２", "0x10"])
def test_bad_amounts_are_usage_errors(db, capsys, bad):
    with pytest.raises(SystemExit) as exit_:
        admin(db, "account", "fund-prepaid", "5735550100", bad)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument AMOUNT: expected an amount in dollars like 12 or 12.50" in err and repr(bad) in err
    assert "Traceback" not in err


def test_seed_demo_twice_changes_nothing(db, capsys):
    capsys.readouterr()
    assert admin(db, "seed-demo") == 0
    assert "nothing changed" in capsys.readouterr().out


def test_inmates(db, capsys):
    assert admin(db, "inmate", "add", "2001", "Jane Roe", "--pin", "4321", "--unit", "C-3") == 0
    assert admin(db, "inmate", "set-status", "2001", "restricted") == 0
    assert admin(db, "inmate", "set-pin", "2001", "8765") == 0
    capsys.readouterr()
    assert admin(db, "inmate", "show", "2001") == 0
    out = capsys.readouterr().out
    assert "Jane Roe" in out and "restricted" in out and "C-3" in out
    assert admin(db, "inmate", "list") == 0
    out = capsys.readouterr().out
    assert "1001     John Doe" in out and "$50.00" in out and "2001" in out
    with Ledger.open(db) as led:
        assert led.authenticate("8765", wall_s=at(1)).inmate.id == "2001"


def test_runtime_and_value_errors(db, capsys):
    assert admin(db, "inmate", "show", "9999") == 1
    assert "phonesim: error: inmate '9999': no such inmate" in capsys.readouterr().err
    assert admin(db, "inmate", "add", "2001", "X", "--pin", "12345") == 2
    assert "PIN: expected 4 digits (profile pin.length), got 5" in capsys.readouterr().err
    assert admin(db, "account", "transfer", "1001", "999") == 1
    assert "cannot transfer 99900c" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        admin(db, "inmate", "set-status", "1001", "vip")
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        admin(db, "number", "block", "555-0100")
    assert exit_.value.code == 2
    assert "argument NUMBER: expected a telephone number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        admin(db, "account", "statement", "3145550199", "--month", "2026-13")
    assert "expected a month 'YYYY-MM', got '2026-13'" in capsys.readouterr().err


def test_accounts(db, capsys):
    assert admin(db, "account", "fund-prepaid", "(573) 555-0100", "$12.34") == 0
    assert "balance $37.34" in capsys.readouterr().out
    assert admin(db, "account", "credit-trust", "1001", "5") == 0
    assert admin(db, "account", "transfer", "1001", "2.50") == 0
    assert "trust $52.50, debit $12.50" in capsys.readouterr().out
    from phonesim.facility.rates import minute_charge_at_cents

    with Ledger.open(db) as led:
        call = CdrStore(led).open_call(terminal="phone-1", inmate_id="1001")
        CdrStore(led).update(call, number="3145550199", call_type="collect", cents_per_min=5)
        for minute in range(4):                     # 10 % tax on 5 cents, rounded once: 6, 5, 6, 5
            led.charge_minute(call, minute, payer_kind="collect", payer_id="3145550199",
                              amount_cents=minute_charge_at_cents(5, 10, minute))
        month = dt.datetime.fromtimestamp(led.wall_s(), dt.UTC).strftime("%Y-%m")  # "now"
    assert admin(db, "account", "statement", "314-555-0199", "--month", month) == 0
    out = capsys.readouterr().out
    assert f"call {call:<8}   4 min at $0.05      $0.20 + tax   $0.02  =     $0.22" in out, out
    assert "charges $0.22 (tax $0.02)" in out and "owed now $0.22 of $30.00" in out
    assert admin(db, "account", "pay", "3145550199", "0.22") == 0
    assert admin(db, "account", "reconcile") == 0
    assert "reconciles" in capsys.readouterr().out


def test_numbers(db, capsys):
    assert admin(db, "number", "block", "212-555-1234", "--note", "victim request") == 0
    assert admin(db, "number", "privileged", "573-555-0199", "--name", "Law Office") == 0
    capsys.readouterr()
    assert admin(db, "number", "list") == 0
    out = capsys.readouterr().out
    assert "212-555-1234  facility" in out and "victim request" in out and "Law Office" in out
    assert admin(db, "number", "unblock", "2125551234") == 0
    assert admin(db, "number", "unblock", "2125551234") == 1
    with Ledger.open(db) as led:
        led.request_number("1001", "3125550000")
    capsys.readouterr()
    assert admin(db, "number", "requests") == 0
    assert "312-555-0000" in capsys.readouterr().out
    assert admin(db, "number", "approve", "1001", "3125550000") == 0
    assert admin(db, "number", "requests") == 0
    assert "no pending requests" in capsys.readouterr().out


def test_cdrs_and_who_called(db, tmp_path, capsys):
    with Ledger.open(db) as led:
        cdrs = CdrStore(led)
        for inmate_id, disposition in (("1001", "completed"), ("1001", "declined"), ("1003", "completed")):
            cid = cdrs.open_call(terminal="phone-1", inmate_id=inmate_id, offhook_s=at(0))
            cdrs.update(cid, number="8165550111", call_type="prepaid", answered_s=at(5))
            cdrs.add_event(cid, at(1), "digit", {"digit": "1", "low_dbm0": -9.1})
            cdrs.close_call(cid, disposition=disposition, ended_s=at(70))
        # phone-2's process is alive (a fresh heartbeat): no command heals its call; 'cdr recover'
        # closes it because the administrator says so
        Sites(led.db).register_terminal("phone-2", facility_id="jccc", unit="", kind="phone", host="h")
        Sites(led.db).heartbeat({"phone-2": "up"}, wall_s=time.time() + 3600)
        open_call = cdrs.open_call(terminal="phone-2", offhook_s=at(0))
    capsys.readouterr()
    assert admin(db, "cdr", "list", "--number", "816-555-0111") == 0
    out = capsys.readouterr().out
    assert out.count("816-555-0111") == 3 and "declined" in out
    assert admin(db, "cdr", "list", "--inmate", "1003", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["inmate_id"] for c in listed] == ["1003"]
    assert admin(db, "cdr", "show", "1") == 0
    out = capsys.readouterr().out
    assert "timeline" in out and '"digit": "1"' in out and "disposition     completed" in out
    assert admin(db, "cdr", "show", "99") == 1
    capsys.readouterr()
    assert admin(db, "who-called", "8165550111") == 0
    out = capsys.readouterr().out
    assert "1001     John Doe, general, unit A-1: 2 call(s)" in out
    assert "1003     Mary Major" in out
    assert admin(db, "cdr", "recover") == 0
    assert f"[{open_call}]" in capsys.readouterr().out
    target = tmp_path / "calls.csv"
    assert admin(db, "cdr", "export", "--csv", str(target)) == 0
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 4 and rows[-1]["disposition"] == "abandoned"


def test_rates(db, capsys, tmp_path):
    assert admin(db, "rates", "show", "--date", "2026-05-01") == 0
    out = capsys.readouterr().out
    assert "5c (5c)" in out and "2025 interim" in out and ": 6" in out  # 2024 reference figure
    assert admin(db, "rates", "check", "--date", "2026-05-01") == 0
    config = tmp_path / "dear.toml"
    config.write_text('[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\n'
                      'jurisdiction = "*"\ncents_per_min = 21\n')
    capsys.readouterr()
    assert main(["--config", str(config), "admin", "rates", "check", "--date", "2026-05-01"]) == 1
    assert "warning: rate 21c/min" in capsys.readouterr().out


def test_database_path_from_the_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "phonesim.toml"
    config.write_text('[paths]\ndatabase = "data/site.sqlite3"\n')
    assert main(["--config", str(config), "admin", "seed-demo"]) == 0
    assert (tmp_path / "data" / "site.sqlite3").exists()


# --- what an administrator (or a stored record) can put in front of the terminal ---------------
def usage_error(db, capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_:
        admin(db, *args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("args, words", [
    (("cdr", "show", "1234567890123456789012345"), "argument CALL_ID: expected a call id like 42"),
    (("cdr", "show", "0"), "argument CALL_ID: expected a call id"),
    (("cdr", "list", "--limit", "99999999999999999999"), "argument --limit: expected a whole number"),
    (("cdr", "list", "--limit", "-5"), "argument --limit: expected a whole number"),
    (("inmate", "add", "2001", "Evil\x1b[2J", "--pin", "4321"), "argument NAME: expected a name: printable text"),
    (("inmate", "add", "2001\x07", "Jane", "--pin", "4321"), "argument ID: expected an inmate id"),
    (("inmate", "add", "   ", "Jane", "--pin", "4321"), "argument ID: expected an inmate id"),
    (("inmate", "add", "2001", "Jane", "--pin", "4321", "--unit", "C\u202e3"), "argument --unit"),
    (("number", "block", "2125551234", "--note", "line1\nline2"), "argument --note: expected a note"),
    (("inmate", "add", "2001", "Jane", "--pin", "\u0665\u0665\u0665\u0665"), "expected a PIN of the digits 0-9"),
    (("inmate", "add", "2001", "Jane", "--pin", "\uff11\uff12\uff13\uff14"), "expected a PIN of the digits 0-9"),
    (("inmate", "set-pin", "1001", "12 34"), "expected a PIN of the digits 0-9 only"),
])
def test_bad_input_is_a_usage_error_naming_the_argument(db, capsys, args, words):
    assert words in usage_error(db, capsys, *args)


def test_ids_are_stripped_the_same_way_on_add_and_show(db, capsys):
    assert admin(db, "inmate", "add", " 2007 ", "Jane Roe", "--pin", "4321") == 0
    assert admin(db, "inmate", "show", " 2007 ") == 0
    assert admin(db, "inmate", "show", "2007") == 0
    assert admin(db, "account", "credit-trust", "2007 ", "5") == 0
    assert admin(db, "cdr", "list", "--inmate", " 2007") == 0
    assert "Jane Roe" in capsys.readouterr().out


def test_stored_control_characters_are_printed_escaped(db, capsys):
    """A name stored by another program (or before these checks) cannot drive the terminal."""
    with Ledger.open(db) as led:
        led.add_inmate("666", "Mallory\x1b[2J\x9b5m\u202e", "4242", housing_unit="B\r-1")
        led.add_inmate("6\x1b[31m7", "Eve", "4343")
        led.block_number("2125551234", kind="facility", by="ops\x1b]0;pwned\x07", note="n\x00te")
        cdrs = CdrStore(led)
        call = cdrs.open_call(terminal="t", inmate_id="666", offhook_s=0)
        cdrs.update(call, number="2125550000")
        cdrs.close_call(call, disposition="completed", ended_s=10)
    capsys.readouterr()
    for args in (("inmate", "list"), ("inmate", "show", "666"), ("number", "list"),
                 ("who-called", "2125550000"), ("cdr", "list"), ("cdr", "show", str(call))):
        assert admin(db, *args) == 0, args
        out = capsys.readouterr().out
        assert not any(ch in out for ch in "\x1b\x9b\x07\x00\r\u202e"), (args, out)
    assert admin(db, "inmate", "show", "666") == 0
    assert "Mallory\\x1b[2J\\x9b5m\\u202e" in capsys.readouterr().out
    assert admin(db, "inmate", "list") == 0
    assert "6\\x1b[31m7" in capsys.readouterr().out


def test_export_to_an_unwritable_place_is_one_line(db, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    for target in (tmp_path / "missing" / "calls.csv", tmp_path / "a-file" / "calls.csv", tmp_path):
        assert admin(db, "cdr", "export", "--csv", str(target)) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"phonesim: error: {target}: cannot write the CSV: ") and err.count("\n") == 1


def test_any_admin_command_heals_a_call_whose_process_is_gone(db, capsys):
    """A crash's open call (its terminal's process no longer beats) is closed by the next command,
    whatever it is, and the command says so."""
    with Ledger.open(db) as led:
        dead = CdrStore(led).open_call(terminal="phone-9", inmate_id="1001", offhook_s=at(0))
    capsys.readouterr()
    assert admin(db, "inmate", "list") == 0
    err = capsys.readouterr().err
    assert "closed 1 call(s) a stopped process left open" in err and err.rstrip().endswith(str(dead))
    with Ledger.open(db) as led:
        cdr = CdrStore(led).get(dead)
        assert cdr.closed and cdr.disposition == "abandoned" and cdr.events[-1].kind == "recovered"
    assert admin(db, "inmate", "list") == 0
    assert capsys.readouterr().err == ""                           # once
