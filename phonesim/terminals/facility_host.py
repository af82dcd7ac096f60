"""One platform process serving a facility's terminals: every wall phone and kiosk of one host.

:class:`FacilityHost` runs the terminals a configuration lists (``[[terminals]]``: a name,
a kind, a housing unit, keypad and audio URLs, optionally the outside line) on one
:class:`~phonesim.facility.platform.Platform`:

* **real time**: each terminal has its own thread and its own real-time driver (paced by
  its audio device when the device paces, else by the monotonic clock), so one slow
  device never holds up another;
* **virtual time**: one clock and one loop step every terminal, frame by frame, as fast
  as the CPU allows (tests, simulation).

A terminal that fails — its keypad unplugged for good, its audio device gone, its outside
line refusing to open — never stops the others: it is reported (``down: ...`` in the
terminals table and the live events), its call is ended cleanly, and it is opened again
every ``RETRY_S``.  (A keypad unplugged mid-call is handled inside the serial backend:
the call goes on while it reconnects.)

Around the terminals the host keeps:

* a **heartbeat**: every terminal's status and ``seen_s`` in the database every
  :data:`~phonesim.facility.sites.HEARTBEAT_S`, so other hosts tell a live call from one
  a crash left open;
* the **lockdown switch**: a housing unit locked down (``phonesim admin unit lockdown``,
  or the console) ends its terminals' calls at once and refuses new ones until lifted;
* **stalls**: a frame that starts late (the process was stopped, a disk or a core was
  busy) loses the called party's audio for as long and shifts the warnings they hear;
  each stall longer than :data:`STALL_MS` is counted per terminal and noted in the call's
  log (and so in its CDR timeline and the live events);
* the **live events** of every line (:class:`~phonesim.facility.live.LivePublisher`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phonesim.clock import FRAME_MS, RealTimeClock, VirtualClock
from phonesim.exc import PhoneSimError
from phonesim.facility.live import LivePublisher
from phonesim.terminals.chores import TerminalChores

log = logging.getLogger(__name__)

#: A terminal that failed is opened again after this long.
RETRY_S = 5.0
#: A frame that starts this late (or later) is a stall, counted and noted.
STALL_MS = 100.0


@dataclass
class TerminalStatus:
    """What the host knows of one terminal (shown by ``phonesim facility`` and the heartbeat)."""

    name: str
    kind: str
    unit: str
    status: str = "starting"
    failures: int = 0
    stalls: int = 0
    stalled_ms: float = 0.0
    late_frames: int = 0
    frames: int = 0
    calls: int = 0
    last_error: str = ""
    history: list = field(default_factory=list)


class _Terminal:
    """One terminal's devices and program (a wall phone or a kiosk), opened and closed as one."""

    def __init__(self, host: FacilityHost, spec: Any, clock: Any) -> None:
        self.host = host
        self.spec = spec
        self.clock = clock
        self.opened: list = []
        self.line: Any = None
        self.phone: Any = None
        self.kiosk: Any = None
        self.paced = False

    def open(self) -> None:
        from phonesim.facility.farend import open_far_end
        from phonesim.hw.audio import open_audio
        from phonesim.hw.keypad import open_keypad
        from phonesim.terminals.kiosk import Kiosk, KioskSession, LedgerKioskBackend
        from phonesim.terminals.wallphone import WallPhone

        host, spec, cfg = self.host, self.spec, self.host.cfg
        try:
            keypad = open_keypad(spec["keypad"] or cfg.devices.keypad, clock=self.clock)
            self.opened.append(keypad)
            if spec["kind"] == "kiosk":
                backend = LedgerKioskBackend(host.platform.ledger, cfg, clock=self.clock, terminal=spec["name"],
                                             cdrs=host.platform.cdrs)
                session = KioskSession(backend, self.clock, pin_length=int(cfg.profile.pin.length),
                                       id_first=cfg.profile.pin.login == "id+pin")
                audio = open_audio(spec["audio"]) if spec["audio"] else None
                if audio is not None:
                    self.opened.append(audio)
                self.kiosk = Kiosk(session, keypad, out=_Discard(), audio=audio,
                                   prompts=host.platform.prompts if audio is not None else None)
                return
            far_end = open_far_end(spec["far_end"] or cfg.devices.far_end, clock=self.clock,
                                   prompts=host.platform.prompts, sip=cfg.sip_options(),
                                   keys=dict(cfg.profile.called_party))
            self.opened.append(far_end)
            self.line = host.platform.line(far_end=far_end, clock=self.clock, recordings_dir=host.recordings_dir,
                                           terminal=spec["name"], realtime=host.realtime,
                                           keep_history=host.keep_history)
            self.opened.append(self.line)
            host.publisher.attach(self.line)
            audio = open_audio(spec["audio"] or f"loopback://{spec['name']}")
            self.opened.append(audio)
            self.paced = bool(getattr(audio, "paced", False))
            self.phone = WallPhone(keypad, audio, self.line, self.clock, cfg.profile)
        except BaseException:
            self.close()
            raise

    def step(self) -> None:
        if self.kiosk is not None:
            self.kiosk.step()
        else:
            self.phone.step()

    def note(self, kind: str, **data: Any) -> bool:
        """An entry in the current call's log (a stall) when a call is in progress (its live
        event goes out with the call's log); False when there is no call to note it in."""
        if self.line is not None and self.line.state.phase.value not in ("idle", "done"):
            self.line.executor.note(kind, **data)
            return True
        return False

    def close(self) -> None:
        """Close everything opened, last first (the line ends an active call cleanly)."""
        for thing in reversed(self.opened):
            try:
                thing.close()
            except Exception as err:  # noqa: BLE001 - closing must go on for the others
                log.warning("%s: closing %r: %s", self.spec["name"], thing, err)
        self.opened.clear()


