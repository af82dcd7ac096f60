"""The console's people, their passwords and their sessions, in the facility database.

Why each rule:

* **Passwords** are kept as scrypt hashes (:func:`hashlib.scrypt`, a memory-hard KDF) with a
  salt per person; the parameters are stored beside each hash (``pw_kdf``), so they can be
  raised later without locking anybody out.  The key derivation runs before any
  transaction: a login never holds the database's write lock for 50 ms.
* **Sessions** are random tokens that only the browser has: the database keeps their
  SHA-256, so a copy of the database opens no session.  Each has an absolute expiry
  (:data:`SESSION_MAX_S`) and an idle timeout (:data:`IDLE_S`), and its own CSRF token.
* **Throttling**: wrong passwords for one username lock it for :data:`LOCK_S` after
  :data:`MAX_FAILURES` in a row (in the database, so every console host sees it), and one
  client address may fail at most :data:`ADDRESS_MAX_FAILURES` times per
  :data:`ADDRESS_WINDOW_S` whatever names it tries (in this process: guessing many names
  from one place).  A refusal never says whether the name exists.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from phonesim.exc import InvalidInput, NotFound, PhoneSimError

ROLES = ("officer", "investigator", "administrator")
#: scrypt's cost (n), block size (r) and parallelism (p): 16 MiB and about 50 ms per hash here.
SCRYPT = (2**14, 8, 1)
MIN_PASSWORD = 10
MAX_PASSWORD = 200
USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
#: A session ends this long after login whatever happens, or after this long unused.
SESSION_MAX_S = 8 * 3600.0
IDLE_S = 30 * 60.0
#: Wrong passwords in a row that lock a username, and for how long.
MAX_FAILURES = 5
LOCK_S = 300.0
#: Wrong logins one client address may make in a window, whatever usernames it tries.
ADDRESS_MAX_FAILURES = 20
ADDRESS_WINDOW_S = 300.0


class LoginRefused(PhoneSimError, PermissionError):
    """A login was refused: a wrong name or password, a locked or disabled account, or too many
    attempts from one address.  The message never says whether the name exists."""


class LoginThrottled(LoginRefused):
    """Too many failed logins from one client address: refused before any password is checked."""


@dataclass(frozen=True, slots=True)
class Staff:
    username: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until_s: float
    created_at: str


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: ``token`` only right after login (the database keeps its hash)."""

    username: str
    role: str
    csrf: str
    created_s: float
    expires_s: float
    token: str = ""


