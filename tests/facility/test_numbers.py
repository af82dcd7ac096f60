"""Number normalisation and classification, and the shipped area-code table."""

from __future__ import annotations

import pytest

from phonesim.facility.numbers import area_codes, classify, format_number, matches_prefix


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
