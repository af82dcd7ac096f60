"""``serial://``: the Pico keypad firmware over USB serial, with hot-unplug.

Any pyserial URL works: ``serial:///dev/ttyACM0?baudrate=115200`` opens a
device path, ``serial+hwgrep://2e8a:0005`` finds the Pico by USB id,
``serial+socket://127.0.0.1:7000`` and ``serial+loop://`` reach pyserial's
other URL handlers (``serial+X://...`` becomes ``X://...``).

A named reader thread owns the port.  It reads continuously (a Pico stalls
its ``print`` when the host stops reading), with a timeout on every read,
sends a heartbeat ``PING`` every second and measures the round trip.  When the
device vanishes (the read raises, or nothing at all arrives for
``link_timeout_s``) it closes the port, reports ``LinkChanged(False)`` and
reopens with backoff; a wall phone's call goes on meanwhile.  After reopening
it asks ``HELLO?`` (opening a port discards what the device sent before, so
the host must ask), re-reads the hook state, and restores the LEDs and display
lines.  The parser's sequence numbers and the device's boot id keep a key
event from being delivered twice across a reconnect.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from phonesim.events import HookChanged, LinkChanged
from phonesim.exc import BackendUnavailable, DeviceNotFound, InvalidUrl, KeypadError
from phonesim.hw.keypad import Keypad, parse_keypad_url
from phonesim.hw.keypad_protocol import (
    Ack,
    DeviceError,
    Hello,
    KeypadProtocol,
    Pong,
    encode_display,
    encode_hello_query,
    encode_led,
    encode_ping,
)

__all__ = ["SerialKeypad", "pyserial_url"]

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 0.05  # every read returns after this at the latest
_HELLO_RETRY_S = 0.5


def pyserial_url(url: str) -> tuple[str, dict]:
    """``serial://...`` -> (the URL pyserial understands, our own parameters)."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    ours = {"baudrate": int, "heartbeat_ms": int, "link_timeout_ms": int, "exclusive": bool}
    if scheme == "serial":
        parts, params = parse_keypad_url(url, ours)
        path = parts.netloc + parts.path
        if not path:
            raise InvalidUrl(f"keypad URL {url!r}: expected a device path, e.g. "
                             "serial:///dev/ttyACM0 or serial:///dev/serial/by-id/usb-...")
        return path, params
    if not scheme.startswith("serial+") or scheme == "serial+":
        raise InvalidUrl(f"keypad URL {url!r}: expected serial:// or serial+<pyserial scheme>://")
    # serial+socket://host:port?logging=debug: pyserial's handlers own the query, except ours
    base, _, query = rest.partition("?")
    theirs, params = [], {}
    for item in filter(None, query.split("&")):
        name = item.split("=", 1)[0]
        if name in ours:
            params.update(parse_keypad_url("x://?" + item, ours)[1])
        else:
            theirs.append(item)
    target = f"{scheme[len('serial+'):]}://{base}" + ("?" + "&".join(theirs) if theirs else "")
    return target, params


