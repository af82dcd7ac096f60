"""What every process serving terminals owes the rest of the facility, whatever its size.

A facility host with forty phones and ``phonesim phone`` with one do the same chores:

* the **heartbeat**: each terminal's status and ``seen_s`` written every
  :data:`~phonesim.facility.sites.HEARTBEAT_S`, so another process (an officer's command, a
  host starting up) tells a live call from one a crash left open;
* the **lockdown switch**: a housing unit locked down ends its terminals' calls at once;
* **officers' commands** for its terminals (a cut-off): the call ends, the command is marked
  done with what happened.

:class:`TerminalChores` does them for a set of terminals; :meth:`TerminalChores.run` may be
called from any thread (a line takes injected events from any thread).  ``phonesim phone``
runs them on a small thread of their own (:class:`ChoresThread`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from phonesim.events import CutOff, Lockdown
from phonesim.exc import PhoneSimError
from phonesim.facility.oversight import Oversight
from phonesim.facility.sites import HEARTBEAT_S

log = logging.getLogger(__name__)

__all__ = ["COMMAND_POLL_S", "LOCKDOWN_POLL_S", "ChoresThread", "TerminalChores"]

#: How often the housing units' lockdowns are looked at.
LOCKDOWN_POLL_S = 1.0
#: How often officers' commands (a cut-off) for these terminals are looked at.
COMMAND_POLL_S = 0.5
#: Phases in which there is no call to cut off.
_NO_CALL_PHASES = ("idle", "done", "ending")


class TerminalChores:
    """Heartbeat, lockdown switch and officers' commands for the terminals of one process.

    Parameters
    ----------
    platform
        The :class:`~phonesim.facility.platform.Platform` (its database).
    facility_id
        The facility whose housing units are watched.
    units
        ``{terminal name: housing unit}`` of the terminals served.
    line_of
        ``line_of(name)``: the terminal's line now (None when it has none: a kiosk, down).
    statuses
        ``statuses()``: ``{terminal name: status}`` for the heartbeat (``up``, ``down: ...``).
    """

    def __init__(self, platform: Any, facility_id: str, *, units: dict[str, str],
                 line_of: Callable[[str], Any], statuses: Callable[[], dict[str, str]]) -> None:
        self.platform = platform
        self.facility_id = facility_id
        self.units = dict(units)
        self.line_of = line_of
        self.statuses = statuses
        self.oversight = Oversight(platform.ledger.db)
        self._locked: dict[str, str] = {}
        self._last_beat = self._last_lock_poll = self._last_command_poll = float("-inf")

    def __repr__(self) -> str:
        return f"<TerminalChores {self.facility_id} terminals={len(self.units)}>"

    def run(self, *, force: bool = False) -> None:
        """Do whichever chores are due (all of them with ``force``)."""
        self.heartbeat_if_due(force=force)
        now = time.monotonic()
        if force or now - self._last_lock_poll >= LOCKDOWN_POLL_S:
            self._last_lock_poll = now
            self.check_lockdowns()
        if force or now - self._last_command_poll >= COMMAND_POLL_S:
            self._last_command_poll = now
            self.check_commands()

    def heartbeat_if_due(self, *, force: bool = False) -> None:
        """The heartbeat, every :data:`~phonesim.facility.sites.HEARTBEAT_S` of wall time (also in
        virtual time: the heartbeat tells other processes this one is alive, now)."""
        now = time.monotonic()
        if force or now - self._last_beat >= HEARTBEAT_S:
            self._last_beat = now
            self.heartbeat()

    def heartbeat(self) -> None:
        try:
            self.platform.sites.heartbeat(self.statuses())
        except PhoneSimError as err:
            log.warning("heartbeat not written: %s", err)

    def check_commands(self) -> None:
        """Officers' cut-offs for these terminals: the call ends, the command is marked done."""
        try:
            pending = self.oversight.pending_commands(list(self.units))
        except PhoneSimError as err:
            log.warning("commands not read: %s", err)
            return
        for command in pending:
            line = self.line_of(command.terminal)
            if line is not None and line.state.phase.value not in _NO_CALL_PHASES:
                line.inject(CutOff(command.by, command.reason))
                result = "cut off"
            else:
                result = "no call in progress"
            try:
                self.oversight.command_done(command.id, result)
            except PhoneSimError as err:
                log.warning("command %d not marked done: %s", command.id, err)

    def check_lockdowns(self) -> None:
        """A unit newly locked down ends its terminals' calls (new ones are refused by the policy)."""
        try:
            locked = self.platform.sites.locked_down_units(self.facility_id)
        except PhoneSimError as err:
            log.warning("lockdowns not read: %s", err)
            return
        newly = {unit: reason for unit, reason in locked.items() if unit not in self._locked}
        self._locked = locked
        for name, unit in self.units.items():
            if unit in newly:
                line = self.line_of(name)
                if line is not None:
                    line.inject(Lockdown(newly[unit]))


class ChoresThread:
    """:class:`TerminalChores` on a daemon thread of their own, a few times a second; a context
    manager (the last heartbeat, ``stopped``, is written on the way out)."""

    def __init__(self, chores: TerminalChores, *, every_s: float = 0.25) -> None:
        self.chores = chores
        self.every_s = float(every_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="terminal-chores", daemon=True)

    def __repr__(self) -> str:
        return f"<ChoresThread {self.chores!r} running={self._thread.is_alive()}>"

    def __enter__(self) -> ChoresThread:
        self.chores.run(force=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.chores.run()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.chores.heartbeat()
