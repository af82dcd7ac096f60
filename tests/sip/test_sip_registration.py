"""Registration and authenticated calls, as a PBX wants them (SIPp as registrar and PBX).

One SIPp plays the registrar (401 challenge, credentials checked with
``verifyauth``), another the PBX that challenges the INVITE (407) and answers.
Both exit 0 only if our side authenticated correctly, hung up with BYE and,
on close, unregistered.  A wrong password fails the registration with a clear
error that does not contain the password.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sip_peers import SippPeer

from phonesim.clock import FRAME_SAMPLES, RealTimeClock
from phonesim.events import FarEndAnswered, FarEndRinging
from phonesim.exc import ConfigError, FarEndError
from phonesim.facility.farend_sip import SipFarEnd

pytest.importorskip("aiosipua")

PASSWORD = "s3cret!"


@pytest.mark.timeout(30)
def test_register_then_authenticated_call_then_unregister(tmp_path, caplog, monkeypatch):
    """All settings in the URL (as in a config file); the password comes from the environment."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PHONESIM_TEST_SIP_PASSWORD", PASSWORD)
    registrar = SippPeer(tmp_path / "registrar", "registrar.xml").start()
    pbx = SippPeer(tmp_path / "pbx", "uas_auth_answer.xml").start()
    try:
        far_end = SipFarEnd(
            f"sip:127.0.0.1:{pbx.port}?registrar=127.0.0.1:{registrar.port}&username=line-1"
            "&password_env=PHONESIM_TEST_SIP_PASSWORD",
            clock=None,
        )
        with far_end:
            far_end.dial("5735550100")
            clock = RealTimeClock()
            events = []
            for _ in range(250):
                clock.wait_next_frame()
                clock.tick()
                far_end.exchange(np.zeros(FRAME_SAMPLES, dtype=np.int16))
                events.extend(far_end.poll_events())
                if any(isinstance(e, FarEndAnswered) for e in events):
                    break
            assert events == [FarEndRinging(), FarEndAnswered()]
            far_end.hang_up()
            assert pbx.wait(10) == 0, pbx.errors()
            assert "sip:5735550100@127.0.0.1" in pbx.messages(), "the PBX routes by the number"
        assert registrar.wait(10) == 0, registrar.errors()
        assert "Expires: 0" in registrar.messages(), "close() unregisters"
        assert PASSWORD not in caplog.text and PASSWORD not in repr(far_end)
    finally:
        registrar.stop()
        pbx.stop()


def test_password_env_names_a_variable_that_must_exist(monkeypatch):
    monkeypatch.delenv("PHONESIM_TEST_SIP_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="PHONESIM_TEST_SIP_PASSWORD"):
        SipFarEnd("sip:127.0.0.1:5060?password_env=PHONESIM_TEST_SIP_PASSWORD", clock=None)


@pytest.mark.timeout(30)
def test_wrong_password_is_a_clear_error_without_the_password(tmp_path):
    registrar = SippPeer(tmp_path, "registrar.xml").start()
    try:
        with pytest.raises(FarEndError, match="registration of sip:line-1@127.0.0.1.*403") as info:
            SipFarEnd(
                "sip:127.0.0.1:5060",
                clock=None,
                registrar=f"127.0.0.1:{registrar.port}",
                username="line-1",
                password="not-the-password",
            )
        assert "not-the-password" not in str(info.value)
    finally:
        registrar.stop()
