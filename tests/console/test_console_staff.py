"""Console accounts on a real database (SQLite and PostgreSQL): password hashes, sessions that
expire, login throttling per username and per address, the audit log's append-only guard."""

from __future__ import annotations

import pytest

from phonesim.console.staff import (
    ADDRESS_MAX_FAILURES,
    IDLE_S,
    LOCK_S,
    MAX_FAILURES,
    SESSION_MAX_S,
    AddressThrottle,
    LoginRefused,
    StaffStore,
    demo_staff,
    token_hash,
)
from phonesim.exc import InvalidInput, LedgerError, NotFound, PhoneSimError
from phonesim.facility.db import Database
from phonesim.facility.oversight import Oversight
from phonesim.facility.schema import migrate

pytestmark = pytest.mark.timeout(120)
T0 = 1_800_000_000.0


@pytest.fixture
def db(db_url):
    database = Database.open(db_url)
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def staff(db):
    store = StaffStore(db)
    store.add("alice", "officer", "alice-password-1")
    return store


@pytest.fixture
def local_staff(tmp_path):
    """On SQLite only: what these tests check does not depend on the engine."""
    database = Database.open(tmp_path / "staff.sqlite3")
    migrate(database)
    store = StaffStore(database)
    store.add("alice", "officer", "alice-password-1")
    yield store
    database.close()


def test_a_password_is_kept_only_as_a_salted_scrypt_hash(local_staff):
    row = local_staff.db.query("SELECT * FROM staff WHERE username='alice'")[0]
    assert row["pw_kdf"] == "scrypt:16384:8:1" and len(bytes(row["pw_salt"])) == 16
    assert b"alice-password-1" not in bytes(row["pw_hash"])
    local_staff.add("bob", "officer", "alice-password-1")          # the same password, another hash
    other = local_staff.db.query("SELECT * FROM staff WHERE username='bob'")[0]
    assert bytes(other["pw_hash"]) != bytes(row["pw_hash"])


def test_a_session_token_is_stored_only_as_its_hash(db, staff):
    session = staff.login("alice", "alice-password-1", address="10.0.0.1", now_s=T0)
    stored = [r["token_hash"] for r in db.query("SELECT token_hash FROM staff_sessions")]
    assert stored == [token_hash(session.token)] and session.token not in stored
    assert staff.session(session.token, now_s=T0 + 1).username == "alice"
    assert staff.session(token_hash(session.token), now_s=T0 + 1) is None      # the hash opens nothing


def test_sessions_end_when_idle_and_at_their_expiry(staff):
    s = staff.login("alice", "alice-password-1", address="a", now_s=T0)
    assert staff.session(s.token, now_s=T0 + IDLE_S - 10) is not None
    assert staff.session(s.token, now_s=T0 + 2 * IDLE_S - 20) is not None      # used: the idle clock restarts
    assert staff.session(s.token, now_s=T0 + 3 * IDLE_S) is None               # idle too long: gone for good
    assert staff.session(s.token, now_s=T0 + 2 * IDLE_S - 19) is None
    s2 = staff.login("alice", "alice-password-1", address="a", now_s=T0)
    t = T0
    while t + IDLE_S / 2 < T0 + SESSION_MAX_S:                                   # kept busy all day ...
        t += IDLE_S / 2
        assert staff.session(s2.token, now_s=t) is not None
    assert T0 + SESSION_MAX_S + 1 - t < IDLE_S
    assert staff.session(s2.token, now_s=T0 + SESSION_MAX_S + 1) is None       # ... still ends


def test_wrong_passwords_lock_the_username_then_it_opens_again(staff):
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused):
            staff.login("alice", "wrong-password", address=f"10.0.0.{_}", now_s=T0)
    with pytest.raises(LoginRefused):                                           # even the right one now
        staff.login("alice", "alice-password-1", address="10.0.1.1", now_s=T0 + 1)
    assert staff.get("alice").locked_until_s == T0 + LOCK_S
    assert staff.login("alice", "alice-password-1", address="10.0.1.1", now_s=T0 + LOCK_S + 1).username == "alice"
    assert staff.get("alice").failed_logins == 0


