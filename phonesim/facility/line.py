"""One facility line: the per-frame engine between a handset and the outside line.

``FacilityLine.step(uplink) -> downlink`` runs once per 20 ms frame and joins three
parts that know nothing of each other:

* the pure :class:`~phonesim.facility.callflow.CallFlow` — every rule of a call;
* the :class:`~phonesim.facility.line_audio.LineAudio` graph — detectors, prompts,
  tones, warnings, bridging, recorder taps, and no rules;
* the :class:`~phonesim.facility.executor.Executor` — carries out the flow's actions on
  the audio graph, the far end and the platform's interfaces
  (:mod:`phonesim.facility.services`).

Each frame: keys are decoded from what the handset *sends* (never the mixed earpiece
audio); far-end events, answers of the platform and expired timers go through the
flow; the audio is mixed, exchanged with the far end and recorded; the far end's
audio is listened to for keys and three-way calling as the flow says
(:attr:`CallState.listening`); the call's record is written in the background.

Every thing that happens is one entry of the line's :class:`~phonesim.facility.calllog.LineLog`
(PINs masked), which the CDR timeline, the transcript, ``--json-events``, the status
line and the live stream all read.

The per-frame path never waits for the platform (docs/architecture.md, real-time
rules): look-ups, charges and records run on the job runner — a worker thread in real
time, inline in virtual time — and come back as events on a later frame. Build a line
with :func:`phonesim.facility.platform.Platform.line`.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from phonesim.clock import FRAME_SAMPLES
from phonesim.events import (
    AuthResult,
    CallAllowedResult,
    ChargeResult,
    DigitDetected,
    FarEndAnswered,
    FarEndBusy,
    FarEndDigit,
    FarEndFailed,
    FarEndHungUp,
    FarEndNoAnswer,
    FarEndRinging,
    HookChanged,
    NumberResult,
    PromptFinished,
    Shutdown,
    ThreeWaySuspected,
)
from phonesim.exc import CallFlowError
from phonesim.facility.actions import StopRecording
from phonesim.facility.callflow import CallFlow, CallState, Phase
from phonesim.facility.calllog import MASK, CallSummary, LineLog
from phonesim.facility.executor import Executor
from phonesim.facility.line_audio import LineAudio
from phonesim.facility.services import Services
from phonesim.facility.vocabulary import Direction

log = logging.getLogger(__name__)

_FAR_END_NAMES = {FarEndRinging: "ringing", FarEndAnswered: "answered", FarEndBusy: "busy",
                  FarEndNoAnswer: "no-answer", FarEndFailed: "failed", FarEndHungUp: "hung-up"}
#: Phases in which the digits keyed are (or may become) a PIN: they are masked in the log.
_PIN_PHASES = (Phase.PIN, Phase.AUTHENTICATING)


class FacilityLine:
    """The platform side of one wall phone (see the module docstring).

    Parameters
    ----------
    cfg
        The configuration (its facility profile).
    services
        The platform's interfaces (identity, policy, billing, call records).
    prompts
        A :class:`phonesim.facility.prompts.PromptSet`.
    far_end
        The outside line (robot, second headset, SIP).
    clock
        The frame clock; the driver ticks it, the line only reads it.
    jobs
        Where platform work runs (:mod:`phonesim.facility.jobs`): a worker thread in real
        time, inline in virtual time.
    recordings_dir
        Where recordings go (stereo: inmate left, what the inmate hears right).
    terminal
        This phone's station name (CDRs, PIN failure counting).
    keep_history
        Keep every log entry of the line's life in ``log.history`` (``phonesim demo``).
    audio
        The audio graph (default: a :class:`~phonesim.facility.line_audio.LineAudio`);
        a :class:`~phonesim.facility.line_audio.SilentLineAudio` simulates a day without audio.

    Attributes
    ----------
    state
        The call flow's :class:`~phonesim.facility.callflow.CallState`.
    log
        The line's :class:`~phonesim.facility.calllog.LineLog`.
    calls
        A :class:`~phonesim.facility.calllog.CallSummary` per finished attempt.
    """

    def __init__(self, cfg: Any, *, services: Services, prompts: Any, far_end: Any, clock: Any, jobs: Any,
                 recordings_dir: str | Path, terminal: str = "phone-1", keep_history: bool = False,
                 audio: Any = None) -> None:
        self.cfg = cfg
        self.prompts = prompts
        self.far_end = far_end
        self.clock = clock
        self.jobs = jobs
        self.terminal = terminal
        self.flow = CallFlow(cfg)
        self.state: CallState = self.flow.initial_state()
        self.log = LineLog(keep_history=keep_history)
        self.audio = audio if audio is not None else LineAudio()
        self.executor = Executor(services=services, jobs=jobs, audio=self.audio, far_end=far_end,
                                 prompts=prompts, clock=clock, log=self.log, emit=self._answers_put,
                                 warning=cfg.profile.warning, recordings_dir=Path(recordings_dir),
                                 terminal=terminal)
        self.calls: list[CallSummary] = []
        self._injected: deque = deque()
        self._taps: list = []
        self._answers: deque = deque()
        self._dispatching = False
        self._closed = False

    def __repr__(self) -> str:
        return (f"<FacilityLine {self.terminal} phase={self.state.phase.value} call={self.log.call} "
                f"frame={self.clock.frame}{' closed' if self._closed else ''}>")

    def __enter__(self) -> FacilityLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def cdr_id(self) -> int | None:
        """The database id of the current (or last) call's record, once it exists."""
        return self.executor.records.call_id

    # --- the per-frame path ----------------------------------------------------------
    def hook(self, off_hook: bool) -> None:
        """The handset's hook switch changed (the wall phone forwards its keypad's event)."""
        self.dispatch(HookChanged(off_hook))

    def uplink_lost(self, n_samples: int) -> None:
        """The handset's audio lost ``n_samples`` (an input overflow): tell the DTMF detector,
        so it never joins audio across the gap."""
        if n_samples > 0:
            for event in self.audio.uplink_lost(n_samples):
                self.dispatch(event)

    def step(self, uplink: np.ndarray) -> np.ndarray:
        """Process one frame of the handset's sent audio; return what its earpiece plays."""
        now = self.clock.frame
        uplink = np.asarray(uplink, dtype=np.int16)
        if uplink.shape != (FRAME_SAMPLES,):
            raise CallFlowError(f"FacilityLine.step: expected {FRAME_SAMPLES} samples, got shape {uplink.shape}")
        self.audio.capture(uplink)
        if self.state.listening.inmate_dtmf:
            for event in self.audio.detect_uplink(uplink):
                self.dispatch(event)
        for event in self.far_end.poll_events():
            self.dispatch(event)
        while self._injected:
            self.dispatch(self._injected.popleft())
        self._pump()
        for timer in self.flow.due_timers(self.state, now):
            self.dispatch(timer)

        to_far, to_inmate, finished, warning_started = self.audio.mix(uplink, now)
        if warning_started:
            self.executor.note("warning")
        far_rx = np.asarray(self.far_end.exchange(to_far), dtype=np.int16) if self.state.far_active else None
        far_rx = self.audio.far_received(far_rx)
        self.audio.record(uplink, to_inmate)
        if self._taps and self.state.recording:         # never a privileged call: it is not recorded
            pair = (uplink.copy(), to_inmate.copy())
            for tap in self._taps:
                tap.append(pair)
        for direction, tag in finished:
            self.dispatch(PromptFinished(tag, direction))
        listening = self.state.listening
        if listening.far_dtmf or listening.threeway:
            for event in self.audio.detect_far(far_rx, now, far_dtmf=listening.far_dtmf,
                                               threeway=listening.threeway):
                self.dispatch(event)
        self.executor.records.flush(now)
        return to_inmate.copy()

    def add_tap(self, tap: Any) -> None:
        """Hand ``tap`` (a ``deque(maxlen=...)``) each frame of the call as recorded — the inmate's
        audio and what the inmate hears — while the call is connected and recorded; a privileged
        call is never recorded, so never tapped (an officer listening live)."""
        self._taps = [*self._taps, tap]

    def remove_tap(self, tap: Any) -> None:
        self._taps = [t for t in self._taps if t is not tap]

    def inject(self, event: Any) -> None:
        """An event from outside the line (a lockdown, an officer's cut-off), handled at the next
        frame; safe from any thread."""
        self._injected.append(event)

    def _answers_put(self, event: Any) -> None:
        self._answers.append(event)

    def _pump(self) -> None:
        """Deliver the platform's finished work (answers become events for the flow)."""
        while True:
            self.jobs.run_done()
            if not self._answers:
                return
            while self._answers:
                self.dispatch(self._answers.popleft())

    def dispatch(self, event: Any) -> None:
        """Put one event through the flow and carry out the actions it returns."""
        before = self.state
        self._log_event(event, before)
        self.state, actions = self.flow.handle(before, event, self.clock.frame)
        for action in actions:
            self.executor.execute(action)
        if self.state.phase is not before.phase:
            self.executor.note("phase", phase=self.state.phase.value)
            if self.state.phase in (Phase.IDLE, Phase.DONE):
                self.audio.reset_uplink_detector()
            if self.state.phase is Phase.DONE or (self.state.phase is Phase.IDLE
                                                  and before.phase is not Phase.DONE):
                self.calls.append(self.log.summary(cdr_id=self.executor.records.call_id))
        if not self._dispatching:          # answers of inline work, in order, after this event
            self._dispatching = True
            try:
                self._pump()
            finally:
                self._dispatching = False

    def _log_event(self, event: Any, before: CallState) -> None:
        """The log entry an event makes (the flow's own entries come as LogEvent actions)."""
        note = self.executor.note
        if isinstance(event, DigitDetected):
            secret = before.phase in _PIN_PHASES and not before.inmate_id and event.digit.isdigit()
            note("digit", side=Direction.INMATE.value, digit=MASK if secret else event.digit,
                 low_dbm0=round(event.low_dbm0, 1), high_dbm0=round(event.high_dbm0, 1))
        elif isinstance(event, FarEndDigit):
            note("digit", side=Direction.FAR.value, digit=event.digit, source=event.source,
                 low_dbm0=round(event.low_dbm0, 1), high_dbm0=round(event.high_dbm0, 1))
        elif isinstance(event, HookChanged):
            if not event.off_hook and before.phase is not Phase.IDLE:
                note("onhook")
        elif isinstance(event, ChargeResult):
            note("charge", minute_index=event.minute_index, ok=event.ok, cents=event.amount_cents,
                 balance_after_cents=event.balance_after_cents, duplicate=event.duplicate,
                 error=event.error)
        elif isinstance(event, AuthResult):
            note("answer", what="authenticate", ok=event.ok, inmate_id=event.inmate_id,
                 locked=event.locked, failures=event.failures)
        elif isinstance(event, CallAllowedResult):
            note("answer", what="call-allowed", ok=event.ok, reason=event.reason,
                 max_call_s=event.max_call_s)
        elif isinstance(event, NumberResult):
            note("answer", what="number", ok=event.ok, number=event.number, reason=event.reason,
                 jurisdiction=event.jurisdiction, privileged=event.privileged,
                 cents_per_min=event.cents_per_min, payer_kind=event.payer_kind,
                 affordable_minutes=event.affordable_minutes)
        elif isinstance(event, ThreeWaySuspected):
            note("three-way-suspected", attempt=event.kind, confidence=round(float(event.confidence), 3),
                 level=self.flow.threeway_policy.classify(event) or "note")
        elif type(event) in _FAR_END_NAMES:
            note("far-end", name=_FAR_END_NAMES[type(event)], reason=getattr(event, "reason", ""))

    # --- stopping -------------------------------------------------------------------------
    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for the platform's work, deliver its answers and write the records
        (tests, shutdown)."""
        self.jobs.drain(timeout_s)
        self._pump()
        records = self.executor.records
        for _ in range(1000):
            if records.idle:
                break
            records.flush(self.clock.frame, force=True)
            self.jobs.drain(timeout_s)
            self._pump()
            if records.failures and not records.idle and records.stuck:
                log.error("%s: the call records could not be written: %s", self.terminal,
                          records.last_error)
                break

    def close(self) -> None:
        """End any active call cleanly (CDR closed, charges final, recording finalised)."""
        if self._closed:
            return
        if self.state.phase not in (Phase.IDLE, Phase.DONE):
            self.dispatch(Shutdown("line closed"))
        self.executor.execute(StopRecording())
        self.drain()
        self.jobs.close()
        self._closed = True
