"""Family members on the web: their accounts, the numbers they manage, their sessions, and the
simulator's mail outbox.

Why each rule:

* **Only what is needed** is kept about a family member: an e-mail address (to sign in and
  to be reached) and the 10-digit numbers they manage; a password hash.  No name, no
  address, no relation to an inmate.  Nothing here is read by an inmate-facing terminal
  (the wall phones and kiosks use the ledger's accounts by number, never these tables).
* **A verified contact**: an account can do nothing but enter its code until the e-mail
  address is verified: a 6-digit code, kept hashed, valid 30 minutes, 5 tries.  phonesim
  sends no mail: the code is written to the **mail outbox** (``mail_outbox``), which the
  verification page shows to the person signing up, labelled as the simulator's.
* **A number belongs to one family account**: a second sign-up for it is refused, so no
  family can see another's balance, calls or statements.
* **Passwords and sessions** work like the staff's (:mod:`phonesim.console.staff`: scrypt,
  locking after failures, a throttle per address, tokens kept hashed, CSRF token per
  session) but in tables of their own and under their own cookie: a family session is
  never a staff session, and the reverse.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from phonesim.console.staff import (
    IDLE_S,
    SCRYPT,
    SESSION_MAX_S,
    AddressThrottle,
    LoginRefused,
    LoginThrottled,
    check_login,
    check_password_form,
    hash_password,
    token_hash,
)
from phonesim.exc import InvalidInput, NotFound, PhoneSimError
from phonesim.facility.ledger import canonical_btn

EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
CODE_DIGITS = 6
CODE_VALID_S = 30 * 60.0
CODE_TRIES = 5
#: What every outbox message and page says about it.
OUTBOX_LABEL = "mail outbox simulator — phonesim sends no real mail"


class NotYourNumber(PhoneSimError, PermissionError):
    """A family member asked for a number their account does not manage (another family's, or
    nobody's: the same answer for both, so it says nothing about whose it is)."""


@dataclass(frozen=True, slots=True)
class FamilySession:
    """A signed-in family member.  ``role`` is ``family`` once the e-mail is verified,
    ``family-unverified`` before; ``username`` is the e-mail address."""

    account_id: int
    username: str
    role: str
    csrf: str
    created_s: float
    expires_s: float
    token: str = ""

    @property
    def verified(self) -> bool:
        return self.role == "family"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    to_address: str
    subject: str
    body: str
    at: str


def check_email(email: str) -> str:
    text = str(email).strip().lower()
    if len(text) > 254 or not EMAIL.fullmatch(text):
        raise InvalidInput(f"e-mail: expected an address like name@example.org, got {email!r}")
    return text


def _iso(wall_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


class FamilyStore:
    """Family accounts, their numbers and sessions, and the outbox (see the module docstring)."""

    def __init__(self, db: Any, *, throttle: AddressThrottle | None = None) -> None:
        self.db = db
        self.throttle = throttle if throttle is not None else AddressThrottle()

    def __repr__(self) -> str:
        return f"<FamilyStore {self.db!r}>"

    # --- signing up ------------------------------------------------------------------------
    def sign_up(self, email: str, password: str, number: str, *, now_s: float | None = None) -> FamilySession:
        """A new account for ``email`` managing ``number`` (a 10-digit number no other account
        manages); a verification code goes to the outbox.  Returns a session that may only
        verify."""
        email, number = check_email(email), canonical_btn(number)
        check_password_form(password)
        now = time.time() if now_s is None else now_s
        salt, kdf = os.urandom(16), "scrypt:{}:{}:{}".format(*SCRYPT)
        digest = hash_password(password, salt, kdf)
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM family_accounts WHERE email=?", (email,)).fetchone():
                raise InvalidInput(f"e-mail: {email} already has an account: sign in instead")
            if tx.execute("SELECT 1 FROM family_numbers WHERE number=?", (number,)).fetchone():
                raise InvalidInput(f"number: {number} is already managed by another account "
                                   f"(call the provider if it is yours)")
            account_id = tx.execute("INSERT INTO family_accounts(email, pw_salt, pw_hash, pw_kdf, created_at) "
                                    "VALUES (?,?,?,?,?) RETURNING id", (email, salt, digest, kdf, _iso(now))
                                    ).fetchone()[0]
            tx.execute("INSERT INTO family_numbers(number, account_id, added_at) VALUES (?,?,?)",
                       (number, account_id, _iso(now)))
        self.send_code(int(account_id), now_s=now)
        return self._open_session(int(account_id), email, "family-unverified", now)

    def send_code(self, account_id: int, *, now_s: float | None = None) -> None:
        """A new verification code, "sent" through the outbox (the old one stops working)."""
        now = time.time() if now_s is None else now_s
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        with self.db.transaction() as tx:
            row = tx.execute("SELECT email FROM family_accounts WHERE id=?", (account_id,)).fetchone()
            if row is None:
                raise NotFound(f"family account {account_id}: no such account")
            tx.execute("UPDATE family_accounts SET code_hash=?, code_expires_s=?, code_tries=0 WHERE id=?",
                       (self._code_hash(account_id, code), now + CODE_VALID_S, account_id))
            tx.execute("INSERT INTO mail_outbox(to_address, subject, body, at_s, at) VALUES (?,?,?,?,?)",
                       (row["email"], "Your phonesim verification code",
                        f"Your verification code is {code}. It works for {int(CODE_VALID_S // 60)} minutes. "
                        f"({OUTBOX_LABEL})", now, _iso(now)))

    @staticmethod
    def _code_hash(account_id: int, code: str) -> str:
        return hashlib.sha256(f"{account_id}:{code}".encode()).hexdigest()

    def verify(self, account_id: int, code: str, *, now_s: float | None = None) -> None:
        """Check the e-mailed code; :class:`~phonesim.exc.InvalidInput` says what is wrong."""
        now = time.time() if now_s is None else now_s
        code = str(code).strip()
        with self.db.transaction() as tx:
            row = tx.execute("SELECT * FROM family_accounts WHERE id=?" + self.db.for_update, (account_id,)).fetchone()
            if row is None:
                raise NotFound(f"family account {account_id}: no such account")
            if row["verified"]:
                return
            if row["code_tries"] >= CODE_TRIES or float(row["code_expires_s"]) <= now:
                raise InvalidInput("code: this code has expired or was tried too often; ask for a new one")
            if not hmac.compare_digest(self._code_hash(account_id, code), row["code_hash"]):
                tx.execute("UPDATE family_accounts SET code_tries=code_tries+1 WHERE id=?", (account_id,))
                left = CODE_TRIES - row["code_tries"] - 1
                raise InvalidInput(f"code: expected the {CODE_DIGITS}-digit code from the e-mail, got {code!r} "
                                   f"({left} tries left)")
            tx.execute("UPDATE family_accounts SET verified=1, code_hash='', code_tries=0 WHERE id=?", (account_id,))

    def outbox(self, email: str) -> list[OutboxMessage]:
        """The simulator's outbox for one address, newest first."""
        rows = self.db.query("SELECT * FROM mail_outbox WHERE to_address=? ORDER BY id DESC LIMIT 20",
                             (check_email(email),))
        return [OutboxMessage(r["id"], r["to_address"], r["subject"], r["body"], r["at"]) for r in rows]

    # --- numbers -----------------------------------------------------------------------------
    def numbers(self, account_id: int) -> list[str]:
        rows = self.db.query("SELECT number FROM family_numbers WHERE account_id=? ORDER BY number", (account_id,))
        return [r[0] for r in rows]

    def own_number(self, account_id: int, number: str) -> str:
        """``number`` when this account manages it; :class:`NotYourNumber` otherwise (the same
        answer for a number nobody manages and another family's)."""
        try:
            digits = canonical_btn(number)
        except InvalidInput as err:
            raise NotYourNumber(f"number {number!r}: not one of the numbers of this account") from err
        if not self.db.query("SELECT 1 FROM family_numbers WHERE number=? AND account_id=?", (digits, account_id)):
            raise NotYourNumber(f"number {number!r}: not one of the numbers of this account")
        return digits

    def add_number(self, account_id: int, number: str) -> str:
        number = canonical_btn(number)
        with self.db.transaction() as tx:
            owner = tx.execute("SELECT account_id FROM family_numbers WHERE number=?", (number,)).fetchone()
            if owner is not None and int(owner[0]) != account_id:
                raise InvalidInput(f"number: {number} is already managed by another account "
                                   f"(call the provider if it is yours)")
            tx.execute("INSERT INTO family_numbers(number, account_id, added_at) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                       (number, account_id, _iso(time.time())))
        return number

    # --- signing in ------------------------------------------------------------------------
    def login(self, email: str, password: str, *, address: str, now_s: float | None = None) -> FamilySession:
        """Check a password and open a session; :class:`~phonesim.console.staff.LoginRefused` otherwise
        (the same message and the same work whether the address has an account or not)."""
        now = time.time() if now_s is None else now_s
        refused = LoginRefused("wrong e-mail or password, or the account is locked for a few minutes")
        if self.throttle.blocked(address, now):
            raise LoginThrottled(f"too many failed sign-ins from {address}: wait a few minutes")
        rows = self.db.query("SELECT * FROM family_accounts WHERE email=?", (str(email).strip().lower()[:254],))
        row = rows[0] if rows else None
        check_login(self.db, self.throttle, "family_accounts", "id", row, password, address=address, now_s=now,
                    refused=refused, usable=True)
        return self._open_session(int(row["id"]), row["email"], "family" if row["verified"] else "family-unverified",
                                  now)

    def _open_session(self, account_id: int, email: str, role: str, now: float) -> FamilySession:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM family_sessions WHERE expires_s<? OR last_seen_s<?", (now, now - IDLE_S))
            tx.execute("INSERT INTO family_sessions(token_hash, account_id, csrf, created_s, expires_s, last_seen_s) "
                       "VALUES (?,?,?,?,?,?)", (token_hash(token), account_id, csrf, now, now + SESSION_MAX_S, now))
        return FamilySession(account_id, email, role, csrf, now, now + SESSION_MAX_S, token)

    def session(self, token: str, *, now_s: float | None = None, touch: bool = True) -> FamilySession | None:
        """The live session of a token (None when unknown, expired or idle too long)."""
        if not token or len(token) > 200:
            return None
        now = time.time() if now_s is None else now_s
        key = token_hash(token)
        rows = self.db.query("SELECT s.*, a.email, a.verified FROM family_sessions s JOIN family_accounts a "
                             "ON a.id = s.account_id WHERE s.token_hash=?", (key,))
        if not rows:
            return None
        r = rows[0]
        if float(r["expires_s"]) <= now or float(r["last_seen_s"]) <= now - IDLE_S:
            self.logout(token)
            return None
        if touch and now - float(r["last_seen_s"]) >= 5.0:
            with self.db.transaction() as tx:
                tx.execute("UPDATE family_sessions SET last_seen_s=? WHERE token_hash=?", (now, key))
        return FamilySession(int(r["account_id"]), r["email"], "family" if r["verified"] else "family-unverified",
                             r["csrf"], float(r["created_s"]), float(r["expires_s"]))

    def logout(self, token: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM family_sessions WHERE token_hash=?", (token_hash(token),))
