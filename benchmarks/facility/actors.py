"""The two simulated people of a call: the inmate at the wall phone and the called party.

Both act on the frame clock and react to what the line does, and both work in two
transports, so the same day runs with audio and without:

* ``audio``: the inmate's keys go through a real keypad (``MockKeypad``) and the wall
  phone's handset, which puts them in the uplink as DTMF that the line decodes; the
  called party's keys are DTMF in its audio, its voice real speech (codec2-examples),
  a three-way attempt the rendered attempt audio the line's detector must catch;
* ``events``: the same keys are handed to the line's
  :class:`~phonesim.facility.line_audio.SilentLineAudio` (what the detectors would have
  reported), a three-way attempt as the detector's suspicion, and nothing is rendered.

Call progress (ringing, answer, busy, hang-up) is signalling in both, as from any far end.
Each says when it next has something to do (``next_due()``), so a driver that jumps the
clock knows where to stop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phonesim.clock import FRAME_SAMPLES, frames_from_s
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.events import FarEndAnswered, FarEndBusy, FarEndHungUp, FarEndRinging
from phonesim.facility.callflow import Phase
from phonesim.facility.farend import DEFAULT_SPEECH, FarEnd, load_speech
from phonesim.facility.threeway_attempts import attempt_audio

#: Keys a person presses, this far apart.
KEY_GAP_S = 0.35
KEY_HOLD_MS = 100
#: A three-way attempt as the detector reports one on a live line (kind, confidence).
THREEWAY_SUSPICION = ("hook-flash", 0.95)


class Caller:
    """The inmate at one phone, through one attempt at a time (``start``); reacts to the
    line's phases: keys the PIN, the call type and the number, hangs up when done."""

    def __init__(self, clock, line, *, transport: str, keypad=None) -> None:
        self.clock = clock
        self.line = line
        self.transport = transport
        self.keypad = keypad
        self.attempt = None
        self.plan: list[tuple[int, str]] = []      # (frame, key | "lift" | "hang-up")
        self.off_hook = False
        self.connected_frame = -1                  # the frame the current call connected (-1: not)
        self._seen: tuple = (Phase.IDLE, 0)       # (phase, look-ups asked): a phase entered anew
        self._pins_keyed = 0
        self._pause = 0

    def __repr__(self) -> str:
        return f"<Caller {self.attempt.person.id if self.attempt else '-'} phase={self._seen[0].value}>"

    @property
    def busy(self) -> bool:
        return self.attempt is not None

    def start(self, attempt) -> None:
        """Walk up and lift the handset now."""
        self.attempt = attempt
        self._pins_keyed = 0
        self._pause = 0
        self.connected_frame = -1
        self.plan = [(self.clock.frame, "lift")]

    def next_due(self) -> int | None:
        return self.plan[0][0] if self.plan else None

    def act(self) -> None:
        """Do what is due now (before the line's frame)."""
        now = self.clock.frame
        while self.plan and self.plan[0][0] <= now:
            what = self.plan.pop(0)[1]
            if what == "lift":
                self.off_hook = True
                self._seen = (Phase.IDLE, 0)
                self._hook(True)
            elif what == "hang-up":
                self.off_hook = False
                self.plan = []
                self._hook(False)
            elif self.transport == "audio":
                self.keypad.press(what, hold_ms=KEY_HOLD_MS, gap_ms=0)
            else:
                self.line.audio.handset_key(what)

    def _hook(self, off_hook: bool) -> None:
        if self.transport == "audio":
            self.keypad.lift() if off_hook else self.keypad.hang_up()
        else:
            self.line.hook(off_hook)

    def observe(self) -> bool:
        """React to the line after its frame; True when this attempt is over (hung up)."""
        if self.attempt is None:
            return False
        phase = self.line.state.phase
        if not self.off_hook and not self.plan:
            if phase is Phase.IDLE:
                self.attempt = None
                return True
            return False
        # a wrong PIN's answer comes back within the frame: PIN, then PIN again (a new look-up)
        seen = (phase, self.line.state.request_seq)
        if seen == self._seen:
            return False
        self._seen = seen
        a, now = self.attempt, self.clock.frame
        if phase is Phase.PIN:
            pin = a.person.wrong_pin if a.wrong_pin_first and self._pins_keyed == 0 else a.person.pin
            self._pins_keyed += 1
            self._keys(pin + "#")
        elif phase is Phase.CALL_TYPE:
            if a.hang_up_at_menu:
                self.plan = [(now + frames_from_s(self._next_pause() + 2.0), "hang-up")]
            else:
                self._keys(a.type_key)
        elif phase is Phase.NUMBER:
            self._keys(a.number + "#")
        elif phase is Phase.CONNECTED:
            self.connected_frame = now
            if a.inmate_ends:
                self.plan = [(now + frames_from_s(a.talk_s), "hang-up")]
        elif phase is Phase.DONE:
            self.plan = [(now + frames_from_s(self._next_pause()), "hang-up")]
        return False

    def _next_pause(self) -> float:
        pauses = self.attempt.pauses_s
        self._pause += 1
        return pauses[(self._pause - 1) % len(pauses)]

    def _keys(self, keys: str) -> None:
        at = self.clock.frame + frames_from_s(self._next_pause())
        self.plan = [(at + frames_from_s(i * KEY_GAP_S), k) for i, k in enumerate(keys)]


