"""The wall phone's status line, its JSON events (PINs masked) and the stop signals."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from dataclasses import dataclass

import pytest

from phonesim.events import (
    DigitDetected,
    HookChanged,
    KeyDown,
    LinkChanged,
)
from phonesim.facility.calllog import LogEntry
from phonesim.terminals.phone_app import StopSignals
from phonesim.terminals.status import (
    MASK,
    JsonEventWriter,
    PhoneStatus,
    event_record,
    format_duration,
    phase_name,
)


@dataclass
class State:
    phase: str = "idle"
    digits: str = ""
    number: str = ""
    call_type: str = ""
    connected_frame: int = -1


def test_pin_digits_are_masked_and_the_number_is_shown():
    status = PhoneStatus()
    status.update(HookChanged(True))
    line = status.render(State("pin", digits="1234"), frame=100)
    assert "1234" not in line
    assert f"keys {MASK * 4}" in line
    line = status.render(State("number", digits="57355"), frame=100)
    assert "keys 57355" in line


def test_call_timer_runs_from_the_connection_frame():
    status = PhoneStatus()
    state = State("connected", number="5735550100", call_type="debit", connected_frame=500)
    assert "00:00" in status.render(state, frame=500)
    line = status.render(state, frame=500 + 50 * 75)
    assert "01:15" in line and "to 5735550100" in line and "debit" in line


def entry(kind, **data):
    """An entry of a line's log, as the line writes it."""
    return LogEntry(1, 0, 0, 0.0, kind, data)


@pytest.mark.parametrize(("event", "text"), [
    (entry("charge", minute_index=0, ok=True, balance_after_cents=495, error=""), "balance $4.95"),
    (entry("charge", minute_index=3, ok=False, balance_after_cents=0, error=""), "! funds exhausted"),
    (entry("charge", minute_index=3, ok=False, balance_after_cents=0, error="OperationalError: gone"),
     "! billing unavailable, retrying"),
    (entry("three-way-suspected", attempt="flash", confidence=0.93), "! three-way call suspected (flash, 0.93)"),
    (LinkChanged(False, "unplugged"), "! keypad link down (unplugged)"),
])
def test_events_reach_the_status_line(event, text):
    status = PhoneStatus()
    status.update(event)
    assert text in status.render(State("connected", connected_frame=0), frame=60)


def test_idle_on_hook_says_what_to_do():
    assert "lift the handset" in PhoneStatus().render(State(), frame=0)


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (75.9, "01:15"), (3723, "1:02:03"), (-3, "00:00")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_event_record_is_json_with_frame_and_time():
    record = event_record(DigitDetected("5", 160, 800, -8.1, -6.0, 2.1), frame=25)
    assert record["event"] == "DigitDetected" and record["digit"] == "5"
    assert record["frame"] == 25 and record["t_s"] == 0.5
    assert json.loads(json.dumps(record)) == record


def test_event_record_masks_pin_digits_but_not_star_or_pound():
    assert event_record(KeyDown("7"), frame=1, mask_keys=True)["key"] == MASK
    assert event_record(DigitDetected("7"), frame=1, mask_keys=True)["masked"] is True
    assert event_record(KeyDown("#"), frame=1, mask_keys=True)["key"] == "#"
    assert event_record(KeyDown("7"), frame=1)["key"] == "7"


def test_json_writer_writes_lines_and_survives_a_closed_pipe():
    out = io.StringIO()
    writer = JsonEventWriter(out)
    writer.write(event_record(HookChanged(True), frame=0))
    writer.write(event_record(KeyDown("1"), frame=3))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in lines] == ["HookChanged", "KeyDown"]

    class Closed:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            pass

    writer = JsonEventWriter(Closed())
    writer.write({"event": "x"})
    writer.write({"event": "y"})  # no exception: the phone keeps working
    assert writer.written == 2


def test_phase_name_accepts_enums_and_strings():
    import enum

    class Phase(enum.Enum):
        PIN = "pin"

    assert phase_name(State(Phase.PIN)) == "pin"
    assert phase_name("ringing") == "ringing"


