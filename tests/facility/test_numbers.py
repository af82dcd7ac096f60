"""Number normalisation and classification, and the shipped area-code table."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from phonesim.facility.numbers import (
    KINDS,
    MAX_KEYS,
    TOLL_FREE_NPAS,
    area_codes,
    canonical,
    classify,
    format_number,
    matches_prefix,
    strip_number,
)


@pytest.mark.parametrize("keyed, digits", [
    ("5735550100", "5735550100"),
    ("15735550100", "5735550100"),
    ("1 (573) 555-0100", "5735550100"),
    ("+1 573.555.0100", "5735550100"),
    ("573-555-0100", "5735550100"),
])
def test_nanp_forms_normalise_to_ten_digits(keyed, digits):
    info = classify(keyed)
    assert info.kind == "nanp"
    assert info.digits == digits
    assert (info.npa, info.nxx, info.region, info.country) == ("573", "555", "MO", "US")


@pytest.mark.parametrize("keyed, kind", [
    ("8005551212", "toll-free"), ("18885551212", "toll-free"), ("8335550000", "toll-free"),
    ("9005551234", "premium"), ("5739761234", "premium"),
    ("911", "n11"), ("411", "n11"), ("2115551234", "n11"),  # N11 is never an area code
    ("011442079460000", "international"), ("+44 20 7946 0000", "international"),
    ("4165551234", "international"), ("8765551234", "international"),
    ("7875551234", "nanp"),  # Puerto Rico is domestic
    ("555", "invalid"), ("573555010", "invalid"), ("57355501000", "invalid"), ("", "invalid"),
    ("573555O100", "invalid"), ("0735550100", "invalid"), ("5730550100", "invalid"),
    ("3705551234", "invalid"),  # unassigned area code
    ("011123", "invalid"),
])
def test_kinds(keyed, kind):
    assert classify(keyed).kind == kind, classify(keyed)


def test_invalid_numbers_say_what_was_expected():
    info = classify("57355501")
    assert info.kind == "invalid"
    assert "expected 10 digits" in info.reason and "8" in info.reason
    assert "expected digits only" in classify("573-CALL-NOW").reason


def test_canada_and_caribbean_are_not_us():
    assert classify("6045551234").country == "CA"
    assert classify("6045551234").region == "BC"
    assert classify("8765551234").country == "JM"
    assert not classify("8765551234").is_us


def test_prefix_matching_rules():
    assert matches_prefix(classify("911"), "N11")
    assert matches_prefix(classify("911"), "911")
    assert matches_prefix(classify("5739761234"), "976")
    assert matches_prefix(classify("8005551212"), "800")
    assert not matches_prefix(classify("5738005551"), "800")
    assert not matches_prefix(classify("5735550100"), "N11")


def test_area_code_table_is_complete_enough():
    table = area_codes()
    us = [a for a in table.values() if a.country == "US" and a.kind == "geographic"]
    states = {a.region for a in us}
    # 50 states + DC + 5 territories
    assert len(states) == 56, sorted(states)
    assert len(us) > 330
    assert {a.npa for a in us if a.region == "MO"} >= {"314", "417", "573", "636", "660", "816"}
    assert table["416"].country == "CA" and table["876"].country == "JM"
    assert all(len(a.npa) == 3 and a.npa.isdigit() for a in table.values())


def test_format_number():
    assert format_number("5735550100") == "573-555-0100"
    assert format_number("011442079460000") == "011442079460000"


# --- disguises: every form a 12-key keypad can give one destination --------------------
@pytest.mark.parametrize("keyed, digits, kind", [
    ("01118005551212", "8005551212", "toll-free"),        # the reported defect: 011 + 1 + toll-free
    ("011 1 573 555 0123", "5735550123", "nanp"),
    ("+1 800 555 1212", "8005551212", "toll-free"),
    ("0018885551212", "8885551212", "toll-free"),          # ITU international prefix 00
    ("01 44 20 7946 0000", "011442079460000", "international"),  # operator-assisted international 01
    ("08005551212", "8005551212", "toll-free"),            # 0+ operator-assisted
    ("*6718005551212", "8005551212", "toll-free"),         # caller-ID block
    ("*82 573 555 0123", "5735550123", "nanp"),
    ("11678005551212", "8005551212", "toll-free"),         # rotary form of *67
    ("#31#8005551212", "8005551212", "toll-free"),         # GSM caller-ID codes
    ("*31#18005551212", "8005551212", "toll-free"),
    ("1010288 1 800 555 1212", "8005551212", "toll-free"),  # dial-around carrier code
    ("1010321 011 1 900 555 1234", "9005551234", "premium"),
    ("*67 1010288 0 573 555 0123 #", "5735550123", "nanp"),
    ("5735550123#", "5735550123", "nanp"),
    ("##5735550123##", "5735550123", "nanp"),
    ("5735550123*67", "5735550123", "nanp"),
    ("*67*82*70 8165550111", "8165550111", "nanp"),
    ("*67 911", "911", "n11"),
    ("011 1 876 555 1234", "8765551234", "international"),  # NANP-foreign stays international
    ("+800 1234 5678", "01180012345678", "toll-free"),      # international freephone
    ("011 979 123456789", "011979123456789", "premium"),    # international premium rate
    ("011 881 612345678", "011881612345678", "premium"),    # satellite
])
def test_disguises_reach_the_canonical_destination(keyed, digits, kind):
    info = classify(keyed)
    assert (info.digits, info.kind) == (digits, kind), info
    assert canonical(keyed).digits == digits


@pytest.mark.parametrize("keyed", [
    "573*5550123", "573#5550123", "0111", "011 1 573 555 012", "011 0 44 20 7946 0000", "011011442079460000",
    "00", "0", "1010288", "*67", "#", "", "٥٧٣٥٥٥٠١٢٣", "５７３５５５０１２３", "+", "573+5550123",
    "1" * 41, "011" + "4" * 16, "0 573 555 012",
])
def test_what_is_no_destination_is_invalid_with_a_reason(keyed):
    info = classify(keyed)
    assert info.kind == "invalid", info
    assert info.reason.startswith("expected") or "area code" in info.reason, info.reason


def test_removed_codes_are_kept_for_the_record():
    assert classify("*67 1010288 1 573 555 0123 #").codes == ("*67", "1010288", "1", "#")
    assert classify("5735550123").codes == ()


# A geographic US area code (not N11, not toll-free), an exchange that is not 976 or N11.
US_NPAS = sorted(a.npa for a in area_codes().values() if a.country == "US" and a.kind == "geographic")
_exchange = st.from_regex(r"\A[2-9][0-9]{2}\Z").filter(lambda nxx: nxx != "976" and nxx[1:] != "11")
_line = st.from_regex(r"\A[0-9]{4}\Z")
ordinary = st.builds(lambda npa, nxx, line: npa + nxx + line, st.sampled_from(US_NPAS), _exchange, _line)
toll_free = st.builds(lambda npa, nxx, line: npa + nxx + line, st.sampled_from(sorted(TOLL_FREE_NPAS)),
                      _exchange, _line)
premium = st.one_of(st.builds(lambda nxx, line: "900" + nxx + line, _exchange, _line),
                    st.builds(lambda npa, line: npa + "976" + line, st.sampled_from(US_NPAS), _line))
national = st.one_of(ordinary, toll_free, premium)

# ('*' alone before digits is not here: '*' + two digits is a service code, always)
_service_code = st.sampled_from(["*67", "*82", "*70", "*31#", "#31#", "1167", "1182", "#", "*#"])
_carrier = st.from_regex(r"\A101[0-9]{4}\Z")
_access = st.sampled_from(["", "1", "0", "011 1", "00 1", "+1"])  # (01 1 ... is 011 ...)
_punctuation = st.sampled_from(["", " ", "-", ".", "(", ")"])


@st.composite
def disguised(draw, numbers=national):
    """(the plain 10 digits, a keyed string that reaches them through dialling codes and punctuation)."""
    digits = draw(numbers)
    lead = draw(st.lists(st.one_of(_service_code, _carrier), max_size=3))
    tail = draw(st.lists(st.sampled_from(["#", "*", "*67", "##"]), max_size=2))
    body = draw(_access) + digits
    if draw(st.booleans()):                       # the way people write numbers down
        body = "".join(ch + draw(_punctuation) for ch in body)
    return digits, "".join(lead) + body + "".join(tail)


@settings(max_examples=400, deadline=None)
@given(disguised())
def test_every_disguise_canonicalises_to_the_same_number_and_class(pair):
    digits, keyed = pair
    assume(len(strip_number(keyed)) <= MAX_KEYS)  # longer is refused as a whole
    plain, info = classify(digits), classify(keyed)
    assert info.digits == plain.digits == digits, (keyed, info)
    assert info.kind == plain.kind, (keyed, info)
    assert matches_prefix(info, digits[:3]) and (info.npa, info.region) == (plain.npa, plain.region)


keypad = st.text(alphabet="0123456789*#", max_size=30)


@settings(max_examples=500, deadline=None)
@given(st.one_of(keypad, st.text(max_size=60)))
def test_classify_never_raises_and_canonical_forms_are_fixed_points(keyed):
    info = classify(keyed)
    assert info.kind in KINDS
    if info.kind != "invalid":
        again = classify(info.digits)
        assert (again.digits, again.kind) == (info.digits, info.kind), (keyed, info, again)
        assert info.digits.isascii() and info.digits.isdigit()


# --- the rules see the destination, not the keys: a real ledger and policy ----------------
@pytest.fixture
def international_allowed(tmp_path, demo_db_file):
    import shutil

    from phonesim.clock import VirtualClock
    from phonesim.config import load_config
    from phonesim.facility.cdr import CdrStore
    from phonesim.facility.ledger import Ledger
    from phonesim.facility.policy import Policy

    cfg = load_config(search=False, overrides={"profile.numbers.allow_international": True})
    path = tmp_path / "p.sqlite3"
    shutil.copyfile(demo_db_file, path)
    led = Ledger.open(path, clock=VirtualClock(), cfg=cfg)
    yield led, Policy(cfg, led), CdrStore(led)
    led.close()


WALL_NOON_S = 1_772_474_400.0  # 2026-03-02 12:00 at the facility (UTC-6): inside phone hours


@pytest.mark.parametrize("prefix", ["011 1", "+1", "00 1", "*67", "1010288 1", "0", "*82 011 1"])
def test_disguised_numbers_meet_every_rule(international_allowed, prefix):
    from phonesim.facility.ledger import DEMO

    led, policy, cdrs = international_allowed
    toll_free = policy.check_number("1001", f"{prefix} 800 555 1212", "debit", wall_s=WALL_NOON_S)
    assert (toll_free.ok, toll_free.disposition) == (False, "toll-free-attempt")
    blocked = policy.check_number("1001", f"{prefix} {DEMO['blocked_by_party']}", "debit",
                                  wall_s=WALL_NOON_S)
    assert (blocked.ok, blocked.disposition) == (False, "refused-party-block")
    attorney = policy.check_number("1001", f"{prefix} {DEMO['attorney']}", "debit", wall_s=WALL_NOON_S)
    assert attorney.ok and attorney.privileged and not attorney.record
    assert attorney.number == DEMO["attorney"] and attorney.jurisdiction != "international"
    ordinary = policy.check_number("1001", f"{prefix} 212 555 1234", "debit", wall_s=WALL_NOON_S)
    assert ordinary.ok and ordinary.jurisdiction == "out-of-state" and ordinary.number == "2125551234"


def test_who_called_finds_a_call_dialled_in_disguise(international_allowed):
    led, _, cdrs = international_allowed
    call = cdrs.open_call(terminal="t", inmate_id="1001", offhook_s=WALL_NOON_S)
    cdrs.update(call, number="*67 011 1 816 555 0199")
    cdrs.close_call(call, disposition="completed", ended_s=WALL_NOON_S + 60)
    for asked in ("8165550199", "1-816-555-0199", "+1 816 555 0199"):
        assert [c.call_id for c in cdrs.list(number=asked)] == [call]
    led.block_number("+1 (816) 555-0199", kind="facility", note="a victim's request")
    assert led.block_info("011 1 816 555 0199") is not None
