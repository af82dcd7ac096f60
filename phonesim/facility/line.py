"""One facility line: the per-frame engine between a handset and the outside line.

``FacilityLine.step(uplink) -> downlink`` runs once per 20 ms frame:

1. the DTMF detector listens to what the handset *sends* (never to the mixed
   earpiece audio) and turns key tones into :class:`~phonesim.events.DigitDetected`;
2. events (digits, far-end progress, expired timers, finished prompts, look-up
   results) go through the pure :class:`~phonesim.facility.callflow.CallFlow`,
   and this class, the executor, carries out the actions it returns;
3. the audio is mixed: the bridged conversation, prompts and tones per direction,
   and the warning message injected into both directions once the call is accepted;
4. the frame is exchanged with the far end, whose audio feeds the far-end DTMF
   detector (the called party's keys) and the three-way detector;
5. the recorder gets the inmate's audio (left) and what the inmate hears (right): the
   far end's audio plus the injected warnings and prompts, which is what investigators
   need (issue 4) — never on a privileged call.

Real-time rules (DESIGN.md 2.4): with ``realtime=True`` every database call
(ledger, policy, CDR) runs on one worker thread, in order, and its result comes
back as an event on a later frame; the per-frame path does no file or database
I/O.  With ``realtime=False`` (virtual time: tests and ``phonesim demo``) the same
jobs run inline, so a run is reproducible frame for frame.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
from collections import deque
from pathlib import Path

import numpy as np

from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND, frames_from_s
from phonesim.dsp.dtmf import DtmfDetector
from phonesim.dsp.mix import PromptPlayer, WarningInjector, saturating_add
from phonesim.dsp.tones import ToneSource, render_tone
from phonesim.events import (
    AuthResult,
    CallAllowedResult,
    ChargeResult,
    DigitDetected,
    FarEndDigit,
    HookChanged,
    NumberResult,
    PromptFinished,
    Shutdown,
    ThreeWaySuspected,
)
from phonesim.facility import actions as A
from phonesim.facility.callflow import CallFlow, CallState, Phase
from phonesim.facility.cdr import UPDATABLE, CdrStore
from phonesim.facility.policy import Policy
from phonesim.facility.recorder import CallRecorder
from phonesim.facility.threeway import ThreeWayDetector

log = logging.getLogger(__name__)

#: The far-end DTMF detector listens for the called party's choice; once connected the
#: three-way detector watches far-end digits itself.
FAR_LISTEN_PHASES = (Phase.ANNOUNCING,)
#: After the accept key, far-end audio this long is not taken for three-way dialling.
THREEWAY_GRACE_FRAMES = frames_from_s(0.5)
TONE_LEVEL_DBM0 = -16.0


def _logged(fn, *args, **kwargs):
    """Run a job, logging its failure where it happens (the worker thread in real time:
    the per-frame path never logs), then re-raise it for :attr:`_Jobs.errors`."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        log.exception("line job %s failed", getattr(fn, "__name__", fn))
        raise


