"""A real call, followed in a real browser: on the board, listened to, cut off, found, played back
and exported — on SQLite and on PostgreSQL.

The call is placed through the platform: a scripted keypad keys the PIN, the call type and
the number as DTMF audio, a robot called party answers and accepts, the warning message is
injected, everything is recorded.  The officer's page must receive the call's own audio
(compared sample for sample with the recording, and the warning message found in it by
correlation with the prompt), and Web Audio must play exactly what arrived.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile

import numpy as np
import pytest
from live_console import WARNING_AFTER_S, LiveFacility, login, phone, shot
from playwright.sync_api import expect

from phonesim.facility.prompts import PromptSet
from phonesim.hw.audio_file import WavReader

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

TERMINAL = "A-1-phone-1"
INMATE, NUMBER = "2001", "5735552000"          # the demo facility's first caller (PIN 5000)


@pytest.fixture
def facility(tmp_path, db_url):
    live = LiveFacility(tmp_path, db_url, [
        phone(TERMINAL, "A-1", f"5000#,,3,,{NUMBER}#"),
        # a second phone, idle all along: the board shows every line
        {"name": "B-2-phone-2", "kind": "phone", "unit": "B-2", "keypad": "mock://", "audio": "loopback://b2",
         "far_end": "robot://accept"},
    ])
    yield live.start()
    live.close()


def recording_channels(path) -> np.ndarray:
    with WavReader(path) as reader:
        assert reader.channels == 2 and reader.rate_hz == 8000
        return np.concatenate(list(reader.blocks())).astype(np.int64)


def best_correlation(signal: np.ndarray, template: np.ndarray) -> tuple[float, int]:
    """The highest normalised correlation of ``template`` anywhere in ``signal``, and where."""
    t = template.astype(np.float64)
    t = (t - t.mean()) / (np.linalg.norm(t - t.mean()) or 1.0)
    best, at = -1.0, -1
    for start in range(0, len(signal) - len(t) + 1, 20):
        w = signal[start:start + len(t)].astype(np.float64)
        w = w - w.mean()
        norm = np.linalg.norm(w)
        if norm:
            c = float(np.dot(w, t) / norm)
            if c > best:
                best, at = c, start
    return best, at


def test_a_call_on_the_board_listened_to_cut_off_found_played_and_exported(browser, facility):
    officer = login(browser, facility.url, "officer1")
    expect(officer).to_have_url(re.compile(r"/board$"))
    board = officer.locator("#board")
    expect(board).to_have_attribute("data-ready", "yes")
    row = officer.locator(f'#board tbody tr[data-terminal="{TERMINAL}"]')
    expect(officer.locator('#board tbody tr[data-terminal="B-2-phone-2"]')).to_be_visible()

    # the call appears: the inmate, the number, the call type, as the line logs them
    expect(row.locator("td").nth(4)).to_have_text(INMATE)
    expect(row.locator("td").nth(5)).to_have_text("573-555-2000")
    expect(row.locator("td").nth(6)).to_have_text("prepaid")

    # listen from before the call is connected: the page gets every frame of the recording
    frames = []
    officer.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    row.get_by_role("button", name="Listen").click()
    officer.wait_for_function("() => window.phonesimListen.state === 'listening'", timeout=60_000)
    expect(row.locator("td").nth(3)).to_have_text("connected")
    expect(row.locator("td").nth(9)).to_have_text("1")                         # the warning was played
    warning = PromptSet.load()["warning"]
    need = int((WARNING_AFTER_S + 1.0) * 8000) + len(warning)
    officer.wait_for_function(f"() => window.phonesimListen.receivedCount >= {need}", timeout=30_000)
    expect(row.locator("td").nth(8)).to_have_text("$0.05")                      # the first minute, charged
    shot(officer, f"board-listening-{facility.platform.ledger.db.dialect}")

    # cut it off: both parties hear the prompt, the record keeps who did it
    row.get_by_role("button", name="Cut off").click()
    officer.fill("#cut-off-reason", "training: contraband discussed")
    officer.click("#cut-off-confirm")
    expect(officer.locator("#stream-state")).to_have_text(f"cut-off of {TERMINAL} sent")
    expect(row.locator("td").nth(11)).to_have_text("cut-off")
    officer.wait_for_function("() => window.phonesimListen.state === 'ended'")
    call_id = officer.evaluate("() => window.phonesimListen.callId")
    officer.wait_for_function("() => window.phonesimListen.renderedCount >= window.phonesimListen.receivedCount")

    cdr = facility.platform.cdrs.get(call_id)
    assert cdr.disposition == "cut-off" and cdr.extra["cut_off_by"] == "officer1"
    assert cdr.inmate_id == INMATE and cdr.number == NUMBER and not cdr.privileged

    # what the page received is the recording itself, sample for sample, from its first frame
    received = np.array([officer.evaluate("() => window.phonesimListen.samples('received', 0)"),
                         officer.evaluate("() => window.phonesimListen.samples('received', 1)")]).T
    recorded = recording_channels(cdr.recording_path)
    assert len(received) >= need and len(received) % 160 == 0
    assert sum(isinstance(f, bytes) for f in frames) > 10
    assert np.array_equal(received, recorded[:len(received)])
    # ... and the warning message is in what the inmate heard, where the schedule put it
    score, at = best_correlation(received[:, 1], warning)
    assert score > 0.9, score
    assert abs(at - WARNING_AFTER_S * 8000) <= 2 * 160 + 20
    # Web Audio played exactly what arrived (silent samples aside: the graph renders silence between runs)
    for ch in (0, 1):
        rendered = np.array(officer.evaluate(f"() => window.phonesimListen.samples('rendered', {ch})"))
        got, sent = rendered[rendered != 0], received[:, ch][received[:, ch] != 0]
        assert np.array_equal(got[:len(sent)], sent)

    # the investigator finds it, plays it from the warning's marker, and exports it
    investigator = login(browser, facility.url, "investigator1")
    investigator.goto(facility.url + f"/calls?inmate={INMATE}&disposition=cut-off")
    link = investigator.locator(f'#results tr[data-call="{call_id}"] a')
    expect(link).to_have_text(str(call_id))
    shot(investigator, f"calls-search-{facility.platform.ledger.db.dialect}")
    link.click()
    expect(investigator.locator("#cut-off-by")).to_have_text("officer1")
    expect(investigator.locator("#wave")).to_have_attribute("data-state", "ready")
    marker = investigator.locator("button.marker[data-kind=warning]")
    expect(marker).to_have_count(1)
    marker_t = float(marker.get_attribute("data-t"))
    assert abs(marker_t - WARNING_AFTER_S) < 0.2
    marker.click()
    investigator.wait_for_function(f"() => document.getElementById('player').currentTime > {marker_t + 0.5}")
    assert investigator.evaluate("() => document.getElementById('player').error") is None
    shot(investigator, f"call-page-{facility.platform.ledger.db.dialect}")

    with investigator.expect_download() as download_info:
        investigator.click("#export")
    package = download_info.value.path()
    with zipfile.ZipFile(package) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["call_id"] == call_id and manifest["exported_by"] == "investigator1"
        names = {f["name"] for f in manifest["files"]}
        assert names == {f"call-{call_id}.wav", f"call-{call_id}-cdr.json"}
        for f in manifest["files"]:
            data = z.read(f["name"])
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
        assert z.read(f"call-{call_id}.wav") == open(cdr.recording_path, "rb").read()
        exported = json.loads(z.read(f"call-{call_id}-cdr.json"))
        assert exported["disposition"] == "cut-off" and any(e["kind"] == "warning" for e in exported["events"])

    # the cut-off is an incident; the officer reviews it with its evidence and closes it
    officer.goto(facility.url + "/incidents")
    officer.locator("#incidents tr", has_text="cut-off").first.locator("a").first.click()
    expect(officer.locator("#evidence")).to_contain_text(f"call {call_id}")
    officer.fill("input[name=outcome]", "conduct report written")
    officer.click("#close-incident")
    expect(officer.locator("#incident-status")).to_have_text("closed")

    # every action is in the audit log, which the administrator sees
    actions = [(e.who, e.action) for e in facility.platform_audit()]
    for expected in [("officer1", "listened"), ("officer1", "cut-off"), ("investigator1", "exported"),
                     ("officer1", "closed-incident"), ("officer1", "listen-ended")]:
        assert expected in actions
    admin = login(browser, facility.url, "admin1")
    admin.goto(facility.url + "/audit")
    expect(admin.locator("#audit tbody tr", has_text="exported")).to_have_count(1)
    shot(admin, f"audit-{facility.platform.ledger.db.dialect}")
