"""Three-way-call detection: every attempt kind is confirmed; real conversation is left alone.

The far-end recordings are built by the benchmark's labelled-set code around real
recordings from Debian packages (speech, music on hold, field recordings), so the
tests and ``python -m benchmarks.threeway`` measure the same thing; the tests only
use a few fixed seeds of the tuning part.  The everyday events, one test each,
are in ``test_threeway_everyday.py``.
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.dtmf.conditions import conceal_lost_packets  # noqa: E402
from benchmarks.threeway import corpus, sounds  # noqa: E402
from phonesim.cli import main  # noqa: E402
from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND  # noqa: E402
from phonesim.config import load_config  # noqa: E402
from phonesim.dsp.g711 import ulaw_decode, ulaw_encode  # noqa: E402
from phonesim.dsp.levels import dbm0_to_rms  # noqa: E402
from phonesim.dsp.tones import render_tone  # noqa: E402
from phonesim.events import ThreeWaySuspected  # noqa: E402
from phonesim.exc import ConfigError  # noqa: E402
from phonesim.facility.threeway import (  # noqa: E402
    CONFIRM_CONFIDENCE,
    SUSPECT_CONFIDENCE,
    ThreeWayDetector,
    ThreeWayPolicy,
    _repeats,
)
from phonesim.facility.threeway_attempts import ATTEMPT_KINDS, attempt_audio  # noqa: E402

THRESHOLD = CONFIRM_CONFIDENCE


@pytest.fixture(scope="module")
def speech():
    try:
        # codec2-examples and pocketsphinx-testdata: about 9 minutes of real voices
        return sounds.speech("tuning") + tuple(s for s in sounds.speech("held-out") if "pocketsphinx" in s.name)
    except FileNotFoundError as err:  # make test installs the packages
        pytest.fail(str(err))


def run(audio: np.ndarray, detector: ThreeWayDetector | None = None, first_frame: int = 0) -> list:
    detector = detector or ThreeWayDetector()
    events = []
    for i in range(len(audio) // FRAME_SAMPLES):
        events += detector.feed(audio[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES], first_frame + i)
    return events


def strong(events) -> list:
    return [e for e in events if e.confidence >= THRESHOLD]


def line_noise(n: int, level_dbm0: float = -70.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * dbm0_to_rms(level_dbm0)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


# --- every kind of attempt is caught by the detector meant for it -------------------
EXPECTED_DETECTOR = {"flash": {"hook-flash"}, "plain-flash": {"hook-flash"}, "short-flash": {"hook-flash"},
                     "stutter": {"progress-tone"}, "dtmf": {"far-dtmf"}, "ringback": {"progress-tone"},
                     "hidden-noise": {"hook-flash", "noise-drop"}, "soft-tones": {"progress-tone", "far-dtmf"},
                     "full": {"hook-flash", "progress-tone", "far-dtmf"}}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ATTEMPT_KINDS)
def test_attempt_in_real_conversation_is_confirmed(kind):
    trial = corpus.attempt_trial(kind, np.random.default_rng(100 + ATTEMPT_KINDS.index(kind)), "tuning",
                                 before_s=(8.0, 12.0))
    events = run(trial.audio)
    start_s, end_s = trial.attempt_start_s, trial.attempt_end_s + 5
    before = strong([e for e in events if e.at_frame / FRAMES_PER_SECOND < start_s])
    during = strong([e for e in events if start_s <= e.at_frame / FRAMES_PER_SECOND <= end_s])
    assert not before, f"false alarm in the conversation before the attempt: {before}"
    assert during, f"{kind} attempt not detected ({trial.notes}); weak: {events}"
    assert {e.kind for e in during} & EXPECTED_DETECTOR[kind], [e.kind for e in during]
    for e in during:
        assert isinstance(e, ThreeWaySuspected) and e.evidence["own_confidence"] <= e.confidence


@pytest.mark.timeout(30)
def test_flash_then_dial_tone_reinforce_each_other():
    trial = corpus.attempt_trial("full", np.random.default_rng(7), "tuning", before_s=(8.0, 12.0))
    events = strong(run(trial.audio))
    assert {"hook-flash", "progress-tone", "far-dtmf"} <= {e.kind for e in events}
    combined = [e for e in events if "combined_with" in e.evidence]
    assert combined and max(e.confidence for e in combined) >= 0.99
    assert all(e.confidence > e.evidence["own_confidence"] for e in combined)


@pytest.mark.timeout(30)
def test_flash_evidence_measures_the_gap():
    rng = np.random.default_rng(3)
    room = line_noise(8000 * 5, -60.0)
    from phonesim.facility.threeway_attempts import flash

    f = flash(rng=rng, flash_s=0.5, click_dbm0=-6.0)
    x = np.concatenate([room, f, line_noise(8000 * 3, -70.0, 1)])
    hits = [e for e in run(to_int16(x + line_noise(len(x), -72.0, 2))) if e.kind == "hook-flash"]
    assert len(hits) == 1
    ev = hits[0].evidence
    assert 450 <= ev["gap_ms"] <= 560, ev
    assert ev["fall_db"] >= 20 and ev["rise_db"] >= 20
    assert ev["rise_pulse_ms"] <= 24 and ev["held_fraction"] >= 0.9
    # a click, the room (-60 dBm0, 12 dB over the gap) gone during the gap, a click, and the
    # line held dead.  Not a "cut": that needs a sound 15 dB over the gap before the click.
    assert ev["edges"] == "click+room-gone+click+held"
    assert hits[0].confidence == pytest.approx(0.9) and hits[0].confidence >= THRESHOLD


@pytest.mark.timeout(30)
def test_gap_without_clicks_or_hold_is_weak_and_a_held_flash_is_confirmed():
    """What the flash detector weighs: the clicks, and whether the line stays dead after the gap."""
    from phonesim.facility.threeway_attempts import flash

    room = line_noise(8000 * 6, -45.0)
    talk_again = line_noise(8000 * 3, -45.0, 3)
    # A mute (or the exchange's call-waiting cut): the room stops and comes back, no clicks.
    x = np.concatenate([room, np.zeros(4000), talk_again])
    hits = run(to_int16(x + line_noise(len(x), -75.0, 2)))
    assert [e.kind for e in hits] == ["hook-flash"]
    assert hits[0].evidence["edges"] == "cut+room-gone+resumed"
    assert hits[0].confidence < SUSPECT_CONFIDENCE
    # A flash with its clicks, the room back straight after it: suspected, not confirmed.
    f = flash(rng=np.random.default_rng(4), flash_s=0.4, click_dbm0=-20.0)
    x = np.concatenate([room, f, talk_again])
    hits = run(to_int16(x + line_noise(len(x), -75.0, 2)))
    assert [e.kind for e in hits] == ["hook-flash"]
    assert SUSPECT_CONFIDENCE <= hits[0].confidence < THRESHOLD, hits[0]
    # The same flash, then the line held dead for seconds: confirmed.
    x = np.concatenate([room, f, np.zeros(8000 * 4)])
    hits = run(to_int16(x + line_noise(len(x), -75.0, 2)))
    assert hits[0].kind == "hook-flash" and "held" in hits[0].evidence["edges"]
    assert hits[0].confidence >= THRESHOLD


# --- quiet on ordinary calls -----------------------------------------------------------
@pytest.mark.timeout(60)
def test_no_false_alarm_on_ordinary_calls():
    rng = np.random.default_rng(2024)
    for i in range(2):
        trial = corpus.ordinary_call(rng, "tuning", 120.0, first_event=5 * i)
        assert trial.events, "every ordinary call has everyday events"
        assert not strong(run(trial.audio)), (trial.notes, trial.events)


@pytest.mark.timeout(60)
def test_no_false_alarm_on_bare_real_speech_with_pauses_and_g711(speech):
    """Every speech file back to back with 0.2-2 s silent pauses, through mu-law.

    The ends of each file are faded over 10 ms: a recording cut within a sample is a
    splice, not something a telephone line does (and it looks like a hook flash).
    """
    rng = np.random.default_rng(5)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, 80))
    parts = []
    for s in speech:
        x = s.samples * 10 ** (rng.uniform(-8, 8) / 20)
        x[:80] *= ramp
        x[-80:] *= ramp[::-1]
        parts += [x, np.zeros(int(rng.uniform(0.2, 2.0) * 8000))]
    x = np.concatenate(parts)
    audio = ulaw_decode(ulaw_encode(to_int16(x + line_noise(len(x), -75.0))))
    assert len(audio) / 8000 > 240  # minutes of real speech
    assert not strong(run(audio))


@pytest.mark.timeout(30)
def test_no_false_alarm_on_music_on_hold_silence_and_noise():
    music = sounds.music("tuning")[0].samples[: 8000 * 60] * 10 ** (2 / 20)  # real music on hold, -18 dBm0
    mute = np.zeros(8000 * 20)
    room = line_noise(8000 * 40, -50.0, 4)
    x = np.concatenate([room, music, room, mute, room])
    events = run(to_int16(x + line_noise(len(x), -72.0)))
    assert not strong(events), events
    # The end of the music and the mute are real drops of the background: noted,
    # but too weak to act on.
    assert "noise-drop" in {e.kind for e in events}
    mute_start_frame = (len(room) * 2 + len(music)) // FRAME_SAMPLES
    at_mute = [e for e in events if mute_start_frame < e.at_frame < mute_start_frame + 5 * FRAMES_PER_SECOND]
    assert len(at_mute) == 1 and at_mute[0].evidence["drop_db"] >= 12


# --- far-end DTMF and the answer key -----------------------------------------------
def _digits_call(seed: int = 4):
    rng = np.random.default_rng(seed)
    from phonesim.facility.threeway_attempts import dtmf_digits

    answer = dtmf_digits("1", rng=rng, level_dbm0=-10.0)
    dialled = dtmf_digits("5551234", rng=rng, level_dbm0=-12.0)
    gap = np.zeros(8000 * 3)
    x = np.concatenate([gap[:8000], answer, gap, dialled, gap])
    return to_int16(x + line_noise(len(x), -70.0)), (8000 + len(answer)) // FRAME_SAMPLES


@pytest.mark.timeout(30)
def test_answer_key_is_ignored_but_dialling_is_not():
    audio, answer_end_frame = _digits_call()
    detector = ThreeWayDetector()
    detector.ignore_digits_until(1000 + answer_end_frame + 5)
    events = [e for e in run(audio, detector, first_frame=1000) if e.kind == "far-dtmf"]
    assert events[-1].evidence["digits"] == "5551234"
    assert [e.evidence["count"] for e in events] == list(range(1, 8))
    assert [e.confidence for e in events[:3]] == [0.6, 0.7, 0.9]
    unguarded = [e for e in run(audio) if e.kind == "far-dtmf"]
    assert unguarded[0].evidence["digit"] == "1"


@pytest.mark.timeout(30)
def test_reset_forgets_digits_and_history():
    audio, _ = _digits_call()
    detector = ThreeWayDetector()
    first = [e for e in run(audio, detector) if e.kind == "far-dtmf"]
    detector.reset()
    second = [e for e in run(audio, detector) if e.kind == "far-dtmf"]
    assert [e.evidence["count"] for e in first] == [e.evidence["count"] for e in second]


def test_progress_tone_while_connected():
    x = np.concatenate([line_noise(8000 * 2, -65.0).astype(float),
                        render_tone("ringback", 6.0, level_dbm0=-20.0).astype(float)])
    events = [e for e in run(to_int16(x + line_noise(len(x), -70.0, 1))) if e.kind == "progress-tone"]
    assert events and events[0].evidence["tone"] == "ringback"
    assert events[0].confidence >= THRESHOLD


def test_bad_frames_and_parameters_are_refused():
    detector = ThreeWayDetector()
    with pytest.raises(ValueError, match="160 samples"):
        detector.feed(np.zeros(80, np.int16), 0)
    with pytest.raises(ValueError, match="8000"):
        ThreeWayDetector(sample_rate_hz=16000)
    with pytest.raises(ValueError, match="gap_min_ms"):
        ThreeWayDetector(gap_min_ms=2000)
    assert "hook-flash" in repr(detector) and set(detector.detectors) == {
        "hook-flash", "progress-tone", "far-dtmf", "noise-drop"}


# --- the attempts the robot plays ------------------------------------------------------
@pytest.mark.parametrize("kind", ATTEMPT_KINDS)
def test_attempt_audio_is_reproducible_int16(kind):
    a = attempt_audio(kind, rng=np.random.default_rng(1))
    b = attempt_audio(kind, rng=np.random.default_rng(1))
    assert a.dtype == np.int16 and len(a) > 8000 * 2
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int)).max() > 100  # something audible


def test_attempt_kinds_hide_what_they_should():
    soft = attempt_audio("soft-tones", rng=np.random.default_rng(2), level_dbm0=-10.0)
    loud = attempt_audio("full", rng=np.random.default_rng(2), level_dbm0=-10.0)
    assert np.abs(soft.astype(int)).max() < np.abs(loud.astype(int)).max() / 5
    noisy = attempt_audio("hidden-noise", rng=np.random.default_rng(2)).astype(float)
    frames = noisy[: len(noisy) // 160 * 160].reshape(-1, 160)
    levels = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9) - 20 * np.log10(float(dbm0_to_rms(0)))
    assert levels.max() > -42  # loud masking noise
    assert np.count_nonzero(levels < -80) > 50  # and the held line is silent
    with pytest.raises(ValueError, match="unknown three-way attempt kind 'wink'"):
        attempt_audio("wink", rng=np.random.default_rng(0))


# --- policy ------------------------------------------------------------------------------
def _event(confidence: float) -> ThreeWaySuspected:
    return ThreeWaySuspected(kind="hook-flash", confidence=confidence, at_frame=10)


def test_policy_levels_actions_and_privileged_calls():
    policy = ThreeWayPolicy({"suspect_confidence": 0.5, "confirm_confidence": 0.9, "on_suspected": "warn",
                             "on_confirmed": "disconnect", "detect_on_privileged": False})
    assert [policy.classify(_event(c)) for c in (0.3, 0.5, 0.89, 0.9, 0.99)] == [
        None, "suspected", "suspected", "confirmed", "confirmed"]
    assert policy.decide(_event(0.95), privileged=False) == "disconnect"
    assert policy.decide(_event(0.6), privileged=False) == "warn"
    assert policy.decide(_event(0.3), privileged=False) == "log"  # a note kept in the CDR
    assert policy.decide(_event(0.99), privileged=True) is None
    assert policy.action_for("suspected", privileged=True) is None
    assert policy.label(_event(0.95)).level == "confirmed" and policy.label(_event(0.1)).level == ""
    assert _event(0.95).level == ""  # the detector does not label
    # the one-level names the offline CLI reads
    assert (policy.action, policy.min_confidence) == ("disconnect", 0.9)
    watching = ThreeWayPolicy({"on_confirmed": "warn", "detect_on_privileged": True})
    assert watching.decide(_event(0.99), privileged=True) == "warn"
    assert "on_confirmed='warn'" in repr(watching)
    with pytest.raises(ValueError, match="expected a level"):
        watching.action_for("certain", privileged=False)


def test_policy_escalation_blocks_after_confirmed_detections():
    policy = ThreeWayPolicy({"block_after_confirmed": 3, "block_window_days": 30})
    assert [policy.should_block(n) for n in range(5)] == [False, False, False, True, True]
    never = ThreeWayPolicy({"block_after_confirmed": 0})
    assert not never.should_block(100)


@pytest.mark.parametrize("profile", ["missouri-doc", "federal-bop"])
def test_policy_from_the_facility_profiles(profile, tmp_path):
    path = tmp_path / "phonesim.toml"
    path.write_text(f'[facility]\nprofile = "{profile}"\n')
    cfg = load_config(path)
    policy = ThreeWayPolicy(cfg.profile.threeway)
    assert (policy.on_suspected, policy.on_confirmed) == ("log", "disconnect")
    assert (policy.suspect_confidence, policy.confirm_confidence) == (SUSPECT_CONFIDENCE, CONFIRM_CONFIDENCE)
    assert policy.decide(_event(0.99), privileged=False) == "disconnect"
    assert policy.decide(_event(SUSPECT_CONFIDENCE), privileged=False) == "log"
    assert policy.decide(_event(0.99), privileged=True) is None
    assert policy.block_after_confirmed == 3 and policy.block_window_days == 30


@pytest.mark.parametrize(("settings", "message"), [
    ({"on_confirmed": "hangup"}, "on_confirmed: expected one of log, warn, disconnect, got 'hangup'"),
    ({"on_suspected": "disconnect"}, "on_suspected: expected one of log, warn, got 'disconnect'"),
    ({"confirm_confidence": 1.5}, "confirm_confidence: expected a number from 0 to 1, got 1.5"),
    ({"suspect_confidence": 0.9, "confirm_confidence": 0.8}, "suspect_confidence: expected at most"),
    ({"block_after_confirmed": -1}, "block_after_confirmed: expected a whole number >= 0, got -1"),
])
def test_policy_refuses_bad_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        ThreeWayPolicy(settings)


@pytest.mark.parametrize(("text", "key"), [
    ('[profile.threeway]\nconfirm_confidence = 2.0\n', "profile.threeway.confirm_confidence"),
    ('[profile.threeway]\non_suspected = "disconnect"\n', "profile.threeway.on_suspected"),
    ('[profile.threeway]\nblock_window_days = -3\n', "profile.threeway.block_window_days"),
])
def test_config_refuses_bad_threeway_settings(tmp_path, text, key):
    path = tmp_path / "phonesim.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key):
        load_config(path)


# --- phonesim threeway FILE.wav ---------------------------------------------------------------
def _write_wav(path: Path, channels: list[np.ndarray], rate: int = 8000, width: int = 2) -> Path:
    data = np.stack(channels, axis=1).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data.tobytes() if width == 2 else (data.astype(np.int32) >> 8).astype("i1").tobytes())
    return path


@pytest.fixture
def recording(tmp_path):
    far = attempt_audio("full", rng=np.random.default_rng(11), noise_dbm0=-60.0)
    far = np.concatenate([to_int16(line_noise(8000 * 5, -60.0)), far])
    inmate = to_int16(line_noise(len(far), -30.0, 5))  # loud, but on the other channel
    return _write_wav(tmp_path / "call.wav", [inmate, far])


@pytest.mark.timeout(30)
def test_cli_prints_detections_of_a_recording(recording, capsys):
    assert main(["threeway", str(recording)]) == 0
    out = capsys.readouterr().out.splitlines()
    kinds = {line.split()[1] for line in out[:-1]}
    assert {"hook-flash", "progress-tone", "far-dtmf"} <= kinds
    assert all(line[:2].isdigit() and line[2] == ":" and line[5] == "." for line in out[:-1])
    # the profile's action for strong cues (>= min_confidence 0.8); weaker ones are only logged
    rows = [(float(line.split()[2]), line.split()[3]) for line in out[:-1]]
    assert "disconnect" in {action for _, action in rows}
    assert all(action == ("disconnect" if confidence >= 0.8 else "log") for confidence, action in rows)
    assert out[-1].startswith(f"{len(out) - 1} detection(s) in 00:")
    assert out[-1].endswith("(profile: confirmed at >= 0.8: disconnect; suspected at >= 0.5: log)")


@pytest.mark.timeout(30)
def test_cli_json_lines(recording, capsys):
    assert main(["threeway", "--json", "--min-confidence", "0.9", str(recording)]) == 0
    (one,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert one["file"] == str(recording)
    rows = one["detections"]
    assert rows and all(r["confidence"] >= 0.9 for r in rows)
    assert {"time_s", "time", "kind", "confidence", "action", "evidence"} <= set(rows[0])
    assert rows == sorted(rows, key=lambda r: r["time_s"])


@pytest.mark.timeout(30)
def test_cli_mono_file_without_attempt(tmp_path, capsys, speech):
    x = np.concatenate([s.samples for s in speech[:6]])
    path = _write_wav(tmp_path / "far.wav", [to_int16(x + line_noise(len(x), -65.0))])
    assert main(["threeway", str(path)]) == 0
    assert capsys.readouterr().out.startswith("no three-way calling detected in 00:")


def test_cli_clear_errors(tmp_path, capsys):
    assert main(["threeway", str(tmp_path / "missing.wav")]) == 1
    assert "missing.wav: expected a WAV file, got no such file" in capsys.readouterr().err
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    assert main(["threeway", str(text)]) == 1
    assert "notes.wav: expected a WAV file (starting 'RIFF....WAVE'), got b'not audio'" in capsys.readouterr().err
    four = _write_wav(tmp_path / "4ch.wav", [np.zeros(800, np.int16)] * 4)
    assert main(["threeway", str(four)]) == 1
    assert "expected a mono or stereo file, got 4 channels" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_weak_cues_are_not_combined_into_a_strong_one():
    from phonesim.facility.threeway_attempts import dtmf_digits

    rng = np.random.default_rng(8)
    room = line_noise(8000 * 12, -45.0)
    held = np.zeros(8000 * 3)
    one = dtmf_digits("7", rng=rng, level_dbm0=-12.0)
    more = dtmf_digits("39", rng=rng, level_dbm0=-12.0)
    x = np.concatenate([room, held, one, held[:8000 * 2], more, held])
    events = run(to_int16(x + line_noise(len(x), -72.0, 3)))
    assert [e.kind for e in events] == ["noise-drop", "far-dtmf", "far-dtmf", "far-dtmf"]
    drop, stray, second, third = events
    # a mute and one or two keys: still not confirmed
    assert (drop.confidence, stray.confidence, second.confidence) == (0.45, 0.6, 0.7)
    assert "combined_with" not in stray.evidence and "combined_with" not in second.evidence
    assert third.evidence["combined_with"] == ["noise-drop"]  # a number is being dialled
    assert third.confidence == pytest.approx(1 - 0.1 * 0.55)


def test_far_end_a_to_d_are_talk_off_not_dialling():
    from phonesim.facility.threeway_attempts import dtmf_digits

    x = np.concatenate([np.zeros(8000), dtmf_digits("DDDA5", rng=np.random.default_rng(6), level_dbm0=-12.0),
                        np.zeros(8000)])
    events = [e for e in run(to_int16(x + line_noise(len(x), -70.0))) if e.kind == "far-dtmf"]
    assert [e.evidence["digits"] for e in events] == ["5"]


@pytest.mark.timeout(30)
def test_far_end_digits_must_stand_above_the_sound_they_come_in():
    """Talk-off: digit tones inside a louder sound (a bell, a machine, a voice) are not keys;
    the same digits keyed on a held line are a number being dialled."""
    from phonesim.facility.threeway_attempts import dtmf_digits

    digits = dtmf_digits("999", rng=np.random.default_rng(5), level_dbm0=-40.0)
    # in a room whose sound is as loud as the tones: never counted
    room = line_noise(8000 * 2 + len(digits), -36.0, 4)
    room[8000:8000 + len(digits)] += digits
    buried = [e for e in run(to_int16(room + line_noise(len(room), -72.0, 5))) if e.kind == "far-dtmf"]
    assert buried == []
    # on a held line (its idle noise 30 dB under them): three keys, confirmed
    x = np.concatenate([np.zeros(8000), digits, np.zeros(8000)])
    keyed = [e for e in run(to_int16(x + line_noise(len(x), -72.0, 5))) if e.kind == "far-dtmf"]
    assert [e.evidence["count"] for e in keyed] == [1, 2, 3]
    assert keyed[-1].confidence >= THRESHOLD
    assert all(e.evidence["line_before_dbm0"] < -60.0 for e in keyed)


@pytest.mark.timeout(60)
def test_two_knocks_in_a_silent_room_are_not_a_confirmed_flash():
    """A door knocked twice in a room below the line's idle noise makes click, gap, click,
    silence, like a flash and a held line; the knocks ring on for tens of milliseconds
    where a hook switch's transient is over within ~16 ms."""
    from benchmarks.threeway.everyday import impact
    from phonesim.facility.threeway_attempts import hook_click

    for seed in range(6):
        rng = np.random.default_rng(seed)
        speech_like = line_noise(8000 * 3, -30.0, seed) * np.repeat(rng.uniform(0.1, 1.0, 60), 400)
        quiet = np.zeros(8000 * 4)
        knock = impact(rng, -25.0, body_hz=(150.0, 600.0), decay_s=(0.015, 0.04))
        knocks = quiet.copy()
        knocks[4000:4000 + len(knock)] += knock
        knocks[5800:5800 + len(knock)] += impact(rng, -25.0, body_hz=(150.0, 600.0), decay_s=(0.015, 0.04))
        x = np.concatenate([speech_like, knocks])
        events = run(to_int16(x + line_noise(len(x), -70.0, seed + 10)))
        assert not strong(events), (seed, [e.evidence for e in events])
        # the same pattern made by a hook switch: confirmed
        clicks = quiet.copy()
        for at in (4000, 5800):
            click = hook_click(rng=rng, level_dbm0=-25.0)
            clicks[at:at + len(click)] += click
        x = np.concatenate([speech_like, clicks])
        events = [e for e in run(to_int16(x + line_noise(len(x), -70.0, seed + 10))) if e.kind == "hook-flash"]
        confirmed = strong(events)
        assert confirmed, (seed, [e.evidence for e in events])
        assert confirmed[0].evidence["rise_ring_down_db"] >= 20.0


