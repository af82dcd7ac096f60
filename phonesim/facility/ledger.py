"""The facility database's people, money and numbers: inmates, PINs, accounts, blocks.

One database holds everything a facility keeps between calls: a SQLite file for one
host (WAL, so the admin CLI reads while a line writes; ``synchronous=FULL``, so a
minute the called party was told was charged is still charged after a power cut) or a
PostgreSQL database shared by several hosts (:mod:`phonesim.facility.db`).  In both,
``CHECK (balance_cents >= 0)``, a primary key on ``(call_id, minute_index)`` and
append-only triggers on the journal make the database itself refuse inconsistent
money, not only this code.

Money is integer cents.  Every movement is one transaction that updates the
balance and appends a row to the **money journal** (kind, account, signed amount,
balance after, call id, minute index, time); :meth:`Ledger.reconcile` replays the
journal and reports any difference from the balances.  Each billed minute is its
own transaction, idempotent by ``(call_id, minute_index)``: repeating a charge (a
retry after a crash, a duplicate event) returns the original result with
``duplicate=True`` and never charges twice.  A charge that does not fit returns
``ok=False`` and charges nothing.

Who pays (``payer_kind``): ``debit`` draws the inmate's debit phone balance,
``prepaid`` the BTN's AdvanceConnect balance, ``collect`` accrues to the BTN's
Direct Bill account (its balance is what is *owed*, up to its credit limit), and
``free`` (privileged calls) records a zero charge.

**Engines and threads**: the database is SQLite or PostgreSQL
(:class:`~phonesim.facility.db.Database`, chosen by URL); the same SQL runs on both.
Every method is one short transaction and may be called from any thread: SQLite
serialises them in-process and across processes with its file lock; on PostgreSQL a
transaction that changes a balance or a counter locks that row first (``FOR UPDATE``),
so lines on several hosts charging one prepaid account never overdraw it and a
lockout counter cannot be raced.  The per-frame real-time path must not call the
ledger directly (docs/architecture.md, real-time rules): the line's worker thread does.

**Times**: every time the ledger and the CDR store take or give (``wall_s``,
``offhook_s``, ``ended_s``, ``at_s`` ...) is calendar time, seconds since 1970 UTC, as
stored (with ISO 8601 UTC strings beside).  A line's own clock counts frames; it
turns them into calendar time (``clock.wall_time_s()``) before asking the platform.
Left out, a time is "now" by the ledger's clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from phonesim.clock import Clock
from phonesim.exc import InsufficientFunds, InvalidInput, InvalidNumber, LedgerError, NotFound
from phonesim.facility import schema
from phonesim.facility.db import Database
from phonesim.facility.numbers import classify
from phonesim.facility.rates import format_cents

STATUSES = ("general", "restricted", "segregation")
BLOCK_KINDS = ("keypad", "facility", "security", "three-way-review")
PAYER_KINDS = ("debit", "prepaid", "collect", "free")
#: Seconds values at or above this are calendar time (2001-09-09), below are clock seconds.
_SCRYPT = (2**14, 8, 1)


# --------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class Inmate:
    id: str
    name: str
    name_prompt: str
    status: str
    housing_unit: str
    failed_pins: int
    locked_until_s: float  # calendar seconds; 0 = not locked
    facility_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of a PIN entry.

    ``locked_until_s`` is on the same time scale as the ``now_s`` passed in
    (0.0 when not locked); ``failures`` counts wrong PINs in a row so far.
    """

    ok: bool
    inmate: Inmate | None
    locked: bool
    failures: int
    locked_until_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """One billed minute: ``ok`` False means nothing was charged (funds or credit exhausted).

    ``balance_after_cents`` is the money left for further minutes: the debit or
    prepaid balance, or for ``collect`` the Direct Bill credit still available.
    """

    ok: bool
    balance_after_cents: int
    duplicate: bool = False
    amount_cents: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: int
    inmate_id: str
    amount_cents: int
    trust_after_cents: int
    debit_after_cents: int
    at: str


@dataclass(frozen=True, slots=True)
class DirectBill:
    btn: str
    owed_cents: int
    credit_limit_cents: int
    blocked: bool
    blocked_reason: str

    @property
    def available_cents(self) -> int:
        return max(0, self.credit_limit_cents - self.owed_cents)


@dataclass(frozen=True, slots=True)
class StatementLine:
    at: str
    kind: str
    call_id: int | None
    minute_index: int | None
    amount_cents: int
    memo: str


@dataclass(frozen=True, slots=True)
class StatementCall:
    """One call on a statement: its billed minutes at its rate, and the tax passed through."""

    call_id: int
    at: str
    minutes: int
    rate_cents: int
    base_cents: int
    tax_cents: int
    total_cents: int


@dataclass(frozen=True, slots=True)
class Statement:
    btn: str
    month: str
    lines: tuple[StatementLine, ...]
    charges_cents: int
    payments_cents: int
    owed_cents: int
    credit_limit_cents: int
    blocked: bool
    blocked_reason: str
    calls: tuple[StatementCall, ...] = ()

    @property
    def tax_cents(self) -> int:
        return sum(c.tax_cents for c in self.calls)


@dataclass(frozen=True, slots=True)
class Block:
    number: str
    kind: str
    by: str
    note: str
    at: str


@dataclass(frozen=True, slots=True)
class NumberRequest:
    inmate_id: str
    number: str
    status: str
    requested_at: str


# --------------------------------------------------------------------------- helpers
class WallClock(Clock):
    """The default clock of a ledger opened without one (the admin CLI): reads the calendar at each use.

    A frame clock that nobody ticks would stamp every record with the opening time.
    Clock seconds (``now_s`` arguments) still count from the moment it was created.
    """

    def wall_time_s(self) -> float:
        return time.time()


#: The months of history the unusual-increase rule compares a month with.
HISTORY_MONTHS = 3


def iso_utc(calendar_s: float) -> str:
    """Calendar seconds -> ``2026-01-01T00:00:00.000+00:00``."""
    return dt.datetime.fromtimestamp(calendar_s, tz=dt.UTC).isoformat(timespec="milliseconds")


