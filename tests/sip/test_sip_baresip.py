"""SipFarEnd calling a real softphone: headless baresip auto-answering on 127.0.0.1.

The called party "speaks" a WAV with in-band DTMF keys; we decode them from the
frames ``exchange`` returns with the project's own ``DtmfDetector``.  We send
in-band keys the other way and decode them from baresip's own recording of what
it heard.  RFC 4733 goes out too (baresip reports the key it received), and the
call ends both ways: our BYE, and the called party hanging up.
"""

from __future__ import annotations

import numpy as np
import pytest
from sip_peers import BaresipPeer, wait_until, write_wav

from phonesim.clock import FRAME_SAMPLES, RealTimeClock
from phonesim.dsp.dtmf import DtmfDetector, DtmfGenerator
from phonesim.events import FarEndAnswered, FarEndHungUp, FarEndRinging
from phonesim.facility.farend_sip import SipFarEnd

pytest.importorskip("aiosipua")

PEER_KEYS = "58"
OUR_KEYS = "42"


def peer_speech(path):
    """What the called party sends: 0.6 s quiet, keys 5 and 8 in-band, then 30 s of silence.

    baresip stops sending RTP when its file ends, so the tail keeps the stream alive.
    """
    keys = DtmfGenerator(level_dbm0=-10.0).digits(PEER_KEYS, on_ms=120, off_ms=120)
    silence = np.zeros(30 * 8000, dtype=np.int16)
    return write_wav(path, np.concatenate([np.zeros(4800, dtype=np.int16), keys, silence]))


def decode(samples: np.ndarray) -> str:
    detector = DtmfDetector()
    found = detector.feed(samples) + detector.fill_in(800)
    return "".join(d.digit for d in found)


class FrameLoop:
    """The line's 20 ms heartbeat for a test: exchange a frame, collect events."""

    def __init__(self, far_end: SipFarEnd) -> None:
        self.far_end = far_end
        self.clock = RealTimeClock()
        self.events: list = []
        self.received: list[np.ndarray] = []
        self.generator = DtmfGenerator(level_dbm0=-10.0)
        self.to_send = np.zeros(0, dtype=np.int16)

    def say(self, samples: np.ndarray) -> None:
        self.to_send = np.concatenate([self.to_send, samples])

    def step(self) -> None:
        self.clock.wait_next_frame()
        self.clock.tick()
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        take = min(FRAME_SAMPLES, self.to_send.size)
        frame[:take] = self.to_send[:take]
        self.to_send = self.to_send[take:]
        self.received.append(self.far_end.exchange(frame))
        self.events.extend(self.far_end.poll_events())

    def run_until(self, condition, timeout_s: float, what: str) -> None:
        for _ in range(int(timeout_s * 50)):
            self.step()
            if condition():
                return
        raise AssertionError(f"no {what} within {timeout_s} s; events: {self.events}")

    def has(self, kind) -> bool:
        return any(isinstance(e, kind) for e in self.events)

    def heard(self) -> np.ndarray:
        return np.concatenate(self.received)


@pytest.fixture
def baresip(tmp_path):
    peer = BaresipPeer(tmp_path, peer_speech(tmp_path / "peer.wav")).start()
    yield peer
    peer.stop()


@pytest.mark.timeout(40)
def test_call_to_softphone_audio_both_ways_rfc4733_out_and_our_hang_up(baresip):
    with SipFarEnd(baresip.uri, clock=None) as far_end:
        loop = FrameLoop(far_end)
        far_end.dial("5735550100")
        loop.run_until(lambda: loop.has(FarEndAnswered), 5, "answer")
        assert [type(e) for e in loop.events] == [FarEndRinging, FarEndAnswered]
        assert far_end.state == "answered"
        baresip.wait_event("CALL_ESTABLISHED", 5)

        loop.say(np.zeros(1600, dtype=np.int16))
        loop.say(loop.generator.digits(OUR_KEYS, on_ms=120, off_ms=120))
        # The peer's keys are 0.6 s into its stream; 2.5 s covers them and ours.
        loop.run_until(lambda: decode(loop.heard()) == PEER_KEYS, 4, f"in-band keys {PEER_KEYS}")

        loop.run_until(lambda: loop.to_send.size == 0, 3, "our keys to be sent")
        for _ in range(15):  # let the pacer drain its queue
            loop.step()

        far_end.send_dtmf("7")
        wait_until(lambda: (loop.step(), baresip.received_dtmf())[1], 3, "an RFC 4733 key")
        assert baresip.received_dtmf() == "7"

        far_end.hang_up()
        assert far_end.state == "ended"
        baresip.wait_event("CALL_CLOSED", 5)
        assert not loop.has(FarEndHungUp), "our own hang-up is not a far-end hang-up"
        assert far_end.tx_packets > 40 and far_end.rx_samples > 40 * FRAME_SAMPLES

    baresip.stop()  # baresip finishes its recording WAV when it exits
    heard_by_peer, rate_hz = baresip.recording("dec")
    assert rate_hz == 8000
    assert decode(heard_by_peer) == OUR_KEYS


@pytest.mark.timeout(40)
def test_called_party_hangs_up(baresip):
    with SipFarEnd(baresip.uri, clock=None) as far_end:
        loop = FrameLoop(far_end)
        far_end.dial("5735550100")
        loop.run_until(lambda: loop.has(FarEndAnswered), 5, "answer")
        baresip.wait_event("CALL_ESTABLISHED", 5)
        loop.run_until(lambda: far_end.rx_samples > 10 * FRAME_SAMPLES, 3, "RTP from baresip")
        baresip.command("hangup")
        loop.run_until(lambda: loop.has(FarEndHungUp), 5, "far-end hang-up")
        assert far_end.state == "ended"
        tx_at_bye = far_end.tx_packets
        for _ in range(10):
            loop.step()
        assert far_end.tx_packets == tx_at_bye, "RTP stops when the far end hangs up"
        # The line may place the next call on the same backend.
        far_end.dial("5735550101")
        loop.run_until(
            lambda: sum(isinstance(e, FarEndAnswered) for e in loop.events) == 2, 5, "second answer"
        )
        far_end.hang_up()
