"""Whole facility calls whose called party is a real softphone (baresip) reached over SIP.

The inmate side is the loopback demo (``phonesim.commands.demo.run_scenario``:
script keypad -> handset DTMF -> facility line, a real SQLite ledger).  The
outside line is ``SipFarEnd`` to a headless baresip on 127.0.0.1.  Before the
dial, frames run as fast as the CPU allows (virtual time); once the far end is
dialled they are paced to the wall clock, since SIP and RTP are real time.

baresip "presses" its key when it hears the announcement, either in-band (it
switches its audio source to a WAV holding the DTMF tone, and the line decodes
it from the far-end audio) or as an RFC 4733 telephone-event.  The called
party's own recording must then hold the warning message at its scheduled
spacing: the proof that warnings reach a SIP called party in real time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import fftconvolve
from sip_peers import BaresipPeer, write_wav

from phonesim.clock import FRAMES_PER_SECOND, RealTimeClock
from phonesim.commands.demo import SCENARIOS, run_scenario
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.facility.callflow import Phase
from phonesim.facility.ledger import Ledger
from phonesim.facility.prompts import PromptSet

pytest.importorskip("aiosipua")

FIRST_WARNING_S = 2
WARNING_INTERVAL_S = 5
TALK_S = 10
FAST_WARNINGS = {
    "profile.warning.mode": "message",
    "profile.warning.first_after_s": FIRST_WARNING_S,
    "profile.warning.interval_s": WARNING_INTERVAL_S,
}


class CalledParty:
    """Drives baresip from the line's frame hook: presses a key, hangs up after talking."""

    def __init__(self, peer: BaresipPeer, key: str, how: str, key_wav) -> None:
        self.peer, self.key, self.how, self.key_wav = peer, key, how, key_wav
        self.pacer: RealTimeClock | None = None
        self.announcing_for = 0
        self.pressed = False
        self.connected_frames = 0
        self.hung_up = False

    def on_frame(self, line) -> None:
        if line.state.far_active:
            if self.pacer is None:  # from the dial on, one frame per 20 ms of wall clock
                self.pacer = RealTimeClock()
            self.pacer.wait_next_frame()
            self.pacer.tick()
        phase = line.state.phase
        if phase is Phase.ANNOUNCING:
            self.announcing_for += 1
            if self.announcing_for == FRAMES_PER_SECOND and not self.pressed:
                self.pressed = True  # one second into the announcement, as a person would
                if self.how == "inband":
                    self.peer.command("ausrc", f"aufile,{self.key_wav}")
                else:
                    self.peer.command("sndcode", self.key)  # baresip 1.0 sends it as RFC 4733
        if phase is Phase.CONNECTED:
            self.connected_frames += 1
            if self.connected_frames == TALK_S * FRAMES_PER_SECOND and not self.hung_up:
                self.hung_up = True
                self.peer.command("hangup")


def key_wav(path, key: str):
    tone = DtmfGenerator(level_dbm0=-10.0).digits(key, on_ms=150, off_ms=100, lead_ms=100)
    return write_wav(path, np.concatenate([tone, np.zeros(30 * 8000, dtype=np.int16)]))


