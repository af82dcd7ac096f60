"""Render every recorded prompt of phonesim with espeak-ng (Debian package ``espeak-ng``).

    .venv/bin/python audio/render_prompts.py            # all prompts, and README.md's table
    .venv/bin/python audio/render_prompts.py warning    # just these

The text of every prompt lives in :data:`PROMPTS` below and nowhere else.  Each
prompt is spoken by espeak-ng and conditioned for the line (8 kHz, band-limited,
trimmed, faded, -16 dBm0 active speech level) by :mod:`phonesim.facility.speech`,
the same steps a facility's name prompt goes through when the facility is created,
and written as 8 kHz 16-bit mono WAV.  espeak-ng is deterministic, so re-running
reproduces the committed files.
"""

from __future__ import annotations

import sys
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from phonesim.dsp.levels import signal_dbm0  # noqa: E402
from phonesim.facility.speech import render_speech, write_prompt  # noqa: E402

RATE_HZ = 8000

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                 "seventeen", "eighteen", "nineteen"]
_TENS_WORDS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
               80: "eighty", 90: "ninety"}

# name -> (exact text, where it is used)
PROMPTS: dict[str, tuple[str, str]] = {
    # --- the wall phone, before the call
    "welcome": ("Welcome to the inmate telephone system.", "wall phone: off hook"),
    "enter_pin": ("Please enter your PIN.", "wall phone: PIN entry"),
    "enter_id_pin": ("Please enter your ID number, then your PIN.", "wall phone: PIN entry (pin.login id+pin)"),
    "invalid_pin": ("The PIN you entered is not valid.", "wall phone: PIN entry"),
    "account_locked": ("Your account is locked. Please try again later.", "wall phone: PIN lockout"),
    "restricted": ("Your calling privileges are restricted.", "wall phone: policy"),
    "outside_hours": ("The phones are not available at this time.", "wall phone: phone hours"),
    "wait_between_calls": ("You must wait before placing another call.", "wall phone: policy"),
    "quota_reached": ("You have used all of your calling minutes for this month.", "wall phone: quota"),
    "weekly_calls_used": ("You have used all of your calls for this week.", "wall phone: segregation allowance"),
    "phones_locked_down": ("The phones in your unit are locked down. Please try again later.",
                           "wall phone: unit lockdown"),
    "record_name": ("This is your first call. At the tone, please say your first and last name.",
                    "wall phone: first call, the recorded name"),
    "name_recorded": ("Thank you.", "wall phone: first call, the recorded name"),
    "call_type_menu": ("For a debit call press 1, for a collect call press 2, for a prepaid call press 3.",
                       "wall phone: call type"),
    "enter_number": ("Please enter the number you wish to call, including the area code.",
                     "wall phone: dialling"),
    "number_toll_free": ("Toll free numbers cannot be called from this phone.", "wall phone: number check"),
    "number_blocked": ("This number is blocked.", "wall phone: number check"),
    "number_not_approved": ("This number is not on your approved list.", "wall phone: number check"),
    "number_invalid": ("The number you entered is not valid.", "wall phone: number check"),
    "number_blocked_by_party": ("The party you are calling has blocked calls from this facility.",
                                "wall phone: number check"),
    "insufficient_funds": ("You do not have enough funds for this call.", "wall phone: funds check"),
    "inmate_courtesy_call": ("The party you are calling has no account. This is a free courtesy call.",
                             "wall phone: a courtesy call"),
    "inmate_needs_account": ("The party you called needs an account to accept your calls. "
                             "They have been told how to set one up.", "wall phone: no account"),
    "please_hold": ("Please hold while your call is connected.", "wall phone: dialling out"),
    "call_limit_is": ("This call is limited to", "wall phone: before the call (+ number + minutes)"),
    "minutes": ("minutes", "numbers: after a number"),
    "minute": ("minute", "numbers: after one"),
    "no_answer": ("The party you called did not answer.", "wall phone: call result"),
    "busy": ("The number you called is busy.", "wall phone: call result"),
    "call_declined": ("The party you called has declined the call.", "wall phone: call result"),
    "call_failed": ("Your call could not be completed.", "wall phone: the outside line failed"),
    "system_error": ("We are sorry. Your call cannot be completed at this time. Please try again later.",
                     "everywhere: the platform could not answer in time"),
    "goodbye": ("Goodbye.", "everywhere: before hanging up"),
    # --- in the call
    "one_minute_remaining": ("You have one minute remaining.", "in call: to both parties"),
    "time_limit_reached": ("The time limit for this call has been reached.", "in call: at the limit"),
    "funds_exhausted": ("The funds for this call have run out.", "in call: balance empty"),
    "threeway_not_allowed": ("Three way calls are not allowed.", "in call: three-way detected"),
    "lockdown_now": ("This call is ending now because of a facility lockdown.", "in call: unit lockdown"),
    "call_cut_off": ("This call has been ended by the facility.", "in call: an officer cut it off"),
    "warning": ("This call is from a correctional facility.", "in call: injected into both directions"),
    # --- the called party's announcement
    "party_prepaid_call_from": ("This is a prepaid call from", "called party: announcement"),
    "party_collect_call_from": ("This is a collect call from", "called party: announcement"),
    "party_debit_call_from": ("This is a debit call from", "called party: announcement"),
    "party_free_call_from": ("This is a free call from", "called party: announcement (an attorney's call)"),
    "party_no_account": ("There is no account at this number to pay for calls from this facility.",
                         "called party: a collect call to a number with no account"),
    "party_courtesy_free": ("This first call is free.", "called party: a courtesy call"),
    "party_setup_account": ("To set up an account, please call", "called party: no account (+ the provider's number)"),
    "party_an_inmate_at": ("an inmate at", "called party: announcement"),
    "facility_name": ("Jefferson City Correctional Center", "called party: announcement (default facility)"),
    "party_monitored": ("This call is subject to monitoring and recording.", "called party: announcement"),
    "party_press_to_accept": ("To accept this call, press", "called party: menu (+ digit)"),
    "party_press_to_decline": ("To decline this call, press", "called party: menu (+ digit)"),
    "party_press_to_block": ("To block future calls from this facility, press", "called party: menu (+ digit)"),
    "party_press_for_rates": ("To hear the rates, press", "called party: menu (+ digit)"),
    "party_rate_is": ("This call costs", "called party: rate quote (+ amount)"),
    "cents_per_minute": ("cents per minute", "called party: rate quote"),
    "party_accepted": ("Thank you, your call is being connected.", "called party: accepted"),
    "party_blocked": ("Calls from this facility to your number are now blocked.", "called party: blocked"),
    "party_no_response": ("No response was received. Goodbye.", "called party: accept timeout"),
    "inmate_name_default": ("John Doe", "called party: announcement (demo inmate's recorded name)"),
    # --- the kiosk
    "kiosk_welcome": ("Welcome to the inmate kiosk.", "kiosk: start"),
    "kiosk_menu": ("For your balances press 1. To buy phone time press 2. For your recent calls press 3. "
                   "To request a phone number press 4. To log out press star.", "kiosk: main menu"),
    "kiosk_trust_balance_is": ("Your trust account balance is", "kiosk: balances (+ amount)"),
    "kiosk_phone_balance_is": ("Your phone account balance is", "kiosk: balances (+ amount)"),
    "kiosk_enter_amount": ("Enter the amount in dollars, then press pound.", "kiosk: buy phone time"),
    "kiosk_confirm_purchase": ("To confirm this purchase press 1. To cancel press 2.", "kiosk: buy phone time"),
    "kiosk_purchase_done": ("Your purchase is complete.", "kiosk: buy phone time"),
    "kiosk_request_number": ("Enter the phone number you want to add, then press pound.",
                             "kiosk: number request"),
    "kiosk_request_received": ("Your request has been received.", "kiosk: number request"),
    "kiosk_logged_out": ("You are logged out. Goodbye.", "kiosk: log out"),
    # --- the family line (an IVR families call: the provider's number)
    "family_welcome": ("Welcome to the family account line of the inmate telephone system.",
                       "family line: answer"),
    "family_enter_number": ("Please enter the ten digit phone number of the account, then press pound.",
                            "family line: the caller's number is not known"),
    "family_account_for": ("This is the account for", "family line: (+ the number, digit by digit)"),
    "family_menu_balance": ("For the balance and recent charges, press 1.", "family line: main menu"),
    "family_menu_fund": ("To add money to a prepaid account by card, press 2.", "family line: main menu"),
    "family_menu_direct_bill": ("To set up Direct Bill, press 3.", "family line: main menu"),
    "family_menu_rates": ("For the rates, press 4.", "family line: main menu"),
    "family_menu_blocks": ("To block or unblock calls from a facility, press 5.", "family line: main menu"),
    "family_menu_other_number": ("To use another phone number, press 9.", "family line: main menu"),
    "family_menu_repeat": ("To hear this menu again, press star.", "family line: main menu"),
    "family_prepaid_balance_is": ("Your prepaid balance is", "family line: balance (+ amount)"),
    "family_no_prepaid": ("There is no prepaid account at this number.", "family line: balance"),
    "family_direct_bill_owed_is": ("On your Direct Bill account you owe", "family line: balance (+ amount)"),
    "family_credit_limit_is": ("Your Direct Bill credit limit is", "family line: Direct Bill (+ amount)"),
    "family_recent_charges": ("Your recent calls cost", "family line: recent charges (+ amounts)"),
    "family_no_recent_charges": ("There are no recent call charges.", "family line: recent charges"),
    "family_card_simulator": ("This is a payment simulator. No real card is charged.",
                              "family line: card payment (the simulator announced)"),
    "family_enter_card": ("Enter the card number, then press pound.", "family line: card payment"),
    "family_enter_expiry": ("Enter the expiration month and year as four digits, then press pound.",
                            "family line: card payment"),
    "family_enter_cvv": ("Enter the security code on the back of the card, then press pound.",
                         "family line: card payment"),
    "family_enter_amount": ("Enter the amount in whole dollars, then press pound.", "family line: card payment"),
    "family_confirm_payment": ("To pay this amount press 1. To cancel press 2.",
                               "family line: card payment (after the amount)"),
    "family_payment_accepted": ("Your payment was accepted.", "family line: card payment"),
    "family_payment_declined": ("Your payment was declined. No money was taken.", "family line: card payment"),
    "family_payment_unavailable": ("Card payments are not available at this time.", "family line: card payment"),
    "family_entry_invalid": ("That entry is not valid.", "family line: any entry"),
    "family_direct_bill_offer": ("Direct Bill puts calls on a monthly bill, with a credit limit of",
                                 "family line: Direct Bill (+ amount)"),
    "family_confirm_direct_bill": ("To set up Direct Bill press 1. To go back press 2.", "family line: Direct Bill"),
    "family_direct_bill_ready": ("Your Direct Bill account is set up.", "family line: Direct Bill"),
    "family_direct_bill_exists": ("This number already has a Direct Bill account.", "family line: Direct Bill"),
    "family_calls_from": ("Calls from", "family line: rates (+ the facility's name)"),
    "family_to_this_number_cost": ("to this number cost", "family line: rates (+ amount + cents per minute)"),
    "family_taxes_passed_through": ("Taxes are passed through. There are no other fees.", "family line: rates"),
    "family_calls_are_blocked": ("Calls from the facility to this number are blocked.", "family line: blocks"),
    "family_calls_are_allowed": ("Calls from the facility to this number are allowed.", "family line: blocks"),
    "family_press_to_block": ("To block them press 1. To go back press 2.", "family line: blocks"),
    "family_press_to_unblock": ("To lift your block press 1. To go back press 2.", "family line: blocks"),
    "family_block_set": ("Calls from the facility to this number are now blocked.", "family line: blocks"),
    "family_block_lifted": ("Your block is lifted.", "family line: blocks"),
    "family_block_by_facility": ("The facility has also blocked this number. Only the facility can lift that block.",
                                 "family line: blocks"),
    "family_own_number_only": ("To hear or change this account, please call from its phone number. "
                               "From any phone you can add money and hear the rates.",
                               "family line: balance, Direct Bill or blocks asked for a number not the caller's"),
    "family_no_input": ("We did not receive your choice.", "family line: time-out"),
    "family_invalid_choice": ("That choice is not valid.", "family line: a key the menu does not use"),
    # --- words for numbers, amounts and phone numbers
    **{f"digit_{d}": (_NUMBER_WORDS[d], "numbers: phone numbers, digit by digit") for d in range(10)},
    "star": ("star", "numbers: keys"),
    "pound": ("pound", "numbers: keys"),
    **{f"n_{n}": (_NUMBER_WORDS[n], "numbers: amounts and minutes") for n in range(20)},
    **{f"n_{n}": (word, "numbers: amounts and minutes") for n, word in _TENS_WORDS.items()},
    "hundred": ("hundred", "numbers: amounts"),
    "thousand": ("thousand", "numbers: amounts"),
    "dollar": ("dollar", "numbers: amounts"),
    "dollars": ("dollars", "numbers: amounts"),
    "cent": ("cent", "numbers: amounts"),
    "cents": ("cents", "numbers: amounts"),
    "and": ("and", "numbers: amounts"),
}


