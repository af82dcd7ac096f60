"""Two hosts closing calls to one number at the same moment still block it at the Nth.

PostgreSQL's READ COMMITTED let each closing transaction count the other's new incident as
missing: with two of three confirmed calls closing together, each counted two and neither
blocked.  The escalation now serializes on the number; this test holds one transaction open
after its count while the other arrives, as two hosts would.
"""

from __future__ import annotations

import threading
import time

import pytest

from phonesim.facility.db import Database
from phonesim.facility.ledger import Ledger
from phonesim.facility.oversight import ThreeWayEscalation, _escalate_threeway

NUMBER = "5735552000"
ESCALATION = ThreeWayEscalation(block_after_confirmed=3, block_window_days=30)
WALL_S = 1_767_225_600.0


def _add_confirmed_incident(tx, call_no):
    tx.execute("INSERT INTO incidents(at_s, at, facility, kind, inmate_id, number, detail) "
               "VALUES (?,?,?,?,?,?,?)", (WALL_S + call_no, "2026-01-01T00:00:00Z", "jccc", "three-way",
                                           f"200{call_no}", NUMBER, '{"confirmed": true}'))


def _waiting_on_a_lock(db) -> bool:
    rows = db.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND wait_event = 'advisory'")
    return rows[0][0] > 0


@pytest.mark.timeout(60)
def test_two_calls_closing_at_once_on_two_hosts_block_the_number_at_the_third(postgres_url):
    with Ledger.open(postgres_url) as ledger:          # the schema
        with ledger.db.transaction() as tx:
            _add_confirmed_incident(tx, 1)
    a_counted, b_is_waiting = threading.Event(), threading.Event()
    errors = []

    def host_a():
        with Database.open(postgres_url) as db:
            with db.transaction() as tx:
                _add_confirmed_incident(tx, 2)
                _escalate_threeway(tx, NUMBER, WALL_S + 2, ESCALATION)
                a_counted.set()
                b_is_waiting.wait(timeout=20)          # commit only once B is inside its count

    def host_b():
        a_counted.wait(timeout=20)
        with Database.open(postgres_url) as db:
            with db.transaction() as tx:
                _add_confirmed_incident(tx, 3)
                _escalate_threeway(tx, NUMBER, WALL_S + 3, ESCALATION)

    def run(target):
        try:
            target()
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(t,)) for t in (host_a, host_b)]
    for t in threads:
        t.start()
    with Database.open(postgres_url) as watcher:
        assert a_counted.wait(timeout=20)
        deadline = time.monotonic() + 10               # bounded: without the lock B never waits
        while not _waiting_on_a_lock(watcher) and time.monotonic() < deadline:
            threading.Event().wait(0.02)
        b_is_waiting.set()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        blocks = watcher.query("SELECT kind FROM number_blocks WHERE number=?", (NUMBER,))
    assert [b[0] for b in blocks] == ["three-way-review"]
