"""SipFarEnd against SIPp (Debian ``sip-tester``): the signalling edge cases.

Each scenario in ``scenarios/`` is a scripted called party.  SIPp exits 0 only
when every message the scenario expects has arrived, so it checks our side too:
the ACK after a 486 or a 487, the CANCEL after the ring timeout, the 200 OK to
the far end's BYE.  The test drives the backend with a 20 ms frame loop paced
by the real-time clock (SIP and RTP run in real time) and waits on the
backend's events with deadlines.
"""

from __future__ import annotations

import numpy as np
import pytest
from sip_peers import SippPeer

from phonesim.clock import FRAME_SAMPLES, RealTimeClock
from phonesim.events import (
    FarEndAnswered,
    FarEndBusy,
    FarEndDigit,
    FarEndFailed,
    FarEndHungUp,
    FarEndNoAnswer,
    FarEndRinging,
    InboundCall,
)
from phonesim.facility.farend_sip import SipFarEnd

pytest.importorskip("aiosipua")


def run_until(far_end, done, *, timeout_s: float, send=None):
    """Exchange 20 ms frames until ``done(events)`` holds; returns (events, received frames)."""
    clock = RealTimeClock()
    events, received = [], []
    for _ in range(int(timeout_s * 50)):
        clock.wait_next_frame()
        clock.tick()
        frame = send(clock.frame) if send else np.zeros(FRAME_SAMPLES, dtype=np.int16)
        received.append(far_end.exchange(frame))
        events.extend(far_end.poll_events())
        if done(events):
            return events, np.concatenate(received)
    raise AssertionError(f"timed out after {timeout_s} s; events so far: {events}")


def has(kind):
    return lambda events: any(isinstance(e, kind) for e in events)


@pytest.fixture
def sipp(tmp_path):
    peers = []

    def start(scenario: str, *args: str, remote=None, fill=None) -> SippPeer:
        peer = SippPeer(tmp_path, scenario, extra_args=args, remote=remote, fill=fill).start()
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.stop()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (486, "Busy Here", FarEndBusy()),
        (600, "Busy Everywhere", FarEndBusy()),
        (603, "Decline", FarEndBusy()),
        (480, "Temporarily Unavailable", FarEndNoAnswer()),
        (404, "Not Found", FarEndFailed(reason="SIP 404 Not Found")),
        (503, "Service Unavailable", FarEndFailed(reason="SIP 503 Service Unavailable")),
    ],
)
def test_refusal_maps_to_event_and_is_acked(sipp, status, reason, expected):
    peer = sipp("uas_reject.xml", fill={"STATUS": str(status), "REASON": reason})
    with SipFarEnd(peer.uri, clock=None) as far_end:
        far_end.dial("5735550100")
        events, _ = run_until(far_end, has(type(expected)), timeout_s=5)
        assert events == [FarEndRinging(), expected]
        assert far_end.last_status == status
        assert far_end.state == "ended"
        # The scenario ends with <recv ACK>: exit 0 proves we acknowledged the refusal.
        assert peer.wait(10) == 0, peer.errors()


@pytest.mark.timeout(30)
def test_no_answer_cancels_after_ring_timeout(sipp):
    peer = sipp("uas_no_answer.xml")
    with SipFarEnd(peer.uri, clock=None, ring_timeout_s=1.0) as far_end:
        far_end.dial("5735550100")
        events, _ = run_until(far_end, has(FarEndNoAnswer), timeout_s=5)
        assert [type(e) for e in events] == [FarEndRinging, FarEndNoAnswer]
        # CANCEL, then 487, then our ACK: the scenario's last step.
        assert peer.wait(10) == 0, peer.errors()
        assert "CANCEL sip:" in peer.messages()
        assert far_end.poll_events() == [], "the 487 after our CANCEL must not add an event"


