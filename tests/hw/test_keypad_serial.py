"""serial:// against the real firmware on a pty (hot-unplug, reconnect, no duplicates) and
against a scripted device on a pty (garbage and bad checksums on the wire)."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest

from firmware_stubs.host.runner import FirmwareProcess
from phonesim.events import HookChanged, KeyDown, KeyUp, LinkChanged
from phonesim.exc import DeviceNotFound, InvalidUrl, KeypadError
from phonesim.hw.keypad import open_keypad
from phonesim.hw.keypad_protocol import encode_line
from phonesim.hw.keypad_serial import pyserial_url


def collect(keypad, count: int, timeout_s: float = 10.0) -> list:
    events: list = []
    deadline = time.monotonic() + timeout_s
    while len(events) < count and time.monotonic() < deadline:
        event = keypad.read_event(timeout_s=0.1)
        if event is not None:
            events.append(event)
    return events


def keys_of(events) -> list:
    return [(type(e).__name__, getattr(e, "key", getattr(e, "off_hook", getattr(e, "up", None))))
            for e in events]


# --- URL handling -------------------------------------------------------------------------
def test_pyserial_url_mapping():
    assert pyserial_url("serial:///dev/ttyACM0?baudrate=9600") == ("/dev/ttyACM0", {"baudrate": 9600})
    assert pyserial_url("serial+hwgrep://2e8a:0005?n=1") == ("hwgrep://2e8a:0005?n=1", {})
    assert pyserial_url("serial+socket://127.0.0.1:7000?logging=debug&heartbeat_ms=200") == (
        "socket://127.0.0.1:7000?logging=debug", {"heartbeat_ms": 200})
    with pytest.raises(InvalidUrl, match="baudrate"):
        pyserial_url("serial:///dev/ttyACM0?baudrate=fast")
    with pytest.raises(InvalidUrl, match="parity"):
        pyserial_url("serial:///dev/ttyACM0?parity=E")
    with pytest.raises(InvalidUrl, match="device path"):
        pyserial_url("serial://")


@pytest.mark.timeout(10)
def test_missing_device_is_a_clear_error(tmp_path):
    missing = tmp_path / "ttyACM9"
    with pytest.raises(DeviceNotFound, match="ttyACM9"):
        open_keypad(f"serial://{missing}")


@pytest.mark.timeout(10)
def test_silent_device_is_a_clear_error():
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with pytest.raises(KeypadError, match="no HELLO"):
            open_keypad(f"serial://{os.ttyname(slave)}", hello_timeout_s=0.5)
    finally:
        os.close(master)
        os.close(slave)


# --- the real firmware ----------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_unplug_mid_call_reconnects_without_duplicates(micropython, tmp_path):
    """The firmware is killed mid-call and a new one boots on a new pty behind the same
    symlink (like /dev/serial/by-id); the call's hook state survives, nothing repeats."""
    link = tmp_path / "usb-phonesim_keypad-if00"
    fw = FirmwareProcess(micropython=micropython, link=link)
    fw2 = None
    try:
        fw.start()
        with open_keypad(f"serial://{link}?heartbeat_ms=200") as keypad:
            fw.play("+12", interval_ms=120, hold_ms=60)
            before = collect(keypad, 5)
            assert keys_of(before) == [("HookChanged", True), ("KeyDown", "1"), ("KeyUp", "1"),
                                       ("KeyDown", "2"), ("KeyUp", "2")]
            keypad.set_led(0, True)
            fw.key_down("3")  # held when the plug is pulled
            assert keys_of(collect(keypad, 1)) == [("KeyDown", "3")]

            fw.kill()  # pulled: the pty vanishes, the host's read fails
            down = collect(keypad, 2)
            assert isinstance(down[0], LinkChanged) and down[0].up is False
            assert down[1] == KeyUp("3", -1)  # the held key is released, no endless tone
            assert keypad.off_hook is True  # the call goes on

            fw2 = FirmwareProcess(micropython=micropython, link=link, off_hook=True)
            fw2.start()  # plugged back in (a new boot: new boot id, sequence from 0)
            up = collect(keypad, 1)
            assert isinstance(up[0], LinkChanged) and up[0].up is True
            assert keypad.protocol.stats.reboots == 1  # new boot id (or its count went back)
            fw2.play("45", interval_ms=120, hold_ms=60)
            after = collect(keypad, 4)
            assert keys_of(after) == [("KeyDown", "4"), ("KeyUp", "4"), ("KeyDown", "5"),
                                      ("KeyUp", "5")]
            # no HookChanged after the reconnect (the handset stayed lifted), no duplicates
            assert keypad.poll() == []
            assert keypad.reconnects == 1
            assert keypad.stats["duplicates"] == 0 and keypad.stats["garbage"] == 0
            assert keypad.leds == {0: True}
    finally:
        fw.stop()
        if fw2 is not None:
            fw2.stop()