class CalledParty(FarEnd):
    """The called party of one phone's calls: rings, answers or not, keys its choice, talks,
    hangs up — as the current attempt says (:meth:`expect`)."""

    def __init__(self, clock, *, transport: str, keys: dict, seed: int = 0) -> None:
        self.clock = clock
        self.transport = transport
        self.keys = keys
        self.silent = None                       # the line's SilentLineAudio (events transport)
        self.attempt = None
        self.state = "idle"
        self.plan: list[tuple[int, str]] = []    # (frame, what), in order
        self._out: list[np.ndarray] = []
        self._rng = np.random.default_rng(seed)
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._speech: np.ndarray | None = None
        self._speech_pos = 0
        if transport == "audio":
            self._generator = DtmfGenerator(level_dbm0=-8.0)
            path = next((p for p in DEFAULT_SPEECH if Path(p).exists()), None)
            self._speech = load_speech(path) if path else (self._rng.standard_normal(32000) * 300).astype(np.int16)

    def __repr__(self) -> str:
        return f"<CalledParty {self.state} next={self.next_due()}>"

    def expect(self, attempt) -> None:
        self.attempt = attempt

    def next_due(self) -> int | None:
        return self.plan[0][0] if self.plan else None

    # --- the FarEnd interface -------------------------------------------------------------------
    def dial(self, number: str) -> None:
        a, now = self.attempt, self.clock.frame
        self._out = []
        if a is None or a.party == "busy":
            self.state, self.plan = "busy", [(now + 1, "busy")]
            return
        self.state = "ringing"
        self.plan = [(now + 1, "ringing")]
        if a.party == "no-answer":
            return
        answer = now + a.rings * frames_from_s(6.0)          # US ring cycle: 2 s on, 4 s off
        key = answer + frames_from_s(a.key_after_answer_s)
        self.plan.append((answer, "answered"))
        if a.party == "hang-up":
            self.plan.append((answer + frames_from_s(min(a.key_after_answer_s, 8.0)), "hung-up"))
        elif a.party in ("decline", "block"):
            self.plan.append((key, a.party))
        elif a.party == "rates":
            self.plan += [(key, "rates"), (key + frames_from_s(14.0), "accept")]
        elif a.party == "accept":
            self.plan.append((key, "accept"))

    def poll_events(self) -> list:
        now, events = self.clock.frame, []
        while self.plan and self.plan[0][0] <= now:
            what = self.plan.pop(0)[1]
            if what == "busy":
                events.append(FarEndBusy())
            elif what == "ringing":
                events.append(FarEndRinging())
            elif what == "answered":
                self.state = "answered"
                events.append(FarEndAnswered())
            elif what == "hung-up":
                self.state = "idle"
                self.plan = []
                events.append(FarEndHungUp())
            elif what == "threeway":
                if self.transport == "audio":
                    self._out.append(attempt_audio("full", rng=self._rng))
                else:
                    self.silent.far_threeway(*THREEWAY_SUSPICION)
            else:
                self._press(what)
        return events

    def _press(self, choice: str) -> None:
        key = self.keys[choice]
        if self.transport == "audio":
            self._out.append(self._generator.digits(key, on_ms=120, off_ms=0, tail_ms=60))
        else:
            self.silent.far_key(key)
        if choice == "accept":
            self._talk(self.clock.frame)

    def _talk(self, accepted: int) -> None:
        a = self.attempt
        self.state = "talking"
        more = []
        if a.threeway_after_s is not None:
            more.append((accepted + frames_from_s(a.threeway_after_s), "threeway"))
        if not a.inmate_ends:
            more.append((accepted + frames_from_s(a.talk_s), "hung-up"))
        self.plan = sorted(self.plan + more)

    def exchange(self, to_far: np.ndarray) -> np.ndarray:
        if self.transport != "audio":
            return self._silence
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if self._out:                            # keys and a three-way attempt replace the voice
            chunk = self._out[0]
            n = min(FRAME_SAMPLES, chunk.size)
            out[:n] = chunk[:n]
            self._out[0] = chunk[n:]
            if not self._out[0].size:
                self._out.pop(0)
        elif self.state == "talking":
            speech = self._speech
            idx = (self._speech_pos + np.arange(FRAME_SAMPLES)) % speech.size
            out[:] = speech[idx]
            self._speech_pos += FRAME_SAMPLES
        return out

    def hang_up(self) -> None:
        self.state = "idle"
        self.plan = []
        self._out = []
