"""A private PostgreSQL server for the tests and benchmarks (Debian's ``postgresql`` package).

The server is a throw-away cluster in a temporary folder, run as the ``postgres`` user
(``initdb`` and ``postgres`` refuse to run as root) on a unix socket only, no TCP, with
``fsync = off`` (a process crash keeps the OS page cache; only an OS crash would lose
data). It is stopped by its PID. Nothing is installed or started system-wide.

    with PrivatePostgres() as pg:
        url = pg.create_database("ledger_test")     # postgresql:///ledger_test?host=...
        ...
        pg.stop(); pg.start()                        # an outage, for the tests that need one
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's program folder (``initdb`` is not on PATH on Debian)."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(folders[-1]) if folders else None


class PrivatePostgres:
    """Start with :meth:`start` (or ``with``); stop with :meth:`stop` (by PID)."""

    def __init__(self) -> None:
        pgbin = postgres_bin()
        if pgbin is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bin = pgbin
        # a short path: the socket's must stay under 108 bytes
        self.base = Path(tempfile.mkdtemp(prefix="pgtest.", dir="/tmp"))
        self.data = self.base / "data"
        self.as_server: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            self.as_server = ["runuser", "-u", "postgres", "--"]
        self.pid: int | None = None
        self._initdb()

    def __repr__(self) -> str:
        return f"<PrivatePostgres {self.base} pid={self.pid}>"

    def _run(self, *cmd: str) -> None:
        # cwd="/": the server's user may not be allowed into the current folder
        subprocess.run([*self.as_server, *cmd], cwd="/", check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)

    def _initdb(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "-N")
        with open(self.data / "postgresql.conf", "a") as conf:    # kept by a plain restart
            conf.write(f"listen_addresses = ''\nunix_socket_directories = '{self.base}'\nfsync = off\n"
                       "max_connections = 200\n")

    @property
    def admin_url(self) -> str:
        return f"postgresql:///postgres?host={self.base}&user=postgres"

    def url(self, database: str) -> str:
        return f"postgresql:///{database}?host={self.base}&user=postgres"

    def start(self) -> PrivatePostgres:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"),
                  "-w", "-t", "60", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return self

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server by its PID (``fast``: SIGINT; ``immediate``: SIGQUIT; ``kill``: SIGKILL)
        and wait until the process is gone (a zombie would block the next start)."""
        if self.pid is None:
            return
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "kill": signal.SIGKILL}[mode]
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 30
        while Path(f"/proc/{self.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if mode == "kill":                   # the backends exit on their own once the postmaster is gone
            for pid_file in (self.data / "postmaster.pid",):
                pid_file.unlink(missing_ok=True)
        self.pid = None

    def _admin(self, sql: str) -> None:
        """One statement on the ``postgres`` database (in-process: a ``createdb`` costs 0.1-0.3 s more)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given: a migrated one copies in ~30 ms)."""
        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @property
    def running(self) -> bool:
        return self.pid is not None and Path(f"/proc/{self.pid}").exists()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
