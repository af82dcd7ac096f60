"""Serving the console: uvicorn on its own thread, beside the platform or on its own.

The console is bound to 127.0.0.1 unless told otherwise: it shows who calls whom and lets
an officer listen, so reaching it from the network is a decision (put it behind TLS).
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from phonesim.exc import PhoneSimError, UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
START_TIMEOUT_S = 30.0


class ConsoleStartError(PhoneSimError, RuntimeError):
    """The console's web server did not come up."""


def require_web_stack() -> None:
    """The console's packages, or a clear error saying how to get them."""
    import importlib.util

    from phonesim.exc import BackendUnavailable

    missing = [m for m in ("starlette", "uvicorn", "jinja2", "multipart", "websockets")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"the console needs {', '.join(missing)}: pip install 'phonesim[console]'")


class ConsoleServer:
    """The console's web server on a thread of this process (``start()``, ``close()``)."""

    def __init__(self, console: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        import uvicorn

        from phonesim.console.app import create_app

        self.console = console
        self.app = create_app(console)
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            raise UsageError(f"console: cannot listen on {host}:{port} ({err.strerror or err}); "
                             f"expected a free port (--console-port)") from err
        self.host, self.port = self.sock.getsockname()[:2]
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2,
                                                    ws_max_size=64 * 1024, access_log=False))
        self._thread = threading.Thread(target=self._serve, name="console-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"<ConsoleServer {self.url}>"

    def _serve(self) -> None:
        from phonesim.clock import normal_priority

        normal_priority()
        self.server.run(sockets=[self.sock])

    def start(self) -> ConsoleServer:
        self.console.start()
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConsoleStartError(f"console: the web server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def close(self) -> None:
        self.console.hub.close()             # open boards' streams end first
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.sock.close()
        self.console.close()

    def __enter__(self) -> ConsoleServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_console(cfg: Any, database: str | Path, recordings_dir: str | Path, *, host: Any = None,
                  bind: str = DEFAULT_HOST, port: int = DEFAULT_PORT, demo: bool = False,
                  out: IO[str] | None = None) -> ConsoleServer:
    """Start the console for ``cfg``'s facility and print its URL (and, for a demo, its logins).

    ``host`` is the :class:`~phonesim.terminals.facility_host.FacilityHost` of this process
    (listening to its lines); ``None`` serves records, board and cut-off only.
    """
    require_web_stack()
    from phonesim.console.app import Console
    from phonesim.console.staff import demo_staff

    console = Console(cfg, database, recordings_dir=recordings_dir, host=host)
    try:
        logins = demo_staff(console.staff) if demo else {}
        server = ConsoleServer(console, host=bind, port=port)
    except BaseException:
        console.close()
        raise
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    out = out if out is not None else sys.stdout
    print(f"phonesim console: {server.url}/  (bound to {server.host}"
          + ("" if host is not None else "; listening only to lines of its own process: none here") + ")",
          file=out, flush=True)
    print(f"  families: {server.url}/family/  (sign up, fund, statements, blocks; rates: {server.url}/family/rates)",
          file=out, flush=True)
    if logins:
        print("  demo logins (new passwords every start, shown only now):", file=out)
        for username, password in logins.items():
            print(f"    {username:<13} {password}", file=out)
        out.flush()
    return server
