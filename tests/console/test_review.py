"""The three-way review queue in a real browser, on SQLite and PostgreSQL.

Three inmates call one number through the platform with the shipped profile
(``block_after_confirmed = 3``, confirmed detections disconnect); each time the robot called
party hook-flashes, the line's detector confirms it and the call ends.  The third call's
record blocks the number.  An administrator finds it from the board's badge, listens to a
call at the detection's marker, and decides; an officer may not; a second, stale page's
decision is refused; a privileged number is never shown in clear, not even in the page's source.
"""

from __future__ import annotations

import re
import time

import pytest
from live_console import LiveFacility, login, phone, shot
from playwright.sync_api import expect

from phonesim.config import load_config
from phonesim.exc import NotFound
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger
from phonesim.facility.oversight import Oversight

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

NUMBER = "5735552000"                  # the first demo caller's prepaid number; all three call it
CALLERS = [("2001", "5000"), ("2002", "5001"), ("2003", "5002")]
ATTORNEY = "5735550177"                # blocked by the escalation, then registered as privileged


@pytest.fixture
def facility(tmp_path, db_url):
    # the calls start 3 s apart: their records close one after the other
    live = LiveFacility(tmp_path, db_url, [
        phone(f"A-1-phone-{k + 1}", "A-1", f"{pin}#,,3,,{NUMBER}#", pause=8 + 30 * k,
              robot="&threeway=flash&threeway_after_s=2")
        for k, (_, pin) in enumerate(CALLERS)])
    yield live.start()
    live.close()


