"""The outside-line backends: the robot called party and a person on a second audio port."""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.clock import FRAME_SAMPLES, frames_from_s
from phonesim.dsp.dtmf import DtmfDetector
from phonesim.events import FarEndAnswered, FarEndBusy, FarEndHungUp, FarEndRinging
from phonesim.exc import BadAudioFile, DeviceClosed, InvalidUrl
from phonesim.facility.farend import (
    FAR_END_SCHEMES,
    AudioFarEnd,
    FarEnd,
    RobotFarEnd,
    load_speech,
    open_far_end,
)
from phonesim.hw.audio_loopback import loopback_pair

SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)


def _announcement(seconds: float, level: int = 3000) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def run_robot(robot: RobotFarEnd, *, announcement_s: float = 3.0, total_s: float = 60.0):
    """Dial, play an 'announcement' after the answer, collect events and the robot's audio."""
    robot.dial("5735550100")
    events, audio = [], []
    answered_at = None
    announcement = _announcement(announcement_s)
    pos = 0
    for frame in range(frames_from_s(total_s)):
        to_far = SILENCE
        if answered_at is not None and pos < announcement.size:
            to_far = announcement[pos:pos + FRAME_SAMPLES]
            pos += FRAME_SAMPLES
        audio.append(robot.exchange(to_far))
        for e in robot.poll_events():
            events.append((frame, e))
            if isinstance(e, FarEndAnswered):
                answered_at = frame
        if any(isinstance(e, FarEndHungUp) for _, e in events):
            break
    return events, np.concatenate(audio)


def keys_in(audio: np.ndarray) -> str:
    detector = DtmfDetector()
    return "".join(d.digit for d in detector.feed(audio) + detector.fill_in(800))


def test_accept_robot_answers_after_rings_presses_accept_as_dtmf_then_hangs_up():
    robot = open_far_end("robot://accept?answer_after=2&talk_s=20", clock=None)
    events, audio = run_robot(robot, total_s=60)
    kinds = [type(e) for _, e in events]
    assert kinds == [FarEndRinging, FarEndAnswered, FarEndHungUp]
    answered = events[1][0]
    assert answered == frames_from_s(12) - 1          # 2 US ring cycles of 6 s
    assert keys_in(audio) == "1"
    key_frame = robot.keys_pressed[0][0]
    # the key comes after the 3 s announcement and 1.5 s of silence, not before
    assert key_frame - answered >= frames_from_s(4.5)
    assert events[2][0] - key_frame == pytest.approx(frames_from_s(20), abs=2)


@pytest.mark.parametrize("url, key", [("robot://decline", "2"), ("robot://block", "6"),
                                      ("robot://accept?accept_key=5", "5")])
def test_scripts_press_their_key(url, key):
    robot = open_far_end(url, clock=None)
    _, audio = run_robot(robot, total_s=30)
    assert keys_in(audio) == key


def test_profile_keys_are_used():
    robot = open_far_end("robot://block", clock=None, keys={"block": "9", "accept": "5"})
    _, audio = run_robot(robot, total_s=30)
    assert keys_in(audio) == "9"


def test_rates_robot_asks_then_accepts_after_the_quote():
    robot = RobotFarEnd("robot://rates?talk_s=5")
    robot.dial("5735550100")
    heard = _announcement(2.0)
    out, frame, answered, pos, quoted = [], 0, False, 0, False
    while frame < frames_from_s(60) and len(robot.keys_pressed) < 2:
        to_far = SILENCE
        if answered and pos < heard.size:
            to_far = heard[pos:pos + FRAME_SAMPLES]
            pos += FRAME_SAMPLES
        out.append(robot.exchange(to_far))
        for e in robot.poll_events():
            answered = answered or isinstance(e, FarEndAnswered)
        if len(robot.keys_pressed) == 1 and not quoted:
            pos, quoted = 0, True                       # the rate quote: another announcement
        frame += 1
    assert [k for _, k in robot.keys_pressed] == ["0", "1"]
    assert robot.keys_pressed[1][0] - robot.keys_pressed[0][0] > frames_from_s(2.0)