def test_a_lost_packet_concealed_is_told_from_a_repeating_tone():
    """A frame played again quieter is a concealed packet; a tone whose period divides
    20 ms repeats itself at the same level, and noise never repeats."""
    rng = np.random.default_rng(8)
    frame = rng.standard_normal(FRAME_SAMPLES) * 300
    assert _repeats(frame / 2, frame)
    assert _repeats(np.round(frame / 2), np.round(frame))
    tone = 3000 * np.sin(2 * np.pi * 400.0 * np.arange(2 * FRAME_SAMPLES) / 8000)
    assert not _repeats(tone[FRAME_SAMPLES:2 * FRAME_SAMPLES], tone[:FRAME_SAMPLES])
    assert not _repeats(rng.standard_normal(FRAME_SAMPLES) * 150, frame)
    assert not _repeats(np.zeros(FRAME_SAMPLES), np.zeros(FRAME_SAMPLES))
    assert not _repeats(-frame / 2, frame)


@pytest.mark.timeout(60)
def test_a_flash_is_confirmed_through_lost_packets():
    """VoIP loss concealment plays a lost packet's predecessor again: right after the make
    click that is a copy of the click 20 ms later (not a knock ringing on), and in the
    held line it is a dip (not talk).  Neither may hide the flash."""
    from phonesim.facility.threeway_attempts import hook_click

    for seed in range(4):
        rng = np.random.default_rng(seed)
        room = line_noise(8000 * 4, -60.0, seed)
        held = np.zeros(8000 * 4)
        x = np.concatenate([room, np.zeros(3000), held])
        break_at, make_at = len(room), len(room) + 3000 - 200
        for at in (break_at, make_at):
            click = hook_click(rng=rng, level_dbm0=-20.0)
            x[at:at + len(click)] += click
        pcm = to_int16(x + line_noise(len(x), -66.0, seed + 20))
        make_frame = (make_at + 8) // FRAME_SAMPLES
        lossy = conceal_lost_packets(pcm, [make_frame + 1, make_frame + 12, make_frame + 13, make_frame + 30])
        for audio in (pcm, lossy):
            flashes = [e for e in run(audio) if e.kind == "hook-flash"]
            assert strong(flashes), (seed, [e.evidence for e in flashes])
            assert "click+held" in strong(flashes)[0].evidence["edges"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind,index", [("plain-flash", 34), ("plain-flash", 35), ("plain-flash", 58),
                                        ("short-flash", 2), ("hidden-noise", 31)])