def render(name: str) -> tuple[str, float, float]:
    text, _where = PROMPTS[name]
    pcm = render_speech(text)
    write_prompt(HERE / f"{name}.wav", pcm)
    return name, len(pcm) / RATE_HZ, signal_dbm0(pcm)


def write_readme(durations: dict[str, float]) -> None:
    """Regenerate the table in README.md between its markers."""
    readme = HERE / "README.md"
    text = readme.read_text()
    begin, end = "<!-- prompts:begin -->", "<!-- prompts:end -->"
    rows = ["| file | exact text | duration s | where used |", "|---|---|---|---|"]
    for name, (spoken, where) in PROMPTS.items():
        rows.append(f"| `{name}.wav` | {spoken} | {durations[name]:.2f} | {where} |")
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    readme.write_text(head + begin + "\n" + "\n".join(rows) + "\n" + end + tail)


def main(argv: list[str]) -> int:
    names = argv or list(PROMPTS)
    unknown = [n for n in names if n not in PROMPTS]
    if unknown:
        print(f"render_prompts: expected prompt names from PROMPTS, got {unknown}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        for name, duration_s, level in pool.map(render, names):
            print(f"{name:28s} {duration_s:5.2f} s  {level:6.1f} dBm0")
    durations = {}
    for name in PROMPTS:
        with wave.open(str(HERE / f"{name}.wav"), "rb") as w:
            durations[name] = w.getnframes() / w.getframerate()
    write_readme(durations)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
