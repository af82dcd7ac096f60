"""What the console refuses, in a real browser: no page without login, each role kept to its
work, forged forms, paths outside the recordings, and any audio of a privileged call.

One facility serves the module: a privileged (attorney) call in progress on one phone, an
ordinary call that ends on another (its recording is what crafted paths try to get around).
"""

from __future__ import annotations

import re

import pytest
from live_console import LiveFacility, login, phone, shot
from playwright.sync_api import expect

pytestmark = pytest.mark.timeout(180)

ATTORNEY = "5735550123"          # privileged in the demo data


@pytest.fixture(scope="module")
def facility(tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    live = LiveFacility(root, f"sqlite:///{root / 'facility.sqlite3'}", [
        phone("A-1-phone-1", "A-1", f"5001#,,3,,{ATTORNEY}#", talk_s=300),
        phone("B-2-phone-2", "B-2", "5002#,,3,,5735552002#", talk_s=2),
    ]).start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def ended_call(browser, facility):
    """The ordinary call, once the board shows it ended (its recording is complete)."""
    officer = login(browser, facility.url, "officer1")
    row = officer.locator('#board tbody tr[data-terminal="B-2-phone-2"]')
    expect(row.locator("td").nth(11)).to_have_text("completed", timeout=90_000)
    cdr = facility.platform.cdrs.get(int(row.get_attribute("data-call")))
    officer.context.close()
    assert cdr.recording_path and not cdr.privileged
    return cdr


def anonymous(browser, facility):
    return browser.new_context().new_page()


def test_no_page_or_data_without_login(browser, facility):
    page = anonymous(browser, facility)
    for path in ["/board", "/calls", "/calls/1", "/incidents", "/no-contact", "/admin", "/admin/inmates", "/audit",
                 "/reports/day"]:
        page.goto(facility.url + path)
        expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(path) + "$"))
        expect(page.locator("input[name=password]")).to_be_visible()
    for path in ["/board/events", "/calls/1/recording.wav", "/calls/1/waveform.json"]:
        response = page.request.get(facility.url + path, max_redirects=0, headers={"accept": "*/*"})
        assert response.status in (303, 401), path
        assert b"RIFF" not in response.body()
    page.context.close()


def test_no_listening_without_login(browser, facility):
    page = anonymous(browser, facility)
    page.goto(facility.url + "/login")
    message = page.evaluate("""() => new Promise(done => {
        const ws = new WebSocket(`ws://${location.host}/ws/listen/A-1-phone-1?csrf=x`);
        ws.onmessage = e => done(e.data); ws.onclose = () => done('closed'); })""")
    assert "not signed in" in message


def test_a_wrong_password_is_refused_and_audited(browser, facility):
    page = anonymous(browser, facility)
    page.goto(facility.url + "/login")
    page.fill("input[name=username]", "officer1")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("wrong username or password")
    shot(page, "login-refused")
    assert ("officer1", "login-refused") in [(e.who, e.action) for e in facility.platform_audit()]


def test_an_officer_cannot_see_records_or_export(browser, facility, ended_call):
    page = login(browser, facility.url, "officer1")
    for path in ["/calls", f"/calls/{ended_call.call_id}", "/admin", "/audit", "/no-contact"]:
        response = page.goto(facility.url + path)
        assert response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not allowed")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post(facility.url + f"/calls/{ended_call.call_id}/export", form={"csrf": csrf})
    assert response.status == 403 and "may not" in response.json()["error"]
    response = page.request.get(facility.url + f"/calls/{ended_call.call_id}/recording.wav")
    assert response.status == 403 and b"RIFF" not in response.body()
    shot(page, "officer-refused")


def test_an_investigator_cannot_cut_off_or_listen(browser, facility):
    page = login(browser, facility.url, "investigator1")
    assert page.goto(facility.url + "/board").status == 403
    page.goto(facility.url + "/calls")
    result = page.evaluate("""async () => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch('/lines/A-1-phone-1/cut-off', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify({reason: 'x'})});
        return [r.status, (await r.json()).error]; }""")
    assert result[0] == 403 and "investigator may not" in result[1]
    message = page.evaluate("""() => new Promise(done => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const ws = new WebSocket(`ws://${location.host}/ws/listen/A-1-phone-1?csrf=${csrf}`);
        ws.onmessage = e => done(e.data); ws.onclose = () => done('closed'); })""")
    assert "investigator may not listen" in message
    assert not facility.host.oversight.pending_commands(["A-1-phone-1"])
    assert facility.platform.cdrs.list(disposition="cut-off") == []


