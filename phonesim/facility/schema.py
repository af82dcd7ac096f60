"""The schema of the facility database, as ordered migrations, for SQLite and PostgreSQL.

``schema_version`` holds one row per applied migration.  :func:`migrate` applies
every migration above the database's current version, each in its own transaction,
so an old database opened by new code is brought up to date and a crash during a
migration leaves it at the previous version.  A database *newer* than this code
knows is refused (:class:`~phonesim.exc.SchemaTooNew`): old code would misread it.
Never edit a released migration: append a new one.

The same migrations build both engines: column types that differ are written as
``{pk}`` (an id the database numbers), ``{id}`` (a column holding one), ``{real}``
(seconds: ``REAL`` on SQLite, ``DOUBLE PRECISION`` on PostgreSQL, whose ``REAL``
would round calendar seconds to the minute) and ``{blob}``; the journal's
append-only triggers are written once per engine.  On PostgreSQL several hosts may
open the database at once: each migration takes an advisory lock first, so exactly
one of them applies it.

Money invariants are enforced by the database itself, not only by the code:
``CHECK (balance_cents >= 0)`` on accounts, ``PRIMARY KEY (call_id, minute_index)``
on charges (a minute is billed once), and triggers that make the money journal
append-only.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from phonesim.exc import SchemaTooNew

V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE facilities (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE inmates (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    name_prompt    TEXT NOT NULL,
    facility_id    TEXT REFERENCES facilities(id),
    pin_tag        INTEGER NOT NULL,          -- a few bits of a keyed hash: narrows the PIN search
    pin_salt       {blob} NOT NULL,             -- per inmate
    pin_hash       {blob} NOT NULL,
    pin_kdf        TEXT NOT NULL,             -- e.g. 'scrypt:16384:8:1'
    status         TEXT NOT NULL DEFAULT 'general'
                   CHECK (status IN ('general', 'restricted', 'segregation')),
    housing_unit   TEXT NOT NULL DEFAULT '',
    failed_pins    INTEGER NOT NULL DEFAULT 0,
    locked_until_s {real} NOT NULL DEFAULT 0, -- calendar seconds (epoch)
    created_at     TEXT NOT NULL
);
CREATE INDEX inmates_pin_tag ON inmates(pin_tag);
CREATE TABLE terminals (
    id             TEXT PRIMARY KEY,
    failed_pins    INTEGER NOT NULL DEFAULT 0,
    locked_until_s {real} NOT NULL DEFAULT 0
);
CREATE TABLE accounts (
    id                 {rowid},
    kind               TEXT NOT NULL CHECK (kind IN ('trust', 'debit', 'prepaid', 'direct-bill')),
    owner              TEXT NOT NULL,        -- inmate id (trust, debit) or BTN (prepaid, direct-bill)
    balance_cents      INTEGER NOT NULL DEFAULT 0 CHECK (balance_cents >= 0),
    credit_limit_cents INTEGER,              -- direct-bill only: balance is what is owed
    blocked            INTEGER NOT NULL DEFAULT 0,
    blocked_reason     TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    UNIQUE (kind, owner)
);
CREATE TABLE journal (
    id                  {pk},
    at                  TEXT NOT NULL,
    at_s                {real} NOT NULL,
    account_id          {id} NOT NULL REFERENCES accounts(id),
    kind                TEXT NOT NULL,       -- deposit | transfer-out | transfer-in | call-charge | payment | adjustment
    amount_cents        INTEGER NOT NULL,    -- signed change of the account's balance
    balance_after_cents INTEGER NOT NULL,
    call_id             {id},
    minute_index        INTEGER,
    memo                TEXT NOT NULL DEFAULT ''
);
CREATE TABLE charges (
    call_id             {id} NOT NULL,
    minute_index        INTEGER NOT NULL,
    payer_kind          TEXT NOT NULL,
    payer_id            TEXT NOT NULL,
    amount_cents        INTEGER NOT NULL CHECK (amount_cents >= 0),
    balance_after_cents INTEGER NOT NULL,
    journal_id          {id} REFERENCES journal(id),
    at                  TEXT NOT NULL,
    PRIMARY KEY (call_id, minute_index)
);
CREATE TABLE approved_numbers (
    inmate_id    TEXT NOT NULL REFERENCES inmates(id),
    number       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_at TEXT NOT NULL,
    decided_at   TEXT,
    decided_by   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (inmate_id, number)
);
CREATE TABLE blocks (
    number TEXT PRIMARY KEY,
    kind   TEXT NOT NULL CHECK (kind IN ('keypad', 'facility', 'security')),
    by     TEXT NOT NULL DEFAULT '',
    note   TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL
);
CREATE TABLE privileged_numbers (
    number TEXT PRIMARY KEY,
    name   TEXT NOT NULL DEFAULT '',
    note   TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL
);
CREATE TABLE cdrs (
    id             {pk},
    facility       TEXT NOT NULL DEFAULT '',
    terminal       TEXT NOT NULL DEFAULT '',
    inmate_id      TEXT,
    number         TEXT NOT NULL DEFAULT '',
    call_type      TEXT NOT NULL DEFAULT '',
    jurisdiction   TEXT NOT NULL DEFAULT '',
    offhook_s      {real} NOT NULL,          -- calendar seconds (epoch)
    dialled_s      {real},
    answered_s     {real},
    ended_s        {real},
    offhook_at     TEXT NOT NULL,            -- the same times as ISO 8601 strings (UTC)
    dialled_at     TEXT,
    answered_at    TEXT,
    ended_at       TEXT,
    billed_minutes INTEGER NOT NULL DEFAULT 0,
    amount_cents   INTEGER NOT NULL DEFAULT 0,
    payer_kind     TEXT NOT NULL DEFAULT '',
    payer_id       TEXT NOT NULL DEFAULT '',
    cents_per_min  INTEGER,
    disposition    TEXT NOT NULL DEFAULT '',
    privileged     INTEGER NOT NULL DEFAULT 0,
    recording_path TEXT NOT NULL DEFAULT '',
    threeway       INTEGER NOT NULL DEFAULT 0,
    closed         INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE cdr_events (
    id      {pk},
    call_id {id} NOT NULL REFERENCES cdrs(id),
    at_s    {real} NOT NULL,
    at      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'   -- JSON
);
"""

