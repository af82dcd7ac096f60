"""A housing unit's day through the real platform, with audio or without.

Each wall phone is a real :class:`~phonesim.facility.line.FacilityLine` built by the platform
(``Platform.line``): the pure call flow, the executor, the platform's interfaces with their
SQL, the CDR writer, per-minute charges, recordings. People arrive at each phone as a
Poisson process, queue, walk up and make one attempt each (:mod:`.population`, :mod:`.actors`).

Two drivers run the same day:

* **audio** — every phone steps every 20 ms frame: keys as DTMF through a real handset and
  the line's decoder, the called party's keys and voice as audio, the three-way detector on
  it, prompts and warnings mixed, recordings written. This is the cost of the real thing.
* **events** — each line's audio graph is a
  :class:`~phonesim.facility.line_audio.SilentLineAudio`: keys are handed over as the
  detectors would report them, prompts and warnings are only timed, nothing is mixed or
  recorded (header-only WAVs), and the clock jumps from one frame where something is due
  (a person's next action, the called party's, a prompt ending, a warning, a flow timer,
  an arrival) to the next, stepping only the phones due there. Every decision of the
  platform is the same code on the same answers; see ``docs/benchmarks-facility.md`` for
  what is skipped.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import zoneinfo
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.facility.actors import CalledParty, Caller
from benchmarks.facility.measure import Timings, timed_services
from benchmarks.facility.population import Assumptions, Unit, draw_attempt
from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND, VirtualClock, frames_from_s
from phonesim.facility.line_audio import SilentLineAudio
from phonesim.hw.audio import NullAudioPort
from phonesim.hw.keypad_script import MockKeypad
from phonesim.terminals.wallphone import WallPhone

SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)
#: The day simulated: a Tuesday, from shortly before phone hours open until after they close.
DAY = dt.date(2026, 3, 10)
ARRIVALS_FROM = dt.time(5, 50)
ARRIVALS_UNTIL = dt.time(22, 30)
DAY_ENDS = dt.time(22, 45)
#: People mindful of the wait between calls let this much pass since their last call.
WAIT_S = 3 * 3600


def day_epoch_s(timezone: str, start: dt.time = ARRIVALS_FROM) -> float:
    """Calendar seconds of the day's first frame (facility local time ``start``)."""
    return dt.datetime.combine(DAY, start, tzinfo=zoneinfo.ZoneInfo(timezone)).timestamp()


def frames_between(a: dt.time, b: dt.time) -> int:
    return frames_from_s((dt.datetime.combine(DAY, b) - dt.datetime.combine(DAY, a)).total_seconds())


@dataclass
class UnitState:
    """What the housing unit knows of its people during the day."""

    unit: Unit
    busy: set = field(default_factory=set)              # queued or at a phone
    last_connected: dict = field(default_factory=dict)  # person id -> frame their last call ended

    def pick(self, rng: random.Random, a: Assumptions, now: int):
        free = [p for p in self.unit.people if p.id not in self.busy]
        if not free:
            return None
        if rng.random() < a.mindful_of_wait:
            rested = [p for p in free if now - self.last_connected.get(p.id, -10**12) >= frames_from_s(WAIT_S)]
            free = rested or free
        person = rng.choice(free)
        self.busy.add(person.id)
        return person


class Phone:
    """One wall phone of the unit: its line, the person at it, their called party, its queue."""

    def __init__(self, name: str, state: UnitState, *, platform: Any, clock: Any, transport: str, a: Assumptions,
                 arrivals: list[int], seed: int, recordings: Path, services: Any) -> None:
        cfg = platform.cfg
        self.name = name
        self.state = state
        self.clock = clock
        self.a = a
        self.limit_s = float(cfg.profile.limits.call_limit_s)
        self.silent = SilentLineAudio(clock) if transport == "events" else None
        self.party = CalledParty(clock, transport=transport, keys=dict(cfg.profile.called_party), seed=seed)
        self.line = platform.line(far_end=self.party, clock=clock, recordings_dir=recordings, terminal=name,
                                  audio=self.silent, services=services)
        self.party.silent = self.silent
        self.keypad = MockKeypad(clock=clock) if transport == "audio" else None
        self.wallphone = WallPhone(self.keypad, NullAudioPort(), self.line, clock, cfg.profile) \
            if transport == "audio" else None
        self.caller = Caller(clock, self.line, transport=transport, keypad=self.keypad)
        self.arrivals = deque((frame, random.Random(f"{seed}:{name}:{k}")) for k, frame in enumerate(arrivals))
        self.queue: deque = deque()          # (person, rng)
        self.start_at: int | None = None
        self.attempts = 0
        self.steps = 0

    def next_due(self) -> int | None:
        """The next frame this phone has something to do (events driver)."""
        due = [f for f in (self.arrivals[0][0] if self.arrivals else None, self.start_at, self.caller.next_due(),
                           self.party.next_due(), self.silent.next_due_frame()) if f is not None]
        due += [f for _, f in self.line.state.timers]
        return min(due) if due else None

    def step(self) -> None:
        now = self.clock.frame
        while self.arrivals and self.arrivals[0][0] <= now:
            rng = self.arrivals.popleft()[1]
            person = self.state.pick(rng, self.a, now)
            if person is not None:
                self.queue.append((person, rng))
                self._walk_up(now)
        if self.start_at is not None and self.start_at <= now and not self.caller.busy:
            person, rng = self.queue.popleft()
            self.start_at = None
            attempt = draw_attempt(rng, person, self.a, self.limit_s)
            self.party.expect(attempt)
            self.caller.start(attempt)
            self.attempts += 1
        self.caller.act()
        if self.wallphone is not None:
            self.wallphone.step()
        else:
            self.line.step(SILENCE)
        self.steps += 1
        person = self.caller.attempt.person if self.caller.attempt is not None else None
        connected = self.caller.connected_frame
        if self.caller.observe():
            if connected >= 0:
                self.state.last_connected[person.id] = now
            self.state.busy.discard(person.id)
            self._walk_up(now)

    def _walk_up(self, now: int) -> None:
        if self.queue and self.start_at is None and not self.caller.busy:
            self.start_at = now + frames_from_s(self.queue[0][1].uniform(*self.a.walk_up_s))

    def close(self) -> None:
        """End a call still in progress (its record closed, its charges final)."""
        if self.wallphone is not None:
            self.wallphone.close()
        else:
            self.line.close()


