"""Real facilities as data: the Missouri Department of Corrections' adult institutions.

The seed page is about Missouri state prisons, so a facility in phonesim can be a real one:
its name, town and kind, with the public page each fact comes from. The table ships as
``phonesim/facility/data/missouri_doc_facilities.csv`` (one row per institution, closed ones
marked ``status=closed``); ``docs/facilities.md`` shows it with its sources, what is assumed
and why the DOC's own counts disagree.

This module only reads and checks the file, with the standard library. Every row is checked
when the table is read, so a bad edit fails at once with the file, the line and the column
named, never later as a wrong prompt or a facility in the wrong time zone.  Writing the rows
into the facility database is the ledger's business.

Columns (all text in the file; :class:`FacilityInfo` gives them types):

===============  =============================================================================
``id``           short stable slug (``jccc``): what configuration and records refer to
``name``         the institution's name, with "and" where the DOC's own pages write "&"
``abbreviation`` the DOC's abbreviation (``JCCC``), empty when no source gives it
``town``         the town the institution is in or by
``county``       its county without the word "County", empty when no source gives it
``kind``         one of :data:`KINDS`
``population``   ``men`` or ``women``; empty only for a closed row when no source says
``custody_levels`` the DOC's custody levels held there, ``1`` minimum, ``2`` medium, ``5``
                 maximum (``"1,2,5"``); empty when no source gives them
``timezone``     an IANA time zone (``America/Chicago`` for all of Missouri)
``status``       ``open`` or ``closed``
``closed_year``  the year a closed institution closed, when a source says; empty otherwise
``source``       the public pages the row's facts come from, separated by ``" | "``
``assumed``      the columns of this row that its sources do *not* back, separated by ``,``
===============  =============================================================================

Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from phonesim.exc import ConfigError, UnknownName

#: The shipped table, inside the ``phonesim.facility`` package.
MISSOURI_DOC_FILE = "data/missouri_doc_facilities.csv"

COLUMNS = ("id", "name", "abbreviation", "town", "county", "kind", "population",
           "custody_levels", "timezone", "status", "closed_year", "source", "assumed")
#: What an institution is, as its name says.
KINDS = ("correctional center", "reception and diagnostic center",
         "reception, diagnostic and correctional center", "treatment center", "reentry center",
         "community release center", "penitentiary")
POPULATIONS = ("men", "women")
STATUSES = ("open", "closed")
#: The DOC's custody levels: 1 minimum, 2 medium, 5 maximum security.
CUSTODY_LEVELS = (1, 2, 5)
#: The columns a row may declare as assumed: the facts, not the bookkeeping.
FACT_COLUMNS = ("abbreviation", "town", "county", "kind", "population", "custody_levels",
                "timezone", "status", "closed_year")
SOURCE_SEPARATOR = " | "

_SLUG = re.compile(r"[a-z][a-z0-9_-]*")
_ABBREVIATION = re.compile(r"[A-Z]{2,8}")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class FacilityInfo:
    """One institution of the table, typed (see the module docstring for each column)."""

    id: str
    name: str
    abbreviation: str
    town: str
    county: str
    kind: str
    population: str
    custody_levels: tuple[int, ...]
    timezone: str
    status: str
    closed_year: int | None
    source: tuple[str, ...]
    assumed: tuple[str, ...]

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def missouri_doc_facilities() -> list[FacilityInfo]:
    """Every row of the shipped Missouri DOC table, open and closed, in file order."""
    return list(_missouri_doc_table())


def facility(id: str) -> FacilityInfo:
    """The shipped Missouri DOC institution with this ``id`` (e.g. ``"jccc"``).

    Raises :class:`~phonesim.exc.UnknownName` listing the known ids.
    """
    for info in _missouri_doc_table():
        if info.id == id:
            return info
    known = ", ".join(info.id for info in _missouri_doc_table())
    raise UnknownName(f"facility: expected one of {known}; got {id!r}")


def read_facilities(text: str, *, source: str = "facilities.csv") -> list[FacilityInfo]:
    """Parse and check a facility table in the format above.

    ``source`` names the file in error messages.  Raises :class:`~phonesim.exc.ConfigError`
    naming the line and the column, e.g. ``facilities.csv line 9 (id 'jccc'): kind: expected
    one of ..., got 'prison'``.
    """
    numbered = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.reader(line for _, line in numbered)
    header = next(reader, None)
    if header is None:
        raise ConfigError("expected a header line, got an empty table", source=source)
    if tuple(header) != COLUMNS:
        raise ConfigError(f"expected the columns {','.join(COLUMNS)}; got {','.join(header)}",
                          source=f"{source} line {numbered[0][0]}")
    table: list[FacilityInfo] = []
    seen: set[str] = set()
    for fields in reader:
        line_number = numbered[reader.line_num - 1][0]
        where = f"{source} line {line_number}"
        if len(fields) != len(COLUMNS):
            raise ConfigError(f"expected {len(COLUMNS)} fields, got {len(fields)}: {fields!r}",
                              source=where)
        row = dict(zip(COLUMNS, (field.strip() for field in fields), strict=True))
        info = _checked_row(row, f"{where} (id {row['id']!r})")
        if info.id in seen:
            raise ConfigError(f"expected a unique id, got {info.id!r} a second time",
                              source=f"{where} (id {info.id!r})", key="id")
        seen.add(info.id)
        table.append(info)
    return table


@lru_cache(maxsize=1)
def _missouri_doc_table() -> tuple[FacilityInfo, ...]:
    text = (resources.files("phonesim.facility") / MISSOURI_DOC_FILE).read_text(encoding="utf-8")
    return tuple(read_facilities(text, source=MISSOURI_DOC_FILE))


def _checked_row(row: dict[str, str], where: str) -> FacilityInfo:
    """One CSV row as a :class:`FacilityInfo`, or a ConfigError naming ``where`` and the column."""

    def bad(column: str, expected: str) -> ConfigError:
        return ConfigError(f"expected {expected}, got {row[column]!r}", source=where, key=column)

    if not _SLUG.fullmatch(row["id"]):
        raise bad("id", "a slug of lowercase letters, digits, '-' or '_' (e.g. 'jccc')")
    for column in ("name", "town"):
        if not row[column]:
            raise bad(column, "a non-empty value")
    if row["abbreviation"] and not _ABBREVIATION.fullmatch(row["abbreviation"]):
        raise bad("abbreviation", "2 to 8 capital letters (e.g. 'JCCC') or nothing")
    if row["kind"] not in KINDS:
        raise bad("kind", f"one of {', '.join(KINDS)}")
    if row["status"] not in STATUSES:
        raise bad("status", f"one of {', '.join(STATUSES)}")
    is_open = row["status"] == "open"
    if row["population"] not in POPULATIONS and (is_open or row["population"]):
        raise bad("population", "'men' or 'women'" + ("" if is_open else " or nothing"))
    custody = _custody_levels(row["custody_levels"])
    if custody is None:
        raise bad("custody_levels", "nothing or levels from 1, 2, 5 in rising order (e.g. '1,2,5')")
    try:
        ZoneInfo(row["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("timezone", "an IANA time zone (e.g. 'America/Chicago')") from None
    closed_year = None
    if row["closed_year"]:
        if is_open or not re.fullmatch(r"1[89][0-9]{2}|20[0-9]{2}", row["closed_year"]):
            raise bad("closed_year", "a year (e.g. '2021') for a closed institution, else nothing")
        closed_year = int(row["closed_year"])
    sources = tuple(part.strip() for part in row["source"].split(SOURCE_SEPARATOR.strip()))
    if not row["source"] or not all(_URL.fullmatch(url) for url in sources):
        raise bad("source", f"one or more http(s) addresses separated by {SOURCE_SEPARATOR!r}")
    assumed = tuple(part.strip() for part in row["assumed"].split(",")) if row["assumed"] else ()
    if not all(column in FACT_COLUMNS for column in assumed):
        raise bad("assumed", f"nothing or column names from {', '.join(FACT_COLUMNS)}")
    return FacilityInfo(id=row["id"], name=row["name"], abbreviation=row["abbreviation"],
                        town=row["town"], county=row["county"], kind=row["kind"],
                        population=row["population"], custody_levels=custody,
                        timezone=row["timezone"], status=row["status"], closed_year=closed_year,
                        source=sources, assumed=assumed)


def _custody_levels(text: str) -> tuple[int, ...] | None:
    """``"1,2,5"`` -> ``(1, 2, 5)``; ``""`` -> ``()``; None when it is not rising DOC levels."""
    if not text:
        return ()
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        return None
    levels = tuple(int(part) for part in parts)
    if any(level not in CUSTODY_LEVELS for level in levels) or list(levels) != sorted(set(levels)):
        return None
    return levels
