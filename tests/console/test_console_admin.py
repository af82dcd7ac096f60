"""Administration, no-contact orders and the day's report, done in a real browser and checked in
the facility's records (and, for a no-contact order, by calls placed through the platform)."""

from __future__ import annotations

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

import pytest
from live_console import TEST_OVERRIDES, LiveFacility, login, phone, shot
from playwright.sync_api import expect

from phonesim.clock import VirtualClock
from phonesim.config import load_config
from phonesim.terminals.facility_host import FacilityHost

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def facility(tmp_path_factory):
    root = tmp_path_factory.mktemp("admin")
    live = LiveFacility(root, f"sqlite:///{root / 'facility.sqlite3'}", [
        {"name": "A-1-phone-1", "kind": "phone", "unit": "A-1", "keypad": "mock://", "audio": "loopback://a1",
         "far_end": "robot://accept"}]).start()
    live.platform.ledger.request_number("2001", "3145550142")           # as the kiosk does
    live.platform.sites.add_facility("ercc", "Eastern Reception, Diagnostic and Correctional Center", state="MO",
                                     timezone="America/Chicago", profile="missouri-doc")
    yield live
    live.close()


def flash(page) -> str:
    text = page.locator("p.flash").inner_text()
    return text


def test_number_requests_are_approved_in_the_browser(browser, facility):
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/admin")
    row = admin.locator("#requests tr", has_text="314-555-0142")
    shot(admin, "admin")
    row.get_by_role("button", name="Approve").click()
    expect(admin.locator("p.flash")).to_contain_text("approved for inmate 2001")
    expect(admin.locator("#requests tr", has_text="314-555-0142")).to_have_count(0)
    assert facility.platform.ledger.is_approved("2001", "3145550142")


def test_a_facility_block_is_kept_apart_from_the_called_partys_own(browser, facility):
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/admin/blocks")
    form = admin.locator("#add-block")
    form.locator("input[name=number]").fill("816-555-0111")          # the called party blocked it too
    form.locator("input[name=note]").fill("victim's request, case 26-114")
    form.get_by_role("button", name="Block").click()
    expect(admin.locator("#staff-blocks tr", has_text="victim's request, case 26-114")).to_have_count(1)
    expect(admin.locator("#party-blocks tr", has_text="816-555-0111")).to_have_count(1)
    shot(admin, "blocks")
    assert [b.kind for b in facility.platform.ledger.blocks_of("8165550111")] == ["keypad", "facility"]
    admin.locator("#staff-blocks tr", has_text="816-555-0111").get_by_role("button", name="Lift").click()
    expect(admin.locator("#staff-blocks tr", has_text="816-555-0111")).to_have_count(0)
    assert [b.kind for b in facility.platform.ledger.blocks_of("8165550111")] == ["keypad"]
    # a note is required: the form is refused without one, naming what was expected
    response = admin.request.post(facility.url + "/admin/blocks", form={
        "csrf": admin.locator('meta[name="csrf-token"]').get_attribute("content"), "number": "8165550199",
        "note": " ", "kind": "facility"}, headers={"referer": facility.url + "/admin/blocks"})
    assert response.ok and "note: expected 1 to 500 printable characters" in response.text()
    assert not facility.platform.ledger.is_blocked("8165550199")


def test_an_inmate_is_restricted_moved_transferred_and_gets_a_new_pin(browser, facility):
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/admin/inmates")
    admin.locator("#inmates a", has_text="2002").click()
    admin.select_option("select[name=status]", "restricted")
    admin.locator("form[action$='/status'] input[name=unit]").fill("SEG-1")
    admin.locator("form[action$='/status'] button").click()
    expect(admin.locator("#status")).to_have_text("restricted")
    expect(admin.locator("#unit")).to_have_text("SEG-1")
    admin.click("#reset-pin")
    expect(admin.locator("p.flash")).to_contain_text("new PIN")
    pin = re.search(r"new PIN (\d+)", flash(admin)).group(1)
    shot(admin, "inmate")
    assert facility.platform.ledger.authenticate(pin).inmate.id == "2002"
    assert facility.platform.ledger.inmate("2002").status == "restricted"
    admin.goto(facility.url + "/admin/inmates/2004")
    admin.select_option("select[name=facility]", "ercc")
    admin.locator("form[action$='/transfer'] input[name=unit]").fill("R-7")
    admin.locator("form[action$='/transfer'] button").click()
    expect(admin.locator("p.flash")).to_contain_text("transferred to ercc R-7")
    assert facility.platform.ledger.inmate("2004").facility_id == "ercc"
    actions = [e.action for e in facility.platform_audit()]
    assert {"inmate-status", "pin-reset", "inmate-transferred"} <= set(actions)