def poisson_arrivals(rng: random.Random, per_hour: float, frames: int) -> list[int]:
    out, t = [], 0.0
    while per_hour > 0:
        t += rng.expovariate(per_hour / 3600.0)
        frame = frames_from_s(t)
        if frame >= frames:
            return out
        out.append(frame)
    return out


@dataclass
class DayResult:
    transport: str
    phones: int
    simulated_s: float
    cpu_s: float
    wall_s: float
    steps: int
    attempts: int
    timings: Timings
    server_cpu_s: float = 0.0

    @property
    def line_hours(self) -> float:
        return self.phones * self.simulated_s / 3600


def run_day(platform: Any, unit: Unit, *, transport: str, a: Assumptions, seed: int, recordings: Path,
            timings: Timings, arrivals_s: float | None = None, span_s: float | None = None,
            on_start: Any = None) -> DayResult:
    """The unit's day on ``platform`` (whose ledger runs on the clock returned by :func:`day_clock`
    — ``platform.ledger.clock``). Arrivals from 05:50 to 22:30 (or ``arrivals_s``), the day until
    22:45 (or ``span_s``). CPU and wall time cover the day and closing the lines."""
    clock = platform.ledger.clock
    first = clock.frame
    span = frames_from_s(span_s) if span_s is not None else frames_between(ARRIVALS_FROM, DAY_ENDS)
    arrive = frames_from_s(arrivals_s) if arrivals_s is not None else frames_between(ARRIVALS_FROM, ARRIVALS_UNTIL)
    state = UnitState(unit)
    services = timed_services(platform.services, timings)
    phones = []
    for k, name in enumerate(unit.phones):
        arrivals = [first + f for f in poisson_arrivals(random.Random(f"arrivals:{seed}:{name}"),
                                                        a.arrivals_per_phone_hour, arrive)]
        phones.append(Phone(name, state, platform=platform, clock=clock, transport=transport, a=a,
                            arrivals=arrivals, seed=seed * 1000 + k, recordings=recordings, services=services))
    end = first + span
    if on_start is not None:
        on_start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if transport == "audio":
        while clock.frame < end:
            for phone in phones:
                phone.step()
            clock.tick()
    else:
        _jump_through(clock, phones, end)
        clock.advance(end - clock.frame)
    for phone in phones:
        phone.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return DayResult(transport, len(phones), span / FRAMES_PER_SECOND, cpu, wall,
                     sum(p.steps for p in phones), sum(p.attempts for p in phones), timings)


def _jump_through(clock: Any, phones: list[Phone], end: int) -> None:
    """Step only the phones due, at the frames they are due, until ``end``. A phone's next due
    frame changes only when it is stepped (phones share nothing a step of another changes
    before that frame), so it is asked again only then."""
    never = end
    dues = [p.next_due() for p in phones]
    dues = [never if d is None else d for d in dues]
    while True:
        due = min(dues)
        if due >= end:
            return
        if due > clock.frame:
            clock.advance(due - clock.frame)
        now = clock.frame
        for k, phone in enumerate(phones):
            if dues[k] <= now:
                phone.step()
                d = phone.next_due()
                dues[k] = never if d is None else max(d, now + 1)   # what a step left due: next frame
        clock.tick()


def day_clock(timezone: str, start: dt.time = ARRIVALS_FROM) -> VirtualClock:
    """The simulated day's clock: frame 0 is ``start`` (05:50) local time on :data:`DAY`."""
    return VirtualClock(epoch_s=day_epoch_s(timezone, start))
