"""Fixtures for the terminal tests: a private tmux server to type into programs like a person.

Each test gets its own tmux server (``tmux -L <unique socket>``), so nothing
leaks between tests or into a developer's own tmux.  At the end the program in
the pane is stopped by its PID and the server is killed by its socket name.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def phonesim_env(**extra: str) -> dict[str, str]:
    """Environment for a ``python -m phonesim`` child: this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Tmux:
    """One tmux session on a private server, with a deadline-polled screen."""

    def __init__(self, tmux: str, socket: str, name: str) -> None:
        self.tmux = tmux
        self.socket = socket
        self.name = name
        self.pane_pid: int | None = None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([self.tmux, "-u", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=10, check=check)

    def start(self, argv: list[str], *, cwd: Path, env: dict[str, str] | None = None,
              width: int = 160, height: int = 50) -> None:
        """Start ``argv`` in a new detached session; it stays open after the program exits."""
        env = phonesim_env() if env is None else env
        command = " ".join(_quote(a) for a in argv)
        env_args = [f"{k}={v}" for k, v in env.items() if k in ("PYTHONPATH", "PYTHONUNBUFFERED",
                                                                  "PULSE_SERVER", "PHONESIM_CONFIG")]
        self._run("-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", str(width),
                  "-y", str(height), "-c", str(cwd),
                  "env", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", *env_args, "bash", "-c", f"{command}; echo \"[exit $?]\"; sleep 600")
        self.pane_pid = int(self._run("display-message", "-p", "-t", self.name,
                                      "#{pane_pid}").stdout.strip())

    def send(self, text: str) -> None:
        """Type ``text`` literally (no key names)."""
        self._run("send-keys", "-t", self.name, "-l", text)

    def key(self, name: str) -> None:
        """Press one named key (``Enter``, ``C-c``)."""
        self._run("send-keys", "-t", self.name, name)

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-J", "-S", "-200", "-t", self.name).stdout

    def wait_for(self, text: str, *, timeout_s: float = 20.0, after: int = 0) -> str:
        """Poll the pane until ``text`` appears (at or after character ``after``); return the screen."""
        deadline = time.monotonic() + timeout_s
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen[after:]:
                return screen
            time.sleep(0.05)  # a polling interval, not a synchronisation
        raise AssertionError(f"{text!r} did not appear within {timeout_s} s; the pane shows:\n{screen}")

    def program_pids(self) -> list[int]:
        """PIDs of the pane's children (the program under test; the shell is the pane)."""
        if self.pane_pid is None:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pane_pid)],
                             capture_output=True, text=True, timeout=10).stdout
        return [int(p) for p in out.split()]

    def close(self) -> None:
        for pid in self.program_pids():
            _kill(pid)
        if self.pane_pid is not None:
            _kill(self.pane_pid)
        self._run("kill-server", check=False)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@pytest.fixture
def tmux():
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tmux is missing (Debian package 'tmux', in the Makefile's TEST_DEBS)")
        pytest.skip("tmux is missing")
    tag = uuid.uuid4().hex[:8]
    session = Tmux(path, f"phonesim-test-{tag}", f"t{tag}")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def python() -> str:
    return sys.executable


#: A facility whose phones are open around the clock (tests run at any hour).
TEST_CONFIG = """\
[paths]
database = "data/phonesim.sqlite3"
recordings = "data/recordings"

[profile.hours]
windows = ["00:00-24:00"]
"""


@pytest.fixture
def site(tmp_path) -> Path:
    """A folder with a ``phonesim.toml`` (database and recordings inside it)."""
    (tmp_path / "phonesim.toml").write_text(TEST_CONFIG)
    return tmp_path


class PhoneProcess:
    """``python -m phonesim phone ... --json-events`` as a child; its events read by a named thread.

    With another ``command`` (``("kiosk",)``) stdout lines that are not JSON arrive as
    ``{"event": "NotJson", "text": line}``.
    """

    def __init__(self, args: list[str], *, cwd: Path,
                 command: tuple[str, ...] = ("phone", "--json-events")) -> None:
        import queue
        import threading

        self.events: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        self.stderr_lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "phonesim", *command, *args],
            cwd=cwd, env=phonesim_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self._threads = [
            threading.Thread(target=self._read_stdout, name="phone-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="phone-stderr", daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        import json

        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "NotJson", "text": line}
            self.events.append(event)
            self._queue.put(event)
        self._queue.put(None)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def wait_event(self, predicate, *, timeout_s: float = 30.0) -> dict:
        """The first event (from now on) for which ``predicate(event)`` is true."""
        import queue

        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                event = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if event is None:
                raise AssertionError(f"the phone exited ({self.proc.wait()}) before the event; "
                                     f"stderr:\n" + "\n".join(self.stderr_lines[-20:]))
            if predicate(event):
                return event
        raise AssertionError(f"no such event within {timeout_s} s; last events: {self.events[-5:]}; "
                             f"stderr:\n" + "\n".join(self.stderr_lines[-20:]))

    def wait_phase(self, phase: str, *, timeout_s: float = 30.0) -> dict:
        return self.wait_event(lambda e: e.get("event") == "phase" and e.get("phase") == phase,
                               timeout_s=timeout_s)

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout_s)
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def run_phone():
    """A factory of :class:`PhoneProcess`; every process is killed by PID at the end."""
    started: list[PhoneProcess] = []

    def start(args: list[str], *, cwd: Path, command: tuple[str, ...] = ("phone", "--json-events")
              ) -> PhoneProcess:
        phone = PhoneProcess(args, cwd=cwd, command=command)
        started.append(phone)
        return phone

    yield start
    for phone in started:
        phone.stop()