def hash_password(password: str, salt: bytes, kdf: str) -> bytes:
    name, *params = kdf.split(":")
    if name != "scrypt" or len(params) != 3:
        raise InvalidInput(f"password hash: expected 'scrypt:N:r:p', got {kdf!r}")
    n, r, p = (int(x) for x in params)
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A random password to hand a person once (16 characters, about 95 bits)."""
    return secrets.token_urlsafe(12)


def check_password_form(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password: expected {MIN_PASSWORD} to {MAX_PASSWORD} characters, "
                           f"got {len(password) if isinstance(password, str) else type(password).__name__}")


def _iso(wall_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


class AddressThrottle:
    """Wrong logins per client address in a sliding window (this process's memory)."""

    def __init__(self, max_failures: int = ADDRESS_MAX_FAILURES, window_s: float = ADDRESS_WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now_s: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        return times

    def blocked(self, address: str, now_s: float) -> bool:
        with self._lock:
            return len(self._recent(address, now_s)) >= self.max_failures

    def failed(self, address: str, now_s: float) -> None:
        with self._lock:
            self._recent(address, now_s).append(now_s)
            if len(self._failures) > 10_000:           # many addresses: forget the quiet ones
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]


class StaffStore:
    """Staff accounts and sessions (tables ``staff`` and ``staff_sessions``)."""

    def __init__(self, db: Any, *, throttle: AddressThrottle | None = None) -> None:
        self.db = db
        self.throttle = throttle if throttle is not None else AddressThrottle()

    def __repr__(self) -> str:
        return f"<StaffStore {self.db!r}>"

    # --- accounts --------------------------------------------------------------------------
    def add(self, username: str, role: str, password: str) -> Staff:
        username = self._check_username(username)
        if role not in ROLES:
            raise InvalidInput(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
        check_password_form(password)
        salt, kdf = os.urandom(16), "scrypt:{}:{}:{}".format(*SCRYPT)
        digest = hash_password(password, salt, kdf)
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM staff WHERE username=?", (username,)).fetchone():
                raise InvalidInput(f"staff {username!r}: expected a new username, it exists")
            tx.execute("INSERT INTO staff(username, role, pw_salt, pw_hash, pw_kdf, created_at) "
                       "VALUES (?,?,?,?,?,?)", (username, role, salt, digest, kdf, _iso(time.time())))
        return self.get(username)

    def set_password(self, username: str, password: str) -> None:
        """A new password; the account is unlocked and every session of it ends."""
        check_password_form(password)
        salt, kdf = os.urandom(16), "scrypt:{}:{}:{}".format(*SCRYPT)
        digest = hash_password(password, salt, kdf)
        with self.db.transaction() as tx:
            done = tx.execute("UPDATE staff SET pw_salt=?, pw_hash=?, pw_kdf=?, failed_logins=0, "
                              "locked_until_s=0 WHERE username=?", (salt, digest, kdf, username)).rowcount
            if not done:
                raise NotFound(f"staff {username!r}: no such account")
            tx.execute("DELETE FROM staff_sessions WHERE username=?", (username,))

    def set_disabled(self, username: str, disabled: bool) -> Staff:
        """Disable (every session ends at once) or enable an account."""
        with self.db.transaction() as tx:
            done = tx.execute("UPDATE staff SET disabled=? WHERE username=?", (int(disabled), username)).rowcount
            if not done:
                raise NotFound(f"staff {username!r}: no such account")
            if disabled:
                tx.execute("DELETE FROM staff_sessions WHERE username=?", (username,))
        return self.get(username)

    def get(self, username: str) -> Staff:
        rows = self.db.query("SELECT * FROM staff WHERE username=?", (username,))
        if not rows:
            raise NotFound(f"staff {username!r}: no such account")
        return _staff(rows[0])

    def exists(self, username: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM staff WHERE username=?", (username,)))

    def all(self) -> list[Staff]:
        return [_staff(r) for r in self.db.query("SELECT * FROM staff ORDER BY username")]

    @staticmethod
    def _check_username(username: str) -> str:
        name = str(username).strip()
        if not USERNAME.fullmatch(name):
            raise InvalidInput("username: expected 2 to 32 of a-z 0-9 . _ - starting with a letter, "
                               f"got {username!r}")
        return name

    # --- logging in ---------------------------------------------------------------------------
    def login(self, username: str, password: str, *, address: str, now_s: float | None = None) -> Session:
        """Check a password and open a session; :class:`LoginRefused` otherwise."""
        now = time.time() if now_s is None else now_s
        refused = LoginRefused("wrong username or password, or the account is locked or disabled")
        if self.throttle.blocked(address, now):
            raise LoginThrottled(f"too many failed logins from {address}: wait a few minutes")
        rows = self.db.query("SELECT * FROM staff WHERE username=?", (str(username).strip(),))
        row = rows[0] if rows else None
        # the same work whether the name exists or not: the time says nothing about it
        salt = row["pw_salt"] if row is not None else b"\0" * 16
        kdf = row["pw_kdf"] if row is not None else "scrypt:{}:{}:{}".format(*SCRYPT)
        digest = hash_password(str(password)[:MAX_PASSWORD], bytes(salt), kdf)
        if row is None:
            self.throttle.failed(address, now)
            raise refused
        if row["disabled"] or float(row["locked_until_s"]) > now:
            self.throttle.failed(address, now)
            raise refused
        if not hmac.compare_digest(digest, bytes(row["pw_hash"])):
            self.throttle.failed(address, now)
            with self.db.transaction() as tx:
                failures = int(tx.execute("SELECT failed_logins FROM staff WHERE username=?" + self.db.for_update,
                                          (row["username"],)).fetchone()[0]) + 1
                locked_until = now + LOCK_S if failures >= MAX_FAILURES else 0.0
                tx.execute("UPDATE staff SET failed_logins=?, locked_until_s=? WHERE username=?",
                           (0 if locked_until else failures, locked_until, row["username"]))
            raise refused
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.db.transaction() as tx:
            tx.execute("UPDATE staff SET failed_logins=0, locked_until_s=0 WHERE username=?", (row["username"],))
            tx.execute("DELETE FROM staff_sessions WHERE expires_s<? OR last_seen_s<?", (now, now - IDLE_S))
            tx.execute("INSERT INTO staff_sessions(token_hash, username, csrf, created_s, expires_s, last_seen_s) "
                       "VALUES (?,?,?,?,?,?)", (token_hash(token), row["username"], csrf, now,
                                                now + SESSION_MAX_S, now))
        return Session(row["username"], row["role"], csrf, now, now + SESSION_MAX_S, token)

    def session(self, token: str, *, now_s: float | None = None, touch: bool = True) -> Session | None:
        """The live session of a token (None when unknown, expired, idle too long or disabled);
        ``touch`` marks it used now."""
        if not token or len(token) > 200:
            return None
        now = time.time() if now_s is None else now_s
        key = token_hash(token)
        rows = self.db.query("SELECT s.*, f.role, f.disabled FROM staff_sessions s JOIN staff f "
                             "ON f.username = s.username WHERE s.token_hash=?", (key,))
        if not rows:
            return None
        r = rows[0]
        if r["disabled"] or float(r["expires_s"]) <= now or float(r["last_seen_s"]) <= now - IDLE_S:
            self.logout(token)
            return None
        if touch and now - float(r["last_seen_s"]) >= 5.0:          # not a write per request
            with self.db.transaction() as tx:
                tx.execute("UPDATE staff_sessions SET last_seen_s=? WHERE token_hash=?", (now, key))
        return Session(r["username"], r["role"], r["csrf"], float(r["created_s"]), float(r["expires_s"]))

    def logout(self, token: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM staff_sessions WHERE token_hash=?", (token_hash(token),))


def _staff(r: Any) -> Staff:
    return Staff(r["username"], r["role"], bool(r["disabled"]), int(r["failed_logins"]), float(r["locked_until_s"]),
                 r["created_at"])


#: The demo facility's console accounts (``--demo`` only): username -> role.
DEMO_STAFF = {"officer": "officer", "investigator": "investigator", "admin": "administrator"}


def demo_staff(store: StaffStore) -> dict[str, str]:
    """Give the demo accounts fresh random passwords (creating them as needed); returns
    username -> password, to print once.  A demo never has a password anyone could know."""
    logins = {}
    for username, role in DEMO_STAFF.items():
        password = new_password()
        if store.exists(username):
            store.set_password(username, password)
            store.set_disabled(username, False)
        else:
            store.add(username, role, password)
        logins[username] = password
    return logins
