"""Every page and every administrative form answers on both engines (SQLite and PostgreSQL),
over real HTTP, and each form's change lands in the facility's records."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from live_console import PASSWORDS, LiveFacility

pytestmark = pytest.mark.timeout(120)

PAGES = ["/board", "/calls", "/calls?unit=A-1&threeway=no&since=2026-01-01&until=2026-12-31", "/incidents",
         "/incidents?status=all&kind=toll-free", "/no-contact", "/reports/day", "/reports/day?date=2026-01-01",
         "/admin", "/admin/blocks", "/admin/inmates", "/admin/inmates/2001", "/admin/accounts",
         "/admin/accounts/3145550199?month=2026-01", "/admin/staff", "/audit", "/audit?who=admin1"]


@pytest.fixture
def facility(tmp_path, db_url):
    live = LiveFacility(tmp_path, db_url, [{"name": "A-1-phone-1", "kind": "phone", "unit": "A-1",
                                            "keypad": "mock://", "audio": "loopback://a1", "far_end": "robot://accept"}])
    live.platform.ledger.request_number("2001", "3145550142")
    yield live.start()
    live.close()


def flash(response: httpx.Response) -> str:
    match = re.search(r'<p class="flash ([a-z]+)"[^>]*>([^<]*)</p>', response.text)
    return f"{match.group(1)}: {html.unescape(match.group(2))}" if match else ""


def test_every_page_and_form_on_both_engines(facility):
    with httpx.Client(base_url=facility.url, follow_redirects=True, timeout=30) as client:
        token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": "admin1", "password": PASSWORDS["admin1"], "login_token": token,
                                    "next": "/"})
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 200, path
            assert "admin1 (administrator)" in response.text, path
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/board").text).group(1)
        forms = [("/admin/requests", {"inmate": "2001", "number": "3145550142", "decision": "approve"},
                  "ok: 3145550142 approved for inmate 2001"),
                 ("/admin/lockdown", {"unit": "A-1", "locked": "yes", "reason": "count"}, "ok: unit A-1 locked down"),
                 ("/admin/blocks", {"number": "8165550199", "kind": "facility", "note": "victim's request"},
                  "ok: 8165550199 blocked (facility)"),
                 ("/no-contact", {"inmate": "2002", "number": "5735550100", "note": "the family asked"},
                  "ok: inmate 2002 may no longer call 5735550100"),
                 ("/admin/inmates/2003/status", {"status": "segregation", "unit": "SEG-1"},
                  "ok: inmate 2003: segregation, unit SEG-1"),
                 ("/admin/staff", {"username": "zed", "role": "investigator"}, "ok: zed (investigator) added"),
                 ("/admin/staff/zed", {"action": "disable"}, "ok: zed disabled"),
                 ("/admin/blocks/lift", {"number": "8165550111", "kind": "keypad"}, "error: block kind: expected one of"),
                 ("/no-contact", {"inmate": "9999", "number": "5735550100", "note": "x"},
                  "error: inmate '9999': no such inmate")]
        for path, data, said in forms:
            came_from = {"/admin/blocks/lift": "/admin/blocks", "/admin/staff/zed": "/admin/staff"}.get(path, path)
            response = client.post(path, data={**data, "csrf": csrf}, headers={"referer": facility.url + came_from})
            assert response.status_code == 200 and flash(response).startswith(said), (path, flash(response))
    ledger, sites = facility.platform.ledger, facility.platform.sites
    assert ledger.is_approved("2001", "3145550142")
    assert sites.unit("jccc", "A-1").locked_down
    assert [b.kind for b in ledger.blocks_of("8165550199")] == ["facility"]
    assert [b.kind for b in ledger.blocks_of("8165550111")] == ["keypad"]          # the party's own: untouched
    assert ledger.inmate("2003").status == "segregation" and ledger.inmate("2003").housing_unit == "SEG-1"
    assert facility.platform_audit()[0].action == "staff-disable"
