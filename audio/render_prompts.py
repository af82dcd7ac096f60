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