@pytest.mark.timeout(30)
def test_far_end_key_by_rfc4733_then_far_end_bye(sipp):
    peer = sipp("uas_answer_dtmf_bye.xml")
    with SipFarEnd(peer.uri, clock=None) as far_end:
        far_end.dial("5735550100")
        events, _ = run_until(far_end, has(FarEndHungUp), timeout_s=8)
        kinds = [type(e) for e in events]
        assert kinds.index(FarEndRinging) < kinds.index(FarEndAnswered)
        digits = [e for e in events if isinstance(e, FarEndDigit)]
        assert [(d.digit, d.source) for d in digits] == [("1", "rfc4733")]
        assert digits[0].end_sample > digits[0].start_sample
        assert kinds.index(FarEndAnswered) < kinds.index(FarEndDigit) < kinds.index(FarEndHungUp)
        assert far_end.state == "ended"
        # The scenario ends with <recv 200> for its BYE.
        assert peer.wait(10) == 0, peer.errors()


@pytest.mark.timeout(30)
def test_early_media_flows_before_the_answer_then_our_bye(sipp):
    """183 with SDP: the caller hears the far end before the answer (here, its own echo)."""
    peer = sipp("uas_early_media_echo.xml", "-rtp_echo")
    tone = np.round(8000 * np.sin(2 * np.pi * 1000 * np.arange(FRAME_SAMPLES) / 8000))
    tone = tone.astype(np.int16)  # 1000 Hz: exactly 8 samples a cycle, continuous across frames
    with SipFarEnd(peer.uri, clock=None) as far_end:
        far_end.dial("5735550100")
        events, before = run_until(far_end, has(FarEndAnswered), timeout_s=5, send=lambda _: tone)
        assert [type(e) for e in events] == [FarEndRinging, FarEndAnswered]
        heard = before[-25 * FRAME_SAMPLES :]  # the last 0.5 s before the 200 OK
        spectrum = np.abs(np.fft.rfft(heard.astype(float)))
        assert np.argmax(spectrum) * 8000 / heard.size == pytest.approx(1000, abs=20)
        assert np.sqrt(np.mean(heard.astype(float) ** 2)) > 2000, "echoed early media is loud"
        far_end.hang_up()
        assert far_end.state == "ended"
        # The scenario ends with <recv BYE>, answered 200.
        assert peer.wait(10) == 0, peer.errors()
    assert far_end.poll_events() == [], "our own hang-up adds no far-end event"


@pytest.mark.timeout(30)
def test_inbound_invite_is_refused_with_403_and_reported(tmp_path):
    with SipFarEnd("sip:pbx@127.0.0.1:5060", clock=None) as far_end:
        host, port = far_end.local_addr
        peer = SippPeer(tmp_path, "uac_inbound.xml", remote=f"{host}:{port}")
        try:
            peer.start()
            # SIPp's scenario requires the 403: exit 0 proves the refusal went out.
            assert peer.wait(10) == 0, peer.errors()
        finally:
            peer.stop()
        events = far_end.poll_events()
        assert len(events) == 1 and isinstance(events[0], InboundCall)
        assert "5735550199" in events[0].caller
        assert far_end.state == "idle"


@pytest.mark.timeout(30)
def test_reinvite_from_the_far_end_is_answered_and_the_call_goes_on(sipp):
    peer = sipp("uas_answer_reinvite_bye.xml")
    with SipFarEnd(peer.uri, clock=None) as far_end:
        far_end.dial("5735550100")
        events, _ = run_until(far_end, has(FarEndHungUp), timeout_s=8)
        # No event for the re-INVITE: it changes nothing the line cares about.
        assert [type(e) for e in events] == [FarEndRinging, FarEndAnswered, FarEndHungUp]
        # SIPp checked that our 200 to its re-INVITE offers PCMU, then BYE got its 200.
        assert peer.wait(10) == 0, peer.errors()
        assert "answered with m=audio" in peer.messages()


@pytest.mark.timeout(30)
def test_our_hang_up_while_ringing_sends_cancel(sipp):
    peer = sipp("uas_no_answer.xml")
    with SipFarEnd(peer.uri, clock=None, ring_timeout_s=30) as far_end:
        far_end.dial("5735550100")
        run_until(far_end, has(FarEndRinging), timeout_s=5)
        far_end.hang_up()
        assert far_end.state == "ended"
        # CANCEL, 200, 487, then our ACK: the scenario's steps.
        assert peer.wait(10) == 0, peer.errors()
        assert far_end.poll_events() == [], "our own hang-up adds no far-end event"
        assert far_end.last_status == 487