class _Jobs:
    """Database work: inline (virtual time) or on one named worker thread (real time)."""

    def __init__(self, realtime: bool, name: str) -> None:
        self.realtime = realtime
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) \
            if realtime else None
        self._pending: deque[concurrent.futures.Future] = deque()
        self.results: deque = deque()
        self.errors: list[BaseException] = []

    def submit(self, fn, *args, **kwargs) -> None:
        """Run ``fn``; an event it returns (not None) is delivered to the flow."""
        if self._pool is None:
            try:
                result = _logged(fn, *args, **kwargs)
            except Exception as err:  # a failed record must not kill the call
                self.errors.append(err)
                return
            if result is not None:
                self.results.append(result)
            return
        self._pending.append(self._pool.submit(_logged, fn, *args, **kwargs))

    def collect(self) -> None:
        """Move finished jobs' results (in submission order) to ``results``."""
        while self._pending and self._pending[0].done():
            future = self._pending.popleft()
            err = future.exception()
            if err is not None:
                self.errors.append(err)
                continue
            if future.result() is not None:
                self.results.append(future.result())

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for every submitted job (closing, tests)."""
        while self._pending:
            concurrent.futures.wait([self._pending[0]], timeout=timeout_s)
            self.collect()

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class FacilityLine:
    """The platform side of one wall phone (see the module docstring).

    Parameters
    ----------
    cfg
        The configuration (facility, profile).
    ledger
        A :class:`phonesim.facility.ledger.Ledger` (PINs, money, blocks).
    prompts
        A :class:`phonesim.facility.prompts.PromptSet`.
    far_end
        A :class:`phonesim.facility.farend.FarEnd` (robot, audio, SIP).
    clock
        The frame clock; the driver ticks it, the line only reads it.
    recordings_dir
        Where call recordings go (``call-<id>.wav``, stereo: inmate left, what the inmate
        hears right).
    terminal
        This phone's station name (CDRs, PIN failure counting).
    policy, cdr
        Override the :class:`~phonesim.facility.policy.Policy` and
        :class:`~phonesim.facility.cdr.CdrStore` built from ``cfg`` and ``ledger``.
    realtime
        Run database work on a worker thread (see the module docstring).
    keep_transcript
        Keep :attr:`transcript`, a list of what happened frame by frame (prompts,
        digits with levels — the PIN masked —, charges, warnings) for ``phonesim demo``.

    Attributes
    ----------
    state
        The call flow's :class:`~phonesim.facility.callflow.CallState` (phase, digits ...).
    events
        A ``queue.SimpleQueue`` of every event the flow handled, for a status line.
    calls
        A summary dict per finished attempt (cdr_id, disposition, charges, recording ...).
    """

    def __init__(self, cfg, *, ledger, prompts, far_end, clock, recordings_dir, terminal: str = "phone-1",
                 policy=None, cdr=None, realtime: bool = False, keep_transcript: bool = False) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.prompts = prompts
        self.far_end = far_end
        self.clock = clock
        self.recordings_dir = Path(recordings_dir)
        self.terminal = terminal
        self.policy = policy if policy is not None else Policy(cfg, ledger)
        self.cdr = cdr if cdr is not None else CdrStore(ledger)
        self.flow = CallFlow(cfg)
        self.state: CallState = self.flow.initial_state()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.transcript: list[dict] | None = [] if keep_transcript else None
        self.calls: list[dict] = []          # a summary per finished attempt
        self._jobs = _Jobs(realtime, f"line-db-{terminal}")
        self._uplink_detector = DtmfDetector()
        self._far_detector = DtmfDetector()
        self._threeway = ThreeWayDetector()
        self._players = {A.INMATE: PromptPlayer(), A.FAR: PromptPlayer()}
        self._tones: dict[str, object] = {}
        self._injector = None
        self._recorder = None
        self._bridged = False
        self._far_rx = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._to_far = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._to_inmate = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._inmate = None
        self._payer: dict = {}
        self._call: dict | None = None
        self.cdr_id: int | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (f"<FacilityLine {self.terminal} phase={self.state.phase.value} cdr_id={self.cdr_id} "
                f"frame={self.clock.frame}{' closed' if self._closed else ''}>")

    def __enter__(self) -> FacilityLine:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the per-frame path ----------------------------------------------------------
    def hook(self, off_hook: bool) -> None:
        """The handset's hook switch changed (the wall phone forwards its keypad's event)."""
        self._dispatch(HookChanged(off_hook))

    def uplink_lost(self, n_samples: int) -> None:
        """The handset's audio lost ``n_samples`` (an input overflow): tell the DTMF detector,
        so it never joins audio across the gap."""
        if n_samples > 0:
            for d in self._uplink_detector.fill_in(n_samples):
                self._dispatch(DigitDetected(d.digit, d.start_sample, d.end_sample, d.low_dbm0,
                                             d.high_dbm0, d.twist_db, d.channel))

    def step(self, uplink: np.ndarray) -> np.ndarray:
        """Process one frame of the handset's sent audio; return what its earpiece plays."""
        now = self.clock.frame
        uplink = np.asarray(uplink, dtype=np.int16)
        if uplink.shape != (FRAME_SAMPLES,):
            raise ValueError(f"FacilityLine.step: expected {FRAME_SAMPLES} samples, got shape {uplink.shape}")
        phase = self.state.phase
        if phase not in (Phase.IDLE, Phase.DONE):
            for d in self._uplink_detector.feed(uplink):
                self._dispatch(DigitDetected(d.digit, d.start_sample, d.end_sample, d.low_dbm0,
                                             d.high_dbm0, d.twist_db, d.channel))
        for event in self.far_end.poll_events():
            self._dispatch(event)
        self._jobs.collect()
        self._run_results()
        for timer in self.flow.due_timers(self.state, now):
            self._dispatch(timer)

        # the audio of this frame
        to_far, to_inmate = self._to_far, self._to_inmate
        if self._bridged:
            to_far[:] = uplink
            to_inmate[:] = self._far_rx
        else:
            to_far[:] = 0
            to_inmate[:] = 0
        tone = self._tones.get(A.INMATE)
        if tone is not None:
            saturating_add(to_inmate, tone.read(FRAME_SAMPLES), out=to_inmate)
        finished = [(A.INMATE, t) for t in self._players[A.INMATE].mix_into(to_inmate)]
        finished += [(A.FAR, t) for t in self._players[A.FAR].mix_into(to_far)]
        if self._injector is not None:
            self._injector.process(to_inmate, to_far, now)
        if self.state.far_active:
            far_rx = np.asarray(self.far_end.exchange(to_far), dtype=np.int16)
        else:
            far_rx = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._far_rx = far_rx
        if self._recorder is not None:
            self._recorder.write(uplink, to_inmate)
        for direction, tag in finished:
            self._dispatch(PromptFinished(tag, direction))
        if self.state.phase in FAR_LISTEN_PHASES:
            for d in self._far_detector.feed(far_rx):
                self._dispatch(FarEndDigit(d.digit, d.start_sample, d.end_sample, d.low_dbm0,
                                           d.high_dbm0, "inband"))
        if self.state.phase is Phase.CONNECTED and \
                (not self.state.privileged or self.cfg.profile.threeway.detect_on_privileged):
            for event in self._threeway.feed(far_rx, now):
                self._dispatch(event)
        return to_inmate.copy()

    def _run_results(self) -> None:
        while self._jobs.results:
            self._dispatch(self._jobs.results.popleft())

    def _dispatch(self, event) -> None:
        before = self.state.phase
        if isinstance(event, NumberResult) and event.ok:
            self._payer = {"payer_kind": "free" if event.privileged else event.payer_kind,
                           "payer_id": event.payer_id}
        self.state, actions = self.flow.handle(self.state, event, self.clock.frame)
        self.events.put(event)
        self._note_event(event, before)
        for action in actions:
            self._execute(action)
        if self.state.phase is not before:
            self._note("phase", phase=self.state.phase.value)
            if self.state.phase in (Phase.IDLE, Phase.DONE):
                self._uplink_detector.reset()
        self._run_results()

    # --- the executor ------------------------------------------------------------------
    def _execute(self, action) -> None:
        name = type(action).__name__
        handler = getattr(self, f"_do_{name}", None)
        if handler is None:
            raise NotImplementedError(f"FacilityLine: no executor for {name}")
        handler(action)

    def _do_OpenCdr(self, a: A.OpenCdr) -> None:
        self._call = {"cdr_id": None, "offhook_frame": self.clock.frame, "digits": [], "charges": [],
                      "amount_cents": 0, "billed_minutes": 0, "warnings_at_s": [], "recording": None,
                      "privileged": False, "disposition": None, "call_type": "", "number": ""}
        self._inmate = None
        self._payer = {}
        offhook_s = self.clock.now_s

        def job():
            self.cdr_id = self.cdr.open_call(terminal=self.terminal, inmate_id=None, offhook_s=offhook_s)
            return None
        self._jobs.submit(job)

    def _cdr_job(self, fn) -> None:
        def job():
            if self.cdr_id is not None:
                fn(self.cdr_id)
        self._jobs.submit(job)

    def _do_SetCdr(self, a: A.SetCdr) -> None:
        fields = {}
        for key, value in a.fields:
            if key.endswith("_frame"):
                key, value = key[:-6] + "_s", int(value) / FRAMES_PER_SECOND
            fields[key] = value
        if self._call is not None:
            for key in ("call_type", "privileged", "billed_minutes", "number"):
                if key in fields:
                    self._call[key] = fields[key]
        # billed minutes and amount come from the ledger's charges when the CDR closes
        fields = {k: v for k, v in fields.items() if k in UPDATABLE and k not in ("billed_minutes", "amount_cents")}
        if fields:
            self._cdr_job(lambda cid: self.cdr.update(cid, **fields))

    def _do_LogEvent(self, a: A.LogEvent) -> None:
        at_s = self.clock.now_s
        detail = a.as_dict()
        self._note("log", log_kind=a.kind, detail=detail)
        self._cdr_job(lambda cid: self.cdr.add_event(cid, at_s, a.kind, detail))

    def _do_Authenticate(self, a: A.Authenticate) -> None:
        now_s = self.clock.now_s

        def job():
            result = self.ledger.authenticate(a.pin, now_s=now_s, terminal=self.terminal)
            inmate = result.inmate
            if result.ok:
                self._inmate = inmate
            return AuthResult(bool(result.ok), inmate.id if inmate else "",
                              getattr(inmate, "name_prompt", "") or "inmate_name_default",
                              bool(result.locked), int(result.failures))
        self._jobs.submit(job)

    def _do_CheckCallAllowed(self, a: A.CheckCallAllowed) -> None:
        now_s, wall_s = self.clock.now_s, self.clock.wall_time_s()

        def job():
            v = self.policy.may_call(self._inmate, now_s=now_s, wall_time_s=wall_s)
            return CallAllowedResult(bool(v.ok), getattr(v, "disposition", "") or v.reason or "",
                                     v.prompt or "", int(v.max_call_s or 0))
        self._jobs.submit(job)

    def _do_CheckNumber(self, a: A.CheckNumber) -> None:
        wall_s = self.clock.wall_time_s()

        def job():
            v = self.policy.check_number(self._inmate, a.number, a.call_type, wall_time_s=wall_s)
            return NumberResult(bool(v.ok), v.number or a.number, v.reason or "", v.prompt or "",
                                v.disposition or "", v.jurisdiction or "", bool(v.privileged),
                                int(v.cents_per_min or 0), v.payer_kind or "", str(v.payer_id or ""),
                                v.affordable_minutes, int(getattr(v, "minute_charge_cents", 0) or 0))
        self._jobs.submit(job)

    def _do_Charge(self, a: A.Charge) -> None:
        call = self._call
        payer_kind = "free" if self.state.privileged else None

        def job():
            kind = payer_kind or self._payer_kind()
            result = self.ledger.charge_minute(self.cdr_id, a.minute_index, payer_kind=kind,
                                               payer_id=self._payer_id(), amount_cents=a.cents)
            if result.ok and call is not None:
                call["charges"].append((a.minute_index, int(result.amount_cents),
                                        int(result.balance_after_cents)))
                call["amount_cents"] += int(result.amount_cents)
            return ChargeResult(a.minute_index, bool(result.ok), int(result.balance_after_cents),
                                bool(result.duplicate))
        self._jobs.submit(job)

    def _payer_kind(self) -> str:
        return self._payer.get("payer_kind") or self.state.call_type

    def _payer_id(self) -> str:
        return self._payer.get("payer_id") or (self._inmate.id if self.state.call_type == "debit"
                                               and self._inmate else self.state.number)

    def _do_BlockNumber(self, a: A.BlockNumber) -> None:
        def job():
            self.ledger.block_number(a.number, kind="keypad", by="called party")
        self._jobs.submit(job)

    def _do_Dial(self, a: A.Dial) -> None:
        self._far_detector.reset()
        self.far_end.dial(a.number)

    def _do_HangUpFarEnd(self, a: A.HangUpFarEnd) -> None:
        self.far_end.hang_up()

    def _do_RejectInbound(self, a: A.RejectInbound) -> None:
        """Inmates cannot receive calls: the attempt gets a CDR of its own, closed at once."""
        self._note("inbound-refused", caller=a.caller)
        at_s = self.clock.now_s

        def job():
            call_id = self.cdr.open_call(terminal=self.terminal, inmate_id=None, offhook_s=at_s)
            self.cdr.add_event(call_id, at_s, "inbound-refused", {"caller": a.caller})
            self.cdr.close_call(call_id, disposition="inbound-refused", ended_s=at_s)
        self._jobs.submit(job)

    def _do_PlayPrompt(self, a: A.PlayPrompt) -> None:
        names: list[str] = []
        for item in a.names:
            kind, _, value = item.partition(":")
            if kind == "say_number" and value:
                names += self.prompts.say_number(int(value))
            elif kind == "say_cents" and value:
                names += self.prompts.say_cents(int(value))
            else:
                names.append(item)
        self._players[a.to].play(self.prompts.sequence(names), a.tag)
        self._timeline("prompt", to=a.to, names=names)
        self._note("prompt", to=a.to, names=list(a.names), words=names, tag=a.tag)

    def _do_StopPrompt(self, a: A.StopPrompt) -> None:
        self._players[a.to].stop()

    def _do_PlayTone(self, a: A.PlayTone) -> None:
        self._tones[a.to] = ToneSource(a.name, level_dbm0=TONE_LEVEL_DBM0)
        self._note("tone", to=a.to, name=a.name)

    def _do_StopTone(self, a: A.StopTone) -> None:
        self._tones.pop(a.to, None)

    def _do_Bridge(self, a: A.Bridge) -> None:
        self._bridged = True
        self._threeway.reset()
        self._threeway.ignore_digits_until(self.clock.frame + THREEWAY_GRACE_FRAMES)
        self._far_rx = np.zeros(FRAME_SAMPLES, dtype=np.int16)

    def _do_Unbridge(self, a: A.Unbridge) -> None:
        self._bridged = False

    def _do_StartRecording(self, a: A.StartRecording) -> None:
        if self.state.privileged:        # belt and braces: never record a privileged call
            return
        name = f"call-{self.cdr_id}.wav" if self.cdr_id is not None else \
            f"{self.terminal}-{int(self.clock.wall_time_s())}.wav"
        path = self.recordings_dir / name
        # In virtual time the line can outrun the disk: wait for the writer rather
        # than drop audio (real time never waits: a late frame is worse than a gap).
        self._recorder = CallRecorder(path, block_when_full_s=None if self._jobs.realtime else 10.0)
        if self._call is not None:
            self._call["recording"] = str(path)
        self._cdr_job(lambda cid: self.cdr.update(cid, recording_path=str(path)))
        self._note("recording", path=str(path))

    def _do_StopRecording(self, a: A.StopRecording) -> None:
        """Stop the recorder; the job queue waits for the finished file (never this frame) and
        notes a failed recording in the CDR, before the CDR is closed."""
        if self._recorder is None:
            return
        recorder, self._recorder = self._recorder, None
        recorder.close(wait=False)
        at_s = self.clock.now_s

        def job():
            recorder.join()
            if recorder.error is not None:
                log.error("recording %s failed: %s", recorder.path, recorder.error)
                if self.cdr_id is not None:
                    self.cdr.add_event(self.cdr_id, at_s, "recording-failed",
                                       {"error": str(recorder.error), "dropped_frames": recorder.dropped_frames})
        self._jobs.submit(job)

    def _do_StartWarnings(self, a: A.StartWarnings) -> None:
        w = self.cfg.profile.warning
        beep = None
        if w.mode == "beep":
            beep = render_tone("warning_beep", 0.2)
        self._injector = WarningInjector(self.prompts["warning"], first_after_frames=frames_from_s(w.first_after_s),
                                         interval_frames=frames_from_s(w.interval_s), duck_db=float(w.duck_db),
                                         fade_ms=float(w.fade_ms), beep=beep)
        self._injector.start(self.clock.frame)

    def _do_StopWarnings(self, a: A.StopWarnings) -> None:
        if self._injector is not None:
            injector, self._injector = self._injector, None
            injector.stop()
            if self._call is not None:
                self._call["warnings_at_s"] = [f / FRAMES_PER_SECOND for f in injector.played_at_frames]
            frames = list(injector.played_at_frames)
            if self.transcript is not None:
                self.transcript += [{"frame": f, "kind": "warning"} for f in frames]

            def log_warnings(cid):
                for f in frames:
                    self.cdr.add_event(cid, f / FRAMES_PER_SECOND, "warning-played", {"frame": f})
            self._cdr_job(log_warnings)

    def _do_EndCall(self, a: A.EndCall) -> None:
        self._do_StopRecording(A.StopRecording())
        self._do_StopWarnings(A.StopWarnings())
        self._tones.clear()
        self._bridged = False
        ended_s = self.clock.now_s
        call = self._call
        if call is not None:
            call["disposition"] = a.disposition
            call["ended_frame"] = self.clock.frame
        self._note("end", disposition=a.disposition)

        def job():
            if self.cdr_id is not None:
                self.cdr.close_call(self.cdr_id, disposition=a.disposition, ended_s=ended_s)
            if call is not None:
                call["cdr_id"] = self.cdr_id
                self.calls.append(call)
            return None
        self._jobs.submit(job)

    # --- notes for the UI / transcript ------------------------------------------------------
    def _note(self, kind: str, **fields) -> None:
        if self.transcript is not None:
            self.transcript.append({"frame": self.clock.frame, "kind": kind, **fields})

    def _timeline(self, kind: str, **detail) -> None:
        """An entry of the CDR's timeline (written by the database job queue)."""
        at_s = self.clock.now_s
        self._cdr_job(lambda cid: self.cdr.add_event(cid, at_s, kind, detail))

    def _note_event(self, event, phase_before: Phase) -> None:
        if isinstance(event, DigitDetected):
            # a PIN never reaches a screen, a log or a record
            masked = phase_before is Phase.PIN and event.digit != "#"
            digit = "\u2022" if masked else event.digit
            levels = dict(low_dbm0=round(event.low_dbm0, 1), high_dbm0=round(event.high_dbm0, 1))
            self._timeline("digit", side="inmate", digit=digit, **levels)
            self._note("digit", side="inmate", digit=digit, **levels)
            if self._call is not None:
                self._call["digits"].append(digit)
        elif isinstance(event, FarEndDigit):
            levels = dict(low_dbm0=round(event.low_dbm0, 1), high_dbm0=round(event.high_dbm0, 1))
            self._timeline("digit", side="far", digit=event.digit, source=event.source, **levels)
            self._note("digit", side="far", digit=event.digit, source=event.source, **levels)
        elif isinstance(event, ChargeResult):
            self._timeline("charge", minute_index=event.minute_index, ok=event.ok,
                           balance_after_cents=event.balance_after_cents)
            self._note("charge", minute_index=event.minute_index, ok=event.ok,
                       balance_after_cents=event.balance_after_cents)
        elif isinstance(event, ThreeWaySuspected):
            self._note("three-way", attempt=event.kind, confidence=event.confidence)
        elif isinstance(event, NumberResult | CallAllowedResult | AuthResult):
            self._note("result", result=type(event).__name__, ok=event.ok)
        else:
            name = type(event).__name__
            if isinstance(event, HookChanged):
                self._note("event", name="handset lifted" if event.off_hook else "handset down")
            elif name.startswith("FarEnd") or name == "InboundCall":
                self._note("event", name=name)

    # --- stopping -------------------------------------------------------------------------
    def drain(self) -> None:
        """Wait for the worker's database jobs and deliver their results (tests, shutdown)."""
        self._jobs.drain()
        self._run_results()

    def close(self) -> None:
        """End any active call cleanly (CDR closed, charges final, recording finalised)."""
        if self._closed:
            return
        if self.state.phase not in (Phase.IDLE, Phase.DONE):
            self._dispatch(Shutdown("line closed"))
        self._jobs.drain()
        self._run_results()
        self._do_StopRecording(A.StopRecording())
        self._jobs.close()
        self._closed = True