def test_a_unit_is_locked_down_and_lifted(browser, facility):
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/admin")
    row = admin.locator("#units tr", has_text="A-1")
    row.locator("input[name=reason]").fill("count")
    row.get_by_role("button", name="Lock down").click()
    expect(admin.locator("#units tr", has_text="A-1")).to_contain_text("locked down: count (admin1)")
    assert facility.platform.sites.unit("jccc", "A-1").locked_down
    admin.locator("#units tr", has_text="A-1").get_by_role("button", name="Lift the lockdown").click()
    expect(admin.locator("#units tr", has_text="A-1")).to_contain_text("open")
    assert not facility.platform.sites.unit("jccc", "A-1").locked_down


def test_accounts_and_a_statement(browser, facility):
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/admin/accounts")
    expect(admin.locator("#prepaid tr", has_text="573-555-0100")).to_contain_text("$25.00")
    shot(admin, "accounts")
    admin.locator("#direct-bill a", has_text="statement").first.click()
    expect(admin.locator("h1")).to_contain_text("314-555-0199")


def test_a_staff_account_is_added_and_its_password_works(browser, facility):
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/admin/staff")
    admin.fill("#add-staff input[name=username]", "officer9")
    admin.select_option("#add-staff select[name=role]", "officer")
    admin.click("#add-staff button")
    expect(admin.locator("p.flash")).to_contain_text("officer9 (officer) added")
    password = re.search(r"password (\S+) \(shown once\)", flash(admin)).group(1)
    shot(admin, "staff")
    page = browser.new_context().new_page()
    page.goto(facility.url + "/login")
    page.fill("input[name=username]", "officer9")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_have_text("officer9 (officer)")
    page.context.close()