def wait_until(predicate, timeout_s: float, what: str):
    """Poll ``predicate`` (the facility's records) until it is true; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
    return value


def blocked_by_escalation(cdrs, number: str, inmate_id: str, terminal: str) -> None:
    """Three closed calls to ``number`` whose timelines have a confirmed detection, as the flow logs
    them (the escalation counts the records, whoever wrote them)."""
    now = time.time() - 600
    for k in range(3):
        cid = cdrs.open_call(terminal=terminal, inmate_id=inmate_id, offhook_s=now + k * 60)
        cdrs.update(cid, number=number, answered_s=now + k * 60 + 5, accepted_s=now + k * 60 + 8)
        cdrs.add_event(cid, now + k * 60 + 20, "three-way",
                       {"kind": "hook-flash", "confidence": 0.93, "level": "confirmed", "action": "disconnect"})
        cdrs.close_call(cid, disposition="three-way-detected", ended_s=now + k * 60 + 21)


def test_a_number_blocked_after_three_way_calls_is_reviewed_and_decided(browser, facility):
    ledger = facility.platform.ledger
    block = wait_until(lambda: ledger.blocks_of(NUMBER), 180, "the escalation's block")
    assert [b.kind for b in block] == ["three-way-review"] and block[0].note.startswith("3 calls")
    dialect = ledger.db.dialect

    # the administrator's board says one number waits; the badge leads to the queue
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/board")
    expect(admin.locator("#review-badge")).to_have_text("1 to review")
    admin.click("#review-badge")
    expect(admin).to_have_url(re.compile(r"/review$"))
    expect(admin.locator("nav a.here")).to_have_text("Three-way review")
    item = admin.locator("section.review")
    expect(item).to_have_count(1)
    expect(item.locator(".number")).to_have_text("573-555-2000")
    expect(item.locator(".note")).to_contain_text("3 calls with a confirmed three-way detection within 30 days")
    for inmate_id, _ in CALLERS:
        row = item.locator(f'table.inmates tr[data-inmate="{inmate_id}"]')
        expect(row.locator("td").nth(1)).to_have_text(f"Demo Caller {int(inmate_id) - 2000}")
        expect(row.locator("td").nth(2)).to_have_text("1")
    calls = item.locator("table.calls tbody tr")
    expect(calls).to_have_count(3)
    links = item.locator("a.detection")
    expect(links).to_have_count(3)
    call_ids = {int(c.get_attribute("data-call")) for c in calls.all()}
    assert call_ids == {i.call_id for i in Oversight(ledger.db).incidents(kind="three-way")}
    shot(admin, f"review-{dialect}")

    # a detection's link opens its call at the marker: the marker is pointed at, the player cued there
    href = links.first.get_attribute("href")
    match = re.fullmatch(r"/calls/(\d+)#t=([0-9.]+)", href)
    assert match, href
    call_id, t_s = int(match.group(1)), float(match.group(2))
    cdr = facility.platform.cdrs.get(call_id)
    (detection,) = [e for e in cdr.events if e.kind == "three-way"]
    assert detection.detail["level"] == "confirmed" and cdr.disposition == "three-way-detected"
    assert t_s == round(detection.at_s - cdr.accepted_s, 3) and 1.5 < t_s < 15
    links.first.click()
    expect(admin.locator("#wave")).to_have_attribute("data-state", "ready")
    cued = admin.locator("button.marker.here")
    expect(cued.first).to_have_attribute("data-kind", "three-way")
    assert abs(float(cued.first.get_attribute("data-t")) - t_s) < 0.01
    expect(cued.first).to_be_focused()
    admin.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {t_s}) < 0.05")
    shot(admin, f"review-call-at-marker-{dialect}")

    # an officer works incidents but decides no blocks: no link, no badge, no page, no decision
    officer = login(browser, facility.url, "officer1")
    expect(officer.locator("nav")).not_to_contain_text("Three-way review")
    expect(officer.locator("#review-badge")).to_have_count(0)
    assert officer.goto(facility.url + "/review").status == 403
    officer.goto(facility.url + "/incidents")
    csrf = officer.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = officer.request.post(facility.url + "/review/decide", form={
        "csrf": csrf, "item": "x", "decision": "lift", "note": "looks fine"})
    assert refused.status == 403

    # a decision needs a note; a second administrator's page goes stale when the first decides
    admin.goto(facility.url + "/review")
    other = login(browser, facility.url, "admin1")
    other.goto(facility.url + "/review")
    # each session names the row by its own key: another session's key (or a made-up one) decides nothing
    key, other_key = (p.locator("section.review").get_attribute("data-item") for p in (admin, other))
    assert key != other_key and NUMBER not in key
    csrf = admin.locator('meta[name="csrf-token"]').get_attribute("content")
    for forged in (other_key, NUMBER):
        response = admin.request.post(facility.url + "/review/decide", form={
            "csrf": csrf, "item": forged, "decision": "lift", "note": "forged"},
            headers={"referer": facility.url + "/review"})
        assert response.ok and "expected a number still in the queue" in response.text()
    assert [b.kind for b in ledger.blocks_of(NUMBER)] == ["three-way-review"]
    admin.locator("section.review input[name=note]").fill("   ")
    admin.evaluate("() => document.querySelector('section.review input[name=note]').required = false")
    admin.locator("section.review button[value=uphold]").click()
    expect(admin.locator("p.flash.error")).to_contain_text("note: expected 1 to 500 printable characters")
    assert [b.kind for b in ledger.blocks_of(NUMBER)] == ["three-way-review"]
    admin.locator("section.review input[name=note]").fill("a third voice on all three recordings")
    admin.locator("section.review button[value=uphold]").click()
    expect(admin.locator("p.flash.ok")).to_have_text("573-555-2000: stays blocked (facility block); "
                                                    "3 incident(s) closed")
    expect(admin.locator("#review-empty")).to_be_visible()
    other.locator("section.review input[name=note]").fill("call waiting")
    other.locator("section.review button[value=lift]").click()
    expect(other.locator("p.flash.error")).to_contain_text("expected a number still in the queue")

    (kept,) = ledger.blocks_of(NUMBER)
    assert kept.kind == "facility" and kept.by == "admin1" and "a third voice on all three recordings" in kept.note
    closed = Oversight(ledger.db).incidents(status=None, kind="three-way")
    assert {(i.status, i.outcome, i.closed_by) for i in closed} == {
        ("closed", "upheld: a third voice on all three recordings", "admin1")}
    decisions = [e for e in facility.platform_audit() if e.action == "three-way-review"]
    assert [(e.who, e.role, e.target, e.detail["decision"]) for e in decisions] == [
        ("admin1", "administrator", NUMBER, "uphold")]
    assert sorted(decisions[0].detail["incidents"]) == sorted(i.id for i in closed)
    admin.goto(facility.url + "/board")
    expect(admin.locator("#stream-state")).not_to_have_text("connecting…")
    expect(admin.locator("#review-badge")).to_have_count(0)

    # a number registered as an attorney's after its block: never in clear, still decided by its key
    blocked_by_escalation(facility.platform.cdrs, ATTORNEY, "2004", "A-1-phone-1")
    assert [b.kind for b in ledger.blocks_of(ATTORNEY)] == ["three-way-review"]
    ledger.set_privileged(ATTORNEY, name="Counsel")
    admin.goto(facility.url + "/review")
    expect(admin.locator("section.review .number")).to_have_text("privileged")
    source = admin.content()
    for shown in ("5735550177", "573-555-0177", "(573) 555-0177", "555-0177"):
        assert shown not in source, shown
    admin.locator("section.review input[name=note]").fill("a conference bridge of the public defender")
    admin.locator("section.review button[value=lift]").click()
    expect(admin.locator("p.flash.ok")).to_have_text("a privileged number: block lifted; 3 incident(s) closed")
    assert ledger.blocks_of(ATTORNEY) == []
    assert "555-0177" not in admin.content() and "5735550177" not in admin.content()


@pytest.mark.timeout(60)
def test_of_two_officers_deciding_at_once_the_second_changes_nothing(db_url):
    """The second officer's page was read before the first decided: the decision is refused,
    the first's block stands and the audit log has one decision."""
    cfg = load_config(None, search=False)
    with Ledger.open(db_url, cfg=cfg) as ledger:
        ledger.seed_demo(cfg)
        blocked_by_escalation(CdrStore(ledger), NUMBER, "1001", "t1")
        first, second = Oversight(ledger.db), Oversight(ledger.db)
        stale = second.review_queue()
        assert [i.number for i in stale] == [NUMBER]
        first.decide_review(NUMBER, uphold=True, note="a third voice", by="lt-1", role="administrator")
        second.review_queue = lambda: stale            # what the second officer's page showed
        with pytest.raises(NotFound, match="not in the three-way review queue"):
            second.decide_review(NUMBER, uphold=False, note="call waiting", by="sgt-2", role="administrator")
        assert [(b.kind, b.by) for b in ledger.blocks_of(NUMBER)] == [("facility", "lt-1")]
        assert {i.outcome for i in first.incidents(status=None, kind="three-way")} == {"upheld: a third voice"}
        assert [(e.who, e.detail["decision"]) for e in first.audit_log() if e.action == "three-way-review"] == [
            ("lt-1", "uphold")]
