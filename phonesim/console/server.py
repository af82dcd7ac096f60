"""Serving the console: uvicorn on its own thread, beside the platform or on its own.

The console is bound to 127.0.0.1 unless told otherwise: it shows who calls whom and lets
an officer listen, so reaching it from the network is a decision (put it behind TLS).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from phonesim.exc import PhoneSimError, UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
START_TIMEOUT_S = 30.0


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
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="console-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"<ConsoleServer {self.url}>"

    def start(self) -> ConsoleServer:
        self.console.start()
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise PhoneSimError(f"console: the web server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def close(self) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.sock.close()
        self.console.close()

    def __enter__(self) -> ConsoleServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