@pytest.mark.timeout(10)
def test_sigterm_asks_to_stop_and_handlers_are_restored():
    stopped = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals(stopped.set) as stopper:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stopped.wait(5)
        assert stopper.received == ["SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.timeout(10)
def test_second_ctrl_c_raises_keyboard_interrupt():
    calls = []
    with StopSignals(lambda: calls.append(1)):
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            # the handler runs between bytecodes of this thread: give it one
            for _ in range(1000):
                pass
    assert calls == [1]


@pytest.mark.parametrize(("event", "text"), [
    (entry("limit-warning", before_s=60), "! one minute remaining"),
    (entry("limit-warning", before_s=120), "! 02:00 remaining"),
    (entry("end", disposition="time-limit"), "! time limit reached"),
    (entry("answer", what="authenticate", ok=False, failures=2, locked=False), "! PIN not accepted (2)"),
    (entry("answer", what="authenticate", ok=False, failures=3, locked=True), "! account locked"),
    (entry("answer", what="number", ok=False, reason="toll-free"), "! refused: toll-free"),
    (entry("answer", what="number", ok=True, affordable_minutes=500), "500 min affordable"),
    (entry("answer", what="call-allowed", ok=False, reason="outside phone hours"),
     "! refused: outside phone hours"),
    (entry("lookup-failed", what="number", error="RateNotFound: no rate"),
     "! the platform did not answer (number)"),
])
def test_flow_events_reach_the_status_line(event, text):
    status = PhoneStatus()
    status.update(HookChanged(True))
    status.update(event)
    assert text in status.render(State("number"), frame=0)


def test_a_new_attempt_clears_the_last_one():
    status = PhoneStatus()
    status.update(entry("charge", minute_index=0, ok=True, balance_after_cents=95, error=""))
    status.call_ended("completed")
    assert "ended: completed" in status.render(State("done"), frame=0)
    status.update(HookChanged(False))
    status.update(HookChanged(True))
    line = status.render(State("pin"), frame=0)
    assert "ended" not in line and "balance" not in line


def test_the_words_of_the_prompt_are_shown_while_the_inmate_keys():
    """The menu is audio only: at [pin], [call-type] and [number] the line shows what was just
    said, in the prompt table's words; once connected it does not."""
    from phonesim.terminals.prompt_texts import prompt_texts

    texts = prompt_texts()
    status = PhoneStatus()
    status.update(HookChanged(True))
    status.update(entry("prompt", to="inmate", names=["welcome", "enter_pin"], words=["welcome", "enter_pin"]))
    line = status.render(State("pin"), frame=0)
    assert texts["enter_pin"] and texts["enter_pin"] in line and texts["welcome"] in line
    status.update(entry("prompt", to="far", names=["party_accept"], words=["party_accept"]))  # not the inmate's
    status.update(entry("prompt", to="inmate", names=["call_type_menu"], words=["call_type_menu"]))
    line = status.render(State("call-type"), frame=0)
    assert f'hears: "{texts["call_type_menu"]}"' in line and texts["enter_pin"] not in line
    assert "press 3" in line.lower()                             # what to press, in words
    assert "hears" not in status.render(State("connected", connected_frame=0), frame=10)


def test_a_long_prompt_keeps_its_instruction_in_a_narrow_terminal():
    from phonesim.terminals.phone_app import fit_width

    status = PhoneStatus()
    status.update(HookChanged(True))
    status.update(entry("prompt", to="inmate", names=["welcome", "enter_pin"], words=["welcome", "enter_pin"]))
    full = status.render(State("pin", digits="12"), frame=0)
    line = status.render(State("pin", digits="12"), frame=0, width=60)
    assert len(full) > 60 and len(line) <= 60
    assert line.startswith("[pin]") and line.endswith('PIN."') and '"...' in line
    assert fit_width(full, 40) == full[:36] + "..." and fit_width(full, 0) == full


def test_the_warning_message_shows_when_played():
    status = PhoneStatus()
    status.update(HookChanged(True))
    state = State("connected", connected_frame=0)
    assert "warning" not in status.render(state, frame=10)
    status.update(entry("warning"))
    assert "warning message played" in status.render(state, frame=10)
    status.update(entry("warning"))
    assert "warning message played x2" in status.render(state, frame=10)


@pytest.mark.parametrize(("payer_kind", "text"), [
    ("collect", "called party's credit $29.95"),
    ("prepaid", "prepaid account $29.95"),
    ("debit", "balance $29.95"),
])
def test_the_money_left_is_named_by_whose_it_is(payer_kind, text):
    status = PhoneStatus()
    status.update(HookChanged(True))
    status.update(entry("answer", what="number", ok=True, payer_kind=payer_kind, affordable_minutes=599))
    status.update(entry("charge", minute_index=0, ok=True, balance_after_cents=2995, error=""))
    line = status.render(State("connected", connected_frame=0), frame=10)
    assert text in line
    if payer_kind == "collect":
        assert "  balance" not in line
