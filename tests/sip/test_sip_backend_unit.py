"""SipFarEnd without a peer: URL forms, options, bad input, lifecycle.

These bind a UDP socket on 127.0.0.1 (the backend's own SIP port) but talk to
no one, except the last test, which dials a port where nobody listens.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from phonesim.clock import FRAME_SAMPLES, VirtualClock
from phonesim.events import FarEndFailed
from phonesim.exc import ConfigError, DeviceClosed, FarEndError, InvalidUrl
from phonesim.facility.farend import FarEnd, open_far_end
from phonesim.facility.farend_sip import SipFarEnd, parse_sip_url

pytest.importorskip("aiosipua")


@pytest.mark.parametrize(
    ("url", "user", "host", "port", "options"),
    [
        ("sip:alice@192.0.2.10", "alice", "192.0.2.10", 5060, {}),
        ("sip:alice@192.0.2.10:5062", "alice", "192.0.2.10", 5062, {}),
        ("sip:pbx.example.org", "", "pbx.example.org", 5060, {}),
        ("SIP:trunk@[2001:db8::1]:5070", "trunk", "2001:db8::1", 5070, {}),
        ("sip:bob@10.0.0.5;transport=udp", "bob", "10.0.0.5", 5060, {"transport": "udp"}),
        (
            "sip:bob@10.0.0.5?ring_timeout_s=30&rtp_ports=30000-30099",
            "bob",
            "10.0.0.5",
            5060,
            {"ring_timeout_s": "30", "rtp_ports": "30000-30099"},
        ),
    ],
)
def test_url_forms(url, user, host, port, options):
    target = parse_sip_url(url)
    assert (target.user, target.host, target.port, target.options) == (user, host, port, options)


def test_request_uri_rings_the_user_or_dials_the_number():
    assert (
        parse_sip_url("sip:alice@10.0.0.5").request_uri("5735550100") == "sip:alice@10.0.0.5:5060"
    )
    assert parse_sip_url("sip:10.0.0.5:5070").request_uri("5735550100") == (
        "sip:5735550100@10.0.0.5:5070"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sips:alice@192.0.2.10", "TLS"),
        ("tel:+15735550100", "expected a 'sip:' URL"),
        ("alice@192.0.2.10", "expected a SIP URL"),
        ("sip:alice@", "expected a host"),
        ("sip:alice@192.0.2.10:99999", "expected a port"),
        ("sip:alice@192.0.2.10:five", "expected a port"),
        ("sip:alice:secret@192.0.2.10", "do not put a password"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url, message):
    with pytest.raises(InvalidUrl, match=message):
        parse_sip_url(url)


def test_sips_is_refused_through_open_far_end():
    with pytest.raises(InvalidUrl, match="not supported yet"):
        open_far_end("sips:alice@127.0.0.1", clock=VirtualClock())


@pytest.mark.parametrize(
    ("url", "options", "error", "message"),
    [
        ("sip:a@127.0.0.1", {"ring_timout_s": 3}, ConfigError, "unknown option"),
        ("sip:a@127.0.0.1?colour=red", {}, ConfigError, "unknown option"),
        ("sip:a@127.0.0.1", {"ring_timeout_s": "soon"}, ConfigError, "positive number"),
        ("sip:a@127.0.0.1", {"ring_timeout_s": 0}, ConfigError, "positive number"),
        ("sip:a@127.0.0.1", {"rtp_ports": "20000"}, ConfigError, "LOW-HIGH"),
        ("sip:a@127.0.0.1", {"rtp_ports": "30000-20000"}, ConfigError, "LOW < HIGH"),
        ("sip:a@127.0.0.1?password=x", {}, InvalidUrl, "password"),
        ("sip:a@127.0.0.1;transport=tcp", {}, InvalidUrl, "only transport=udp"),
        ("sip:a@no-such-host.invalid", {}, FarEndError, "cannot resolve"),
    ],
)
def test_bad_options_are_refused(url, options, error, message):
    with pytest.raises(error, match=message):
        SipFarEnd(url, clock=VirtualClock(), **options)


@pytest.mark.timeout(10)
def test_lifecycle_state_repr_and_bad_input():
    far_end = SipFarEnd("sip:alice@127.0.0.1:9", clock=VirtualClock(), password="hunter2")
    assert isinstance(far_end, FarEnd)
    assert far_end.state == "idle"
    assert far_end.local_addr[0] == "127.0.0.1" and far_end.local_addr[1] > 0
    assert "idle" in repr(far_end) and "hunter2" not in repr(far_end)
    silence = far_end.exchange(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    assert silence.dtype == np.int16 and silence.shape == (FRAME_SAMPLES,) and not silence.any()
    with pytest.raises(ValueError, match="160 int16 samples"):
        far_end.exchange(np.zeros(80, dtype=np.int16))
    with pytest.raises(ValueError, match="expected a number"):
        far_end.dial("573 555 0100")
    with pytest.raises(ValueError, match="DTMF digits"):
        far_end.send_dtmf("12x")
    far_end.hang_up()  # nothing to hang up: no-op
    assert far_end.poll_events() == []
    far_end.close()
    far_end.close()  # idempotent
    assert far_end.state == "closed" and "closed" in repr(far_end)
    with pytest.raises(DeviceClosed):
        far_end.dial("5735550100")


@pytest.mark.timeout(10)
def test_nobody_listening_is_a_failure_not_a_hang():
    """INVITE retransmitted (timer A), then FarEndFailed naming the address."""
    with SipFarEnd("sip:alice@127.0.0.1:9", clock=None, response_timeout_s=1.0) as far_end:
        far_end.dial("5735550100")
        assert far_end.state == "calling"
        with pytest.raises(FarEndError, match="already calling"):
            far_end.dial("5735550101")
        events = []
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            far_end.exchange(np.zeros(FRAME_SAMPLES, dtype=np.int16))
            events = far_end.poll_events()
            time.sleep(0.02)  # polling with a deadline
        assert len(events) == 1 and isinstance(events[0], FarEndFailed), events
        assert "127.0.0.1:9" in events[0].reason
        assert far_end.state == "ended"
