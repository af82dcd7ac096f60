"""The live event table: what the console's board and ``phonesim calls --follow`` read."""

from phonesim.clock import VirtualClock
from phonesim.facility.ledger import Ledger
from phonesim.facility.live import RETAIN_S, LivePublisher


def kinds(ledger):
    return [r[0] for r in ledger.db.query("SELECT kind FROM live_events ORDER BY id")]


def test_pruning_keeps_a_virtual_time_hosts_events(tmp_path):
    # A host in virtual time stamps its events 2026-01-01 onwards; pruning them against the real
    # date once deleted a call's first events moments after they were written.
    clock = VirtualClock()
    with Ledger.open(tmp_path / "db.sqlite3") as ledger:
        publisher = LivePublisher(ledger.db, "jccc", now_s=clock.wall_time_s)
        publisher.publish("A-1", "offhook")
        clock.advance_s(30)
        publisher.publish("A-1", "phase", phase="pin")
        assert publisher.flush() == 2
        publisher._prune()
        assert kinds(ledger) == ["offhook", "phase"]


def test_pruning_drops_what_is_older_than_the_retention_before_the_newest(tmp_path):
    clock = VirtualClock()
    with Ledger.open(tmp_path / "db.sqlite3") as ledger:
        publisher = LivePublisher(ledger.db, "jccc", now_s=clock.wall_time_s)
        publisher.publish("A-1", "old")
        clock.advance_s(RETAIN_S + 60)
        publisher.publish("A-1", "new")
        publisher.flush()
        publisher._prune()
        assert kinds(ledger) == ["new"]
