"""Rate table: dated rules, specificity, jurisdiction, taxes, per-started-minute billing, FCC caps."""

from __future__ import annotations

import datetime as dt

import pytest

from phonesim.config import load_config
from phonesim.exc import ConfigError, RateAboveCap, RateNotFound
from phonesim.facility.rates import (
    CAPS_2024_CENTS,
    CAPS_2025_CENTS,
    RateTable,
    billed_minutes,
    check_caps,
    jail_class_for_adp,
    warn_caps,
)


def make_cfg(tmp_path, profile_toml: str = "", facility_toml: str = ""):
    path = tmp_path / "phonesim.toml"
    path.write_text(f"[facility]\n{facility_toml}\n[profile]\n{profile_toml}\n")
    return load_config(path)


def rates(*rows, tax=0.0):
    return RateTable.from_profile({"billing": {"rates": [
        {"effective": e, "call_type": t, "jurisdiction": j, "cents_per_min": c} for e, t, j, c in rows],
        "tax_percent": tax, "ancillary_fees_cents": 0}})


def test_missouri_default_is_five_cents_everywhere():
    table = RateTable.from_profile(load_config(search=False).profile)
    for call_type in ("debit", "collect", "prepaid"):
        for jur in ("local", "in-state", "out-of-state", "international"):
            assert table.cents_per_min(call_type, jur, "2026-03-01") == 5


def test_latest_effective_wins_then_most_specific():
    table = rates(("2022-01-01", "*", "*", 5), ("2022-01-01", "collect", "*", 7),
                  ("2022-01-01", "collect", "local", 3), ("2025-01-01", "*", "*", 4),
                  ("2025-01-01", "*", "out-of-state", 6))
    assert table.cents_per_min("debit", "local", "2024-12-31") == 5
    assert table.cents_per_min("collect", "in-state", "2024-12-31") == 7
    assert table.cents_per_min("collect", "local", "2024-12-31") == 3
    # a newer sheet replaces older rows, even more specific ones
    assert table.cents_per_min("collect", "local", "2025-01-01") == 4
    assert table.cents_per_min("prepaid", "out-of-state", dt.date(2025, 6, 1)) == 6


def test_no_rate_before_the_first_row_names_the_case():
    table = rates(("2022-01-01", "*", "*", 5))
    with pytest.raises(RateNotFound, match="debit call to a local number on 2021-12-31"):
        table.cents_per_min("debit", "local", "2021-12-31")


def test_bad_rows_are_config_errors():
    with pytest.raises(ConfigError, match="call_type"):
        rates(("2022-01-01", "sent-collect", "*", 5))
    with pytest.raises(ConfigError, match="jurisdiction"):
        rates(("2022-01-01", "*", "mars", 5))
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        rates(("01/02/2022", "*", "*", 5))


@pytest.mark.parametrize("rate, tax, minute", [(5, 0.0, 5), (5, 10.0, 6), (5, 8.0, 5), (21, 7.5, 23),
                                               (10, 5.0, 11), (0, 10.0, 0)])
def test_tax_passed_through_rounded_half_up_per_minute(rate, tax, minute):
    table = rates(("2022-01-01", "*", "*", rate), tax=tax)
    assert table.minute_charge_cents("debit", "local", "2023-01-01") == minute


@pytest.mark.parametrize("seconds, minutes", [(0, 0), (0.02, 1), (59.98, 1), (60, 1), (60.02, 2), (900, 15)])
def test_billing_per_started_minute(seconds, minutes):
    assert billed_minutes(seconds) == minutes


@pytest.mark.parametrize("number, jurisdiction", [
    ("5737510123", "local"), ("5735550100", "in-state"), ("3145550199", "in-state"),
    ("8165550111", "in-state"), ("2125551234", "out-of-state"), ("2025551234", "out-of-state"),
    ("7875551234", "out-of-state"), ("4165551234", "international"), ("011442079460000", "international"),
])
def test_jurisdiction_from_the_facility(number, jurisdiction):
    facility = load_config(search=False).facility
    assert RateTable.jurisdiction(number, facility) == jurisdiction


