"""Fixtures shared by the facility tests."""

from __future__ import annotations

import pytest

from phonesim.config import load_config
from phonesim.facility.ledger import Ledger


@pytest.fixture(scope="session")
def demo_db_file(tmp_path_factory):
    """A database with the demo data, seeded once (scrypt PIN hashing is slow on purpose).

    Copy it before writing to it: it is shared by every test of the session.
    """
    path = tmp_path_factory.mktemp("demo-db") / "demo.sqlite3"
    cfg = load_config(search=False)
    with Ledger.open(path, cfg=cfg) as led:
        led.seed_demo(cfg)
    return path