@pytest.mark.timeout(30)
def test_heartbeat_round_trip_is_measured(micropython):
    with FirmwareProcess(micropython=micropython) as fw, \
            open_keypad(f"serial://{fw.device_path}?heartbeat_ms=50") as keypad:
        deadline = time.monotonic() + 5
        while keypad.pongs < 3 and time.monotonic() < deadline:
            keypad.read_event(timeout_s=0.05)
        assert keypad.pongs >= 3
        assert keypad.last_rtt_ms is not None and keypad.last_rtt_ms > 0
        assert "boot=" in repr(keypad) and "on-hook" in repr(keypad)


@pytest.mark.timeout(30)
def test_wedged_device_is_detected_by_heartbeat(micropython):
    with FirmwareProcess(micropython=micropython) as fw, \
            open_keypad(f"serial://{fw.device_path}?heartbeat_ms=50&link_timeout_ms=300") as keypad:
        os.kill(fw.pid, 19)  # SIGSTOP: the port stays, the device says nothing
        try:
            event = collect(keypad, 1, timeout_s=5)
            assert event and isinstance(event[0], LinkChanged) and event[0].up is False
            assert "no reply" in event[0].reason
        finally:
            os.kill(fw.pid, 18)  # SIGCONT, then stopped by PID


# --- a scripted device: damage on the wire --------------------------------------------------
class ScriptedDevice:
    """A device on a pty master that answers HELLO? and then sends what the test says."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._answer, name="scripted-keypad", daemon=True)
        self.thread.start()

    def _answer(self) -> None:
        import select

        buffer = b""
        while not self.stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                buffer += os.read(self.master, 256)
            except OSError:
                return
            if b"HELLO?" in buffer:
                buffer = b""
                os.write(self.master, encode_line("HELLO PHONEPAD 1 4x3 1A2B ON 0"))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.timeout(30)
def test_garbage_and_bad_checksums_are_counted_and_skipped():
    device = ScriptedDevice()
    try:
        with open_keypad(f"serial://{device.path}?heartbeat_ms=60000") as keypad:
            device.send(b"\x00\xff\x13 random noise\n")  # garbage
            device.send(b"K 0 5 D*2B\n")  # bad checksum
            device.send(b"X" * 300 + b"\n")  # overlong
            device.send(b"K 0 5 ")  # a line cut in two...
            device.send(b"D*2A\n")  # ...is still one good line
            device.send(encode_line("K 1 5 U"))
            events = collect(keypad, 2)
            assert events == [KeyDown("5", 0), KeyUp("5", 1)]
            stats = keypad.stats
            assert (stats["garbage"], stats["bad_checksum"], stats["overlong"]) == (1, 1, 1)
            # a replayed line (same boot, same sequence number) is dropped, a gap is counted
            device.send(encode_line("K 1 5 U") + encode_line("K 5 7 D") + encode_line("K 6 7 U"))
            assert collect(keypad, 2) == [KeyDown("7", 5), KeyUp("7", 6)]
            assert keypad.stats["duplicates"] == 1
            assert (keypad.stats["seq_gaps"], keypad.stats["lost_events"]) == (1, 3)
            # the device rebooted behind a port that stayed open (a UART): its power-up
            # HELLO restarts the count, so its first events are not taken for duplicates
            device.send(encode_line("HELLO PHONEPAD 1 4x3 BEEF ON 0") + encode_line("K 0 8 D"))
            assert collect(keypad, 1) == [KeyDown("8", 0)]
            assert keypad.stats["reboots"] == 1 and keypad.reconnects == 0
            assert keypad.poll() == []
    finally:
        device.close()


# --- any pyserial URL: a device behind socket:// on 127.0.0.1 ------------------------------
@pytest.mark.timeout(30)
def test_pyserial_socket_url_reconnects_when_the_device_drops_the_connection():
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()
    boots = iter(["00A1", "00A2"])

    def serve():  # each connection is a freshly booted device that presses one key and drops
        while not stop.is_set():
            server.settimeout(0.1)
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            boot = next(boots, "00A3")
            with conn:
                conn.settimeout(0.1)
                buffer = b""
                while b"HELLO?" not in buffer and not stop.is_set():
                    try:
                        buffer += conn.recv(256)
                    except TimeoutError:
                        continue
                conn.sendall(encode_line(f"HELLO PHONEPAD 1 4x3 {boot} OFF 0")
                             + encode_line("K 0 9 D") + encode_line("K 1 9 U"))
                if boot == "00A1":
                    continue  # closing the connection = pulling the plug
                while not stop.is_set():
                    try:
                        if not conn.recv(256):
                            break
                    except TimeoutError:
                        continue

    thread = threading.Thread(target=serve, name="socket-keypad", daemon=True)
    thread.start()
    try:
        with open_keypad(f"serial+socket://127.0.0.1:{port}?heartbeat_ms=60000") as keypad:
            events = collect(keypad, 7)
            assert keys_of(events) == [("HookChanged", True), ("KeyDown", "9"), ("KeyUp", "9"),
                                       ("LinkChanged", False), ("LinkChanged", True),
                                       ("KeyDown", "9"), ("KeyUp", "9")]
            assert keypad.reconnects == 1 and keypad.stats["reboots"] == 1
            assert keypad.port_url == f"socket://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.mark.timeout(60)
def test_after_a_replug_the_hook_is_re_read_and_outputs_restored(micropython, tmp_path):
    """The handset was put down while the keypad was unplugged: the HELLO after the
    reconnect says so, and the LED and display line are sent to the new device."""
    link = tmp_path / "keypad"
    fw = FirmwareProcess(micropython=micropython, link=link, off_hook=True)
    fw2 = FirmwareProcess(micropython=micropython, link=link, off_hook=False)
    try:
        fw.start()
        with open_keypad(f"serial://{link}") as keypad:
            assert collect(keypad, 1) == [HookChanged(True, -1)]  # lifted at power-up
            keypad.set_led(1, True)
            keypad.set_display(0, "Balance $5.00")
            deadline = time.monotonic() + 5
            while keypad.acks < 2 and time.monotonic() < deadline:
                keypad.read_event(timeout_s=0.05)
            assert keypad.acks == 2
            fw.kill()
            assert keys_of(collect(keypad, 1)) == [("LinkChanged", False)]
            fw2.start()
            assert keys_of(collect(keypad, 2)) == [("LinkChanged", True), ("HookChanged", False)]
            deadline = time.monotonic() + 5
            while keypad.acks < 4 and time.monotonic() < deadline:
                keypad.read_event(timeout_s=0.05)
            assert keypad.acks == 4 and keypad.device_errors == 0  # LED 1 and line 0 again
            assert keypad.off_hook is False
    finally:
        fw.stop()
        fw2.stop()