def test_a_no_contact_order_refuses_that_inmate_only_and_lists_its_violations(browser, facility, tmp_path):
    investigator = login(browser, facility.url, "investigator1")
    investigator.goto(facility.url + "/no-contact")
    form = investigator.locator("#add-order")
    form.locator("input[name=inmate]").fill("2003")
    form.locator("input[name=number]").fill("573-555-2002")
    form.locator("input[name=note]").fill("the family asked the calls to stop")
    form.get_by_role("button", name="Add the order").click()
    expect(investigator.locator("p.flash")).to_contain_text("inmate 2003 may no longer call 5735552002")

    # two calls to that number through the platform (virtual time): inmate 2003's is refused,
    # inmate 2001's goes through
    cfg = load_config(None, search=False, overrides=TEST_OVERRIDES)
    host = FacilityHost(cfg, facility.platform, realtime=False, recordings_dir=tmp_path,
                        clock=VirtualClock(epoch_s=time.time()), terminals=[
        phone("C-3-phone-1", "C-3", "5002#,,3,,5735552002#", talk_s=3),
        phone("C-3-phone-2", "C-3", "5000#,,3,,5735552002#", talk_s=3)])
    host.run(max_s=40)
    calls = {c.terminal: c for c in facility.platform.cdrs.list(terminals=["C-3-phone-1", "C-3-phone-2"])}
    assert calls["C-3-phone-1"].disposition == "no-contact-order"
    assert calls["C-3-phone-2"].disposition == "completed"

    investigator.goto(facility.url + "/no-contact")
    row = investigator.locator("#orders tr", has_text="573-555-2002")
    expect(row.locator("td").nth(5)).to_contain_text("1")
    shot(investigator, "no-contact")
    row.locator("a").first.click()
    expect(investigator.locator("h1")).to_contain_text("no-contact")
    expect(investigator.locator("#evidence")).to_contain_text(f"call {calls['C-3-phone-1'].call_id}")

    # the search: by unit, number, date range, disposition and three-way, each narrowing what is found
    today = dt.datetime.now(ZoneInfo(facility.cfg.facility.timezone)).date().isoformat()   # the facility's day
    refused, connected = calls["C-3-phone-1"].call_id, calls["C-3-phone-2"].call_id
    for query, expected in [(f"unit=C-3&since={today}&until={today}", {refused, connected}),
                            ("unit=C-3&number=(573) 555-2002&threeway=no", {refused, connected}),
                            ("unit=C-3&disposition=no-contact-order", {refused}),
                            ("unit=C-3&inmate=2001", {connected}),
                            ("unit=C-3&threeway=yes", set()),
                            ("unit=A-1", set()),
                            ("unit=C-3&since=2001-01-01&until=2001-01-31", set())]:
        investigator.goto(facility.url + "/calls?" + query)
        found = {int(r) for r in investigator.locator("#results tr[data-call]").evaluate_all(
            "rows => rows.map(r => r.dataset.call)")}
        assert found == expected, query
    investigator.goto(facility.url + "/calls?since=yesterday")
    expect(investigator.locator("#search-error")).to_have_text("from: expected a date YYYY-MM-DD, got 'yesterday'")

    # the day's report: calls per unit and what they cost
    investigator.goto(facility.url + "/reports/day")
    expect(investigator.locator("#report tr", has_text="C-3")).to_contain_text("2")
    total = sum(c.amount_cents for c in facility.platform.cdrs.list())
    expect(investigator.locator("#total-cost")).to_have_text(f"${total // 100}.{total % 100:02d}")
    assert total > 0
    shot(investigator, "day-report")


def test_toll_free_attempts_and_three_way_calls_become_incidents_with_their_evidence(browser, facility, tmp_path):
    cfg = load_config(None, search=False, overrides=TEST_OVERRIDES)
    host = FacilityHost(cfg, facility.platform, realtime=False, recordings_dir=facility.recordings,
                        clock=VirtualClock(epoch_s=time.time()), terminals=[
                            phone("D-4-phone-1", "D-4", "5000#,,3,,8005551212#"),
                            phone("D-4-phone-2", "D-4", "5002#,,3,,5735552000#", talk_s=30,
                                  robot="&threeway=full&threeway_after_s=3")])
    host.run(max_s=60)
    calls = {c.terminal: c for c in facility.platform.cdrs.list(terminals=["D-4-phone-1", "D-4-phone-2"])}
    toll_free, threeway = calls["D-4-phone-1"], calls["D-4-phone-2"]
    assert toll_free.disposition == "toll-free-attempt"
    assert threeway.threeway and threeway.disposition == "three-way-detected"

    officer = login(browser, facility.url, "officer1")
    officer.goto(facility.url + "/incidents")
    for kind, call in (("toll-free", toll_free), ("three-way", threeway)):
        expect(officer.locator("#incidents tr", has=officer.locator(f'a[href="/calls/{call.call_id}"]'))
               ).to_contain_text(kind)
    shot(officer, "incidents")
    # the officer reviews the three-way call's evidence: its recording, with the detection marked
    officer.locator("#incidents tr", has_text="three-way").locator("a").first.click()
    officer.click("#evidence")
    expect(officer.locator("#wave")).to_have_attribute("data-state", "ready")
    marker = officer.locator("button.marker[data-kind=three-way]").first
    expect(marker).to_be_visible()
    assert float(marker.get_attribute("data-t")) >= 3.0 - 0.5
    expect(officer.locator("#export")).to_have_count(0)                          # evidence, not export
    # a call without an incident is not an officer's to see
    plain = next(c for c in facility.platform.cdrs.list() if c.disposition == "completed")
    assert officer.goto(facility.url + f"/calls/{plain.call_id}").status == 403
