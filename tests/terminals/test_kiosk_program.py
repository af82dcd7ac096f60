"""The Kiosk program loop: a keypad, a screen, the keypad's character display and spoken
prompts on an audio port (the real ledger, prompts and a loopback audio channel)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from phonesim.config import load_config
from phonesim.facility.ledger import Ledger
from phonesim.facility.prompts import PromptSet
from phonesim.hw.audio_loopback import loopback_pair
from phonesim.terminals.kiosk import Kiosk, KioskSession, LedgerKioskBackend
from phonesim.testing import MockKeypad


@pytest.fixture
def kiosk_parts(tmp_path, clock):
    cfg = load_config(search=False)
    ledger = Ledger.open(tmp_path / "f.sqlite3", clock=clock, cfg=cfg)
    ledger.seed_demo(cfg)
    session = KioskSession(LedgerKioskBackend(ledger, cfg, clock=clock), clock, idle_timeout_s=30)
    keypad = MockKeypad("mock://?kind=4x4", clock=clock)
    yield ledger, session, keypad
    keypad.close()
    ledger.close()


def _run(kiosk, clock, seconds):
    return kiosk.run(wait_frame=lambda: clock.advance(1), max_frames=int(seconds * 50))


@pytest.mark.timeout(60)
def test_kiosk_shows_screens_on_the_terminal_and_the_keypad_display(kiosk_parts, clock):
    ledger, session, keypad = kiosk_parts
    out = io.StringIO()
    shown = []
    kiosk = Kiosk(session, keypad, out=out, on_screen=shown.append)
    for key in "1234#" "2" "B" "#" "#":   # log in, buy $5.00, confirm
        keypad.press(key, hold_ms=100)
    _run(kiosk, clock, 5)
    assert [s.state for s in shown][-3:] == ["buy", "confirm", "receipt"]
    assert keypad.display[0] == "bought $5.00 of phon"   # the message, cut to 20 characters
    assert keypad.display[1].startswith("$")
    assert "== Receipt ==" in out.getvalue() and "receipt #" in out.getvalue()
    assert "1234" not in out.getvalue()
    assert ledger.debit_balance_cents("1001") == 1000 + 500
    _run(kiosk, clock, 30)                  # idle: logged out
    assert shown[-1].state == "login" and keypad.display[0] == "logged out after 30 "


@pytest.mark.timeout(60)
def test_kiosk_speaks_its_prompts_on_the_audio_port(kiosk_parts, clock):
    _, session, keypad = kiosk_parts
    prompts = PromptSet.load()
    kiosk_end, listener = loopback_pair("kiosk-speech-test")
    try:
        kiosk = Kiosk(session, keypad, out=io.StringIO(), audio=kiosk_end, prompts=prompts)
        heard = []
        for _ in range(50):                  # the welcome prompt starts at once
            kiosk.step()
            clock.advance(1)
            heard.append(listener.read_frame())
        audio = np.concatenate(heard).astype(np.float64)
        welcome = prompts["kiosk_welcome"][: audio.size].astype(np.float64)
        assert np.sqrt(np.mean(audio ** 2)) > 100
        # what the port carried is the prompt itself (faded in), not just any noise
        corr = np.corrcoef(audio[800:], welcome[800:])[0, 1]
        assert corr > 0.9
    finally:
        kiosk_end.close()
        listener.close()


def test_display_text_is_made_printable_ascii(kiosk_parts):
    _, session, keypad = kiosk_parts
    kiosk = Kiosk(session, keypad, out=io.StringIO())
    screen = session.key("\u00e9")        # not a key: the message quotes it
    kiosk.show(screen)
    assert all(" " <= ch <= "~" for ch in keypad.display[0])
    assert keypad.display[0].startswith("'?' is not a key")