def _match_score(x: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """Normalised correlation of ``piece`` at every offset of ``x``."""
    corr = fftconvolve(x, piece[::-1], mode="valid")
    energy = np.sqrt(np.maximum(fftconvolve(x * x, np.ones(piece.size), mode="valid"), 1e-9))
    return corr / (energy * np.linalg.norm(piece))


def find_prompt(recording: np.ndarray, prompt: np.ndarray, *, pieces: int = 4, piece_s: float = 0.25,
                max_slip_frames: int = 3) -> list[float]:
    """Start times (s) where ``prompt`` appears in ``recording``.

    Only the prompt's first second is matched, in ``pieces`` of ``piece_s``: each must
    correlate above 0.6, the first where the prompt starts, each later one up to
    ``max_slip_frames`` 20 ms frames behind where the piece before it ended.  A late
    packet on a busy machine makes the called party's jitter buffer play a filler
    frame, and everything after it arrives one frame later (seen in CI, 0.4 s into a
    warning, which a single one-second match then missed); the called party's
    recording also ends a few tens of ms early (baresip drops its jitter buffer at
    BYE).  One second of speech is unambiguous.
    """
    x = recording.astype(float)
    n = int(8000 * piece_s)
    slip = 160 * max_slip_frames
    scores = [_match_score(x, prompt[k * n:(k + 1) * n].astype(float)) for k in range(pieces)]
    hits, i = [], 0
    while i < scores[0].size:
        if scores[0][i] <= 0.6:
            i += 1
            continue
        start = i + int(np.argmax(scores[0][i : i + 4000]))
        at, whole = start, True
        for score in scores[1:]:
            window = score[at + n : at + n + slip + 1]
            if window.size == 0 or float(np.max(window)) <= 0.6:
                whole = False
                break
            at = at + n + int(np.argmax(window))
        if whole:
            hits.append(start / 8000)
        i = start + (pieces * n if whole else n)
    return hits


def place_call(tmp_path, scenario_name: str, key: str, how: str):
    silence = write_wav(tmp_path / "quiet.wav", np.zeros(60 * 8000, dtype=np.int16))
    peer = BaresipPeer(tmp_path, silence).start()
    party = CalledParty(peer, key, how, key_wav(tmp_path / "key.wav", key))
    scenario = dataclasses.replace(SCENARIOS[scenario_name], overrides=FAST_WARNINGS, max_s=120)
    try:
        # the platform's work on the line's worker (as in real time): once the frames are paced
        # to the softphone, a frame never waits for a database fsync
        result = run_scenario(
            scenario, data_dir=tmp_path / "data", far_end_url=peer.uri, on_frame=party.on_frame,
            platform_on_worker=True,
        )
    finally:
        peer.stop()  # baresip writes its recording's header when it exits
    return peer, party, result


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["inband", "rfc4733"])
def test_prepaid_call_accepted_over_sip_and_warned_on_schedule(tmp_path, how):
    peer, party, result = place_call(tmp_path, "prepaid", "1", how)
    s = result.summary()
    assert party.pressed and party.hung_up, result.transcript_text()
    assert s["disposition"] == "completed", result.transcript_text()
    far_keys = [
        (t["digit"], t["source"])
        for t in result.transcript
        if t["kind"] == "digit" and t["side"] == "far"
    ]
    assert far_keys == [("1", how)], far_keys  # decoded from the audio, or the telephone-event
    assert np.diff(s["warning_times_s"]).tolist() == [pytest.approx(WARNING_INTERVAL_S, abs=0.021)]
    assert result.cdr.accepted_s is not None and result.cdr.billed_minutes == 1
    with Ledger.open(tmp_path / "data" / "phonesim.sqlite3") as ledger:
        assert [c["minute_index"] for c in ledger.charges_for_call(result.cdr.call_id)] == [0]
    assert s["ledger_reconciles"]

    heard, rate_hz = peer.recording("dec")
    assert rate_hz == 8000
    warning = PromptSet.load()["warning"]
    starts = find_prompt(heard, warning)
    # TALK_S = 10 s of conversation: warnings at 2 s and 7 s after the accept.
    assert len(starts) == 2, starts
    assert starts[1] - starts[0] == pytest.approx(WARNING_INTERVAL_S, abs=0.065)


@pytest.mark.timeout(90)
def test_called_party_blocks_the_facility_with_an_inband_key(tmp_path):
    scenario = SCENARIOS["block"]
    peer, party, result = place_call(tmp_path, "block", "6", "inband")
    s = result.summary()
    assert party.pressed
    assert s["disposition"] == "blocked-by-called-party", result.transcript_text()
    far_keys = [
        (t["digit"], t["source"])
        for t in result.transcript
        if t["kind"] == "digit" and t["side"] == "far"
    ]
    assert far_keys == [("6", "inband")], far_keys
    with Ledger.open(tmp_path / "data" / "phonesim.sqlite3") as ledger:
        assert ledger.is_blocked(scenario.number)
    assert result.cdr.billed_minutes == 0
    heard, _ = peer.recording("dec")
    assert find_prompt(heard, PromptSet.load()["party_blocked"]), "the party heard the confirmation"
