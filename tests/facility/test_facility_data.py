"""The shipped Missouri DOC table reads, checks and says what docs/facilities.md says.

Every test reads the real file through the real loader; the broken-table tests take the real
file's text and break one field of one row, so they test the checks on the format users edit.
"""

from __future__ import annotations

import csv
import io
import re
from importlib import resources
from pathlib import Path

import pytest

from phonesim.exc import ConfigError, PhoneSimError, UnknownName
from phonesim.facility.facility_data import (
    COLUMNS,
    CUSTODY_LEVELS,
    KINDS,
    MISSOURI_DOC_FILE,
    FacilityInfo,
    facility,
    missouri_doc_facilities,
    read_facilities,
)

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "facilities.md"


def shipped_text() -> str:
    return (resources.files("phonesim.facility") / MISSOURI_DOC_FILE).read_text(encoding="utf-8")


def with_field(column: str, value: str, *, row_id: str = "jccc") -> tuple[str, int]:
    """The shipped text with one field of one row replaced, and that row's line number."""
    lines = shipped_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if line.startswith(f"{row_id},"):
            (fields,) = csv.reader([line])
            fields[COLUMNS.index(column)] = value
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(fields)
            lines[number - 1] = out.getvalue()
            return "\n".join(lines) + "\n", number
    raise AssertionError(f"no row {row_id!r} in the shipped table")


# --- the shipped table -------------------------------------------------------------------
def test_every_row_reads_as_a_typed_facility():
    table = missouri_doc_facilities()
    assert table and all(isinstance(info, FacilityInfo) for info in table)
    for info in table:
        assert info.kind in KINDS
        assert set(info.custody_levels) <= set(CUSTODY_LEVELS)
        assert info.status in ("open", "closed")
        assert info.closed_year is None or info.status == "closed"
        if info.is_open:
            assert info.population in ("men", "women"), info.id


def test_ids_and_abbreviations_are_unique():
    table = missouri_doc_facilities()
    ids = [info.id for info in table]
    assert len(ids) == len(set(ids))
    abbreviations = [info.abbreviation for info in table if info.abbreviation]
    assert len(abbreviations) == len(set(abbreviations))


def test_every_row_names_at_least_one_public_source():
    for info in missouri_doc_facilities():
        assert info.source, info.id
        assert all(re.fullmatch(r"https?://\S+", url) for url in info.source), info.id


def test_assumed_names_only_columns_of_the_table():
    for info in missouri_doc_facilities():
        assert set(info.assumed) <= set(COLUMNS), info.id


def test_all_of_missouri_keeps_central_time():
    assert {info.timezone for info in missouri_doc_facilities()} == {"America/Chicago"}


def test_open_count_is_the_nineteen_the_docs_explain():
    open_ = [info for info in missouri_doc_facilities() if info.is_open]
    women = sorted(info.id for info in open_ if info.population == "women")
    assert len(open_) == 19
    assert women == ["ccc", "werdcc"]
    assert len(open_) - len(women) == 17


def test_the_docs_table_lists_every_row_and_states_the_count():
    page = DOCS_PAGE.read_text(encoding="utf-8")
    table = missouri_doc_facilities()
    for info in table:
        assert f"| {info.name} |" in page, info.name
    open_count = sum(info.is_open for info in table)
    closed_count = len(table) - open_count
    assert f"{open_count} open institutions" in page
    assert f"{closed_count} closed ones" in page


def test_jccc_is_in_jefferson_city():
    jccc = facility("jccc")
    assert jccc.name == "Jefferson City Correctional Center"
    assert jccc.abbreviation == "JCCC"
    assert jccc.town == "Jefferson City"
    assert jccc.kind == "correctional center"
    assert jccc.population == "men"
    assert jccc.custody_levels == (2, 5)
    assert jccc.is_open


def test_closed_rows_are_marked_closed():
    msp = facility("msp")
    assert msp.status == "closed" and msp.closed_year == 2004
    assert not facility("wmcc").is_open


def test_unknown_id_lists_the_known_ones():
    with pytest.raises(UnknownName) as caught:
        facility("alcatraz")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, PhoneSimError)
    assert "'alcatraz'" in str(caught.value) and "jccc" in str(caught.value)


def test_the_table_is_returned_as_a_fresh_list():
    first = missouri_doc_facilities()
    first.clear()
    assert missouri_doc_facilities()


# --- a broken table gives an error naming the line and the column --------------------------
@pytest.mark.parametrize(("column", "value"), [
    ("kind", "prison"),
    ("status", "shut"),
    ("population", "adults"),
    ("custody_levels", "1,3"),
    ("custody_levels", "5,2"),
    ("timezone", "America/Jefferson_City"),
    ("closed_year", "2004"),           # an open row has no closing year
    ("source", "doc.mo.gov"),
    ("source", ""),
    ("assumed", "colour"),
    ("abbreviation", "jccc"),
    ("id", "JCCC"),
    ("town", ""),
])
def test_a_bad_field_names_its_line_and_column(column, value):
    text, line = with_field(column, value)
    with pytest.raises(ConfigError) as caught:
        read_facilities(text, source="mo.csv")
    message = str(caught.value)
    assert message.startswith(f"mo.csv line {line} (id "), message
    assert f": {column}: expected" in message, message
    assert repr(value) in message, message
    assert caught.value.key == column
    assert isinstance(caught.value, ValueError)


def test_a_duplicate_id_names_the_second_line():
    text, line = with_field("id", "acc", row_id="jccc")
    with pytest.raises(ConfigError, match=rf"^mo\.csv line {line} \(id 'acc'\): id: expected a unique"):
        read_facilities(text, source="mo.csv")


def test_a_row_with_a_missing_field_names_its_line():
    lines = shipped_text().splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if line.startswith("bcc,"))
    lines[number - 1] = "bcc,Boonville Correctional Center,BCC"
    with pytest.raises(ConfigError, match=rf"^mo\.csv line {number}: expected 13 fields, got 3"):
        read_facilities("\n".join(lines), source="mo.csv")


def test_a_wrong_header_is_refused():
    text = shipped_text().replace(",town,county,", ",city,county,", 1)
    with pytest.raises(ConfigError, match=r"expected the columns id,name,.*; got id,name,abbreviation,city"):
        read_facilities(text, source="mo.csv")


def test_an_empty_table_is_refused():
    with pytest.raises(ConfigError, match="expected a header line"):
        read_facilities("# only a comment\n", source="mo.csv")


def test_a_closed_row_may_leave_population_and_year_empty():
    header = ",".join(COLUMNS)
    row = "old,Old Prison,,Somewhere,,penitentiary,,,America/Chicago,closed,,https://example.org/a,"
    (info,) = read_facilities(f"{header}\n{row}\n")
    assert info.population == "" and info.closed_year is None and info.custody_levels == ()
    assert info.source == ("https://example.org/a",)
