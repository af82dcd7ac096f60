"""The wall phone and the kiosk typed at like a person at a laptop: ``stdin://`` in tmux.

tmux gives the programs a real terminal (cbreak mode, the status line redrawn in
place); ``send-keys`` types, ``capture-pane`` reads the screen.  Each test has its
own tmux server, killed at the end with the program (by PID).
"""

from __future__ import annotations

import sys

import pytest

PIN = "1234"
NUMBER = "5735550100"


def _phonesim(*args: str) -> list[str]:
    return [sys.executable, "-m", "phonesim", *args]


@pytest.mark.timeout(120)
def test_wall_phone_call_typed_on_a_laptop(site, tmux):
    tmux.start(_phonesim("phone", "--realtime", "--seed-demo", "--keypad", "stdin://",
                         "--audio", "loopback://tmux-phone",
                         "--far", "robot://accept?answer_after=0&key_delay_s=1&talk_s=3",
                         "--exit-after-call"), cwd=site)
    tmux.wait_for("on hook: lift the handset")
    tmux.send("h")                         # lift the handset
    tmux.wait_for("[pin]")
    tmux.wait_for('enter your PIN."')      # the menu is audio only: its words are on the line
    tmux.send(PIN[:3])
    screen = tmux.wait_for("keys \u2022\u2022\u2022")
    assert PIN[:3] not in screen.split("[pin]")[-1]   # the PIN is masked on the screen
    tmux.send(PIN[3:] + "#")
    tmux.wait_for("[call-type]")
    tmux.wait_for('for a prepaid call press 3."')
    tmux.send("3")                         # prepaid
    tmux.wait_for("[number]")
    tmux.send(NUMBER + "#")
    screen = tmux.wait_for("[connected]", timeout_s=40)
    assert f"to {NUMBER}" in screen and "prepaid" in screen
    tmux.wait_for("prepaid account $24.95")   # the payer's balance: the prepaid account's
    tmux.wait_for("[done]", timeout_s=30)  # the called party hung up
    tmux.send("h")                         # hang up: the program ends after the call
    screen = tmux.wait_for("[exit 0]", timeout_s=30)
    assert PIN not in screen

    from phonesim.facility.cdr import CdrStore
    from phonesim.facility.ledger import Ledger

    with Ledger.open(site / "data" / "phonesim.sqlite3") as ledger:
        (call,) = CdrStore(ledger).list()
        assert (call.disposition, call.number, call.billed_minutes, call.closed) == (
            "completed", NUMBER, 1, True)
        assert ledger.prepaid_balance_cents(NUMBER) == 2500 - 5
        assert ledger.reconcile() == []


@pytest.mark.timeout(90)
def test_kiosk_purchase_overdraft_and_timeout_typed_on_a_laptop(site, tmux):
    from phonesim.facility.ledger import Ledger

    tmux.start(_phonesim("kiosk", "--seed-demo", "--keypad", "stdin://", "--idle-timeout-s", "3"),
               cwd=site)
    tmux.wait_for("PIN:")
    tmux.send(PIN + "#")                    # the PIN goes with #, as the screen says
    tmux.wait_for("Menu: John Doe")
    tmux.send("1")                          # balances
    tmux.wait_for("Trust (canteen): $50.00")
    tmux.send("#")
    tmux.send("2" "1500" "#")              # buy $15.00 of phone time
    tmux.wait_for("Move $15.00 from trust to phone?")
    tmux.send("#")
    screen = tmux.wait_for("receipt #")
    assert "Phone balance now: $25.00" in screen
    tmux.send("#")                          # back to the menu
    tmux.send("2" "3600" "#")              # more than the $35.00 left
    tmux.wait_for("$36.00 is more than your trust balance $35.00: enter at most $35.00")
    # no key for 3 s: logged out
    screen = tmux.wait_for("logged out after 3 s without a key", timeout_s=20)
    assert screen.rstrip().splitlines()[-1].startswith("[0-9 PIN")
    tmux.key("C-c")                         # Ctrl-C stops the kiosk cleanly
    tmux.wait_for("kiosk stopped")
    tmux.wait_for("[exit 0]")

    with Ledger.open(site / "data" / "phonesim.sqlite3") as ledger:
        assert ledger.trust_balance_cents("1001") == 5000 - 1500
        assert ledger.debit_balance_cents("1001") == 1000 + 1500
        assert ledger.reconcile() == []