def test_a_forged_form_is_refused(browser, facility):
    admin = login(browser, facility.url, "admin1")
    # 1. another site's page posting to the console: the SameSite cookie is not sent
    admin.goto("about:blank")
    admin.set_content(f"""<form id=f method=post action="{facility.url}/admin/lockdown">
        <input name=unit value=A-1><input name=locked value=yes><input name=reason value=forged></form>""")
    with admin.expect_navigation():
        admin.evaluate("() => document.getElementById('f').submit()")
    assert "/login" in admin.url or "not signed in" in admin.content()
    # 2. the console's own origin, signed in, but without the form's token
    admin.goto(facility.url + "/admin")
    response = admin.request.post(facility.url + "/admin/lockdown",
                                  form={"unit": "A-1", "locked": "yes", "reason": "forged"})
    assert response.status == 403 and "security token" in response.json()["error"]
    # 3. the right token from another origin
    csrf = admin.locator('meta[name="csrf-token"]').get_attribute("content")
    response = admin.request.post(facility.url + "/admin/lockdown", headers={"origin": "http://evil.example"},
                                  form={"csrf": csrf, "unit": "A-1", "locked": "yes", "reason": "forged"})
    assert response.status == 403
    # 4. a wrong token
    response = admin.request.post(facility.url + "/admin/lockdown",
                                  form={"csrf": csrf[:-2] + "xx", "unit": "A-1", "locked": "yes", "reason": "f"})
    assert response.status == 403
    assert not facility.platform.sites.unit(facility.cfg.facility.id, "A-1").locked_down


def test_a_path_outside_the_recordings_is_refused(browser, facility, ended_call):
    page = login(browser, facility.url, "investigator1")
    call = ended_call.call_id
    for crafted in ["/calls/..%2F..%2F..%2Fetc%2Fpasswd", "/calls/%2Fetc%2Fpasswd/recording.wav",
                    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/static/..%2Fapp.py", "/calls/1%2F..%2F2"]:
        response = page.request.get(facility.url + crafted)
        assert response.status == 404, crafted
        assert b"root:" not in response.body() and b"import" not in response.body()
    # a path in the query is ignored: the call's own recording comes back
    response = page.request.get(facility.url + f"/calls/{call}/recording.wav?path=/etc/passwd")
    assert response.status == 200 and response.body()[:4] == b"RIFF"
    # a record pointing outside the folder (a tampered database) is refused
    facility.platform.cdrs.update(call, recording_path="/etc/passwd")
    try:
        response = page.request.get(facility.url + f"/calls/{call}/recording.wav")
        assert response.status == 403 and b"root:" not in response.body()
        assert "not in the recordings folder" in response.json()["error"]
        # ... and so is a link inside the folder that leads out of it
        link = facility.recordings / "sneaky.wav"
        link.symlink_to("/etc/passwd")
        facility.platform.cdrs.update(call, recording_path=str(link))
        response = page.request.get(facility.url + f"/calls/{call}/recording.wav")
        assert response.status == 403 and b"root:" not in response.body()
    finally:
        facility.platform.cdrs.update(call, recording_path=ended_call.recording_path)


def test_a_privileged_call_is_never_listened_to_and_has_no_audio(browser, facility):
    officer = login(browser, facility.url, "officer1")
    row = officer.locator('#board tbody tr[data-terminal="A-1-phone-1"]')
    expect(row.locator("td").nth(3)).to_have_text("connected")
    expect(row.locator("td").nth(5)).to_have_text("privileged")
    expect(row.get_by_role("button", name="Listen")).to_have_count(0)
    expect(row.get_by_role("button", name="Cut off")).to_have_count(1)
    assert ATTORNEY not in officer.content() and "573-555-0123" not in officer.content()
    shot(officer, "board-privileged")
    message = officer.evaluate("""() => new Promise(done => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const ws = new WebSocket(`ws://${location.host}/ws/listen/A-1-phone-1?csrf=${csrf}`);
        ws.binaryType = 'arraybuffer'; let audio = 0;
        ws.onmessage = e => { if (typeof e.data !== 'string') audio++; else done([e.data, audio]); }; })""")
    assert "privileged call is never monitored" in message[0] and message[1] == 0
    line = facility.host.lines()["A-1-phone-1"]
    assert line.state.privileged and not line.state.recording
    cdr = facility.platform.cdrs.get(line.cdr_id)
    assert cdr.privileged and cdr.recording_path == ""
    investigator = login(browser, facility.url, "investigator1")
    response = investigator.request.get(facility.url + f"/calls/{cdr.call_id}/recording.wav")
    assert response.status == 403 and b"RIFF" not in response.body()
    investigator.goto(facility.url + f"/calls/{cdr.call_id}")
    expect(investigator.locator("#no-recording")).to_contain_text("privileged call is never recorded")
    assert ATTORNEY not in investigator.content() and "573-555-0123" not in investigator.content()
    assert ("officer1", "listen-refused") in [(e.who, e.action) for e in facility.platform_audit()]


def test_cutting_off_an_idle_line_is_refused_and_writes_nothing(browser, facility, ended_call):
    officer = login(browser, facility.url, "officer1")
    result = officer.evaluate("""async () => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const post = (terminal, body) => fetch(`/lines/${terminal}/cut-off`, {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body});
        const idle = await post('B-2-phone-2', JSON.stringify({reason: 'test'}));
        const unknown = await post('Z-9-phone-9', JSON.stringify({reason: 'test'}));
        const garbage = await post('B-2-phone-2', '{not json');
        return [idle.status, (await idle.json()).error, unknown.status, (await unknown.json()).error, garbage.status]; }""")
    assert result[0] == 400 and "expected a call in progress" in result[1]
    assert result[2] == 400 and "expected one of this facility's terminals, got 'Z-9-phone-9'" in result[3]
    assert result[4] == 400
    assert not facility.host.oversight.pending_commands(["B-2-phone-2", "Z-9-phone-9"])
