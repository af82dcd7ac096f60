"""The pure keypad protocol: golden vectors from PROTOCOL.md, fuzzing, sequence numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_stubs.host.vectors import load_vectors
from phonesim.events import HookChanged, KeyDown, KeyUp
from phonesim.hw.keypad_protocol import (
    MAX_LINE,
    Ack,
    DeviceError,
    Hello,
    KeypadProtocol,
    Pong,
    encode_display,
    encode_hello_query,
    encode_led,
    encode_line,
    encode_ping,
)

NAMES = {"KeyDown": KeyDown, "KeyUp": KeyUp, "HookChanged": HookChanged, "Hello": Hello,
         "Pong": Pong, "Ack": Ack, "DeviceError": DeviceError}
COUNTERS = ("garbage", "bad_checksum", "overlong", "unknown")
VECTORS = load_vectors()


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.direction == "d2h"],
                         ids=lambda v: f"line{v.line_no}")
def test_golden_device_lines(vector):
    parser = KeypadProtocol()
    messages = parser.feed(vector.wire)
    if vector.meaning in COUNTERS:
        assert messages == []
        assert getattr(parser.stats, vector.meaning) == 1
        assert parser.stats.errors == 1
    else:
        assert messages == [eval(vector.meaning, {"__builtins__": {}}, NAMES)]  # noqa: S307
        assert parser.stats.errors == 0


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.direction == "h2d"
                                    and not v.meaning.startswith("ERR")],
                         ids=lambda v: f"line{v.line_no}")
def test_golden_host_lines_are_what_the_encoder_makes(vector):
    assert encode_line(vector.wire[:-4].decode("ascii")) == vector.wire


def test_encoders_match_the_golden_vectors():
    wires = {v.wire for v in VECTORS if v.direction == "h2d"}
    assert encode_hello_query() in wires
    assert encode_ping(7) in wires and encode_ping(65535) in wires
    assert encode_led(0, True) in wires and encode_led(3, False) in wires
    assert encode_display(0, "Balance $12.50") in wires and encode_display(3, "") in wires


def test_encoders_refuse_what_the_device_would_reject():
    with pytest.raises(ValueError, match="0..7"):
        encode_led(8, True)
    with pytest.raises(ValueError, match="at most 20"):
        encode_display(0, "x" * 21)
    with pytest.raises(ValueError, match="printable ASCII"):
        encode_line("caf\u00e9")
    with pytest.raises(ValueError, match="at most"):
        encode_line("x" * MAX_LINE)


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=400), cuts=st.lists(st.integers(0, 500), max_size=6),
       n=st.integers(0, 65535))
def test_never_raises_and_resynchronises(noise, cuts, n):
    parser = KeypadProtocol()
    data = noise + b"\n" + encode_line(f"PONG {n}")
    messages = []
    start = 0
    for cut in sorted(cuts) + [len(data)]:  # any split of the byte stream
        messages += parser.feed(data[start:max(start, cut)])
        start = max(start, cut)
    messages += parser.feed(data[start:])
    assert messages and messages[-1] == Pong(n)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=600))
def test_split_points_do_not_matter(data):
    whole, bytewise = KeypadProtocol(), KeypadProtocol()
    a = whole.feed(data)
    b = [m for i in range(len(data)) for m in bytewise.feed(data[i:i + 1])]
    assert a == b and whole.stats == bytewise.stats


def test_sequence_gaps_duplicates_and_boots():
    parser = KeypadProtocol()
    feed = parser.feed
    assert feed(encode_line("HELLO PHONEPAD 1 4x3 1A2B ON 0") + encode_line("K 0 5 D"))[1] == KeyDown("5", 0)
    assert feed(encode_line("K 3 5 U")) == [KeyUp("5", 3)]  # 1 and 2 were lost
    assert (parser.stats.seq_gaps, parser.stats.lost_events) == (1, 2)
    assert feed(encode_line("K 3 5 U")) == []  # seen already
    assert parser.stats.duplicates == 1
    # the cable went and came back: same boot, the device sent 2 events meanwhile
    feed(encode_line("HELLO PHONEPAD 1 4x3 1A2B OFF 6"))
    assert (parser.stats.seq_gaps, parser.stats.lost_events) == (2, 4)
    assert feed(encode_line("K 6 1 D")) == [KeyDown("1", 6)]
    # a reboot: new boot id, the count starts again
    feed(encode_line("HELLO PHONEPAD 1 4x3 BEEF ON 0"))
    assert feed(encode_line("K 0 2 D")) == [KeyDown("2", 0)]
    # a reboot that drew the same boot id: the count went back
    feed(encode_line("HELLO PHONEPAD 1 4x3 BEEF ON 0"))
    assert feed(encode_line("K 0 3 D")) == [KeyDown("3", 0)]
    assert parser.stats.reboots == 2 and parser.stats.duplicates == 1


def test_sequence_wraps_around():
    parser = KeypadProtocol()
    assert parser.feed(encode_line("K 65535 1 D") + encode_line("K 0 1 U")) == [
        KeyDown("1", 65535), KeyUp("1", 0)]
    assert parser.stats.seq_gaps == 0


def test_overlong_line_is_skipped_to_the_next_newline():
    parser = KeypadProtocol()
    out = parser.feed(b"Z" * 500)
    out += parser.feed(b"K 0 5 D*2A\n")  # the tail of the overlong line, dropped
    out += parser.feed(encode_line("K 1 5 D"))
    assert out == [KeyDown("5", 1)]
    assert parser.stats.overlong == 1