class SerialKeypad(Keypad):
    """The keypad firmware behind a pyserial URL; see the module docstring.

    Parameters
    ----------
    url : str
        ``serial:///dev/ttyACM0``, ``serial+hwgrep://2e8a:0005``, ...; query parameters
        ``baudrate`` (115200), ``heartbeat_ms`` (1000), ``link_timeout_ms`` (3000),
        ``exclusive`` (1).
    hello_timeout_s : float
        How long the first open waits for the device's ``HELLO``.
    retry_max_s : float
        The longest pause between two reconnect attempts (backoff starts at 50 ms).
    """

    scheme = "serial"

    def __init__(self, url: str, *, hello_timeout_s: float = 2.0, retry_max_s: float = 1.0) -> None:
        super().__init__(url)
        try:
            import serial  # noqa: F401  (pyserial is a core dependency, but say so if missing)
        except ImportError as err:  # pragma: no cover
            raise BackendUnavailable("serial:// keypads need pyserial (pip install pyserial)") from err
        self.port_url, params = pyserial_url(url)
        self.baudrate = params.get("baudrate", 115200)
        self.heartbeat_s = params.get("heartbeat_ms", 1000) / 1000.0
        self.link_timeout_s = params.get("link_timeout_ms", 3000) / 1000.0
        self.exclusive = params.get("exclusive", True)
        self.hello_timeout_s = hello_timeout_s
        self.retry_max_s = retry_max_s
        self.protocol = KeypadProtocol()
        self.hello: Hello | None = None
        self.reconnects = 0
        self.device_errors = 0
        self.acks = 0  # LED / DISP commands the device confirmed
        self.pings_sent = 0
        self.pongs = 0
        self.last_rtt_ms: float | None = None
        self.max_rtt_ms: float | None = None
        self.last_error = ""
        self._events: queue.Queue = queue.Queue()
        self._port = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._ping_n = 0
        self._ping_sent: dict[int, float] = {}
        self._greeted = threading.Event()
        self._reopened = False

        self._open_port()  # a missing device is an error now, not a silent retry loop
        self._hello_deadline = time.monotonic() + hello_timeout_s
        self._thread = threading.Thread(target=self._run, name=f"keypad-serial:{self.port_url}",
                                        daemon=True)
        self._thread.start()
        if not self._greeted.wait(hello_timeout_s + 0.5):
            self.close()
            raise KeypadError(f"keypad {url!r}: no HELLO reply within {hello_timeout_s:.1f} s "
                              f"(is the phonesim keypad firmware running on {self.port_url}?)")

    # -- the port ------------------------------------------------------------------------------
    def _open_port(self) -> None:
        import serial

        try:
            port = serial.serial_for_url(self.port_url, baudrate=self.baudrate,
                                         timeout=_READ_TIMEOUT_S, write_timeout=0.5,
                                         exclusive=self.exclusive, do_not_open=True)
            port.open()
        except (serial.SerialException, OSError, ValueError) as err:
            if self._port is None and not self._greeted.is_set():
                raise self._not_found(err) from err
            raise
        self.protocol.reset_line()
        self._reopened = self._greeted.is_set()
        self._port = port
        self._write(b"\n" + encode_hello_query())
        self._hello_sent_s = self._last_rx_s = self._last_ping_s = time.monotonic()
        self._got_hello = False

    def _not_found(self, err: Exception) -> Exception:
        candidates = []
        by_id = "/dev/serial/by-id"
        if os.path.isdir(by_id):
            candidates = [os.path.join(by_id, name) for name in sorted(os.listdir(by_id))]
        found = ", ".join(candidates) if candidates else "no /dev/serial/by-id entries"
        message = f"keypad {self.url!r}: cannot open {self.port_url}: {err} (found: {found})"
        if isinstance(err, PermissionError) or "Permission denied" in str(err):
            return KeypadError(message + "; add the user to the 'dialout' group")
        if isinstance(err, FileNotFoundError) or "No such file" in str(err):
            return DeviceNotFound(message)
        return KeypadError(message)

    def _write(self, data: bytes) -> bool:
        with self._write_lock:
            port = self._port
            if port is None:
                return False
            try:
                port.write(data)
                return True
            except Exception as err:  # noqa: BLE001 - any write failure means the link is gone
                self.last_error = f"write failed: {err}"
                return False

    def _drop_link(self, reason: str) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception as err:  # noqa: BLE001 - closing a vanished device may fail any way
                log.debug("keypad %s: closing the vanished port: %s", self.port_url, err)
        self.last_error = reason
        log.warning("keypad %s: link down: %s", self.port_url, reason)
        self._events.put(LinkChanged(False, reason))

    # -- the reader thread -----------------------------------------------------------------------
    def _run(self) -> None:
        import serial

        backoff_s = 0.05
        while not self._stop.is_set():
            if self._port is None:
                if self._stop.wait(backoff_s):
                    break
                try:
                    self._open_port()
                    backoff_s = 0.05
                except (serial.SerialException, OSError, ValueError) as err:
                    self.last_error = f"reopen failed: {err}"
                    backoff_s = min(backoff_s * 2, self.retry_max_s)
                continue
            port = self._port
            try:
                data = port.read(max(1, port.in_waiting))
            except Exception as err:  # noqa: BLE001 - SerialException, OSError, TypeError on close
                if not self._stop.is_set():
                    self._drop_link(f"read failed: {err}")
                continue
            now = time.monotonic()
            if data:
                self._last_rx_s = now
                duplicates = self.protocol.stats.duplicates
                for message in self.protocol.feed(data):
                    self._handle(message, now)
                if self.protocol.stats.duplicates > duplicates and now - self._hello_sent_s > 1.0:
                    # events from the past: a replay, or a reboot whose HELLO we missed; ask
                    self._write(encode_hello_query())
                    self._hello_sent_s = now
            self._housekeeping(now)

    def _housekeeping(self, now: float) -> None:
        if not self._got_hello:
            if not self._greeted.is_set() and now > self._hello_deadline:
                self._stop.set()  # the constructor reports the error
                return
            if now - self._hello_sent_s >= _HELLO_RETRY_S:
                self._write(encode_hello_query())
                self._hello_sent_s = now
        elif now - self._last_ping_s >= self.heartbeat_s:
            self._ping_n = (self._ping_n + 1) % 65536
            self._ping_sent[self._ping_n] = now
            if len(self._ping_sent) > 16:
                self._ping_sent.pop(next(iter(self._ping_sent)))
            self.pings_sent += 1
            self._write(encode_ping(self._ping_n))
            self._last_ping_s = now
        if self._port is not None and self._greeted.is_set() and now - self._last_rx_s > self.link_timeout_s:
            self._drop_link(f"no reply for {self.link_timeout_s:.1f} s")

    def _handle(self, message, now: float) -> None:
        if isinstance(message, Hello):
            rebooted = self.hello is not None and message.boot_id != self.hello.boot_id
            self._got_hello = True
            self.hello = message
            self.kind = message.kind
            if self._reopened:  # the first HELLO after reopening the port
                self._reopened = False
                self.reconnects += 1
                self._events.put(LinkChanged(True, f"{message.product} v{message.version} "
                                                   f"{message.kind} boot {message.boot_id}"))
                self._restore_outputs()
            elif rebooted:  # the device restarted behind a port that stayed open (a UART)
                self._restore_outputs()
            # the base class delivers this only if the hook state really changed
            self._events.put(HookChanged(message.off_hook, -1))
            self._greeted.set()
        elif isinstance(message, Pong):
            sent = self._ping_sent.pop(message.n, None)
            if sent is not None:
                self.pongs += 1
                self.last_rtt_ms = (now - sent) * 1000.0
                self.max_rtt_ms = max(self.max_rtt_ms or 0.0, self.last_rtt_ms)
        elif isinstance(message, DeviceError):
            self.device_errors += 1
            log.warning("keypad %s: device rejected a line: %s %s", self.port_url,
                        message.code, message.detail)
        elif isinstance(message, Ack):
            self.acks += 1
        else:
            self._events.put(message)

    def _restore_outputs(self) -> None:
        for n, on in sorted(self.leds.items()):
            self._write(encode_led(n, on))
        for row, text in enumerate(self.display):
            if text:
                self._write(encode_display(row, text))

    # -- Keypad hooks ----------------------------------------------------------------------------
    def _read_raw(self, timeout_s: float) -> list:
        out = []
        try:
            out.append(self._events.get(timeout=timeout_s) if timeout_s > 0
                       else self._events.get_nowait())
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        return out

    def _set_led(self, n: int, on: bool) -> None:
        self._write(encode_led(n, on))  # if the link is down, restored after the reconnect

    def _set_display(self, line_no: int, text: str) -> None:
        self._write(encode_display(line_no, text))

    def _close(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception as err:  # noqa: BLE001 - the port is being closed anyway
                log.debug("keypad %s: closing the port: %s", self.port_url, err)

    @property
    def stats(self) -> dict:
        """Link health for ``phonesim monitor`` and logs."""
        out = self.protocol.stats.as_dict()
        out.update(reconnects=self.reconnects, device_errors=self.device_errors, acks=self.acks,
                   pings_sent=self.pings_sent, pongs=self.pongs,
                   last_rtt_ms=self.last_rtt_ms, max_rtt_ms=self.max_rtt_ms)
        return out

    def __repr__(self) -> str:
        boot = f" boot={self.hello.boot_id}" if self.hello else ""
        return (f"<SerialKeypad {self.port_url!r} {self.kind}{boot} {self._state_text()} "
                f"reconnects={self.reconnects}>")
