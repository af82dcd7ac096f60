"""What the console's tests share: a real facility (platform, lines, robots) with its console,
signing in with Debian's Chromium, and screenshots.

:class:`LiveFacility` runs a facility in this process in real time — its terminals on a
:class:`~phonesim.terminals.facility_host.FacilityHost` thread, scripted keypads, robot
called parties — with the console served from the same process (so it can listen), bound
to 127.0.0.1 on a free port.  Screenshots go to ``tests/console/screenshots/`` (git-ignored)
for a reviewer to look at.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path

from phonesim.commands.facility import DEMO_OVERRIDES, seed_demo_facility
from phonesim.config import load_config

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
#: The test accounts (their passwords are the tests' own; the demo's are random).
PASSWORDS = {"officer1": "officer-password-1", "investigator1": "investigator-password-1",
             "admin1": "administrator-password-1"}
ROLES = {"officer1": "officer", "investigator1": "investigator", "admin1": "administrator"}
#: The warning message plays this long after the call is accepted (the profile's 30 s is too slow
#: for a test), and the robot presses its key this long after answering.
WARNING_AFTER_S = 1
TEST_OVERRIDES = {**DEMO_OVERRIDES, "profile.warning.first_after_s": WARNING_AFTER_S,
                  "profile.warning.interval_s": 600}


def phone(name: str, unit: str, keys: str, *, far: str = "accept", talk_s: int = 120, pause: int = 8,
          robot: str = "") -> dict:
    """A wall phone whose caller lifts the handset after ``pause`` beats (100 ms) and keys ``keys``;
    ``robot`` adds to the called party's URL (``&threeway=full&threeway_after_s=3``)."""
    return {"name": name, "kind": "phone", "unit": unit,
            "keypad": f"script://{',' * pause}h{keys.replace('#', '%23')}?interval_ms=100&hold_ms=60",
            "audio": f"loopback://{name}",
            "far_end": f"robot://{far}?answer_after=0&key_delay_s=0.5&talk_s={talk_s}&seed=1{robot}"}


class LiveFacility:
    """A facility and its console in this process (see the module docstring)."""

    def __init__(self, root: Path, database: str, terminals: list[dict]) -> None:
        from phonesim.console.server import serve_console
        from phonesim.console.staff import StaffStore
        from phonesim.facility.platform import Platform
        from phonesim.terminals.facility_host import FacilityHost

        self.cfg = load_config(None, search=False, overrides=TEST_OVERRIDES)
        self.database = database
        self.recordings = root / "recordings"
        self.platform = Platform.open(self.cfg, database=database)
        seed_demo_facility(self.platform, 4)
        staff = StaffStore(self.platform.ledger.db)
        for username, role in ROLES.items():
            if not staff.exists(username):
                staff.add(username, role, PASSWORDS[username])
        self.host = FacilityHost(self.cfg, self.platform, terminals=terminals, realtime=True,
                                 recordings_dir=self.recordings)
        self.host.register()
        self.server = serve_console(self.cfg, database, self.recordings, host=self.host, port=0,
                                    out=io.StringIO())
        self.url = self.server.url
        self._thread = threading.Thread(target=self.host.run, kwargs={"max_s": 900}, name="test-facility",
                                        daemon=True)

    def start(self) -> LiveFacility:
        self._thread.start()
        return self

    def platform_audit(self) -> list:
        from phonesim.facility.oversight import Oversight

        return Oversight(self.platform.ledger.db).audit_log()

    def close(self) -> None:
        self.host.stop()
        self._thread.join(timeout=60)
        self.server.close()
        self.platform.close()


def shot(page, name: str) -> Path:
    """A full-page screenshot for the reviewer (tests/console/screenshots/, git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(browser, base_url: str, username: str):
    """A new browser context signed in as ``username``; returns its page."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-US", timezone_id="America/Chicago",
                                  viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_have_text(f"{username} ({ROLES[username]})")
    return page