V2 = """
-- Investigations ask "who called this number" and "this inmate's calls": index them.
CREATE INDEX cdrs_number ON cdrs(number);
CREATE INDEX cdrs_inmate ON cdrs(inmate_id, offhook_s);
CREATE INDEX cdr_events_call ON cdr_events(call_id, id);
CREATE INDEX journal_account ON journal(account_id, id);
"""

V3 = """
-- The moment the called party accepted (answer != accept: the announcement plays in
-- between), and fields a call flow reports that have no column yet (JSON, nothing lost).
ALTER TABLE cdrs ADD COLUMN accepted_s {real};
ALTER TABLE cdrs ADD COLUMN accepted_at TEXT;
ALTER TABLE cdrs ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
"""

V4 = """
-- A PIN is found by its lookup key (one key derivation per attempt, then an index),
-- not by trying every inmate sharing a short tag.  Rows enrolled before keep NULL here
-- until their owner next logs in.
ALTER TABLE inmates ADD COLUMN pin_lookup {blob};
CREATE UNIQUE INDEX inmates_pin_lookup ON inmates(pin_lookup);
-- A line creates its call's record with a key of its own, so a retried creation after a
-- lost connection finds the record instead of making a second one; timeline entries are
-- numbered per call for the same reason.
ALTER TABLE cdrs ADD COLUMN call_key TEXT;
CREATE UNIQUE INDEX cdrs_call_key ON cdrs(call_key);
ALTER TABLE cdr_events ADD COLUMN seq INTEGER;
CREATE UNIQUE INDEX cdr_events_seq ON cdr_events(call_id, seq);
"""

