"""A family member's whole path in Debian's Chromium, on both engines: sign up, verify the e-mail from
the simulator's outbox, a declined card that changes nothing, $20 with the approved test card, a
call from the demo facility paid from it (placed through the platform in virtual time: DTMF keyed
on a scripted keypad, a robot called party accepting), the statement showing it with its tax,
then the facility blocked from the page, and the next call refused as blocked by the called party."""

from __future__ import annotations

import re
import time

import pytest
from live_console import phone, shot
from playwright.sync_api import expect
from test_family_pages import FAMILY_OVERRIDES, site  # noqa: F401  (the same facility and console)

from phonesim.clock import VirtualClock
from phonesim.config import load_config
from phonesim.facility.rates import minute_charge_at_cents
from phonesim.terminals.facility_host import FacilityHost

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

NUMBER = "5735550142"
EMAIL = "grace@example.org"


def place_call(site, tmp_path, terminal: str):  # noqa: F811
    """Inmate 2001 (PIN 5000) places a prepaid call (type 3) to NUMBER; returns its record."""
    cfg = load_config(None, search=False, overrides=FAMILY_OVERRIDES)
    host = FacilityHost(cfg, site.platform, realtime=False, recordings_dir=tmp_path / "recordings",
                        clock=VirtualClock(epoch_s=time.time()),
                        terminals=[phone(terminal, "A-1", f"5000#,,3,,{NUMBER}#", talk_s=3)])
    host.run(max_s=40)
    (call,) = site.platform.cdrs.list(terminals=[terminal])
    return call


def test_sign_up_fund_receive_a_call_read_the_statement_and_block(browser, site, tmp_path):  # noqa: F811
    page = browser.new_context(locale="en-US", timezone_id="America/Chicago",
                               viewport={"width": 1360, "height": 900}).new_page()
    page.goto(site.url + "/family/signup")
    page.fill("#signup input[name=number]", "(573) 555-0142")
    page.fill("#signup input[name=email]", EMAIL)
    page.fill("#signup input[name=password]", "family-password-1")
    page.fill("#signup input[name=password2]", "family-password-1")
    page.click("#signup button")
    expect(page).to_have_url(re.compile(r"/family/verify$"))
    outbox = page.locator("#outbox")
    expect(outbox).to_contain_text("phonesim sends no real mail")
    shot(page, "family-verify")
    code = re.search(r"verification code is (\d{6})", outbox.inner_text()).group(1)
    page.fill("#verify input[name=code]", code)
    page.click("#verify button")
    expect(page.locator("p.flash")).to_have_text(f"{EMAIL} verified")
    expect(page.locator("#who")).to_have_text(EMAIL)
    page.click(f'#numbers a[href="/family/n/{NUMBER}"]')
    expect(page.locator("#processor-label")).to_contain_text("card processor simulator — no real money")

    # a declined card: the balance stays, and the page says why
    fund = page.locator("#fund")
    fund.locator("input[name=amount]").fill("20")
    fund.locator("input[name=card_number]").fill("4000 0000 0000 9995")
    fund.locator("input[name=expiry]").fill("12/40")
    fund.locator("input[name=cvv]").fill("123")
    fund.locator("button").click()
    expect(page.locator("p.flash.error")).to_have_text(
        "Card declined: insufficient funds on the card. Nothing was charged; balance unchanged: $0.00.")
    expect(page.locator("#balance")).to_have_text("$0.00")
    assert site.platform.ledger.prepaid_balance_cents(NUMBER) == 0

    fund.locator("input[name=amount]").fill("20")
    fund.locator("input[name=card_number]").fill("4242 4242 4242 4242")
    fund.locator("input[name=expiry]").fill("12/40")
    fund.locator("input[name=cvv]").fill("123")
    fund.locator("button").click()
    expect(page.locator("p.flash.ok")).to_contain_text("Paid $20.00 with the card ending 4242")
    expect(page.locator("#balance")).to_have_text("$20.00")
    shot(page, "family-funded")

    # a call from the demo facility, paid from the balance
    call = place_call(site, tmp_path, "A-1-phone-9")
    assert call.disposition == "completed" and call.payer_kind == "prepaid" and call.payer_id == NUMBER
    rate = 5
    charged = sum(minute_charge_at_cents(rate, 10.0, i) for i in range(call.billed_minutes))
    assert call.billed_minutes >= 1 and call.amount_cents == charged
    base, tax = rate * call.billed_minutes, charged - rate * call.billed_minutes
    assert tax > 0
    page.reload()
    left = 2000 - charged
    expect(page.locator("#balance")).to_have_text(f"${left // 100}.{left % 100:02d}")
    expect(page.locator("#recent tbody tr").first).to_contain_text(f"call {call.call_id}")

    page.click("text=Monthly statements")
    row = page.locator(f'#prepaid-calls tr[data-call="{call.call_id}"]')
    cells = row.locator("td")
    expect(cells.nth(2)).to_have_text(str(call.billed_minutes))
    expect(cells.nth(3)).to_have_text("$0.05")
    expect(cells.nth(4)).to_have_text(f"${base // 100}.{base % 100:02d}")
    expect(cells.nth(5)).to_have_text(f"${tax // 100}.{tax % 100:02d}")
    expect(cells.nth(6)).to_have_text(f"${charged // 100}.{charged % 100:02d}")
    expect(page.locator("#prepaid-statement")).to_contain_text("paid in $20.00")
    shot(page, "family-statement")

    # the family blocks the facility: the next call is refused as blocked by the called party
    page.goto(f"{site.url}/family/n/{NUMBER}")
    page.click("text=Block calls from the facility")
    expect(page.locator("#block-state")).to_contain_text("Blocked by you")
    shot(page, "family-blocked")
    refused = place_call(site, tmp_path, "A-1-phone-8")
    assert refused.disposition == "refused-party-block" and refused.amount_cents == 0
    assert site.platform.ledger.prepaid_balance_cents(NUMBER) == left
    assert site.platform.ledger.reconcile() == []
    page.context.close()