def month_bounds(month: str) -> tuple[float, float]:
    """``"2026-01"`` -> calendar seconds of its first instant and of the next month's (UTC)."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = dt.datetime(year, mon, 1, tzinfo=dt.UTC)
    except (ValueError, TypeError) as err:
        raise InvalidInput(f"expected a month 'YYYY-MM', got {month!r}") from err
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=dt.UTC)
    return start.timestamp(), end.timestamp()


def canonical_number(number: str, *, what: str = "number") -> str:
    """The stored form of a telephone number (10 digits, or 011...); :class:`InvalidNumber` otherwise."""
    info = classify(number)
    if info.kind == "invalid":
        raise InvalidNumber(f"{what}: {info.reason}")
    return info.digits


def canonical_btn(number: str) -> str:
    """A bill-to number must be a 10-digit NANP number."""
    info = classify(number)
    if info.kind == "invalid" or len(info.digits) != 10:
        raise InvalidNumber(f"BTN: expected a 10-digit number, got {number!r}"
                            + (f" ({info.reason})" if info.reason else ""))
    return info.digits


def _hash_pin(pin: str, salt: bytes, kdf: str) -> bytes:
    name, *params = kdf.split(":")
    if name != "scrypt":
        raise LedgerError(f"unknown PIN hash {kdf!r} (expected scrypt:N:r:p)")
    n, r, p = (int(x) for x in params)
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _inmate(row: Any) -> Inmate:
    return Inmate(row["id"], row["name"], row["name_prompt"], row["status"], row["housing_unit"],
                  row["failed_pins"], row["locked_until_s"], row["facility_id"])


# --------------------------------------------------------------------------- the ledger
class Ledger:
    """The facility database's money, people and numbers.  Open with :meth:`open`; a context
    manager; ``close()`` is idempotent.  ``db`` is its :class:`~phonesim.facility.db.Database`
    (SQLite or PostgreSQL), shared with the CDR store."""

    def __init__(self, db: Database, *, clock: Clock | None = None, cfg: Any = None) -> None:
        self.db = db
        self.path = db.name
        self.clock = clock if clock is not None else WallClock()
        self.pin_length: int | None = None
        self.pin_login = "pin"
        self.pin_max_failures = 3
        self.pin_lockout_s = 60.0
        self.pin_lockout_max_s = 1800.0
        self.inmate_max_failures = 10
        self.inmate_window_s = 86400.0
        self.inmate_lockout_s = 3600.0
        self.facility_id = "jccc"
        self.facility_name = "Jefferson City Correctional Center"
        self.facility_state = "MO"
        self.direct_bill_limit_cents = 3000
        self.unusual_increase_percent = 100
        self.unusual_increase_floor_cents = 1000
        self.new_account_review_cents = 2000
        self.profile: Any = None          # the configured profile (for the stores built on this ledger)
        if cfg is not None:
            self.configure(cfg)
        self._pin_key = self._meta("pin_key")

    # -- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | os.PathLike, *, clock: Clock | None = None, cfg: Any = None,
             create: bool = True) -> Ledger:
        """Open (creating and migrating as needed) the database at ``url``: a SQLite file's path,
        ``sqlite:///PATH`` or ``postgresql://...``.

        ``clock`` stamps records (default: :class:`WallClock`); ``cfg`` (a
        :class:`~phonesim.config.Config`) supplies PIN rules, the facility and Direct Bill
        defaults.  With ``create=False`` a SQLite file that does not exist is a
        :class:`~phonesim.exc.NotFound` naming it (read-only commands never make an empty
        database).  A database written by a newer phonesim is refused
        (:class:`~phonesim.exc.SchemaTooNew`).
        """
        db = Database.open(url, create=create)
        try:
            schema.migrate(db)
            with db.transaction() as tx:
                tx.execute("INSERT INTO meta(key, value) VALUES ('pin_key', ?) ON CONFLICT DO NOTHING",
                           (os.urandom(16).hex(),))
        except sqlite3.DatabaseError as err:
            db.close()
            raise LedgerError(f"{db.name}: cannot open the facility database: {err}") from err
        except BaseException:
            db.close()
            raise
        return cls(db, clock=clock, cfg=cfg)

    def configure(self, cfg: Any) -> None:
        """Take PIN rules, facility id and Direct Bill defaults from a config."""
        pin = cfg.profile["pin"]
        self.pin_length = int(pin["length"])
        self.pin_login = str(pin["login"])
        self.pin_max_failures = int(pin["max_failures"])
        self.pin_lockout_s = float(pin["lockout_s"])
        self.pin_lockout_max_s = float(pin["lockout_max_s"])
        self.inmate_max_failures = int(pin["inmate_max_failures"])
        self.inmate_window_s = float(pin["inmate_window_s"])
        self.inmate_lockout_s = float(pin["inmate_lockout_s"])
        billing = cfg.profile["billing"]
        self.direct_bill_limit_cents = int(billing["direct_bill_credit_limit_cents"])
        self.unusual_increase_percent = int(billing["unusual_increase_percent"])
        self.unusual_increase_floor_cents = int(billing["unusual_increase_floor_cents"])
        self.new_account_review_cents = int(billing["new_account_review_cents"])
        self.profile = cfg.profile
        self.facility_id = cfg.facility["id"]
        self.facility_name = cfg.facility["name"]
        self.facility_state = cfg.facility["state"]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ledger {self.db!r}>"

    @property
    def schema_version(self) -> int:
        return schema.current_version(self.db)

    # -- plumbing --------------------------------------------------------------------
    def _tx(self):
        """One write transaction (see :meth:`phonesim.facility.db.Database.transaction`)."""
        return self.db.transaction()

    def _query(self, sql: str, params: tuple | list = ()) -> list[Any]:
        return self.db.query(sql, params)

    def _meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def wall_s(self, s: float | None = None) -> float:
        """``s`` (calendar seconds), or now by the ledger's clock when it is None."""
        return self.clock.wall_time_s() if s is None else float(s)

    def _now(self) -> tuple[float, str]:
        wall = self.wall_s()
        return wall, iso_utc(wall)

    # -- facilities and inmates ------------------------------------------------------
    def add_facility(self, facility_id: str, name: str, state: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO facilities(id, name, state, created_at) VALUES (?,?,?,?) "
                      "ON CONFLICT DO NOTHING", (facility_id, name, state, self._now()[1]))

    def _pin_tag(self, pin: str) -> int:
        """A byte of a keyed hash: narrows the search for PINs stored before lookups existed."""
        return hmac.new(bytes.fromhex(self._pin_key), pin.encode(), hashlib.sha256).digest()[0]

    def pin_lookup(self, pin: str) -> bytes:
        """The PIN's lookup key: one scrypt with the database's secret as salt.

        One key derivation per PIN attempt, computed *before* any transaction, then an
        indexed look-up: a login costs the same with ten inmates or ten thousand, and holds
        the database's write lock only for the rows it changes. (A per-inmate salt would
        cost one derivation per candidate, inside the lock; with a 4-digit PIN it buys no
        protection anyway: whoever holds the database can try all 10,000 PINs.)
        """
        n, r, p = _SCRYPT
        return hashlib.scrypt(pin.encode(), salt=bytes.fromhex(self._pin_key), n=n, r=r, p=p,
                              maxmem=64 * 1024 * 1024, dklen=32)

    def _check_pin_form(self, pin: str) -> None:
        if not isinstance(pin, str) or not (pin.isascii() and pin.isdigit()):
            raise InvalidInput(f"PIN: expected the digits 0-9 only, got {pin!r}")
        if self.pin_length is not None and len(pin) != self.pin_length:
            raise InvalidInput(f"PIN: expected {self.pin_length} digits (profile pin.length), got {len(pin)}")
        if not 4 <= len(pin) <= 12:
            raise InvalidInput(f"PIN: expected 4 to 12 digits, got {len(pin)}")

    def _legacy_pin_owner(self, pin: str) -> str | None:
        """The inmate whose PIN was stored before lookup keys (schema v3), checked outside any
        transaction; ``None`` when nobody's."""
        rows = self._query("SELECT id, pin_salt, pin_hash, pin_kdf FROM inmates WHERE pin_lookup IS NULL "
                           "AND pin_tag=?", (self._pin_tag(pin),))
        for row in rows:
            if hmac.compare_digest(_hash_pin(pin, row["pin_salt"], row["pin_kdf"]), row["pin_hash"]):
                return str(row["id"])
        return None

    def _pin_owner(self, c: Any, pin: str, lookup: bytes, legacy_owner: str | None,
                   facility_id: str) -> Any | None:
        """The inmate of ``facility_id`` whose PIN this is (a PIN works at one facility only)."""
        row = c.execute("SELECT * FROM inmates WHERE pin_lookup=? AND facility_id=?",
                        (lookup, facility_id)).fetchone()
        if row is None and legacy_owner is not None:
            row = c.execute("SELECT * FROM inmates WHERE id=? AND pin_lookup IS NULL AND facility_id=?",
                            (legacy_owner, facility_id)).fetchone()
            if row is not None:      # upgrade the row: next time it is found by its lookup key
                c.execute("UPDATE inmates SET pin_lookup=? WHERE id=?", (lookup, legacy_owner))
        return row

    def _pin_fields(self, pin: str) -> tuple[int, bytes, bytes, str, bytes]:
        lookup = self.pin_lookup(pin)
        return self._pin_tag(pin), b"", lookup, "lookup:scrypt:{}:{}:{}".format(*_SCRYPT), lookup

    def add_inmate(self, inmate_id: str, name: str, pin: str, *, status: str = "general",
                   housing_unit: str = "", name_prompt: str = "",
                   facility_id: str | None = None) -> Inmate:
        """Enrol an inmate.  The PIN alone identifies the inmate at the phone, so it must be unique
        within the facility.  ``name_prompt`` names a shipped prompt with the person's name (the
        demo's); without one the inmate records their name on the first call."""
        inmate_id = str(inmate_id).strip()
        if not inmate_id:
            raise InvalidInput("inmate id: expected a non-empty id, got ''")
        if status not in STATUSES:
            raise InvalidInput(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
        self._check_pin_form(pin)
        fields = self._pin_fields(pin)
        legacy = self._legacy_pin_owner(pin)
        wall, iso = self._now()
        with self._tx() as c:
            if c.execute("SELECT 1 FROM inmates WHERE id=?", (inmate_id,)).fetchone():
                raise LedgerError(f"inmate {inmate_id!r} already exists")
            facility = facility_id or self.facility_id
            if self._pin_owner(c, pin, fields[-1], legacy, facility) is not None:
                raise LedgerError("PIN: already used by another inmate of this facility "
                                  "(a PIN must identify one person)")
            c.execute("INSERT INTO facilities(id, name, state, created_at) VALUES (?,?,?,?) "
                      "ON CONFLICT DO NOTHING", (facility, self.facility_name, self.facility_state, iso))
            c.execute("INSERT INTO inmates(id, name, name_prompt, facility_id, pin_tag, pin_salt, pin_hash,"
                      " pin_kdf, pin_lookup, status, housing_unit, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (inmate_id, name, name_prompt, facility, *fields, status, housing_unit, iso))
            for kind in ("trust", "debit"):
                self._ensure_account(c, kind, inmate_id, iso)
        return self.inmate(inmate_id)

    def inmate(self, inmate_id: str) -> Inmate:
        rows = self._query("SELECT * FROM inmates WHERE id=?", (str(inmate_id),))
        if not rows:
            raise NotFound(f"inmate {inmate_id!r}: no such inmate")
        return _inmate(rows[0])

    def inmates(self) -> list[Inmate]:
        return [_inmate(r) for r in self._query("SELECT * FROM inmates ORDER BY id")]

    def has_inmate(self, inmate_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM inmates WHERE id=?", (str(inmate_id),)))

    def set_pin(self, inmate_id: str, pin: str) -> None:
        self._check_pin_form(pin)
        fields = self._pin_fields(pin)
        legacy = self._legacy_pin_owner(pin)
        with self._tx() as c:
            person = self._require_inmate(c, inmate_id)
            owner = self._pin_owner(c, pin, fields[-1], legacy, person["facility_id"])
            if owner is not None and owner["id"] != inmate_id:
                raise LedgerError("PIN: already used by another inmate (a PIN must identify one person)")
            c.execute("UPDATE inmates SET pin_tag=?, pin_salt=?, pin_hash=?, pin_kdf=?, pin_lookup=?,"
                      " failed_pins=0, locked_until_s=0 WHERE id=?", (*fields, inmate_id))

    def set_status(self, inmate_id: str, status: str, *, housing_unit: str | None = None) -> Inmate:
        if status not in STATUSES:
            raise InvalidInput(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            c.execute("UPDATE inmates SET status=? WHERE id=?", (status, inmate_id))
            if housing_unit is not None:
                c.execute("UPDATE inmates SET housing_unit=? WHERE id=?", (housing_unit, inmate_id))
        return self.inmate(inmate_id)

    def transfer_inmate(self, inmate_id: str, facility_id: str, *, housing_unit: str = "") -> Inmate:
        """Move an inmate to another facility (and unit): accounts, approved numbers and call
        history follow (they belong to the person); the PIN works at the new facility only.

        Refused when another inmate of the new facility has the same PIN: reset one first.
        """
        with self._tx() as c:
            person = self._require_inmate(c, inmate_id)
            if c.execute("SELECT 1 FROM facilities WHERE id=?", (facility_id,)).fetchone() is None:
                raise NotFound(f"facility {facility_id!r}: no such facility")
            if person["pin_lookup"] is not None and c.execute(
                    "SELECT 1 FROM inmates WHERE facility_id=? AND pin_lookup=? AND id<>?",
                    (facility_id, person["pin_lookup"], inmate_id)).fetchone():
                raise LedgerError(f"inmate {inmate_id}: another inmate of {facility_id} has the same PIN; "
                                  f"set a new PIN (admin inmate set-pin) before the transfer")
            c.execute("UPDATE inmates SET facility_id=?, housing_unit=? WHERE id=?",
                      (facility_id, housing_unit, inmate_id))
        return self.inmate(inmate_id)

    def set_voice_name(self, kind: str, owner: str, samples: Any, *, source: str = "") -> None:
        """Keep a name as the called party hears it (8 kHz int16): an inmate's recorded on the first
        call or supplied by an administrator, or a facility's rendered at its creation."""
        import numpy as np

        pcm = np.asarray(samples, dtype="<i2")
        if pcm.size == 0:
            raise InvalidInput(f"{kind} {owner}: expected a recorded name, got no audio")
        with self._tx() as c:
            if kind == "inmate":
                self._require_inmate(c, owner)
            c.execute("INSERT INTO voice_names(kind, owner, samples, source, at) VALUES (?,?,?,?,?) "
                      "ON CONFLICT (kind, owner) DO UPDATE SET samples=excluded.samples, "
                      "source=excluded.source, at=excluded.at", (kind, owner, pcm.tobytes(), source,
                                                                   self._now()[1]))

    def voice_name(self, kind: str, owner: str) -> Any:
        """The stored name's samples (int16), or None."""
        import numpy as np

        rows = self._query("SELECT samples FROM voice_names WHERE kind=? AND owner=?", (kind, owner))
        return np.frombuffer(bytes(rows[0][0]), dtype="<i2").copy() if rows else None

    def has_voice_name(self, kind: str, owner: str) -> bool:
        return bool(self._query("SELECT 1 FROM voice_names WHERE kind=? AND owner=?", (kind, owner)))

    def unlock(self, inmate_id: str) -> None:
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            c.execute("UPDATE inmates SET failed_pins=0, locked_until_s=0 WHERE id=?", (inmate_id,))

    @staticmethod
    def _require_inmate(c: Any, inmate_id: str) -> Any:
        row = c.execute("SELECT * FROM inmates WHERE id=?", (str(inmate_id),)).fetchone()
        if row is None:
            raise NotFound(f"inmate {inmate_id!r}: no such inmate")
        return row

    def authenticate(self, pin: str, *, wall_s: float | None = None, terminal: str = "",
                     inmate_id: str | None = None, facility_id: str | None = None,
                     failures_before: int = 0) -> AuthResult:
        """Check what was keyed at a phone at calendar time ``wall_s`` (default: now).

        Two ways to log in (the profile's ``pin.login``):

        * ``pin``: the PIN alone names the inmate, among the inmates of ``facility_id``
          (default: the configured facility): a PIN works at the inmate's current facility
          and nowhere else;
        * ``id+pin``: the inmate's ID number, then the PIN, keyed together: ``pin`` is the
          whole string, its last ``pin.length`` digits the PIN.  (``inmate_id`` given says
          the same in either mode.)

        Guessing is limited twice, and neither limit lets one person lock others out for long:

        * **per phone** (``terminal``): ``pin.max_failures`` wrong logins pause PIN entry at
          that phone for ``pin.lockout_s``; each further burst doubles the pause up to
          ``pin.lockout_max_s``; after twice that long without a wrong login the pauses
          start small again.  A right PIN does *not* reset the count (keying one's own PIN
          between guesses buys nothing), and while the phone pauses nothing is checked.
        * **per person**: ``pin.inmate_max_failures`` wrong logins charged to one person
          within ``pin.inmate_window_s`` lock that person's account for
          ``pin.inmate_lockout_s``.  Charged to them: with ``id+pin``, a wrong PIN keyed
          with their ID; with ``pin``, the wrong PINs keyed in the same call attempt just
          before their own right one (``failures_before``: the call flow counts them).

        ``locked_until_s`` is calendar time.  The key derivation runs before the
        transaction (:meth:`pin_lookup`); the transaction reads and locks the rows it changes.
        """
        now = self.wall_s(wall_s)
        keyed = pin if isinstance(pin, str) else ""
        if inmate_id is None and self.pin_login == "id+pin":
            inmate_id, pin = keyed[:-self.pin_length], keyed[-self.pin_length:]
        well_formed = keyed.isascii() and keyed.isdigit() and 0 < len(pin) <= 32
        lookup = self.pin_lookup(pin) if well_formed else b""
        legacy = self._legacy_pin_owner(pin) if well_formed else None
        facility = facility_id or self.facility_id
        lock = self.db.for_update
        with self._tx() as c:
            c.execute("INSERT INTO terminals(id) VALUES (?) ON CONFLICT DO NOTHING", (terminal,))
            phone = c.execute(f"SELECT * FROM terminals WHERE id=?{lock}", (terminal,)).fetchone()
            if phone["locked_until_s"] > now:             # the phone pauses: nothing is checked
                return AuthResult(False, None, True, 0, phone["locked_until_s"])
            if inmate_id is not None:
                return self._id_login(c, phone, str(inmate_id), lookup, legacy, facility, now)
            row = self._pin_owner(c, pin, lookup, legacy, facility) if well_formed else None
            if row is None:
                return self._terminal_guess(c, phone, now)
            row = c.execute(f"SELECT * FROM inmates WHERE id=?{lock}", (row["id"],)).fetchone()
            if row["locked_until_s"] > now:
                return AuthResult(False, _inmate(row), True, row["failed_pins"], row["locked_until_s"])
            if failures_before > 0:
                locked_until = self._charge_guesses(c, row, int(failures_before), now)
                if locked_until:
                    return AuthResult(False, _inmate(row), True, int(failures_before), locked_until)
            fresh = c.execute("SELECT * FROM inmates WHERE id=?", (row["id"],)).fetchone()
            return AuthResult(True, _inmate(fresh), False, 0, 0.0)

    def _id_login(self, c: Any, phone: Any, inmate_id: str, lookup: bytes, legacy: str | None,
                  facility: str, now: float) -> AuthResult:
        """ID + PIN: the named inmate's PIN or not; a wrong one counts at the phone and against
        the person named (an unknown ID only at the phone, and says nothing about which IDs exist)."""
        row = c.execute(f"SELECT * FROM inmates WHERE id=? AND facility_id=?{self.db.for_update}",
                        (inmate_id, facility)).fetchone()
        if row is not None and row["locked_until_s"] > now:
            return AuthResult(False, _inmate(row), True, row["failed_pins"], row["locked_until_s"])
        right = row is not None and bool(lookup) and (
            row["pin_lookup"] == lookup
            or (row["pin_lookup"] is None and legacy == row["id"]))
        if right:
            if row["pin_lookup"] is None:                 # upgrade: next time found by its key
                c.execute("UPDATE inmates SET pin_lookup=? WHERE id=?", (lookup, row["id"]))
            c.execute("UPDATE inmates SET failed_pins=0, fail_window_s=0 WHERE id=?", (row["id"],))
            fresh = c.execute("SELECT * FROM inmates WHERE id=?", (row["id"],)).fetchone()
            return AuthResult(True, _inmate(fresh), False, 0, 0.0)
        result = self._terminal_guess(c, phone, now) if phone["id"] else AuthResult(False, None, False, 0, 0.0)
        if row is not None:
            locked_until = self._charge_guesses(c, row, 1, now)
            if locked_until:
                return AuthResult(False, None, True, self.inmate_max_failures, locked_until)
        return result

    def _terminal_guess(self, c: Any, terminal: Any, now: float) -> AuthResult:
        """A wrong PIN at a phone: count it; a burst pauses PIN entry there, longer each time."""
        lockouts = int(terminal["lockouts"])
        if now - float(terminal["last_failure_s"]) > 2 * self.pin_lockout_max_s:
            lockouts = 0                                  # quiet long enough: pauses start small again
        failures = int(terminal["failed_pins"]) + 1
        if failures >= self.pin_max_failures:
            lockouts += 1
            until = now + min(self.pin_lockout_s * 2 ** (lockouts - 1), self.pin_lockout_max_s)
            c.execute("UPDATE terminals SET failed_pins=0, lockouts=?, last_failure_s=?, locked_until_s=? "
                      "WHERE id=?", (lockouts, now, until, terminal["id"]))
            return AuthResult(False, None, True, failures, until)
        c.execute("UPDATE terminals SET failed_pins=?, lockouts=?, last_failure_s=? WHERE id=?",
                  (failures, lockouts, now, terminal["id"]))
        return AuthResult(False, None, False, failures, 0.0)

    def _charge_guesses(self, c: Any, inmate: Any, guesses: int, now: float) -> float:
        """Wrong logins charged to this person; returns the time their account is locked until
        when that reaches the limit (0.0: not locked).

        The count is not cleared by the lock: within the window every further wrong login
        locks the account again, so a guesser who knows someone's ID gets
        ``inmate_max_failures`` tries, then one per ``inmate_lockout_s``.  A right login by
        the owner, or the window running out, clears it.
        """
        start = float(inmate["fail_window_s"])
        failed = int(inmate["failed_pins"]) if now - start <= self.inmate_window_s else 0
        if failed == 0:
            start = now
        failed += guesses
        if failed >= self.inmate_max_failures:
            until = now + self.inmate_lockout_s
            c.execute("UPDATE inmates SET failed_pins=?, fail_window_s=?, locked_until_s=? WHERE id=?",
                      (failed, start, until, inmate["id"]))
            return until
        c.execute("UPDATE inmates SET failed_pins=?, fail_window_s=? WHERE id=?", (failed, start, inmate["id"]))
        return 0.0

    # -- accounts --------------------------------------------------------------------
    def _ensure_account(self, c: Any, kind: str, owner: str, iso: str,
                        credit_limit_cents: int | None = None) -> Any:
        """The account (created if new), locked for the rest of the transaction."""
        c.execute("INSERT INTO accounts(kind, owner, credit_limit_cents, created_at) VALUES (?,?,?,?) "
                  "ON CONFLICT DO NOTHING", (kind, owner, credit_limit_cents, iso))
        return self._locked_account(c, kind, owner)

    def _locked_account(self, c: Any, kind: str, owner: str) -> Any:
        """An account's row, locked until the transaction ends (PostgreSQL: ``FOR UPDATE``; SQLite's
        write transaction already excludes every other writer), or None."""
        return c.execute(f"SELECT * FROM accounts WHERE kind=? AND owner=?{self.db.for_update}",
                         (kind, owner)).fetchone()

    def _balance(self, kind: str, owner: str) -> int:
        rows = self._query("SELECT balance_cents FROM accounts WHERE kind=? AND owner=?", (kind, owner))
        return rows[0][0] if rows else 0

    def _post(self, c: Any, account: Any, amount_cents: int, kind: str, *,
              wall: float, iso: str, call_id: int | None = None, minute_index: int | None = None,
              memo: str = "") -> tuple[int, int]:
        """Move money on one account and journal it; returns (journal id, balance after)."""
        after = account["balance_cents"] + amount_cents
        if after < 0:
            raise InsufficientFunds(f"{account['kind']} account {account['owner']}: balance "
                                    f"{account['balance_cents']}c cannot go to {after}c")
        c.execute("UPDATE accounts SET balance_cents=? WHERE id=?", (after, account["id"]))
        row = c.execute("INSERT INTO journal(at, at_s, account_id, kind, amount_cents, balance_after_cents,"
                        " call_id, minute_index, memo) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
                        (iso, wall, account["id"], kind, amount_cents, after, call_id, minute_index,
                         memo)).fetchone()
        return int(row[0]), after

    @staticmethod
    def _positive(amount_cents: int) -> int:
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
            raise InvalidInput(f"amount: expected whole cents > 0, got {amount_cents!r}")
        return amount_cents

    def trust_balance_cents(self, inmate_id: str) -> int:
        self.inmate(inmate_id)
        return self._balance("trust", str(inmate_id))

    def debit_balance_cents(self, inmate_id: str) -> int:
        self.inmate(inmate_id)
        return self._balance("debit", str(inmate_id))

    def prepaid_balance_cents(self, btn: str) -> int:
        """The AdvanceConnect balance of a BTN (0 when it has no account)."""
        return self._balance("prepaid", canonical_btn(btn))

    def accounts(self, kind: str) -> list[dict]:
        """Every account of one kind (``prepaid``, ``direct-bill``, ``trust``, ``debit``) with its
        balance, by owner (the console's account pages)."""
        rows = self._query("SELECT kind, owner, balance_cents, credit_limit_cents, blocked, blocked_reason "
                           "FROM accounts WHERE kind=? ORDER BY owner", (kind,))
        return [dict(r) for r in rows]

    def has_prepaid(self, btn: str) -> bool:
        return bool(self._query("SELECT 1 FROM accounts WHERE kind='prepaid' AND owner=?",
                                (canonical_btn(btn),)))

    def credit_trust(self, inmate_id: str, amount_cents: int, *, memo: str = "deposit") -> int:
        """Deposit into the inmate's trust (canteen) account; returns the new balance."""
        self._positive(amount_cents)
        wall, iso = self._now()
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            acct = self._ensure_account(c, "trust", str(inmate_id), iso)
            return self._post(c, acct, amount_cents, "deposit", wall=wall, iso=iso, memo=memo)[1]

    def credit_debit(self, inmate_id: str, amount_cents: int, *, memo: str = "adjustment") -> int:
        """Credit the debit phone balance directly (a courtesy credit, a card); returns the new balance."""
        self._positive(amount_cents)
        wall, iso = self._now()
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            acct = self._ensure_account(c, "debit", str(inmate_id), iso)
            return self._post(c, acct, amount_cents, "adjustment", wall=wall, iso=iso, memo=memo)[1]

    def transfer_trust_to_debit(self, inmate_id: str, amount_cents: int, *, receipt: bool = True) -> Receipt:
        """Buy phone time: move money from trust to debit in one transaction.

        Raises :class:`InsufficientFunds` (nothing moved) when the trust balance is short.
        ``receipt`` marks the journal rows as a kiosk receipt (the memo holds the number).
        """
        self._positive(amount_cents)
        wall, iso = self._now()
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            trust = self._ensure_account(c, "trust", str(inmate_id), iso)
            debit = self._ensure_account(c, "debit", str(inmate_id), iso)
            if trust["balance_cents"] < amount_cents:
                raise InsufficientFunds(f"trust account of {inmate_id}: {trust['balance_cents']}c, "
                                        f"cannot transfer {amount_cents}c")
            memo = "kiosk purchase" + (" (receipt)" if receipt else "")
            jid, trust_after = self._post(c, trust, -amount_cents, "transfer-out", wall=wall, iso=iso, memo=memo)
            _, debit_after = self._post(c, debit, amount_cents, "transfer-in", wall=wall, iso=iso,
                                        memo=f"{memo} #{jid}")
        return Receipt(jid, str(inmate_id), amount_cents, trust_after, debit_after, iso)

    def fund_prepaid(self, btn: str, amount_cents: int, *, memo: str = "deposit") -> int:
        """Friends and family fund the AdvanceConnect account of a BTN (created on first deposit)."""
        self._positive(amount_cents)
        btn = canonical_btn(btn)
        wall, iso = self._now()
        with self._tx() as c:
            acct = self._ensure_account(c, "prepaid", btn, iso)
            return self._post(c, acct, amount_cents, "deposit", wall=wall, iso=iso, memo=memo)[1]

    # -- Direct Bill -----------------------------------------------------------------
    def open_direct_bill(self, btn: str, *, credit_limit_cents: int | None = None) -> DirectBill:
        """Open (or re-limit) a Direct Bill account for a BTN after its credit check."""
        btn = canonical_btn(btn)
        limit = self.direct_bill_limit_cents if credit_limit_cents is None else int(credit_limit_cents)
        if limit < 0:
            raise InvalidInput(f"credit limit: expected cents >= 0, got {limit}")
        with self._tx() as c:
            self._ensure_account(c, "direct-bill", btn, self._now()[1], limit)
            c.execute("UPDATE accounts SET credit_limit_cents=? WHERE kind='direct-bill' AND owner=?",
                      (limit, btn))
        return self.direct_bill(btn)

    def direct_bill(self, btn: str) -> DirectBill:
        btn = canonical_btn(btn)
        rows = self._query("SELECT * FROM accounts WHERE kind='direct-bill' AND owner=?", (btn,))
        if not rows:
            raise NotFound(f"BTN {btn}: no Direct Bill account")
        r = rows[0]
        return DirectBill(btn, r["balance_cents"], r["credit_limit_cents"] or 0, bool(r["blocked"]),
                          r["blocked_reason"])

    def has_direct_bill(self, btn: str) -> bool:
        return bool(self._query("SELECT 1 FROM accounts WHERE kind='direct-bill' AND owner=?",
                                (canonical_btn(btn),)))

    def pay_direct_bill(self, btn: str, amount_cents: int) -> int:
        """A payment on a Direct Bill account; returns what is still owed."""
        self._positive(amount_cents)
        btn = canonical_btn(btn)
        wall, iso = self._now()
        with self._tx() as c:
            acct = self._locked_account(c, "direct-bill", btn)
            if acct is None:
                raise NotFound(f"BTN {btn}: no Direct Bill account")
            if amount_cents > acct["balance_cents"]:
                raise InvalidInput(f"payment: expected at most the {acct['balance_cents']}c owed, got {amount_cents}c")
            return self._post(c, acct, -amount_cents, "payment", wall=wall, iso=iso)[1]

    def set_direct_bill_block(self, btn: str, blocked: bool, *, reason: str = "") -> None:
        btn = canonical_btn(btn)
        with self._tx() as c:
            cur = c.execute("UPDATE accounts SET blocked=?, blocked_reason=? WHERE kind='direct-bill' AND owner=?",
                            (int(blocked), reason if blocked else "", btn))
            if cur.rowcount == 0:
                raise NotFound(f"BTN {btn}: no Direct Bill account")

    def _month_charges(self, c: Any, account_id: int, month: str) -> int:
        start, end = month_bounds(month)
        return c.execute("SELECT COALESCE(SUM(amount_cents), 0) FROM journal WHERE account_id=? AND "
                         "kind='call-charge' AND at_s>=? AND at_s<?", (account_id, start, end)).fetchone()[0]

    def statement(self, btn: str, month: str) -> Statement:
        """The monthly statement of a Direct Bill BTN: every charge and payment of ``YYYY-MM``."""
        btn = canonical_btn(btn)
        start, end = month_bounds(month)
        account = self.direct_bill(btn)
        rows = self._query(
            "SELECT j.* FROM journal j JOIN accounts a ON a.id=j.account_id WHERE a.kind='direct-bill' "
            "AND a.owner=? AND j.at_s>=? AND j.at_s<? ORDER BY j.id", (btn, start, end))
        lines = tuple(StatementLine(r["at"], r["kind"], r["call_id"], r["minute_index"], r["amount_cents"],
                                    r["memo"]) for r in rows)
        calls: dict[int, list[StatementLine]] = {}
        for line in lines:
            if line.kind == "call-charge" and line.call_id is not None:
                calls.setdefault(int(line.call_id), []).append(line)
        rates = {r["id"]: int(r["cents_per_min"] or 0) for r in self._query(
            f"SELECT id, cents_per_min FROM cdrs WHERE id IN ({','.join('?' * len(calls)) or 'NULL'})",
            tuple(calls))}
        summary = []
        for call_id, charged in calls.items():
            total, rate = sum(c.amount_cents for c in charged), rates.get(call_id, 0)
            base = min(total, rate * len(charged))          # what the rate made; the rest is the tax
            summary.append(StatementCall(call_id, charged[0].at, len(charged), rate, base, total - base, total))
        return Statement(btn, month, lines,
                         sum(line.amount_cents for line in lines if line.kind == "call-charge"),
                         -sum(line.amount_cents for line in lines if line.kind == "payment"),
                         account.owed_cents, account.credit_limit_cents, account.blocked,
                         account.blocked_reason, tuple(summary))

    # -- billing ---------------------------------------------------------------------
    def charge_minute(self, call_id: int, minute_index: int, *, payer_kind: str, payer_id: str,
                      amount_cents: int) -> ChargeResult:
        """Bill one minute of a call, once.  See the module docstring for the rules."""
        if payer_kind not in PAYER_KINDS:
            raise InvalidInput(f"payer_kind: expected one of {', '.join(PAYER_KINDS)}, got {payer_kind!r}")
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents < 0:
            raise InvalidInput(f"amount: expected whole cents >= 0, got {amount_cents!r}")
        if not isinstance(minute_index, int) or minute_index < 0:
            raise InvalidInput(f"minute_index: expected an integer >= 0, got {minute_index!r}")
        call_id = int(call_id)
        payer_id = str(payer_id)
        if payer_kind in ("prepaid", "collect"):
            payer_id = canonical_btn(payer_id)
        wall, iso = self._now()
        with self._tx() as c:
            if payer_kind == "free":
                inserted = c.execute(
                    "INSERT INTO charges(call_id, minute_index, payer_kind, payer_id, amount_cents,"
                    " balance_after_cents, journal_id, at) VALUES (?,?,?,?,0,0,NULL,?) ON CONFLICT DO NOTHING"
                    " RETURNING call_id", (call_id, minute_index, payer_kind, payer_id, iso)).fetchone()
                if inserted is not None:
                    self._cdr_follows_charges(c, call_id)
                return ChargeResult(True, 0, inserted is None, 0)
            kind = {"debit": "debit", "prepaid": "prepaid", "collect": "direct-bill"}[payer_kind]
            # the payer's account is locked first: two lines charging one account, or a retry of
            # this very minute on another host, wait here for each other (PostgreSQL)
            acct = self._locked_account(c, kind, payer_id)
            done = c.execute("SELECT * FROM charges WHERE call_id=? AND minute_index=?",
                             (call_id, minute_index)).fetchone()
            if done is not None:
                return ChargeResult(True, done["balance_after_cents"], True, done["amount_cents"])
            if acct is None:
                return ChargeResult(False, 0, False, 0, f"no {kind} account for {payer_id}")
            if kind == "direct-bill":
                limit = acct["credit_limit_cents"] or 0
                if acct["blocked"]:
                    return ChargeResult(False, max(0, limit - acct["balance_cents"]), False, 0,
                                        f"Direct Bill {payer_id} is blocked: {acct['blocked_reason']}")
                if acct["balance_cents"] + amount_cents > limit:
                    return ChargeResult(False, max(0, limit - acct["balance_cents"]), False, 0,
                                        f"Direct Bill {payer_id} credit limit {limit}c reached")
                jid, owed = self._post(c, acct, amount_cents, "call-charge", wall=wall, iso=iso,
                                       call_id=call_id, minute_index=minute_index)
                left = limit - owed
                self._maybe_phone_block(c, acct, wall)
            else:
                if acct["balance_cents"] < amount_cents:
                    return ChargeResult(False, acct["balance_cents"], False, 0,
                                        f"{kind} balance {acct['balance_cents']}c < {amount_cents}c")
                jid, left = self._post(c, acct, -amount_cents, "call-charge", wall=wall, iso=iso,
                                       call_id=call_id, minute_index=minute_index)
            c.execute("INSERT INTO charges(call_id, minute_index, payer_kind, payer_id, amount_cents,"
                      " balance_after_cents, journal_id, at) VALUES (?,?,?,?,?,?,?,?)",
                      (call_id, minute_index, payer_kind, payer_id, amount_cents, left, jid, iso))
            self._cdr_follows_charges(c, call_id)
            return ChargeResult(True, left, False, amount_cents)

    @staticmethod
    def _cdr_follows_charges(c: Any, call_id: int) -> None:
        """The call's record shows what was charged, in the charge's own transaction: an open
        record (a call in progress, or one a crash left behind) never disagrees with the money."""
        c.execute("UPDATE cdrs SET billed_minutes=(SELECT COUNT(*) FROM charges WHERE call_id=?), "
                  "amount_cents=(SELECT COALESCE(SUM(amount_cents), 0) FROM charges WHERE call_id=?) "
                  "WHERE id=?", (call_id, call_id, call_id))

    def _maybe_phone_block(self, c: Any, acct: Any, wall: float) -> None:
        """Seed "Phone Blocks": block a Direct Bill BTN whose bill grows unusually fast.

        The seed names the block, not the rule; phonesim's rule (``profile.billing``):

        * a number with a history (charges in any of the last ``HISTORY_MONTHS`` months) is
          blocked when this month's charges exceed the largest of those months by
          ``unusual_increase_percent`` *and* by at least ``unusual_increase_floor_cents``:
          10 cents becoming 25 is not unusual, $5 becoming $15 is;
        * a new number (no charges in those months) is blocked when this month's charges
          reach ``new_account_review_cents``: a bill going from nothing to $30 in days is
          exactly what the block is for.

        The block's reason says which rule fired, with the amounts.
        """
        day = dt.datetime.fromtimestamp(wall, tz=dt.UTC)
        this_month = f"{day.year:04d}-{day.month:02d}"
        now_total = self._month_charges(c, acct["id"], this_month)
        history, first = [], day.replace(day=1)
        for _ in range(HISTORY_MONTHS):
            first = (first - dt.timedelta(days=1)).replace(day=1)
            month = f"{first.year:04d}-{first.month:02d}"
            history.append((self._month_charges(c, acct["id"], month), month))
        baseline, baseline_month = max(history)
        reason = None
        if baseline > 0:
            over = now_total - baseline
            if over * 100 > baseline * self.unusual_increase_percent and over >= self.unusual_increase_floor_cents:
                reason = (f"unusual increase: {format_cents(now_total)} in {this_month} vs "
                          f"{format_cents(baseline)} in {baseline_month} (more than "
                          f"+{self.unusual_increase_percent} % and {format_cents(self.unusual_increase_floor_cents)})")
        elif now_total >= self.new_account_review_cents:
            reason = (f"unusual increase: a new account billed {format_cents(now_total)} in {this_month} "
                      f"(review at {format_cents(self.new_account_review_cents)})")
        if reason is not None:
            c.execute("UPDATE accounts SET blocked=1, blocked_reason=? WHERE id=?", (reason, acct["id"]))

    def charges_for_call(self, call_id: int) -> list[dict]:
        rows = self._query("SELECT * FROM charges WHERE call_id=? ORDER BY minute_index", (int(call_id),))
        return [dict(r) for r in rows]

    def journal(self, *, limit: int | None = None) -> list[dict]:
        sql = "SELECT j.*, a.kind AS account_kind, a.owner FROM journal j JOIN accounts a ON a.id=j.account_id ORDER BY j.id"
        rows = self._query(sql + (f" LIMIT {int(limit)}" if limit else ""))
        return [dict(r) for r in rows]

    def reconcile(self) -> list[str]:
        """Replay the money journal against the balances; an empty list means consistent.

        Checks: each account's balance equals the sum of its journal amounts and the
        last ``balance_after``; every journal row's ``balance_after`` is the running
        sum; no balance is negative; every charge row has its journal row with the
        same call, minute and amount; no minute is journalled twice.
        """
        problems: list[str] = []
        with self.db.snapshot() as c:
            accounts = {r["id"]: r for r in c.execute("SELECT * FROM accounts")}
            running: dict[int, int] = dict.fromkeys(accounts, 0)
            for j in c.execute("SELECT * FROM journal ORDER BY id"):
                aid = j["account_id"]
                if aid not in accounts:
                    problems.append(f"journal #{j['id']}: unknown account {aid}")
                    continue
                running[aid] += j["amount_cents"]
                if running[aid] != j["balance_after_cents"]:
                    problems.append(f"journal #{j['id']}: balance_after {j['balance_after_cents']}c, "
                                    f"running sum {running[aid]}c")
                if running[aid] < 0:
                    problems.append(f"journal #{j['id']}: balance went negative ({running[aid]}c)")
            for aid, acct in accounts.items():
                if acct["balance_cents"] != running[aid]:
                    problems.append(f"{acct['kind']} account {acct['owner']}: balance "
                                    f"{acct['balance_cents']}c but journal sums to {running[aid]}c")
                if acct["balance_cents"] < 0:
                    problems.append(f"{acct['kind']} account {acct['owner']}: negative balance")
            for ch in c.execute("SELECT ch.*, j.amount_cents AS j_amount, j.call_id AS j_call, "
                                "j.minute_index AS j_minute, j.id AS j_id FROM charges ch "
                                "LEFT JOIN journal j ON j.id=ch.journal_id"):
                key = f"charge call {ch['call_id']} minute {ch['minute_index']}"
                if ch["payer_kind"] == "free":
                    if ch["amount_cents"] != 0:
                        problems.append(f"{key}: free but {ch['amount_cents']}c")
                    continue
                if ch["j_id"] is None:
                    problems.append(f"{key}: no journal row")
                elif (ch["j_call"], ch["j_minute"], abs(ch["j_amount"])) != (
                        ch["call_id"], ch["minute_index"], ch["amount_cents"]):
                    problems.append(f"{key}: journal row #{ch['j_id']} does not match")
            for dup in c.execute("SELECT call_id, minute_index, COUNT(*) n FROM journal WHERE "
                                 "kind='call-charge' GROUP BY call_id, minute_index HAVING COUNT(*) > 1"):
                problems.append(f"call {dup['call_id']} minute {dup['minute_index']} journalled "
                                f"{dup['n']} times")
            orphans = c.execute("SELECT COUNT(*) FROM journal j WHERE kind='call-charge' AND NOT EXISTS "
                                "(SELECT 1 FROM charges ch WHERE ch.journal_id=j.id)").fetchone()[0]
            if orphans:
                problems.append(f"{orphans} call-charge journal rows without a charge row")
        return problems

    # -- numbers -----------------------------------------------------------------------
    def request_number(self, inmate_id: str, number: str) -> NumberRequest:
        """An inmate asks (kiosk) for a number on the approved list: a pending request."""
        number = canonical_number(number)
        iso = self._now()[1]
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            c.execute("INSERT INTO approved_numbers(inmate_id, number, status, requested_at) "
                      "VALUES (?,?,'pending',?) ON CONFLICT DO NOTHING", (str(inmate_id), number, iso))
            row = c.execute("SELECT * FROM approved_numbers WHERE inmate_id=? AND number=?",
                            (str(inmate_id), number)).fetchone()
        return NumberRequest(row["inmate_id"], row["number"], row["status"], row["requested_at"])

    def approve_number(self, inmate_id: str, number: str, *, by: str = "admin") -> None:
        """Put a number on the inmate's approved list (approving a pending request if any)."""
        self._decide(inmate_id, number, "approved", by)

    def reject_number(self, inmate_id: str, number: str, *, by: str = "admin") -> None:
        self._decide(inmate_id, number, "rejected", by)

    def _decide(self, inmate_id: str, number: str, status: str, by: str) -> None:
        number = canonical_number(number)
        iso = self._now()[1]
        with self._tx() as c:
            self._require_inmate(c, inmate_id)
            c.execute("INSERT INTO approved_numbers(inmate_id, number, status, requested_at, decided_at, "
                      "decided_by) VALUES (?,?,?,?,?,?) ON CONFLICT(inmate_id, number) DO UPDATE SET "
                      "status=excluded.status, decided_at=excluded.decided_at, decided_by=excluded.decided_by",
                      (str(inmate_id), number, status, iso, iso, by))

    def pending_requests(self) -> list[NumberRequest]:
        rows = self._query("SELECT * FROM approved_numbers WHERE status='pending' ORDER BY requested_at")
        return [NumberRequest(r["inmate_id"], r["number"], r["status"], r["requested_at"]) for r in rows]

    def approved_numbers(self, inmate_id: str) -> list[str]:
        rows = self._query("SELECT number FROM approved_numbers WHERE inmate_id=? AND status='approved' "
                           "ORDER BY number", (str(inmate_id),))
        return [r[0] for r in rows]

    def is_approved(self, inmate_id: str, number: str) -> bool:
        return bool(self._query("SELECT 1 FROM approved_numbers WHERE inmate_id=? AND number=? AND "
                                "status='approved'", (str(inmate_id), canonical_number(number))))

    def block_number(self, number: str, *, kind: str = "keypad", by: str = "", note: str = "") -> Block:
        """Block calls to a number facility-wide, as one of :data:`BLOCK_KINDS`.

        ``keypad``: the called party pressed the block key (their own block, which they may
        lift); ``facility``: staff, with a note (a victim's request ...); ``security``: an
        officer cut a call off; ``three-way-review``: repeated three-way calls, pending an
        officer's review.  Each kind is its own record: blocking or lifting one never touches
        another.  Blocking again keeps the first record of that kind (its time and note).
        """
        if kind not in BLOCK_KINDS:
            raise InvalidInput(f"block kind: expected one of {', '.join(BLOCK_KINDS)}, got {kind!r}")
        if kind in ("facility", "security") and not note.strip():
            raise InvalidInput(f"a {kind} block: expected a note saying why (a victim's request, "
                               f"a cut-off call ...), got nothing")
        number = canonical_number(number)
        with self._tx() as c:
            c.execute("INSERT INTO number_blocks(number, kind, by, note, at) VALUES (?,?,?,?,?) "
                      "ON CONFLICT DO NOTHING", (number, kind, by, note.strip(), self._now()[1]))
            row = c.execute("SELECT * FROM number_blocks WHERE number=? AND kind=?", (number, kind)).fetchone()
        return Block(**dict(row))

    def unblock_number(self, number: str, *, kind: str = "keypad") -> bool:
        """Lift one kind of block; False when the number had no block of that kind."""
        if kind not in BLOCK_KINDS:
            raise InvalidInput(f"block kind: expected one of {', '.join(BLOCK_KINDS)}, got {kind!r}")
        number = canonical_number(number)
        with self._tx() as c:
            return c.execute("DELETE FROM number_blocks WHERE number=? AND kind=?", (number, kind)).rowcount > 0

    def blocks_of(self, number: str) -> list[Block]:
        """Every block on a number, the called party's own first."""
        rows = self._query("SELECT * FROM number_blocks WHERE number=?", (canonical_number(number),))
        return sorted((Block(**dict(r)) for r in rows), key=lambda b: BLOCK_KINDS.index(b.kind))

    def block_info(self, number: str) -> Block | None:
        """The first of :meth:`blocks_of`, or None."""
        blocks = self.blocks_of(number)
        return blocks[0] if blocks else None

    def is_blocked(self, number: str) -> bool:
        return bool(self.blocks_of(number))

    def blocks(self) -> list[Block]:
        return [Block(**dict(r)) for r in self._query("SELECT * FROM number_blocks ORDER BY number, kind")]

    def set_privileged(self, number: str, privileged: bool = True, *, name: str = "", note: str = "") -> None:
        """Mark (or unmark) an attorney/privileged number: never recorded or monitored."""
        number = canonical_number(number)
        with self._tx() as c:
            if privileged:
                c.execute("INSERT INTO privileged_numbers(number, name, note, at) VALUES (?,?,?,?) "
                          "ON CONFLICT(number) DO UPDATE SET name=excluded.name, note=excluded.note",
                          (number, name, note, self._now()[1]))
            else:
                c.execute("DELETE FROM privileged_numbers WHERE number=?", (number,))

    def is_privileged(self, number: str) -> bool:
        info = classify(number)
        if info.kind == "invalid":
            return False
        return bool(self._query("SELECT 1 FROM privileged_numbers WHERE number=?", (info.digits,)))

    def privileged_numbers(self) -> list[dict]:
        return [dict(r) for r in self._query("SELECT * FROM privileged_numbers ORDER BY number")]

    # -- demo data ---------------------------------------------------------------------
    def seed_demo(self, cfg: Any) -> dict[str, Any]:
        """The embedded demo data of ``phonesim demo``; idempotent (a second call changes nothing).

        PINs are the first ``pin.length`` digits of ``1234567890`` (John Doe: ``1234``
        with the Missouri profile), ``2345678901`` and ``3456789012``.
        """
        self.configure(cfg)
        length = int(cfg.profile["pin"]["length"])

        def pin(seq: str) -> str:
            return (seq * 3)[:length]

        self.add_facility(cfg.facility["id"], cfg.facility["name"], cfg.facility["state"])
        people = [("1001", "John Doe", pin("1234567890"), "general", "A-1", 5000, 1000),
                  ("1002", "Richard Roe", pin("2345678901"), "restricted", "B-2", 2000, 500),
                  ("1003", "Mary Major", pin("3456789012"), "segregation", "SEG-1", 1000, 500)]
        created = []
        for inmate_id, name, p, status, unit, trust, debit in people:
            if self.has_inmate(inmate_id):
                continue
            # John Doe's name is a shipped prompt; the others record theirs on the first call
            self.add_inmate(inmate_id, name, p, status=status, housing_unit=unit,
                            name_prompt="inmate_name_default" if inmate_id == "1001" else "")
            self.credit_trust(inmate_id, trust + debit, memo="demo deposit")
            self.transfer_trust_to_debit(inmate_id, debit)
            created.append(inmate_id)
        if not self.has_prepaid(DEMO["prepaid_btn"]):
            self.fund_prepaid(DEMO["prepaid_btn"], 2500, memo="demo deposit")
        if not self.has_direct_bill(DEMO["direct_bill_btn"]):
            self.open_direct_bill(DEMO["direct_bill_btn"], credit_limit_cents=3000)
        if not self.is_privileged(DEMO["attorney"]):
            self.set_privileged(DEMO["attorney"], name="Cole County Public Defender")
        if not any(b.kind == "keypad" for b in self.blocks_of(DEMO["blocked_by_party"])):
            self.block_number(DEMO["blocked_by_party"], kind="keypad", by="called party")
        return {**DEMO, "pins": {p[0]: p[2] for p in people}, "created": created}


#: The demo data's fixed numbers (see :meth:`Ledger.seed_demo`).
DEMO = {
    "inmate": "1001",
    "prepaid_btn": "5735550100",
    "direct_bill_btn": "3145550199",
    "attorney": "5735550123",
    "blocked_by_party": "8165550111",
}
