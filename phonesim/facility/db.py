"""The facility database, chosen by URL: SQLite for one host, PostgreSQL for several.

``sqlite:///path/to/facility.sqlite3`` (or a plain path) is the embedded default: a
laptop, a single Raspberry Pi. ``postgresql://user@host/dbname`` (psycopg 3, the
``postgresql`` extra) serves a facility whose phones hang off several Pis: each runs
the platform for its own terminals against the one shared database.

:class:`Database` gives the rest of the platform exactly two ways in — a write
transaction and a read — and hides what differs between the engines:

* placeholders: the SQL is written with ``?``; for PostgreSQL they become ``%s``;
* rows: both engines' rows are read by column name and by position;
* locking: SQLite's ``BEGIN IMMEDIATE`` takes the one write lock, so a transaction sees
  no other writer; on PostgreSQL (READ COMMITTED) a transaction that reads a row to
  change it locks it first: ``SELECT ... {for_update}`` (:attr:`Database.for_update` is
  ``" FOR UPDATE"`` there and empty on SQLite);
* connections: SQLite keeps one connection per process, serialised by a lock (the
  ledger is shared by a line's thread and its worker); PostgreSQL keeps a small pool.
  A pooled connection the server closed while it waited (a restart) is found at ``BEGIN``
  and replaced without anyone noticing; a connection that breaks during a transaction
  is thrown away (with the idle ones) and the operation raises
  :class:`~phonesim.exc.DatabaseUnavailable`: a caller retries (every write of the
  platform is idempotent) and the next transaction opens a fresh connection.

The schema and its migrations are the same on both (:mod:`phonesim.facility.schema`).
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from phonesim.exc import DatabaseUnavailable, InvalidUrl, LedgerError, NotFound

log = logging.getLogger(__name__)

#: Connections a PostgreSQL database keeps per process at most.
POOL_SIZE = 8
#: How long a transaction waits for the other writers (SQLite's busy timeout; PostgreSQL's
#: lock timeout) before it gives up with an error.
LOCK_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5


def parse_database_url(url: str | os.PathLike) -> tuple[str, str]:
    """``(dialect, target)``: ``("sqlite", "/path")`` or ``("postgresql", "postgresql://...")``."""
    text = os.fspath(url)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql", text
    if text.startswith("sqlite:///") or text == "sqlite://:memory:":
        path = unquote(text[len("sqlite://"):]) if text != "sqlite://:memory:" else ":memory:"
        return "sqlite", path
    if "://" in text or text.startswith(("postgresql:/", "postgres:/", "sqlite:/")):
        # (the second form: a URL whose "//" a file-path conversion folded away)
        raise InvalidUrl(f"database: expected sqlite:///PATH, postgresql://[USER@]HOST[:PORT]/DBNAME "
                         f"or a file path, got {shown_url(text)!r}")
    return "sqlite", text


def shown_url(url: str) -> str:
    """The URL with its password masked (never print a password)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":********@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class Row(tuple):
    """A PostgreSQL row readable like :class:`sqlite3.Row`: ``row["name"]``, ``row[0]``, ``dict(row)``."""

    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise IndexError(f"no column {key!r} (columns: {', '.join(self._names)})") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self._names


def _row_factory(cursor: Any) -> Any:
    names = tuple(d.name for d in cursor.description or ())
    cls = type("Row", (Row,), {"_names": names, "__slots__": ()})

    def make(values: Sequence[Any]) -> Row:
        return cls(values)
    return make


