"""Where a line's platform work runs: inline (virtual time) or on a worker thread (real time).

A line never waits for the platform on its per-frame path (a PIN check, a policy
look-up, a charge, a CDR write may take milliseconds or seconds).  It hands the
work to a :class:`Jobs` runner with a ``done`` callback; the runner calls ``done``
back **on the line's thread**, in submission order, when the line asks
(:meth:`Jobs.run_done`, once per frame).  So the call flow sees every answer as an
event on a later frame, whatever the latency.

* :class:`InlineJobs` runs the work at once (virtual time: tests, ``phonesim demo``):
  a run is reproducible frame for frame.
* :class:`WorkerJobs` runs it on one named thread, in order (real time).

Nothing a job raises is lost: the error is logged where it happened (on the worker
thread in real time: the per-frame path never logs) and handed to ``done``, whose
owner turns it into an event the flow acts on (an apology to the caller, a retry).
``phonesim.testing`` adds a runner that answers late in virtual time, to prove a
line behaves the same at any look-up latency.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: ``done(result, error)``: exactly one of them is not None (a result may be None itself).
Done = Callable[[Any, BaseException | None], None]
Work = Callable[[], Any]


class Jobs(Protocol):
    """What a line needs of a job runner."""

    realtime: bool

    def submit(self, work: Work, done: Done) -> None: ...

    def run_done(self) -> int: ...

    def drain(self, timeout_s: float = 30.0) -> None: ...

    def wait_oldest(self, timeout_s: float) -> None: ...

    def close(self) -> None: ...


def run_logged(work: Work) -> tuple[Any, BaseException | None]:
    """Run ``work``; an exception is logged here (the thread it happened on) and returned."""
    try:
        return work(), None
    except Exception as err:
        log.warning("platform job %s failed: %s: %s", getattr(work, "__qualname__", work),
                    type(err).__name__, err, exc_info=log.isEnabledFor(logging.DEBUG))
        return None, err


class InlineJobs:
    """Runs each job when it is submitted; ``done`` is called at the next :meth:`run_done`."""

    realtime = False

    def __init__(self) -> None:
        self._finished: deque[tuple[Done, Any, BaseException | None]] = deque()
        self.failures = 0

    def __repr__(self) -> str:
        return f"<InlineJobs finished={len(self._finished)} failures={self.failures}>"

    def submit(self, work: Work, done: Done) -> None:
        result, error = run_logged(work)
        self.failures += error is not None
        self._finished.append((done, result, error))

    def run_done(self) -> int:
        n = 0
        while self._finished:       # a done callback may submit more work: run it too
            done, result, error = self._finished.popleft()
            done(result, error)
            n += 1
        return n

    def drain(self, timeout_s: float = 30.0) -> None:
        self.run_done()

    def wait_oldest(self, timeout_s: float) -> None:
        """Nothing to wait for: a job is finished when it is submitted."""

    def close(self) -> None:
        self.drain()


class WorkerJobs:
    """Runs jobs on one named worker thread, in submission order."""

    realtime = True

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[tuple[concurrent.futures.Future, Done]] = deque()
        self.failures = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<WorkerJobs {self.name} pending={len(self._pending)} failures={self.failures}>"

    def submit(self, work: Work, done: Done) -> None:
        self._pending.append((self._pool.submit(run_logged, work), done))

    def run_done(self) -> int:
        n = 0
        while self._pending and self._pending[0][0].done():
            future, done = self._pending.popleft()
            result, error = future.result()
            self.failures += error is not None
            done(result, error)
            n += 1
        return n

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for every submitted job (closing, tests) and call their ``done``."""
        while self._pending:
            concurrent.futures.wait([self._pending[0][0]], timeout=timeout_s)
            if not self._pending[0][0].done():
                log.error("%s: a platform job did not finish within %.0f s", self.name, timeout_s)
                return
            self.run_done()

    def wait_oldest(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the oldest pending job (none pending: return at once).

        A line on a *virtual* clock whose platform work runs on this worker calls it once a
        frame while a look-up is pending: virtual time then never runs ahead of real work in
        progress (a 60 ms PIN look-up would otherwise miss a 10 s deadline that passes in
        50 ms of wall time).
        """
        if self._pending:
            concurrent.futures.wait([self._pending[0][0]], timeout=timeout_s)

    def close(self) -> None:
        if self._closed:
            return
        self.drain()
        self._pool.shutdown(wait=True)
        self._closed = True
