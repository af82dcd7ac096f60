"""The executor: carries out the call flow's actions on the audio graph, the far end and the platform.

The pure :class:`~phonesim.facility.callflow.CallFlow` decides; this class does.
Audio actions (play, stop, tones, bridge, warnings, recording) switch parts of the
line's :class:`~phonesim.facility.line_audio.LineAudio` at once; far-end actions go
to the outside line; look-ups (PIN, call allowed, number) and charges go to the
platform's interfaces (:mod:`phonesim.facility.services`) through the line's job
runner, and their answers come back to the flow as events on a later frame, with the
look-up's ``request_id``; CDR work goes to the
:class:`~phonesim.facility.records_writer.CallRecordWriter`.

Failures never disappear: a look-up that raises becomes
:class:`~phonesim.events.LookupFailed`; a charge that raises becomes a
:class:`~phonesim.events.ChargeResult` with its ``error`` (the flow retries it while
the call is up; a minute still not charged when the call ends goes to the call's record,
which charges it before its close); a record that cannot be written is retried by the
writer and noted in the call's log.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phonesim.clock import SAMPLE_RATE_HZ
from phonesim.dsp.levels import signal_dbm0
from phonesim.dsp.tones import render_tone
from phonesim.events import ChargeResult, LookupFailed
from phonesim.exc import LedgerError, NotSupported
from phonesim.facility import actions as A
from phonesim.facility.calllog import LineLog
from phonesim.facility.line_audio import LineAudio
from phonesim.facility.recorder import CallRecorder
from phonesim.facility.records_writer import CallRecordWriter, PendingCharge
from phonesim.facility.services import Services
from phonesim.facility.vocabulary import Direction, LookupKind

log = logging.getLogger(__name__)

#: Below this level (10 ms windows) a recorded name's start and end are silence, trimmed off.
NAME_SILENCE_DBM0 = -50.0

#: CDR fields the flow sets that are frame times: stored as calendar times.
_FRAME_FIELDS = {"dialled_frame": "dialled_s", "answered_frame": "answered_s", "accepted_frame": "accepted_s"}


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """The samples without their silent start and end (50 ms kept around the speech)."""
    win = SAMPLE_RATE_HZ // 100
    n = len(samples) // win
    if n == 0:
        return samples
    loud = [i for i in range(n) if signal_dbm0(samples[i * win:(i + 1) * win]) > NAME_SILENCE_DBM0]
    if not loud:
        return samples[:0]
    start = max(0, (loud[0] - 5) * win)
    stop = min(len(samples), (loud[-1] + 6) * win)
    return samples[start:stop]


def one_line(error: BaseException) -> str:
    """``RateNotFound: no rate for ...``: what the log and the CDR keep of an exception."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Executor:
    """Carries out actions for one line.

    Parameters
    ----------
    services
        The platform's interfaces (:class:`~phonesim.facility.services.Services`).
    jobs
        The line's job runner (:mod:`phonesim.facility.jobs`).
    audio
        The line's audio graph.
    far_end
        The outside line (robot, second headset, SIP).
    prompts
        The prompt set.
    clock
        The line's frame clock (read only).
    log
        The line's :class:`~phonesim.facility.calllog.LineLog`.
    emit
        ``emit(event)``: hands an answer back to the flow (the line queues it).
    warning
        The profile's ``[warning]`` section.
    recordings_dir, terminal
        Where recordings go and this phone's station name.
    """

    def __init__(self, *, services: Services, jobs: Any, audio: LineAudio, far_end: Any, prompts: Any,
                 clock: Any, log: LineLog, emit: Callable[[Any], None], warning: Any,
                 recordings_dir: Path, terminal: str) -> None:
        self._beep = render_tone("warning_beep", 0.25)
        self.services = services
        self.jobs = jobs
        self.audio = audio
        self.far_end = far_end
        self.prompts = prompts
        self.clock = clock
        self.log = log
        self.emit = emit
        self.warning = warning
        self.recordings_dir = Path(recordings_dir)
        self.terminal = terminal
        self.records = CallRecordWriter(services.records, services.policy, jobs, terminal,
                                        billing=services.billing)
        self.records.on_failure = lambda error: self.note("records-failed", error=error)
        self.records.on_recovered = lambda failed: self.note("records-written-again", failed_attempts=failed)
        self._unbilled: dict[int, PendingCharge] = {}     # the current call's minutes not charged yet
        self._recorder: CallRecorder | None = None
        self.recorder_errors: list[str] = []

    def __repr__(self) -> str:
        return f"<Executor {self.terminal} records={self.records!r}>"

    def note(self, kind: str, /, **data: Any) -> None:
        """An entry in the call's log (and, through it, the CDR timeline)."""
        entry = self.log.add(self.clock.frame, self.clock.wall_time_s(), kind, **data)
        self.records.add(entry)

    def execute(self, action: Any) -> None:
        handler = getattr(self, f"_do_{type(action).__name__}", None)
        if handler is None:
            raise NotSupported(f"Executor: no handler for {type(action).__name__}")
        handler(action)

    # --- the platform -----------------------------------------------------------------
    def _ask(self, what: LookupKind, request_id: int, work: Callable[[], Any]) -> None:
        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.emit(LookupFailed(request_id, what, one_line(error)))
            else:
                self.emit(dataclasses.replace(result, request_id=request_id))
        self.jobs.submit(work, done)

    def _do_Authenticate(self, a: A.Authenticate) -> None:
        wall_s, identity, prompts = self.clock.wall_time_s(), self.services.identity, self.prompts

        def work() -> Any:
            result = identity.authenticate(a.pin, terminal=self.terminal, wall_s=wall_s,
                                           failures_before=a.failures_before)
            if result.ok and result.name_prompt.startswith("name:") and result.name_prompt not in prompts:
                # the inmate's recorded name, loaded here (a worker in real time), long before the
                # announcement plays it
                samples = identity.name_audio(result.inmate_id)
                if samples is not None:
                    prompts.add(result.name_prompt, samples)
            return result
        self._ask(LookupKind.AUTHENTICATE, a.request_id, work)

    def _do_StartNameCapture(self, a: A.StartNameCapture) -> None:
        self.audio.play(Direction.INMATE, self._beep, "beep")
        self.audio.start_capture(int(a.max_s * SAMPLE_RATE_HZ) + len(self._beep))

    def _do_SaveName(self, a: A.SaveName) -> None:
        """The name the inmate said becomes a prompt now; the platform keeps it (a job: a failure
        is noted, the call goes on with the name in memory)."""
        samples = trim_silence(self.audio.stop_capture()[len(self._beep):])
        self.prompts.add(a.prompt, samples)
        identity = self.services.identity

        def work() -> float:
            identity.save_name(a.inmate_id, samples)
            return round(len(samples) / SAMPLE_RATE_HZ, 2)

        def done(seconds: float | None, error: BaseException | None) -> None:
            if error is None:
                self.note("name-saved", seconds=seconds)
            else:
                self.note("name-save-failed", error=one_line(error))
        self.jobs.submit(work, done)

    def _do_CheckCallAllowed(self, a: A.CheckCallAllowed) -> None:
        wall_s, policy = self.clock.wall_time_s(), self.services.policy
        self._ask(LookupKind.CALL_ALLOWED, a.request_id,
                  lambda: policy.may_call(a.inmate_id, terminal=self.terminal, wall_s=wall_s))

    def _do_CheckNumber(self, a: A.CheckNumber) -> None:
        wall_s, policy = self.clock.wall_time_s(), self.services.policy
        self._ask(LookupKind.NUMBER, a.request_id,
                  lambda: policy.check_number(a.inmate_id, a.number, a.call_type, wall_s=wall_s))

    def _do_Charge(self, a: A.Charge) -> None:
        wall_s, billing, records = self.clock.wall_time_s(), self.services.billing, self.records
        record = records.current
        pending = PendingCharge(a.minute_index, a.payer_kind, a.payer_id, a.cents, wall_s)

        def work() -> ChargeResult:
            call_id = record.call_id if record is not None else None
            if call_id is None:
                raise LedgerError("the call's record is not in the database yet (a charge needs its id)")
            return billing.charge_minute(call_id, a.minute_index, payer_kind=a.payer_kind,
                                         payer_id=a.payer_id, cents=a.cents, wall_s=wall_s)

        def done(result: ChargeResult | None, error: BaseException | None) -> None:
            # a minute the database did not take is the flow's to retry while the call is up,
            # the call record's to charge once it has ended (never dropped)
            if error is None:
                if record is records.current:
                    self._unbilled.pop(a.minute_index, None)
            elif record is not None and record.closing:
                records.charge_later(record, pending)
            elif record is records.current:
                self._unbilled[a.minute_index] = pending
            self.emit(result if error is None else
                      ChargeResult(a.minute_index, False, error=one_line(error)))
        self.jobs.submit(work, done)

    def _do_BlockNumber(self, a: A.BlockNumber) -> None:
        self.records.block(a.number, self.clock.wall_time_s())

    # --- the call's record --------------------------------------------------------------
    def _do_OpenCdr(self, a: A.OpenCdr) -> None:
        self.log.begin_call()
        self._unbilled = {}
        self.records.open(self.clock.wall_time_s())
        self.note("offhook")

    def _do_SetCdr(self, a: A.SetCdr) -> None:
        fields: dict[str, Any] = {}
        for key, value in a.fields:
            if key in _FRAME_FIELDS:
                fields[_FRAME_FIELDS[key]] = self.clock.wall_time_at(int(value))
            elif key != "billed_minutes":     # billed minutes come from the charges at close
                fields[key] = value
        if fields:
            self.records.set(**fields)

    def _do_LogEvent(self, a: A.LogEvent) -> None:
        self.note(a.kind, **a.as_dict())

    def _do_EndCall(self, a: A.EndCall) -> None:
        self._do_StopRecording(A.StopRecording())
        self._do_StopWarnings(A.StopWarnings())
        self.audio.stop_tone()
        self.audio.unbridge()
        self.note("end", disposition=str(a.disposition))
        if self._unbilled:          # the database is away: charged when it is back, before the close
            self.note("charges-pending", minute_indexes=sorted(self._unbilled))
            for pending in self._unbilled.values():
                self.records.charge_later(self.records.current, pending)
            self._unbilled = {}
        self.records.close(str(a.disposition), self.clock.wall_time_s())

    def _do_RejectInbound(self, a: A.RejectInbound) -> None:
        """Inmates cannot receive calls: the attempt gets a record of its own, closed at once
        (the flow's log entry puts it in the timeline of a call in progress too)."""
        self.records.one_shot(self.clock.wall_time_s(), "inbound-refused", self.clock.frame,
                              {"caller": a.caller})

    # --- the outside line -----------------------------------------------------------------
    def _do_Dial(self, a: A.Dial) -> None:
        self.audio.reset_far_detector()
        self.far_end.dial(a.number)

    def _do_HangUpFarEnd(self, a: A.HangUpFarEnd) -> None:
        self.far_end.hang_up()

    # --- the audio graph ----------------------------------------------------------------------
    def _do_PlayPrompt(self, a: A.PlayPrompt) -> None:
        words: list[str] = []
        for item in a.names:
            kind, _, value = item.partition(":")
            if kind == "say_number" and value:
                words += self.prompts.say_number(int(value))
            elif kind == "say_cents" and value:
                words += self.prompts.say_cents(int(value))
            elif kind == "name" and item not in self.prompts:
                self.note("prompt-missing", name=item)     # a recorded name not loaded: said without it
            else:
                words.append(item)
        self.audio.play(a.to, self.prompts.sequence(words), a.tag)
        self.note("prompt", to=str(a.to), names=list(a.names), words=words, tag=a.tag)

    def _do_StopPrompt(self, a: A.StopPrompt) -> None:
        self.audio.stop_prompt(a.to)

    def _do_PlayTone(self, a: A.PlayTone) -> None:
        self.audio.start_tone(a.to, a.name)
        self.note("tone", to=str(a.to), name=a.name)

    def _do_StopTone(self, a: A.StopTone) -> None:
        self.audio.stop_tone(a.to)

    def _do_Bridge(self, a: A.Bridge) -> None:
        self.audio.bridge(self.clock.frame)

    def _do_Unbridge(self, a: A.Unbridge) -> None:
        self.audio.unbridge()

    def _do_StartWarnings(self, a: A.StartWarnings) -> None:
        w = self.warning
        self.audio.start_warnings(self.prompts["warning"], self.clock.frame, first_after_s=w.first_after_s,
                                  interval_s=w.interval_s, duck_db=w.duck_db, fade_ms=w.fade_ms,
                                  beep=w.mode == "beep")

    def _do_StopWarnings(self, a: A.StopWarnings) -> None:
        self.audio.stop_warnings()

    def _do_StartRecording(self, a: A.StartRecording) -> None:
        call_id = self.records.call_id
        name = f"call-{call_id}.wav" if call_id is not None else f"call-{self.records.call_key}.wav"
        path = self.recordings_dir / name
        # In virtual time the line can outrun the disk: wait for the writer rather than
        # drop audio (real time never waits: a late frame is worse than a gap).
        self._recorder = CallRecorder(path, block_when_full_s=None if self.jobs.realtime else 10.0)
        self.audio.start_recording(self._recorder)
        self.records.set(recording_path=str(path))
        self.note("recording", path=str(path))

    def _do_StopRecording(self, a: A.StopRecording) -> None:
        """Stop the recorder; the job runner waits for the finished file (never this frame)
        and notes a failed recording in the call's log."""
        recorder = self.audio.stop_recording()
        if recorder is None:
            return
        recorder.close(wait=False)

        def work() -> tuple[str, int] | None:
            recorder.join()
            if recorder.error is None:
                return None
            return str(recorder.error), recorder.dropped_frames

        def done(failed: tuple[str, int] | None, error: BaseException | None) -> None:
            if error is not None:
                failed = (one_line(error), recorder.dropped_frames)
            if failed is not None:
                self.recorder_errors.append(failed[0])
                self.note("recording-failed", error=failed[0], dropped_frames=failed[1])
        self.jobs.submit(work, done)

