"""The seed's "calls may be blocked if third party calls are detected": after N calls with a
confirmed three-way detection to one number within the window, the number is blocked pending an
officer's review; the review queue (``phonesim admin review``) upholds or lifts it.

End to end: the robot hook-flashes on real loopback calls (its audio through the line's
detector), the records are a SQLite file, the officer is the admin CLI.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from phonesim.cli import main
from phonesim.clock import VirtualClock
from phonesim.commands.demo import SCENARIOS, run_scenario
from phonesim.config import load_config
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger
from phonesim.facility.oversight import Oversight

NUMBER = "5735550100"     # the prepaid scenario's number


def _flashing_call(data, *, on_confirmed="warn"):
    """A prepaid call whose called party hook-flashes (the call goes on: the profile warns)."""
    scenario = dataclasses.replace(
        SCENARIOS["prepaid"], far_end="robot://accept?talk_s=40&threeway=flash&threeway_after_s=10",
        overrides={"profile.threeway.on_confirmed": on_confirmed, "profile.threeway.block_after_confirmed": 2,
                   "profile.limits.wait_between_calls_s": 0})
    return run_scenario(scenario, data_dir=data)


@pytest.mark.timeout(300)
def test_repeated_confirmed_three_way_calls_block_the_number_until_an_officer_decides(tmp_path, capsys):
    data = tmp_path / "data"
    db = str(data / "phonesim.sqlite3")
    for _ in range(2):
        result = _flashing_call(data)
        assert result.summary()["disposition"] == "completed", result.transcript_text()
        levels = {e.detail["level"] for e in result.cdr.events if e.kind == "three-way"}
        assert "confirmed" in levels, result.transcript_text()
    # the second call's close blocked the number: the third attempt is refused before dialling
    refused = _flashing_call(data)
    assert refused.summary()["disposition"] == "not-allowed-number", refused.transcript_text()
    assert main(["admin", "--db", db, "review", "list"]) == 0
    listed = capsys.readouterr().out
    assert "(573) 555-0100" in listed or "573-555-0100" in listed, listed
    assert "2 calls with a confirmed three-way detection within 30 days" in listed
    assert listed.count("confirmed") >= 2 and "hook-flash" in listed
    # the officer listens and finds a call-waiting click, not a third party: lifted
    assert main(["admin", "--db", db, "review", "lift", NUMBER, "--note", "call waiting, not a 3-way",
                 "--by", "sgt-7"]) == 0
    assert "block lifted; 2 incident(s) closed" in capsys.readouterr().out
    with Ledger.open(db) as ledger:
        assert ledger.blocks_of(NUMBER) == []
        oversight = Oversight(ledger.db)
        closed = oversight.incidents(status="closed", kind="three-way")
        assert len(closed) == 2 and {i.outcome for i in closed} == {"lifted: call waiting, not a 3-way"}
        assert oversight.review_queue() == []
        audit = ledger.db.query("SELECT who, action, target FROM audit_log WHERE action='three-way-review'")
        assert [tuple(r) for r in audit] == [("sgt-7", "three-way-review", NUMBER)]
    assert _flashing_call(data, on_confirmed="log").summary()["disposition"] == "completed"


def _call_with(cdrs, when_s, detections):
    """A closed call to NUMBER whose timeline has ``detections`` (level, kind) as the flow logs them."""
    cid = cdrs.open_call(terminal="t1", inmate_id="1001", offhook_s=when_s)
    cdrs.update(cid, number=NUMBER, answered_s=when_s + 10)
    for level, kind in detections:
        cdrs.add_event(cid, when_s + 20, "three-way" if level != "note" else "three-way-note",
                       {"kind": kind, "confidence": 0.9, "level": level, "action": "warn"})
    cdrs.close_call(cid, disposition="completed", ended_s=when_s + 60)
    return cid


@pytest.fixture
def store(tmp_path, db_url):
    cfg = load_config(search=False, overrides={"profile.threeway.block_after_confirmed": 3,
                                               "profile.threeway.block_window_days": 30})
    with Ledger.open(db_url, clock=VirtualClock(), cfg=cfg) as ledger:
        ledger.seed_demo(cfg)
        yield ledger, CdrStore(ledger)


def test_what_counts_toward_the_block(store):
    """Calls, not detections; confirmed, not suspected; notes flag nothing; within the window."""
    ledger, cdrs = store
    day = 86400.0
    t0 = VirtualClock().epoch_s
    _call_with(cdrs, t0, [("confirmed", "hook-flash")])                         # 40 days before: out
    _call_with(cdrs, t0 + 40 * day, [("confirmed", "hook-flash"), ("confirmed", "progress-tone")])
    _call_with(cdrs, t0 + 41 * day, [("suspected", "dtmf")])
    note = _call_with(cdrs, t0 + 42 * day, [("note", "noise-drop")])
    assert not cdrs.get(note).threeway                                          # a note flags nothing
    assert ledger.blocks_of(NUMBER) == []
    _call_with(cdrs, t0 + 43 * day, [("confirmed", "ringback")])
    assert ledger.blocks_of(NUMBER) == []                                       # 2 calls in the window
    _call_with(cdrs, t0 + 44 * day, [("confirmed", "hook-flash")])
    (block,) = ledger.blocks_of(NUMBER)
    assert block.kind == "three-way-review" and block.note.startswith("3 calls")
    incidents = Oversight(ledger.db).incidents(kind="three-way")
    assert len(incidents) == 5                                                  # every flagged call
    assert sum(i.detail["confirmed"] for i in incidents) == 4


def test_an_upheld_review_keeps_the_number_blocked_for_good(store):
    ledger, cdrs = store
    t0 = VirtualClock().epoch_s
    for k in range(3):
        _call_with(cdrs, t0 + k * 3600, [("confirmed", "hook-flash")])
    oversight = Oversight(ledger.db)
    (item,) = oversight.review_queue()
    assert item.number == NUMBER and len(item.incidents) == 3
    with pytest.raises(Exception, match="expected a note"):
        oversight.decide_review(NUMBER, uphold=True, note=" ", by="lt-2")
    oversight.decide_review(NUMBER, uphold=True, note="a third party on every call", by="lt-2")
    (block,) = ledger.blocks_of(NUMBER)
    assert block.kind == "facility" and "a third party on every call" in block.note
    assert oversight.review_queue() == []
    with pytest.raises(Exception, match="not in the three-way review queue"):
        oversight.decide_review(NUMBER, uphold=False, note="again", by="lt-2")
    detail = json.loads(ledger.db.query("SELECT detail FROM audit_log WHERE action='three-way-review'")[0][0])
    assert detail["decision"] == "uphold" and len(detail["incidents"]) == 3