V5 = """
-- Facilities are records: which profile's rules they follow, where they are (an IANA
-- time zone: phone hours follow daylight saving time), their recorded name prompt;
-- their housing units carry their own settings and the lockdown switch; terminals
-- belong to a facility's unit and the platform serving them says it is alive.
ALTER TABLE facilities ADD COLUMN timezone TEXT NOT NULL DEFAULT 'America/Chicago';
ALTER TABLE facilities ADD COLUMN profile TEXT NOT NULL DEFAULT 'missouri-doc';
ALTER TABLE facilities ADD COLUMN town TEXT NOT NULL DEFAULT '';
ALTER TABLE facilities ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE facilities ADD COLUMN name_prompt TEXT NOT NULL DEFAULT '';
CREATE TABLE housing_units (
    facility_id     TEXT NOT NULL REFERENCES facilities(id),
    unit            TEXT NOT NULL,
    settings        TEXT NOT NULL DEFAULT '{}',   -- JSON: this unit's hours, waits, quotas, limits
    locked_down     INTEGER NOT NULL DEFAULT 0,
    lockdown_reason TEXT NOT NULL DEFAULT '',
    lockdown_by     TEXT NOT NULL DEFAULT '',
    lockdown_at     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (facility_id, unit)
);
ALTER TABLE terminals ADD COLUMN facility_id TEXT NOT NULL DEFAULT '';
ALTER TABLE terminals ADD COLUMN unit TEXT NOT NULL DEFAULT '';
ALTER TABLE terminals ADD COLUMN kind TEXT NOT NULL DEFAULT 'phone';
ALTER TABLE terminals ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE terminals ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE terminals ADD COLUMN seen_s {real} NOT NULL DEFAULT 0;
-- Names as the called party hears them, kept in the database so every host of the facility
-- has them: an inmate's recorded on the first call, a facility's rendered when it is created
-- (8 kHz 16-bit PCM).
CREATE TABLE voice_names (
    kind    TEXT NOT NULL CHECK (kind IN ('inmate', 'facility')),
    owner   TEXT NOT NULL,
    samples {blob} NOT NULL,
    source  TEXT NOT NULL DEFAULT '',
    at      TEXT NOT NULL,
    PRIMARY KEY (kind, owner)
);
-- A PIN identifies one person within a facility (ten thousand 4-digit PINs cannot cover a
-- state); an inmate transferred keeps the PIN unless it is taken at the new facility.
DROP INDEX inmates_pin_lookup;
CREATE UNIQUE INDEX inmates_facility_pin ON inmates(facility_id, pin_lookup);
-- What happens on every line, for whoever follows a facility live (the console,
-- `phonesim calls --follow`) on this host or another.
CREATE TABLE live_events (
    id       {pk},
    at_s     {real} NOT NULL,
    facility TEXT NOT NULL DEFAULT '',
    terminal TEXT NOT NULL DEFAULT '',
    call_id  {id},
    call_seq INTEGER NOT NULL DEFAULT 0,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX live_events_at ON live_events(at_s);
-- Blocks by whom: the called party's own (keypad) and the facility's (with a note, e.g. a
-- victim's request) are separate records, so lifting one never lifts the other.
CREATE TABLE number_blocks (
    number TEXT NOT NULL,
    kind   TEXT NOT NULL CHECK (kind IN ('keypad', 'facility', 'security', 'three-way-review')),
    by     TEXT NOT NULL DEFAULT '',
    note   TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL,
    PRIMARY KEY (number, kind)
);
INSERT INTO number_blocks(number, kind, by, note, at) SELECT number, kind, by, note, at FROM blocks;
DROP TABLE blocks;
-- The default facility was keyed by its name before facilities had ids of their own.
INSERT INTO facilities(id, name, state, created_at)
    SELECT 'jccc', name, state, created_at FROM facilities WHERE id = 'Jefferson City Correctional Center'
    ON CONFLICT DO NOTHING;
INSERT INTO facilities(id, name, state, created_at)
    SELECT 'jccc', 'Jefferson City Correctional Center', 'MO', '2026-01-01T00:00:00Z'
    WHERE EXISTS (SELECT 1 FROM inmates WHERE facility_id IS NULL OR facility_id = '')
    ON CONFLICT DO NOTHING;
UPDATE inmates SET facility_id = 'jccc'
    WHERE facility_id = 'Jefferson City Correctional Center' OR facility_id IS NULL OR facility_id = '';
UPDATE cdrs SET facility = 'jccc' WHERE facility = 'Jefferson City Correctional Center';
DELETE FROM facilities WHERE id = 'Jefferson City Correctional Center';
"""

