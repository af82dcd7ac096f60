"""SilentLineAudio: the audio graph's timing without audio, for simulating a facility's day.

Proved against the real parts: the same prompts, barge-ins and warnings give the same
PromptFinished and warning frames as :class:`LineAudio`; a call placed with keys handed
over as events gives the same call, CDR and charges as the same call with the keys as
DTMF audio decoded by the line; and jumping the clock from due frame to due frame gives
exactly the line log of stepping every frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phonesim.clock import FRAME_SAMPLES, VirtualClock, frames_from_s
from phonesim.config import load_config
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.events import FarEndAnswered, FarEndHungUp, FarEndRinging
from phonesim.facility.farend import FarEnd
from phonesim.facility.line_audio import LineAudio, SilentLineAudio
from phonesim.facility.platform import Platform
from phonesim.facility.prompts import PromptSet
from phonesim.facility.vocabulary import Direction
from phonesim.hw.audio import NullAudioPort
from phonesim.hw.keypad_script import MockKeypad
from phonesim.terminals.wallphone import WallPhone

SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)


@pytest.fixture(scope="module")
def prompts():
    return PromptSet.load()


def _graph_run(graph, clock, prompts, script, frames):
    """Drive ``graph`` for ``frames``; ``script`` maps (frame, "before"|"after" the mix) to
    operations; returns every (frame, direction, tag) finished and every warning start."""
    seen = []
    for frame in range(frames):
        for op in script.get((frame, "before"), ()):
            op(graph)
        _, _, finished, warning_started = graph.mix(SILENCE, frame)
        seen += [(frame, str(d), tag) for d, tag in finished]
        if warning_started:
            seen.append((frame, "both", "warning"))
        for op in script.get((frame, "after"), ()):
            op(graph)
        clock.tick()
    return seen


def test_prompt_and_warning_frames_are_those_of_the_real_graph(prompts):
    inmate, far = Direction.INMATE, Direction.FAR
    welcome = prompts.sequence(["welcome", "enter_pin"])
    script = {
        (0, "before"): [lambda g: g.play(inmate, welcome, "enter_pin"),
                        lambda g: g.play(inmate, prompts["goodbye"], "queued")],
        (40, "after"): [lambda g: g.stop_prompt(inmate),                 # a key: barge-in
                        lambda g: g.play(inmate, prompts["call_type_menu"], "menu")],
        (45, "before"): [lambda g: g.play(far, prompts["facility_name"], "announce")],
        (46, "after"): [lambda g: g.play(far, np.zeros(0, np.int16), "empty")],
        (50, "after"): [lambda g: g.start_warnings(prompts["warning"], 50, first_after_s=1.0,
                                                   interval_s=3.0, duck_db=12, fade_ms=5, beep=False)],
        (700, "before"): [lambda g: g.stop_warnings()],
        (800, "after"): [lambda g: g.play(inmate, prompts["goodbye"], "final"),
                         lambda g: g.stop_prompt(inmate)],               # stopped before it started
        (900, "before"): [lambda g: g.play(far, prompts["goodbye"], "last")],
    }
    real = _graph_run(LineAudio(), VirtualClock(), prompts, script, 1000)
    clock = VirtualClock()
    silent = _graph_run(SilentLineAudio(clock), clock, prompts, script, 1000)
    assert silent == real
    tags = [t for _, _, t in real]
    assert "menu" in tags and "announce" in tags and "last" in tags and tags.count("warning") == 4
    assert "enter_pin" not in tags and "queued" not in tags and "final" not in tags


def test_keys_reach_the_flow_only_while_it_listens(prompts):
    clock = VirtualClock()
    graph = SilentLineAudio(clock)
    graph.far_key("1")                      # frame 0: nobody listens to the far end
    graph.mix(SILENCE, 0)
    assert graph.detect_far(SILENCE, 0, far_dtmf=False, threeway=True) == []
    clock.tick()
    graph.mix(SILENCE, 1)
    assert graph.detect_far(SILENCE, 1, far_dtmf=True, threeway=True) == []   # dropped, not late
    graph.far_key("2")
    graph.far_threeway("hook-flash", 0.9)
    graph.handset_key("5")
    assert graph.next_due_frame() == 1
    assert [e.digit for e in graph.detect_uplink(SILENCE)] == ["5"]
    events = graph.detect_far(SILENCE, 1, far_dtmf=True, threeway=False)
    assert [e.digit for e in events] == ["2"]
    assert graph.next_due_frame() is None


class _CalledParty(FarEnd):
    """Answers ``answer_s`` after the dial, presses the accept key ``key_s`` after answering
    (as DTMF audio, or handed to a SilentLineAudio), hangs up ``talk_s`` after that."""

    def __init__(self, clock, *, answer_s=6.0, key_s=3.0, talk_s=130.0):
        self.clock = clock
        self.answer, self.key, self.talk = frames_from_s(answer_s), frames_from_s(key_s), frames_from_s(talk_s)
        self.silent: SilentLineAudio | None = None
        self.plan: list = []
        self.tones = np.zeros(0, np.int16)

    def dial(self, number):
        now = self.clock.frame
        a = now + self.answer
        self.plan = [(now + 1, FarEndRinging()), (a, FarEndAnswered()), (a + self.key, "key"),
                     (a + self.key + self.talk, FarEndHungUp())]

    def next_due_frame(self):
        return self.plan[0][0] if self.plan else None

    def poll_events(self):
        events = []
        while self.plan and self.plan[0][0] <= self.clock.frame:
            _, what = self.plan.pop(0)
            if what != "key":
                events.append(what)
            elif self.silent is not None:
                self.silent.far_key("1")
            else:
                self.tones = DtmfGenerator(level_dbm0=-10).digits("1", on_ms=120, off_ms=0)
        return events

    def exchange(self, to_far):
        out = np.zeros(FRAME_SAMPLES, np.int16)
        n = min(FRAME_SAMPLES, self.tones.size)
        out[:n], self.tones = self.tones[:n], self.tones[n:]
        return out

    def hang_up(self):
        self.plan = []


#: (second, what): the inmate's keys after lifting the handset at second 0.
KEYS = [(2.0, "1"), (2.4, "2"), (2.8, "3"), (3.2, "4"), (3.6, "#"), (6.0, "3")] + \
    [(8.0 + 0.4 * i, k) for i, k in enumerate("5735550100#")]


def _place_call(tmp_path, prompts, *, audio: bool, jump: bool = False) -> dict:
    cfg = load_config(search=False, overrides={"profile.hours.windows": ["00:00-24:00"]})
    clock = VirtualClock()
    with Platform.open(cfg, database=tmp_path / "db.sqlite3", clock=clock, prompts=prompts) as platform:
        platform.ledger.seed_demo(cfg)
        far = _CalledParty(clock)
        silent = None if audio else SilentLineAudio(clock)
        far.silent = silent
        line = platform.line(far_end=far, clock=clock, recordings_dir=tmp_path / "rec", audio=silent,
                             keep_history=True)
        keys = [(frames_from_s(s), k) for s, k in KEYS]
        keypad = MockKeypad(clock=clock)
        phone = WallPhone(keypad, NullAudioPort(), line, clock, cfg.profile) if audio else None
        if audio:
            keypad.lift()
        else:
            line.hook(True)
        end = frames_from_s(400)
        while clock.frame < end and not line.calls:
            while keys and keys[0][0] <= clock.frame:
                key = keys.pop(0)[1]
                keypad.press(key, hold_ms=100, gap_ms=0) if audio else silent.handset_key(key)
            if audio:
                phone.step()
            else:
                line.step(SILENCE)
            if jump:
                due = [f for f in (silent.next_due_frame(), far.next_due_frame(), keys[0][0] if keys else None,
                                   *(f for _, f in line.state.timers)) if f is not None]
                clock.advance(max(1, min(due) - clock.frame) if due else 1)
            else:
                clock.tick()
        line.close()
        cdr = platform.cdrs.get(line.calls[0].cdr_id)
        entries = line.log.history
        return {
            "disposition": cdr.disposition, "billed_minutes": cdr.billed_minutes,
            "amount_cents": cdr.amount_cents, "payer": (cdr.payer_kind, cdr.payer_id),
            "charges": [c["minute_index"] for c in platform.ledger.charges_for_call(cdr.call_id)],
            "kinds": [e.kind for e in entries],
            "prompts": [tuple(e.data["names"]) for e in entries if e.kind == "prompt"],
            "log": [(e.frame, e.kind, {k: Path(v).name if k == "path" else v for k, v in e.data.items()})
                    for e in entries],
            "reconciles": platform.ledger.reconcile() == [],
        }


@pytest.mark.timeout(120)
def test_a_call_with_keys_as_events_is_the_call_with_keys_as_audio(tmp_path, prompts):
    heard = _place_call(tmp_path / "audio", prompts, audio=True)
    handed = _place_call(tmp_path / "events", prompts, audio=False)
    assert heard["disposition"] == "completed" and heard["billed_minutes"] == 3
    for key in ("disposition", "billed_minutes", "amount_cents", "payer", "charges", "kinds", "prompts",
                "reconciles"):
        assert handed[key] == heard[key], key
    assert handed["kinds"].count("warning") == 1 and handed["reconciles"]


@pytest.mark.timeout(120)
def test_jumping_from_due_frame_to_due_frame_gives_the_log_of_every_frame(tmp_path, prompts):
    stepped = _place_call(tmp_path / "stepped", prompts, audio=False)
    jumped = _place_call(tmp_path / "jumped", prompts, audio=False, jump=True)
    assert jumped["log"] == stepped["log"]
    assert jumped["billed_minutes"] == 3