def test_jurisdiction_refuses_uncallable_numbers():
    facility = load_config(search=False).facility
    with pytest.raises(ValueError, match="toll-free"):
        RateTable.jurisdiction("8005551212", facility)


def test_caps_tables_match_the_reference():
    assert CAPS_2025_CENTS == {"prison": 11, "jail-large": 10, "jail-medium": 12, "jail-small": 13,
                               "jail-very-small": 15, "jail-extremely-small": 19}
    assert CAPS_2024_CENTS["prison"] == 6 and CAPS_2024_CENTS["jail-very-small"] == 12
    assert [jail_class_for_adp(n) for n in (1000, 999, 350, 349, 100, 99, 50, 49, 0)] == [
        "jail-large", "jail-medium", "jail-medium", "jail-small", "jail-small",
        "jail-very-small", "jail-very-small", "jail-extremely-small", "jail-extremely-small"]


def test_missouri_is_within_every_cap():
    assert check_caps(load_config(search=False), on_date="2026-05-01") == []


def test_rate_above_the_2025_cap_is_reported(tmp_path):
    cfg = make_cfg(tmp_path, '[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\n'
                             'jurisdiction = "*"\ncents_per_min = 14\n')
    problems = check_caps(cfg, on_date="2026-05-01")
    # 14c is within the 2021-era prison cap (14c) but above 11c + 2c from 2026-04-06
    assert len(problems) == 1, problems
    assert "above the 2025 interim (FCC 25-75) cap of 11c + 2c facility additive" in problems[0]
    assert "2026-04-06" in problems[0]


def test_rate_within_the_additive_is_flagged_as_conditional(tmp_path):
    cfg = make_cfg(tmp_path, '[[profile.billing.rates]]\neffective = "2026-05-01"\ncall_type = "*"\n'
                             'jurisdiction = "*"\ncents_per_min = 12\n')
    problems = check_caps(cfg, on_date="2026-05-01")
    assert len(problems) == 1 and "lawful only with the 2c facility additive" in problems[0]


def test_jail_class_must_match_adp_and_fees_are_reported(tmp_path):
    cfg = make_cfg(tmp_path, '[profile.billing]\nfacility_class = "jail-large"\nancillary_fees_cents = 300\n',
                   "adp = 120")
    problems = check_caps(cfg, on_date="2026-05-01")
    assert any("does not match ADP 120" in p and "jail-small" in p for p in problems)
    assert any("ancillary fees of 300c" in p for p in problems)


def test_warn_caps_issues_rate_above_cap_warnings(tmp_path):
    cfg = make_cfg(tmp_path, '[[profile.billing.rates]]\neffective = "2026-01-01"\ncall_type = "*"\n'
                             'jurisdiction = "*"\ncents_per_min = 25\n')
    with pytest.warns(RateAboveCap, match="25c/min"):
        assert len(warn_caps(cfg, on_date="2026-05-01")) == 2  # above the 2021-era and the 2025 caps


@pytest.mark.parametrize(("rate", "tax", "minutes", "total"), [
    (5, 10, 1, 6), (5, 10, 2, 11), (5, 10, 4, 22), (5, 10, 15, 83), (21, 7.25, 15, 338), (5, 0, 15, 75)])
def test_tax_is_rounded_once_per_call(rate, tax, minutes, total):
    """The defect as filed: 10 % on 5 cents billed 6 cents every minute (an effective 20 %)."""
    from phonesim.facility.rates import charged_through_cents, minute_charge_at_cents

    charges = [minute_charge_at_cents(rate, tax, i) for i in range(minutes)]
    assert sum(charges) == charged_through_cents(rate, tax, minutes) == total
    assert max(charges) - min(charges) <= 1            # the minutes of one call differ by a cent at most