V6 = """
-- Incidents: what an officer must review -- a toll-free attempt, a three-way detection, a
-- call to a number under a no-contact order, a call an officer cut off -- with the call it
-- came from (its recording and timeline are the evidence), closed with an outcome.
CREATE TABLE incidents (
    id        {pk},
    at_s      {real} NOT NULL,
    at        TEXT NOT NULL,
    facility  TEXT NOT NULL DEFAULT '',
    kind      TEXT NOT NULL CHECK (kind IN ('toll-free', 'three-way', 'no-contact', 'cut-off')),
    inmate_id TEXT,
    number    TEXT NOT NULL DEFAULT '',
    call_id   {id} REFERENCES cdrs(id),
    detail    TEXT NOT NULL DEFAULT '{}',
    status    TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    outcome   TEXT NOT NULL DEFAULT '',
    closed_by TEXT NOT NULL DEFAULT '',
    closed_at TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX incidents_call_kind ON incidents(call_id, kind);
CREATE INDEX incidents_open ON incidents(status, at_s);
-- A no-contact order bars one inmate from one number (others may still call it).
CREATE TABLE no_contact_orders (
    inmate_id TEXT NOT NULL REFERENCES inmates(id),
    number    TEXT NOT NULL,
    note      TEXT NOT NULL DEFAULT '',
    by        TEXT NOT NULL DEFAULT '',
    at        TEXT NOT NULL,
    PRIMARY KEY (inmate_id, number)
);
-- What officers ask of a line (cut it off): written by a console on any host, carried out by
-- the host serving the terminal, which notes when.
CREATE TABLE line_commands (
    id        {pk},
    terminal  TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('cut-off')),
    by        TEXT NOT NULL,
    reason    TEXT NOT NULL DEFAULT '',
    at_s      {real} NOT NULL,
    done_at_s {real},
    result    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX line_commands_pending ON line_commands(terminal, done_at_s);
-- The console's people: officers (live board, listen, cut off), investigators (records,
-- export), administrators (everything); passwords kept as scrypt hashes.
CREATE TABLE staff (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('officer', 'investigator', 'administrator')),
    pw_salt        {blob} NOT NULL,
    pw_hash        {blob} NOT NULL,
    pw_kdf         TEXT NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until_s {real} NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
CREATE TABLE staff_sessions (
    token_hash  TEXT PRIMARY KEY,
    username    TEXT NOT NULL REFERENCES staff(username),
    csrf        TEXT NOT NULL,
    created_s   {real} NOT NULL,
    expires_s   {real} NOT NULL,
    last_seen_s {real} NOT NULL
);
-- Every officer action (listened, cut off, exported, approved, blocked ...): appended, never
-- changed or removed (the same guard as the money journal).
CREATE TABLE audit_log (
    id     {pk},
    at_s   {real} NOT NULL,
    at     TEXT NOT NULL,
    who    TEXT NOT NULL,
    role   TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
"""

V7 = """
-- PIN guessing, limited per phone and per person: a phone's pauses grow with each burst of
-- wrong PINs (and shrink back after quiet), and the wrong PINs keyed before a person's own
-- right PIN count against that person alone.
ALTER TABLE terminals ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE terminals ADD COLUMN last_failure_s {real} NOT NULL DEFAULT 0;
ALTER TABLE inmates ADD COLUMN fail_window_s {real} NOT NULL DEFAULT 0;
"""