def test_round_two_held_out_misses_are_confirmed(kind, index):
    """The attempts the round-2 held-out run missed (that seed is tuning now): a click
    after talk, a voice cut mid-syllable, and lost packets around a flash."""
    seed = 2147483647 * 1_000_003 + 1000 * ATTEMPT_KINDS.index(kind) + index
    trial = corpus.attempt_trial(kind, np.random.default_rng(seed), "held-out")
    events = run(trial.audio)
    hits = strong([e for e in events
                   if trial.attempt_start_s <= e.at_frame / FRAMES_PER_SECOND <= trial.attempt_end_s + 10])
    assert hits, (trial.notes, [(e.at_frame, e.kind, e.confidence, e.evidence.get("edges")) for e in events])
    assert not strong([e for e in events if e.at_frame / FRAMES_PER_SECOND < trial.attempt_start_s])


@pytest.mark.timeout(60)
def test_two_knocks_stay_unconfirmed_when_the_packet_after_a_knock_is_lost():
    """Concealment hides how long the knock rang on; the knock must not turn into a click."""
    from benchmarks.threeway.everyday import impact

    for seed in range(6):
        rng = np.random.default_rng(seed)
        speech_like = line_noise(8000 * 3, -30.0, seed) * np.repeat(rng.uniform(0.1, 1.0, 60), 400)
        knocks = np.zeros(8000 * 4)
        second_at = 4000 + int(rng.uniform(800, 6000))
        for at in (4000, second_at):
            knock = impact(rng, -25.0, body_hz=(150.0, 600.0), decay_s=(0.015, 0.04))
            knocks[at:at + len(knock)] += knock
        x = np.concatenate([speech_like, knocks])
        pcm = to_int16(x + line_noise(len(x), -70.0, seed + 10))
        first_frame = (len(speech_like) + 4000) // FRAME_SAMPLES
        second_frame = (len(speech_like) + second_at) // FRAME_SAMPLES
        for lost in ([second_frame + 1], [first_frame + 1, second_frame + 1]):
            events = run(conceal_lost_packets(pcm, lost))
            assert not strong(events), (seed, lost, [e.evidence for e in events])
