"""The commands that start the console, run as a user runs them: ``phonesim facility --demo --console``
prints the address and demo logins that work; ``phonesim console`` serves a database on its own and
says it cannot listen; accounts are made from the command line."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.timeout(120)


class Program:
    """A phonesim command running in the background, its output read line by line on a thread."""

    def __init__(self, *args: str, cwd) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "phonesim", *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout_s: float = 60.0) -> re.Match:
        """The first line of output matching ``pattern`` (the program's own words, not a guess at time)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                pytest.fail(f"expected a line matching {pattern!r}; the program said:\n{''.join(self.seen)}")
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"username": username, "password": password, "login_token": token,
                                       "next": "/"})


def test_the_demo_facility_prints_its_console_and_logins_that_work(tmp_path):
    program = Program("facility", "--demo", "--phones", "2", "--console", "--console-port", "0",
                      "--database", f"sqlite:///{tmp_path / 'demo.sqlite3'}", "--recordings", str(tmp_path / "rec"),
                      cwd=tmp_path)
    try:
        url = program.wait_for(r"phonesim console: (http://127\.0\.0\.1:\d+)/").group(1)
        program.wait_for(r"demo logins \(new passwords every start, shown only now\)")
        logins = {}
        for _ in range(3):
            match = program.wait_for(r"^\s+(officer|investigator|admin)\s+(\S+)$")
            logins[match.group(1)] = match.group(2)
        assert set(logins) == {"officer", "investigator", "admin"}
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
            assert sign_in(client, "officer", "not-it").status_code == 401
            landed = sign_in(client, "officer", logins["officer"])
            assert landed.status_code == 200 and landed.url.path == "/board"
            assert "officer (officer)" in landed.text and "runs apart from the platform" not in landed.text
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
            assert sign_in(client, "admin", logins["admin"]).url.path == "/board"
            assert client.get("/admin/staff").status_code == 200
    finally:
        code = program.stop()
    assert code == 0


def test_a_console_on_its_own_serves_the_records_and_says_it_cannot_listen(tmp_path):
    from phonesim.config import load_config
    from phonesim.facility.platform import Platform

    database = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    with Platform.open(load_config(None, search=False), database=database) as platform:
        platform.ledger.seed_demo(platform.cfg)
    added = subprocess.run([sys.executable, "-m", "phonesim", "console", "--database", database, "--add-staff",
                            "olga", "--role", "officer"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    password = re.search(r"olga \(officer\) added; password: (\S+)", added.stdout).group(1)
    refused = subprocess.run([sys.executable, "-m", "phonesim", "console", "--database", database, "--add-staff",
                              "Olga!", "--role", "officer"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert refused.returncode == 1 and "username: expected" in refused.stderr and "'Olga!'" in refused.stderr

    program = Program("console", "--database", database, "--port", "0", "--recordings", str(tmp_path), cwd=tmp_path)
    try:
        match = program.wait_for(r"phonesim console: (http://127\.0\.0\.1:\d+)/")
        assert "listening only to lines of its own process: none here" in match.string
        with httpx.Client(base_url=match.group(1), timeout=30, follow_redirects=True) as client:
            board = sign_in(client, "olga", password)
            assert board.url.path == "/board" and "runs apart from the platform" in board.text
            assert client.get("/calls").status_code == 403                      # an officer: no records
    finally:
        assert program.stop() == 0