#: The audit log's append-only guard (version 6), per engine.
AUDIT_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log\n"
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION phonesim_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log\n"
        "FOR EACH ROW EXECUTE FUNCTION phonesim_audit_append_only()",
    ],
}

#: The journal's append-only guard, per engine (SQLite triggers; a PostgreSQL trigger function).
JOURNAL_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal\n"
        "BEGIN SELECT RAISE(ABORT, 'the money journal is append-only'); END",
        "CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal\n"
        "BEGIN SELECT RAISE(ABORT, 'the money journal is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION phonesim_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN RAISE EXCEPTION 'the money journal is append-only'; END $$",
        "CREATE TRIGGER journal_no_update BEFORE UPDATE OR DELETE ON journal\n"
        "FOR EACH ROW EXECUTE FUNCTION phonesim_journal_append_only()",
    ],
}

#: Column types that differ between the engines.
TYPES = {
    "sqlite": {"{pk}": "INTEGER PRIMARY KEY AUTOINCREMENT", "{rowid}": "INTEGER PRIMARY KEY",
               "{id}": "INTEGER", "{real}": "REAL", "{blob}": "BLOB"},
    "postgresql": {"{pk}": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                   "{rowid}": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                   "{id}": "BIGINT", "{real}": "DOUBLE PRECISION", "{blob}": "BYTEA"},
}

#: (version, SQL script), in order.  Append only.
MIGRATIONS: list[tuple[int, str]] = [(1, V1), (2, V2), (3, V3), (4, V4), (5, V5), (6, V6), (7, V7)]
LATEST = MIGRATIONS[-1][0]
#: A number PostgreSQL's advisory lock is taken on while a migration runs.
_MIGRATION_LOCK = 0x70686F6E  # "phon"


def render(script: str, dialect: str) -> list[str]:
    """A migration's statements for one engine."""
    for token, sql_type in TYPES[dialect].items():
        script = script.replace(token, sql_type)
    return _statements(script)


def statements(version: int, dialect: str) -> list[str]:
    script = dict(MIGRATIONS)[version]
    out = render(script, dialect)
    if version == 1:
        out += JOURNAL_TRIGGERS[dialect]
    if version == 6:
        out += AUDIT_TRIGGERS[dialect]
    return out


def current_version(db: Any) -> int:
    """The schema version of a :class:`~phonesim.facility.db.Database` (0: empty)."""
    with db.transaction() as tx:
        return _version(tx, db.dialect)


def _version(tx: Any, dialect: str) -> int:
    if dialect == "sqlite":
        row = tx.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    else:
        row = tx.execute("SELECT to_regclass('schema_version')").fetchone()
        row = row if row is not None and row[0] is not None else None
    if row is None:
        return 0
    return int(tx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(db: Any, *, target: int = LATEST) -> list[int]:
    """Bring the database up to ``target``; return the versions applied.

    Each migration runs in its own transaction with its version row (on PostgreSQL under
    an advisory lock, so hosts opening the database together apply it once).

    Raises
    ------
    SchemaTooNew
        The database was written by a newer phonesim (its version is above :data:`LATEST`).
    """
    with db.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                   "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        found = _version(tx, db.dialect)
    if found > LATEST:
        raise SchemaTooNew(f"{db.name}: the database has schema version {found}, newer than this "
                           f"phonesim knows (up to {LATEST}); upgrade phonesim before opening it")
    applied = []
    for version, _script in MIGRATIONS:
        if version > target:
            break
        with db.transaction() as tx:
            if db.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            if _version(tx, db.dialect) >= version:
                continue
            for statement in statements(version, db.dialect):
                tx.execute(statement)
            tx.execute("INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                       (version, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        applied.append(version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a script into statements.

    ``--`` comments are dropped; the migrations never put ``--`` inside a string.
    """
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line.split("--", 1)[0])
        joined = "\n".join(buf).strip()
        if joined and sqlite3.complete_statement(joined):
            out.append(joined.rstrip(";").rstrip())
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out
