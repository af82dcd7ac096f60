"""The per-frame line engine with real parts: DSP, ledger file, prompts, robot, recorder."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from phonesim.clock import FRAME_SAMPLES, VirtualClock, frames_from_s
from phonesim.config import load_config
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.events import FarEndAnswered, FarEndDigit, FarEndRinging, InboundCall
from phonesim.facility.callflow import Phase
from phonesim.facility.farend import FarEnd, RobotFarEnd
from phonesim.facility.jobs import InlineJobs, WorkerJobs
from phonesim.facility.ledger import Ledger
from phonesim.facility.platform import Platform
from phonesim.facility.prompts import PromptSet
from phonesim.hw.audio import NullAudioPort
from phonesim.hw.keypad_script import MockKeypad
from phonesim.terminals.wallphone import Handset, WallPhone


@pytest.fixture(scope="module")
def prompts():
    return PromptSet.load()


class Rig:
    """A wall phone on a facility line with a real ledger file, driven frame by frame."""

    def __init__(self, tmp_path, prompts, far_end, *, realtime=False, overrides=None):
        self.cfg = load_config(search=False, overrides=overrides)
        self.clock = VirtualClock()
        self.ledger = Ledger.open(tmp_path / "db.sqlite3", clock=self.clock, cfg=self.cfg)
        self.ledger.seed_demo(self.cfg)
        self.platform = Platform(self.cfg, ledger=self.ledger, prompts=prompts)
        self.cdrs = self.platform.cdrs
        self.far = far_end
        self.line = self.platform.line(far_end=far_end, clock=self.clock, recordings_dir=tmp_path / "rec",
                                       realtime=realtime, keep_history=True)
        self.keypad = MockKeypad(clock=self.clock)
        self.phone = WallPhone(self.keypad, NullAudioPort(), self.line, self.clock, self.cfg.profile)
        self.down: list[np.ndarray] = []

    def run_s(self, seconds, *, until=None, drain=False):
        for _ in range(frames_from_s(seconds)):
            self.phone.step()
            if drain:
                self.line.drain()
            self.clock.tick()
            if until is not None and until():
                return True
        return False

    def dial_prepaid(self, drain=False):
        self.keypad.lift()
        self.run_s(0.5, drain=drain)
        self.keypad.type("1234#")
        assert self.run_s(5, until=lambda: self.line.state.phase is Phase.CALL_TYPE, drain=drain)
        self.keypad.type("3")
        assert self.run_s(5, until=lambda: self.line.state.phase is Phase.NUMBER, drain=drain)
        self.keypad.type("5735550100#")
        assert self.run_s(10, until=lambda: self.line.state.phase is Phase.HOLD, drain=drain)

    def transcript(self):
        return [e.as_dict() for e in self.line.log.history]

    def close(self):
        self.phone.close()
        self.ledger.close()


@pytest.mark.timeout(60)
def test_database_work_runs_on_the_worker_thread_in_realtime_mode(tmp_path, prompts):
    rig = Rig(tmp_path, prompts, RobotFarEnd("robot://accept?talk_s=70"), realtime=True)
    threads = set()
    charge = rig.ledger.charge_minute

    def spy(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return charge(*args, **kwargs)
    rig.ledger.charge_minute = spy
    try:
        # the virtual clock outruns the worker: wait for its results each frame (deterministic)
        rig.dial_prepaid(drain=True)
        assert rig.run_s(200, until=lambda: bool(rig.line.calls), drain=True)
        call = rig.line.calls[-1]
        assert call.disposition == "completed"
        assert len(threads) == 1 and next(iter(threads)).startswith("line-db-phone-1")
        cdr = rig.cdrs.get(call.cdr_id)
        assert cdr.billed_minutes == 2 and cdr.amount_cents == 10
        assert rig.ledger.reconcile() == []
    finally:
        rig.close()


@pytest.mark.timeout(60)
def test_detector_hears_the_handset_not_the_earpiece(tmp_path, prompts):
    """Far-end DTMF reaches the inmate's ear but is never taken for the inmate's keys."""
    far = RobotFarEnd("robot://accept?talk_s=40&threeway=dtmf&threeway_after_s=5")
    rig = Rig(tmp_path, prompts, far, overrides={"profile.threeway.on_confirmed": "log"})
    try:
        rig.dial_prepaid()
        assert rig.run_s(120, until=lambda: bool(rig.line.calls))
        t = rig.transcript()
        assert rig.line.calls[-1].disposition == "completed"
        inmate_keys = [x["digit"] for x in t if x["kind"] == "digit" and x["side"] == "inmate"]
        assert "".join(inmate_keys) == "\u2022" * 4 + "#35735550100#"
        assert any(x["kind"] == "three-way-suspected" for x in t), "the far-end digits were detected as three-way"
    finally:
        rig.close()


@pytest.mark.timeout(60)
def test_close_mid_call_ends_it_cleanly(tmp_path, prompts):
    rig = Rig(tmp_path, prompts, RobotFarEnd("robot://accept?talk_s=0"))
    try:
        rig.dial_prepaid()
        assert rig.run_s(120, until=lambda: rig.line.state.phase is Phase.CONNECTED)
        rig.run_s(65)
        rig.line.close()
        rig.line.close()                                   # idempotent
        call = rig.line.calls[-1]
        cdr = rig.cdrs.get(call.cdr_id)
        assert cdr.closed and cdr.disposition == "hung-up" and cdr.billed_minutes == 2
        assert rig.far.state == "gone"
        import wave
        with wave.open(call.recording, "rb") as w:
            assert 64 < w.getnframes() / 8000 < 66
    finally:
        rig.close()


class KeyFarEnd(FarEnd):
    """Answers at once; 1 s after answering sends '1' in-band, then the same key as RFC 4733."""

    def __init__(self):
        self.frame = 0
        self.answer_frame = None
        self.events = []
        self.state = "idle"
        self.tone = DtmfGenerator(level_dbm0=-10).digits("1", on_ms=100, off_ms=0)
        self.pos = None

    def dial(self, number):
        self.state = "ringing"
        self.events += [FarEndRinging(), FarEndAnswered()]
        self.answer_frame = self.frame

    def exchange(self, to_far):
        self.frame += 1
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if self.answer_frame is not None and self.frame - self.answer_frame == 50:
            self.pos = 0
        if self.answer_frame is not None and self.frame - self.answer_frame == 58:
            self.events.append(FarEndDigit("1", source="rfc4733"))   # the RTP event's end packet
        if self.pos is not None and self.pos < self.tone.size:
            chunk = self.tone[self.pos:self.pos + FRAME_SAMPLES]
            out[:chunk.size] = chunk
            self.pos += FRAME_SAMPLES
        return out

    def poll_events(self):
        events, self.events = self.events, []
        return events

    def hang_up(self):
        self.state = "gone"


@pytest.mark.timeout(60)
def test_rfc4733_and_inband_copies_of_one_key_count_once(tmp_path, prompts):
    rig = Rig(tmp_path, prompts, KeyFarEnd())
    try:
        rig.dial_prepaid()
        assert rig.run_s(30, until=lambda: rig.line.state.phase is Phase.CONNECTED)
        rig.run_s(1)
        keys = [x for x in rig.transcript() if x["kind"] == "far-key"]
        assert [k["source"] for k in keys] == ["inband"]
        decoded = [x for x in rig.transcript() if x["kind"] == "digit" and x["side"] == "far"]
        assert [d["source"] for d in decoded] == ["inband", "rfc4733"]   # both seen, one key
    finally:
        rig.close()


@pytest.mark.timeout(30)
def test_prompts_reach_the_earpiece_and_inbound_calls_are_refused(tmp_path, prompts):
    far = KeyFarEnd()
    rig = Rig(tmp_path, prompts, far)
    try:
        far.events.append(InboundCall("3145551234"))
        rig.run_s(0.1)
        assert any(x["kind"] == "inbound-refused" for x in rig.transcript())
        refused = rig.cdrs.list(disposition="inbound-refused")
        assert len(refused) == 1
        assert rig.cdrs.events(refused[0].call_id)[0].detail == {"caller": "3145551234"}
        down = []
        rig.keypad.lift()
        for _ in range(frames_from_s(2)):
            rig.phone.step()
            down.append(rig.line.audio._to_inmate.copy())
            rig.clock.tick()
        heard = np.concatenate(down).astype(float)
        welcome = prompts["welcome"][:8000].astype(float)
        lags = range(0, 2 * FRAME_SAMPLES)
        scores = [np.corrcoef(heard[lag + 100:lag + 8000], welcome[100:])[0, 1] for lag in lags]
        assert max(scores) > 0.99                 # the greeting, as recorded, within two frames
    finally:
        rig.close()


def test_handset_tone_lasts_at_least_the_minimum_and_while_held():
    cfg = load_config(search=False)
    h = Handset(cfg.profile)
    h.key_down("5")
    h.key_up("5")                       # a 1 ms tap still sounds dtmf_min_ms (70 ms -> 4 frames)
    frames = [h.uplink(None) for _ in range(6)]
    sounding = [bool(np.any(f)) for f in frames]
    assert sounding == [True, True, True, True, False, False]
    h.key_down("7")
    held = [h.uplink(np.full(FRAME_SAMPLES, 99, dtype=np.int16)) for _ in range(20)]
    assert all(np.any(f != 99) for f in held)            # the mic is replaced while a key sounds
    h.key_up("7")
    assert np.all(h.uplink(np.full(FRAME_SAMPLES, 99, dtype=np.int16)) == 99)
    ear = h.earpiece(np.zeros(FRAME_SAMPLES, dtype=np.int16), np.full(FRAME_SAMPLES, 1000, dtype=np.int16))
    assert int(ear[0]) == 100                           # sidetone -20 dB


def test_a_burst_of_presses_read_in_one_frame_sounds_every_key():
    """After a stall, a keypad's events for several presses arrive in one frame: each key
    must still sound its minimum and be decoded, in order (a lost digit dials a wrong number)."""
    from phonesim.dsp.dtmf import DtmfDetector

    cfg = load_config(search=False)
    h = Handset(cfg.profile)
    detector = DtmfDetector()
    decoded = []
    for burst in ("5735", "550", "100#"):
        for key in burst:                    # down and up, all within one frame
            h.key_down(key)
            h.key_up(key)
        for _ in range(40):
            decoded += [d.digit for d in detector.feed(h.uplink(None))]
    assert "".join(decoded) == "5735550100#"
    for key in "5550":                       # held past the minimum, released and pressed again in
        h.key_down(key)                      # one frame: the same key twice must sound twice
        for _ in range(5):
            decoded += [d.digit for d in detector.feed(h.uplink(None))]
        h.key_up(key)
    for _ in range(10):
        decoded += [d.digit for d in detector.feed(h.uplink(None))]
    assert "".join(decoded) == "5735550100#5550"
    h.key_down("9")                          # a key still held is replaced by the next, as on a phone
    h.uplink(None)
    h.key_down("8")
    assert h.sounding == "8"


class LossyPort(NullAudioPort):
    """A microphone that reports lost input samples once (an overflow), like a real device."""

    def __init__(self):
        super().__init__()
        self.lost = 0

    def take_lost_samples(self) -> int:
        lost, self.lost = self.lost, 0
        return lost


@pytest.mark.timeout(30)
def test_lost_input_samples_are_reported_to_the_uplink_detector(tmp_path, prompts):
    rig = Rig(tmp_path, prompts, KeyFarEnd())
    port = LossyPort()
    rig.phone.audio = port
    try:
        rig.keypad.lift()
        rig.run_s(0.5)
        before = rig.line.audio._uplink_detector.samples_seen
        port.lost = 480
        rig.run_s(0.02)
        assert rig.phone.lost_samples == 480
        assert rig.line.audio._uplink_detector.samples_seen == before + 480 + FRAME_SAMPLES
        rig.keypad.type("1234#")                    # digits after the gap still decode
        assert rig.run_s(5, until=lambda: rig.line.state.phase is Phase.CALL_TYPE)
    finally:
        rig.close()


class LiftedKeypad(MockKeypad):
    """A keypad whose handset was already off the hook when the program started."""

    @property
    def off_hook(self) -> bool:
        return True


@pytest.mark.timeout(30)
def test_a_handset_lifted_before_start_gets_the_greeting(tmp_path, prompts):
    rig = Rig(tmp_path, prompts, KeyFarEnd())
    rig.phone.keypad = LiftedKeypad(clock=rig.clock)
    try:
        rig.run_s(0.1)
        assert rig.phone.off_hook and rig.line.state.phase is Phase.PIN
    finally:
        rig.close()


class TalkingFarEnd(KeyFarEnd):
    """KeyFarEnd (accepts with '1'), then talks: seeded noise, every frame it sends kept in ``sent``."""

    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(7)
        self.sent: list[np.ndarray] = []

    def exchange(self, to_far):
        out = super().exchange(to_far)
        if self.pos is not None and self.pos >= self.tone.size:
            out = self.rng.integers(-2000, 2000, FRAME_SAMPLES).astype(np.int16)
        self.sent.append(out.copy())
        return out


@pytest.mark.timeout(60)
def test_recording_right_channel_is_the_far_end_plus_the_injected_warning(tmp_path, prompts):
    """Investigators hear the called party and every warning the call carried (issue 4).

    The right channel is what the inmate heard: the far end's audio, sample for sample,
    and while a warning plays, the warning over the far end lowered by ``duck_db``.
    """
    far = TalkingFarEnd()
    rig = Rig(tmp_path, prompts, far, overrides={"profile.warning.first_after_s": 2,
                                                 "profile.warning.interval_s": 600})
    try:
        rig.dial_prepaid()
        assert rig.run_s(30, until=lambda: rig.line.state.phase is Phase.CONNECTED)
        first_frame, n_before = rig.clock.frame, len(far.sent)      # the first recorded frame
        rig.run_s(6)
        rig.line.close()
        call = rig.line.calls[-1]
        assert len(call.warnings_at_s) == 1, "no warning was played"
        import wave
        with wave.open(call.recording, "rb") as w:
            stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        right = stereo[:, 1].astype(float).reshape(-1, FRAME_SAMPLES)
        # recorded frame i (from 1 on) carries what the far end sent in recorded frame i - 1
        sent = np.array(far.sent[n_before:], dtype=float)
        warning_frames = -(-len(prompts["warning"]) // FRAME_SAMPLES)
        first = round(call.warnings_at_s[0] * 50) - first_frame
        clear = [i for i in range(1, len(right)) if not first <= i < first + warning_frames]
        assert len(right) == 300 and len(clear) == 300 - 1 - warning_frames
        assert all(np.array_equal(right[i], sent[i - 1]) for i in clear)
        # the middle of the warning: the message over the far end ducked by 12 dB
        duck = 10 ** (-float(rig.cfg.profile.warning.duck_db) / 20)
        mid = range(first + 5, first + warning_frames - 5)
        injected = np.concatenate([right[i] - sent[i - 1] * duck for i in mid])
        message = prompts["warning"][5 * FRAME_SAMPLES:(warning_frames - 5) * FRAME_SAMPLES]
        assert np.max(np.abs(injected[:message.size] - message)) <= 1.0
    finally:
        rig.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("realtime", [False, True])
def test_a_failed_platform_job_is_logged_and_handed_back_in_both_modes(realtime, caplog):
    def broken_charge():
        raise OSError("disk I/O error")

    jobs = WorkerJobs("line-db-test") if realtime else InlineJobs()
    done = []
    try:
        with caplog.at_level("WARNING", logger="phonesim.facility.jobs"):
            jobs.submit(broken_charge, lambda result, error: done.append(("charge", result, error)))
            jobs.submit(lambda: "next job's result", lambda result, error: done.append(("next", result, error)))
            jobs.drain()
    finally:
        jobs.close()
    assert [(what, result, str(error) if error else None) for what, result, error in done] == [
        ("charge", None, "disk I/O error"), ("next", "next job's result", None)]   # in order; the line goes on
    assert jobs.failures == 1
    assert any("broken_charge" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.timeout(60)
def test_a_recording_that_cannot_be_written_leaves_the_call_up_and_says_so(tmp_path, prompts):
    (tmp_path / "rec").write_text("a file where the recordings folder should be")
    rig = Rig(tmp_path, prompts, RobotFarEnd("robot://accept?talk_s=5"))
    try:
        rig.dial_prepaid()
        assert rig.run_s(120, until=lambda: bool(rig.line.calls))
        rig.line.drain()
        call = rig.line.calls[-1]
        assert call.disposition == "completed"
        failed = [e for e in rig.cdrs.events(call.cdr_id) if e.kind == "recording-failed"]
        assert len(failed) == 1 and failed[0].detail["dropped_frames"] > 0, rig.cdrs.events(call.cdr_id)
    finally:
        rig.close()


class NameSayingMic(NullAudioPort):
    """A microphone that says something (a voice-band tone) while the line records a name."""

    def __init__(self, line):
        super().__init__()
        self.line = line
        self.t = 0

    def read_frame(self):
        self.t += 1
        if self.line.state.phase is Phase.RECORDING_NAME:
            n = np.arange(FRAME_SAMPLES) + self.t * FRAME_SAMPLES
            return (3000 * np.sin(2 * np.pi * 500 * n / 8000)).astype(np.int16)
        return np.zeros(FRAME_SAMPLES, dtype=np.int16)


@pytest.mark.timeout(90)
def test_the_first_call_records_the_name_the_called_party_then_hears(tmp_path, prompts):
    rig = Rig(tmp_path, prompts, RobotFarEnd("robot://accept?answer_after=0&key_delay_s=1&talk_s=1"),
              overrides={"profile.limits.wait_between_calls_s": 0})
    rig.ledger.add_inmate("1010", "Pat New", "5555", housing_unit="A-1")
    rig.ledger.fund_prepaid("5735550144", 500)
    rig.phone.audio = NameSayingMic(rig.line)
    try:
        for call in (1, 2):
            rig.keypad.lift()
            rig.run_s(0.5)
            rig.keypad.type("5555#")
            if call == 1:
                assert rig.run_s(10, until=lambda: rig.line.state.phase is Phase.RECORDING_NAME)
            assert rig.run_s(30, until=lambda: rig.line.state.phase is Phase.CALL_TYPE)
            rig.keypad.type("3")
            assert rig.run_s(5, until=lambda: rig.line.state.phase is Phase.NUMBER)
            rig.keypad.type("5735550144#")
            assert rig.run_s(120, until=lambda n=call: len(rig.line.calls) == n)
            rig.keypad.hang_up()
            rig.run_s(1)
            announced = [e for e in rig.line.log.entries if e.kind == "prompt" and e.data["tag"] == "announce"]
            assert announced[0].data["words"][:2] == ["party_prepaid_call_from", "name:1010"], call
            assert rig.line.calls[-1].disposition == "completed"
        kept = rig.ledger.voice_name("inmate", "1010")
        assert kept is not None and 2.0 < kept.size / 8000 <= 4.5          # about what was said
        assert sum(1 for e in rig.line.log.history if e.kind == "name-saved") == 1   # the first call only
    finally:
        rig.close()


@pytest.mark.timeout(90)
def test_a_no_contact_order_and_a_toll_free_attempt_become_incidents_with_their_calls(tmp_path, prompts):
    from phonesim.facility.oversight import Oversight

    rig = Rig(tmp_path, prompts, RobotFarEnd("robot://accept?answer_after=0&key_delay_s=1&talk_s=1"),
              overrides={"profile.limits.wait_between_calls_s": 0})
    oversight = Oversight(rig.ledger.db)
    oversight.add_no_contact("1001", "573-555-0100", note="victim's request", by="officer 7")
    try:
        for number in ("5735550100", "8005551234"):
            rig.keypad.lift()
            rig.run_s(0.5)
            rig.keypad.type("1234#")
            assert rig.run_s(10, until=lambda: rig.line.state.phase is Phase.CALL_TYPE)
            rig.keypad.type("3")
            assert rig.run_s(5, until=lambda: rig.line.state.phase is Phase.NUMBER)
            rig.keypad.type(number + "#")
            assert rig.run_s(30, until=lambda: rig.line.state.phase is Phase.DONE)
            rig.keypad.hang_up()
            rig.run_s(1)
        dispositions = [c.disposition for c in rig.line.calls]
        assert dispositions == ["no-contact-order", "toll-free-attempt"]
        incidents = {i.kind: i for i in oversight.incidents()}
        assert set(incidents) == {"no-contact", "toll-free"}
        assert incidents["no-contact"].call_id == rig.line.calls[0].cdr_id
        assert incidents["no-contact"].inmate_id == "1001" and incidents["no-contact"].number == "5735550100"
        assert [v.call_id for v in oversight.violations("1001", "5735550100")] == [rig.line.calls[0].cdr_id]
        # another inmate may still call the number
        assert rig.platform.policy.check_number("1003", "5735550100", "prepaid").disposition != "no-contact-order"
    finally:
        rig.close()


@pytest.mark.timeout(90)
def test_id_plus_pin_login_through_a_line(tmp_path, prompts):
    """``pin.login = "id+pin"``: the phone asks for the ID and the PIN; the PIN alone is refused,
    the ID then the PIN (decoded from the handset's audio) logs in."""
    rig = Rig(tmp_path, prompts, RobotFarEnd("robot://accept?answer_after=0&key_delay_s=1&talk_s=1"),
              overrides={"profile.pin.login": "id+pin"})
    try:
        rig.keypad.lift()
        rig.run_s(0.5)
        rig.keypad.type("1234#")                                  # the PIN alone: not a login
        assert rig.run_s(10, until=lambda: any(e["kind"] == "pin-invalid" for e in rig.transcript()))
        rig.keypad.type("10011234#")                              # ID 1001, then the PIN
        assert rig.run_s(10, until=lambda: rig.line.state.phase is Phase.CALL_TYPE)
        assert rig.line.state.inmate_id == "1001"
        heard = [e["names"] for e in rig.transcript() if e["kind"] == "prompt"]
        assert heard[0] == ["welcome", "enter_id_pin"] and ["invalid_pin", "enter_id_pin"] in heard
    finally:
        rig.close()
