"""Policy: phone access (hours, wait, segregation, quota, lockout) and number checks (every refusal)."""

from __future__ import annotations

import datetime as dt
import shutil
from zoneinfo import ZoneInfo

import pytest

from phonesim.clock import VirtualClock
from phonesim.config import load_config
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import DEMO, Ledger
from phonesim.facility.policy import PRIVILEGED_ONLY, UNLIMITED_MINUTES, Policy


def local(text: str) -> float:
    """Calendar seconds of a facility-local time 'YYYY-MM-DD HH:MM' (America/Chicago: CST or CDT)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("America/Chicago")).timestamp()


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory):
    """The demo data seeded once (scrypt hashing is slow on purpose); each test gets a copy."""
    path = tmp_path_factory.mktemp("seed") / "seed.sqlite3"
    cfg = load_config(search=False)
    with Ledger.open(path, cfg=cfg) as led:
        led.seed_demo(cfg)
    return path


def make(tmp_path, seeded_file, **overrides):
    cfg = load_config(search=False, overrides=overrides or None)
    path = tmp_path / "p.sqlite3"
    shutil.copyfile(seeded_file, path)
    led = Ledger.open(path, clock=VirtualClock(), cfg=cfg)
    led.seed_demo(cfg)  # idempotent: only checks
    return cfg, led, Policy(cfg, led), CdrStore(led)


@pytest.fixture
def world(tmp_path, seeded_file):
    cfg, led, policy, cdrs = make(tmp_path, seeded_file)
    yield cfg, led, policy, cdrs
    led.close()


def connected_call(cdrs, inmate_id, start, minutes, disposition="completed"):
    cid = cdrs.open_call(terminal="t", inmate_id=inmate_id, offhook_s=start)
    cdrs.update(cid, answered_s=start + 20, accepted_s=start + 30, number="5735550100")
    cdrs.close_call(cid, disposition=disposition, ended_s=start + 30 + minutes * 60)
    return start + 30 + minutes * 60


# --- may_call -------------------------------------------------------------------------
def test_during_phone_hours_the_full_limit(world):
    _, _, policy, _ = world
    v = policy.may_call("1001", wall_s=local("2026-03-02 12:00"))
    assert v.ok and v.max_call_s == 900 and v.prompt is None and v.restriction == ""


def test_limit_clipped_to_the_end_of_phone_hours(world):
    _, _, policy, _ = world
    assert policy.may_call("1001", wall_s=local("2026-03-02 22:20")).max_call_s == 600
    late = policy.may_call("1001", wall_s=local("2026-03-02 22:29") + 30)
    assert not late.ok and late.prompt == "outside_hours"


@pytest.mark.parametrize("when", ["2026-03-02 05:59", "2026-03-02 22:30", "2026-03-02 23:59"])
def test_outside_phone_hours(world, when):
    _, _, policy, _ = world
    v = policy.may_call("1001", wall_s=local(when))
    assert (v.ok, v.prompt, v.disposition) == (False, "outside_hours", "outside-hours")
    assert "06:00-22:30" in v.reason


def test_a_window_across_midnight(tmp_path, seeded_file):
    _, led, policy, _ = make(tmp_path, seeded_file, **{"profile.hours.windows": ["20:00-02:00"]})
    assert policy.may_call("1001", wall_s=local("2026-03-02 23:00")).max_call_s == 900
    assert policy.may_call("1001", wall_s=local("2026-03-03 01:50")).max_call_s == 600
    assert not policy.may_call("1001", wall_s=local("2026-03-03 12:00")).ok
    led.close()


def test_wait_between_calls_counts_from_the_end_of_the_last_connected_call(world):
    _, _, policy, cdrs = world
    t0 = local("2026-03-02 09:00")
    # a declined call does not start the wait
    cid = cdrs.open_call(terminal="t", inmate_id="1001", offhook_s=t0 - 600)
    cdrs.close_call(cid, disposition="declined", ended_s=t0 - 500)
    assert policy.may_call("1001", wall_s=t0).ok
    ended = connected_call(cdrs, "1001", t0, 15)
    v = policy.may_call("1001", wall_s=ended + 3600)
    assert (v.ok, v.prompt, v.disposition) == (False, "wait_between_calls", "wait-required")
    assert "7200 s more" in v.reason
    assert policy.may_call("1001", wall_s=ended + 10800).ok


def test_segregation_schedule_limit_and_weekly_allowance(world):
    _, _, policy, cdrs = world
    noon = policy.may_call("1003", wall_s=local("2026-03-02 12:00"))
    assert not noon.ok and noon.prompt == "outside_hours" and "segregation" in noon.reason
    ten = policy.may_call("1003", wall_s=local("2026-03-02 10:00"))
    assert ten.ok and ten.max_call_s == 600  # segregation call limit
    assert policy.may_call("1003", wall_s=local("2026-03-02 10:55")).max_call_s == 300
    connected_call(cdrs, "1003", local("2026-03-02 09:10"), 10)
    again = policy.may_call("1003", wall_s=local("2026-03-05 10:00"))
    assert (again.ok, again.prompt, again.disposition) == (False, "weekly_calls_used", "quota-reached")
    # a week (7 x 24 h) after the call ended: 10:30 CDT, clocks went forward on 2026-03-08
    assert policy.may_call("1003", wall_s=local("2026-03-09 10:30")).ok


def test_monthly_quota(tmp_path, seeded_file):
    _, led, policy, cdrs = make(tmp_path, seeded_file, **{"profile.limits.monthly_quota_min": 30,
                                            "profile.limits.wait_between_calls_s": 0})
    connected_call(cdrs, "1001", local("2026-03-02 09:00"), 25)
    v = policy.may_call("1001", wall_s=local("2026-03-03 12:00"))
    assert v.ok and v.max_call_s == 300
    connected_call(cdrs, "1001", local("2026-03-03 12:00"), 5)
    full = policy.may_call("1001", wall_s=local("2026-03-04 12:00"))
    assert (full.ok, full.prompt) == (False, "quota_reached")
    assert policy.may_call("1001", wall_s=local("2026-04-01 12:00")).ok  # a new month
    led.close()


def test_locked_inmate(world):
    _, led, policy, _ = world
    now = local("2026-03-02 12:00")
    for _ in range(led.inmate_max_failures):
        led.authenticate("0000", wall_s=now, inmate_id="1001")
    v = policy.may_call("1001", wall_s=now + 60)
    assert (v.ok, v.prompt, v.disposition) == (False, "account_locked", "locked")


def test_restricted_may_only_call_privileged_numbers(world):
    _, _, policy, _ = world
    when = local("2026-03-02 12:00")
    v = policy.may_call("1002", wall_s=when)
    assert v.ok and v.restriction == PRIVILEGED_ONLY
    refused = policy.check_number("1002", "5735550100", "prepaid", wall_s=when)
    assert (refused.ok, refused.prompt, refused.disposition) == (False, "restricted", "restricted")
    lawyer = policy.check_number("1002", DEMO["attorney"], "debit", wall_s=when)
    assert lawyer.ok and lawyer.privileged and not lawyer.record


# --- check_number -----------------------------------------------------------------------
@pytest.mark.parametrize("number, prompt, disposition", [
    ("18005551212", "number_toll_free", "toll-free-attempt"),
    ("8885551212", "number_toll_free", "toll-free-attempt"),
    ("911", "number_blocked", "not-allowed-number"),
    ("411", "number_blocked", "not-allowed-number"),
    ("9005551234", "number_blocked", "not-allowed-number"),
    ("5739765555", "number_blocked", "not-allowed-number"),
    ("011442079460000", "number_blocked", "not-allowed-number"),
    ("4165551234", "number_blocked", "not-allowed-number"),
    ("57355501", "number_invalid", "not-allowed-number"),
    ("8165550111", "number_blocked_by_party", "refused-party-block"),
])
def test_refused_numbers_name_prompt_and_disposition(world, number, prompt, disposition):
    _, _, policy, _ = world
    v = policy.check_number("1001", number, "debit", wall_s=local("2026-03-02 12:00"))
    assert (v.ok, v.prompt, v.disposition) == (False, prompt, disposition), v
    assert v.reason


def test_a_facility_block_is_not_a_called_party_block(world):
    _, led, policy, _ = world
    led.block_number("2125551234", kind="security", by="officer 7", note="cut off")
    v = policy.check_number("1001", "2125551234", "debit")
    assert (v.prompt, v.disposition) == ("number_blocked", "not-allowed-number") and "cut off" in v.reason


def test_debit_prepaid_and_collect_funds(world):
    _, led, policy, _ = world
    debit = policy.check_number("1001", "2125551234", "debit")
    assert (debit.ok, debit.payer_kind, debit.payer_id, debit.jurisdiction) == (True, "debit", "1001", "out-of-state")
    assert debit.affordable_minutes == 1000 // 5 and debit.cents_per_min == 5 == debit.minute_charge_cents
    prepaid = policy.check_number("1001", DEMO["prepaid_btn"], "prepaid")
    assert (prepaid.payer_kind, prepaid.payer_id, prepaid.affordable_minutes) == ("prepaid", "5735550100", 500)
    collect = policy.check_number("1001", DEMO["direct_bill_btn"], "collect")
    assert (collect.payer_kind, collect.affordable_minutes) == ("collect", 600)
    none = policy.check_number("1001", "2125551234", "prepaid")
    assert (none.ok, none.prompt, none.disposition) == (False, "insufficient_funds", "insufficient-funds")
    assert "no prepaid account" in none.reason
    assert "no Direct Bill account" in policy.check_number("1001", "2125551234", "collect").reason
    led.set_direct_bill_block(DEMO["direct_bill_btn"], True, reason="unusual increase")
    blocked = policy.check_number("1001", DEMO["direct_bill_btn"], "collect")
    assert (blocked.ok, blocked.prompt) == (False, "number_blocked") and "unusual increase" in blocked.reason


def test_a_collect_call_to_a_number_without_an_account(tmp_path, seeded_file):
    """The seed's families set up accounts; real systems give a number without one a courtesy
    call, then tell the called party how to set one up (``billing.no_account``)."""
    cfg, led, policy, cdrs = make(tmp_path, seeded_file)
    first = policy.check_number("1001", "212-555-1234", "collect")
    assert (first.ok, first.courtesy, first.payer_kind, first.cents_per_min) == (True, "free-call", "free", 0)
    assert first.affordable_minutes == 3 and "courtesy call 1 of 1" in first.reason
    again = policy.check_number("1001", "2125551234", "collect")
    assert again.courtesy == "free-call"                       # an unanswered attempt used nothing
    cid = cdrs.open_call(terminal="t", inmate_id="1001", offhook_s=local("2026-03-02 09:00"))
    cdrs.update(cid, number="2125551234", call_type="collect", payer_kind="free",
                answered_s=local("2026-03-02 09:01"), accepted_s=local("2026-03-02 09:01"))
    cdrs.close_call(cid, disposition="completed", ended_s=local("2026-03-02 09:03"))
    used = policy.check_number("1003", "2125551234", "collect")  # per number, whoever calls it
    assert (used.ok, used.courtesy, used.record) == (True, "setup-only", False)
    assert policy.check_number("1001", DEMO["direct_bill_btn"], "collect").courtesy == ""   # has an account
    led.close()
    for mode, expected in (("setup-only", (True, "setup-only", "")),
                           ("refuse", (False, "", "insufficient-funds"))):
        (tmp_path / mode).mkdir()
        _, led, policy, _ = make(tmp_path / mode, seeded_file, **{"profile.billing.no_account": mode})
        v = policy.check_number("1001", "3125550000", "collect")
        assert (v.ok, v.courtesy, v.disposition) == expected, v
        led.close()


def test_less_than_one_minute_of_money_is_insufficient(world):
    _, led, policy, _ = world
    led.add_inmate("2001", "Poor Person", "7777")
    led.credit_debit("2001", 4)
    v = policy.check_number("2001", "2125551234", "debit")
    assert (v.ok, v.prompt, v.disposition, v.affordable_minutes) == (False, "insufficient_funds",
                                                                      "insufficient-funds", 0)
    assert "4c < one minute at 5c" in v.reason


def test_privileged_calls_are_free_even_without_money(world):
    _, led, policy, _ = world
    led.add_inmate("2001", "Poor Person", "7777")
    v = policy.check_number("2001", DEMO["attorney"], "prepaid")
    assert v.ok and v.payer_kind == "free" and v.cents_per_min == 0
    assert v.affordable_minutes == UNLIMITED_MINUTES and not v.record


def test_taxes_raise_the_minute_charge(tmp_path, seeded_file):
    """10 % tax on 5 cents, rounded once per call (5.5 cents a minute), not per minute (6): $10
    buys 181 minutes (905 + 91 tax = 996 cents), not 166."""
    _, led, policy, _ = make(tmp_path, seeded_file, **{"profile.billing.tax_percent": 10.0})
    v = policy.check_number("1001", "2125551234", "debit")
    assert (v.cents_per_min, v.minute_charge_cents, v.affordable_minutes) == (5, 6, 181)
    led.close()


def test_approved_list_when_required(tmp_path, seeded_file):
    _, led, policy, _ = make(tmp_path, seeded_file, **{"profile.numbers.approved_list_required": True})
    v = policy.check_number("1001", "2125551234", "debit")
    assert (v.ok, v.prompt, v.disposition) == (False, "number_not_approved", "not-allowed-number")
    led.approve_number("1001", "2125551234")
    assert policy.check_number("1001", "2125551234", "debit").ok
    assert policy.check_number("1001", DEMO["attorney"], "debit").ok  # privileged needs no approval
    led.close()


def test_international_when_allowed(tmp_path, seeded_file):
    _, led, policy, _ = make(tmp_path, seeded_file, **{"profile.numbers.allow_international": True})
    v = policy.check_number("1001", "011442079460000", "debit")
    assert v.ok and v.jurisdiction == "international"
    led.close()


def test_bad_call_type(world):
    _, _, policy, _ = world
    with pytest.raises(ValueError, match="call_type: expected one of debit, collect, prepaid"):
        policy.check_number("1001", "2125551234", "cash")


def test_every_prompt_and_disposition_named_exists(world):
    """What the policy names must be a shipped prompt and a CDR disposition the store accepts."""
    from phonesim.facility.cdr import DISPOSITIONS
    from phonesim.facility.prompts import PROMPT_NAMES

    _, led, policy, cdrs = world
    verdicts = [policy.check_number("1001", n, t) for n, t in [
        ("18005551212", "debit"), ("911", "debit"), ("57355501", "debit"), ("8165550111", "debit"),
        ("2125551234", "prepaid")]]
    verdicts.append(policy.check_number("1002", "2125551234", "debit"))
    led.block_number("2125551234", kind="facility", note="a victim's request")
    verdicts.append(policy.check_number("1001", "2125551234", "debit"))
    verdicts += [policy.may_call("1001", wall_s=local("2026-03-02 23:00")),
                 policy.may_call("1003", wall_s=local("2026-03-02 12:00"))]
    ended = connected_call(cdrs, "1001", local("2026-03-02 09:00"), 5)
    verdicts.append(policy.may_call("1001", wall_s=ended + 60))
    for _ in range(led.inmate_max_failures):
        led.authenticate("0000", wall_s=ended, inmate_id="1001")
    verdicts.append(policy.may_call("1001", wall_s=ended + 60))
    assert all(not v.ok for v in verdicts)
    assert {v.prompt for v in verdicts} <= set(PROMPT_NAMES)
    assert {v.disposition for v in verdicts} <= set(DISPOSITIONS)
    assert {v.disposition for v in verdicts} == {
        "toll-free-attempt", "not-allowed-number", "refused-party-block", "insufficient-funds",
        "restricted", "outside-hours", "wait-required", "locked"}


def test_phone_hours_follow_daylight_saving_time(world):
    _cfg, _led, policy, _cdrs = world
    """The defect as filed: with a fixed UTC offset, 06:30 CDT in July was refused as outside hours."""
    assert policy.may_call("1001", wall_s=local("2026-07-15 06:30")).ok
    assert not policy.may_call("1001", wall_s=local("2026-07-15 05:59")).ok
    assert policy.may_call("1001", wall_s=local("2026-01-15 06:30")).ok        # and in winter (CST)
    # the call limit is clipped to the window's end on the clock: 22:30 local, summer or winter
    assert policy.may_call("1001", wall_s=local("2026-07-15 22:20")).max_call_s == 600
    assert policy.may_call("1001", wall_s=local("2026-01-15 22:20")).max_call_s == 600
    # on the night clocks go back (2026-11-01 02:00 CDT -> 01:00 CST) a window across midnight
    # ends at its clock time, an hour of real time later than the clock difference says
    night = policy.sites.set_unit_settings("jccc", "A-1", hours=["22:00-03:00"])
    assert night.settings == {"hours": ["22:00-03:00"]}
    policy.sites.register_terminal("A1-1", facility_id="jccc", unit="A-1", kind="phone", host="test")
    v = policy.may_call("1001", wall_s=local("2026-10-31 23:00"), terminal="A1-1")
    assert v.ok and v.max_call_s == 900              # the profile's limit; the window has 5 h left
    late = policy.may_call("1001", wall_s=local("2026-11-01 02:50"), terminal="A1-1")
    assert late.ok is False or late.max_call_s <= 600


def test_a_units_own_settings_and_lockdown(world):
    _cfg, _led, policy, _cdrs = world
    policy.sites.register_terminal("B2-1", facility_id="jccc", unit="B-2", kind="phone", host="test")
    noon = local("2026-03-02 12:00")
    assert policy.may_call("1001", wall_s=noon, terminal="B2-1").max_call_s == 900
    policy.sites.set_unit_settings("jccc", "B-2", call_limit_s=600, hours=["13:00-15:00"])
    assert policy.may_call("1001", wall_s=noon, terminal="B2-1").disposition == "outside-hours"
    assert policy.may_call("1001", wall_s=local("2026-03-02 13:30"), terminal="B2-1").max_call_s == 600
    assert policy.may_call("1001", wall_s=noon).ok                     # another unit's phone: the profile
    policy.sites.set_lockdown("jccc", "B-2", True, reason="count", by="officer 7")
    v = policy.may_call("1001", wall_s=local("2026-03-02 13:30"), terminal="B2-1")
    assert (v.ok, v.prompt, v.disposition) == (False, "phones_locked_down", "lockdown")
    policy.sites.set_lockdown("jccc", "B-2", False)
    assert policy.may_call("1001", wall_s=local("2026-03-02 13:30"), terminal="B2-1").ok
    with pytest.raises(ValueError, match="expected a list of 'HH:MM-HH:MM' windows"):
        policy.sites.set_unit_settings("jccc", "B-2", hours=["25:00-26:00"])