def _to_pyformat(sql: str) -> str:
    """``?`` placeholders -> ``%s`` (and a literal ``%`` -> ``%%``), outside quoted strings."""
    out, quoted = [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "?" and not quoted:
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Tx:
    """A cursor inside one transaction: ``execute`` returns itself, so ``tx.execute(...).fetchone()``."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cursor = cursor
        self._pg = dialect == "postgresql"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Tx:
        self._cursor.execute(_to_pyformat(sql) if self._pg else sql, tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Tx:
        self._cursor.executemany(_to_pyformat(sql) if self._pg else sql, [tuple(r) for r in rows])
        return self

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


class Database:
    """A facility database (see the module docstring). Open with :meth:`open`; a context
    manager; ``close()`` is idempotent."""

    def __init__(self, dialect: str, target: str) -> None:
        self.dialect = dialect
        self.target = target
        self.for_update = " FOR UPDATE" if dialect == "postgresql" else ""
        self._lock = threading.RLock()
        self._closed = False
        self._sqlite: sqlite3.Connection | None = None
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._open_connections = 0

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | os.PathLike, *, create: bool = True) -> Database:
        """Open the database at ``url``; with ``create=False`` a SQLite file that does not exist
        is an error naming the path (commands that only read never make an empty database)."""
        dialect, target = parse_database_url(url)
        db = cls(dialect, target)
        if dialect == "sqlite":
            db._open_sqlite(create=create)
        else:
            db._release(db._connect_pg())      # fail now, with the host named, if it is away
        return db

    @property
    def name(self) -> str:
        """What to call the database in messages: the file, or the URL without its password."""
        return self.target if self.dialect == "sqlite" else shown_url(self.target)

    def _open_sqlite(self, *, create: bool) -> None:
        path = self.target
        if path != ":memory:":
            p = Path(path)
            if not create and not p.exists():
                raise NotFound(f"{path}: no such database (expected an existing phonesim database; "
                               f"check --db / paths.database)")
            if p.exists() and not p.is_file():
                raise LedgerError(f"{path}: expected a database file, got a {'folder' if p.is_dir() else 'special file'}")
            if create:
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=LOCK_TIMEOUT_S)
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if path != ":memory:" and mode.lower() != "wal":
                raise LedgerError(f"{path}: expected WAL journal mode, SQLite gave {mode!r}")
            # every committed transaction is on disk before COMMIT returns: a minute the
            # called party was told was charged is still charged after a power cut
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(LOCK_TIMEOUT_S * 1000)}")
        except sqlite3.DatabaseError as err:
            raise LedgerError(f"{path}: cannot open the facility database: {err}") from err
        self._sqlite = conn

    def _connect_pg(self) -> Any:
        try:
            import psycopg
        except ImportError as err:
            from phonesim.exc import BackendUnavailable

            raise BackendUnavailable("a postgresql:// database needs psycopg 3: "
                                     "pip install 'phonesim[postgresql]'") from err
        try:
            conn = psycopg.connect(self.target, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   row_factory=_row_factory)
            conn.execute(f"SET lock_timeout = '{int(LOCK_TIMEOUT_S * 1000)}ms'")
            conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as err:
            raise DatabaseUnavailable(f"{self.name}: cannot connect to the facility database: "
                                      f"{str(err).strip().splitlines()[0] if str(err).strip() else err}") from err
        with self._lock:
            self._open_connections += 1
        return conn

    def _borrow_pg(self) -> tuple[Any, bool]:
        """A connection of the pool, or a new one: ``(connection, new)``."""
        try:
            return self._pool.get_nowait(), False
        except queue.Empty:
            pass
        with self._lock:
            can_open = self._open_connections < POOL_SIZE
        if can_open:
            return self._connect_pg(), True
        try:
            return self._pool.get(timeout=LOCK_TIMEOUT_S), False
        except queue.Empty as err:
            raise DatabaseUnavailable(f"{self.name}: all {POOL_SIZE} connections busy for "
                                      f"{LOCK_TIMEOUT_S:g} s") from err

    def _begin_pg(self) -> Any:
        """A connection with a transaction begun on it.

        A pooled connection that died since its last use (the server restarted, or failed
        over) is found here, at ``BEGIN``, before any statement of the caller has run: it is
        replaced, with every idle one of the pool (they share its fate), and nobody sees a
        failure. Only a new connection that cannot begin is an error.
        """
        import psycopg

        for _ in range(POOL_SIZE + 1):
            conn, new = self._borrow_pg()
            try:
                conn.execute("BEGIN")
                return conn
            except psycopg.OperationalError as err:
                dead = conn.closed or conn.broken
                if dead:
                    self._discard(conn)
                else:
                    self._release(conn)
                if new or not dead:
                    raise DatabaseUnavailable(f"{self.name}: {_first_line(err)}") from err
                log.info("%s: a kept connection was closed by the server (%s); opening a new one",
                         self.name, _first_line(err))
                self._discard_idle()
        raise DatabaseUnavailable(f"{self.name}: no connection could begin a transaction")

    def _release(self, conn: Any) -> None:
        self._pool.put(conn)

    def _discard(self, conn: Any) -> None:
        with self._lock:
            self._open_connections -= 1
        try:
            conn.close()
        except Exception as err:  # noqa: BLE001 - a broken connection may fail to close any way
            log.debug("%s: closing a broken connection: %s", self.name, err)

    def _discard_idle(self) -> None:
        """Close every connection waiting in the pool."""
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            self._discard(conn)

    # --- using ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise LedgerError(f"{self.name}: the database is closed")

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        self._check_open()
        if self.dialect == "sqlite":
            with self._lock:
                self._check_open()
                conn = self._sqlite
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as err:
                    raise LedgerError(f"{self.name}: {err}") from err
                try:
                    yield Tx(conn.cursor(), "sqlite")
                except sqlite3.Error as err:
                    conn.execute("ROLLBACK")
                    raise LedgerError(f"{self.name}: {err}") from err
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            return
        import psycopg

        conn = self._begin_pg()
        done = False
        try:
            yield Tx(conn.cursor(), "postgresql")
            conn.execute("COMMIT")
            done = True
        except psycopg.OperationalError as err:
            # a lock wait that timed out is a busy database; any other operational error (the
            # connection lost, the server shutting down, COMMIT unanswered) is an outage: the
            # caller retries, every write of the platform being idempotent
            if isinstance(err, psycopg.errors.LockNotAvailable) and not (conn.closed or conn.broken):
                raise LedgerError(f"{self.name}: {_first_line(err)}") from err
            raise DatabaseUnavailable(f"{self.name}: {_first_line(err)}") from err
        except psycopg.Error as err:
            raise LedgerError(f"{self.name}: {_first_line(err)}") from err
        finally:
            if not done and not (conn.closed or conn.broken):
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error as err:
                    log.debug("%s: rolling back: %s", self.name, _first_line(err))
            if conn.closed or conn.broken:
                self._discard(conn)
                self._discard_idle()           # the others were most likely cut off too
            else:
                self._release(conn)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one read (its own snapshot; use :meth:`transaction` for several)."""
        self._check_open()
        if self.dialect == "sqlite":
            with self._lock:
                self._check_open()
                return self._sqlite.execute(sql, tuple(params)).fetchall()
        with self.transaction() as tx:
            return tx.execute(sql, params).fetchall()

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        """Several reads that see one consistent state (a read-only transaction)."""
        self._check_open()
        if self.dialect == "sqlite":
            with self._lock:
                conn = self._sqlite
                conn.execute("BEGIN")
                try:
                    yield Tx(conn.cursor(), "sqlite")
                finally:
                    conn.execute("COMMIT")
            return
        with self.transaction() as tx:
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield tx

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._sqlite is not None:
                self._sqlite.close()
        self._discard_idle()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Database {self.dialect} {self.name!r}{' closed' if self._closed else ''}>"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