def test_busy_and_noanswer_and_silent():
    busy = open_far_end("robot://busy", clock=None)
    busy.dial("1")
    assert busy.poll_events() == [FarEndBusy()]
    noanswer = RobotFarEnd("robot://noanswer")
    events, audio = run_robot(noanswer, total_s=120)
    assert [type(e) for _, e in events] == [FarEndRinging]
    silent = RobotFarEnd("robot://silent")
    events, audio = run_robot(silent, total_s=60)
    assert [type(e) for _, e in events] == [FarEndRinging, FarEndAnswered]
    assert not np.any(audio)


def test_robot_is_deterministic_and_talks_real_speech():
    a = RobotFarEnd("robot://accept?talk_s=10&seed=3")
    b = RobotFarEnd("robot://accept?talk_s=10&seed=3")
    _, audio_a = run_robot(a, total_s=40)
    _, audio_b = run_robot(b, total_s=40)
    assert np.array_equal(audio_a, audio_b)
    speech = audio_a[-8000 * 5:]
    assert np.sqrt(np.mean(speech.astype(float) ** 2)) > 100   # it talks
    assert keys_in(audio_a) == "1"                              # and its speech is not taken for keys


def test_threeway_attempt_is_played_at_its_time():
    robot = RobotFarEnd("robot://accept?talk_s=30&threeway=stutter&threeway_after_s=5&seed=1")
    _, audio = run_robot(robot, total_s=60)
    plain = RobotFarEnd("robot://accept?talk_s=30&seed=1")
    _, audio_plain = run_robot(plain, total_s=60)
    assert audio.size == audio_plain.size
    differs = np.flatnonzero(audio != audio_plain)
    key_sample = robot.keys_pressed[0][0] * FRAME_SAMPLES
    assert differs.size and differs[0] >= key_sample + 5 * 8000 - FRAME_SAMPLES


def test_hang_up_and_close():
    robot = RobotFarEnd("robot://accept")
    robot.dial("1")
    robot.hang_up()
    assert robot.state == "gone"
    assert not np.any(robot.exchange(SILENCE))
    with robot:
        pass
    robot.close()
    assert "closed" in repr(robot)
    with pytest.raises(DeviceClosed):
        robot.exchange(SILENCE)


@pytest.mark.parametrize("url, words", [
    ("robot://dance", "expected a script among"),
    ("robot://accept?answer_after=-1", "answer_after >= 0"),
    ("robot://accept?ring=2", "unknown option 'ring'"),
    ("fax://x", "expected a URL starting with one of"),
])
def test_bad_urls_are_clear_errors(url, words):
    with pytest.raises(InvalidUrl, match=words):
        open_far_end(url, clock=None)


def test_bad_speech_file(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(BadAudioFile, match="x.wav"):
        RobotFarEnd(f"robot://accept?speech={bad}")
    raw = tmp_path / "short.raw"
    raw.write_bytes(b"\0\0" * 10)
    with pytest.raises(BadAudioFile, match="at least one 20 ms frame"):
        load_speech(raw)


def test_registry_names_the_sip_backend_lazily():
    assert FAR_END_SCHEMES["sip"] == "phonesim.facility.farend_sip:SipFarEnd"
    assert issubclass(RobotFarEnd, FarEnd) and issubclass(AudioFarEnd, FarEnd)


@pytest.mark.timeout(10)
def test_audio_far_end_is_a_person_on_a_second_port():
    near, far = loopback_pair("test-farend-person")
    with AudioFarEnd("audio://loopback", port=near) as person:
        person.dial("5735550100")
        assert [type(e) for e in person.poll_events()] == [FarEndRinging, FarEndAnswered]
        tone = _announcement(0.02)[:FRAME_SAMPLES]
        far.write_frame(tone)                      # the person speaks
        heard = person.exchange(np.full(FRAME_SAMPLES, 7, dtype=np.int16))
        assert np.array_equal(heard, tone)
        assert np.array_equal(far.read_frame(), np.full(FRAME_SAMPLES, 7, dtype=np.int16))
    far.close()
