"""Fixtures of the console's tests: Debian's Chromium for Playwright (see live_console.py).

Playwright is pointed at the system browser (``/usr/bin/chromium``, or ``$CHROMIUM_BIN``):
nothing is downloaded at run time.  Without the browser the tests skip locally and fail in
CI (``CI=true``), like the audio and PostgreSQL tests.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("playwright")

from live_console import CHROMIUM  # noqa: E402

# SIGTERM (a timeout, CI) becomes KeyboardInterrupt, so teardown still stops servers and lines
signal.signal(signal.SIGTERM, signal.default_int_handler)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium; make test does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--autoplay-policy=no-user-gesture-required"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US", "timezone_id": "America/Chicago",
            "viewport": {"width": 1360, "height": 900}, "accept_downloads": True}


@pytest.fixture(scope="session", autouse=True)
def _expect_timeout():
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)      # generous: the machine's two cores may be busy


