"""Facilities, their housing units and their terminals, as records every host shares.

A facility is a record: its name, the profile whose rules it follows, its IANA time
zone (phone hours follow daylight saving time), its town and kind, and its recorded
name prompt (rendered once, when the facility is created). Its housing units carry
their own settings over the profile's (phone hours, the wait between calls, the
monthly quota, the call limit) and the lockdown / count-time switch that stops a
unit's phones now. Its terminals — wall phones and kiosks — belong to a unit; the
platform process serving them registers them and says every few seconds that it is
alive (``seen_s``), so another host can tell a live call from one a crash left open.

Every method is one short transaction on the facility database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from phonesim.config import parse_window
from phonesim.exc import InvalidInput, LedgerError, NotFound

#: What a housing unit may set over its facility's profile: key -> (type, check, expected form).
UNIT_SETTINGS: dict[str, tuple[type, Any, str]] = {
    "hours": (list, lambda v: all(isinstance(w, str) and _window_ok(w) for w in v),
              "a list of 'HH:MM-HH:MM' windows"),
    "call_limit_s": (int, lambda v: 60 <= v <= 86_400, "whole seconds from 60 to 86400"),
    "wait_between_calls_s": (int, lambda v: 0 <= v <= 7 * 86_400, "whole seconds from 0 to 604800"),
    "monthly_quota_min": (int, lambda v: 0 <= v <= 44_640, "whole minutes from 0 (none) to 44640"),
}
TERMINAL_KINDS = ("phone", "kiosk")
#: A platform says it is alive this often; a terminal not seen for 4 beats is taken for gone.
HEARTBEAT_S = 5.0
GONE_AFTER_S = 4 * HEARTBEAT_S


def _window_ok(text: str) -> bool:
    try:
        parse_window(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str
    state: str
    timezone: str
    profile: str
    town: str
    kind: str
    name_prompt: str


@dataclass(frozen=True, slots=True)
class HousingUnit:
    facility_id: str
    unit: str
    settings: dict = field(default_factory=dict)
    locked_down: bool = False
    lockdown_reason: str = ""
    lockdown_by: str = ""
    lockdown_at: str = ""


@dataclass(frozen=True, slots=True)
class Terminal:
    id: str
    facility_id: str
    unit: str
    kind: str
    host: str
    status: str
    seen_s: float
    failed_pins: int
    locked_until_s: float


def _iso(wall_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


class Sites:
    """Facilities, housing units and terminals in the facility database (``db``)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"<Sites {self.db!r}>"

    # --- facilities -----------------------------------------------------------------------
    def add_facility(self, facility_id: str, name: str, *, state: str, timezone: str, profile: str,
                     town: str = "", kind: str = "") -> Facility:
        """Create the facility, or bring an existing record's details up to date."""
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO facilities(id, name, state, created_at, timezone, profile, town, kind) "
                       "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET name=excluded.name, "
                       "state=excluded.state, timezone=excluded.timezone, profile=excluded.profile, "
                       "town=excluded.town, kind=excluded.kind",
                       (facility_id, name, state, _iso(time.time()), timezone, profile, town, kind))
        return self.facility(facility_id)

    def facility(self, facility_id: str) -> Facility:
        rows = self.db.query("SELECT * FROM facilities WHERE id=?", (facility_id,))
        if not rows:
            raise NotFound(f"facility {facility_id!r}: no such facility")
        return _facility(rows[0])

    def facilities(self) -> list[Facility]:
        return [_facility(r) for r in self.db.query("SELECT * FROM facilities ORDER BY id")]

    def set_name_prompt(self, facility_id: str, path: str) -> None:
        with self.db.transaction() as tx:
            if tx.execute("UPDATE facilities SET name_prompt=? WHERE id=?", (path, facility_id)).rowcount == 0:
                raise NotFound(f"facility {facility_id!r}: no such facility")

    # --- housing units --------------------------------------------------------------------
    def ensure_unit(self, facility_id: str, unit: str) -> None:
        if not unit:
            return
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO housing_units(facility_id, unit) VALUES (?,?) ON CONFLICT DO NOTHING",
                       (facility_id, unit))

    def unit(self, facility_id: str, unit: str) -> HousingUnit:
        """The unit's record (a unit nobody configured has the profile's settings and no lockdown)."""
        rows = self.db.query("SELECT * FROM housing_units WHERE facility_id=? AND unit=?", (facility_id, unit))
        return _unit(rows[0]) if rows else HousingUnit(facility_id, unit)

    def units(self, facility_id: str) -> list[HousingUnit]:
        return [_unit(r) for r in self.db.query(
            "SELECT * FROM housing_units WHERE facility_id=? ORDER BY unit", (facility_id,))]

    def set_unit_settings(self, facility_id: str, unit: str, **settings: Any) -> HousingUnit:
        """Set (or with ``None``, clear) a unit's own phone hours, wait, quota or call limit."""
        for key, value in settings.items():
            if key not in UNIT_SETTINGS:
                raise InvalidInput(f"unit setting: expected one of {', '.join(UNIT_SETTINGS)}, got {key!r}")
            kind, check, expected = UNIT_SETTINGS[key]
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or not check(value)):
                raise InvalidInput(f"unit setting {key}: expected {expected}, got {value!r}")
        self.ensure_unit(facility_id, unit)
        with self.db.transaction() as tx:
            row = tx.execute(f"SELECT settings FROM housing_units WHERE facility_id=? AND unit=?{self.db.for_update}",
                             (facility_id, unit)).fetchone()
            current = json.loads(row["settings"] or "{}")
            for key, value in settings.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            tx.execute("UPDATE housing_units SET settings=? WHERE facility_id=? AND unit=?",
                       (json.dumps(current, sort_keys=True), facility_id, unit))
        return self.unit(facility_id, unit)

    def set_lockdown(self, facility_id: str, unit: str, locked: bool, *, reason: str = "", by: str = "") -> HousingUnit:
        """Lock a unit's phones down now (count time, an incident), or lift it."""
        if locked and not reason.strip():
            raise InvalidInput("lockdown: expected a reason (count, an incident ...), got nothing")
        self.ensure_unit(facility_id, unit)
        with self.db.transaction() as tx:
            tx.execute("UPDATE housing_units SET locked_down=?, lockdown_reason=?, lockdown_by=?, lockdown_at=? "
                       "WHERE facility_id=? AND unit=?",
                       (int(locked), reason.strip() if locked else "", by if locked else "",
                        _iso(time.time()) if locked else "", facility_id, unit))
        return self.unit(facility_id, unit)

    def locked_down_units(self, facility_id: str) -> dict[str, str]:
        """``{unit: reason}`` of the facility's units locked down now."""
        return {r["unit"]: r["lockdown_reason"] for r in self.db.query(
            "SELECT unit, lockdown_reason FROM housing_units WHERE facility_id=? AND locked_down=1",
            (facility_id,))}

    # --- terminals -------------------------------------------------------------------------
    def register_terminal(self, name: str, *, facility_id: str, unit: str, kind: str, host: str) -> Terminal:
        """A platform takes on a terminal: its facility and unit, and which host serves it.

        A terminal name is one phone or kiosk of the whole database; one registered to
        another facility is refused (two sites would share its PIN-failure count).
        """
        if kind not in TERMINAL_KINDS:
            raise InvalidInput(f"terminal kind: expected one of {', '.join(TERMINAL_KINDS)}, got {kind!r}")
        self.ensure_unit(facility_id, unit)
        with self.db.transaction() as tx:
            row = tx.execute(f"SELECT * FROM terminals WHERE id=?{self.db.for_update}", (name,)).fetchone()
            if row is not None and row["facility_id"] and row["facility_id"] != facility_id:
                raise LedgerError(f"terminal {name!r} belongs to facility {row['facility_id']!r}, not "
                                  f"{facility_id!r}: give it another name")
            tx.execute("INSERT INTO terminals(id, facility_id, unit, kind, host, status, seen_s) "
                       "VALUES (?,?,?,?,?,'starting',?) ON CONFLICT (id) DO UPDATE SET "
                       "facility_id=excluded.facility_id, unit=excluded.unit, kind=excluded.kind, "
                       "host=excluded.host, status=excluded.status, seen_s=excluded.seen_s",
                       (name, facility_id, unit, kind, host, time.time()))
        return self.terminal(name)

    def terminal(self, name: str) -> Terminal:
        rows = self.db.query("SELECT * FROM terminals WHERE id=?", (name,))
        if not rows:
            raise NotFound(f"terminal {name!r}: no such terminal")
        return _terminal(rows[0])

    def terminals(self, facility_id: str | None = None) -> list[Terminal]:
        if facility_id is None:
            rows = self.db.query("SELECT * FROM terminals ORDER BY id")
        else:
            rows = self.db.query("SELECT * FROM terminals WHERE facility_id=? ORDER BY id", (facility_id,))
        return [_terminal(r) for r in rows]

    def unit_of(self, terminal: str) -> tuple[str, str]:
        """``(facility_id, unit)`` of a registered terminal; ``("", "")`` for one never registered."""
        rows = self.db.query("SELECT facility_id, unit FROM terminals WHERE id=?", (terminal,))
        return (rows[0]["facility_id"], rows[0]["unit"]) if rows else ("", "")

    def heartbeat(self, statuses: dict[str, str], *, wall_s: float | None = None) -> None:
        """The serving platform is alive: each terminal's status (``up``, ``down: keypad ...``)."""
        seen = time.time() if wall_s is None else float(wall_s)
        with self.db.transaction() as tx:
            tx.executemany("UPDATE terminals SET status=?, seen_s=? WHERE id=?",
                           [(status, seen, name) for name, status in statuses.items()])

    def gone_terminals(self, *, wall_s: float | None = None) -> set[str]:
        """Terminals whose platform has not said it is alive for :data:`GONE_AFTER_S` (or never)."""
        now = time.time() if wall_s is None else float(wall_s)
        return {r["id"] for r in self.db.query("SELECT id, seen_s FROM terminals")
                if now - float(r["seen_s"] or 0) > GONE_AFTER_S}


def _facility(r: Any) -> Facility:
    return Facility(r["id"], r["name"], r["state"], r["timezone"], r["profile"], r["town"], r["kind"],
                    r["name_prompt"])


def _unit(r: Any) -> HousingUnit:
    return HousingUnit(r["facility_id"], r["unit"], json.loads(r["settings"] or "{}"), bool(r["locked_down"]),
                       r["lockdown_reason"], r["lockdown_by"], r["lockdown_at"])


def _terminal(r: Any) -> Terminal:
    return Terminal(r["id"], r["facility_id"], r["unit"], r["kind"], r["host"], r["status"],
                    float(r["seen_s"] or 0), int(r["failed_pins"]), float(r["locked_until_s"]))