def test_one_address_guessing_many_names_is_throttled(local_staff):
    throttle = AddressThrottle()
    store = StaffStore(local_staff.db, throttle=throttle)
    for i in range(ADDRESS_MAX_FAILURES):
        with pytest.raises(LoginRefused, match="wrong username or password"):
            store.login(f"nobody{i}", "whatever-password", address="192.0.2.9", now_s=T0 + i)
    with pytest.raises(LoginRefused, match="too many failed logins from 192.0.2.9"):
        store.login("alice", "alice-password-1", address="192.0.2.9", now_s=T0 + 30)
    assert store.login("alice", "alice-password-1", address="192.0.2.10", now_s=T0 + 30)   # another address
    assert store.login("alice", "alice-password-1", address="192.0.2.9", now_s=T0 + 400)   # the window passed


def test_refusals_never_say_whether_the_name_exists(local_staff):
    with pytest.raises(LoginRefused) as unknown:
        local_staff.login("mallory", "alice-password-1", address="x", now_s=T0)
    with pytest.raises(LoginRefused) as wrong:
        local_staff.login("alice", "not-her-password", address="y", now_s=T0)
    assert str(unknown.value) == str(wrong.value)
    assert isinstance(unknown.value, PermissionError) and isinstance(unknown.value, PhoneSimError)


def test_disabling_or_a_new_password_ends_every_session(staff):
    s = staff.login("alice", "alice-password-1", address="a", now_s=T0)
    staff.set_password("alice", "alice-password-2")
    assert staff.session(s.token, now_s=T0 + 1) is None
    s = staff.login("alice", "alice-password-2", address="a", now_s=T0)
    staff.set_disabled("alice", True)
    assert staff.session(s.token, now_s=T0 + 1) is None
    with pytest.raises(LoginRefused):
        staff.login("alice", "alice-password-2", address="a", now_s=T0 + 2)


@pytest.mark.parametrize("username, role, password, message", [
    ("Alice", "officer", "long-enough-1", "username: expected"),
    ("x", "officer", "long-enough-1", "username: expected"),
    ("carol", "warden", "long-enough-1", "role: expected one of officer, investigator, administrator, got 'warden'"),
    ("carol", "officer", "short", "password: expected 10 to 200 characters, got 5"),
    ("alice", "officer", "long-enough-1", "staff 'alice': expected a new username, it exists"),
])
def test_bad_accounts_are_refused_with_what_was_expected(local_staff, username, role, password, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        local_staff.add(username, role, password)


def test_unknown_accounts_are_named(local_staff):
    with pytest.raises(NotFound, match="staff 'zed': no such account"):
        local_staff.set_password("zed", "long-enough-1")


def test_demo_accounts_get_new_random_passwords_every_time(local_staff):
    first = demo_staff(local_staff)
    second = demo_staff(local_staff)
    assert set(first) == {"officer", "investigator", "admin"}
    assert all(first[u] != second[u] and len(second[u]) >= 16 for u in first)
    assert local_staff.login("admin", second["admin"], address="a").role == "administrator"
    with pytest.raises(LoginRefused):
        local_staff.login("officer", first["officer"], address="b")


def test_the_audit_log_cannot_be_changed_or_emptied(db):
    oversight = Oversight(db)
    oversight.audit("alice", "listened", role="officer", target="A-1-phone-1", call_id=7)
    with pytest.raises(LedgerError, match="append-only"):
        with db.transaction() as tx:
            tx.execute("UPDATE audit_log SET who='mallory'")
    with pytest.raises(LedgerError, match="append-only"):
        with db.transaction() as tx:
            tx.execute("DELETE FROM audit_log")
    assert [(e.who, e.action, e.detail) for e in oversight.audit_log()] == [("alice", "listened", {"call_id": 7})]
