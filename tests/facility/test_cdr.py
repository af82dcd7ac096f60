"""CDR store: the record of each attempt, its timeline, closing, recovery after a crash, export;
on a SQLite file and on a PostgreSQL database (``db_url``)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from phonesim.clock import VirtualClock
from phonesim.events import DigitDetected
from phonesim.exc import NotFound
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger

T0 = VirtualClock().epoch_s      # 2026-01-01T00:00:00Z: the tests' clocks start here


def at(seconds: float) -> float:
    """Calendar time ``seconds`` after the tests' clocks started."""
    return T0 + seconds


@pytest.fixture
def clock():
    return VirtualClock()  # 2026-01-01T00:00:00Z


@pytest.fixture
def ledger(db_url, clock):
    with Ledger.open(db_url, clock=clock) as led:
        led.add_inmate("1001", "John Doe", "1234")
        led.fund_prepaid("5735550100", 100)
        yield led


@pytest.fixture
def cdrs(ledger):
    return CdrStore(ledger)


def test_a_call_from_off_hook_to_close(cdrs, ledger, clock):
    clock.advance_s(5)
    cid = cdrs.open_call(terminal="phone-1", inmate_id=None, offhook_s=clock.wall_time_s())
    cdrs.update(cid, inmate_id="1001", call_type="prepaid", dialled_number="1 (573) 555-0100",
                jurisdiction="in-state", dialled_s=at(12.0), answered_s=at(20.0), accepted_s=at(30.0),
                payer_kind="prepaid", payer_id="5735550100", cents_per_min=5, recording_path="r.wav")
    cdrs.add_event(cid, at(8.0), "digit", {"digit": "1", "low_dbm0": np.float32(-9.5), "twist_db": 2.0})
    for minute in range(3):
        ledger.charge_minute(cid, minute, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    cdr = cdrs.close_call(cid, disposition="completed", ended_s=at(30.0 + 150.0))
    assert cdr.number == "5735550100" and cdr.inmate_id == "1001" and cdr.terminal == "phone-1"
    assert cdr.offhook_at == "2026-01-01T00:00:05.000+00:00"
    assert cdr.answered_at == "2026-01-01T00:00:20.000+00:00"
    assert cdr.ended_at == "2026-01-01T00:03:00.000+00:00"
    assert (cdr.billed_minutes, cdr.amount_cents) == (3, 15)  # from the charges
    assert cdr.duration_s == 150.0 and cdr.closed and cdr.disposition == "completed"
    assert cdr.events[0].kind == "digit" and cdr.events[0].detail["low_dbm0"] == pytest.approx(-9.5)
    assert (cdr.payer_kind, cdr.payer_id) == ("prepaid", "5735550100")


def test_the_payer_is_filled_from_the_charges(cdrs, ledger):
    cid = cdrs.open_call(terminal="t", inmate_id="1001", offhook_s=at(0))
    ledger.charge_minute(cid, 0, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    cdr = cdrs.close_call(cid, disposition="completed", ended_s=at(60))
    assert (cdr.payer_kind, cdr.payer_id, cdr.amount_cents) == ("prepaid", "5735550100", 5)


def test_closing_twice_changes_nothing(cdrs, clock):
    cid = cdrs.open_call(terminal="t", offhook_s=at(0))
    first = cdrs.close_call(cid, disposition="invalid-PIN", ended_s=at(10))
    second = cdrs.close_call(cid, disposition="completed", ended_s=at(99))
    assert first == second and second.disposition == "invalid-PIN" and second.ended_s == first.ended_s


def test_bad_disposition_and_unknown_call(cdrs):
    cid = cdrs.open_call(terminal="t", offhook_s=at(0))
    with pytest.raises(ValueError, match="disposition: expected one of completed.*got 'done'"):
        cdrs.close_call(cid, disposition="done")
    with pytest.raises(NotFound, match="call 999"):
        cdrs.update(999, number="5735550100")
    with pytest.raises(NotFound):
        cdrs.get(999)


def test_unknown_fields_are_kept_not_lost(cdrs):
    cid = cdrs.open_call(terminal="t", offhook_s=at(0))
    cdrs.update(cid, warnings_at_s=[30.0, 210.0], digits_decoded="1234#")
    cdrs.update(cid, threeway_kind="flash")
    assert cdrs.get(cid).extra == {"warnings_at_s": [30.0, 210.0], "digits_decoded": "1234#",
                                   "threeway_kind": "flash"}


def test_dataclass_events_and_threeway_flag(cdrs):
    cid = cdrs.open_call(terminal="t", offhook_s=at(0))
    cdrs.add_event(cid, at(1.0), "digit", {"event": DigitDetected("5", 0, 640, -8.0, -6.0, 2.0, 0)})
    cdrs.add_event(cid, at(2.0), "three-way-suspected", {"attempt": "flash", "confidence": 0.5})
    assert not cdrs.get(cid).threeway          # a suspicion the policy did not act on
    cdrs.add_event(cid, at(2.0), "three-way", {"kind": "flash", "confidence": 0.9, "action": "log"})
    cdr = cdrs.get(cid)
    assert cdr.events[0].detail["event"]["digit"] == "5"
    assert cdr.threeway
    with pytest.raises(ValueError, match="JSON"):
        cdrs.add_event(cid, at(3.0), "x", {"bad": object()})


def test_recover_open_calls_after_a_crash(cdrs, ledger):
    answered = cdrs.open_call(terminal="t1", inmate_id="1001", offhook_s=at(0))
    cdrs.update(answered, answered_s=at(10))
    ledger.charge_minute(answered, 0, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    cdrs.add_event(answered, at(65), "charge", {"minute": 1})
    ledger.charge_minute(answered, 1, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    dialling = cdrs.open_call(terminal="t2", offhook_s=at(3))
    done = cdrs.open_call(terminal="t3", offhook_s=at(4))
    cdrs.close_call(done, disposition="busy", ended_s=at(9))
    assert cdrs.recover_open_calls(wall_s=at(1000)) == [answered, dialling]
    a, d = cdrs.get(answered), cdrs.get(dialling)
    assert (a.disposition, a.billed_minutes, a.amount_cents) == ("hung-up", 2, 10)
    assert a.ended_s == pytest.approx(at(65))  # the last moment known alive
    assert d.disposition == "abandoned" and d.billed_minutes == 0
    assert cdrs.get(done).disposition == "busy"
    assert cdrs.recover_open_calls(wall_s=at(2000)) == []


def test_list_filters_and_csv_export(cdrs, clock):
    ids = []
    for i, (number, disp) in enumerate([("5735550100", "completed"), ("8005551212", "toll-free-attempt"),
                                        ("5735550100", "declined")]):
        cid = cdrs.open_call(terminal="t", inmate_id="1001" if i != 1 else None, offhook_s=at(i * 100))
        cdrs.update(cid, number=number)
        cdrs.close_call(cid, disposition=disp, ended_s=at(i * 100 + 10))
        ids.append(cid)
    assert [c.call_id for c in cdrs.list(number="573-555-0100")] == [ids[0], ids[2]]
    assert [c.call_id for c in cdrs.list(disposition="toll-free-attempt")] == [ids[1]]
    assert [c.call_id for c in cdrs.list(inmate_id="1001", newest_first=True)] == [ids[2], ids[0]]
    start = clock.epoch_s
    assert [c.call_id for c in cdrs.list(since_s=start + 50, until_s=start + 150)] == [ids[1]]
    assert len(cdrs.list(limit=2)) == 2
    out = io.StringIO()
    assert cdrs.export_csv(out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["disposition"] for r in rows] == ["completed", "toll-free-attempt", "declined"]
    assert rows[0]["number"] == "5735550100" and "duration_s" in rows[0]


def test_recovery_can_be_limited_to_one_terminal(cdrs):
    mine = cdrs.open_call(terminal="phone-1", offhook_s=at(0))
    other = cdrs.open_call(terminal="phone-2", offhook_s=at(0))
    assert cdrs.recover_open_calls(terminal="phone-1") == [mine]
    assert not cdrs.get(other).closed


def test_heal_closes_only_calls_whose_process_is_gone(cdrs, ledger, tmp_path):
    """Every command heals at start: a call of a terminal whose host stopped heart-beating is
    closed; a live host's call, and a call with a recent sign of life, are left alone."""
    from phonesim.facility.sites import GONE_AFTER_S, Sites

    sites = Sites(ledger.db)
    for name in ("alive", "dead"):
        sites.register_terminal(name, facility_id="jccc", unit="", kind="phone", host="h")
    now = at(10_000)
    sites.heartbeat({"alive": "up"}, wall_s=now - 1)
    sites.heartbeat({"dead": "up"}, wall_s=now - GONE_AFTER_S - 60)
    live = cdrs.open_call(terminal="alive", offhook_s=at(100))
    dead = cdrs.open_call(terminal="dead", offhook_s=at(100))
    never = cdrs.open_call(terminal="never-registered", offhook_s=at(100))
    just_now = cdrs.open_call(terminal="never-registered-2", offhook_s=now - 2)
    assert cdrs.heal_left_open(wall_s=now) == [dead, never]
    assert not cdrs.get(live).closed and not cdrs.get(just_now).closed
    assert cdrs.events(dead)[-1].kind == "recovered"
    assert cdrs.heal_left_open(wall_s=now) == []


def test_recovered_end_covers_the_recording_and_the_charged_minutes(cdrs, ledger, tmp_path):
    """The defect as filed: 1 minute billed, 0 s talked, with 26.7 s in the WAV.  The end is now
    the latest sign of life: a charged minute's start, or the audio really in the file."""
    wav = tmp_path / "call.wav"
    wav.write_bytes(b"\0" * 44 + b"\0" * int(26.7 * 8000) * 4)   # a header never rewritten: size counts
    cid = cdrs.open_call(terminal="t1", inmate_id="1001", offhook_s=at(0))
    cdrs.update(cid, answered_s=at(20), accepted_s=at(25), recording_path=str(wav))
    cdrs.add_event(cid, at(25), "recording", {"path": str(wav)})
    ledger.charge_minute(cid, 0, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    assert cdrs.recover_open_calls(wall_s=at(1000)) == [cid]
    cdr = cdrs.get(cid)
    assert cdr.ended_s == pytest.approx(at(25 + 26.7))
    assert (cdr.billed_minutes, cdr.disposition) == (1, "hung-up")
    # two minutes charged, a recording cut short: the second minute's start is the end
    cid = cdrs.open_call(terminal="t1", inmate_id="1001", offhook_s=at(2000))
    cdrs.update(cid, answered_s=at(2020), accepted_s=at(2025), recording_path=str(tmp_path / "gone.wav"))
    for minute in range(2):
        ledger.charge_minute(cid, minute, payer_kind="prepaid", payer_id="5735550100", amount_cents=5)
    cdrs.recover_open_calls(wall_s=at(3000))
    assert cdrs.get(cid).ended_s == pytest.approx(at(2025 + 60))
