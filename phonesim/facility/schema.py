"""The SQLite schema of the facility database, as ordered migrations.

``schema_version`` holds one row per applied migration.  :func:`migrate` applies
every migration above the file's current version, each in its own transaction, so
an old file opened by new code is brought up to date and a crash during a
migration leaves the file at the previous version.  Never edit a released
migration: append a new one.

Money invariants are enforced by the database itself, not only by the code:
``CHECK (balance_cents >= 0)`` on accounts, ``PRIMARY KEY (call_id, minute_index)``
on charges (a minute is billed once), and triggers that make the money journal
append-only.
"""

from __future__ import annotations

import sqlite3
import time

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
    pin_salt       BLOB NOT NULL,             -- per inmate
    pin_hash       BLOB NOT NULL,
    pin_kdf        TEXT NOT NULL,             -- e.g. 'scrypt:16384:8:1'
    status         TEXT NOT NULL DEFAULT 'general'
                   CHECK (status IN ('general', 'restricted', 'segregation')),
    housing_unit   TEXT NOT NULL DEFAULT '',
    failed_pins    INTEGER NOT NULL DEFAULT 0,
    locked_until_s REAL NOT NULL DEFAULT 0,   -- calendar seconds (epoch)
    created_at     TEXT NOT NULL
);
CREATE INDEX inmates_pin_tag ON inmates(pin_tag);
CREATE TABLE terminals (
    id             TEXT PRIMARY KEY,
    failed_pins    INTEGER NOT NULL DEFAULT 0,
    locked_until_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY,
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
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  TEXT NOT NULL,
    at_s                REAL NOT NULL,
    account_id          INTEGER NOT NULL REFERENCES accounts(id),
    kind                TEXT NOT NULL,       -- deposit | transfer-out | transfer-in | call-charge | payment | adjustment
    amount_cents        INTEGER NOT NULL,    -- signed change of the account's balance
    balance_after_cents INTEGER NOT NULL,
    call_id             INTEGER,
    minute_index        INTEGER,
    memo                TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the money journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the money journal is append-only'); END;
CREATE TABLE charges (
    call_id             INTEGER NOT NULL,
    minute_index        INTEGER NOT NULL,
    payer_kind          TEXT NOT NULL,
    payer_id            TEXT NOT NULL,
    amount_cents        INTEGER NOT NULL CHECK (amount_cents >= 0),
    balance_after_cents INTEGER NOT NULL,
    journal_id          INTEGER REFERENCES journal(id),
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
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    facility       TEXT NOT NULL DEFAULT '',
    terminal       TEXT NOT NULL DEFAULT '',
    inmate_id      TEXT,
    number         TEXT NOT NULL DEFAULT '',
    call_type      TEXT NOT NULL DEFAULT '',
    jurisdiction   TEXT NOT NULL DEFAULT '',
    offhook_s      REAL NOT NULL,            -- calendar seconds (epoch)
    dialled_s      REAL,
    answered_s     REAL,
    ended_s        REAL,
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
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id INTEGER NOT NULL REFERENCES cdrs(id),
    at_s    REAL NOT NULL,
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
ALTER TABLE cdrs ADD COLUMN accepted_s REAL;
ALTER TABLE cdrs ADD COLUMN accepted_at TEXT;
ALTER TABLE cdrs ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
"""

V4 = """
-- A PIN is found by its lookup key (one key derivation per attempt, then an index),
-- not by trying every inmate sharing a short tag.  Rows enrolled before keep NULL here
-- until their owner next logs in.
ALTER TABLE inmates ADD COLUMN pin_lookup BLOB;
CREATE UNIQUE INDEX inmates_pin_lookup ON inmates(pin_lookup);
-- A line creates its call's record with a key of its own, so a retried creation after a
-- lost connection finds the record instead of making a second one; timeline entries are
-- numbered per call for the same reason.
ALTER TABLE cdrs ADD COLUMN call_key TEXT;
CREATE UNIQUE INDEX cdrs_call_key ON cdrs(call_key);
ALTER TABLE cdr_events ADD COLUMN seq INTEGER;
CREATE UNIQUE INDEX cdr_events_seq ON cdr_events(call_id, seq);
"""

#: (version, SQL script), in order.  Append only.
MIGRATIONS: list[tuple[int, str]] = [(1, V1), (2, V2), (3, V3), (4, V4)]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if row is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, target: int = LATEST) -> list[int]:
    """Apply the missing migrations up to ``target``; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration
    runs in its own ``BEGIN IMMEDIATE`` transaction with its version row.
    """
    applied = []
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                 "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for version, script in MIGRATIONS:
        if version > target:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) >= version:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                         (version, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a script into statements (``executescript`` would commit on its own).

    ``--`` comments are dropped; the migrations never put ``--`` inside a string.
    """
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line.split("--", 1)[0])
        joined = "\n".join(buf).strip()
        if joined and sqlite3.complete_statement(joined):
            out.append(joined)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out
