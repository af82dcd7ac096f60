"""Run the unmodified keypad firmware in the MicroPython unix port, on a pty.

The firmware's stdin/stdout are the pty's master side; the slave side
(``/dev/pts/N``) behaves like the Pico's ``/dev/ttyACM0`` to pyserial, so the
host backend under test is the one a Raspberry Pi runs.  The stub ``machine``
module (``stubs/machine.py``) simulates the wiring; this runner tells it what
the wiring is (read from the firmware's own pin map, so there is one place that
knows it) and drives the contacts through a control pipe.

Used by the tests and by ``python -m firmware_stubs.host --pty`` (a virtual
keypad device for a laptop).
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import tty
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUBS_DIR = HERE / "stubs"
FIRMWARE = HERE.parent / "pico" / "main.py"

__all__ = ["FIRMWARE", "FirmwareProcess", "find_micropython", "firmware_pin_map"]


def find_micropython() -> str | None:
    """The ``micropython`` unix port: next to this Python (a venv) or on ``PATH``."""
    folders = [Path(sys.prefix) / "bin"]
    if sys.executable:
        folders.insert(0, Path(sys.executable).parent)
    for folder in folders:
        if (folder / "micropython").exists():
            return str(folder / "micropython")
    return shutil.which("micropython")


def firmware_pin_map(firmware: Path = FIRMWARE) -> dict:
    """The constants at the top of the firmware (pin map, layouts), read without running it."""
    wanted = {"ROW_PINS", "COL_PINS", "HOOK_PIN", "KIND_PIN", "KEYS_4X3", "KEYS_4X4",
              "SCAN_MS", "KEY_STABLE_SCANS", "HOOK_STABLE_SCANS"}
    found = {}
    for node in ast.parse(firmware.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], "id", None)
            if name in wanted:
                found[name] = ast.literal_eval(node.value)
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"{firmware}: expected the constants {sorted(missing)} at the top")
    return found


class FirmwareProcess:
    """The firmware running in MicroPython on a fresh pty; stop it with :meth:`stop`/:meth:`kill`.

    Parameters
    ----------
    kind : "4x3" or "4x4"
        What the kind strap says (the firmware reads it at boot).
    link : path, optional
        A symlink re-pointed at the pty on every start, like ``/dev/serial/by-id/...``.
    off_hook : bool
        Whether the handset is lifted when the firmware boots.
    bounce_ms : int
        Contact bounce the stub pins inject after every change (the hook: 2.5 times as long).
    sim_log : path, optional
        File where the stub reports how many level changes the firmware read per contact.
    """

    def __init__(self, *, kind: str = "4x3", link: str | os.PathLike | None = None,
                 off_hook: bool = False, bounce_ms: int = 0,
                 sim_log: str | os.PathLike | None = None, micropython: str | None = None,
                 stderr=None) -> None:
        if kind not in ("4x3", "4x4"):
            raise ValueError(f"keypad kind: expected '4x3' or '4x4', got {kind!r}")
        self.kind = kind
        self.link = Path(link) if link else None
        self.off_hook = off_hook
        self.bounce_ms = int(bounce_ms)
        self.sim_log = Path(sim_log) if sim_log else None
        self.micropython = micropython or find_micropython()
        self.stderr = stderr
        self.process: subprocess.Popen | None = None
        self.pty_path: str | None = None
        self._slave_fd: int | None = None
        self._ctrl_fd: int | None = None

    @property
    def device_path(self) -> str | None:
        """What a host opens: the symlink if there is one, else the pty."""
        return str(self.link) if self.link else self.pty_path

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> str:
        """Boot the firmware on a new pty; return :attr:`device_path`."""
        if self.process is not None:
            raise RuntimeError(f"{self!r}: already running")
        if not self.micropython:
            raise FileNotFoundError("the MicroPython unix port ('micropython') was not found "
                                    "next to this Python or on PATH; install the dev extra")
        pins = firmware_pin_map()
        layout = pins["KEYS_4X4"] if self.kind == "4x4" else pins["KEYS_4X3"]
        master, slave = os.openpty()
        tty.setraw(slave)  # a fresh pty slave echoes and edits lines; a USB CDC port does not
        ctrl_read, ctrl_write = os.pipe()
        env = dict(os.environ)
        env.update({
            "MICROPYPATH": str(STUBS_DIR),
            "PHONEPAD_SIM_PINS": "rows={};cols={};hook={};kind={}".format(
                ",".join(map(str, pins["ROW_PINS"])), ",".join(map(str, pins["COL_PINS"])),
                pins["HOOK_PIN"], pins["KIND_PIN"]),
            "PHONEPAD_SIM_KEYS": ",".join(layout),
            "PHONEPAD_SIM_KIND": self.kind,
            "PHONEPAD_SIM_HOOK": "off" if self.off_hook else "on",
            "PHONEPAD_SIM_BOUNCE_MS": str(self.bounce_ms),
            "PHONEPAD_SIM_CTRL": f"/dev/fd/{ctrl_read}",
        })
        if self.sim_log:
            env["PHONEPAD_SIM_LOG"] = str(self.sim_log)
        try:
            self.process = subprocess.Popen(
                [self.micropython, str(FIRMWARE)], stdin=master, stdout=master,
                stderr=self.stderr, pass_fds=(ctrl_read,), env=env, start_new_session=True)
        finally:
            os.close(master)  # only the firmware holds the master: its death is an unplug
            os.close(ctrl_read)
        self._slave_fd = slave  # held open until stop(), or the firmware's reads get EIO
        self._ctrl_fd = ctrl_write
        self.pty_path = os.ttyname(slave)
        if self.link:
            temp = self.link.with_name(self.link.name + ".new")
            if temp.is_symlink() or temp.exists():
                temp.unlink()
            os.symlink(self.pty_path, temp)
            os.replace(temp, self.link)  # atomic re-point, like udev updating by-id
        return self.device_path

    # -- the person at the keypad -------------------------------------------------------------
    def send(self, command: str) -> None:
        """One control line to the stub pins (see ``stubs/machine.py``)."""
        if self._ctrl_fd is None:
            raise RuntimeError(f"{self!r}: not running")
        os.write(self._ctrl_fd, command.encode("ascii") + b"\n")

    def press(self, key: str, hold_ms: int = 80) -> None:
        self.send(f"P {key} {int(hold_ms)}")

    def key_down(self, key: str) -> None:
        self.send(f"D {key}")

    def key_up(self, key: str) -> None:
        self.send(f"U {key}")

    def lift(self) -> None:
        self.send("HOOK OFF")

    def hang_up(self) -> None:
        self.send("HOOK ON")

    def set_bounce(self, bounce_ms: int) -> None:
        self.send(f"BOUNCE {int(bounce_ms)}")

    def play(self, plan: str, *, interval_ms: int = 150, hold_ms: int = 80) -> None:
        """Play a key script: keys, ``+`` lift, ``-`` hang up, ``,`` pause (timed by the stub)."""
        if not plan or " " in plan:
            raise ValueError(f"key script: expected keys and + - , without spaces, got {plan!r}")
        self.send(f"S {plan} {int(interval_ms)} {int(hold_ms)}")

    # -- stopping ---------------------------------------------------------------------------
    def kill(self) -> None:
        """Pull the plug: SIGKILL the firmware (by PID) and let the pty vanish."""
        self._stop(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the firmware (SIGTERM by PID, SIGKILL if it lingers); idempotent."""
        self._stop(signal.SIGTERM)

    def _stop(self, sig: int) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
            self.process = None
        for name in ("_ctrl_fd", "_slave_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> FirmwareProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.process else "stopped"
        return f"<FirmwareProcess {self.kind} {state} device={self.device_path!r}>"