class _Discard:
    """Where a kiosk's screen goes when it has no terminal of its own (its keypad display shows it)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class FacilityHost:
    """Serves ``terminals`` (``[[terminals]]`` tables of a configuration) on ``platform``.

    Parameters
    ----------
    cfg
        The configuration (its facility, profile and devices).
    platform
        The :class:`~phonesim.facility.platform.Platform` (database, prompts, services).
    terminals
        The terminal tables to serve (a worker process gets a share of them).
    realtime
        Real time (a thread and a driver per terminal) or virtual time (one loop).
    recordings_dir
        Where the lines' recordings go.
    host_name
        This host's name in the terminals table (default: the machine's).
    """

    def __init__(self, cfg: Any, platform: Any, *, terminals: list, realtime: bool, recordings_dir: str | Path,
                 host_name: str | None = None, keep_history: bool = False, clock: Any = None) -> None:
        self.cfg = cfg
        self.platform = platform
        self.specs = list(terminals)
        self.realtime = realtime
        self.recordings_dir = Path(recordings_dir)
        self.host_name = host_name or socket.gethostname()
        self.keep_history = keep_history
        self.facility_id = cfg.facility["id"]
        self.status = {s["name"]: TerminalStatus(s["name"], s["kind"], s["unit"]) for s in self.specs}
        self.clock = clock if clock is not None else (None if realtime else VirtualClock())
        self.publisher = LivePublisher(platform.ledger.db, self.facility_id,
                                       now_s=self.clock.wall_time_s if self.clock is not None else time.time)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._terminals: dict[str, _Terminal] = {}
        self._chores = TerminalChores(platform, self.facility_id, units={s["name"]: s["unit"] for s in self.specs},
                                      line_of=self._line_of,
                                      statuses=lambda: {n: s.status for n, s in self.status.items()})
        self.oversight = self._chores.oversight
        self.priority = ""

    def __repr__(self) -> str:
        up = sum(1 for s in self.status.values() if s.status == "up")
        return f"<FacilityHost {self.facility_id} terminals={len(self.specs)} up={up}>"

    # --- set-up ------------------------------------------------------------------------------
    def register(self) -> None:
        """Put this host's terminals in the facility's records (refused if one belongs elsewhere)."""
        for spec in self.specs:
            self.platform.sites.register_terminal(spec["name"], facility_id=self.facility_id, unit=spec["unit"],
                                                  kind=spec["kind"], host=self.host_name)
        # calls a crash of this host left open are closed from the charges already made
        for spec in self.specs:
            recovered = self.platform.cdrs.recover_open_calls(terminal=spec["name"])
            if recovered:
                log.warning("%s: closed %d call(s) left open by a crash: %s", spec["name"], len(recovered),
                            ", ".join(map(str, recovered)))

    def raise_priority(self) -> str:
        """Real-time scheduling where the system allows it (the systemd unit grants it), else a
        higher niceness, else as it is; returns what was obtained."""
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
            self.priority = "SCHED_RR 10"
        except (PermissionError, OSError, AttributeError):
            try:
                os.nice(-5)
                self.priority = "nice -5"
            except (PermissionError, OSError):
                self.priority = "normal"
        return self.priority

    def _set_status(self, name: str, status: str, **fields: Any) -> None:
        st = self.status[name]
        changed = st.status != status
        st.status = status
        for key, value in fields.items():
            setattr(st, key, value)
        if changed:
            self.publisher.publish(name, "terminal", status=status, unit=st.unit, terminal_kind=st.kind)

    # --- the shared chores ----------------------------------------------------------------------
    def chores(self, *, force: bool = False) -> None:
        """The heartbeat, the lockdown switch and officers' commands, at their own pace (any
        thread may call it; see :mod:`phonesim.terminals.chores`)."""
        self._chores.run(force=force)

    def _line_of(self, name: str) -> Any:
        terminal = self._terminals.get(name)
        return terminal.line if terminal is not None else None

    # --- running -------------------------------------------------------------------------------
    def stop(self) -> None:
        """End the run: every call ends cleanly (safe from a signal handler or another thread)."""
        self._stop.set()

    def run(self, *, max_s: float | None = None) -> None:
        """Serve the terminals until :meth:`stop` (or ``max_s`` seconds of line time)."""
        self.register()
        self.publisher.start()
        try:
            if self.realtime:
                self._run_realtime(max_s)
            else:
                self._run_virtual(max_s)
        finally:
            self.chores(force=True)
            self.publisher.close()

    def _run_realtime(self, max_s: float | None) -> None:
        for spec in self.specs:
            thread = threading.Thread(target=self._serve, args=(spec, max_s), name=f"terminal-{spec['name']}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        while not self._stop.wait(0.25):
            self.chores()
            if not any(t.is_alive() for t in self._threads):
                break
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _serve(self, spec: Any, max_s: float | None) -> None:
        """One terminal in real time: open, run, and on failure report, close and try again."""
        name = spec["name"]
        deadline = None if max_s is None else time.monotonic() + max_s
        while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            clock = RealTimeClock()
            terminal = _Terminal(self, spec, clock)
            try:
                terminal.open()
            except (PhoneSimError, OSError) as err:
                self._failed(name, err)
                self._stop.wait(RETRY_S)
                continue
            self._terminals[name] = terminal
            self._set_status(name, "up")
            try:
                self._drive(terminal, clock, deadline)
            except (PhoneSimError, OSError) as err:
                self._failed(name, err)
            finally:
                if terminal.line is not None:
                    self.status[name].calls += len(terminal.line.calls)
                self._terminals.pop(name, None)
                terminal.close()
            if not self._stop.is_set() and self.status[name].status.startswith("down"):
                self._stop.wait(RETRY_S)
        self._set_status(name, "stopped")

    def _drive(self, terminal: _Terminal, clock: Any, deadline: float | None) -> None:
        """Run one terminal's frames in real time until the host stops, counting stalls."""
        from phonesim.hw.driver import RealTimeDriver

        name = terminal.spec["name"]
        status = self.status[name]
        driver = RealTimeDriver(clock, paced_by_device=terminal.paced)
        stalled = False

        def step(frame_index: int) -> bool:
            nonlocal stalled
            terminal.step()
            status.frames += 1
            # one stall is one event, however many frames then run back to back to catch up
            if driver.lateness_ms >= STALL_MS and not stalled:
                stalled = True
                status.stalls += 1
                status.stalled_ms += driver.lateness_ms
                if not terminal.note("stall", ms=round(driver.lateness_ms)):
                    self.publisher.publish(name, "stall", ms=round(driver.lateness_ms))
            elif driver.lateness_ms < FRAME_MS:
                stalled = False                    # caught up: the next late frame is a new stall
            status.late_frames = driver.late_frames
            return not self._stop.is_set() and (deadline is None or time.monotonic() < deadline)
        driver.run(step)

    def _failed(self, name: str, err: BaseException) -> None:
        st = self.status[name]
        st.failures += 1
        st.last_error = f"{type(err).__name__}: {err}"
        log.warning("terminal %s down: %s (trying again in %.0f s)", name, st.last_error, RETRY_S)
        self._set_status(name, f"down: {err}")

    def _run_virtual(self, max_s: float | None) -> None:
        """Every terminal on one virtual clock, one frame at a time (a failing one is reported and
        left down: in virtual time nothing comes back by itself)."""
        self.open_virtual()
        end = None if max_s is None else self.clock.frame + int(max_s * 1000 / FRAME_MS)
        try:
            while not self._stop.is_set() and (end is None or self.clock.frame < end) and self._terminals:
                self.step_virtual()
        finally:
            self.close_virtual()

    def open_virtual(self) -> None:
        """Open every terminal on the host's virtual clock (:meth:`run` does it; tests drive
        :meth:`step_virtual` themselves)."""
        for spec in self.specs:
            terminal = _Terminal(self, spec, self.clock)
            try:
                terminal.open()
            except (PhoneSimError, OSError) as err:
                self._failed(spec["name"], err)
                continue
            self._terminals[spec["name"]] = terminal
            self._set_status(spec["name"], "up")

    def step_virtual(self) -> None:
        """One frame of every terminal, then the clock ticks; lockdowns and officers' commands are
        looked at every half second of line time."""
        for name, terminal in list(self._terminals.items()):
            try:
                terminal.step()
                self.status[name].frames += 1
            except (PhoneSimError, OSError) as err:
                self._failed(name, err)
                self._terminals.pop(name).close()
        if self.clock.frame % 25 == 0:
            self._chores.check_lockdowns()
            self._chores.check_commands()
            self._chores.heartbeat_if_due()
        self.clock.tick()

    def close_virtual(self) -> None:
        for name, terminal in list(self._terminals.items()):
            if terminal.line is not None:
                self.status[name].calls += len(terminal.line.calls)
            terminal.close()
            self._set_status(name, "stopped")
        self._terminals.clear()

    def lines(self) -> dict[str, Any]:
        """The lines being served now (name -> FacilityLine)."""
        return {name: t.line for name, t in self._terminals.items() if t.line is not None}
